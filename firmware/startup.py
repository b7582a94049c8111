# Building the controller: loading the config (with its fallback), opening
# the buses, making every part of the App and restoring the saved state.
# Needed once at start-up, so firmware.app unloads this module afterwards.
import gc
import json
import sys
from firmware.compat import ticks_ms
from firmware.modules import forget
from firmware import VERSION


def load_config(path, lkg):
    """The config to run on and a warning (None when the primary loaded).
    Raises ConfigError when neither the config nor its last good copy is
    valid: the controller must not run on a half-valid config. The schema
    module is unloaded afterwards: heap the loop does not need."""
    from firmware import config as config_mod
    try:
        try:
            return config_mod.load(path), None
        except config_mod.ConfigError as e:
            err = e
        except MemoryError:         # its checks ran out of heap: it cannot run here either
            err = config_mod.ConfigError('(file)', 'too large for the heap')
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
        # Its table now lives in the device: the next profile loads into
        # the room this one leaves.
        forget('firmware.profiles.' + dc['profile'])
        gc.collect()
    forget('firmware.profiles')         # and the loaders, needed at start only
    forget('firmware.hw.buses')
    return buses, devices, Poller(devices)


def preload(paths=()):
    """Load the modules with the largest code first, before the config: the
    heap is then still in one piece (loading an .mpy needs contiguous
    blocks), and the config's schema and check, loaded and freed after
    them, leave one large hole instead of many small ones among code. With
    the config's paths (the file, then its last good copy), also intern the
    names of what that config loads later (intern_names())."""
    from firmware.hw import rtu
    rtu.serial_class()
    from firmware import generator, gen_reasons, alarms, dispatch, counters, poller, site  # noqa: F401
    for path in paths:
        names = _later_from(path)
        if names is not None:
            intern_names(names)
            break


def _later_from(path):
    """later_modules() of the config file at path, read raw (it is checked
    after), or None when it cannot be read. The raw dict is gone before the
    names are interned, so the name table grows on a heap with nothing
    of the config in it."""
    try:
        with open(path) as f:
            raw = json.load(f)
    except (OSError, ValueError):
        return None
    return later_modules(raw) if isinstance(raw, dict) else None


BUILD_MODULES = ('firmware.alarm_table', 'firmware.shedding', 'firmware.hw.actuators', 'firmware.persist',
                 'firmware.eventlog', 'firmware.display', 'firmware.profiles',
                 'firmware.hw.buses', 'firmware.hw.rtc', 'firmware.store',
                 'firmware.bootmode', 'firmware.cfgedit')


def _section(cfg, name):
    v = cfg.get(name)
    return v if isinstance(v, dict) else {}


def later_modules(cfg):
    """The modules a config makes the firmware load later, some only now
    and then (the MQTT link at its first connect, the console when a
    technician types, the state store at a save). `cfg` may be the raw
    file: a section or key it lacks counts as its default. Only what this
    config can load: every name interned stays for good."""
    # What building the App loads after preload(), then what the loop loads
    # now and then: every name the controller will intern, so that the name
    # table's growth (a block of ~14 KB on the host) happens here.
    names = list(BUILD_MODULES)
    devs = cfg.get('devices')
    for d in devs if isinstance(devs, list) else ():
        if isinstance(d, dict) and isinstance(d.get('profile'), str):
            names.append('firmware.profiles.' + d['profile'])
    buses = cfg.get('buses')
    kinds = [b.get('kind') for b in buses.values() if isinstance(b, dict)] \
        if isinstance(buses, dict) else []
    n = _section(cfg, 'net')
    ntp = n.get('ntp_host', None if n.get('kind', 'host') == 'host' else 'pool.ntp.org')
    m = _section(cfg, 'mqtt')
    mqtt = m.get('enabled', 'host' in m) is True    # as config.validate() defaults it
    names.append('firmware.hw.net_host' if n.get('kind', 'host') == 'host' else 'firmware.hw.net')
    if cfg.get('latitude') is not None and cfg.get('longitude') is not None:
        names.append('firmware.pv_forecast')
    if 'rtu_tcp' in kinds:
        names.append('firmware.hw.sock_uart')
    if 'tcp' in kinds:
        names.append('firmware.hw.mbtcp')
    if ntp:
        names += ['firmware.hw.sntp', 'firmware.hw.timesync']
    hosts = [b.get('host') for b in buses.values() if isinstance(b, dict)] \
        if isinstance(buses, dict) else []
    named = [h for h in hosts if isinstance(h, str)]
    if named:
        from firmware.hw.sock_uart import literal     # the buses' connect loads it anyway
        named = [h for h in named if not literal(h)]
    if ntp or mqtt or named:
        names.append('firmware.hw.dns')     # (an IP literal connects without it)
    if mqtt:
        names += ['firmware.uplink.uplink', 'firmware.uplink.remote', 'firmware.hw.mqtt_sock',
                  'umqtt.simple']
        if m.get('ha_discovery') is True:
            names.append('firmware.uplink.ha')
    if _section(cfg, 'console').get('enabled', True) is not False:
        names += ['firmware.console.' + m for m in ('input', 'cmdline', 'look', 'act', 'cfg',
                                                    'help')]
    # (firmware.safemode is loaded only by a start in safe mode, on a whole heap.)
    return names


