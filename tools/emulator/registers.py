"""Numbers as the devices put them in 16-bit registers: the inverse of
firmware/decode.py, through the same value types and scales, so that the
registers the firmware reads are encoded from its own device profiles
(firmware/profiles/) and a profile change moves the emulator with it.
host_tests/test_emulator.py decodes them again from the makers' documents:
the independent check that the profiles are right."""
import struct

from firmware.decode import F32, P_ADDR, P_FC, P_SCALE, P_TYPE, S16, S32, S32R, U16, U32, U32R, UK

# The register table each read function code answers from.
FC_TABLE = {1: "coil", 5: "coil", 15: "coil", 2: "discrete",
            3: "holding", 6: "holding", 16: "holding", 4: "input"}

# Each type's range, for clamping: what a device sends at the end of its scale.
_LIMITS = {U16: (0, 0xFFFF), UK: (0, 0xFFFF), S16: (-0x8000, 0x7FFF), U32: (0, 0xFFFFFFFF),
           U32R: (0, 0xFFFFFFFF), S32: (-0x80000000, 0x7FFFFFFF),
           S32R: (-0x80000000, 0x7FFFFFFF)}
# The highest value of each type: GenComm counts its "no data" codes down from it.
_TOP = {U16: 0xFFFF, UK: 0xFFFF, S16: 0x7FFF, U32: 0xFFFFFFFF, U32R: 0xFFFFFFFF,
        S32: 0x7FFFFFFF, S32R: 0x7FFFFFFF}


def raw(vtype, value, scale=1):
    """The raw integer a device sends for `value` (SI units): divided by the
    scale, rounded, clamped to the type; a float's 32-bit pattern."""
    if vtype == F32:
        return struct.unpack(">I", struct.pack(">f", float(value)))[0]
    lo, hi = _LIMITS[vtype]
    if vtype == UK:                 # degC sent as tenths of a kelvin
        value = value + 273.15
    x = value if scale == 1 else value * (1.0 / scale)
    return max(lo, min(hi, int(round(x))))


def words(vtype, r):
    """A raw integer as the registers that carry it, in the device's order:
    32-bit types high word first, the R types low word first (EPEver)."""
    r &= 0xFFFFFFFF
    if vtype in (U16, S16, UK):
        return [r & 0xFFFF]
    if vtype in (U32R, S32R):
        return [r & 0xFFFF, r >> 16]
    return [r >> 16, r & 0xFFFF]


def sentinel(vtype, code):
    """GenComm's "no data" code `code` (0 unimplemented, 1 over range, ...)
    for a value of this type: counted down from the type's top."""
    return _TOP[vtype] - code


def put_raw(table, addr, vtype, r):
    """Raw integer `r` at addr.. of a register table ({address: word})."""
    for i, w in enumerate(words(vtype, r)):
        table[addr + i] = w


def put(table, addr, vtype, value, scale=1):
    """Encode `value` at addr.. of a register table ({address: word})."""
    put_raw(table, addr, vtype, raw(vtype, value, scale))


def point_table(tables, point):
    """The register table ({address: word}) of `tables` a profile point is read from."""
    return tables.setdefault(FC_TABLE[point[P_FC]], {})


def put_point(tables, point, value):
    """Encode `value` where the firmware reads this profile point."""
    put(point_table(tables, point), point[P_ADDR], point[P_TYPE], value, point[P_SCALE])


def ascii_regs(text, nregs):
    """A string as registers, two characters each, NUL padded."""
    data = text.encode("ascii")[: nregs * 2].ljust(nregs * 2, b"\0")
    return [(data[i] << 8) | data[i + 1] for i in range(0, nregs * 2, 2)]
