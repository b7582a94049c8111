# Store and forward: records produced while the uplink is down wait on
# flash in a bounded ring and are replayed in order when it returns.
#
# A ring is a run of segment files <dir>/<name>.<n> (n counting up), each
# appended to and closed per record (on LittleFS a file's data is committed
# at close, so a power cut loses at most the record being written, which
# its CRC then exposes). When the ring is over its size the oldest segment
# goes, and its records are counted as dropped. The read position (segment,
# offset) is kept in <name>.pos, so a reboot replays from where it stopped.
# Record: 'R', kind (1 byte), length (2, big-endian), CRC32 of the payload
# (4), payload. Pure Python over open/os: runs on the board and the host.
import os
from binascii import crc32
from firmware.compat import const

_HDR = const(8)
POS_EVERY = 16


def _u16(b, i):
    return (b[i] << 8) | b[i + 1]


def _u32(b, i):
    return (b[i] << 24) | (b[i + 1] << 16) | (b[i + 2] << 8) | b[i + 3]


class Ring:
    def __init__(self, dirpath, name, seg_bytes=4096, max_segs=8):
        self.dir = dirpath
        self.name = name
        self.seg_bytes = seg_bytes
        self.max_segs = max_segs
        self.dropped = 0        # records lost to a full ring (oldest first)
        self.torn = 0           # records found damaged (power cut mid-write)
        segs = self._segments()
        self.first = segs[0] if segs else 0     # oldest segment kept
        self.last = segs[-1] if segs else 0     # segment appended to
        self.rseg, self.roff = self._load_pos()
        if self.rseg < self.first:
            self.rseg, self.roff = self.first, 0
        self._size = self._fsize(self.last)
        self._new_seg = bool(segs)   # never append after what a cut left behind
        self._pops = 0

    # --- files -----------------------------------------------------------
    def _path(self, n):
        return '%s/%s.%d' % (self.dir, self.name, n)

    def _segments(self):
        pre = self.name + '.'
        out = []
        for f in os.listdir(self.dir):
            if f.startswith(pre) and f[len(pre):].isdigit():
                out.append(int(f[len(pre):]))
        out.sort()
        return out

    def _fsize(self, n):
        try:
            return os.stat(self._path(n))[6]
        except OSError:
            return 0

    def _load_pos(self):
        try:
            with open('%s/%s.pos' % (self.dir, self.name)) as f:
                a, b = f.read().split()
                return int(a), int(b)
        except (OSError, ValueError):
            return 0, 0

    def _save_pos(self):
        self._pops = 0
        p = '%s/%s.pos' % (self.dir, self.name)
        with open(p + '.tmp', 'w') as f:
            f.write('%d %d' % (self.rseg, self.roff))
        os.rename(p + '.tmp', p)

    # --- writing ---------------------------------------------------------
    def append(self, kind, payload):
        """Keep one record; returns False when it is too big to keep."""
        if isinstance(payload, str):
            payload = payload.encode()
        n = len(payload)
        if n > 0xFFFF or n + _HDR > self.seg_bytes:
            return False
        if self._new_seg or self._size + _HDR + n > self.seg_bytes:
            self.last += 1
            self._size = 0
            self._new_seg = False
            while self.last - self.first >= self.max_segs:
                self._drop_oldest()
        c = crc32(payload) & 0xFFFFFFFF
        hdr = bytes((0x52, kind & 0xFF, n >> 8, n & 0xFF,
                     c >> 24, (c >> 16) & 0xFF, (c >> 8) & 0xFF, c & 0xFF))
        with open(self._path(self.last), 'ab') as f:
            f.write(hdr)
            f.write(payload)
        self._size += _HDR + n
        return True

    def _drop_oldest(self):
        n = self.first
        lost = self._count(n, self.roff if self.rseg == n else 0)
        if self.rseg <= n:
            self.dropped += lost
            self.rseg, self.roff = n + 1, 0
        try:
            os.remove(self._path(n))
        except OSError:
            pass
        self.first = n + 1

    def _count(self, n, off):
        k = 0
        while True:
            r = self._read_at(n, off)
            if r is None:
                return k
            k += 1
            off = r[2]

    # --- reading ---------------------------------------------------------
    def _read_at(self, n, off):
        """(kind, payload, next offset) of the record at (n, off), or None
        at the end of the segment or at a damaged record."""
        try:
            with open(self._path(n), 'rb') as f:
                f.seek(off)
                h = f.read(_HDR)
                if len(h) < _HDR or h[0] != 0x52:
                    return None
                ln = _u16(h, 2)
                data = f.read(ln)
        except OSError:
            return None
        if len(data) != ln or (crc32(data) & 0xFFFFFFFF) != _u32(h, 4):
            return None
        return h[1], data, off + _HDR + ln

    def peek(self):
        """The oldest record not yet sent as (kind, payload), or None."""
        while self.rseg <= self.last:
            r = self._read_at(self.rseg, self.roff)
            if r is not None:
                return r[0], r[1]
            if self.rseg >= self.last:
                return None
            if self.roff < self._fsize(self.rseg):
                self.torn += 1          # a damaged tail: the rest of it is lost
            self._finish_segment()
        return None

    def pop(self):
        """The record peek() gave is delivered: move past it."""
        r = self._read_at(self.rseg, self.roff)
        if r is None:
            return
        self.roff = r[2]
        if self.rseg < self.last and self.roff >= self._fsize(self.rseg):
            self._finish_segment()
        else:
            # The position goes to flash every POS_EVERY records, not each
            # one: after a power cut at most that many are sent again (the
            # receiver knows them by their seq), and replay costs few writes.
            self._pops += 1
            if self._pops >= POS_EVERY:
                self._save_pos()

    def _finish_segment(self):
        try:
            os.remove(self._path(self.rseg))
        except OSError:
            pass
        self.rseg += 1
        self.roff = 0
        if self.first < self.rseg:
            self.first = self.rseg
        self._save_pos()

    def flush(self):
        """Write the read position now (at a clean stop)."""
        if self._pops:
            self._save_pos()

    def pending(self):
        """Records waiting (reads the ring; for status, not per tick)."""
        k = 0
        for n in range(self.rseg, self.last + 1):
            k += self._count(n, self.roff if n == self.rseg else 0)
        return k
