# config.json: schema, defaults and validation. A config is either wholly
# valid or refused with a message naming the bad key by its path
# (e.g. "devices[2].unit: must be 0..247, got 300"); the firmware never runs
# on a half-valid one. Pure logic: runs on the board and under CPython.
#
# The console imports this module at run time to check a `config set`, when
# the controller has ~17 KB of heap left in runs of ~2 KB at most. So the
# schema is text, read a row at a time while validating, not ~110 tuples,
# lists and floats built at import: importing the .mpy costs ~12 KB of heap
# on the unix port instead of ~30 KB, and no single allocation above ~1 KB.
import json


MAX_BYTES = 16384       # a config file larger is refused unread
MAX_DEPTH = 8           # JSON nesting: the schema needs 4
MAX_DEVICES = 16        # Modbus devices: each costs its plan and values on the heap


class ConfigError(ValueError):
    def __init__(self, path, msg):
        super().__init__(path + ': ' + msg)
        self.path = path
        self.msg = msg


# One section per '@name' line, then one row per key: "key kind default
# [check]". kind is i (int), n (number), s (str), b (bool), p (pin: int or
# null); I, N, S are i, n, s that also take null; - is a key that validate()
# checks itself. default is JSON, or ! when the key must be given. check is
# lo..hi (written as the message shows it) or a,b,c (the allowed values).
# Rows are in the order keys are checked and listed in messages. Three
# strings, each ending in '@', rather than one: the largest stays ~1 KB, a
# block a fragmented heap still has.
_SCHEMA = (
    '@top\n'
    'site_id s !\n'
    'board s "esp32" esp32,esp32-wrover,esp32s3\n'   # which pins exist and can drive (pins())
    'poll_s n 2 0.2..3600\n'
    'utc_offset_min i 0 -720..840\n'     # local time for quiet hours and TOU
    'latitude N null -90..90\n'          # the site, for the PV forecast (null: none)
    'longitude N null -180..180\n'
    'persist_s i 600 10..86400\n'        # counters to flash at most this often
    'watchdog_s I null 10..3600\n'       # null: twice the longest loop turn, 30 s at least
    'buses - -\n'                        # the sections
    'devices - -\n'
    'mqtt - -\n'
    'generator - -\n'
    'dispatch - -\n'
    'loads - -\n'
    'alarms - -\n'
    'console - -\n'
    'safe_mode - -\n'
    'net - -\n'
    '@bus\n'
    'kind s ! uart,rtu_tcp,tcp\n'
    '@uart\n'
    'uart i ! 0..2\n'
    'baud i 9600 1200,2400,4800,9600,19200,38400,57600,115200\n'
    'bits i 8 7..8\n'
    'parity s "none" none,even,odd\n'
    'stop i 1 1..2\n'
    'tx i ! 0..48\n'
    'rx i ! 0..48\n'
    'de p null 0..48\n'
    'timeout_ms i 300 20..5000\n'
    'kind - -\n'                         # checked first, as section bus
    '@rtu_tcp\n'
    'host s !\n'
    'port i 502 1..65535\n'
    'baud i 9600 1200,2400,4800,9600,19200,38400,57600,115200\n'  # the RS485 side, for timing
    'timeout_ms i 500 20..5000\n'
    'kind - -\n'
    '@tcp\n'
    'host s !\n'
    'port i 502 1..65535\n'
    'timeout_ms i 1000 20..5000\n'
    'kind - -\n'
    '@devices\n'
    'name s !\n'
    'profile s ! epever_tracer,eastron_sdm630,eastron_sdm120,dse_gencomm,pace_bms,seplos_v3\n'
    'bus s !\n'
    'unit i ! 0..247\n'
    'role s null grid,generator,load\n'
    'enabled b true\n'
    'poll_every i 1 1..60\n'
    'current_scale N null 0.01,0.1\n'   # seplos_v3: A a count of current (0.1 on 300/400 A boards)
    'stack_head b false\n'              # seplos_v3: read the stack's summary, not the pack's own
    '@mqtt\n'
    'enabled b false\n'                  # without the key: on when a host is given
    'host s "127.0.0.1"\n'
    'port i 1883 1..65535\n'
    'prefix s "sites"\n'
    'user S null\n'
    'password S null\n'
    'keepalive_s i 60 10..3600\n'
    'timeout_s n 5 0.5..60\n'            # longest any broker operation may stall the loop
    'telemetry_s i 60 1..86400\n'
    'dev_s i 300 10..86400\n'           # each device's retained values at least this often
    'spool_tel_kb i 64 8..1024\n'       # flash for telemetry while the link is down
    'spool_ev_kb i 32 8..1024\n'        # and for events (kept longer: telemetry goes first)
    'cmd_key S null\n'                   # HMAC key of signed commands; null = none accepted
    'tls b false\n'                      # needs ca_file: the broker's certificate is always checked
    'ca_file S null\n'                   # CA of the broker's certificate (PEM/DER) on flash
    'ha_discovery b false\n'            # Home Assistant discovery messages
    'ha_prefix s "homeassistant"\n'
    'ha_commands b false\n'             # the generator as an (unsigned) HA switch
    '@',
    '@generator\n'
    'control s "dse" dse,relay,none\n'
    'device S null\n'                    # the dse_gencomm device (default: the first)
    'relay_pin p null 0..48\n'           # relay control: start/crank contact
    'run_pin p null 0..48\n'             # relay control: fuel/run hold (optional)
    'mode s "auto" auto,manual,off\n'
    'start_soc n 30 0..100\n'
    'stop_soc n 90 0..100\n'
    'start_v N 46.0 10..70\n'
    'stop_v N 53.0 10..70\n'
    'start_load_w N null 0..1000000\n'
    'stop_load_w N null 0..1000000\n'
    'start_delay_s i 60 0..86400\n'
    'min_run_s i 1800 0..86400\n'
    'warmup_s i 60 0..3600\n'
    'cooldown_s i 120 0..3600\n'
    'crank_attempts i 3 1..10\n'
    'crank_s i 8 1..60\n'
    'crank_rest_s i 15 1..300\n'
    'stop_timeout_s i 60 5..600\n'
    'quiet_hours S null\n'               # "22:00-06:00"
    'quiet_override_soc n 15 0..100\n'
    'exercise_days i 14 0..365\n'        # 0 = never
    'exercise_s i 900 60..14400\n'
    'exercise_hour i 10 0..23\n'
    'service_hours i 250 0..100000\n'    # 0 = no service alarm
    'max_run_s i 14400 0..604800\n'      # 0 = no limit
    'stop_taper_c n 0.02 0..1\n'         # 0 = no taper stop
    'stop_taper_s i 600 0..86400\n'
    'max_charge_s i 10800 0..604800\n'
    'pv_stop_s i 900 0..86400\n'         # 0 = never stop for PV
    'bms_warn_start b true\n'
    'bms_min_run_s i 3600 0..86400\n'
    'grid_loss_start_s I null 0..86400\n'  # null = grid loss alone never starts it
    'fuel_prevent_pct n 10 0..100\n'
    'fuel_stop_pct n 5 0..100\n'
    'on_comm_loss s "keep" keep,stop,start\n'
    'rated_kw N null 1..5000\n'         # null: diesel litres estimated, 20 kW assumed
    'pv_stop_min_soc n 50 0..100\n'      # a charging run stops for expected PV no lower
    'outage_start_soc N 20 0..100\n'     # in a grid outage a SOC start waits to here (null: start_soc)
    'outage_stop_soc N 50 0..100\n'      # in a grid outage a charging run stops here (null: stop_soc)
    'fuel_f0 n 0.08415 0..1\n'           # l/h per kW rated (HOMER F0)
    'fuel_f1 n 0.246 0..1\n'             # l/h per kW out (HOMER F1)
    '@',
    '@dispatch\n'
    'reserve_soc n 40 0..100\n'
    'grid_charge_soc n 80 0..100\n'
    'outage_days i 7 0..14\n'           # the reserve holds the longest outage of these days (0: off)
    'grid_pin p null 0..48\n'            # the rectifiers' AC input contactor: follows grid_on
    'grid_pin_active_high b true\n'      # pin level that closes it
    'grid_charge_pin p null 0..48\n'     # rectifier charge enable: follows grid_charge
    'grid_charge_pin_active_high b true\n'
    'pv_charge_coil b true\n'            # EPEver MPPTs' charging off (coil 0) while the BMS forbids it
    'tou - -\n'
    '@dispatch.tou\n'
    'from s !\n'
    'to s !\n'
    'kind s ! offpeak,shoulder,peak\n'
    'price N null 0..1000\n'
    '@loads\n'
    'name s !\n'
    'pin i ! 0..48\n'
    'priority i 1 1..16\n'               # 1 is shed first
    'critical b false\n'                 # never shed by the controller
    'active_high b true\n'               # pin level that closes the contactor
    'shed_v N 46.0 10..70\n'
    'restore_v N 50.0 10..70\n'
    'shed_soc N 20 0..100\n'
    'restore_soc N 40 0..100\n'
    'backup_s I null 0..604800\n'        # battery time allotted to this load
    'min_off_s i 300 0..86400\n'
    '@alarms\n'
    'batt_low_soc n 30 0..100\n'
    'batt_crit_soc n 15 0..100\n'
    'batt_low_v n 46.5 10..70\n'
    'batt_crit_v n 45.0 10..70\n'
    'batt_temp_c n 45 0..100\n'
    'delay_s i 10 0..3600\n'
    '@console\n'
    'enabled b true\n'
    'pin S null\n'                       # asked once a session before a change
    'timeout_s i 300 30..3600\n'         # idle time that ends a session
    '@safe_mode\n'
    'boots i 4 2..20\n'                  # resets in a row before a healthy run: safe mode
    'pin p null 0..48\n'                 # held low at boot: safe mode (e.g. 0, the BOOT key)
    'gen_relay s "off" off,run\n'        # relay control's run/fuel hold in safe mode
    'healthy_s i 600 10..86400\n'        # then the resets are forgiven, the config is good
    '@net\n'
    'kind s "host" host,wlan,lan,ppp\n'  # host: the PC's network (host runs), nothing brought up
    'ssid S null\n'
    'password S null\n'                  # wlan key; ppp: PAP password (with user)
    'phy s "LAN8720" LAN8720,IP101,RTL8201,W5500\n'
    'mdc p null 0..48\n'                 # RMII PHYs: WT32-ETH01 and ESP32-POE use 23
    'mdio p null 0..48\n'                # and 18
    'power p null 0..48\n'               # PHY power/enable pin (WT32-ETH01 16, ESP32-POE 12)
    'phy_addr i 0 0..31\n'               # WT32-ETH01 1, ESP32-POE 0, W5500 0
    'spi i 2 1..2\n'                     # W5500: SPI host id
    'sck p null 0..48\n'
    'mosi p null 0..48\n'
    'miso p null 0..48\n'
    'cs p null 0..48\n'
    'int p null 0..48\n'
    'uart i 1 0..2\n'                    # ppp: the modem's UART
    'tx p null 0..48\n'
    'rx p null 0..48\n'
    'baud i 115200 9600,19200,38400,57600,115200,230400,460800,921600\n'
    'apn S null\n'
    'user S null\n'                      # ppp: PAP user (null = no authentication)
    'sim_pin S null\n'
    'dns S null\n'                       # DNS server; null = the one DHCP/PPP gives
    'connect_s i 30 2..600\n'            # an attempt not up by then fails and backs off
    'ntp_host S null\n'                  # null: pool.ntp.org, or none with kind host
    'ntp_s i 21600 60..432000\n'         # resync period (ticks deadlines hold 6 days)
    '@',
)


