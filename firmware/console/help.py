# The console's help: what each command takes and does. Loaded for `help`
# and for a usage message only.
from firmware.console.words import CMDS, ALIASES, Usage

HELP = {
    'help': ('help [CMD]', 'list the commands, or explain one'),
    'status': ('status', 'site picture, generator, dispatch, alarms, link, uptime, heap'),
    'devices': ('devices', 'each device: online, last good read, error counts'),
    'read': ('read DEV', "a device's decoded values"),
    'raw': ('raw BUS UNIT FC ADDR N', 'raw Modbus read for diagnostics (FC 3 or 4, N <= 125; '
            'read only)'),
    'gen': ('gen start|stop|auto|manual|off|reset|service',
            'start/stop (manual mode), set the mode, reset a lockout, or record a service '
            '(clears gen_service_due)'),
    'shed': ('shed LOAD', "open a load's contactor (held until restore)"),
    'restore': ('restore LOAD', "close a shed load's contactor"),
    'alarms': ('alarms', 'active alarms, most severe first'),
    'ack': ('ack CODE|all', 'acknowledge an alarm, or all'),
    'config': ('config [get KEY | set KEY VALUE | save | revert [lkg]]',
               'show (secrets masked), read, change (checked at once), save (atomic; the '
               'running config becomes the last known good), or drop unsaved changes (revert '
               'lkg: put the last known good back)'),
    'log': ('log [N]', 'the last N events (default 10), kept across reboots'),
    'counters': ('counters', 'energy, diesel, run hours, shed time'),
    'version': ('version', 'firmware, MicroPython and library versions'),
    'reboot': ('reboot', 'save state and restart the controller'),
    'watch': ('watch', 'a refreshing status line until Enter'),
    'lock': ('lock', 'ask for the PIN again before the next change'),
    'exit': ('exit', 'end the session (status lines resume)'),
}


def usage(name):
    return HELP[name][0]


def run(con, name, args, text, now):
    if args:
        name = ALIASES.get(args[0].lower(), args[0].lower())
        if name not in HELP:
            raise Usage('no command %r' % args[0][:20])
        use, what = HELP[name]
        print(use)
        print('  ' + what)
        al = [a for a in ALIASES if ALIASES[a] == name]
        if al:
            print('  aliases: ' + ' '.join(sorted(al)))
        changes = CMDS[name][1]
        if changes == 'table':
            print('  needs the PIN')
        elif changes:
            print('  needs the PIN: ' + ', '.join(changes))
        return
    for name in sorted(HELP):
        use, what = HELP[name]
        if len(use) > 30:
            print('  ' + use)
            use = ''
        print('  %-30s %s' % (use, what if len(what) <= 60 else what[:57] + '...'))
    print('changing commands ask for the site PIN once a session; Ctrl-C stops the controller')
