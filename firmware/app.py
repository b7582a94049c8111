# The controller's main loop: load the config, open the buses its devices
# use, and every poll_s read the cabinet, build the site picture and show it.
# Later slices hang dispatch, the MQTT link and the console on this loop.
import gc
import sys
from firmware.compat import ticks_ms, ticks_diff, sleep_ms
from firmware.clock import unix_time

VERSION = '0.1.0'
CONFIG = 'config.json'
CONFIG_LKG = 'config.lkg.json'   # last known good, kept by `config save`
STATE = 'state.json'             # generator state and counters (store.py format)


def forget(name):
    """Unload a module that is needed only now and then (its code and
    tables go back to the heap)."""
    sys.modules.pop(name, None)
    pkg, _, attr = name.rpartition('.')
    p = sys.modules.get(pkg)
    if p is not None and attr in p.__dict__:
        delattr(p, attr)


def load_config(path=CONFIG, lkg=CONFIG_LKG):
    """The config to run on and a warning (None when the primary loaded).
    Raises ConfigError when neither the config nor its last good copy is
    valid: the controller must not run on a half-valid config. The schema
    module is unloaded afterwards: ~18 KB of heap the loop does not need."""
    from firmware import config as config_mod
    try:
        try:
            return config_mod.load(path), None
        except config_mod.ConfigError as e:
            err = e
        try:
            return config_mod.load(lkg), 'config.json refused (%s); running on %s' % (err, lkg)
        except config_mod.ConfigError:
            raise err
    finally:
        forget('firmware.config')


def build(cfg):
    from firmware import profiles
    from firmware.poller import Device, Poller
    from firmware.hw.buses import open_bus
    buses = {}
    devices = []
    for dc in cfg['devices']:
        if not dc['enabled']:
            continue
        bname = dc['bus']
        if bname not in buses:
            buses[bname] = open_bus(bname, cfg['buses'][bname])
        bus = buses[bname]
        devices.append(Device(dc, profiles.load(dc['profile']), bus,
                              cfg['buses'][bname].get('baud', 9600)))
    for name in profiles.NAMES:     # their tables now live in the devices
        forget('firmware.profiles.' + name)
    return buses, devices, Poller(devices)


def preload(cfg):
    """Load the modules with the largest code first, while the heap is
    still in one piece: loading an .mpy needs contiguous blocks, which a
    heap already scattered with long-lived objects may no longer have."""
    kinds = [b['kind'] for b in cfg['buses'].values()]
    if 'uart' in kinds or 'rtu_tcp' in kinds:
        from firmware.hw import rtu
        rtu.serial_class()
    from firmware import generator, alarms, dispatch, counters, poller, site  # noqa: F401


