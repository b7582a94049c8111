# config.json: schema, defaults and validation. A config is either wholly
# valid or refused with a message naming the bad key by its path
# (e.g. "devices[2].unit: must be 0..247, got 300"); the firmware never runs
# on a half-valid one. Pure logic: runs on the board and under CPython.
import json

PROFILES = ('epever_tracer', 'eastron_sdm630', 'eastron_sdm120', 'dse_gencomm',
            'pace_bms', 'seplos_v3')
METERS = ('eastron_sdm630', 'eastron_sdm120')
ROLES = ('grid', 'generator', 'load')
BAUDS = (1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200)
PARITIES = ('none', 'even', 'odd')
NAME_CHARS = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-'
SITE_CHARS = NAME_CHARS + '.'


class ConfigError(ValueError):
    def __init__(self, path, msg):
        super().__init__(path + ': ' + msg)
        self.path = path
        self.msg = msg

    def __str__(self):
        return self.path + ': ' + self.msg


# A field spec: (key, kind, default, check). kind is one of 'int', 'num',
# 'str', 'bool', 'pin' (int or null); default REQUIRED means the key must be
# given; check is a [lo, hi] range, a tuple of allowed values, or None.
REQUIRED = object()

_BUS_COMMON = (
    ('kind', 'str', REQUIRED, ('uart', 'rtu_tcp', 'tcp')),
)
_BUS = {
    'uart': (
        ('uart', 'int', REQUIRED, [0, 2]),
        ('baud', 'int', 9600, BAUDS),
        ('bits', 'int', 8, [7, 8]),
        ('parity', 'str', 'none', PARITIES),
        ('stop', 'int', 1, [1, 2]),
        ('tx', 'int', REQUIRED, [0, 48]),
        ('rx', 'int', REQUIRED, [0, 48]),
        ('de', 'pin', None, [0, 48]),
        ('timeout_ms', 'int', 300, [20, 5000]),
    ),
    'rtu_tcp': (
        ('host', 'str', REQUIRED, None),
        ('port', 'int', 502, [1, 65535]),
        ('baud', 'int', 9600, BAUDS),      # the RS485 side, for timing
        ('timeout_ms', 'int', 500, [20, 5000]),
    ),
    'tcp': (
        ('host', 'str', REQUIRED, None),
        ('port', 'int', 502, [1, 65535]),
        ('timeout_ms', 'int', 1000, [20, 5000]),
    ),
}
_DEVICE = (
    ('name', 'str', REQUIRED, None),
    ('profile', 'str', REQUIRED, PROFILES),
    ('bus', 'str', REQUIRED, None),
    ('unit', 'int', REQUIRED, [0, 247]),
    ('role', 'str', None, ROLES),
    ('enabled', 'bool', True, None),
    ('poll_every', 'int', 1, [1, 60]),
)
_MQTT = (
    ('enabled', 'bool', False, None),          # the link costs ~15 KB of heap: see README
    ('host', 'str', '127.0.0.1', None),
    ('port', 'int', 1883, [1, 65535]),
    ('prefix', 'str', 'sites', None),
    ('user', 'ostr', None, None),
    ('password', 'ostr', None, None),
    ('keepalive_s', 'int', 60, [10, 3600]),
    ('timeout_s', 'num', 5, [0.5, 60]),        # longest any broker operation may stall the loop
    ('telemetry_s', 'int', 60, [1, 86400]),
    ('cmd_key', 'ostr', None, None),           # HMAC key of signed commands; null = none accepted
    ('tls', 'bool', False, None),
    ('ca_file', 'ostr', None, None),           # CA of the broker's certificate (PEM/DER) on flash
)
_GENERATOR = (
    ('control', 'str', 'dse', ('dse', 'relay', 'none')),
    ('device', 'ostr', None, None),          # the dse_gencomm device (default: the first)
    ('relay_pin', 'pin', None, [0, 48]),     # relay control: start/crank contact
    ('run_pin', 'pin', None, [0, 48]),       # relay control: fuel/run hold (optional)
    ('mode', 'str', 'auto', ('auto', 'manual', 'off')),
    ('start_soc', 'num', 30, [0, 100]),
    ('stop_soc', 'num', 90, [0, 100]),
    ('start_v', 'onum', 46.0, [10, 70]),
    ('stop_v', 'onum', 53.0, [10, 70]),
    ('start_load_w', 'onum', None, [0, 1000000]),
    ('stop_load_w', 'onum', None, [0, 1000000]),
    ('start_delay_s', 'int', 60, [0, 86400]),
    ('min_run_s', 'int', 1800, [0, 86400]),
    ('warmup_s', 'int', 60, [0, 3600]),
    ('cooldown_s', 'int', 120, [0, 3600]),
    ('crank_attempts', 'int', 3, [1, 10]),
    ('crank_s', 'int', 8, [1, 60]),
    ('crank_rest_s', 'int', 15, [1, 300]),
    ('stop_timeout_s', 'int', 60, [5, 600]),
    ('quiet_hours', 'ostr', None, None),     # "22:00-06:00"
    ('quiet_override_soc', 'num', 15, [0, 100]),
    ('exercise_days', 'int', 14, [0, 365]),   # 0 = never
    ('exercise_s', 'int', 900, [60, 14400]),
    ('exercise_hour', 'int', 10, [0, 23]),
    ('service_hours', 'int', 250, [0, 100000]),  # 0 = no service alarm
    ('max_run_s', 'int', 14400, [0, 604800]),   # 0 = no limit
    ('stop_taper_c', 'num', 0.02, [0, 1]),      # 0 = no taper stop
    ('stop_taper_s', 'int', 600, [0, 86400]),
    ('max_charge_s', 'int', 10800, [0, 604800]),
    ('pv_stop_s', 'int', 900, [0, 86400]),      # 0 = never stop for PV
    ('bms_warn_start', 'bool', True, None),
    ('bms_min_run_s', 'int', 3600, [0, 86400]),
    ('grid_loss_start_s', 'oint', None, [0, 86400]),  # null = grid loss alone never starts it
    ('fuel_prevent_pct', 'num', 10, [0, 100]),
    ('fuel_stop_pct', 'num', 5, [0, 100]),
    ('on_comm_loss', 'str', 'keep', ('keep', 'stop', 'start')),
    ('rated_kw', 'num', 20, [1, 5000]),
    ('fuel_f0', 'num', 0.08415, [0, 1]),        # l/h per kW rated (HOMER F0)
    ('fuel_f1', 'num', 0.246, [0, 1]),          # l/h per kW out (HOMER F1)
)
_DISPATCH = (
    ('reserve_soc', 'num', 40, [0, 100]),
    ('grid_charge_soc', 'num', 80, [0, 100]),
)
_TOU = (
    ('from', 'str', REQUIRED, None),
    ('to', 'str', REQUIRED, None),
    ('kind', 'str', REQUIRED, ('offpeak', 'shoulder', 'peak')),
    ('price', 'onum', None, [0, 1000]),
)
_LOAD = (
    ('name', 'str', REQUIRED, None),
    ('pin', 'int', REQUIRED, [0, 48]),
    ('priority', 'int', 1, [1, 16]),          # 1 is shed first
    ('critical', 'bool', False, None),        # never shed by the controller
    ('active_high', 'bool', True, None),      # pin level that closes the contactor
    ('shed_v', 'onum', 46.0, [10, 70]),
    ('restore_v', 'onum', 50.0, [10, 70]),
    ('shed_soc', 'onum', 20, [0, 100]),
    ('restore_soc', 'onum', 40, [0, 100]),
    ('backup_s', 'oint', None, [0, 604800]),  # battery time allotted to this load
    ('min_off_s', 'int', 300, [0, 86400]),
)
_ALARMS = (
    ('batt_low_soc', 'num', 30, [0, 100]),
    ('batt_crit_soc', 'num', 15, [0, 100]),
    ('batt_low_v', 'num', 46.5, [10, 70]),
    ('batt_crit_v', 'num', 45.0, [10, 70]),
    ('batt_temp_c', 'num', 45, [0, 100]),
    ('delay_s', 'int', 10, [0, 3600]),
)
_CONSOLE = (
    ('enabled', 'bool', True, None),
    ('pin', 'ostr', None, None),               # asked once a session before a change
    ('timeout_s', 'int', 300, [30, 3600]),     # idle time that ends a session
)
_TOP = (
    ('site_id', 'str', REQUIRED, None),
    ('poll_s', 'num', 2, [0.2, 3600]),
    ('utc_offset_min', 'int', 0, [-720, 840]),   # local time for quiet hours and TOU
    ('persist_s', 'int', 600, [10, 86400]),      # counters to flash at most this often
)
_TOP_KEYS = ('site_id', 'poll_s', 'utc_offset_min', 'persist_s', 'buses', 'devices',
             'mqtt', 'generator', 'dispatch', 'loads', 'alarms', 'console')