def _section(name):
    # (schema string, index of the section's first row, index of its end).
    name = '@' + name + '\n'
    for s in _SCHEMA:
        i = s.find(name)
        if i >= 0:
            break
    i += len(name)
    return s, i, s.index('@', i)


def _rows(name):
    # The rows of section `name`, split one at a time: validating never
    # holds more than a row of the schema unpacked.
    s, i, end = _section(name)
    while i < end:
        j = s.index('\n', i)
        yield s[i:j].split(' ')
        i = j + 1


def _known(name, key):
    s, i, end = _section(name)
    return s.find('\n' + key + ' ', i - 1, end) >= 0


def _interned(key):
    # Keyword names are qstrs in MicroPython: passed as a keyword, a key
    # comes back as the shared qstr. So the config the app keeps holds no
    # str of its own per key and dict, and later validations (the
    # console's, MQTT's config_set) allocate no keys: one small dict each,
    # never a block the size of a section (a cut-up heap may lack one).
    for k in dict(**{key: None}):
        return k


def _fields(src, name, path):
    """Check `src` (a dict) against section `name`; return a new dict with defaults."""
    if not isinstance(src, dict):
        raise ConfigError(path or '(top)', 'must be an object')
    pre = path + '.' if path else ''
    for k in src:
        if not isinstance(k, str) or not _known(name, k):
            raise ConfigError(pre + str(k), 'unknown key (allowed: %s)'
                              % ', '.join([r[0] for r in _rows(name)]))
    out = {}
    for key, kind, default, *check in _rows(name):
        key = _interned(key)
        p = pre + key
        if kind == '-':
            continue
        if key not in src:
            if default == '!':
                raise ConfigError(p, 'missing')
            out[key] = json.loads(default)
            continue
        v = src[key]
        b = v is True or v is False     # bools are ints to isinstance()
        if not (v is None and kind in 'pINS' or (b if kind == 'b' else not b and isinstance(
                v, int if kind in 'iIp' else (int, float) if kind in 'nN' else str))):
            w = 'an integer|a number|a string|true or false|a pin number or null'.split('|')[
                'insbp'.index(kind.lower())]
            raise ConfigError(p, 'must be %s, got %s' % (w + ' or null' if kind in 'INS' else w,
                                                          _show(v)))
        if check and v is not None:
            c = check[0]
            if '..' in c:
                lo, hi = c.split('..')
                if not (json.loads(lo) <= v <= json.loads(hi)):
                    raise ConfigError(p, 'must be %s, got %s' % (c, _show(v)))
            elif str(v) not in c.split(','):    # baud rates are ints
                raise ConfigError(p, 'must be one of %s, got %s' % (c.replace(',', ', '), _show(v)))
        if kind in 'sS' and v == '':
            raise ConfigError(p, 'must not be empty')
        out[key] = v
    return out


