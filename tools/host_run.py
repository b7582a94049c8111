#!/usr/bin/env python3
"""Run the firmware on the host, in the MicroPython unix port.

Lays out a scratch folder as the board's flash will be (boot.py and main.py
as source, firmware/ and lib/ compiled to .mpy, the config as config.json),
then runs boot.py and main.py there at the board's heap size until SIGINT or
SIGTERM, with this terminal as the board's serial port.

    python3 tools/host_run.py --config tools/configs/example.json
    python3 tools/host_run.py --config CFG --heap 110k --uart 2=/dev/pts/7
    python3 tools/host_run.py --config CFG --files
    python3 tools/host_run.py --config CFG --heap 110k --micropython ../shared/tools/micropython-esp32like

The interpreter is the PyPI unix port in .venv (64-bit, double floats)
unless --micropython PATH or the MICROPYTHON environment variable names
another, e.g. the 32-bit micropython-esp32like (the board's number model,
see the README): its GC blocks are 16 bytes, not 32, and the ROMFS buffer's
cost below is worked out with the chosen binary's block size.

Two layouts, as a board can have them:
- romfs (default; the product's): firmware/ and lib/ in a ROMFS image
  (`mpremote romfs build`: the image tools/deploy.py writes to the board's
  ROMFS partition), mounted at /rom; the bytecode runs in place and costs
  no heap. The board maps that partition from flash; the unix port cannot,
  so the image is read into a buffer allocated first and the heap is made
  larger by exactly what that buffer costs: the rest is the board's --heap.
- --files: the .mpy files on the board's filesystem, as on stock MicroPython
  firmware without a ROMFS partition; an import copies the bytecode into
  the heap (the firmware then needs ~150k: see the README's heap section).

sys.path is the board's, in the board's order, with the host's twin of
the board's C modules before it (host only):

    /twin, /twin/lib, twin    the twin's ROM image (romfs layout), its folder
    ''                        the board's root: boot.py, main.py, config.json
    .frozen                   the firmware image's frozen modules
    /rom, /rom/lib            the ROMFS image (romfs layout)
    lib                       the board's /lib (the files layout's libraries)

On the board sys.path is ['', '.frozen', '/rom', '/rom/lib', '/lib']: its
frozen modules come before /rom and /lib (boot.py may reorder it; it runs
here as on the board). The unix port's own first entry, the folder of the
script it runs, is dropped: the board has none.
"""
import argparse
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VENV_BIN = os.path.join(ROOT, ".venv", "bin")
# The interpreter when neither --micropython nor $MICROPYTHON names one.
DEFAULT_MICROPYTHON = os.path.join(VENV_BIN, "micropython")
TWIN = os.path.join(ROOT, "tools", "board_twin")
RESET_EXIT = 3      # the twin's machine.reset() (tools/board_twin/machine.py)
PWRON_RESET, WDT_RESET, SOFT_RESET = 1, 3, 5    # its reset_cause() values

ROMFS_IMAGE = os.path.join("twin", "romfs.img")   # the board's ROMFS partition
# The twin's own modules (machine) stand in for C modules of the board's
# firmware, which cost it no heap: in the romfs layout they run from a ROM
# image of their own too (host only: tools/deploy.py never ships it).
TWIN_IMAGE = os.path.join("twin", "twin.img")
GC_BLOCK = 32       # bytes in a GC block of the 64-bit unix port (4 words)
# Per block the GC also keeps 2 bits of allocation table and 1 bit of
# finaliser table: a block costs 32 + 3/8 bytes of the heap size (16 + 3/8
# on a 32-bit build: see gc_block()).
GC_TABLE_BITS = 3

# Runs boot.py then main.py as the board does, as __main__ scripts (or the
# script named first on the command line, with the rest as its argv). With
# ROMFS images, mounts the board's at /rom and puts /rom and /rom/lib on
# sys.path after .frozen, as the board's firmware does at start, and the
# twin's at /twin, first on sys.path (the order: see the docstring).
LAUNCHER = """\
import sys
if sys.path[0] != 'twin':
    sys.path.pop(0)     # the unix port's folder of this script
def _rom(img, at, where):
    import os, vfs
    try:
        n = os.stat(img)[6]
    except OSError:
        return
    b = bytearray(n)
    with open(img, 'rb') as f:
        f.readinto(b)
    vfs.mount(vfs.VfsRom(b), at)
    sys.path[where:where] = [at, at + '/lib']
_rom('%s', '/rom', sys.path.index('.frozen') + 1)
_rom('%s', '/twin', 0)
del _rom
_s = ('boot.py', 'main.py')
if len(sys.argv) > 1 and sys.argv[1].endswith('.py'):
    _s = (sys.argv.pop(1),)
for _f in _s:
    exec(open(_f).read(), {'__name__': '__main__'})
""" % (ROMFS_IMAGE, TWIN_IMAGE)


