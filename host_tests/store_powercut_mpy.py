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
sys.path.insert(0, 'host_tests')
from firmware import store   # noqa: E402

from lfs_ram import BLOCK, BLOCKS, MNT, RamFlash, mount, umount  # noqa: E402

PATH = MNT + '/state.json'


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
