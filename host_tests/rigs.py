# The rigs the host tests (and tools/bench_outages.py) run the firmware in:
# the MicroPython interpreters, the example config, the cabinet emulator, a
# laid-out flash, the firmware under tools/host_run.py, the MQTT site with
# its operator, a local NTP server. Test modules import these from here and
# never from each other; pytest's fixtures stay in conftest.py.
import json
import os
import queue
import select
import shutil
import signal
import socket
import struct
import subprocess
import sys
import threading
import time

import paho.mqtt.client as mqtt
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
for _p in (ROOT, os.path.join(ROOT, "tools")):
    if _p not in sys.path:
        sys.path.insert(0, _p)

import host_run  # noqa: E402
from broker import Broker  # noqa: E402
from emulator_client import EmulatorClient, start_emulator, stop_emulator  # noqa: E402
from firmware.uplink import commands  # noqa: E402


# -- the interpreters ----------------------------------------------------------

# The MicroPython interpreters the tests run. "pypi": the unix port from
# PyPI (.venv, tools/setup.sh): 64-bit, double floats, ssl. "esp32like":
# the board's number model (README, "The board's number model"): the unix
# port built 32-bit with single floats, small ints up to 2**30, ticks
# wrapping at 2**30 ms, 16-byte GC blocks, no ssl; CI has shared/ beside
# the repo clone.
MICROPYTHON = os.path.join(ROOT, ".venv", "bin", "micropython")
ESP32LIKE = os.path.normpath(os.path.join(ROOT, "..", "shared", "tools",
                                          "micropython-esp32like"))
INTERPRETERS = {"pypi": MICROPYTHON, "esp32like": ESP32LIKE}


# Runs a test under both interpreters: ids ...[pypi] and ...[esp32like].
on_both = pytest.mark.parametrize("micropython", ["pypi", "esp32like"], indirect=True)


# The 64-bit PyPI binary's stand-in for the board's 110k: its objects are
# about twice the board's, and measured with the example config 200k leaves
# it twice the bytes the 32-bit build has free at 110k (96 KB against 48 KB,
# MQTT off). The board's own heap is tested on esp32like at 110k.
PYPI_BOARD_HEAP = "200k"


def board_heap(micropython):
    """The heap that stands for an ESP32-WROOM's in that binary: 110k in
    the 32-bit esp32like (the board's own object sizes), PYPI_BOARD_HEAP in
    the 64-bit PyPI binary (its objects are bigger)."""
    return "110k" if micropython == INTERPRETERS["esp32like"] else PYPI_BOARD_HEAP


def run_mpy_result(micropython, script, timeout=300):
    """Run a MicroPython-side test script from the repo root; it must exit
    0 and print exactly one 'RESULT <json>' line, which is returned."""
    r = subprocess.run([micropython, script], cwd=ROOT, capture_output=True, text=True,
                       timeout=timeout)
    out = r.stdout + r.stderr
    assert r.returncode == 0, out
    lines = [l for l in r.stdout.splitlines() if l.startswith("RESULT ")]
    assert len(lines) == 1, out
    return json.loads(lines[0][len("RESULT "):])


# -- the cabinet: the example config, the emulator, a flash ------------------

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
            elif tag == "ALARMS":
                cur["alarms"] = json.loads(rest)
            elif tag == "FIELD":
                name, _, js = rest.partition(" ")
                cur["snap"][name] = json.loads(js)
            elif tag == "END":
                snaps.append(cur)
                cur = {"snap": {"dev": {}}, "health": {}}
        assert len(snaps) == cycles, r.stdout[-3000:]
        return ready, snaps


# -- the firmware under tools/host_run.py -------------------------------------

# The generator settings of the end-to-end tests: a start and a stop in
# seconds; EMU_GEN shortens the emulated genset's sequence to match.
GEN = {"start_soc": 30, "stop_soc": 90, "start_delay_s": 3, "min_run_s": 8, "warmup_s": 2,
       "cooldown_s": 3, "stop_timeout_s": 30, "exercise_days": 0, "pv_stop_s": 0,
       "stop_taper_c": 0, "max_charge_s": 0}
EMU_GEN = {"gen_start_delay_s": 1, "gen_crank_fire_s": 1, "gen_warm_s": 1, "gen_cool_s": 2}


