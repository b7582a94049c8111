# The README's first command: one short run tells the main job's story (a
# day and a night off grid: the battery falls, a load is shed, the diesel
# is started by DSE keys and stops for its reason, the load comes back;
# then the grid, off-peak, charging and its input contactor opening once
# PV carries the load), and leaves no broker, emulator or firmware behind.
import os
import re
import subprocess
import sys

from rigs import ROOT

STOP_REASONS = ("reasons_cleared", "charge_taper", "pv_carries", "pv_expected",
                "max_charge_time", "grid_expected")


def session_members(sid):
    # What is left of the demo's session (its own: start_new_session); the
    # other tests' brokers and firmware, run alongside, are in theirs.
    out = subprocess.run(["ps", "-eo", "pid,sid,args"], capture_output=True, text=True).stdout
    return [l for l in out.splitlines()[1:] if l.split()[1] == str(sid)]


def after(out, first, then):
    i = out.find(first)
    return i >= 0 and out.find(then, i) > i


def test_demo_tells_the_main_job_and_cleans_up(micropython):
    # x1440 between the events (the default is x720): ~85 s.
    p = subprocess.Popen([sys.executable, os.path.join(ROOT, "tools", "demo.py"),
                          "--speed", "1440", "--seconds", "150"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         start_new_session=True)
    out, err = p.communicate(timeout=200)
    assert p.returncode == 0, out + err
    site_lines = [l for l in out.splitlines() if re.match(r"^\d\d:\d\d:\d\d PV .*\| CTL ", l)]
    assert len(site_lines) >= 20, out
    for phase in ("day off grid:", "night off grid:", "grid back:", "summary ("):
        assert "[demo] " + phase in out, out
    # The night: the load shed, then the diesel started by its keys for the
    # SOC, warming up, carrying and charging, stopped for a reason, the load back.
    assert after(out, "EVENT load aircon shed (auto)", "EVENT gen standby -> start_delay (soc)"), out
    assert "aircon contactor OPEN" in out, out
    assert after(out, "EVENT gen start_delay -> cranking (soc)", "EVENT gen cranking -> warmup"), out
    assert after(out, "EVENT gen cranking -> warmup", "EVENT gen warmup -> running"), out
    assert any("GEN running" in l and "CTL running(soc)" in l for l in site_lines), out
    m = re.search(r"the diesel carries ([\d.]+) kW: the \d+ W load and \+(\d+) A into the battery",
                  out)
    assert m and float(m.group(1)) > 2 and int(m.group(2)) > 20, out
    m = re.search(r"EVENT gen running -> cooldown \((\w+)\)", out)
    assert m and m.group(1) in STOP_REASONS, out
    assert after(out, "EVENT gen running -> cooldown", "EVENT gen stopping -> standby"), out
    assert "DSE keys the genset received: 35732 (telemetry start), 35733 (cancel telemetry start)" \
        in out, out
    assert "diesel: 1 start(s) by DSE keys (soc)" in out, out
    assert after(out, "EVENT load aircon shed (auto)", "EVENT load aircon restored (auto)"), out
    m = re.search(r"shed (\d+) min of site time", out)
    assert m and int(m.group(1)) > 0, out
    # The grid, off-peak: its charge enable on and the grid meter carrying
    # the charge; then PV carries and the input contactor opens: 0 W.
    assert "rectifier charge enable on" in out, out
    m = re.search(r"off-peak charging: the grid imported up to (\d+) W", out)
    assert m and int(m.group(1)) > 4000, out
    assert "grid input contactor OPEN" in out, out
    assert re.search(r"grid input open: grid meter 0 W", out), out
    # The operator's side got the site.
    assert "[noc] status: online" in out, out
    assert re.search(r"\[noc\] \d+ telemetry records; last: seq \d+", out), out
    assert '[noc] event: {"ts": ' in out and "load aircon shed (auto)" in out
    assert "[demo] stopped the firmware, the emulator and the broker" in out
    # No broker, emulator or firmware left behind.
    assert session_members(p.pid) == []