_TOP_NAMES = [f[0] for f in _TOP]


def _type_ok(kind, v):
    if kind[0] == 'o':      # optional: null allowed
        if v is None:
            return True
        kind = kind[1:]
    if kind == 'bool':
        return v is True or v is False
    if v is True or v is False:
        return False
    if kind == 'int':
        return isinstance(v, int)
    if kind == 'pin':
        return v is None or isinstance(v, int)
    if kind == 'num':
        return isinstance(v, (int, float))
    if kind == 'str':
        return isinstance(v, str)
    return False


_KIND_WORD = {'int': 'an integer', 'num': 'a number', 'str': 'a string',
              'bool': 'true or false', 'pin': 'a pin number or null',
              'oint': 'an integer or null', 'onum': 'a number or null',
              'ostr': 'a string or null'}


def _fields(src, specs, path, extra=()):
    """Check `src` (a dict) against specs; return a new dict with defaults."""
    if not isinstance(src, dict):
        raise ConfigError(path or '(top)', 'must be an object')
    allowed = [s[0] for s in specs] + list(extra)
    for k in src:
        if k not in allowed:
            raise ConfigError(_join(path, k), 'unknown key (allowed: %s)' % ', '.join(allowed))
    out = {}
    for key, kind, default, check in specs:
        p = _join(path, key)
        if key not in src:
            if default is REQUIRED:
                raise ConfigError(p, 'missing')
            out[key] = default
            continue
        v = src[key]
        if not _type_ok(kind, v):
            raise ConfigError(p, 'must be %s, got %s' % (_KIND_WORD[kind], _show(v)))
        if check is not None and v is not None:
            if isinstance(check, list):
                if not (check[0] <= v <= check[1]):
                    raise ConfigError(p, 'must be %s..%s, got %s' % (check[0], check[1], _show(v)))
            elif v not in check:
                raise ConfigError(p, 'must be one of %s, got %s'
                                  % (', '.join([str(c) for c in check]), _show(v)))
        if kind in ('str', 'ostr') and v == '':
            raise ConfigError(p, 'must not be empty')
        out[key] = v
    return out


