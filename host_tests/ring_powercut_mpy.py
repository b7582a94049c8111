# Runs in the MicroPython unix port (host_tests/test_ring_powercut.py starts
# it): a store-and-forward ring on LittleFS over a RAM block device, then a
# power cut at every block write or erase while records are appended; after
# each cut the same bytes are remounted and the ring must give back, in
# order and without garbage, every record whose append finished (and maybe
# the one cut mid-append), from where the replay stood. Prints one RESULT
# line of JSON; exits 1 on a failure.
import json
import os
import sys

sys.path.insert(0, '.')
sys.path.insert(0, 'host_tests')
from firmware.uplink.ring import Ring   # noqa: E402
from lfs_ram import BLOCK, BLOCKS, MNT, RamFlash, mount, umount  # noqa: E402


def rec(i):
    return '{"seq": %d, "t": "telemetry-%04d"}' % (i, i)


def ring():
    return Ring(MNT, 'tel', seg_bytes=512, max_segs=16)


def drain(r):
    out = []
    while True:
        x = r.peek()
        if x is None:
            return out
        out.append(x[1].decode())
        r.pop()


def main():
    data = bytearray(b'\xff' * (BLOCK * BLOCKS))
    os.VfsLfs2.mkfs(RamFlash(data))
    mount(data)
    r = ring()
    for i in range(10):
        r.append(1, rec(i))
    for _ in range(3):          # three already sent before the outage
        r.peek()
        r.pop()
    r.flush()
    umount()
    image = bytes(data)
    after = bytearray(len(data))
    n = 0
    cuts = 0
    while True:
        n += 1
        data[:] = image
        after[:] = image
        dev = mount(data, after, n, True)
        done_appends = 0
        try:
            r = ring()
            for i in range(10, 40):
                r.append(1, rec(i))
                done_appends += 1
        except OSError:
            pass
        survived = not dev.dead
        umount()
        mount(data)
        got = drain(ring())
        want_min = [rec(i) for i in range(3, 10 + done_appends)]
        want_max = [rec(i) for i in range(3, 10 + min(done_appends + 1, 30))]
        if got != want_min and got != want_max:
            print('FAIL cut at op %d after %d appends: got %d records %r..%r'
                  % (n, done_appends, len(got), got[:1], got[-1:]))
            umount()
            sys.exit(1)
        r = ring()      # the file system and the ring still work
        r.append(1, 'after')
        if drain(ring())[-1:] != ['after']:
            print('FAIL cut at op %d: append after remount lost' % n)
            umount()
            sys.exit(1)
        umount()
        if survived:
            break
        cuts += 1
    print("RESULT " + json.dumps({"cuts": cuts, "ops": dev.ops, "appends": done_appends}))


main()
