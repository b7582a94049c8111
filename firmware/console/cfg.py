# The console's config commands: show (secrets masked), get, set (checked
# at once against the whole schema), save (atomic, keeping the last known
# good), revert. Loaded for one command at a time; the schema module
# (firmware.config) only while a command checks a config.
import json
from firmware.console.words import Usage, want, note
from firmware import cfgedit as E

_DERIVED = ('quiet', 'from_min', 'to_min')     # filled in by validation, not keys


def run(con, name, args, text, now):
    c_config(con, args, text, now)


def _raw(con):
    """The config being edited: the pending copy, else the file."""
    if con.cfg_pending is not None:
        return con.cfg_pending
    try:
        return E.read(con.app.cfg_path)
    except (OSError, ValueError) as e:
        raise Usage('cannot read %s: %s' % (con.app.cfg_path, e))


def _flat(prefix, v):
    if isinstance(v, dict):
        for k in sorted(v):
            if k not in _DERIVED:
                _flat(prefix + '.' + k if prefix else k, v[k])
    elif isinstance(v, list) and v and isinstance(v[0], dict):
        for i in range(len(v)):
            _flat('%s[%d]' % (prefix, i), v[i])
    else:
        print('  %s = %s' % (prefix, E.masked(prefix, v)))


def c_config(con, args, text, now):
    sub = args[0].lower() if args else ''
    if sub == '':
        full, err = E.validate(_raw(con))
        if full is None:
            print('config does not validate: ' + err)
            return
        _flat('', full)
        _pending_note(con)
    elif sub == 'get':
        want(args, 2)
        full, err = E.validate(_raw(con))
        if full is None:
            print('config does not validate: ' + err)
            return
        v, ok = E.get(full, _key(args[1]))
        if not ok:
            raise Usage('no key %s' % args[1][:40])
        print('%s = %s' % (args[1], E.masked(args[1], v)))
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


def _key(key):
    try:
        return E.parse_path(key)
    except ValueError as e:
        raise Usage(str(e))


def _set(con, key, value_text):
    try:
        value = json.loads(value_text)
    except ValueError:
        value = value_text          # a bare word is a string
    base = _raw(con)
    try:
        raw = E.with_change(base, key, value)     # a copy: refused = untouched
    except ValueError as e:
        raise Usage(str(e))
    full, err = E.validate(raw)
    if full is None:
        print('refused: %s (nothing changed)' % err)
        return
    con.cfg_pending = raw
    if key not in con.cfg_changed:
        con.cfg_changed.append(key)
    note(con, 'config set %s = %s' % (key, E.masked(key, value)))
    print('%s = %s (unsaved: config save keeps it, reboot applies it)' % (key, E.masked(key, value)))


def _save(con):
    if con.cfg_pending is None:
        print('no unsaved changes')
        return
    app = con.app
    try:
        E.save(app, con.cfg_pending)
    except OSError as e:
        print('not saved: %s (the old config is untouched)' % e)
        return
    note(con, 'config saved: ' + ', '.join(con.cfg_changed))
    con.cfg_pending = None
    con.cfg_changed = []
    print('saved; reboot applies it (%s keeps the last config that ran %d s healthy)'
          % (app.cfg_lkg_path, app.cfg['safe_mode']['healthy_s']))


def _revert_lkg(con):
    app = con.app
    try:
        with open(app.cfg_lkg_path) as f:
            raw = json.load(f)
    except (OSError, ValueError) as e:
        print('no usable last known good config: %s' % e)
        return
    full, err = E.validate(raw)
    if full is None:
        print('last known good config does not validate: %s' % err)
        return
    try:
        E.write_atomic(app.cfg_path, raw)
        app.cfg_on_flash_changed = True
    except OSError as e:
        print('not written: %s' % e)
        return
    con.cfg_pending = None
    con.cfg_changed = []
    note(con, 'config reverted to last known good')
    print('config.json is the last known good again; reboot applies it')