def intern_names(names):
    """Import, then unload, every module the firmware loads later, so that
    the names in their code are interned now. Interned names are never
    freed, and the interpreter keeps them in tables that double in size as
    they fill: past ~1,270 names the next table is one block of ~14 KB on
    the host (~9 KB on the board). Taken now, while the heap is in one
    piece, it always fits; taken at the MQTT link's first connect or when a
    technician types, on a heap cut up by days of running, it may not."""
    for name in names:
        before = set(sys.modules)
        try:
            __import__(name)
        except ImportError:         # a board without that library
            pass
        for m in [m for m in sys.modules if m not in before]:
            forget(m)
        gc.collect()


def _drop_unused(cfg):
    kinds = [b['kind'] for b in cfg['buses'].values()]
    if 'uart' not in kinds and 'rtu_tcp' not in kinds:     # Modbus TCP only
        for name in [m for m in sys.modules if m.startswith('umodbus')]:
            forget(name)
        forget('firmware.hw.rtu')
        forget('firmware.hw.umodbus_lean')


def control(cfg, faults):
    """The control parts, largest attribute tables first while the heap
    still has contiguous room for them; each config section goes back to
    the heap as soon as its part is built (start-up is the heap's peak).
    Actuators the board refuses are named in `faults`."""
    preload()           # a no-op when load_config() did it
    _drop_unused(cfg)
    from firmware import site
    from firmware.generator import Generator
    from firmware.dispatch import Dispatch
    from firmware.shedding import Shedding
    from firmware.alarms import Alarms
    from firmware.counters import Counters
    from firmware.hw import actuators
    from firmware.persist import Persist
    gen = Generator(cfg['generator'], cfg['utc_offset_min'])
    counters = Counters(cfg['generator'])
    buses, devices, poller = build(cfg)
    del cfg['buses']
    del cfg['devices']
    gc.collect()
    snap = site.new(devices)
    dcfg = cfg.pop('dispatch')
    dispatch = Dispatch(dcfg, cfg['utc_offset_min'],
                        [d.values for d in devices if d.kind == 'bms'])
    shedding = Shedding(cfg.pop('loads'))
    acts = actuators.build(cfg, devices, gen, shedding, faults, dcfg, dispatch.d)
    del dcfg
    for f in faults:
        print('WARNING: cannot drive ' + f)
    alarms = Alarms(cfg.pop('alarms'), [d.name for d in devices])
    return (gen, counters, buses, devices, poller, snap, dispatch, shedding, acts, alarms,
            Persist(cfg['persist_s']))


def forecast(cfg):
    """The PV forecast behind a charging run's earlier stop, when the config
    says where the site is (latitude and longitude)."""
    if cfg['latitude'] is None or cfg['longitude'] is None:
        return None
    from firmware.pv_forecast import PvForecast
    g = cfg['generator']
    return PvForecast(cfg['latitude'], cfg['longitude'], cfg['utc_offset_min'], g['start_soc'],
                      g['stop_soc'], g['pv_stop_min_soc'])


