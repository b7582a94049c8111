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
    ('host', 'str', '127.0.0.1', None),
    ('port', 'int', 1883, [1, 65535]),
    ('prefix', 'str', 'sites', None),
)
_TOP = (
    ('site_id', 'str', REQUIRED, None),
    ('poll_s', 'num', 2, [0.2, 3600]),
)
_TOP_KEYS = ('site_id', 'poll_s', 'buses', 'devices', 'mqtt')


def _type_ok(kind, v):
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
              'bool': 'true or false', 'pin': 'a pin number or null'}


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
        if kind == 'str' and not v:
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


def validate(raw):
    """Return the full config (defaults filled in) or raise ConfigError."""
    if not isinstance(raw, dict):
        raise ConfigError('(top)', 'must be a JSON object')
    for k in raw:
        if k not in _TOP_KEYS:
            raise ConfigError(k, 'unknown key (allowed: %s)' % ', '.join(_TOP_KEYS))
    cfg = _fields({k: raw[k] for k in raw if k in ('site_id', 'poll_s')}, _TOP, '')
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
        if not _name_ok(dc['name'], NAME_CHARS, 16):
            raise ConfigError(p + '.name', 'use 1..16 letters, digits, "-" or "_", got %s'
                              % _show(dc['name']))
        if dc['name'] in names:
            raise ConfigError(p + '.name', 'duplicate device name %s' % _show(dc['name']))
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
    return cfg


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
