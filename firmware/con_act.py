# Console commands that act: the generator, the loads, the alarms, reboot.
# Each is an event (who: console). Loaded for one command at a time.
from firmware.compat import ticks_ms
from firmware.console_cmd import Usage, want, note


def run(con, name, args, text, now):
    globals()['c_' + name](con, args, text, now)


def c_gen(con, args, text, now):
    want(args, 1)
    g = con.app.gen
    sub = args[0].lower()
    if sub == 'start':
        err = g.start()
    elif sub == 'stop':
        err = g.stop()
    elif sub in ('auto', 'manual', 'off'):
        g.set_mode(sub)
        err = None
    elif sub == 'reset':
        g.reset()
        err = None
    else:
        raise Usage()
    if err:
        print('refused: ' + err)
        return
    note(con, 'gen ' + sub)
    print('ok: generator %s, mode %s' % (g.state_name, g.mode))


def _load_cmd(con, args, shed):
    want(args, 1)
    sh = con.app.shedding
    try:
        (sh.force_shed if shed else sh.force_restore)(args[0], ticks_ms())
    except ValueError as e:
        raise Usage(str(e) + (' (loads: %s)' % ', '.join(sh.names) if 'no load' in str(e) else ''))
    note(con, 'load %s %s' % (args[0], 'shed' if shed else 'restore'))
    print('ok: %s %s' % (args[0], 'shed' if shed else 'restored'))


def c_shed(con, args, text, now):
    _load_cmd(con, args, True)


def c_restore(con, args, text, now):
    _load_cmd(con, args, False)


def c_ack(con, args, text, now):
    want(args, 1)
    code = args[0]
    try:
        n = con.app.alarms.ack(code, con.app.snap['ts'] or 0, 'console')
    except ValueError as e:
        raise Usage(str(e))
    print('acknowledged %d' % n if n else 'nothing to acknowledge')


def c_reboot(con, args, text, now):
    want(args, 0)
    note(con, 'reboot')
    con.app.reboot_requested = True
    print('saving state and rebooting...')
