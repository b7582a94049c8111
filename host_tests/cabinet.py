# Fixtures' helpers for tests that run the firmware in the unix port against
# the cabinet emulator.
import json
import os
import shutil
import subprocess

import host_run
from conftest import ROOT
from emulator_client import EmulatorClient, start_emulator, stop_emulator

EXAMPLE = os.path.join(ROOT, "tools", "configs", "example.json")


def example_config(**top):
    with open(EXAMPLE) as f:
        cfg = json.load(f)
    cfg.update(top)
    return cfg


class Cabinet:
    """The emulator, its control client and the firmware config pointing at it."""

    def __init__(self, tmp, cfg=None, **emu_opts):
        self.cfg = cfg or example_config()
        self.cfg_path = os.path.join(tmp, "emu-config.json")
        with open(self.cfg_path, "w") as f:
            json.dump(self.cfg, f)
        overrides = {b: 0 for b, bc in self.cfg["buses"].items() if bc["kind"] != "uart"}
        self.proc, self.ready = start_emulator(self.cfg_path, port_overrides=overrides, **emu_opts)
        for b, where in self.ready["buses"].items():
            if "port" in where:
                self.cfg["buses"][b]["port"] = where["port"]
        ctl = self.ready["control"]
        self.emu = EmulatorClient(ctl["host"], ctl["port"])

    def pty(self, bus):
        return self.ready["buses"][bus]["pty"]

    def close(self):
        try:
            self.emu.close()
        finally:
            stop_emulator(self.proc)


class Flash:
    """A laid-out flash folder in which to run the firmware or the harness,
    with the MicroPython binary `micropython` (host_run's default if None)."""

    def __init__(self, path, cfg, romfs=True, micropython=None):
        self.path = str(path)
        self.micropython = micropython
        os.makedirs(self.path, exist_ok=True)
        cfg_file = os.path.join(self.path, "cfg-src.json")
        with open(cfg_file, "w") as f:
            json.dump(cfg, f)
        host_run.layout(cfg_file, self.path, romfs=romfs)
        shutil.copy(os.path.join(ROOT, "host_tests", "mpy_firmware.py"), self.path)

    def set_config(self, cfg):
        with open(os.path.join(self.path, "config.json"), "w") as f:
            json.dump(cfg, f)

    def run_harness(self, cycles, period_ms=0, heap="256k", env=None, timeout=120):
        """Run N ticks of the real App; return (ready, [snap records]).
        These are correctness tests, and the harness's own JSON output needs
        room beside the firmware, so the heap is larger than the board's
        here; the board's heap is measured by tools/bench_heap.py, and the
        main.py path runs at the board's heap in the host_run, demo and generator tests."""
        cmd, e = host_run.command(self.path, heap, "mpy_firmware.py",
                                  micropython=self.micropython)
        e.update(env or {})
        r = subprocess.run(cmd + [str(cycles), str(period_ms)], cwd=self.path, env=e,
                           capture_output=True, text=True, timeout=timeout)
        assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
        ready = None
        snaps = []
        cur = {"snap": {"dev": {}}, "health": {}}
        for line in r.stdout.splitlines():
            tag, _, rest = line.partition(" ")
            if tag == "READY":
                ready = json.loads(rest)
            elif tag == "DEV":
                name, _, js = rest.partition(" ")
                cur["snap"]["dev"][name] = json.loads(js)
            elif tag == "HEALTH":
                name, _, js = rest.partition(" ")
                cur["health"][name] = json.loads(js)
            elif tag == "CYCLE":
                cur.update(json.loads(rest))
            elif tag == "FIELD":
                name, _, js = rest.partition(" ")
                cur["snap"][name] = json.loads(js)
            elif tag == "END":
                snaps.append(cur)
                cur = {"snap": {"dev": {}}, "health": {}}
        assert len(snaps) == cycles, r.stdout[-3000:]
        return ready, snaps