def _items(v, path, what):
    # A list of objects of section `path`: yields each one's path and fields.
    if not isinstance(v, list):
        raise ConfigError(path, 'must be ' + what)
    for i in range(len(v)):
        p = '%s[%d]' % (path, i)
        yield p, _fields(v[i], path, p)


def _show(v):
    s = json.dumps(v)
    return s if len(s) <= 40 else s[:37] + '...'


def _name_ok(s, maxlen, more):
    # ASCII letters, digits and the characters of `more` (isalpha() would
    # let CPython take non-ASCII letters).
    if not 1 <= len(s) <= maxlen:
        return False
    for c in s:
        if not ('a' <= c <= 'z' or 'A' <= c <= 'Z' or '0' <= c <= '9' or c in more):
            return False
    return True


def _new_name(name, taken, path, what):
    if not _name_ok(name, 16, '-_'):
        raise ConfigError(path + '.name', 'use 1..16 letters, digits, "-" or "_", got %s'
                          % _show(name))
    if name in taken:
        raise ConfigError(path + '.name', 'duplicate %s name %s' % (what, _show(name)))
    taken.append(name)


def _above(c, path, lo, hi):
    if c[lo] is not None and c[hi] is not None and c[hi] <= c[lo]:
        raise ConfigError(path + '.' + hi, 'must be above %s (%s), got %s' % (lo, c[lo], c[hi]))


