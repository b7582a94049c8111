# A LittleFS flash that loses power: the MicroPython-side helper of the
# power-cut tests (store and ring), run inside the unix port.
import os

BLOCK = 512
BLOCKS = 64
MNT = '/pcut'


class RamFlash:
    """A block device over `data` (the flash) whose power goes after
    `limit` block writes or erases (-1: never). With `torn` the cut
    operation itself half lands on the flash (half of a write, half of an
    erase), as on real flash; else none of it does. The cut operation
    raises; from then on `data` is frozen and the device works on
    `after`, a copy nobody looks at: the CPU would be off too, so what the
    code does after the cut cannot matter, and file finalisers that run
    long after find a working device and stay quiet.
    LittleFS calls these with the heap locked at times, so they allocate
    nothing: byte-by-byte copies, and the exception is made in advance."""

    def __init__(self, data, after=None, limit=-1, torn=True):
        self.data = data
        self.after = after     # same bytes as data at the start
        self.limit = limit
        self.torn = torn
        self.ops = 0
        self.dead = False
        self.cut = OSError(5)     # EIO

    def _power(self):
        # How much of this operation lands on the flash: 2 all, 1 half,
        # 0 nothing.
        if self.dead:
            return 0
        self.ops += 1
        if self.ops == self.limit:
            self.dead = True
            return 1 if self.torn else 0
        return 2

    def readblocks(self, block, buf, off=0):
        a = block * BLOCK + off
        d = self.after if self.dead else self.data
        for i in range(len(buf)):
            buf[i] = d[a + i]

    def writeblocks(self, block, buf, off=0):
        was_dead = self.dead
        p = self._power()
        a = block * BLOCK + off
        d = self.data
        for i in range(len(buf) * p // 2):
            d[a + i] = buf[i]
        if self.after is not None:
            d = self.after
            for i in range(len(buf)):
                d[a + i] = buf[i]
        if self.dead and not was_dead:
            raise self.cut

    def ioctl(self, op, arg):
        if op == 4:
            return len(self.data) // BLOCK
        if op == 5:
            return BLOCK
        if op == 6:
            was_dead = self.dead
            p = self._power()
            a = arg * BLOCK
            d = self.data
            for i in range(BLOCK * p // 2):
                d[a + i] = 0xFF
            if self.after is not None:
                d = self.after
                for i in range(BLOCK):
                    d[a + i] = 0xFF
            if self.dead and not was_dead:
                raise self.cut
            return 0
        return 0


def mount(data, after=None, limit=-1, torn=True):
    dev = RamFlash(data, after, limit, torn)
    os.mount(os.VfsLfs2(dev), MNT)
    return dev


def umount():
    try:
        os.umount(MNT)
    except OSError:
        pass


