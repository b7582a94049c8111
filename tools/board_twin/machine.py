# Host twin of the board's `machine` module for the MicroPython unix port
# (whose own `machine` has no UART, Pin or WDT). Put on MICROPYPATH ahead of
# the firmware by tools/host_run.py; never deployed to the board.
#
# UART n talks to the character device named by the environment variable
# UART<n> (a pty whose other end is the cabinet emulator); without it the
# UART is unconnected and nothing ever answers, like a cut RS485 pair.
# Pin states are kept in memory and, when PINS_FILE is set, appended to that
# file as "<pin> <value>" lines so a test can watch a relay.
import os
import select


class UART:
    def __init__(self, id, baudrate=9600, bits=8, parity=None, stop=1, tx=None, rx=None, **kw):
        self.id = id
        self.baudrate = baudrate
        self._buf = bytearray()
        self._f = None
        self._poll = None
        path = os.getenv('UART%d' % id)
        if path:
            self._f = open(path, 'r+b')
            self._poll = select.poll()
            self._poll.register(self._f, select.POLLIN)

    def _pump(self):
        if self._f is None:
            return
        # The pty may hold several bytes; read them one by one while it says
        # it has more (a read of n bytes could block for the rest).
        while self._poll.poll(0):
            b = self._f.read(1)
            if not b:
                return
            self._buf.extend(b)

    def any(self):
        self._pump()
        return len(self._buf)

    def read(self, n=-1):
        self._pump()
        if not self._buf:
            return None
        if n < 0 or n >= len(self._buf):
            out = bytes(self._buf)
            self._buf = bytearray()
        else:
            out = bytes(self._buf[:n])
            self._buf = self._buf[n:]
        return out

    def readinto(self, buf, nbytes=-1):
        self._pump()
        if not self._buf:
            return None
        n = len(buf) if nbytes < 0 else min(nbytes, len(buf))
        n = min(n, len(self._buf))
        for i in range(n):
            buf[i] = self._buf[i]
        self._buf = self._buf[n:]
        return n

    def write(self, data):
        if self._f is None:
            return len(data)
        # MicroPython's FileIO is unbuffered; flush() would fsync a pty: EINVAL.
        return self._f.write(data)

    def flush(self):
        pass


# The GPIOs MicroPython's machine.Pin accepts on each chip (ESP32: 0-5,
# 12-19, 21-23, 25-27, 32-39; ESP32-S3: 0-21, 26-48 less the flash's 26-32).
_GPIOS = {'esp32': tuple(range(0, 6)) + tuple(range(12, 20)) + (21, 22, 23, 25, 26, 27)
          + tuple(range(32, 40)),
          'esp32s3': tuple(range(0, 22)) + tuple(range(33, 49))}


class Pin:
    IN = 0
    OUT = 1
    PULL_UP = 2
    PULL_DOWN = 3
    _states = {}

    def __init__(self, id, mode=-1, pull=-1, value=None):
        # As ports/esp32/machine_pin.c refuses them: a GPIO the chip lacks
        # (or gives to its flash) is "invalid pin", and 34-39 of the
        # classic ESP32 "can only be input". BOARD_CHIP picks the chip.
        chip = os.getenv('BOARD_CHIP') or 'esp32'
        if not isinstance(id, int) or id not in _GPIOS[chip]:
            raise ValueError('invalid pin')
        if mode == Pin.OUT and chip == 'esp32' and id >= 34:
            raise ValueError('pin can only be input')
        self.id = id
        self._in = None
        if mode == Pin.IN:
            # An input reads what the test wires to it (PINS_IN="0=0,5=1"),
            # else its pull resistor's level.
            self._in = 1 if pull == Pin.PULL_UP else 0
            for w in (os.getenv('PINS_IN') or '').split(','):
                n, _, v = w.partition('=')
                if n and int(n) == id:
                    self._in = int(v)
        if value is not None:
            self.value(value)
        elif mode == Pin.OUT:
            # Without value= the pin drives its latch (low after reset)
            # from this instant: the glitch a contactor sees.
            self.value(Pin._states.get(id, 0))

    def value(self, v=None):
        if v is None:
            return self._in if self._in is not None else Pin._states.get(self.id, 0)
        v = 1 if v else 0
        if Pin._states.get(self.id) != v:
            Pin._states[self.id] = v
            path = os.getenv('PINS_FILE')
            if path:
                with open(path, 'a') as f:
                    f.write('%s %d\n' % (self.id, v))
        return None

    def on(self):
        self.value(1)

    def off(self):
        self.value(0)