def _join(path, key):
    return key if not path else path + '.' + key


def _show(v):
    s = json.dumps(v)
    return s if len(s) <= 40 else s[:37] + '...'


def _name_ok(s, chars, maxlen):
    if not 1 <= len(s) <= maxlen:
        return False
    for c in s:
        if c not in chars:
            return False
    return True


def _new_name(name, taken, path, what):
    if not _name_ok(name, NAME_CHARS, 16):
        raise ConfigError(path + '.name', 'use 1..16 letters, digits, "-" or "_", got %s'
                          % _show(name))
    if name in taken:
        raise ConfigError(path + '.name', 'duplicate %s name %s' % (what, _show(name)))


def validate(raw):
    """Return the full config (defaults filled in) or raise ConfigError."""
    if not isinstance(raw, dict):
        raise ConfigError('(top)', 'must be a JSON object')
    for k in raw:
        if k not in _TOP_KEYS:
            raise ConfigError(k, 'unknown key (allowed: %s)' % ', '.join(_TOP_KEYS))
    cfg = _fields({k: raw[k] for k in raw if k in _TOP_NAMES}, _TOP, '')
    if not _name_ok(cfg['site_id'], SITE_CHARS, 32):
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
        if not _name_ok(name, NAME_CHARS, 16):
            raise ConfigError(p, 'bus names use 1..16 letters, digits, "-" or "_"')
        b = buses[name]
        if not isinstance(b, dict):
            raise ConfigError(p, 'must be an object')
        kind = _fields({'kind': b['kind']} if 'kind' in b else {}, _BUS_COMMON, p)['kind']
        bc = _fields(b, _BUS[kind], p, ('kind',))
        bc['kind'] = kind
        cfg['buses'][name] = bc

    devices = raw.get('devices')
    if devices is None:
        raise ConfigError('devices', 'missing')
    if not isinstance(devices, list):
        raise ConfigError('devices', 'must be a list')
    names = []
    units = []
    cfg['devices'] = []
    for i, d in enumerate(devices):
        p = 'devices[%d]' % i
        dc = _fields(d, _DEVICE, p)
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
        if dc['profile'] in METERS:
            if dc['role'] is None:
                dc['role'] = 'grid'
        elif dc['role'] is not None:
            raise ConfigError(p + '.role', 'only meters take a role, %s is not a meter'
                              % _show(dc['profile']))
        names.append(dc['name'])
        units.append(key)
        cfg['devices'].append(dc)

    cfg['mqtt'] = _fields(raw.get('mqtt', {}), _MQTT, 'mqtt')
    cfg['generator'] = _generator(raw.get('generator', {}), cfg)
    cfg['dispatch'] = _dispatch(raw.get('dispatch', {}))
    cfg['loads'] = _loads(raw.get('loads', []))
    cfg['alarms'] = _fields(raw.get('alarms', {}), _ALARMS, 'alarms')
    cfg['console'] = _fields(raw.get('console', {}), _CONSOLE, 'console')
    pin = cfg['console']['pin']
    if pin is not None and not (4 <= len(pin) <= 12 and pin.isdigit()):
        raise ConfigError('console.pin', 'must be 4..12 digits')
    return cfg


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


