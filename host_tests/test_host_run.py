# tools/host_run.py lays out the board's flash and runs it in the unix port.
import os
import signal
import subprocess
import sys
import time

import host_run
from conftest import ROOT


def test_layout_is_the_boards_flash(tmp_path):
    host_run.layout(os.path.join(ROOT, "tools", "configs", "example.json"), str(tmp_path))
    assert (tmp_path / "boot.py").read_text() == open(os.path.join(ROOT, "boot.py")).read()
    assert (tmp_path / "main.py").exists()
    assert (tmp_path / "config.json").exists()
    assert (tmp_path / "firmware" / "app.mpy").exists()
    assert (tmp_path / "firmware" / "profiles" / "pace_bms.mpy").exists()
    assert (tmp_path / "lib" / "umodbus" / "serial.mpy").exists()
    assert not list((tmp_path / "firmware").rglob("*.py"))


def test_bad_config_is_reported_not_run(tmp_path):
    cfg = tmp_path / "bad.json"
    cfg.write_text('{"site_id": "X", "buses": {}, "devices": []}')
    p = subprocess.Popen([sys.executable, os.path.join(ROOT, "tools", "host_run.py"),
                          "--config", str(cfg)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         text=True)
    try:
        line = ""
        deadline = time.time() + 30
        while "CONFIG ERROR" not in line and time.time() < deadline:
            line = p.stdout.readline()
        assert "CONFIG ERROR: buses: must be an object of named buses" in line
    finally:
        p.send_signal(signal.SIGTERM)
        p.wait(timeout=10)
