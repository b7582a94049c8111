"""Raw register encodings: numbers as the devices put them in 16-bit words."""
import struct


def u16(x):
    """Unsigned 16-bit, rounded and clamped."""
    return max(0, min(0xFFFF, int(round(x))))


def s16(x):
    """Two's complement 16-bit, rounded and clamped to -32768..32767."""
    return max(-0x8000, min(0x7FFF, int(round(x)))) & 0xFFFF


def u32_words(x):
    """(high word, low word) of an unsigned 32-bit value."""
    v = max(0, min(0xFFFFFFFF, int(round(x))))
    return (v >> 16) & 0xFFFF, v & 0xFFFF


def s32_words(x):
    """(high word, low word) of a two's complement 32-bit value."""
    v = max(-0x80000000, min(0x7FFFFFFF, int(round(x)))) & 0xFFFFFFFF
    return (v >> 16) & 0xFFFF, v & 0xFFFF


def f32_words(x):
    """(high word, low word) of an IEEE-754 float32."""
    raw = struct.pack(">f", float(x))
    return (raw[0] << 8) | raw[1], (raw[2] << 8) | raw[3]


def put_hi_first(table, addr, words):
    table[addr], table[addr + 1] = words[0], words[1]


def put_lo_first(table, addr, words):
    table[addr], table[addr + 1] = words[1], words[0]


def ascii_regs(text, nregs):
    """A string as registers, two characters each, NUL padded."""
    raw = text.encode("ascii")[: nregs * 2].ljust(nregs * 2, b"\0")
    return [(raw[i] << 8) | raw[i + 1] for i in range(0, nregs * 2, 2)]
