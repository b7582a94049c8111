# The controller's main loop: load the config, open the buses its devices
# use, and every poll_s read the cabinet, build the site picture and show it.
# Later slices hang dispatch, the MQTT link and the console on this loop.
import gc
import sys
from firmware.compat import ticks_ms, ticks_diff, sleep_ms
from firmware import config as config_mod
from firmware.clock import unix_time

VERSION = '0.1.0'
CONFIG = 'config.json'
CONFIG_LKG = 'config.lkg.json'   # last known good, kept by `config save`


def load_config(path=CONFIG, lkg=CONFIG_LKG):
    """The config to run on and a warning (None when the primary loaded).
    Raises ConfigError when neither the config nor its last good copy is
    valid: the controller must not run on a half-valid config."""
    try:
        return config_mod.load(path), None
    except config_mod.ConfigError as e:
        err = e
    try:
        return config_mod.load(lkg), 'config.json refused (%s); running on %s' % (err, lkg)
    except config_mod.ConfigError:
        raise err


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
    return buses, devices, Poller(devices)


class App:
    def __init__(self, cfg):
        from firmware import site
        self.cfg = cfg
        self.buses, self.devices, self.poller = build(cfg)
        self.snap = site.new(self.devices)
        self._site = site
        self.cycle_ms = 0
        gc.collect()

    def tick(self):
        t0 = ticks_ms()
        ts = unix_time()
        self.poller.cycle(ts)
        self._site.update(self.snap, self.devices, ts)
        self.cycle_ms = ticks_diff(ticks_ms(), t0)
        return self.snap


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
    except config_mod.ConfigError as e:
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
            print(display.line(snap, app.devices))
            rest = period - ticks_diff(ticks_ms(), t0)
            if rest > 0:
                sleep_ms(rest)
    except KeyboardInterrupt:
        print('stopped')