def validate(raw):
    """Return the full config (defaults filled in) or raise ConfigError."""
    if not isinstance(raw, dict):
        raise ConfigError('(top)', 'must be a JSON object')
    cfg = _fields(raw, 'top', '')
    if not _name_ok(cfg['site_id'], 32, '-_.'):
        raise ConfigError('site_id', 'use 1..32 letters, digits, "-", "_" or ".", got %s'
                          % _show(cfg['site_id']))

    buses = raw.get('buses')
    if buses is None:
        raise ConfigError('buses', 'missing')
    if not isinstance(buses, dict) or not buses:
        raise ConfigError('buses', 'must be an object of named buses')
    cfg['buses'] = {}
    for name in buses:
        p = 'buses.' + name
        if not _name_ok(name, 16, '-_'):
            raise ConfigError(p, 'bus names use 1..16 letters, digits, "-" or "_"')
        b = buses[name]
        if not isinstance(b, dict):
            raise ConfigError(p, 'must be an object')
        kind = _fields({'kind': b['kind']} if 'kind' in b else {}, 'bus', p)['kind']
        bc = _fields(b, kind, p)
        bc['kind'] = kind
        cfg['buses'][name] = bc

    devices = raw.get('devices')
    if devices is None:
        raise ConfigError('devices', 'missing')
    if isinstance(devices, list) and len(devices) > MAX_DEVICES:
        raise ConfigError('devices', '%d devices: at most %d (the board\'s heap)'
                          % (len(devices), MAX_DEVICES))
    names = []
    units = []
    gensets = []
    cfg['devices'] = []
    for p, dc in _items(devices, 'devices', 'a list'):
        _new_name(dc['name'], names, p, 'device')
        if dc['bus'] not in cfg['buses']:
            raise ConfigError(p + '.bus', 'no bus named %s (buses: %s)'
                              % (_show(dc['bus']), ', '.join(cfg['buses'])))
        if dc['unit'] == 0 and dc['profile'] != 'seplos_v3':
            raise ConfigError(p + '.unit', 'must be 1..247 (0 is broadcast), got 0')
        key = (dc['bus'], dc['unit'])
        if key in units:
            raise ConfigError(p + '.unit', 'unit %d already used on bus %s'
                              % (dc['unit'], _show(dc['bus'])))
        if dc['profile'].startswith('eastron'):     # the meters (sdm630, sdm120)
            if dc['role'] is None:
                dc['role'] = 'grid'
        elif dc['role'] is not None:
            raise ConfigError(p + '.role', 'only meters take a role, %s is not a meter'
                              % _show(dc['profile']))
        if dc['profile'] == 'dse_gencomm':
            gensets.append(dc['name'])
        for k in ('current_scale', 'stack_head'):
            if dc[k] not in (None, False) and dc['profile'] != 'seplos_v3':
                raise ConfigError(p + '.' + k, 'only a seplos_v3 takes %s, %s does not'
                                  % (k, _show(dc['profile'])))
        if dc['stack_head'] and dc['current_scale'] is not None:
            raise ConfigError(p + '.current_scale', "a stack head's summary is always in 0.1 A:"
                              ' current_scale is for a single pack')
        units.append(key)
        cfg['devices'].append(dc)

    mr = raw.get('mqtt', {})
    cfg['mqtt'] = _fields(mr, 'mqtt', 'mqtt')
    for k in ('prefix', 'ha_prefix'):
        if '#' in cfg['mqtt'][k] or '+' in cfg['mqtt'][k]:
            raise ConfigError('mqtt.' + k, 'no MQTT wildcard (# or +) in a topic we publish to')
    # A broker named is a link wanted: a silent default off looked like a
    # broken broker to a new user. startup.later_modules() decides the same.
    cfg['mqtt']['enabled'] = mr.get('enabled', 'host' in mr)
    if cfg['mqtt']['tls'] and cfg['mqtt']['ca_file'] is None:
        raise ConfigError('mqtt.ca_file', 'TLS needs the CA of the broker\'s certificate '
                          '(a link that checks nothing is not secure)')

    cfg['generator'] = _generator(raw.get('generator', {}), gensets)

    dr = raw.get('dispatch', {})
    cfg['dispatch'] = d = _fields(dr, 'dispatch', 'dispatch')
    d['tou'] = []
    for p, w in _items(dr.get('tou', []), 'dispatch.tou', 'a list of windows'):
        w['from_min'] = hhmm(w['from'], p + '.from')
        w['to_min'] = hhmm(w['to'], p + '.to')
        d['tou'].append(w)

    names = []
    cfg['loads'] = []
    for p, lc in _items(raw.get('loads', []), 'loads', 'a list'):
        _new_name(lc['name'], names, p, 'load')
        _above(lc, p, 'shed_v', 'restore_v')
        _above(lc, p, 'shed_soc', 'restore_soc')
        cfg['loads'].append(lc)

    cfg['alarms'] = _fields(raw.get('alarms', {}), 'alarms', 'alarms')
    cfg['console'] = _fields(raw.get('console', {}), 'console', 'console')
    pin = cfg['console']['pin']
    if pin is not None and not (4 <= len(pin) <= 12 and pin.isdigit()):
        raise ConfigError('console.pin', 'must be 4..12 digits')
    cfg['safe_mode'] = _fields(raw.get('safe_mode', {}), 'safe_mode', 'safe_mode')
    cfg['net'] = _net(raw.get('net', {}))
    check_pins(cfg)
    _watchdog(cfg)
    return cfg


