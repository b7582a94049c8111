# store.save() against a power cut at every block write and erase, on the
# board's own file system: LittleFS in the MicroPython unix port, on a RAM
# block device that loses power mid-operation (host_tests/store_powercut_mpy.py).
# After each cut the same bytes are remounted and store.load() must give the
# old or the new object, never an error or garbage.
from rigs import on_both, run_mpy_result

CASES = ('small', 'multi_block', 'with_backup', 'shrink')


@on_both
def test_power_cut_at_every_block_operation_keeps_old_or_new(micropython):
    res = run_mpy_result(micropython, "host_tests/store_powercut_mpy.py")
    assert sorted(res) == sorted(c + m for c in CASES for m in ("_torn", "_clean")), res
    for name, r in res.items():
        # A cut at each block operation of the save, then one run without.
        assert r["cuts"] == r["ops"] >= 3, (name, r)
        assert r["old_main"] + r["old_backup"] + r["new_main"] == r["cuts"] + 1, (name, r)
        assert r["old_main"] >= 1 and r["new_main"] >= 1, (name, r)
        # A cut between the two renames: no main file, the old state from .bak.
        assert r["old_backup"] >= 1, (name, r)
    assert res["multi_block_torn"]["cuts"] >= 10, res