def tool(name):
    path = os.path.join(VENV_BIN, name)
    if not os.path.exists(path):
        sys.exit("host_run: %s missing; run tools/setup.sh first" % path)
    return path


def micropython_path(path=None):
    """The MicroPython binary to run: `path`, else $MICROPYTHON, else the
    PyPI unix port in .venv. Absolute, as it runs from the flash folder."""
    path = path or os.environ.get("MICROPYTHON") or None
    if path is None:
        return tool("micropython")
    if os.sep not in path:
        path = shutil.which(path) or path
    path = os.path.abspath(path)
    if not os.access(path, os.X_OK):
        sys.exit("host_run: no MicroPython binary at %s" % path)
    return path


_WORD = {}


def word_bytes(micropython=None):
    """Bytes in a machine word of that binary: 8 for the 64-bit PyPI unix
    port, 4 for a 32-bit build such as micropython-esp32like (and the
    ESP32). Asked once per binary (its sys.maxsize), then remembered."""
    mp = micropython_path(micropython)
    key = os.path.realpath(mp)
    if key not in _WORD:
        r = subprocess.run([mp, "-c", "import sys; print(sys.maxsize)"], capture_output=True,
                           text=True, timeout=30)
        try:
            maxsize = int(r.stdout.strip())
        except ValueError:
            sys.exit("host_run: %s does not run as MicroPython:\n%s%s"
                     % (mp, r.stdout, r.stderr))
        _WORD[key] = 8 if maxsize > 2 ** 31 - 1 else 4
    return _WORD[key]


def gc_block(micropython=None):
    """Bytes in a GC block of that binary: 4 machine words (32 on the
    64-bit unix port, 16 on a 32-bit build and on the ESP32)."""
    return 4 * word_bytes(micropython)


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
                # The source name the board shows in tracebacks, relative to
                # firmware/ or lib/ ("uplink/link.py"): the stock firmware's
                # files layout interns it into the heap, one name a module.
                name = os.path.join(rel, f).replace("./", "")
                jobs.append([mpy_cross, "-s", name, "-o", out, os.path.join(dirpath, f)])
    for cmd in jobs:
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode:
            sys.exit("host_run: mpy-cross failed on %s:\n%s" % (cmd[-1], r.stderr))
    return len(jobs)


# Library modules the firmware never loads: firmware/hw/umodbus_lean.py
# stands in for umodbus's slave module and its typing classes. Left out,
# the image fits the board's 128 KB ROMFS partition.
NOT_ON_BOARD = ("lib/umodbus/modbus.mpy", "lib/umodbus/typing.mpy")


def build_code(dest_dir):
    """firmware/ and lib/ compiled to .mpy under dest_dir (the tree that goes
    on the board, as files or as a ROMFS image)."""
    if not os.path.isdir(os.path.join(ROOT, "lib", "umodbus")):
        sys.exit("host_run: lib/ is empty; run tools/setup.sh first")
    mpy_cross = tool("mpy-cross")
    for sub in ("firmware", "lib"):
        shutil.rmtree(os.path.join(dest_dir, sub), ignore_errors=True)
        compile_tree(os.path.join(ROOT, sub), os.path.join(dest_dir, sub), mpy_cross)
    for rel in NOT_ON_BOARD:
        os.remove(os.path.join(dest_dir, rel))
    return dest_dir


def build_romfs(image_path, work_dir, code=None):
    """The ROMFS image of firmware/ and lib/ (or of `code`, a folder of
    sources), compiled in work_dir and built by mpremote as `mpremote romfs
    build` does; returns its size."""
    if code is None:
        build_code(work_dir)
    else:
        compile_tree(code, work_dir, tool("mpy-cross"))
    r = subprocess.run([tool("mpremote"), "romfs", "--no-mpy", "-o", image_path, "build",
                        work_dir], capture_output=True, text=True)
    if r.returncode:
        sys.exit("host_run: mpremote romfs build failed:\n%s%s" % (r.stdout, r.stderr))
    return os.path.getsize(image_path)


