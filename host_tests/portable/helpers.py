# Shared by the portable tests, which run unchanged under CPython (pytest)
# and in the MicroPython unix port (host_tests/mpy_run.py): no pytest here.
import json
from firmware.bus_errors import BusError, TIMEOUT, EXCEPTION

# tools/configs/example.json, found from this folder (MicroPython has no
# os.path; mpy_run.py runs from the repo root, so a relative path works).
_EXAMPLE = __file__.rsplit('/', 1)[0] + '/../../tools/configs/example.json'


def example():
    """A fresh copy of the example config, tools/configs/example.json."""
    with open(_EXAMPLE) as f:
        return json.load(f)


def raises(exc, fn, *args, **kw):
    try:
        fn(*args, **kw)
    except exc as e:
        return e
    raise AssertionError('%s not raised by %r' % (exc.__name__, fn))


# The board's floats are single precision (24-bit mantissa): 501 * 0.1 is
# 50.100002 there, one step of 3.8e-6 above the float nearest 50.1, so an
# absolute 1e-6 holds only with double floats. With single floats (as in
# micropython-esp32like) close() also allows a few such steps (2**-21 of
# the value).
SINGLE_FLOAT = 1.0 + 2.0 ** -30 == 1.0


def close(a, b, tol=1e-6):
    if a is None or b is None:
        return False
    if SINGLE_FLOAT:
        tol = max(tol, abs(b) * 2.0 ** -21)
    return abs(a - b) <= tol


def words_to_bytes(words):
    out = bytearray()
    for w in words:
        out.append((w >> 8) & 0xFF)
        out.append(w & 0xFF)
    return bytes(out)


class FakeBus:
    """A bus whose devices are register dicts: regs[(unit, fc)][addr] = word.
    Unmapped registers read as 0, like a device that answers its holes.
    `silent` units time out; `fail[(unit, fc, start)]` raises that error."""

    def __init__(self):
        self.regs = {}
        self.silent = set()
        self.fail = {}
        self.lacks = set()      # (unit, fc, addr): a read over one is exception 2
        self.reads = []
        self.writes = []
        self.kind = 'fake'
        self.baud = 9600

    def set(self, unit, fc, addr, words):
        d = self.regs.setdefault((unit, fc), {})
        for i, w in enumerate(words):
            d[addr + i] = w

    def read(self, unit, fc, start, count):
        self.reads.append((unit, fc, start, count))
        if unit in self.silent:
            raise BusError(TIMEOUT, 'no answer')
        err = self.fail.get((unit, fc, start))
        if err is not None:
            raise err
        for a in range(start, start + count):
            if (unit, fc, a) in self.lacks:
                raise BusError(EXCEPTION, 2)    # illegal data address
        d = self.regs.get((unit, fc), {})
        if fc == 1:         # coils, 8 a byte, the first in bit 0
            out = bytearray((count + 7) // 8)
            for k in range(count):
                if d.get(start + k, 0):
                    out[k >> 3] |= 1 << (k & 7)
            return bytes(out)
        return words_to_bytes([d.get(a, 0) for a in range(start, start + count)])

    def write(self, unit, addr, values):
        if unit in self.silent:
            raise BusError(TIMEOUT, 'no answer')
        self.writes.append((unit, addr, list(values)))
        self.set(unit, 3, addr, values)
        return True


def assert_no_alloc(fn, n):
    """fn(n) once to warm up, then again with the collector off: in
    MicroPython it must not allocate a byte. Under CPython only the calls
    run (the heap check is MicroPython's)."""
    import sys
    fn(n)
    if sys.implementation.name != 'micropython':
        return
    import gc
    gc.collect()
    gc.disable()
    a = gc.mem_alloc()
    fn(n)
    b = gc.mem_alloc()
    gc.enable()
    assert b == a, '%d bytes allocated' % (b - a)
