# The controller's main loop: load the config, open the buses its devices
# use, and every poll_s read the cabinet, build the site picture and show it.
# Later slices hang dispatch, the MQTT link and the console on this loop.
import gc
import sys
from firmware.compat import const, ticks_ms, ticks_diff, sleep_ms
from firmware import clock, VERSION
from firmware.modules import forget

CONFIG = 'config.json'
CONFIG_LKG = 'config.lkg.json'   # last known good, kept by `config save`
STATE = 'state.json'             # generator state and counters (store.py format)
_NOTES_MAX = const(16)          # changes by a person kept for one cycle's report
_IDLE_SLICE_MS = const(10)      # the console is polled this often between ticks
_FEED_MS = const(1000)          # the watchdog is fed this often while the loop is healthy
_FAILING_RESET = const(30)      # cycles in a row that raise before the watchdog may reset


def load_config(path=CONFIG, lkg=CONFIG_LKG, preload=False):
    """The config to run on and a warning (None when the primary loaded);
    ConfigError when neither the config nor its last good copy is valid.
    preload: load the loop's largest modules first (the board's start-up
    does; the pure-logic tests do not)."""
    from firmware import startup
    try:
        if preload:
            startup.preload((path, lkg))
        return startup.load_config(path, lkg)
    finally:
        forget('firmware.startup')


class App:
    def __init__(self, cfg, warning=None, state_path=STATE, cfg_path=CONFIG, cfg_lkg_path=CONFIG_LKG,
                 safe=None):
        self.cfg = cfg                  # what is left of it once the parts took their sections
        self.warning = warning          # why the config fell back to its last good copy, or None
        self.state_path = state_path
        self.cfg_path = cfg_path
        self.cfg_lkg_path = cfg_lkg_path
        self.cfg_on_flash_changed = False   # config.json saved since start (not running yet)
        self.version = VERSION
        self.t_start = ticks_ms()
        self.safe = safe                # why the board started in safe mode, or None
        self.actuator_faults = []       # actuators the board refused: named by the alarm
        self.notes = []                 # (text, who): changes made by a person, for the events
        self.reboot_requested = False
        self.pin_wrong = 0              # the console's wrong PINs in a row (kept across sessions)
        self.pin_locked_at = None       # ticks_ms of the PIN lock, or None
        self.save_errors = 0            # state saves failed in a row
        self.uplink_errors = 0          # uplink steps that raised (the loop went on)
        self.net_dns = None             # the DNS server handed to hw/dns.py
        self.cycle_ms = 0               # how long the last tick took
        self.last_tick = None           # ticks_ms of the last tick
        # Building is done once: its code (firmware.startup) goes back to
        # the heap afterwards. It builds the parts in the order that suits
        # the heap (the largest attribute tables first).
        from firmware import startup
        try:
            self.reset_cause = startup.reset_cause()
            (self.gen, self.counters, self.buses, self.devices, self.poller, self.snap,
             self.dispatch, self.shedding, self.actuators, self.alarms,
             self.persist) = startup.control(cfg, self.actuator_faults)
            self.decision = self.dispatch.d
            self.forecast = startup.forecast(cfg)       # None without latitude and longitude
            from firmware import site       # loaded by preload(), in its place on the heap
            self._site = site
            self.state_note = startup.restore(self.gen, self.counters, state_path)
            self.elog = startup.event_log()
            self.summary = startup.summary(cfg)     # printed once by run(), then dropped
            self.net, self.timesync = startup.network(cfg)
            self.uplink = startup.uplink(self, cfg)     # None with MQTT off
            self.failsafe = startup.failsafe(self, cfg) if safe else None
        finally:
            forget('firmware.startup')
        self._saved = (self.gen.state, self.gen.mode, self.shedding.n_shed)
        gc.collect()

    def save(self):
        """Write state to flash; True when written. A failure leaves the
        last good files alone and is retried on the next cycle."""
        from firmware import store
        for attempt in (0, 1):
            try:
                gc.collect()
                try:
                    store.save(self.state_path, {'gen': self.gen.to_dict(),
                                                 'counters': self.counters.to_dict()})
                finally:
                    forget('firmware.store')
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
        if self.safe:
            return self._safe_tick()
        t0 = ticks_ms()
        self._network(t0)           # first: a time set now holds for the whole tick
        ts = clock.now()
        self.poller.cycle(ts)
        snap = self._site.update(self.snap, self.devices, ts)
        now = ticks_ms()
        ok = clock.valid
        self.gen.clock_ok = ok
        self.dispatch.clock_ok = ok
        gen = self.gen.tick(now, ts, snap)
        d = self.dispatch.tick(ts, snap, gen.available)
        sh = self.shedding.tick(now, snap, d.on_battery)
        for a in self.actuators:
            a.apply(now)
        dt = ticks_diff(now, self.last_tick) if self.last_tick is not None else 0
        self.last_tick = now
        self.counters.tick(snap, dt, gen.feedback is True, sh.n_shed)
        fc = self.forecast
        if fc is not None:
            if ok:
                fc.tick(ts, self.counters.pv_wh(), snap)
            gen.pv_stop_soc = fc.target if ok else None
            self.dispatch.pv_keep = fc.keep if ok else None
        self._alarms(now, ts, snap)
        # The state first: nothing the link does may keep it off the flash.
        saved = self._saved
        changed = saved[0] != gen.state or saved[1] != gen.mode or saved[2] != sh.n_shed
        if (self.persist.due(now, changed) or self.save_errors) and self.save():
            self.persist.wrote(now)
        self._uplink_step(now, ts, snap)
        self.cycle_ms = ticks_diff(ticks_ms(), t0)
        return snap

    def _uplink_step(self, now, ts, snap):
        # The operator's link must never stop control: a failure in it is
        # counted and said, as the console's are, and the loop goes on.
        if self.uplink is None:
            return
        try:
            self.uplink.step(now, ts, snap)
        except Exception as e:
            self.uplink_errors += 1
            if self.uplink_errors == 1 or self.uplink_errors % 100 == 0:
                print('uplink error (%d so far): %r' % (self.uplink_errors, e))

    def _safe_tick(self):
        # Nothing polled or decided: the outputs held fail-safe, the alarm
        # up, the operator's link and the console alive.
        now = ticks_ms()
        self._network(now)
        ts = clock.now()
        snap = self.snap
        snap['ts'] = ts
        self.failsafe.apply(now)
        self.alarms.set('safe_mode', True, now, ts)
        self.alarms.set('actuator_fault', len(self.actuator_faults) > 0, now, ts)
        self.alarms.set('clock_not_set', not clock.valid, now, ts)
        self._uplink_step(now, ts, snap)
        return snap

    def _network(self, now):
        # Up, down and back without blocking the loop (hw/net.py), the DNS
        # server it was given for every later lookup, and the time kept.
        net = self.net
        net.step(now)
        if net.dns != self.net_dns:
            from firmware.hw import dns
            dns.default_server = self.net_dns = net.dns
        if self.timesync is not None:
            self.timesync.step(now, net.up)

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
        al.set('load_shed', self.shedding.n_shed > 0, now, ts)
        al.set('config_fallback', self.warning is not None, now, ts)
        al.set('actuator_fault', len(self.actuator_faults) > 0, now, ts)
        lf = False
        for a in self.actuators:
            if getattr(a, 'fault', False):
                lf = True
        al.set('lever_fault', lf, now, ts)
        al.set('clock_not_set', not clock.valid, now, ts)
        al.set('net_down', not self.net.up, now, ts)

    def note(self, text, who):
        """A change made by a person (console, MQTT): reported with the
        cycle's events."""
        if len(self.notes) < _NOTES_MAX:
            self.notes.append((text, who))

    def report(self, snap):
        """The cycle's events and notes: to the serial port, the event log
        and MQTT."""
        ts = snap['ts']
        up = self.uplink
        for e in self.drain_events():
            print('EVENT ' + e)
            self.elog.add(ts, e)
            if up is not None:
                self._uplink_event(ts, e, None)
        if self.notes:
            for text, who in self.notes:
                print('EVENT %s (by %s)' % (text, who))
                self.elog.add(ts, '%s (by %s)' % (text, who))
                if up is not None:
                    self._uplink_event(ts, text, who)
            self.notes.clear()

    def _uplink_event(self, ts, text, who):
        try:
            self.uplink.event(ts, text, who)
        except Exception as e:
            self.uplink_errors += 1
            print('uplink error (%d so far): %r' % (self.uplink_errors, e))

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


