# The one command table: what a person may do to the site. The serial
# console, the operator's signed MQTT commands and Home Assistant's switch
# each parse their own syntax into a name and args, then call run(); a
# refusal is the one exception Refused, whose text goes back to the
# person, as umqtt raises MQTTException. Loaded for a command, then
# unloaded (firmware/modules.py).
#
# Arg types: str, 'num' (int or float, never bool) or 'any' (any JSON
# value, checked by the handler).


class Refused(Exception):
    """A command not carried out; str() is why."""


def _gen(app, err):
    if err:
        raise Refused(err)
    g = app.gen
    return 'generator %s, mode %s' % (g.state_name, g.mode)


def gen_start(app, args, ts, who):
    return _gen(app, app.gen.start())


def gen_stop(app, args, ts, who):
    return _gen(app, app.gen.stop())


def gen_mode(app, args, ts, who):
    try:
        app.gen.set_mode(args['mode'])
    except ValueError as e:
        raise Refused(str(e))
    return _gen(app, None)


def gen_reset(app, args, ts, who):
    app.gen.reset()
    return _gen(app, None)


def gen_service_done(app, args, ts, who):
    """The genset was serviced: gen_service_due counts from now."""
    g = app.gen
    g.service_done()
    return 'service recorded at %.1f run hours; next due at %.1f' % (
        g.run_s / 3600, g.run_s / 3600 + g.cfg['service_hours'])


def alarm_ack(app, args, ts, who):
    try:
        n = app.alarms.ack(args['code'], ts, who)
    except ValueError as e:
        raise Refused(str(e))
    if not n:
        raise Refused('nothing to acknowledge')
    return 'acknowledged %d' % n


def _load(app, name, shed):
    sh = app.shedding
    try:
        (sh.force_shed if shed else sh.force_restore)(name, app.last_tick or 0)
    except ValueError as e:
        raise Refused(str(e) + (' (loads: %s)' % ', '.join(sh.names)
                                if name not in sh.names else ''))
    return '%s %s' % (name, 'shed' if shed else 'restored')


def load_shed(app, args, ts, who):
    return _load(app, args['name'], True)


def load_restore(app, args, ts, who):
    return _load(app, args['name'], False)


def telemetry_now(app, args, ts, who):
    if app.uplink is None:
        raise Refused('mqtt is off on this site')
    app.uplink.force = True
    return 'a telemetry record goes out this cycle'


def config_set(app, args, ts, who):
    """Check the change against the whole schema, then save it (the running
    config kept as the last known good); a reboot applies it."""
    from firmware import cfgedit
    from firmware.modules import forget
    key = args['key']
    value = args['value']
    try:
        raw = cfgedit.with_change(cfgedit.read(app.cfg_path), key, value)
        full, err = cfgedit.validate(raw)
        if err is not None:
            raise Refused(err)
        del full
        cfgedit.save(app, raw)
        text = 'config set %s = %s' % (key, cfgedit.masked(key, value))
        app.note(text, who)
        return text
    except (OSError, ValueError) as e:
        raise Refused('config not changed: %s' % e)
    finally:
        forget('firmware.cfgedit')


def reboot(app, args, ts, who):
    app.reboot_requested = True      # after this cycle: a result goes out first
    return 'saving state and rebooting'


# name: (handler, args as (name, type) pairs, changes the site: the console
# asks for its PIN; MQTT takes every command signed)
TABLE = {
    'gen_start': (gen_start, (), True),
    'gen_stop': (gen_stop, (), True),
    'gen_mode': (gen_mode, (('mode', str),), True),
    'gen_reset': (gen_reset, (), True),
    'gen_service_done': (gen_service_done, (), True),
    'alarm_ack': (alarm_ack, (('code', str),), True),
    'load_shed': (load_shed, (('name', str),), True),
    'load_restore': (load_restore, (('name', str),), True),
    'telemetry_now': (telemetry_now, (), False),
    'config_set': (config_set, (('key', str), ('value', 'any')), True),
    'reboot': (reboot, (), True),
}


def type_ok(v, t):
    if t == 'any':
        return True
    if v is True or v is False:
        return False
    if t == 'num':
        return isinstance(v, (int, float))
    return isinstance(v, t)


def check(name, args):
    """Refused unless name is a command and args (a dict) are exactly its
    args, each of its type."""
    spec = TABLE.get(name)
    if spec is None:
        raise Refused('unknown command %r' % (name,))
    want = spec[1]
    for k in args:
        if k not in [a for a, _ in want]:
            raise Refused('%s takes no arg %r' % (name, k))
    for a, t in want:
        if a not in args:
            raise Refused('%s needs arg %r' % (name, a))
        if not type_ok(args[a], t):
            raise Refused('%s: arg %r has the wrong type' % (name, a))


def run(app, name, args, ts, who):
    """Carry out a command for `who` (console, mqtt, ha); its text for the
    person (what it did), or Refused (why not). ts: the clock's now."""
    check(name, args)
    return TABLE[name][0](app, args, ts, who)


def attempt(app, name, args, ts, who):
    """run() for a front end that answers with an event (MQTT, Home
    Assistant): None when done, else why not."""
    try:
        run(app, name, args, ts, who)
        return None
    except Refused as e:
        return str(e)


def event_text(name, who, err):
    """The event a remote command leaves: 'command gen_start done (mqtt)'."""
    return 'command %s %s (%s)%s' % (name, 'done' if err is None else 'refused', who,
                                     '' if err is None else ': ' + err)
