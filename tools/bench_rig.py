"""The rig the benchmarks share (tools/bench_*.py): the cabinet emulator and a
flash layout of the firmware, MicroPython-side scripts (tools/bench/) run in
it, and the tail of every bench's main(): its common options, the run, and
its result as a table or as one JSON object.

A bench is no test: it prints "ok" / "MISSED" next to each goal (goal())
and exits non-zero only when the run itself failed (BenchError)."""
import json
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
for _p in (HERE, ROOT):
    if _p not in sys.path:
        sys.path.insert(0, _p)

import host_run  # noqa: E402
from emulator_client import EmulatorClient, start_emulator, stop_emulator  # noqa: E402

EXAMPLE = os.path.join(HERE, "configs", "example.json")
BENCH_MP = os.path.join(HERE, "bench")
ROOMY = ("256k", "512k")     # where to measure when the asked heap runs out
MICROPYTHON_HELP = ("MicroPython binary (default: $MICROPYTHON, else .venv's PyPI unix port), "
                    "e.g. ../shared/tools/micropython-esp32like")


def goal(ok):
    """What a bench prints next to a goal it met, or missed."""
    return "ok" if ok else "MISSED"


class BenchError(RuntimeError):
    """The run itself failed (a script crashed, a device never answered)."""


class Rig:
    """A temp dir holding the cabinet emulator (on free ports) and a flash
    layout whose config.json points the gw bus at it, run by the MicroPython
    binary `micropython` (host_run.micropython_path()). Close it to stop the
    emulator and remove the temp dir."""

    def __init__(self, baud_pace=None, speed=0, start_hour=12.0, seed=1, fw_baud=None,
                 romfs=True, micropython=None):
        self.micropython = host_run.micropython_path(micropython)
        self.word = host_run.word_bytes(self.micropython)
        self.tmp = tempfile.mkdtemp(prefix="bench-")
        self._compiled = set()
        self.proc = None
        self.emu = None
        try:
            with open(EXAMPLE) as f:
                self.cfg = json.load(f)
            emu_cfg = os.path.join(self.tmp, "emu-config.json")
            with open(emu_cfg, "w") as f:
                json.dump(self.cfg, f)
            self.proc, self.ready = start_emulator(
                emu_cfg, port_overrides={"gw": 0}, speed=speed, start_hour=start_hour,
                seed=seed, baud_pace=baud_pace)
            gw = self.cfg["buses"]["gw"]
            gw["port"] = self.ready["buses"]["gw"]["port"]
            if fw_baud:
                gw["baud"] = fw_baud
            ctl = self.ready["control"]
            self.emu = EmulatorClient(ctl["host"], ctl["port"])
            self.flash = os.path.join(self.tmp, "flash")
            fw_cfg = os.path.join(self.tmp, "fw-config.json")
            with open(fw_cfg, "w") as f:
                json.dump(self.cfg, f)
            host_run.layout(fw_cfg, self.flash, romfs=romfs)
            self.romfs = romfs
        except BaseException:
            self.close()
            raise

    def write_link_config(self, broker_port, name="config-link.json"):
        """A second config in the flash: this one with the MQTT link on, to
        the broker on broker_port."""
        cfg = json.loads(json.dumps(self.cfg))
        cfg["mqtt"].update(enabled=True, host="127.0.0.1", port=broker_port, timeout_s=2)
        with open(os.path.join(self.flash, name), "w") as f:
            json.dump(cfg, f)

    def run(self, script, args=(), heap="160k", timeout=150, check=True, env=None):
        """Run tools/bench/<script> in the flash at `heap`; returns its stdout
        lines (and, with check=False, (returncode, stdout, stderr) instead of
        raising BenchError when it fails).

        The script goes in compiled to .mpy like the firmware (as module
        _bench_<name>, started by a one-line stub <name>.py), so that its
        own code costs the heap as little as it can."""
        name = script[:-3] if script.endswith(".py") else script
        mod = "_bench_" + name
        stub = name + ".py"
        if name not in self._compiled:
            src = os.path.join(BENCH_MP, name + ".py")
            r = subprocess.run([host_run.tool("mpy-cross"), "-s", "tools/bench/%s.py" % name,
                                "-o", os.path.join(self.flash, mod + ".mpy"), src],
                               capture_output=True, text=True)
            if r.returncode:
                raise BenchError("mpy-cross failed on %s:\n%s" % (src, r.stderr))
            with open(os.path.join(self.flash, stub), "w") as f:
                f.write("import %s\n" % mod)
            self._compiled.add(name)
        cmd, run_env = host_run.command(self.flash, heap, stub, micropython=self.micropython)
        run_env.update(env or {})
        cmd = cmd + [str(a) for a in args]
        try:
            r = subprocess.run(cmd, cwd=self.flash, env=run_env, capture_output=True,
                               text=True, timeout=timeout)
        except subprocess.TimeoutExpired as e:   # run() has killed it
            out = e.stdout or b""
            if isinstance(out, bytes):
                out = out.decode(errors="replace")
            raise BenchError("%s timed out after %ss; output:\n%s" % (
                script, timeout, out[-2000:]))
        if not check:
            return r.returncode, r.stdout.splitlines(), r.stderr
        if r.returncode:
            raise BenchError("%s %s %s at %s exited %d:\n%s\n%s" % (
                script, " ".join(cmd[4:]), env or "", heap, r.returncode,
                r.stdout[-3000:], r.stderr[-3000:]))
        return r.stdout.splitlines()

    def run_roomy(self, script, args, heap, timeout, done=None, before=None):
        """run() at `heap`, then at each roomier heap (ROOMY) while the
        script runs out of memory; `done(lines)` says whether a run that
        exited 0 finished, before() goes ahead of each attempt. Returns
        (stdout lines, the heap it ran in, None when that is `heap`, else
        where the first MemoryError was raised: a traceback's last "File"
        line, or "")."""
        where = None
        heaps = (heap,) + tuple(h for h in ROOMY if h != heap)
        for h in heaps:
            if before:
                before()
            rc, lines, err = self.run(script, args, heap=h, timeout=timeout, check=False)
            if rc == 0 and (done is None or done(lines)):
                return lines, h, where
            text = "\n".join(lines[-10:]) + "\n" + err
            if "MemoryError" not in text:
                raise BenchError("%s %s at %s exited %d:\n%s" % (script, args, h, rc,
                                                               text[-3000:]))
            if where is None:
                files = [x.strip() for x in (lines + err.splitlines()) if x.startswith("  File ")]
                where = files[-1] if files else ""
        raise BenchError("%s %s: MemoryError even at %s" % (script, args, heaps[-1]))

    def close(self):
        try:
            if self.emu is not None:
                self.emu.close()
        finally:
            self.emu = None
            if self.proc is not None:
                stop_emulator(self.proc)
                self.proc = None
            shutil.rmtree(self.tmp, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def add_options(ap, json_output=True):
    """The options every bench has: --micropython, and --json where the
    bench can print its result as one JSON object."""
    ap.add_argument("--micropython", metavar="PATH", help=MICROPYTHON_HELP)
    if json_output:
        ap.add_argument("--json", action="store_true", help="print one JSON object instead")


def report(name, run, print_table, as_json, failures=(BenchError, RuntimeError)):
    """The tail of a bench's main(): run() and print its result, as one JSON
    object or with print_table(result); exit status 2, with the reason on
    stderr, when the run raises one of `failures`, else 0."""
    try:
        r = run()
    except failures as e:
        print("%s: %s" % (name, e), file=sys.stderr)
        return 2
    if as_json:
        print(json.dumps(r))
    else:
        print_table(r)
    return 0
