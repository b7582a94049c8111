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


class App:
    def __init__(self, cfg):
        from firmware import site
        from firmware.generator import Generator
        from firmware.dispatch import Dispatch
        from firmware.shedding import Shedding
        from firmware.hw import actuators
        self.cfg = cfg
        self.buses, self.devices, self.poller = build(cfg)
        self.snap = site.new(self.devices)
        self._site = site
        self.gen = Generator(cfg['generator'], cfg['utc_offset_min'])
        self.dispatch = Dispatch(cfg['dispatch'], cfg['utc_offset_min'],
                                 [d.values for d in self.devices if d.kind == 'bms'])
        self.shedding = Shedding(cfg['loads'])
        self.decision = self.dispatch.d
        self.actuators = actuators.build(cfg, self.devices, self.gen, self.shedding)
        self.cycle_ms = 0
        gc.collect()

    def tick(self):
        t0 = ticks_ms()
        ts = unix_time()
        self.poller.cycle(ts)
        snap = self._site.update(self.snap, self.devices, ts)
        now = ticks_ms()
        gen = self.gen.tick(now, ts, snap)
        d = self.dispatch.tick(ts, snap, gen.available)
        self.shedding.tick(now, snap, d.on_battery)
        for a in self.actuators:
            a.apply(now)
        self.cycle_ms = ticks_diff(ticks_ms(), t0)
        return snap

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
        return out


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
    app = App(cfg)
    period = int(cfg['poll_s'] * 1000)
    gc.collect()
    print('site %s: %d devices, poll %d ms, heap free %d' % (
        cfg['site_id'], len(app.devices), period, gc.mem_free()))
    try:
        while True:
            t0 = ticks_ms()
            snap = app.tick()
            for e in app.drain_events():
                print('EVENT ' + e)
            print(display.line(snap, app.devices, app))
            rest = period - ticks_diff(ticks_ms(), t0)
            if rest > 0:
                sleep_ms(rest)
    except KeyboardInterrupt:
        print('stopped')
