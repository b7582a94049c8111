# tools/host_run.py lays out the board's flash and runs it in the unix port.
import os
import signal
import subprocess
import sys
import time

import host_run
from conftest import ROOT


def probe(dest, heap, code):
    """Run `code` in the laid-out flash as host_run runs the firmware there."""
    with open(os.path.join(dest, "probe.py"), "w") as f:
        f.write(code)
    cmd, env = host_run.command(dest, heap, "probe.py")
    r = subprocess.run(cmd, cwd=dest, env=env, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    return r.stdout.split()


PROBE = """import gc
gc.collect()
free = gc.mem_free()
import firmware.app, umodbus.serial
print(firmware.app.__file__, umodbus.serial.__file__, free)
"""


def test_romfs_layout_is_the_boards_flash_and_heap(tmp_path):
    dest = str(tmp_path)
    host_run.layout(os.path.join(ROOT, "tools", "configs", "example.json"), dest)
    assert (tmp_path / "boot.py").read_text() == open(os.path.join(ROOT, "boot.py")).read()
    assert (tmp_path / "main.py").exists() and (tmp_path / "config.json").exists()
    image = tmp_path / "twin" / "romfs.img"
    assert image.read_bytes()[:3] == b"\xd2\xcd\x31"          # ROMFS's header
    # Nothing on the filesystem may shadow the image's modules.
    assert not (tmp_path / "firmware").exists() and not (tmp_path / "lib").exists()
    app_file, serial_file, free = probe(dest, "160k", PROBE)
    assert app_file == "/rom/firmware/app.mpy"
    assert serial_file == "/rom/lib/umodbus/serial.mpy"
    # The image's buffer is outside the board's heap: what is left is what
    # a 160k heap has free at start (the same probe in the files layout),
    # less the two mounts' objects (the board mounts its /rom too).
    files = tmp_path / "files"
    host_run.layout(os.path.join(ROOT, "tools", "configs", "example.json"), str(files),
                    romfs=False)
    _, _, free_files = probe(str(files), "160k", PROBE)
    assert abs(int(free) - int(free_files)) <= 1024, (free, free_files)


def test_files_layout(tmp_path):
    host_run.layout(os.path.join(ROOT, "tools", "configs", "example.json"), str(tmp_path),
                    romfs=False)
    assert (tmp_path / "config.json").exists()
    assert (tmp_path / "firmware" / "app.mpy").exists()
    assert (tmp_path / "firmware" / "profiles" / "pace_bms.mpy").exists()
    assert (tmp_path / "lib" / "umodbus" / "serial.mpy").exists()
    assert not list((tmp_path / "firmware").rglob("*.py"))
    assert not (tmp_path / "twin" / "romfs.img").exists()
    app_file, serial_file, _ = probe(str(tmp_path), "160k", PROBE)
    assert app_file.endswith("/firmware/app.mpy") and not app_file.startswith("/rom")
    assert serial_file.endswith("lib/umodbus/serial.mpy") and not serial_file.startswith("/rom")


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