class Firmware:
    """tools/host_run.py in the background, its lines in a queue."""

    # As the board runs: its heap, the code in a ROMFS image.
    HEAP = PYPI_BOARD_HEAP

    def __init__(self, tmp, cfg, pins_file=None, flash=None, heap=None, files=False,
                 micropython=None):
        path = os.path.join(tmp, "fw-config.json")
        with open(path, "w") as f:
            json.dump(cfg, f)
        cmd = [sys.executable, os.path.join(ROOT, "tools", "host_run.py"), "--config", path,
               "--dir", flash or os.path.join(tmp, "flash"), "--heap", heap or self.HEAP]
        if files:
            cmd.append("--files")
        if micropython:
            cmd += ["--micropython", micropython]
        if pins_file:
            cmd += ["--pins-file", pins_file]
        # Its own process group, so that kill() takes the firmware with it.
        self.p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                  start_new_session=True)
        self.lines = []
        self.stamps = []        # the host's time.time() of each line in .lines
        self.q = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.p.stdout:
            self.stamps.append(time.time())
            self.lines.append(line.rstrip("\n"))
            self.q.put(line.rstrip("\n"))

    def wait_for(self, text, timeout):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if any(text in l for l in self.lines):
                return True
            time.sleep(0.1)
        return False

    def kill(self):
        """A power cut: host_run and the firmware die at once, nothing saved."""
        os.killpg(self.p.pid, signal.SIGKILL)
        self.p.wait(timeout=10)

    def stop(self):
        if self.p.poll() is not None:
            return
        self.p.send_signal(signal.SIGTERM)
        try:
            self.p.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.p.kill()


def fw_config(cab, **gen):
    """The cabinet's config, polled every 0.5 s, with GEN's generator
    settings (`gen` overrides them)."""
    cfg = json.loads(json.dumps(cab.cfg))
    cfg["poll_s"] = 0.5
    g = dict(GEN)
    g.update(gen)
    cfg["generator"] = g
    return cfg


def board_pid(host_run_pid):
    # host_run's child: the MicroPython process that is the board.
    with open("/proc/%d/task/%d/children" % (host_run_pid, host_run_pid)) as f:
        kids = f.read().split()
    assert len(kids) == 1, kids
    return int(kids[0])


# -- MQTT: the operator and the site ------------------------------------------

KEY = "bts-0042-key"       # the site's mqtt.cmd_key


class Operator:
    """The operator's MQTT client (paho): subscribed to the site's topics,
    everything it receives in .q; signed commands with their results."""

    def __init__(self, port):
        self.q = queue.Queue()
        self.c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="noc-e2e",
                             clean_session=False)
        self.c.on_message = lambda c, u, m: self.q.put((m.topic, m.payload.decode()))
        # (Re)subscribe on every connect: a broker restarted without
        # persistence has forgotten the subscription.
        self.c.on_connect = lambda c, u, f, rc, p: c.subscribe("sites/BTS-0042/#", qos=1)
        self.c.connect("127.0.0.1", port, keepalive=60)
        self.c.loop_start()
        self.all = []

    def take(self, topic, cond=lambda p: True, timeout=20):
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                t, p = self.q.get(timeout=0.1)
            except queue.Empty:
                continue
            self.all.append((t, p))
            if t == topic and cond(p):
                return p
        raise AssertionError("no %s; last: %r" % (topic, self.all[-8:]))

    def command(self, cmd, args=None, key=KEY, id=None, ts=None):
        cid = id or "c%d" % int(time.time() * 1000)
        ts = int(time.time()) if ts is None else ts
        self.c.publish("sites/BTS-0042/cmd", commands.envelope(key, cmd, args, cid, ts), qos=1)
        return json.loads(self.take("sites/BTS-0042/cmd/result",
                                    lambda p: json.loads(p).get("id") == cid or
                                    json.loads(p).get("id") is None))

    def stop(self):
        self.c.loop_stop()
        self.c.disconnect()


