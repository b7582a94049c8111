# tools/deploy.py: the mpremote steps that put the firmware on a board, and
# the ROMFS image they write, run here as the board would mount it.
import json
import os
import subprocess
import sys

import deploy
from rigs import ROOT, on_both

EXAMPLE = os.path.join(ROOT, "tools", "configs", "example.json")


@on_both
def test_romfs_deploy_steps_and_image(tmp_path, micropython):
    cmds = deploy.plan("/dev/ttyUSB0", str(tmp_path), config=EXAMPLE)
    steps = [c[3:] for c in cmds]
    assert all(c[1:3] == ["connect", "/dev/ttyUSB0"] for c in cmds)
    image = str(tmp_path / "romfs.img")
    assert steps[0] == ["romfs", "deploy", image]
    assert steps[1] == ["run", str(tmp_path / "rm_shadows.py")]
    assert "'/firmware', '/lib'" in (tmp_path / "rm_shadows.py").read_text()
    assert steps[2] == ["cp", os.path.join(ROOT, "boot.py"), os.path.join(ROOT, "main.py"), ":"]
    assert steps[3] == ["cp", EXAMPLE, ":config.json"]
    assert steps[4] == ["reset"]
    # The image mounts as the board mounts its ROMFS partition, and the
    # firmware imports from it.
    probe = tmp_path / "probe.py"
    probe.write_text(
        "import vfs, sys\n"
        "f = open(%r, 'rb'); img = f.read(); f.close()\n"
        "vfs.mount(vfs.VfsRom(img), '/rom')\n"
        "sys.path[:0] = ['/rom', '/rom/lib']\n"
        "import firmware.app, umqtt.simple\n"
        "print(firmware.app.__file__, umqtt.simple.__file__, firmware.app.VERSION)\n" % image)
    r = subprocess.run([micropython, str(probe)], capture_output=True,
                       text=True, timeout=60, env=dict(os.environ, MICROPYPATH=""))
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.split()[:2] == ["/rom/firmware/app.mpy", "/rom/lib/umqtt/simple.mpy"]
    # It fits the romfs partition of the product's 4 MiB table.
    assert os.path.getsize(image) <= deploy.partitions()["romfs"][1]


def test_the_partition_table_fits_a_4mib_flash_without_overlaps():
    # tools/partitions-4MiB-romfs256.csv: MicroPython's own 4 MiB ROMFS
    # table (ports/esp32/partitions-4MiB-romfs.csv, v1.25.0: nvs 0x9000,
    # phy_init 0xf000, factory 0x10000 of 0x1D0000, romfs 0x1E0000, vfs
    # 0x200000) with the romfs partition at 256 KB, the filesystem after it.
    parts = sorted(deploy.partitions().values())
    for (a, n), (b, _) in zip(parts, parts[1:]):
        assert a + n <= b
    assert parts[-1][0] + parts[-1][1] <= 4 * 1024 * 1024
    p = deploy.partitions()
    assert p["factory"] == (0x10000, 0x1D0000)         # the app is as MicroPython's
    assert p["romfs"] == (0x1E0000, 256 * 1024)
    assert p["vfs"][1] >= 1792 * 1024                  # the 1.75 MB bench_flash.py counts on


def test_files_deploy_and_no_config(tmp_path):
    cmds = deploy.plan("auto", str(tmp_path), files=True)
    steps = [c[3:] for c in cmds]
    tree = str(tmp_path / "tree")
    assert steps[0][0] == "run"
    assert steps[1] == ["cp", "-r", os.path.join(tree, "firmware"), os.path.join(tree, "lib"), ":"]
    assert os.path.exists(os.path.join(tree, "firmware", "app.mpy"))
    assert [s[0] for s in steps[2:]] == ["cp", "reset"]      # the board keeps its config


def test_dry_run_prints_and_a_bad_config_never_reaches_the_board(tmp_path):
    tool = os.path.join(ROOT, "tools", "deploy.py")
    r = subprocess.run([sys.executable, tool, "--dry-run", "--port", "/dev/ttyACM0"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert len(lines) == 4 and all(l.startswith("$ ") and "/dev/ttyACM0" in l for l in lines)
    assert " romfs deploy " in lines[0] and lines[-1].endswith(" reset")
    bad = tmp_path / "bad.json"
    cfg = json.load(open(EXAMPLE))
    cfg["poll_s"] = "often"
    bad.write_text(json.dumps(cfg))
    r = subprocess.run([sys.executable, tool, "--dry-run", "--config", str(bad)],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode != 0 and "poll_s" in r.stderr and "$ " not in r.stdout


def test_a_config_that_needs_a_network_it_never_brings_up_is_refused(tmp_path):
    # net.kind "host" is the PC's network: on a board nothing would bring
    # one up, and MQTT and the Modbus gateway would never connect.
    tool = os.path.join(ROOT, "tools", "deploy.py")
    cfg = json.load(open(EXAMPLE))
    cfg["mqtt"]["enabled"] = True
    path = tmp_path / "site.json"
    path.write_text(json.dumps(cfg))
    r = subprocess.run([sys.executable, tool, "--dry-run", "--config", str(path)],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode != 0 and "$ " not in r.stdout
    assert 'net.kind "host" brings no network up on a board, and mqtt, buses.gw (rtu_tcp)' \
        in r.stderr, r.stderr
    # The board example brings its WLAN up: it goes, with boot.py's safe-mode check
    # and the reset count cleared.
    board = os.path.join(ROOT, "tools", "configs", "board.json")
    r = subprocess.run([sys.executable, tool, "--dry-run", "--config", board],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert any(l.endswith(":config.json") and "board.json" in l for l in r.stdout.splitlines())
    assert any("boot.py" in l for l in r.stdout.splitlines())
    assert "bootmode" in open(os.path.join(ROOT, "boot.py")).read()
    assert "'/resets'" in open(tool).read()
