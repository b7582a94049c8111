# The store-and-forward ring against a power cut at every block write and
# erase while the outage fills it, on LittleFS in the unix port
# (host_tests/ring_powercut_mpy.py): every finished record comes back, in
# order, nothing else does, and the ring still works afterwards.
import json
import subprocess

from conftest import ROOT


def test_power_cut_at_every_block_operation_loses_no_finished_record(micropython):
    r = subprocess.run([micropython, "host_tests/ring_powercut_mpy.py"], cwd=ROOT,
                       capture_output=True, text=True, timeout=300)
    out = r.stdout + r.stderr
    assert r.returncode == 0, out
    lines = [l for l in r.stdout.splitlines() if l.startswith("RESULT ")]
    assert len(lines) == 1, out
    res = json.loads(lines[0][len("RESULT "):])
    assert res["cuts"] == res["ops"] >= 30, res
    assert res["appends"] == 30, res          # the run without a cut kept all