DNS_MS = 4000       # a name lookup: two tries of 2 s (hw/dns.py)
FLASH_MS = 2000     # the state file and a spool segment written in one turn


def longest_turn_ms(cfg):
    """The longest a loop turn can take when everything fails at once and
    every wait runs out: each device's one timeout a cycle (a timeout ends
    that device's cycle) and a gateway's connect, a key write, two MQTT
    operations (a failed one drops the link, so no third waits), a DNS
    lookup and the flash writes."""
    ms = 0
    buses = cfg['buses']
    for d in cfg['devices']:
        if d['enabled']:
            ms += buses[d['bus']]['timeout_ms']
    for b in buses.values():
        ms += b['timeout_ms'] if b['kind'] != 'uart' else 0
    ms += max([b['timeout_ms'] for b in buses.values()])
    m = cfg['mqtt']
    if m['enabled']:
        ms += int(2000 * m['timeout_s']) + DNS_MS
    return ms + FLASH_MS


def _watchdog(cfg):
    # The watchdog must never fire on a turn that is slow but bounded: a
    # reset there would lose what the loop was about to save.
    need = longest_turn_ms(cfg)
    w = cfg['watchdog_s']
    if w is None:
        cfg['watchdog_s'] = max(30, (2 * need + 999) // 1000)
    elif w * 1000 < need + 5000:
        raise ConfigError('watchdog_s', 'must be at least %d s: a loop turn of this config may '
                          'take %.1f s (bus timeouts, mqtt.timeout_s, DNS, flash)'
                          % ((need + 5999) // 1000, need / 1000))


# GPIOs a board cannot give us, from Espressif's datasheets (ESP32 s. 2.2,
# ESP32-S3 s. 2.3) and MicroPython's ports/esp32 machine_pin.c: on the
# ESP32, 6-11 are the SPI flash, 34-39 are input only, 20, 24 and 28-31 do
# not exist, and WROVER modules give 16/17 to the PSRAM; on the S3, 22-25
# do not exist and 26-37 are the in-package flash and (octal) PSRAM.
_NO_PIN = {'esp32': (6, 7, 8, 9, 10, 11, 20, 24, 28, 29, 30, 31),
           'esp32-wrover': (6, 7, 8, 9, 10, 11, 16, 17, 20, 24, 28, 29, 30, 31),
           'esp32s3': (22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37)}
_LAST_PIN = {'esp32': 39, 'esp32-wrover': 39, 'esp32s3': 48}


def _pin_uses(cfg):
    # (key path, pin, drives it): every pin the config names.
    for name, b in cfg['buses'].items():
        if b['kind'] == 'uart':
            p = 'buses.%s.' % name
            yield p + 'tx', b['tx'], True
            yield p + 'rx', b['rx'], False
            yield p + 'de', b['de'], True
    g = cfg['generator']
    yield 'generator.relay_pin', g['relay_pin'], True
    yield 'generator.run_pin', g['run_pin'], True
    for i in range(len(cfg['loads'])):
        yield 'loads[%d].pin' % i, cfg['loads'][i]['pin'], True
    d = cfg['dispatch']
    yield 'dispatch.grid_pin', d['grid_pin'], True
    yield 'dispatch.grid_charge_pin', d['grid_charge_pin'], True
    yield 'safe_mode.pin', cfg['safe_mode']['pin'], False
    n = cfg['net']
    if n['kind'] == 'lan':
        for k, drive in (('mdc', True), ('mdio', True), ('power', True), ('sck', True),
                         ('mosi', True), ('miso', False), ('cs', True), ('int', False)):
            yield 'net.' + k, n[k], drive
    elif n['kind'] == 'ppp':
        yield 'net.tx', n['tx'], True
        yield 'net.rx', n['rx'], False


def check_pins(cfg):
    """Refuse a pin the board (cfg['board']) lacks, an input-only pin
    asked to drive, and a pin used twice (two outputs fight; an output on
    an input reads itself)."""
    board = cfg['board']
    used = {}
    for path, pin, drive in _pin_uses(cfg):
        if pin is None:
            continue
        if pin > _LAST_PIN[board] or pin in _NO_PIN[board]:
            raise ConfigError(path, 'GPIO %d is not usable on %s (flash, PSRAM or no such pin)'
                              % (pin, board))
        if drive and board != 'esp32s3' and pin >= 34:
            raise ConfigError(path, 'GPIO %d is input only on %s' % (pin, board))
        if pin in used:
            raise ConfigError(path, 'GPIO %d is already %s' % (pin, used[pin]))
        used[pin] = path


# What each kind of network needs (hw/net.py brings it up).
_NET_NEEDS = {'wlan': ('ssid',), 'lan': ('mdc', 'mdio'), 'ppp': ('tx', 'rx', 'apn'),
              'host': ()}


def _net(raw):
    n = _fields(raw, 'net', 'net')
    need = _NET_NEEDS[n['kind']]
    if n['kind'] == 'lan' and n['phy'] == 'W5500':
        need = ('sck', 'mosi', 'miso', 'cs', 'int')      # without int the driver refuses
    for k in need:
        if n[k] is None:
            raise ConfigError('net.' + k, 'needed for kind %s%s' % (
                n['kind'], ' (W5500)' if n['kind'] == 'lan' and n['phy'] == 'W5500' else ''))
    if 'ntp_host' not in raw and n['kind'] != 'host':
        n['ntp_host'] = 'pool.ntp.org'      # the PC keeps its own time
    return n


def _generator(raw, gensets):
    g = _fields(raw, 'generator', 'generator')
    p = 'generator.'
    if g['control'] == 'dse':
        if g['device'] is None:
            if not gensets and 'control' in raw:
                raise ConfigError(p + 'device', 'control "dse" needs a dse_gencomm device')
            g['device'] = gensets[0] if gensets else None
            if not gensets:
                g['control'] = 'none'      # no genset configured, nothing to control
        elif g['device'] not in gensets:
            raise ConfigError(p + 'device', 'no dse_gencomm device named %s' % _show(g['device']))
    elif g['control'] == 'relay' and g['relay_pin'] is None:
        raise ConfigError(p + 'relay_pin', 'control "relay" needs the start relay pin')
    _above(g, 'generator', 'start_soc', 'stop_soc')
    _above(g, 'generator', 'start_v', 'stop_v')
    if g['start_load_w'] is not None and g['stop_load_w'] is None:
        g['stop_load_w'] = 0.8 * g['start_load_w']
    if g['fuel_stop_pct'] > g['fuel_prevent_pct']:
        raise ConfigError(p + 'fuel_stop_pct', 'must not be above fuel_prevent_pct (%s)'
                          % g['fuel_prevent_pct'])
    q = g['quiet_hours']
    p += 'quiet_hours'
    if q is not None:
        if len(q) != 11 or q[5] != '-':
            raise ConfigError(p, 'must be "HH:MM-HH:MM", got %s' % _show(q))
        q = (hhmm(q[:5], p), hhmm(q[6:], p))
    g['quiet'] = q
    return g


def hhmm(text, path):
    """'HH:MM' -> minutes after midnight, or ConfigError."""
    if not isinstance(text, str) or len(text) != 5 or text[2] != ':' \
            or not (text[:2] + text[3:]).isdigit():
        raise ConfigError(path, 'must be "HH:MM", got %s' % _show(text))
    h = int(text[:2])
    m = int(text[3:])
    if h > 23 or m > 59:
        raise ConfigError(path, 'must be a time of day 00:00..23:59, got %s' % _show(text))
    return h * 60 + m


def _depth(text, limit):
    """True when no object or array in the JSON text nests deeper than
    limit: the parser recurses, and a few thousand levels exhaust the
    board's stack or heap before it can say what is wrong."""
    d = 0
    quoted = False
    escaped = False
    for c in text:
        if quoted:
            if escaped:
                escaped = False
            elif c == '\\':
                escaped = True
            elif c == '"':
                quoted = False
        elif c == '"':
            quoted = True
        elif c == '{' or c == '[':
            d += 1
            if d > limit:
                return False
        elif c == '}' or c == ']':
            d -= 1
    return True


def loads(text):
    """Parse and validate config text; ConfigError on bad JSON too."""
    if len(text) > MAX_BYTES:
        raise ConfigError('(file)', '%d bytes: at most %d' % (len(text), MAX_BYTES))
    if not _depth(text, MAX_DEPTH):
        raise ConfigError('(file)', 'nested deeper than %d levels' % MAX_DEPTH)
    try:
        raw = json.loads(text)
    except ValueError as e:
        raise ConfigError('(file)', 'not valid JSON (%s)' % e)
    except (MemoryError, RuntimeError) as e:
        raise ConfigError('(file)', 'too large to parse on this heap (%r)' % e)
    return validate(raw)


def load(path):
    """The validated config of the file at path; ConfigError, with its
    reason, for whatever is wrong with it (then the last known good runs)."""
    import os
    try:
        size = os.stat(path)[6]
    except OSError:
        raise ConfigError('(file)', '%s not found or unreadable' % path)
    if size > MAX_BYTES:        # refused unread: it would not fit the heap
        raise ConfigError('(file)', '%d bytes: at most %d' % (size, MAX_BYTES))
    try:
        with open(path, 'rb') as f:
            data = f.read()
    except OSError:
        raise ConfigError('(file)', '%s not found or unreadable' % path)
    except MemoryError:
        raise ConfigError('(file)', 'no room on the heap to read it')
    try:
        text = data.decode()
    except UnicodeError:
        raise ConfigError('(file)', 'not UTF-8 text (a stray byte, or UTF-16)')
    del data
    return loads(text)