def event_log():
    from firmware.eventlog import EventLog
    return EventLog()


def network(cfg):
    """The network link (hw/net.py, or the host's) and the clock's NTP
    client (None without net.ntp_host); the clock starts counting here."""
    start_clock()
    ncfg = cfg.pop('net')
    if ncfg['kind'] == 'host':
        from firmware.hw.net_host import HostNet as Net
    else:
        from firmware.hw.net import Net
    ts = None
    if ncfg['ntp_host']:
        from firmware.hw.timesync import TimeSync
        ts = TimeSync(ncfg['ntp_host'], ncfg['ntp_s'])
    return Net(ncfg), ts


def uplink(app, cfg):
    mcfg = cfg.pop('mqtt')
    if not mcfg['enabled']:
        return None
    from firmware.uplink.uplink import Uplink
    return Uplink(app, mcfg, cfg['site_id'])


def failsafe(app, cfg):
    """Safe mode's outputs, held fail-safe (firmware/safemode.py)."""
    from firmware.safemode import FailSafe
    return FailSafe(app, cfg['safe_mode']['gen_relay'])


def summary(cfg):
    """The start-up line of what runs and what does not, with the key that
    turns each off one on: a link left off must not look like a broken one."""
    on = []
    off = []
    n = cfg['net']
    on.append('net %s' % n['kind'])
    m = cfg['mqtt']
    if m['enabled']:
        on.append('mqtt %s:%d%s' % (m['host'], m['port'], ' tls' if m['tls'] else ''))
        (on if m['cmd_key'] else off).append('signed commands' if m['cmd_key']
                                             else 'commands (mqtt.cmd_key)')
        if m['ha_discovery']:
            on.append('home assistant')
    else:
        off.append('mqtt (mqtt.enabled)')
    (on if n['ntp_host'] else off).append('ntp %s' % n['ntp_host'] if n['ntp_host']
                                          else 'ntp (net.ntp_host)')
    (on if cfg['console']['enabled'] else off).append('console' if cfg['console']['enabled']
                                                      else 'console (console.enabled)')
    on.append('watchdog %d s' % cfg['watchdog_s'])
    return 'on: %s; off: %s' % (', '.join(on), ', '.join(off) if off else '-')


def start_clock():
    """The clock counts on from the RTC (which kept its time across a soft
    reset, or says 2000 after a power-on: not valid until NTP answers)."""
    from firmware import clock
    try:
        from firmware.hw import rtc
        t = rtc.read()
    except (ImportError, AttributeError, OSError):     # a port without an RTC
        import time
        t = clock.from_unix(time.time()) if time.gmtime(0)[0] == 1970 else int(time.time())
    clock.start(t)


def reset_cause():
    """Why the board last started, as machine.reset_cause() names it:
    'pwron', 'hard', 'wdt', 'deepsleep', 'soft' (or 'unknown')."""
    try:
        import machine
        c = machine.reset_cause()
    except (ImportError, AttributeError):
        return 'unknown'
    for n in ('PWRON_RESET', 'HARD_RESET', 'WDT_RESET', 'DEEPSLEEP_RESET', 'SOFT_RESET'):
        if getattr(machine, n, None) == c:
            return n[:-6].lower()
    return str(c)


def restore(gen, counters, path):
    """Generator state and counters from flash; a corrupt or missing
    file falls back to its last good copy, then to a fresh start."""
    from firmware import store
    try:
        obj, source, err = store.load(path)
    finally:
        forget('firmware.store')
    if obj is None:
        return 'no saved state (%s)' % err
    try:
        gen.from_dict(obj.get('gen', {}))
        counters.from_dict(obj.get('counters', {}))
    except (ValueError, TypeError, AttributeError) as e:
        return 'saved state refused (%s)' % e
    return 'state from %s%s' % (source, ' (%s)' % err if err else '')
