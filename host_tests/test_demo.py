# The README's first command: a short run shows site lines and leaves no
# broker, emulator or firmware process behind.
import os
import re
import subprocess
import sys

from rigs import ROOT


def session_members(sid):
    # What is left of the demo's session (its own: start_new_session); the
    # other tests' brokers and firmware, run alongside, are in theirs.
    out = subprocess.run(["ps", "-eo", "pid,sid,args"], capture_output=True, text=True).stdout
    return [l for l in out.splitlines()[1:] if l.split()[1] == str(sid)]


def test_demo_runs_and_cleans_up(micropython):
    p = subprocess.Popen([sys.executable, os.path.join(ROOT, "tools", "demo.py"), "--seconds", "8"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         start_new_session=True)
    out, err = p.communicate(timeout=90)
    r = subprocess.CompletedProcess(p.args, p.returncode, out, err)
    assert r.returncode == 0, r.stdout + r.stderr
    site_lines = [l for l in r.stdout.splitlines() if re.match(r"^\d\d:\d\d:\d\d PV ", l)]
    assert len(site_lines) >= 4, r.stdout
    assert "GRID LOST" in r.stdout and "GRID ok" in r.stdout
    # The operator's side got the site: online, telemetry, the grid's alarm.
    assert "[noc] status: online" in r.stdout, r.stdout
    assert re.search(r"\[noc\] \d+ telemetry records; last: seq \d+", r.stdout), r.stdout
    assert "[demo] stopped the firmware, the emulator and the broker" in r.stdout
    # No broker, emulator or firmware left behind.
    assert session_members(p.pid) == []