class App:
    def __init__(self, cfg, warning=None, state_path=STATE):
        preload(cfg)
        from firmware import site
        from firmware.generator import Generator
        from firmware.dispatch import Dispatch
        from firmware.shedding import Shedding
        from firmware.alarms import Alarms
        from firmware.counters import Counters
        from firmware.hw import actuators
        self.cfg = cfg
        self.warning = warning
        self.state_path = state_path
        self.version = VERSION
        self.t_start = ticks_ms()
        # The objects with the largest attribute tables first, while the
        # heap still has contiguous room for them.
        self.gen = Generator(cfg['generator'], cfg['utc_offset_min'])
        self.counters = Counters(cfg['generator'])
        self.buses, self.devices, self.poller = build(cfg)
        self.snap = site.new(self.devices)
        self._site = site
        self.dispatch = Dispatch(cfg['dispatch'], cfg['utc_offset_min'],
                                 [d.values for d in self.devices if d.kind == 'bms'])
        self.shedding = Shedding(cfg['loads'])
        self.decision = self.dispatch.d
        self.actuators = actuators.build(cfg, self.devices, self.gen, self.shedding)
        self.alarms = Alarms(cfg['alarms'], [d.name for d in self.devices])
        from firmware.store import Persist
        self.persist = Persist(cfg['persist_s'])
        self.state_note = self.restore()
        self.uplink = None
        if cfg['mqtt']['enabled']:
            from firmware.uplink import Uplink
            self.uplink = Uplink(self, cfg['mqtt'], cfg['site_id'])
        # What only start-up needed goes back to the heap.
        del cfg['buses']
        del cfg['devices']
        self._saved = (self.gen.state, self.gen.mode, self.shedding.n_shed)
        self.save_errors = 0
        self._last = None
        self.cycle_ms = 0
        gc.collect()

    def restore(self):
        """Generator state and counters from flash; a corrupt or missing
        file falls back to its last good copy, then to a fresh start."""
        from firmware import store
        obj, source, err = store.load(self.state_path)
        if obj is None:
            return 'no saved state (%s)' % err
        try:
            self.gen.from_dict(obj.get('gen', {}))
            self.counters.from_dict(obj.get('counters', {}))
        except (ValueError, TypeError, AttributeError) as e:
            return 'saved state refused (%s)' % e
        return 'state from %s%s' % (source, ' (%s)' % err if err else '')

    def save(self):
        """Write state to flash; True when written. A failure leaves the
        last good files alone and is retried on the next cycle."""
        from firmware import store
        for attempt in (0, 1):
            try:
                gc.collect()
                store.save(self.state_path, {'gen': self.gen.to_dict(),
                                             'counters': self.counters.to_dict()})
                self._saved = (self.gen.state, self.gen.mode, self.shedding.n_shed)
                self.save_errors = 0
                return True
            except MemoryError as e:
                err = e         # the heap was fragmented: collect and try once more
            except OSError as e:
                err = e
                break
        self.save_errors += 1
        if self.save_errors == 1 or self.save_errors % 10 == 0:
            print('WARNING: state not saved (%d): %r' % (self.save_errors, err))
        return False

    def tick(self):
        t0 = ticks_ms()
        ts = unix_time()
        self.poller.cycle(ts)
        snap = self._site.update(self.snap, self.devices, ts)
        now = ticks_ms()
        gen = self.gen.tick(now, ts, snap)
        d = self.dispatch.tick(ts, snap, gen.available)
        sh = self.shedding.tick(now, snap, d.on_battery)
        for a in self.actuators:
            a.apply(now)
        dt = ticks_diff(now, self._last) if self._last is not None else 0
        self._last = now
        self.counters.tick(snap, dt, gen.feedback is True, sh.n_shed)
        self._alarms(now, ts, snap)
        if self.uplink is not None:
            self.uplink.step(now, ts, snap)
        saved = self._saved
        changed = saved[0] != gen.state or saved[1] != gen.mode or saved[2] != sh.n_shed
        if (self.persist.due(now, changed) or self.save_errors) and self.save():
            self.persist.wrote(now)
        self.cycle_ms = ticks_diff(ticks_ms(), t0)
        return snap

    def _alarms(self, now, ts, snap):
        from firmware import generator as G
        al = self.alarms
        g = self.gen
        al.evaluate(snap, self.devices, now, ts)
        st = g.state
        al.set('gen_fail_start', st == G.LOCKOUT and g.stop_reason == G.S_FAIL_START, now, ts)
        al.set('gen_unexpected_stop', (st == G.FAULT or st == G.LOCKOUT)
               and g.stop_reason == G.S_UNEXPECTED, now, ts)
        al.set('gen_fail_stop', g.fail_stop, now, ts)
        al.set('gen_low_fuel', g.low_fuel, now, ts)
        al.set('gen_service_due', g.service_due, now, ts)
        al.set('gen_max_run', g.max_run_cut, now, ts)
        if g.max_run_cut and al.is_active('gen_max_run'):
            g.max_run_cut = False      # the latched alarm holds it until acked
        al.set('load_shed', self.shedding.n_shed > 0, now, ts)
        al.set('config_fallback', self.warning is not None, now, ts)

    def drain_events(self):
        """Generator transitions and load trips since the last call, as text."""
        from firmware import generator as G
        out = []
        for ts, a, b, reasons, stop in self.gen.events:
            why = G.reason_text(reasons) if b in (G.START_DELAY, G.CRANKING) else G.STOP_NAMES[stop]
            out.append('gen %s -> %s%s' % (G.STATE_NAMES[a], G.STATE_NAMES[b],
                                           ' (%s)' % why if why else ''))
        self.gen.events.clear()
        for name, shed, why in self.shedding.events:
            out.append('load %s %s (%s)' % (name, 'shed' if shed else 'restored', why))
        self.shedding.events.clear()
        for e in self.alarms.drain_events():
            out.append('alarm %s %s (%s)' % (e['code'], e['event'], e['severity']))
        return out


def _unlock_heap():
    # A Ctrl-C that lands while the collector runs finalisers leaves the
    # heap locked in the unix port (seen with an explicit gc.collect() in
    # the loop); at a stop the state is still worth saving.
    for _ in range(4):
        try:
            bytearray(8)
            return
        except MemoryError:
            import micropython
            micropython.heap_unlock()


def _idle_on_error(msg):
    # No valid config: stay up and say why, so a technician can fix it
    # (the console comes here) instead of a board in a reboot loop.
    while True:
        print('CONFIG ERROR: ' + msg)
        sleep_ms(30000)


def run(path=CONFIG):
    print('site controller %s starting' % VERSION)
    try:
        cfg, warning = load_config(path)
    except ValueError as e:     # ConfigError
        _idle_on_error(str(e))
        return
    if warning:
        print('WARNING: ' + warning)
    from firmware import display
    app = App(cfg, warning)
    print(app.state_note)
    period = int(cfg['poll_s'] * 1000)
    gc.collect()
    print('site %s: %d devices, poll %d ms, heap free %d' % (
        cfg['site_id'], len(app.devices), period, gc.mem_free()))
    errors = 0
    link_up = None
    try:
        while True:
            t0 = ticks_ms()
            try:
                snap = app.tick()
                for e in app.drain_events():
                    print('EVENT ' + e)
                    if app.uplink is not None:
                        app.uplink.event(snap['ts'], e)
                if app.uplink is not None and app.uplink.link.up != link_up:
                    link_up = app.uplink.link.up
                    print('LINK up' if link_up else 'LINK down (%s)' % app.uplink.link.last_error)
                print(display.line(snap, app.devices, app))
            except (KeyboardInterrupt, SystemExit):
                raise
            except Exception as e:
                # One bad cycle (a heap squeeze, a bug on odd data) must not
                # stop the controller: say so and go on with the next one.
                errors += 1
                print('ERROR in cycle (%d so far):' % errors)
                sys.print_exception(e)
            rest = period - ticks_diff(ticks_ms(), t0)
            if rest > 0:
                sleep_ms(rest)
    except KeyboardInterrupt:
        _unlock_heap()
        try:
            app.save()
            if app.uplink is not None:
                app.uplink.close()
        except Exception as e:
            print('WARNING: state not saved at stop: %r' % e)
        print('stopped')