def _idle_on_error(msg, wdt=None, what='CONFIG ERROR'):
    # No valid config (or, in safe mode, no controller): stay up and say
    # why, so a technician can fix it from the REPL, instead of a board in
    # a reboot loop. A watchdog already started is kept fed.
    while True:
        print('%s: %s' % (what, msg))
        for _ in range(30):
            if wdt is not None:
                wdt.feed()
            sleep_ms(1000)


def _proven(app):
    """The controller has run healthy_s without failing cycles: the resets
    before were no boot loop, and the config it runs is good: it becomes
    the last known good (a config saved since is not, until it has run)."""
    from firmware import bootmode
    bootmode.healthy()
    if app.warning is not None or app.cfg_on_flash_changed:
        return
    try:
        with open(app.cfg_path) as f:
            text = f.read()
        try:
            with open(app.cfg_lkg_path) as f:
                if f.read() == text:
                    return          # no flash write for nothing
        except OSError:
            pass
        from firmware import cfgedit
        cfgedit.write_atomic(app.cfg_lkg_path, text)
        forget('firmware.cfgedit')
        print('config: %s is now the last known good' % app.cfg_path)
    except (OSError, MemoryError) as e:
        print('WARNING: last known good not written: %r' % e)


def _save_and_close(app, when):
    try:
        app.save()
        if app.uplink is not None:
            app.uplink.close()
    except Exception as e:
        print('WARNING: state not saved %s: %r' % (when, e))