def layout(config_path, dest, romfs=True):
    """Build the board's flash in dest (and with romfs, its ROMFS partition
    instead of firmware/ and lib/ on the filesystem); returns dest."""
    os.makedirs(dest, exist_ok=True)
    twin = os.path.join(dest, "twin")
    shutil.rmtree(twin, ignore_errors=True)
    shutil.copytree(TWIN, twin)
    if romfs:
        work = tempfile.mkdtemp(prefix="romfs-")
        try:
            build_romfs(os.path.join(dest, ROMFS_IMAGE), os.path.join(work, "board"))
            build_romfs(os.path.join(dest, TWIN_IMAGE), os.path.join(work, "twin"), code=TWIN)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        for sub in ("firmware", "lib"):     # nothing on flash may shadow the ROMFS
            shutil.rmtree(os.path.join(dest, sub), ignore_errors=True)
    else:
        build_code(dest)
    for f in ("boot.py", "main.py"):
        shutil.copy(os.path.join(ROOT, f), os.path.join(dest, f))
    shutil.copy(config_path, os.path.join(dest, "config.json"))
    with open(os.path.join(dest, "_host_boot.py"), "w") as f:
        f.write(LAUNCHER)
    return dest


def heap_bytes(heap):
    """'160k' -> 163840 (the unix port's -X heapsize syntax)."""
    h = heap.strip().lower()
    mult = {"k": 1024, "m": 1024 * 1024}.get(h[-1:], 1)
    return int(h.rstrip("km")) * mult


def romfs_cost(image_size, block=GC_BLOCK):
    """Heap bytes the ROMFS buffer takes in the unix port: the bytearray's
    object and its data, each rounded to whole GC blocks of `block` bytes
    (gc_block() of the binary), with the blocks' share of the GC's tables."""
    blocks = 1 + (image_size + block - 1) // block
    return (blocks * (block * 8 + GC_TABLE_BITS) + 7) // 8


def board_heap(micropython=None):
    """The heap that stands for an ESP32-WROOM's 110 KB in that binary: 110k
    on a 32-bit build (the board's object sizes), 200k on the 64-bit PyPI
    port, whose objects are about twice the board's (measured: the example
    config leaves it 96 KB free at 200k, the 32-bit build 48 KB at 110k)."""
    return "110k" if word_bytes(micropython) == 4 else "200k"


def command(dest, heap=None, script="_host_boot.py", micropython=None):
    """The micropython command line and environment for a laid-out folder,
    run by `micropython` (micropython_path()). With a ROMFS image the heap
    grows by what its buffer costs in that binary, so that the firmware has
    the board's `heap` beside it."""
    mp = micropython_path(micropython)
    heap = heap or board_heap(mp)
    env = dict(os.environ)
    # The twin's machine module first, then the board's path (the docstring):
    # '' is the root; the launcher puts /rom and /rom/lib after .frozen.
    env["MICROPYPATH"] = "twin::.frozen:lib"
    extra = 0
    for image in (ROMFS_IMAGE, TWIN_IMAGE):
        if os.path.exists(os.path.join(dest, image)):
            extra += romfs_cost(os.path.getsize(os.path.join(dest, image)), gc_block(mp))
    size = "heapsize=" + (heap if not extra else str(heap_bytes(heap) + extra))
    cmd = [mp, "-X", size, "_host_boot.py"]
    if script != "_host_boot.py":
        cmd.append(script)
    return cmd, env


class Watchdog:
    """The board's hardware watchdog, outside the board's process as it is
    outside the CPU: the twin's machine.WDT writes its timeout ("T<ms>")
    and then a byte per feed to a FIFO; a feed later than the timeout
    kills the process (host_run then starts it again as after a reset)."""

    def __init__(self, fifo, proc):
        self.proc = proc
        self.fired = False
        self.timeout_ms = None
        self.longest_ms = 0         # the longest gap between two feeds (start-up included)
        self._fd = os.open(fifo, os.O_RDWR | os.O_NONBLOCK)   # never blocks the twin's open
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()

    def _watch(self):
        buf = b""
        last = time.monotonic()
        while not self._stop.is_set() and self.proc.poll() is None:
            r, _, _ = select.select([self._fd], [], [], 0.1)
            if r:
                try:
                    data = os.read(self._fd, 4096)
                except BlockingIOError:
                    data = b""
                if data:
                    t = time.monotonic()
                    if self.timeout_ms and b"." in data:
                        self.longest_ms = max(self.longest_ms, int((t - last) * 1000))
                    last = t
                    buf = (buf + data).lstrip(b".")
                    while buf.startswith(b"T") and b"\n" in buf:
                        line, buf = buf.split(b"\n", 1)
                        self.timeout_ms = int(line[1:])
                        buf = buf.lstrip(b".")
            if self.timeout_ms and (time.monotonic() - last) * 1000 > self.timeout_ms:
                self.fired = True
                self.proc.kill()
                return

    def stop(self):
        self._stop.set()
        self._thread.join(timeout=2)
        os.close(self._fd)