def _generator(raw, cfg):
    g = _fields(raw, _GENERATOR, 'generator')
    gensets = [d['name'] for d in cfg['devices'] if d['profile'] == 'dse_gencomm']
    if g['control'] == 'dse':
        if g['device'] is None:
            if not gensets and 'control' in raw:
                raise ConfigError('generator.device', 'control "dse" needs a dse_gencomm device')
            g['device'] = gensets[0] if gensets else None
            if not gensets:
                g['control'] = 'none'      # no genset configured, nothing to control
        elif g['device'] not in gensets:
            raise ConfigError('generator.device', 'no dse_gencomm device named %s' % _show(g['device']))
    elif g['control'] == 'relay' and g['relay_pin'] is None:
        raise ConfigError('generator.relay_pin', 'control "relay" needs the start relay pin')
    if g['stop_soc'] <= g['start_soc']:
        raise ConfigError('generator.stop_soc', 'must be above start_soc (%s), got %s'
                          % (g['start_soc'], g['stop_soc']))
    if g['start_v'] is not None and g['stop_v'] is not None and g['stop_v'] <= g['start_v']:
        raise ConfigError('generator.stop_v', 'must be above start_v (%s), got %s'
                          % (g['start_v'], g['stop_v']))
    if g['start_load_w'] is not None and g['stop_load_w'] is None:
        g['stop_load_w'] = 0.8 * g['start_load_w']
    if g['fuel_stop_pct'] > g['fuel_prevent_pct']:
        raise ConfigError('generator.fuel_stop_pct', 'must not be above fuel_prevent_pct (%s)'
                          % g['fuel_prevent_pct'])
    q = g['quiet_hours']
    if q is not None:
        if len(q) != 11 or q[5] != '-':
            raise ConfigError('generator.quiet_hours', 'must be "HH:MM-HH:MM", got %s' % _show(q))
        g['quiet'] = (hhmm(q[:5], 'generator.quiet_hours'), hhmm(q[6:], 'generator.quiet_hours'))
    else:
        g['quiet'] = None
    return g


def _dispatch(raw):
    d = _fields(raw, _DISPATCH, 'dispatch', ('tou',))
    tou = raw.get('tou', []) if isinstance(raw, dict) else []
    if not isinstance(tou, list):
        raise ConfigError('dispatch.tou', 'must be a list of windows')
    d['tou'] = []
    for i, w in enumerate(tou):
        p = 'dispatch.tou[%d]' % i
        wc = _fields(w, _TOU, p)
        wc['from_min'] = hhmm(wc['from'], p + '.from')
        wc['to_min'] = hhmm(wc['to'], p + '.to')
        d['tou'].append(wc)
    return d


def _loads(raw):
    if not isinstance(raw, list):
        raise ConfigError('loads', 'must be a list')
    out = []
    names = []
    for i, l in enumerate(raw):
        p = 'loads[%d]' % i
        lc = _fields(l, _LOAD, p)
        _new_name(lc['name'], names, p, 'load')
        for lo, hi in (('shed_v', 'restore_v'), ('shed_soc', 'restore_soc')):
            if lc[lo] is not None and lc[hi] is not None and lc[hi] <= lc[lo]:
                raise ConfigError(p + '.' + hi, 'must be above %s (%s), got %s'
                                  % (lo, lc[lo], lc[hi]))
        names.append(lc['name'])
        out.append(lc)
    return out


def loads(text):
    """Parse and validate config text; ConfigError on bad JSON too."""
    try:
        raw = json.loads(text)
    except ValueError as e:
        raise ConfigError('(file)', 'not valid JSON (%s)' % e)
    return validate(raw)


def load(path):
    try:
        with open(path) as f:
            text = f.read()
    except OSError:
        raise ConfigError('(file)', '%s not found or unreadable' % path)
    return loads(text)
