# The technician's line console on the REPL UART, beside the control loop.
# This part stays loaded and is small: it takes a few bytes at a time from
# sys.stdin when select.poll says they are there (never blocking a tick),
# edits the line itself (on the board characters arrive one by one, raw),
# and hands each finished line to firmware.console.cmdline, which is loaded
# only while a technician is at work and unloaded when the session ends.
# Ctrl-C still raises KeyboardInterrupt (the UART's interrupt character),
# so the REPL and mpremote work as before.
import sys
from firmware.compat import const, ticks_ms, ticks_diff

LINE_MAX = const(160)       # the longest line the console takes
BYTES_PER_POLL = const(128)  # a paste or a flood is taken in slices


class Console:
    def __init__(self, app, ccfg, poll):
        """poll: the select.poll object, stdin registered, that the loop
        watches the port with."""
        self.app = app
        self.pin = ccfg['pin']
        self.timeout_ms = ccfg['timeout_s'] * 1000
        self._in = sys.stdin.buffer
        # A host terminal echoes in its own line discipline; the board's
        # UART does not, so there the console echoes what it takes.
        self.echo = sys.platform not in ('linux', 'darwin')
        self._poll = poll
        self._line = bytearray(LINE_MAX)
        self._n = 0
        self._byte = bytearray(1)
        self._over = False       # the line outgrew LINE_MAX: dropped up to its end
        self._esc = 0            # inside an ANSI escape sequence (arrow keys)
        self._cr = False
        self.closed = False      # stdin at end of file: nobody can type
        self.active = True       # a session: made when a byte arrives, ends idle or at `exit`
        self.unlocked = False
        self.awaiting_pin = None  # a changing command's line, waiting for the PIN
        self._t_input = ticks_ms()
        self.watching = False
        # A command that waited on a bus (`raw`) used this cycle's turn: the
        # next line waits for the control cycle, so a paste of them never
        # holds the loop for one bus timeout a line.
        self.bus_turn_used = False
        self._told = False
        self.cfg_pending = None  # config edits not saved yet (raw JSON)
        self.cfg_changed = []    # their keys

    def _ready(self):
        for _ in self._poll.ipoll(0):
            return True
        return False

    def poll(self, now):
        """Take what has arrived (at most BYTES_PER_POLL bytes) and run any
        line it finishes. Returns True when input was taken."""
        if self.closed:
            return False
        got = False
        watching = self.watching
        for _ in range(BYTES_PER_POLL):
            if self.bus_turn_used:
                if not self._told and self._ready():
                    self._told = True
                    print('(one bus request a control cycle: the next line waits its turn)')
                break
            if not self._ready():
                break
            try:
                n = self._in.readinto(self._byte)
            except OSError:
                n = 0
            if not n:
                self.closed = True      # end of file: a pipe or /dev/null
                break
            got = True
            self._t_input = now
            self.active = True      # any byte opens (or keeps) a session
            self._take(self._byte[0])
        if got:
            if watching:            # any key ends `watch`
                self.watching = False
                print()
        elif self.active and ticks_diff(now, self._t_input) > self.timeout_ms:
            self.end('idle %d s: session closed' % (self.timeout_ms // 1000))
        return got

    def _take(self, c):
        if self._esc:
            # ESC [ ... final byte: cursor keys and the like are dropped. A
            # line end is never part of one: it ends it, and ends the line.
            if c != 0x0D and c != 0x0A:
                if self._esc == 1 and c == 0x5B:
                    self._esc = 2
                elif self._esc == 1 or 0x40 <= c <= 0x7E:
                    self._esc = 0
                return
            self._esc = 0
        if c == 0x0D or c == 0x0A:
            if c == 0x0A and self._cr:
                self._cr = False
                return          # the LF of a CR LF
            self._cr = c == 0x0D
            self._end_line()
            return
        self._cr = False
        if c == 0x1B:
            self._esc = 1
        elif c == 0x08 or c == 0x7F:
            if self._n and not self._over:
                self._n -= 1
                if self.echo:
                    sys.stdout.write('\b \b')
        elif c == 0x15 or c == 0x03:      # Ctrl-U, or a Ctrl-C that got here
            self._n = 0
            self._over = False
            if self.echo:
                sys.stdout.write('\r\n')
        elif 0x20 <= c <= 0x7E:
            if self._n < LINE_MAX:
                self._line[self._n] = c
                self._n += 1
                if self.echo:
                    sys.stdout.write('*' if self.awaiting_pin is not None else chr(c))
            else:
                self._over = True
        # other control bytes and non-ASCII are ignored

    def _end_line(self):
        if self.echo:
            sys.stdout.write('\r\n')
        n = self._n
        over = self._over
        self._n = 0
        self._over = False
        if over:
            self.awaiting_pin = None
            print('line too long: at most %d characters' % LINE_MAX)
            self.prompt()
            return
        text = bytes(self._line[:n]).decode().strip() if n else ''
        try:
            from firmware.console import cmdline
            cmdline.line(self, text)
        except MemoryError:
            print('console: not enough memory for that now, try again')
        except Exception as e:      # a console bug must never stop the loop
            print('console error: %r' % e)
        if self.active:             # `exit` ended the session
            self.prompt()

    def new_cycle(self):
        """The control loop ticked: the console may use a bus again."""
        self.bus_turn_used = False
        self._told = False

    def prompt(self):
        sys.stdout.write('PIN: ' if self.awaiting_pin is not None else '> ')

    def end(self, why):
        """Close the session: lock, resume status lines, unload commands."""
        self.active = False
        self.unlocked = False
        self.awaiting_pin = None
        self.watching = False
        self._n = 0
        if self.cfg_pending is not None:
            why += '; unsaved config changes dropped'
            self.cfg_pending = None
            self.cfg_changed = []
        print('console: ' + why)
        if 'firmware.console.cmdline' in sys.modules:
            from firmware.modules import forget
            forget('firmware.console.cmdline')