def _terminal_sent_it():
    try:
        return os.tcgetpgrp(sys.stdin.fileno()) == os.getpgrp()
    except OSError:
        return False


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--config", required=True, help="config JSON for the board")
    ap.add_argument("--heap", help="MicroPython heap (default: the board's 110k on a 32-bit build, "
                                   "its 64-bit stand-in 200k on the PyPI port)")
    ap.add_argument("--dir", help="scratch folder for the flash image (default: a temp dir)")
    ap.add_argument("--uart", action="append", default=[], metavar="N=PATH",
                    help="connect the board's UART N to a pty/serial device")
    ap.add_argument("--pins-file", help="append pin changes to this file")
    ap.add_argument("--files", action="store_true",
                    help="firmware/ and lib/ as .mpy files on the filesystem (stock firmware) "
                         "instead of the ROMFS image tools/deploy.py writes")
    ap.add_argument("--romfs", action="store_true", help="the ROMFS image (the default)")
    ap.add_argument("--micropython", metavar="PATH",
                    help="the MicroPython binary (default: $MICROPYTHON, else .venv's PyPI "
                         "unix port), e.g. ../shared/tools/micropython-esp32like")
    args = ap.parse_args(argv)
    mp = micropython_path(args.micropython)

    tmp = None
    dest = args.dir
    if not dest:
        tmp = tempfile.mkdtemp(prefix="flash-")
        dest = tmp
    try:
        layout(args.config, dest, romfs=not args.files)
        cmd, env = command(dest, args.heap, micropython=mp)
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
        fifo = os.path.join(dest, "twin", "wdt.fifo")
        if not os.path.exists(fifo):
            os.mkfifo(fifo)
        env["WDT_FIFO"] = fifo
        env["RESET_CAUSE"] = str(PWRON_RESET)
        while True:
            # A reset (machine.reset(), the console's `reboot`, the
            # watchdog) starts the board again on the same flash.
            state["proc"] = proc = subprocess.Popen(cmd, cwd=dest, env=env)
            dog = Watchdog(fifo, proc)
            while True:
                try:
                    rc = proc.wait()
                    break
                except InterruptedError:
                    continue
            dog.stop()
            if dog.longest_ms:
                print("[host_run] watchdog: longest gap between feeds %d ms (timeout %d ms)"
                      % (dog.longest_ms, dog.timeout_ms), flush=True)
            crashed = rc < 0 and not dog.fired      # killed by a signal: the board's panic
            # An exception out of main.py leaves the board at its REPL, where
            # a watchdog already started still fires.
            at_repl = rc > 0 and rc != RESET_EXIT and dog.timeout_ms and not state["stopping"]
            if state["stopping"] or (rc != RESET_EXIT and not dog.fired and not crashed
                                     and not at_repl):
                return rc
            if at_repl:
                print("[host_run] the board stopped at its REPL: the watchdog resets it in %d ms"
                      % dog.timeout_ms, flush=True)
                time.sleep(dog.timeout_ms / 1000)
                if state["stopping"]:
                    return rc
                env["RESET_CAUSE"] = str(WDT_RESET)
            elif crashed:
                # An ESP32 panic restarts the chip (reset_cause() SOFT_RESET,
                # ports/esp32/modmachine.c maps ESP_RST_PANIC so).
                print("[host_run] board crashed (signal %d): starting again" % -rc, flush=True)
                env["RESET_CAUSE"] = str(SOFT_RESET)
            elif dog.fired:
                print("[host_run] watchdog: no feed for %d ms: board reset" % dog.timeout_ms,
                      flush=True)
                env["RESET_CAUSE"] = str(WDT_RESET)
            else:
                print("[host_run] board reset: starting again", flush=True)
                env["RESET_CAUSE"] = str(SOFT_RESET)
    finally:
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
