#!/usr/bin/env python3
"""Put the firmware on a board with mpremote.

    python3 tools/deploy.py --port /dev/ttyUSB0 [--config site.json]
    python3 tools/deploy.py --port /dev/ttyUSB0 --files [--config site.json]
    python3 tools/deploy.py --dry-run ...      # print the mpremote commands only

The product's layout (the default): firmware/ and lib/ compiled to .mpy in a
ROMFS image, written to the board's ROMFS partition with `mpremote romfs
deploy`; the bytecode then runs in place from flash and costs no heap. That
needs MicroPython built with ROMFS (MICROPY_VFS_ROM) and the product's
partition table tools/partitions-4MiB-romfs256.csv (a 256 KB romfs
partition: the image is ~135 KB, past the 128 KB of MicroPython's own
partitions-4MiB-romfs.csv); mpremote says "ROMFS is not enabled on this
device" without ROMFS, and an image larger than the partition is refused
here, before anything is written.
--files copies the .mpy files to the board's filesystem instead (stock
firmware; the firmware then needs a larger heap, see the README).

boot.py and main.py always go to the board's root; the site's config only
with --config (a board keeps its own otherwise). In the ROMFS layout, a
firmware/ or lib/ left on the filesystem by an earlier --files deploy is
removed, since the root comes first on sys.path and would shadow the image.
The board is reset at the end, its reset count (safe mode's, see
firmware/bootmode.py) cleared first: a deploy is no boot loop. A config
whose net.kind is "host" (the PC's network) but that needs a network (MQTT,
a Modbus gateway) is refused: on a board nothing would bring one up. The
image is the one tools/host_run.py runs on the host (same build).
"""
import argparse
import os
import shlex
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import host_run  # noqa: E402

ROOT = host_run.ROOT
PARTITIONS = os.path.join(HERE, "partitions-4MiB-romfs256.csv")


def partitions(path=PARTITIONS):
    """{name: (offset, size)} of a partition table CSV (ESP-IDF's format)."""
    out = {}
    with open(path) as f:
        for line in f:
            line = line.split("#")[0].strip()
            if line:
                cols = [c.strip() for c in line.split(",")]
                out[cols[0]] = (int(cols[3], 0), int(cols[4], 0))
    return out

# Run on the board: removes what would shadow the ROMFS image, and the
# reset count of safe mode.
SHADOWS = """import os
def rm(p):
    try:
        st = os.stat(p)
    except OSError:
        return
    if st[0] & 0x4000:
        for e in os.listdir(p):
            rm(p + '/' + e)
        os.rmdir(p)
    else:
        os.remove(p)
for d in ('/firmware', '/lib', '/resets'):     # resets: safe mode's count starts afresh
    rm(d)
"""


def plan(port, work, config=None, files=False):
    """The mpremote command lines, in order (the image or tree built in work)."""
    mp = [host_run.tool("mpremote"), "connect", port]
    shadows = os.path.join(work, "rm_shadows.py")
    with open(shadows, "w") as f:
        f.write(SHADOWS)
    cmds = []
    if files:
        tree = host_run.build_code(os.path.join(work, "tree"))
        cmds.append(mp + ["run", shadows])
        cmds.append(mp + ["cp", "-r", os.path.join(tree, "firmware"), os.path.join(tree, "lib"),
                          ":"])
    else:
        image = os.path.join(work, "romfs.img")
        size = host_run.build_romfs(image, os.path.join(work, "tree"))
        room = partitions()["romfs"][1]
        if size > room:
            sys.exit("deploy: the ROMFS image is %d bytes, the romfs partition of %s %d"
                     % (size, os.path.basename(PARTITIONS), room))
        cmds.append(mp + ["romfs", "deploy", image])
        cmds.append(mp + ["run", shadows])
    cmds.append(mp + ["cp", os.path.join(ROOT, "boot.py"), os.path.join(ROOT, "main.py"), ":"])
    if config:
        cmds.append(mp + ["cp", config, ":config.json"])
    cmds.append(mp + ["reset"])
    return cmds


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--port", default="auto", help="the board's serial port (mpremote's)")
    ap.add_argument("--config", help="this site's config.json, checked first")
    ap.add_argument("--files", action="store_true",
                    help=".mpy files on the filesystem instead of the ROMFS image")
    ap.add_argument("--dry-run", action="store_true", help="print the commands, run none")
    args = ap.parse_args(argv)
    if args.config:
        check_config(args.config)
    work = tempfile.mkdtemp(prefix="deploy-")
    try:
        for cmd in plan(args.port, work, args.config, args.files):
            print("$ " + " ".join(shlex.quote(c) for c in cmd), flush=True)
            if args.dry_run:
                continue
            if subprocess.run(cmd).returncode:
                print("deploy: failed; nothing after this step was done", file=sys.stderr)
                return 1
        return 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


def check_config(path):
    """Refuse a config the firmware would refuse, before it reaches a board."""
    sys.path.insert(0, ROOT)
    from firmware import config
    try:
        cfg = config.load(path)
    except (config.ConfigError, OSError) as e:
        sys.exit("deploy: %s: %s" % (path, e))
    need = network_needs(cfg)
    if cfg["net"]["kind"] == "host" and need:
        sys.exit("deploy: %s: net.kind \"host\" brings no network up on a board, and %s "
                 "would never connect: set net.kind to wlan, lan or ppp (README: On the board)"
                 % (path, ", ".join(need)))


def network_needs(cfg):
    """What in a (validated) config talks over the network."""
    need = ["mqtt"] if cfg["mqtt"]["enabled"] else []
    need += ["buses.%s (%s)" % (n, b["kind"]) for n, b in cfg["buses"].items()
             if b["kind"] != "uart"]
    return need


if __name__ == "__main__":
    sys.exit(main())
