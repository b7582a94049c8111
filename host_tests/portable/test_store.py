# Atomic state files: round trip, the check line, the last good copy as
# .bak, torn and corrupted files never used, and Persist's bounded wear.
import os
from binascii import crc32
from firmware import store
from firmware import persist
from helpers import raises, assert_no_alloc

DIR = '/tmp'
A = {'wh': 123456, 'l': [1, 2.5, None, True], 'who': 'tech \u00fc', 'nested': {'k': 'v'}}
B = {'wh': 123457, 'l': [], 'who': 'noc'}


def path(name):
    p = DIR + '/st_' + name + '.json'
    clean(p)
    return p


def clean(p):
    for s in ('', '.bak', '.tmp'):
        try:
            os.remove(p + s)
        except OSError:
            pass


def read(p):
    with open(p, 'rb') as f:
        return f.read()


def write(p, data):
    with open(p, 'wb') as f:
        f.write(data)


def exists(p):
    try:
        os.stat(p)
        return True
    except OSError:
        return False


def test_round_trip_and_bytes_written():
    p = path('rt')
    try:
        n = store.save(p, A)
        assert n == os.stat(p)[6]
        assert store.load(p) == (A, 'main', None)
        assert not exists(p + '.tmp') and not exists(p + '.bak')
    finally:
        clean(p)


def test_file_is_json_line_then_crc32_line():
    p = path('fmt')
    try:
        store.save(p, B)
        text, crc, end = read(p).split(b'\n')
        assert end == b''
        assert crc == (b'%08x' % (crc32(text) & 0xFFFFFFFF))
        assert len(crc) == 8
    finally:
        clean(p)


def test_previous_good_file_kept_as_backup():
    p = path('bak')
    try:
        store.save(p, A)
        store.save(p, B)
        assert store.load(p) == (B, 'main', None)
        os.remove(p)
        obj, src, err = store.load(p)
        assert (obj, src) == (A, 'backup') and err == 'main: missing'
    finally:
        clean(p)


def test_repeated_saves_keep_exactly_one_backup():
    p = path('rep')
    try:
        for k in range(6):
            store.save(p, {'k': k})
        names = [n for n in os.listdir(DIR) if n.startswith('st_rep.json')]
        names.sort()
        assert names == ['st_rep.json', 'st_rep.json.bak']
        assert store.load(p)[0] == {'k': 5}
        os.remove(p)
        assert store.load(p)[0] == {'k': 4}
    finally:
        clean(p)


def test_torn_main_at_every_length_falls_back_to_the_backup():
    p = path('torn')
    try:
        store.save(p, A)
        store.save(p, B)
        whole = read(p)
        for k in range(len(whole)):
            write(p, whole[:k])
            obj, src, err = store.load(p)
            assert (obj, src) == (A, 'backup'), (k, obj, src)
            assert err.startswith('main: ')
        write(p, whole)
        assert store.load(p) == (B, 'main', None)
        write(p, whole + b'x')                        # trailing bytes: not ours either
        assert store.load(p)[1] == 'backup'
    finally:
        clean(p)


def test_torn_file_without_backup_is_refused_not_raised():
    p = path('nobak')
    try:
        store.save(p, A)
        whole = read(p)
        for k in range(len(whole)):
            write(p, whole[:k])
            obj, src, err = store.load(p)
            assert obj is None and src is None
            assert err.startswith('main: ') and 'backup: missing' in err
    finally:
        clean(p)


def test_any_flipped_bit_is_caught_by_the_check():
    p = path('crc')
    try:
        store.save(p, A)
        store.save(p, B)
        whole = read(p)
        for i in range(len(whole)):
            for bit in (1, 0x40):
                bad = bytearray(whole)
                bad[i] ^= bit
                write(p, bytes(bad))
                assert store.load(p)[:2] == (A, 'backup'), (i, bit)
    finally:
        clean(p)


def test_good_check_over_bad_json_is_not_used():
    p = path('json')
    try:
        text = b'{"a": 1'
        write(p, text + b'\n' + (b'%08x' % (crc32(text) & 0xFFFFFFFF)) + b'\n')
        obj, src, err = store.load(p)
        assert obj is None and src is None and 'not valid JSON' in err
    finally:
        clean(p)


