# The README's first command: a short run shows site lines and leaves no
# broker, emulator or firmware process behind.
import os
import re
import subprocess
import sys

from conftest import ROOT


def children_named(names):
    out = subprocess.run(["ps", "-eo", "pid,args"], capture_output=True, text=True).stdout
    return [l for l in out.splitlines() if any(n in l for n in names)]


def test_demo_runs_and_cleans_up(micropython):
    marker = ("cabinet_emulator.py", "mosquitto -c", "_host_boot.py")
    before = set(children_named(marker))
    r = subprocess.run([sys.executable, os.path.join(ROOT, "tools", "demo.py"), "--seconds", "8"],
                       capture_output=True, text=True, timeout=90)
    assert r.returncode == 0, r.stdout + r.stderr
    site_lines = [l for l in r.stdout.splitlines() if re.match(r"^\d\d:\d\d:\d\d PV ", l)]
    assert len(site_lines) >= 4, r.stdout
    assert "GRID LOST" in r.stdout and "GRID ok" in r.stdout
    # The operator's side got the site: online, telemetry, the grid's alarm.
    assert "[noc] status: online" in r.stdout, r.stdout
    assert re.search(r"\[noc\] \d+ telemetry records; last: seq \d+", r.stdout), r.stdout
    assert "[demo] stopped the firmware, the emulator and the broker" in r.stdout
    assert set(children_named(marker)) <= before
