# Console commands that act on the site: the console's words for rows of
# the command table (firmware/actions.py), which carries them out. Each is
# an event (who: console). Loaded for one command at a time.
from firmware.console.words import Usage, want, note

_GEN = {'start': 'gen_start', 'stop': 'gen_stop', 'reset': 'gen_reset',
        'service': 'gen_service_done'}


def command(name, args):
    """(table name, its args, the event's text or None) for console words;
    Usage when they name no command."""
    if name == 'gen':
        want(args, 1)
        sub = args[0].lower()
        if sub in ('auto', 'manual', 'off'):
            return 'gen_mode', {'mode': sub}, 'gen ' + sub
        if sub in _GEN:
            return _GEN[sub], {}, 'gen ' + sub
        raise Usage()
    if name == 'shed' or name == 'restore':
        want(args, 1)
        return 'load_' + name, {'name': args[0]}, 'load %s %s' % (args[0], name)
    if name == 'ack':
        want(args, 1)
        return 'alarm_ack', {'code': args[0]}, None     # the alarm's own event says it
    if name == 'reboot':
        want(args, 0)
        return 'reboot', {}, 'reboot'
    raise Usage()


def changes(name, args):
    """Whether the command changes the site (the console asks for its PIN
    first); words that name no command ask for it too, then show the usage."""
    from firmware.actions import TABLE
    try:
        return TABLE[command(name, args)[0]][2]
    except Usage:
        return True


def run(con, name, args, text, now):
    from firmware import actions
    cmd, a, event = command(name, args)
    app = con.app
    try:
        done = actions.run(app, cmd, a, app.snap['ts'] or 0, 'console')
    except actions.Refused as e:
        print('refused: ' + str(e))
        return
    if event is not None:
        note(con, event)
    print('ok: ' + done)
