# Store-and-forward ring on files: order, bounded size with counted drops
# of the oldest, survival across a restart, torn records, pops persisted.
import os
from firmware.uplink.ring import Ring

BASE = '/tmp/sc_ring_test'


def fresh(name):
    d = BASE + '_' + name
    try:
        os.mkdir(d)
    except OSError:
        for f in os.listdir(d):
            os.remove(d + '/' + f)
    return d


def drain(r):
    out = []
    while True:
        rec = r.peek()
        if rec is None:
            return out
        out.append(rec[1].decode())
        r.pop()


def test_records_come_back_in_order():
    d = fresh('order')
    r = Ring(d, 'tel', seg_bytes=256, max_segs=8)
    for i in range(20):
        assert r.append(1, '{"seq": %d}' % i)
    assert r.pending() == 20
    assert drain(r) == ['{"seq": %d}' % i for i in range(20)]
    assert r.peek() is None and r.pending() == 0 and r.dropped == 0


def test_full_ring_drops_the_oldest_and_counts_them():
    d = fresh('full')
    r = Ring(d, 'tel', seg_bytes=100, max_segs=3)
    for i in range(30):
        r.append(1, 'rec%02d-xxxxxxxxxxxxxxxx' % i)     # 30 bytes + 8 header
    got = drain(r)
    assert r.dropped + len(got) == 30
    assert r.dropped > 0
    assert got == ['rec%02d-xxxxxxxxxxxxxxxx' % i for i in range(30 - len(got), 30)]
    assert len([f for f in os.listdir(d) if f.startswith('tel.')]) <= 3


def test_survives_a_restart_and_resumes_where_it_stopped():
    d = fresh('restart')
    r = Ring(d, 'ev', seg_bytes=200, max_segs=8)
    for i in range(12):
        r.append(2, 'e%d' % i)
    for _ in range(5):
        r.peek()
        r.pop()
    r.flush()                       # as a clean stop does
    r2 = Ring(d, 'ev', seg_bytes=200, max_segs=8)          # power cycle
    assert drain(r2) == ['e%d' % i for i in range(5, 12)]
    r2.append(2, 'after')
    r2.flush()
    assert drain(Ring(d, 'ev', seg_bytes=200, max_segs=8)) == ['after']


def test_a_torn_last_record_is_skipped_and_new_records_still_flow():
    d = fresh('torn')
    r = Ring(d, 'tel', seg_bytes=4096)
    r.append(1, 'good-1')
    r.append(1, 'good-2')
    seg = d + '/tel.%d' % r.last
    with open(seg, 'ab') as f:          # a cut in the middle of a record
        f.write(b'R\x01\x00\x20\x00\x00')
    r2 = Ring(d, 'tel', seg_bytes=4096)
    r2.append(1, 'after-cut')           # goes to a new segment, not after the tear
    assert drain(r2) == ['good-1', 'good-2', 'after-cut']
    assert r2.torn == 1


def test_corrupt_payload_is_not_delivered():
    d = fresh('crc')
    r = Ring(d, 'tel', seg_bytes=4096)
    r.append(1, 'AAAA')
    seg = d + '/tel.%d' % r.last
    with open(seg, 'rb') as f:
        b = bytearray(f.read())
    b[-1] ^= 0x01
    with open(seg, 'wb') as f:
        f.write(b)
    assert Ring(d, 'tel').peek() is None


def test_kinds_and_limits():
    d = fresh('kinds')
    r = Ring(d, 'x', seg_bytes=64)
    assert not r.append(1, 'y' * 60)        # larger than a segment: refused
    assert r.append(3, b'\x00\x01binary')
    assert r.peek() == (3, b'\x00\x01binary')


def test_two_rings_share_a_folder():
    d = fresh('two')
    tel = Ring(d, 'tel', seg_bytes=128, max_segs=2)
    ev = Ring(d, 'ev', seg_bytes=128, max_segs=8)
    for i in range(40):
        tel.append(1, 't%02d-padding-padding' % i)
        if i % 10 == 0:
            ev.append(2, 'event%d' % i)
    assert drain(ev) == ['event0', 'event10', 'event20', 'event30']   # events kept
    assert tel.dropped > 0                                         # telemetry went first


def test_after_a_power_cut_at_most_pos_every_records_come_again():
    from firmware.uplink import ring
    d = fresh('dups')
    r = Ring(d, 'tel', seg_bytes=4096)
    for i in range(50):
        r.append(1, 'r%d' % i)
    for _ in range(20):
        r.peek()
        r.pop()
    again = drain(Ring(d, 'tel', seg_bytes=4096))          # no clean stop
    assert again[-1] == 'r49' and 30 <= len(again) <= 30 + ring.POS_EVERY
    assert again == ['r%d' % i for i in range(50 - len(again), 50)]


def test_a_torn_tail_is_counted_once():
    d = fresh('tornonce')
    r = Ring(d, 'tel', seg_bytes=4096)
    r.append(1, 'ok')
    with open(d + '/tel.%d' % r.last, 'ab') as f:
        f.write(b'R\x01\x00')
    r2 = Ring(d, 'tel', seg_bytes=4096)
    for _ in range(5):
        r2.peek()
    r2.pop()
    for _ in range(5):
        assert r2.peek() is None
    r2.append(1, 'next')
    assert drain(r2) == ['next'] and r2.torn == 1
