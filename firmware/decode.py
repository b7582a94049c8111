# Register value types and the one generic decoder every device profile uses.
#
# A profile is data: a tuple of points (name, fc, addr, vtype, scale, lo, hi).
# The decoder turns the raw big-endian register bytes of an answer into a
# number in SI units, or None for "no data" (a sentinel, a value outside the
# device's physical range, a NaN, a short answer). It never raises.
from firmware.compat import const
import struct

# Value types. Two-register types without R are high word first (ABCD);
# R means the device sends the LOW word first (EPEver).
U16 = const(1)
S16 = const(2)
U32 = const(3)
U32R = const(4)
S32 = const(5)
S32R = const(6)
F32 = const(7)
# u16 in tenths of a kelvin (Seplos V3 temperatures): scaled, then 273.15
# taken off, so the value is degC like every other temperature here.
UK = const(8)
# A raw block of n registers (n < 128), kept as bytes for the caller to read
# (DSE's named alarms: 4 bits an alarm); its vtype is BLOCK | n.
BLOCK = const(0x80)

# Sentinel conventions (per profile).
SENT_NONE = const(0)
SENT_DSE = const(1)   # GenComm: the top 8 codes of each type mean "no data"

# Point tuple fields.
P_NAME = const(0)
P_FC = const(1)
P_ADDR = const(2)
P_TYPE = const(3)
P_SCALE = const(4)
P_LO = const(5)
P_HI = const(6)


_F32_BUF = bytearray(4)    # reused: a float is rebuilt from its raw bits


def width(vtype):
    """Registers a value of this type occupies."""
    if vtype & BLOCK:
        return vtype & 0x7F
    return 1 if vtype <= S16 or vtype == UK else 2


def raw(buf, off, vtype):
    """Raw integer of a value starting at byte `off` of big-endian register
    data, before sign and scale. Floats stay as their 32-bit pattern so the
    caller can compare raw words without allocating."""
    w0 = (buf[off] << 8) | buf[off + 1]
    if vtype <= S16 or vtype == UK:
        return w0
    w1 = (buf[off + 2] << 8) | buf[off + 3]
    if vtype == U32R or vtype == S32R:
        return (w1 << 16) | w0
    return (w0 << 16) | w1


def is_sentinel(r, vtype):
    # GenComm: 0xFFF8..0xFFFF (u16), 0x7FF8..0x7FFF (s16), and the same
    # codes counted down from the 32-bit maxima.
    if vtype == U16:
        return r >= 0xFFF8
    if vtype == S16:
        return 0x7FF8 <= r <= 0x7FFF
    if vtype == U32 or vtype == U32R:
        return r >= 0xFFFFFFF8
    if vtype == S32 or vtype == S32R:
        return 0x7FFFFFF8 <= r <= 0x7FFFFFFF
    return False


def divisor(scale):
    """10, 100, 1000... when `scale` is its inverse (0.1, 0.01, 0.001...),
    else 0. A value divided by it is the decimal the device sent (53.74),
    where one multiplied by the scale is its nearest float (53.739996 on
    the board's 32-bit floats)."""
    if 0 < scale < 1:
        k = int(1 / scale + 0.5)
        if k >= 10 and abs(k * scale - 1) < 1e-6:
            t = k
            while t % 10 == 0:
                t //= 10
            if t == 1:
                return k
    return 0


def decimals(scale):
    """The decimals a value at this scale carries: 1 for 0.1, 2 for 0.01...;
    0 when divisor() has none."""
    k = divisor(scale)
    d = 0
    while k >= 10:
        d += 1
        k //= 10
    return d


def value_at(buf, off, vtype, scale, div, lo, hi, sentinel):
    """Scaled value of the point at byte `off` of register data: as
    value(), but a float is read straight from the bytes (its 32-bit
    pattern would be a heap int on the board)."""
    if vtype == F32:
        if buf[off] & 0x7F == 0x7F and buf[off + 1] & 0x80:
            return None     # exponent all ones: infinity or NaN
        v = struct.unpack_from('>f', buf, off)[0]
        if scale != 1:
            v = v * scale
        if (lo is not None and v < lo) or (hi is not None and v > hi):
            return None
        return v
    return value(raw(buf, off, vtype), vtype, scale, lo, hi, sentinel, div)


def value(r, vtype, scale, lo, hi, sentinel, div=0):
    """Scaled value of raw integer `r`, or None when it is no reading;
    divided by `div` instead when one is given (see divisor())."""
    if r is None:
        return None
    if sentinel == SENT_DSE and is_sentinel(r, vtype):
        return None
    if vtype == S16:
        if r >= 0x8000:
            r -= 0x10000
    elif vtype == S32 or vtype == S32R:
        if r >= 0x80000000:
            r -= 0x100000000
    elif vtype == F32:
        if (r >> 23) & 0xFF == 0xFF:    # exponent all ones: infinity or NaN
            return None
        struct.pack_into('>I', _F32_BUF, 0, r)
        r = struct.unpack_from('>f', _F32_BUF)[0]
    if div:
        v = r / div
    else:
        v = r * scale if scale != 1 else r
    if vtype == UK:
        v -= 273.15
    if (lo is not None and v < lo) or (hi is not None and v > hi):
        return None
    return v


def at(v, dp):
    """`v` at `dp` decimals, as it goes out (MQTT, console): a whole number
    for 0; None, bools and ints as they are. A float a device or the site
    computed carries noise in its last digits (1809.0259774169922) that no
    device measured."""
    if v.__class__ is not float:
        return v
    if dp == 0:
        return int(v + 0.5) if v >= 0 else -int(0.5 - v)
    return round(v, dp)


def decode_point(buf, off, point, sentinel):
    """Decode one point from register bytes; None when the bytes are short."""
    vtype = point[P_TYPE]
    if buf is None or off < 0 or off + 2 * width(vtype) > len(buf):
        return None
    return value(raw(buf, off, vtype), vtype, point[P_SCALE],
                 point[P_LO], point[P_HI], sentinel)
