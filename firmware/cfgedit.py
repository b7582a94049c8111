# Changing config.json from the field (the console's `config` commands and
# the MQTT `config_set` command): key paths, a change checked against the
# whole schema before anything is written, and the atomic save that keeps
# the running config as the last known good. Loaded only while a change is
# made; the schema module (firmware.config) only for the check.
import json

SECRETS = ('mqtt.password', 'mqtt.cmd_key', 'console.pin')


def masked(key, v):
    """v as JSON text, or "***" for a secret."""
    return '"***"' if key in SECRETS and v is not None else json.dumps(v)


def parse_path(key):
    """'devices[0].unit' or 'buses.gw.port' -> ['devices', 0, 'unit'];
    ValueError for a malformed key."""
    out = []
    for part in key.split('.'):
        while part:
            b = part.find('[')
            if b < 0:
                out.append(part)
                break
            if b:
                out.append(part[:b])
            e = part.find(']', b)
            if e < 0:
                raise ValueError('bad key %r' % key[:40])
            try:
                out.append(int(part[b + 1:e]))
            except ValueError:
                raise ValueError('bad index in %r' % key[:40])
            part = part[e + 1:]
    if not out or '' in out:
        raise ValueError('bad key %r' % key[:40])
    return out


def get(obj, path):
    """(value, True) at path in a config dict, or (None, False)."""
    for p in path:
        if isinstance(p, int):
            if not isinstance(obj, list) or not 0 <= p < len(obj):
                return None, False
        elif not isinstance(obj, dict) or p not in obj:
            return None, False
        obj = obj[p]
    return obj, True


def read(path):
    with open(path) as f:
        return json.load(f)


def _copy(v):
    # A deep copy in small pieces: json.loads(json.dumps()) would need the
    # whole config as one string, a block a cut-up heap may not have.
    if isinstance(v, dict):
        return {k: _copy(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_copy(x) for x in v]
    return v


def with_change(raw, key, value):
    """A copy of raw config `raw` with `key` set to `value` (raw itself is
    untouched); ValueError when the key cannot be placed."""
    path = parse_path(key)
    raw = _copy(raw)
    obj = raw
    for p in path[:-1]:
        if isinstance(p, int):
            if not isinstance(obj, list) or not 0 <= p < len(obj):
                raise ValueError('no key %s' % key[:40])
        elif not isinstance(obj, dict):
            raise ValueError('no key %s' % key[:40])
        elif p not in obj:
            obj[p] = {}         # a section not written yet: validation decides
        obj = obj[p]
    last = path[-1]
    if isinstance(last, int):
        if not isinstance(obj, list) or not 0 <= last < len(obj):
            raise ValueError('no key %s' % key[:40])
    elif not isinstance(obj, dict):
        raise ValueError('no key %s' % key[:40])
    obj[last] = value
    return raw


def validate(raw):
    """(full config, None) or (None, the reason)."""
    from firmware import config as config_mod
    from firmware.modules import forget
    try:
        return config_mod.validate(raw), None
    except config_mod.ConfigError as e:
        return None, str(e)
    finally:
        forget('firmware.config')


def _write_tmp(path, content):
    # content: text, or a config dict streamed out (never one big string).
    tmp = path + '.tmp'
    with open(tmp, 'w') as f:
        if isinstance(content, str):
            f.write(content)
        else:
            json.dump(content, f)
    return tmp


def write_atomic(path, content):
    import os
    os.rename(_write_tmp(path, content), path)


def save(app, raw):
    """Write a validated raw config as the app's config file, atomically
    (OSError leaves the old file as it was). The last known good is left
    alone: a config becomes that only once it has run healthy_s
    (firmware.app._proven), so a saved config that crashes the board falls
    back to one that ran."""
    write_atomic(app.cfg_path, raw)
    app.cfg_on_flash_changed = True
