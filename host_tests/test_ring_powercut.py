# The store-and-forward ring against a power cut at every block write and
# erase while the outage fills it, on LittleFS in the unix port
# (host_tests/ring_powercut_mpy.py): every finished record comes back, in
# order, nothing else does, and the ring still works afterwards.
from rigs import on_both, run_mpy_result


@on_both
def test_power_cut_at_every_block_operation_loses_no_finished_record(micropython):
    res = run_mpy_result(micropython, "host_tests/ring_powercut_mpy.py")
    assert res["cuts"] == res["ops"] >= 30, res
    assert res["appends"] == 30, res          # the run without a cut kept all
