# The console's config commands: show (secrets masked), get, set (checked
# at once against the whole schema), save (atomic, keeping the last known
# good), revert. Loaded for one command at a time; the schema module
# (firmware.config) only while a command checks a config.
import json
from firmware.console_cmd import Usage, want, note

SECRETS = ('mqtt.password', 'mqtt.cmd_key', 'console.pin')
_DERIVED = ('quiet', 'from_min', 'to_min')     # filled in by validation, not keys


def run(con, name, args, text, now):
    c_config(con, args, text, now)


def _path(key):
    """'devices[0].unit' or 'buses.gw.port' -> ['devices', 0, 'unit']."""
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
                raise Usage('bad key %r' % key[:40])
            try:
                out.append(int(part[b + 1:e]))
            except ValueError:
                raise Usage('bad index in %r' % key[:40])
            part = part[e + 1:]
    if not out or '' in out:
        raise Usage('bad key %r' % key[:40])
    return out


def _get(obj, path):
    for p in path:
        if isinstance(p, int):
            if not isinstance(obj, list) or not 0 <= p < len(obj):
                return None, False
            obj = obj[p]
        else:
            if not isinstance(obj, dict) or p not in obj:
                return None, False
            obj = obj[p]
    return obj, True


def _masked(key, v):
    return '"***"' if key in SECRETS and v is not None else json.dumps(v)


def _raw(con):
    """The config being edited: the pending copy, else the file."""
    if con.cfg_pending is not None:
        return con.cfg_pending
    with open(con.app.cfg_path) as f:
        return json.load(f)


def _validate(raw):
    from firmware import config as config_mod
    from firmware.app import forget
    try:
        return config_mod.validate(raw), None
    except config_mod.ConfigError as e:
        return None, str(e)
    finally:
        forget('firmware.config')


def _flat(prefix, v):
    if isinstance(v, dict):
        for k in sorted(v):
            if k not in _DERIVED:
                _flat(prefix + '.' + k if prefix else k, v[k])
    elif isinstance(v, list) and v and isinstance(v[0], dict):
        for i in range(len(v)):
            _flat('%s[%d]' % (prefix, i), v[i])
    else:
        print('  %s = %s' % (prefix, _masked(prefix, v)))


def c_config(con, args, text, now):
    sub = args[0].lower() if args else ''
    if sub == '':
        full, err = _validate(_raw(con))
        if full is None:
            print('config does not validate: ' + err)
            return
        _flat('', full)
        _pending_note(con)
    elif sub == 'get':
        want(args, 2)
        full, err = _validate(_raw(con))
        if full is None:
            print('config does not validate: ' + err)
            return
        v, ok = _get(full, _path(args[1]))
        if not ok:
            raise Usage('no key %s' % args[1][:40])
        print('%s = %s' % (args[1], _masked(args[1], v)))
    elif sub == 'set':
        parts = text.split(None, 3)
        if len(parts) < 4:
            raise Usage('usage: config set KEY VALUE (VALUE as JSON: 25, true, null, "text")')
        _set(con, parts[2], parts[3])
    elif sub == 'save':
        want(args, 1)
        _save(con)
    elif sub == 'revert':
        want(args, 1, 2)
        if len(args) == 2:
            if args[1].lower() != 'lkg':
                raise Usage()
            _revert_lkg(con)
            return
        if con.cfg_pending is None:
            print('no unsaved changes')
            return
        con.cfg_pending = None
        con.cfg_changed = []
        print('unsaved changes dropped')
    else:
        raise Usage()


def _pending_note(con):
    if con.cfg_pending is not None:
        print('unsaved: %s (config save keeps them, config revert drops them)'
              % ', '.join(con.cfg_changed))


def _set(con, key, value_text):
    path = _path(key)
    try:
        value = json.loads(value_text)
    except ValueError:
        value = value_text          # a bare word is a string
    try:
        raw = json.loads(json.dumps(_raw(con)))     # a copy: refused = untouched
    except (OSError, ValueError) as e:
        print('cannot read the config: %s' % e)
        return
    obj = raw
    for i in range(len(path) - 1):
        p = path[i]
        if isinstance(p, int):
            if not isinstance(obj, list) or not 0 <= p < len(obj):
                raise Usage('no key %s' % key[:40])
            obj = obj[p]
        else:
            if not isinstance(obj, dict):
                raise Usage('no key %s' % key[:40])
            if p not in obj:
                obj[p] = {}          # a section not written yet: validation decides
            obj = obj[p]
    last = path[-1]
    if isinstance(last, int):
        if not isinstance(obj, list) or not 0 <= last < len(obj):
            raise Usage('no key %s' % key[:40])
    elif not isinstance(obj, dict):
        raise Usage('no key %s' % key[:40])
    obj[last] = value
    full, err = _validate(raw)
    if full is None:
        print('refused: %s (nothing changed)' % err)
        return
    con.cfg_pending = raw
    if key not in con.cfg_changed:
        con.cfg_changed.append(key)
    note(con, 'config set %s = %s' % (key, _masked(key, value)))
    print('%s = %s (unsaved: config save keeps it, reboot applies it)' % (key, _masked(key, value)))


def _write_atomic(path, text):
    import os
    tmp = path + '.tmp'
    with open(tmp, 'w') as f:
        f.write(text)
    os.rename(tmp, path)


def _save(con):
    import os
    if con.cfg_pending is None:
        print('no unsaved changes')
        return
    app = con.app
    path = app.cfg_path
    lkg = app.cfg_lkg_path
    text = json.dumps(con.cfg_pending)
    tmp = path + '.tmp'
    try:
        with open(tmp, 'w') as f:
            f.write(text)
        # The config running now is known good (unless the board already
        # fell back from it): it becomes the last known good, then the new
        # file takes its place. A power cut between the renames leaves the
        # last known good, which the board boots from.
        if app.warning is None:
            os.rename(path, lkg)
        os.rename(tmp, path)
    except OSError as e:
        print('not saved: %s (the old config is untouched)' % e)
        return
    note(con, 'config saved: ' + ', '.join(con.cfg_changed))
    con.cfg_pending = None
    con.cfg_changed = []
    print('saved; reboot applies it (the previous config is %s)' % lkg)


def _revert_lkg(con):
    app = con.app
    try:
        with open(app.cfg_lkg_path) as f:
            raw = json.load(f)
    except (OSError, ValueError) as e:
        print('no usable last known good config: %s' % e)
        return
    full, err = _validate(raw)
    if full is None:
        print('last known good config does not validate: %s' % err)
        return
    try:
        _write_atomic(app.cfg_path, json.dumps(raw))
    except OSError as e:
        print('not written: %s' % e)
        return
    con.cfg_pending = None
    con.cfg_changed = []
    note(con, 'config reverted to last known good')
    print('config.json is the last known good again; reboot applies it')