def test_missing_files():
    p = path('none')
    assert store.load(p) == (None, None, 'main: missing; backup: missing')


def test_corrupt_backup_and_main_missing():
    p = path('badbak')
    try:
        write(p + '.bak', b'{"x": 1}\n00000000\n')
        obj, src, err = store.load(p)
        assert obj is None and src is None
        assert err.startswith('main: missing; backup: check mismatch')
    finally:
        clean(p)


def test_save_over_a_torn_main_keeps_the_good_backup():
    p = path('keep')
    try:
        store.save(p, A)
        store.save(p, B)
        write(p, read(p)[:5])          # main torn; .bak holds A
        store.save(p, {'c': 3})
        assert store.load(p)[0] == {'c': 3}
        os.remove(p)
        assert store.load(p)[:2] == (A, 'backup')
    finally:
        clean(p)


def test_stale_tmp_from_a_cut_is_ignored_and_replaced():
    p = path('tmp')
    try:
        store.save(p, A)
        write(p + '.tmp', b'{"half": ')
        assert store.load(p) == (A, 'main', None)
        store.save(p, B)
        assert store.load(p) == (B, 'main', None) and not exists(p + '.tmp')
    finally:
        clean(p)


def test_failed_write_raises_and_leaves_the_good_files():
    p = path('fail')
    try:
        store.save(p, A)
        store.save(p, B)
        os.mkdir(p + '.tmp')                  # the temp file cannot be opened
        raises(OSError, store.save, p, {'c': 3})
        assert store.load(p) == (B, 'main', None)
        os.remove(p)
        assert store.load(p)[:2] == (A, 'backup')
    finally:
        os.rmdir(p + '.tmp')
        clean(p)
    raises(OSError, store.save, DIR + '/st_no_such_dir/x.json', A)


class _FullFlash:
    """A file that takes half of the first write, then reports a full flash."""
    def __init__(self, f):
        self.f = f

    def write(self, data):
        self.f.write(data[:len(data) // 2])
        raise OSError(28)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.f.close()


def test_flash_full_mid_write_removes_the_partial_temp_file():
    p = path('full')
    real = open

    def failing_open(name, mode='r'):
        f = real(name, mode)
        return _FullFlash(f) if name.endswith('.tmp') else f
    try:
        store.save(p, A)
        store.open = failing_open     # the module's own name, shadowing the builtin
        try:
            raises(OSError, store.save, p, B)
        finally:
            del store.open
        assert not exists(p + '.tmp')
        assert store.load(p) == (A, 'main', None)
    finally:
        clean(p)


def ticks(persist, seconds, changes=()):
    for t in range(seconds):
        now = t * 1000
        if persist.due(now, t in changes):
            persist.wrote(now)


def test_persist_quiet_site_writes_once_per_period():
    p = persist.Persist(600)
    ticks(p, 1000)
    assert p.writes == 1                  # at 600 s; none at boot, none per tick
    p = persist.Persist(60)
    ticks(p, 1000)
    assert p.writes == 16                 # 60, 120 ... 960 s


def test_persist_writes_a_change_at_once():
    p = persist.Persist(600)
    assert p.due(0, False) is False
    assert p.due(1000, True) is False     # within min_gap_s of boot
    assert p.due(5000, False) is True     # ... but not forgotten
    p.wrote(5000)
    assert p.due(6000, False) is False
    assert p.due(20000, True) is True
    p.wrote(20000)
    assert p.due(619999, False) is False
    assert p.due(620000, False) is True


def test_persist_change_at_boot_is_due_at_once():
    p = persist.Persist(600)
    assert p.due(0, True) is True


def test_persist_coalesces_a_burst_of_changes():
    p = persist.Persist(600, min_gap_s=5)
    ticks(p, 100, changes=range(0, 100))      # a change every second for 100 s
    assert p.writes == 20                     # one per 5 s, not 100
    p = persist.Persist(600, min_gap_s=0)
    ticks(p, 100, changes=range(0, 100))
    assert p.writes == 100


def test_persist_check_allocates_nothing():
    p = persist.Persist(600)
    p.due(0, False)

    def checks(n):
        for t in range(n):
            if p.due(t, False):
                p.wrote(t)
    assert_no_alloc(checks, 500)
    assert p.writes == 0
