# The console's command line: which command a line names, the PIN before
# any change, and the module that carries the command out. Loaded by
# firmware.console while a technician is at work; each command's module is
# loaded for that command only, so a session costs the heap of the
# dispatcher and of one command group at a time.
import gc
import sys
from firmware.compat import ticks_ms, ticks_diff

# name: (group module, changes: None = never, 'table' = as the command
# table says (firmware/actions.py), or the subcommands that do)
CMDS = {
    'help': ('con_help', None), 'status': ('con_look', None), 'devices': ('con_look', None),
    'read': ('con_look', None), 'raw': ('con_look', None), 'alarms': ('con_look', None),
    'log': ('con_look', None), 'counters': ('con_look', None), 'version': ('con_look', None),
    'watch': ('con_look', None), 'lock': ('con_look', None), 'exit': ('con_look', None),
    'gen': ('con_act', 'table'), 'shed': ('con_act', 'table'), 'restore': ('con_act', 'table'),
    'ack': ('con_act', 'table'), 'reboot': ('con_act', 'table'),
    'config': ('con_cfg', ('set', 'save', 'revert')),
}
ALIASES = {'?': 'help', 'h': 'help', 's': 'status', 'st': 'status', 'd': 'devices',
           'dev': 'devices', 'r': 'read', 'g': 'gen', 'a': 'alarms', 'al': 'alarms',
           'c': 'config', 'cfg': 'config', 'l': 'log', 'cnt': 'counters', 'v': 'version',
           'ver': 'version', 'w': 'watch', 'q': 'exit', 'quit': 'exit', 'bye': 'exit'}

class Usage(Exception):
    pass


def want(args, n, m=None):
    if len(args) < n or len(args) > (n if m is None else m):
        raise Usage()


def note(con, text):
    con.app.note(text, 'console')


def number(word, lo, hi, what):
    try:
        v = int(word, 0)
    except ValueError:
        raise Usage('%s must be a number, got %r' % (what, word[:20]))
    if not lo <= v <= hi:
        raise Usage('%s must be %d..%d, got %d' % (what, lo, hi, v))
    return v


def line(con, text):
    now = ticks_ms()
    if con.pending is not None:         # this line is the PIN
        cmd = con.pending
        con.pending = None
        if con.check_pin(text, now):
            print('unlocked for this session')
            _run(con, cmd, now)
        elif con.app.pin_locked_at is not None:
            print('wrong PIN: no PIN taken for %d s' % pin_wait(con, now))
        else:
            print('wrong PIN: nothing changed')
        return
    if text:
        _run(con, text, now)


def pin_wait(con, now):
    from firmware.console import PIN_LOCK_MS
    return max(0, PIN_LOCK_MS - ticks_diff(now, con.app.pin_locked_at)) // 1000 + 1


def _run(con, text, now):
    words = text.split()
    name = words[0].lower()
    name = ALIASES.get(name, name)
    spec = CMDS.get(name)
    if spec is None:
        print("unknown command %r: 'help' lists the commands" % words[0][:20])
        return
    group, changes = spec
    mod = 'firmware.' + group
    gc.collect()
    try:
        if changes == 'table':
            __import__(mod)
            changes = sys.modules[mod].changes(name, words[1:])
        elif changes is not None:
            changes = len(words) > 1 and words[1].lower() in changes
        if changes and con.pin and not con.unlocked:
            if con.pin_locked(now):
                print('PIN locked after wrong entries: try again in %d s' % pin_wait(con, now))
            else:
                con.pending = text      # the next line is the PIN
            return
        __import__(mod)
        sys.modules[mod].run(con, name, words[1:], text, now)
    except Usage as e:
        if e.args:
            print(e.args[0])
        else:
            from firmware.con_help import usage
            print('usage: ' + usage(name))
    finally:
        from firmware.modules import forget
        forget(mod)
        forget('firmware.con_help')
        forget('firmware.cfgedit')
        forget('firmware.actions')