class SPI:
    # ports/esp32/machine_hw_spi.c: SPI(id, baudrate, *, polarity, phase,
    # bits, firstbit, sck, mosi, miso). Only held (network.LAN takes it
    # for a W5500): nothing on the host answers, reads give zeros.
    MSB = 0
    LSB = 1

    def __init__(self, id, baudrate=500000, *, polarity=0, phase=0, bits=8, firstbit=0,
                 sck=None, mosi=None, miso=None):
        if id not in (1, 2):
            raise ValueError('SPI(%s) doesn\'t exist' % id)
        self.id = id
        self.baudrate = baudrate
        self.pins = (sck, mosi, miso)

    def init(self, *args, **kw):
        pass

    def deinit(self):
        pass

    def read(self, n, write=0):
        return bytes(n)

    def readinto(self, buf, write=0):
        for i in range(len(buf)):
            buf[i] = 0

    def write(self, buf):
        return None

    def write_readinto(self, wbuf, rbuf):
        self.readinto(rbuf)


class WDT:
    # The board's watchdog is outside the CPU: here tools/host_run.py is.
    # It reads the timeout and each feed from the FIFO named by WDT_FIFO
    # and kills the board's process when a feed is late, then starts it
    # again with reset_cause() WDT_RESET.
    def __init__(self, id=0, timeout=5000):
        self.timeout = timeout
        self._f = None
        path = os.getenv('WDT_FIFO')
        if path:
            self._f = open(path, 'wb')
            self._f.write(('T%d\n' % timeout).encode())

    def feed(self):
        if self._f is not None:
            self._f.write(b'.')


# machine.reset_cause() values of the ESP32 port (ports/esp32/modmachine.c).
PWRON_RESET = 1
HARD_RESET = 2
WDT_RESET = 3
DEEPSLEEP_RESET = 4
SOFT_RESET = 5


def reset_cause():
    # host_run says why it started this process (power-on the first time).
    return int(os.getenv('RESET_CAUSE') or PWRON_RESET)


RESET_EXIT = 3      # tools/host_run.py starts the board again on this exit code


def reset():
    # The board restarts from boot.py with its flash as it is; the twin's
    # process ends with RESET_EXIT and host_run starts it again.
    import sys
    sys.exit(RESET_EXIT)


def _days(y, m, d):
    # Days from 1970-01-01 to a civil date (the RTC's tuple to Unix time).
    y -= m <= 2
    era = y // 400
    yoe = y - era * 400
    doy = (153 * (m + (-3 if m > 2 else 9)) + 2) // 5 + d - 1
    return era * 146097 + yoe * 365 + yoe // 4 - yoe // 100 + doy - 719468


class RTC:
    # The board's RTC: (year, month, day, weekday, hours, minutes, seconds,
    # subseconds) as ports/esp32/machine_rtc.c has it. It keeps the PC's
    # time, or with RTC_UNSET it starts at 2000-01-01 as the ESP32's does
    # at power-on. A time set is kept in twin/rtc (as the RTC keeps it
    # across a soft reset; host_run lays the twin out anew at power-on).
    _PATH = 'twin/rtc'
    _T0 = None

    def datetime(self, dt=None):
        import time
        now = time.time()
        if dt is not None:
            y, mo, d, _wd, h, mi, s = dt[:7]
            t = _days(y, mo, d) * 86400 + h * 3600 + mi * 60 + s
            with open(RTC._PATH, 'w') as f:
                f.write(str(int(t - now)))
            return None
        try:
            with open(RTC._PATH) as f:
                t = now + int(f.read())
        except (OSError, ValueError):
            if os.getenv('RTC_UNSET'):
                if RTC._T0 is None:
                    RTC._T0 = now
                t = 946684800 + (now - RTC._T0)
            else:
                t = now
        g = time.gmtime(int(t))
        return (g[0], g[1], g[2], g[6], g[3], g[4], g[5], 0)
