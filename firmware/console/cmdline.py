# The console's command line: which command a line names, the PIN before
# any change, and the module that carries the command out. Loaded by
# firmware/console/input.py while a technician is at work; each command's
# module is loaded for that command only, so a session costs the heap of
# the dispatcher and of one command group at a time.
import gc
import sys
from firmware.compat import const, ticks_ms, ticks_diff
from firmware.console.words import CMDS, ALIASES, Usage

_PIN_TRIES = const(3)
PIN_LOCK_MS = const(60000)  # after 3 wrong PINs, no PIN is taken this long

def line(con, text):
    now = ticks_ms()
    if con.awaiting_pin is not None:         # this line is the PIN
        cmd = con.awaiting_pin
        con.awaiting_pin = None
        if check_pin(con, text, now):
            print('unlocked for this session')
            _run(con, cmd, now)
        elif con.app.pin_locked_at is not None:
            print('wrong PIN: no PIN taken for %d s' % pin_wait(con, now))
        else:
            print('wrong PIN: nothing changed')
        return
    if text:
        _run(con, text, now)


# Wrong PINs are counted on the App, so that ending a session (which
# unloads the console) does not clear a lock-out.
def pin_locked(con, now):
    app = con.app
    if app.pin_locked_at is not None:
        if ticks_diff(now, app.pin_locked_at) < PIN_LOCK_MS:
            return True
        app.pin_locked_at = None
        app.pin_wrong = 0
    return False


def check_pin(con, text, now):
    """True when `text` is the PIN; counts wrong ones and locks out."""
    if pin_locked(con, now):
        return False
    app = con.app
    if text == con.pin:
        app.pin_wrong = 0
        con.unlocked = True
        return True
    app.pin_wrong += 1
    if app.pin_wrong >= _PIN_TRIES:
        app.pin_locked_at = now
    return False


def pin_wait(con, now):
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
    mod = 'firmware.console.' + group
    gc.collect()
    try:
        if changes == 'table':
            __import__(mod)
            changes = sys.modules[mod].changes(name, words[1:])
        elif changes is not None:
            changes = len(words) > 1 and words[1].lower() in changes
        if changes and con.pin and not con.unlocked:
            if pin_locked(con, now):
                print('PIN locked after wrong entries: try again in %d s' % pin_wait(con, now))
            else:
                con.awaiting_pin = text      # the next line is the PIN
            return
        __import__(mod)
        sys.modules[mod].run(con, name, words[1:], text, now)
    except Usage as e:
        if e.args:
            print(e.args[0])
        else:
            from firmware.console.help import usage
            print('usage: ' + usage(name))
    finally:
        from firmware.modules import forget
        forget(mod)
        forget('firmware.console.help')
        forget('firmware.cfgedit')
        forget('firmware.actions')