def mqtt_config(cab, broker):
    """fw_config() with the MQTT link on, to `broker`: a telemetry record a
    second, every broker operation bounded at 1 s."""
    cfg = fw_config(cab)
    cfg["mqtt"] = {"enabled": True, "host": "127.0.0.1", "port": broker.port,
                   "prefix": "sites", "cmd_key": KEY, "telemetry_s": 1, "timeout_s": 1,
                   "keepalive_s": 30}
    return cfg


class MqttSite:
    """What an MQTT end-to-end test runs against: a real mosquitto, the
    emulated cabinet, the operator's client and, once started, the firmware
    with the link on (mqtt_config() above, editable in .cfg before start)."""

    def __init__(self, tmp, start_hour=12.0, micropython=None, **emu):
        self.tmp = str(tmp)
        self.micropython = micropython
        self.fw = None
        self.broker = Broker()
        self.cab = Cabinet(self.tmp, speed=1, start_hour=start_hour, seed=1, **emu)
        self.op = Operator(self.broker.port)
        self.cfg = mqtt_config(self.cab, self.broker)

    def start(self, flash=None):
        """The firmware (again, after a kill(), on the same flash)."""
        self.fw = Firmware(self.tmp, self.cfg, flash=flash, micropython=self.micropython,
                           heap=board_heap(self.micropython) if self.micropython else None)
        return self.fw

    def close(self):
        try:
            if self.fw:
                self.fw.stop()
            self.op.stop()
            self.cab.close()
        finally:
            self.broker.stop()


def retained(port, topic, timeout=10):
    """What a client that connects now gets on `topic` (retained only)."""
    got = []
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="late-%d" % time.time_ns())
    c.on_message = lambda cl, u, m: got.append((m.topic, m.payload.decode(), m.retain))
    c.on_connect = lambda cl, u, f, rc, p: cl.subscribe(topic, qos=1)
    c.connect("127.0.0.1", port)
    c.loop_start()
    deadline = time.time() + timeout
    while time.time() < deadline and not got:
        time.sleep(0.1)
    c.loop_stop()
    c.disconnect()
    return got


def drain(op, secs):
    """What the operator receives in the next `secs` seconds, onto op.all."""
    end = time.time() + secs
    while time.time() < end:
        try:
            op.all.append(op.q.get(timeout=0.2))
        except queue.Empty:
            pass


def seqs(op, since=0):
    """The telemetry records' seqs in op.all, from index `since` on."""
    return [json.loads(p)["seq"] for t, p in op.all[since:] if t.endswith("/telemetry")]


# -- an NTP server ------------------------------------------------------------

NTP_UNIX = 2208988800


class NtpServer:
    """UDP NTP on 127.0.0.1 serving the PC's time + offset_s. mode: 'answer',
    'silent', 'kod' (stratum 0, RATE), 'unsync' (leap 3), 'wrong_origin'."""

    def __init__(self, offset_s=0, mode="answer"):
        self.offset = offset_s
        self.mode = mode
        self.requests = 0
        self.s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.s.bind(("127.0.0.1", 0))
        self.port = self.s.getsockname()[1]
        self.stopped = False
        self.t = threading.Thread(target=self._run, daemon=True)
        self.t.start()

    @staticmethod
    def stamp(t):
        secs = int(t)
        return struct.pack(">II", (secs + NTP_UNIX) % 2 ** 32, int((t - secs) * 2 ** 32))

    def _run(self):
        while not self.stopped:
            if not select.select([self.s], [], [], 0.05)[0]:
                continue
            q, peer = self.s.recvfrom(512)
            self.requests += 1
            if self.mode == "silent" or len(q) < 48 or q[0] & 7 != 3:
                continue
            t = time.time() + self.offset
            leap, stratum, refid = 0, 2, b"\x7f\x00\x00\x01"
            if self.mode == "kod":
                leap, stratum, refid = 3, 0, b"RATE"
            elif self.mode == "unsync":
                leap = 3
            origin = q[40:48] if self.mode != "wrong_origin" else bytes(8)
            r = (bytes([leap << 6 | 4 << 3 | 4, stratum, 6, 0xEC]) + bytes(8) + refid +
                 self.stamp(t - 10) + origin + self.stamp(t) + self.stamp(t))
            self.s.sendto(r, peer)

    def close(self):
        self.stopped = True
        self.t.join()
        self.s.close()
