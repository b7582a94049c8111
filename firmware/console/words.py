# The console's words: each command's group module and whether it changes
# the site, the short forms, and the argument checks and the Usage error
# every group uses. Loaded with the command line for a session.


# name: (group module, changes: None = never, 'table' = as the command
# table says (firmware/actions.py), or the subcommands that do)
CMDS = {
    'help': ('help', None), 'status': ('look', None), 'devices': ('look', None),
    'read': ('look', None), 'raw': ('look', None), 'alarms': ('look', None),
    'log': ('look', None), 'counters': ('look', None), 'version': ('look', None),
    'watch': ('look', None), 'lock': ('look', None), 'exit': ('look', None),
    'gen': ('act', 'table'), 'shed': ('act', 'table'), 'restore': ('act', 'table'),
    'ack': ('act', 'table'), 'reboot': ('act', 'table'),
    'config': ('cfg', ('set', 'save', 'revert')),
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
