# Runs in the MicroPython unix port (host_tests/test_store_powercut.py starts
# it): LittleFS on a RAM block device, a saved state file, then a power cut
# at every block write or erase of the next store.save(), each time
# remounting the same bytes and checking that store.load() gives the old or
# the new object. Prints one RESULT line of JSON; exits 1 on a failure.
#
# Usage (from the repo root): micropython host_tests/store_powercut_mpy.py
import json
import os
import sys

sys.path.insert(0, '.')
from firmware import store   # noqa: E402

BLOCK = 512
BLOCKS = 64
MNT = '/pcut'
PATH = MNT + '/state.json'


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


def obj(tag, n):
    return {'tag': tag, 'seq': list(range(n)), 'text': tag * 20}


def run(case, torn, new, *before):
    """Save each of `before` in turn (two leave a .bak behind), then cut the
    power at every block operation of saving `new`."""
    data = bytearray(b'\xff' * (BLOCK * BLOCKS))
    os.VfsLfs2.mkfs(RamFlash(data))
    mount(data)
    for b in before:
        store.save(PATH, b)
    old = before[-1]
    umount()
    image = bytes(data)
    after = bytearray(len(data))
    seen = {'old_main': 0, 'old_backup': 0, 'new_main': 0}
    n = 0
    while True:
        n += 1
        data[:] = image
        after[:] = image
        dev = mount(data, after, n, torn)
        try:
            store.save(PATH, new)
        except OSError:
            pass
        done = not dev.dead
        umount()
        mount(data)
        got, src, err = store.load(PATH)
        if got == new and src == 'main':
            seen['new_main'] += 1
        elif got == old and src == 'main':
            seen['old_main'] += 1
        elif got == old and src == 'backup':
            seen['old_backup'] += 1
        else:
            print('FAIL %s cut at op %d: got %r from %r (%s)' % (case, n, got, src, err))
            umount()
            return None
        if done and got != new:
            # A save the power outlived must be the one found. (A cut one
            # may be found too: the cut can land after the commit.)
            print('FAIL %s cut at op %d: save done but loaded %r' % (case, n, src))
            umount()
            return None
        # The file system is still usable after the cut.
        store.save(PATH, {'after': n})
        if store.load(PATH)[0] != {'after': n}:
            print('FAIL %s cut at op %d: save after remount lost' % (case, n))
            umount()
            return None
        umount()
        if done:
            break
    seen['cuts'] = n - 1           # the last run had no cut
    seen['ops'] = dev.ops
    return seen


def main():
    results = {}
    ok = True
    for case, args in (
            ('small', (obj('new', 6), obj('old', 5))),
            ('multi_block', (obj('new', 420), obj('old', 400))),
            ('with_backup', (obj('new', 60), obj('older', 50), obj('old', 55))),
            ('shrink', (obj('new', 3), obj('old', 400)))):
        for torn in (True, False):
            name = case + ('_torn' if torn else '_clean')
            r = run(name, torn, *args)
            if r is None:
                ok = False
                r = {}
            results[name] = r
    print('RESULT ' + json.dumps(results))
    sys.exit(0 if ok else 1)


main()
