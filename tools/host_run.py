#!/usr/bin/env python3
"""Run the firmware on the host, in the MicroPython unix port.

Lays out a scratch folder as the board's flash will be (boot.py and main.py
as source, firmware/ and lib/ compiled to .mpy, the config as config.json),
then runs boot.py and main.py there at the board's heap size until SIGINT or
SIGTERM, with this terminal as the board's serial port.

    python3 tools/host_run.py --config tools/configs/example.json
    python3 tools/host_run.py --config CFG --heap 110k --uart 2=/dev/pts/7
"""
import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VENV_BIN = os.path.join(ROOT, ".venv", "bin")
TWIN = os.path.join(ROOT, "tools", "board_twin")
RESET_EXIT = 3      # the twin's machine.reset() (tools/board_twin/machine.py)

# Runs boot.py then main.py as the board does, as __main__ scripts.
LAUNCHER = """\
for _f in ('boot.py', 'main.py'):
    exec(open(_f).read(), {'__name__': '__main__'})
"""


def tool(name):
    path = os.path.join(VENV_BIN, name)
    if not os.path.exists(path):
        sys.exit("host_run: %s missing; run tools/setup.sh first" % path)
    return path


def compile_tree(src, dst, mpy_cross):
    """Compile every .py under src to .mpy under dst (same layout)."""
    jobs = []
    for dirpath, _dirs, files in os.walk(src):
        if "__pycache__" in dirpath:
            continue
        rel = os.path.relpath(dirpath, src)
        out_dir = os.path.normpath(os.path.join(dst, rel))
        os.makedirs(out_dir, exist_ok=True)
        for f in files:
            if f.endswith(".py"):
                out = os.path.join(out_dir, f[:-3] + ".mpy")
                # The source name the board will show in tracebacks.
                name = os.path.join(os.path.basename(src), rel, f).replace("./", "")
                jobs.append([mpy_cross, "-s", name, "-o", out, os.path.join(dirpath, f)])
    for cmd in jobs:
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode:
            sys.exit("host_run: mpy-cross failed on %s:\n%s" % (cmd[-1], r.stderr))
    return len(jobs)


def layout(config_path, dest):
    """Build the board's flash image in dest; returns dest."""
    if not os.path.isdir(os.path.join(ROOT, "lib", "umodbus")):
        sys.exit("host_run: lib/ is empty; run tools/setup.sh first")
    mpy_cross = tool("mpy-cross")
    for sub in ("firmware", "lib"):
        shutil.rmtree(os.path.join(dest, sub), ignore_errors=True)
    os.makedirs(dest, exist_ok=True)
    for f in ("boot.py", "main.py"):
        shutil.copy(os.path.join(ROOT, f), os.path.join(dest, f))
    compile_tree(os.path.join(ROOT, "firmware"), os.path.join(dest, "firmware"), mpy_cross)
    compile_tree(os.path.join(ROOT, "lib"), os.path.join(dest, "lib"), mpy_cross)
    shutil.copy(config_path, os.path.join(dest, "config.json"))
    twin = os.path.join(dest, "twin")
    shutil.rmtree(twin, ignore_errors=True)
    shutil.copytree(TWIN, twin)
    with open(os.path.join(dest, "_host_boot.py"), "w") as f:
        f.write(LAUNCHER)
    return dest


def command(dest, heap="160k", script="_host_boot.py"):
    """The micropython command line and environment for a laid-out folder."""
    env = dict(os.environ)
    # The twin's machine module first, then the board's root and /lib.
    env["MICROPYPATH"] = "twin:.:lib:.frozen"
    return [tool("micropython"), "-X", "heapsize=" + heap, script], env


def _terminal_sent_it():
    try:
        return os.tcgetpgrp(sys.stdin.fileno()) == os.getpgrp()
    except OSError:
        return False


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--config", required=True, help="config JSON for the board")
    ap.add_argument("--heap", default="160k", help="MicroPython heap (default 160k; 110k = strict)")
    ap.add_argument("--dir", help="scratch folder for the flash image (default: a temp dir)")
    ap.add_argument("--uart", action="append", default=[], metavar="N=PATH",
                    help="connect the board's UART N to a pty/serial device")
    ap.add_argument("--pins-file", help="append pin changes to this file")
    args = ap.parse_args(argv)

    tmp = None
    dest = args.dir
    if not dest:
        tmp = tempfile.mkdtemp(prefix="flash-")
        dest = tmp
    try:
        layout(args.config, dest)
        cmd, env = command(dest, args.heap)
        for u in args.uart:
            n, _, path = u.partition("=")
            env["UART" + n] = path
        if args.pins_file:
            env["PINS_FILE"] = os.path.abspath(args.pins_file)
        state = {"proc": None, "stopping": False}

        def forward(signum, _frame):
            # The firmware ends cleanly on KeyboardInterrupt, as on Ctrl-C
            # at the board's REPL. A Ctrl-C typed at our terminal reached
            # the firmware already (same process group): a second one
            # would cut short its saving the state.
            state["stopping"] = True
            proc = state["proc"]
            if signum == signal.SIGINT and _terminal_sent_it():
                return
            if proc is not None and proc.poll() is None:
                proc.send_signal(signal.SIGINT)

        signal.signal(signal.SIGTERM, forward)
        signal.signal(signal.SIGINT, forward)
        while True:
            # A reset (machine.reset(), the console's `reboot`) starts the
            # board again on the same flash, as the board would.
            state["proc"] = proc = subprocess.Popen(cmd, cwd=dest, env=env)
            while True:
                try:
                    rc = proc.wait()
                    break
                except InterruptedError:
                    continue
            if rc != RESET_EXIT or state["stopping"]:
                return rc
            print("[host_run] board reset: starting again", flush=True)
    finally:
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
