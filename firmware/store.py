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

TMP = '.tmp'
BAK = '.bak'


# Files are checked in small chunks: the heap of a long-running board is
# fragmented into small holes, so no step here needs a large block.
_CHUNK = 64


def _scan(path):
    """(crc of line 1 as int, the bytes after the first newline) of a file,
    read in small chunks; None when the file cannot be read."""
    buf = bytearray(_CHUNK)
    mv = memoryview(buf)
    crc = 0
    tail = None
    try:
        with open(path, 'rb') as f:
            while True:
                n = f.readinto(buf)
                if not n:
                    break
                if tail is not None:
                    tail += bytes(mv[:n])
                    if len(tail) > 16:      # a check line is 9 bytes
                        return crc, tail
                    continue
                nl = -1
                for i in range(n):
                    if buf[i] == 10:
                        nl = i
                        break
                if nl < 0:
                    crc = crc32(mv[:n], crc)
                else:
                    crc = crc32(mv[:nl], crc)
                    tail = bytes(mv[nl + 1:n])
    except OSError:
        return None
    return crc, tail


def _whole(path):
    """None when the file is whole (its check matches), else why not."""
    r = _scan(path)
    if r is None:
        return 'missing'
    crc, tail = r
    if tail is None:
        return 'torn (no check line)'
    if tail != ('%08x\n' % (crc & 0xFFFFFFFF)).encode():
        return 'check mismatch (torn or corrupt)'
    return None


def _read(path):
    err = _whole(path)
    if err:
        return None, err
    try:
        with open(path) as f:
            return json.loads(f.readline()), None
    except (ValueError, UnicodeError, OSError):   # a check over bad JSON: not ours
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
    tmp = path + TMP
    try:
        with open(tmp, 'w') as f:
            json.dump(obj, f)       # streamed: no one big string on the heap
            f.write('\n')
        crc, _ = _scan(tmp)
        with open(tmp, 'a') as f:
            f.write('%08x\n' % (crc & 0xFFFFFFFF))
    except OSError:
        _remove(tmp)
        raise
    # Only a whole file may become the backup: rotating a torn main would
    # throw away the last good copy.
    if _whole(path) is None:
        _rename(path, path + BAK)
    # A cut here leaves no main file and the old state in .bak: load() finds it.
    _rename(tmp, path)
    return os.stat(path)[6]


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

