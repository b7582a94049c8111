# State files that survive a power cut at any moment: each file carries its
# own check, is written beside the old one and renamed over it, and the
# previous good copy stays as <path>.bak, so a load finds either the new
# state or the one before it, never a torn mix.
#
# File format: line 1 the JSON text, line 2 its CRC32 as 8 hex digits. A
# file that does not match exactly is not used.
import json
import os
from binascii import crc32     # in the unix port and the ESP32 build alike
from firmware.compat import ticks_diff

TMP = '.tmp'
BAK = '.bak'


def _crc_hex(data):
    return '%08x' % (crc32(data) & 0xFFFFFFFF)


def _check(path):
    """(json text as bytes, None) when the file is whole, else (None, why)."""
    try:
        with open(path, 'rb') as f:
            data = f.read()
    except OSError:
        return None, 'missing'
    nl = data.find(b'\n')
    if nl < 0:
        return None, 'torn (no check line)'
    text = data[:nl]
    if data[nl + 1:] != _crc_hex(text).encode() + b'\n':
        return None, 'check mismatch (torn or corrupt)'
    return text, None


def _read(path):
    text, err = _check(path)
    if err:
        return None, err
    try:
        return json.loads(text.decode()), None
    except (ValueError, UnicodeError):   # a check over bad JSON: not ours
        return None, 'not valid JSON'


def _remove(path):
    try:
        os.remove(path)
    except OSError:
        pass


def _rename(src, dst):
    try:
        os.rename(src, dst)
    except OSError:
        # FAT and some VFSs refuse to rename over an existing file.
        _remove(dst)
        os.rename(src, dst)


def save(path, obj):
    """Write obj as JSON to path, atomically; returns the bytes written.
    Raises OSError (full or failing flash) with path and .bak untouched."""
    text = json.dumps(obj).encode()
    tail = b'\n' + _crc_hex(text).encode() + b'\n'
    tmp = path + TMP
    try:
        with open(tmp, 'wb') as f:
            f.write(text)
            f.write(tail)
    except OSError:
        _remove(tmp)
        raise
    # Only a whole file may become the backup: rotating a torn main would
    # throw away the last good copy.
    if _check(path)[0] is not None:
        _rename(path, path + BAK)
    # A cut here leaves no main file and the old state in .bak: load() finds it.
    _rename(tmp, path)
    return len(text) + len(tail)


def load(path):
    """(obj, source, error): source 'main', 'backup' (error says what was
    wrong with the main file) or None (error says why neither was used).
    Never raises for a bad file and never returns a torn one."""
    obj, err = _read(path)
    if err is None:
        return obj, 'main', None
    obj, berr = _read(path + BAK)
    if berr is None:
        return obj, 'backup', 'main: ' + err
    return None, None, 'main: %s; backup: %s' % (err, berr)


class Persist:
    """When to write state to flash: at once on a change worth keeping,
    else every persist_s, so a quiet site costs one write per period
    instead of one per tick. A burst of changes is written at most once
    per min_gap_s; the last of them is never lost, only delayed."""

    def __init__(self, persist_s, min_gap_s=5):
        self.period_ms = persist_s * 1000
        self.gap_ms = min_gap_s * 1000
        self.writes = 0
        self._last = None      # ticks_ms of the last write; None before the first due()
        self._pending = False  # a change not written yet

    def due(self, now_ms, changed=False):
        if changed:
            self._pending = True
        if self._last is None:
            # Boot: the state was just loaded, so the period starts now.
            self._last = now_ms
            return self._pending
        age = ticks_diff(now_ms, self._last)
        return age >= self.period_ms or (self._pending and age >= self.gap_ms)

    def wrote(self, now_ms):
        self._last = now_ms
        self._pending = False
        self.writes += 1