def _reboot(app):
    from firmware import bootmode
    bootmode.deliberate()       # a person's reboot: not part of a boot loop
    try:
        app.report(app.snap)        # the `reboot` note itself
    except Exception as e:
        print('WARNING: events not reported before reboot: %r' % e)
    _save_and_close(app, 'before reboot')
    import machine
    machine.reset()


def run(path=CONFIG):
    print('site controller %s starting' % VERSION)
    # boot.py decided; its module goes before the heap is laid out for the
    # loop (start-up loads the largest modules into one unbroken heap).
    from firmware import bootmode
    safe = bootmode.why if bootmode.safe else None
    forget('firmware.bootmode')
    del bootmode
    gc.collect()
    try:
        cfg, warning = load_config(path, preload=True)
    except ValueError as e:     # ConfigError
        _idle_on_error(str(e))
        return
    if warning:
        print('WARNING: ' + warning)
    # From here a hang resets the board. The ESP32's watchdog cannot be
    # stopped once started: Ctrl-C to the REPL leaves watchdog_s for it.
    from machine import WDT
    wdt = WDT(timeout=cfg['watchdog_s'] * 1000)
    from firmware import display
    try:
        app = App(cfg, warning, cfg_path=path, safe=safe)
    except Exception as e:
        if not safe:
            raise       # the watchdog resets the board; the reset counts toward safe mode
        # Safe mode builds the same parts: one that crashes the build at
        # every start leaves the REPL, kept up, for a technician.
        sys.print_exception(e)
        _idle_on_error('the controller cannot be built (%r); fix it from the REPL' % e, wdt,
                       'SAFE MODE')
        return
    wdt.feed()
    print(app.state_note)
    print('reset cause: %s' % app.reset_cause)
    if safe:
        print('SAFE MODE: %s. Nothing is polled or controlled; the console and MQTT work. '
              'Fix the cause, then reboot.' % safe)
    healthy_ms = cfg['safe_mode']['healthy_s'] * 1000
    proven = safe is not None       # safe mode proves nothing about the firmware
    ccfg = cfg['console']
    con = None
    # The console itself is loaded when a byte arrives and unloaded when its
    # session ends: until then only this poll object watches the port.
    watch = None
    if ccfg['enabled']:
        import select
        watch = select.poll()
        watch.register(sys.stdin, select.POLLIN)
    period = int(cfg['poll_s'] * 1000)
    gc.collect()
    print('site %s: %d devices, poll %d ms, heap free %d' % (
        cfg['site_id'], len(app.devices), period, gc.mem_free()))
    print(app.summary)
    del app.summary
    if watch is not None:
        print("console: type 'help' and Enter")
    errors = 0
    failing = 0         # cycles in a row that raised
    link_up = None
    fed = ticks_ms()
    try:
        while True:
            t0 = ticks_ms()
            try:
                snap = app.tick()
                failing = 0
                if con is not None:
                    con.new_cycle()
                if not proven and ticks_diff(ticks_ms(), app.t_start) >= healthy_ms:
                    proven = True
                    _proven(app)
                app.report(snap)
                if app.uplink is not None and app.uplink.link.up != link_up:
                    link_up = app.uplink.link.up
                    print('LINK up' if link_up else 'LINK down (%s)' % app.uplink.link.last_error)
                if con is None or not con.active:
                    print(display.line(snap, app.devices, app))
                elif con.watching:
                    sys.stdout.write('\r' + display.line(snap, app.devices, app) + ' ')
            except (KeyboardInterrupt, SystemExit):
                raise
            except Exception as e:
                # One bad cycle (a heap squeeze, a bug on odd data) must not
                # stop the controller: say so and go on with the next one.
                errors += 1
                failing += 1
                print('ERROR in cycle (%d so far):' % errors)
                sys.print_exception(e)
                if failing == _FAILING_RESET:
                    print('ERROR: %d cycles in a row failed: the watchdog will reset the board'
                          % failing)
            while True:
                # Fed while the loop is healthy, about once a second (a
                # long poll_s waits here); never while every cycle fails.
                if failing < _FAILING_RESET and ticks_diff(ticks_ms(), fed) >= _FEED_MS:
                    wdt.feed()
                    fed = ticks_ms()
                if app.reboot_requested:
                    _reboot(app)
                rest = period - ticks_diff(ticks_ms(), t0)
                if rest <= 0:
                    break
                if con is None and watch is not None:
                    for _ in watch.ipoll(0):
                        try:
                            from firmware.console.input import Console
                            con = Console(app, ccfg, watch)
                        except MemoryError:
                            print('console: not enough memory now')
                        break
                if con is not None:
                    try:
                        con.poll(ticks_ms())
                    except (KeyboardInterrupt, SystemExit):
                        raise
                    except Exception as e:      # the console must not stop the loop
                        print('console error: %r' % e)
                    if con.closed or not con.active:
                        if con.closed:      # end of input: nobody can type
                            watch = None
                        con = None
                        forget('firmware.console')
                sleep_ms(min(rest, _IDLE_SLICE_MS))
    except KeyboardInterrupt:
        _unlock_heap()
        _save_and_close(app, 'at stop')
        print('stopped')
        print('(the watchdog resets the board in %d s)' % cfg['watchdog_s'])
