# tools/host_run.py lays out the board's flash and runs it in the unix port,
# with either interpreter: the PyPI binary and the board's number model
# (micropython-esp32like: 16-byte GC blocks, so a ROMFS buffer costs it
# another heap compensation).
import os
import signal
import subprocess
import sys
import time

import host_run
from rigs import ROOT, on_both


def probe(dest, heap, code, micropython):
    """Run `code` in the laid-out flash as host_run runs the firmware there."""
    with open(os.path.join(dest, "probe.py"), "w") as f:
        f.write(code)
    cmd, env = host_run.command(dest, heap, "probe.py", micropython=micropython)
    assert cmd[0] == micropython
    r = subprocess.run(cmd, cwd=dest, env=env, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    return r.stdout.split()


PROBE = """import gc
gc.collect()
free = gc.mem_free()
import firmware.app, sys, struct
from firmware.hw.umodbus_lean import serial_class    # as the firmware imports umodbus
serial_class()
import umodbus.serial
print(firmware.app.__file__, umodbus.serial.__file__, free,
      repr(sys.path).replace(' ', ''), struct.calcsize('P') * 4)
"""
# sys.path in the board's order, ['', '.frozen', '/rom', '/rom/lib', '/lib'],
# after the twin's modules (host only).
ROMFS_PATH = "['/twin','/twin/lib','twin','','.frozen','/rom','/rom/lib','lib']"
FILES_PATH = "['twin','','.frozen','lib']"


@on_both
def test_romfs_layout_is_the_boards_flash_and_heap(tmp_path, micropython):
    dest = str(tmp_path)
    host_run.layout(os.path.join(ROOT, "tools", "configs", "example.json"), dest)
    assert (tmp_path / "boot.py").read_text() == open(os.path.join(ROOT, "boot.py")).read()
    assert (tmp_path / "main.py").exists() and (tmp_path / "config.json").exists()
    image = tmp_path / "twin" / "romfs.img"
    assert image.read_bytes()[:3] == b"\xd2\xcd\x31"          # ROMFS's header
    # Nothing on the filesystem may shadow the image's modules.
    assert not (tmp_path / "firmware").exists() and not (tmp_path / "lib").exists()
    app_file, serial_file, free, path, block = probe(dest, "160k", PROBE, micropython)
    assert app_file == "/rom/firmware/app.mpy"
    assert serial_file == "/rom/lib/umodbus/serial.mpy"
    assert path == ROMFS_PATH
    # The image's buffer is outside the board's heap: what is left is what
    # a 160k heap has free at start (the same probe in the files layout),
    # less the two mounts' objects (the board mounts its /rom too). The
    # buffer's cost is counted in the binary's GC blocks: 4 words, 32 bytes
    # on PyPI's 64-bit build, 16 on esp32like (with 32 there the two would
    # differ by ~1.3 KB).
    assert host_run.gc_block(micropython) == int(block)
    assert int(block) == (16 if micropython.endswith("esp32like") else 32)
    files = tmp_path / "files"
    host_run.layout(os.path.join(ROOT, "tools", "configs", "example.json"), str(files),
                    romfs=False)
    _, _, free_files, path, _ = probe(str(files), "160k", PROBE, micropython)
    assert path == FILES_PATH
    assert abs(int(free) - int(free_files)) <= 1024, (free, free_files)


@on_both
def test_files_layout(tmp_path, micropython):
    host_run.layout(os.path.join(ROOT, "tools", "configs", "example.json"), str(tmp_path),
                    romfs=False)
    assert (tmp_path / "config.json").exists()
    assert (tmp_path / "firmware" / "app.mpy").exists()
    assert (tmp_path / "firmware" / "profiles" / "pace_bms.mpy").exists()
    assert (tmp_path / "lib" / "umodbus" / "serial.mpy").exists()
    assert not list((tmp_path / "firmware").rglob("*.py"))
    assert not (tmp_path / "twin" / "romfs.img").exists()
    app_file, serial_file, _, path, _ = probe(str(tmp_path), "160k", PROBE, micropython)
    # From the board's root ('' on sys.path) and its /lib.
    assert app_file == "firmware/app.mpy"
    assert serial_file == "lib/umodbus/serial.mpy"
    assert path == FILES_PATH


@on_both
def test_bad_config_is_reported_not_run(tmp_path, micropython):
    cfg = tmp_path / "bad.json"
    cfg.write_text('{"site_id": "X", "buses": {}, "devices": []}')
    p = subprocess.Popen([sys.executable, os.path.join(ROOT, "tools", "host_run.py"),
                          "--config", str(cfg), "--micropython", micropython],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        line = ""
        deadline = time.time() + 30
        while "CONFIG ERROR" not in line and time.time() < deadline:
            line = p.stdout.readline()
        assert "CONFIG ERROR: buses: must be an object of named buses" in line
    finally:
        p.send_signal(signal.SIGTERM)
        p.wait(timeout=10)
