#!/usr/bin/env python3
"""The product's main job on the host: the firmware in the MicroPython unix
port reads an emulated PV-storage-diesel cabinet over Modbus RTU, decides,
and reports to a local MQTT broker; this prints what it reads and decides
each cycle, and what the operator's side receives.

Starts mosquitto on a free port, the cabinet emulator (dawn to evening in one
minute of compressed time, with a grid failure in the middle), and the
firmware through tools/host_run.py (its ROMFS layout, the board's heap);
a paho-mqtt client stands for the operator and prints a [noc] line for each
event and, every 10 s, the latest telemetry. Stops everything it started at
the end or on Ctrl-C.

    python3 tools/demo.py [--seconds 60] [--speed 720] [--heap 200k]
"""
import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)

import paho.mqtt.client as mqtt  # noqa: E402

from broker import Broker  # noqa: E402
from emulator_client import EmulatorClient, start_emulator, stop_emulator  # noqa: E402

EXAMPLE = os.path.join(HERE, "configs", "example.json")


def say(msg):
    print("[demo] " + msg, flush=True)


class Noc:
    """The operator's side: what the broker received from the site."""

    def __init__(self, port, prefix, site):
        self.base = "%s/%s/" % (prefix, site)
        self.last = None
        self.n = 0
        self.c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="demo-noc")
        self.c.on_message = self._msg
        self.c.connect("127.0.0.1", port)
        self.c.subscribe(self.base + "#", qos=1)
        self.c.loop_start()

    def _msg(self, _c, _u, m):
        sub = m.topic[len(self.base):]
        text = m.payload.decode(errors="replace")
        if sub == "telemetry":
            self.n += 1
            self.last = text
        elif sub in ("event", "status"):
            print("[noc] %s: %s" % (sub, text), flush=True)

    def summary(self):
        if self.last is None:
            print("[noc] no telemetry yet", flush=True)
            return
        t = json.loads(self.last)

        def n(k):
            return "-" if t.get(k) is None else "%.0f" % t[k]
        print("[noc] %d telemetry records; last: seq %s, SOC %s %%, PV %s W, load %s W, "
              "generator %s, grid %s" % (self.n, t.get("seq"), n("batt_soc"), n("pv_w"),
                                         n("load_w"), t.get("gen_ctl"),
                                         "ok" if t.get("grid_ok") else "lost"), flush=True)

    def close(self):
        self.c.loop_stop()
        self.c.disconnect()


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=60, help="how long to run (real seconds)")
    ap.add_argument("--speed", type=float, default=720, help="model seconds per real second")
    ap.add_argument("--start-hour", type=float, default=6.0)
    ap.add_argument("--heap", help="default: the board's (host_run.board_heap)")
    args = ap.parse_args(argv)

    work = tempfile.mkdtemp(prefix="demo-")
    broker = emu_proc = fw = None
    try:
        try:
            broker = Broker()
        except AssertionError as e:     # not installed, or it would not start
            sys.exit("demo: mosquitto: %s" % e)
        mqtt_port = broker.port
        emu_proc, ready = start_emulator(EXAMPLE, port_overrides={"gw": 0}, speed=args.speed,
                                         start_hour=args.start_hour, seed=1)
        with open(EXAMPLE) as f:
            cfg = json.load(f)
        cfg["buses"]["gw"]["port"] = ready["buses"]["gw"]["port"]
        cfg["mqtt"].update(port=mqtt_port, enabled=True, telemetry_s=5)
        cfg["poll_s"] = 1
        cfg_path = os.path.join(work, "config.json")
        with open(cfg_path, "w") as f:
            json.dump(cfg, f)
        say("broker on 127.0.0.1:%d, cabinet emulator on 127.0.0.1:%d (RTU over TCP), "
            "model time x%g from %02d:00" % (mqtt_port, cfg["buses"]["gw"]["port"], args.speed,
                                             args.start_hour))
        fw = subprocess.Popen([sys.executable, os.path.join(HERE, "host_run.py"),
                               "--config", cfg_path] + (["--heap", args.heap] if args.heap else []))
        ctl = ready["control"]
        emu = EmulatorClient(ctl["host"], ctl["port"])
        noc = Noc(mqtt_port, cfg["mqtt"]["prefix"], cfg["site_id"])
        t0 = time.time()
        grid_cut = grid_back = False
        next_note = t0 + 10
        while time.time() - t0 < args.seconds and fw.poll() is None:
            time.sleep(0.2)
            now = time.time() - t0
            if not grid_cut and now >= args.seconds * 0.35:
                emu.grid(False)
                grid_cut = True
                say("grid cut at the cabinet: the battery and PV must carry the site")
            if grid_cut and not grid_back and now >= args.seconds * 0.65:
                emu.grid(True)
                grid_back = True
                say("grid back")
            if time.time() >= next_note:
                st = emu.state()
                say("model time %02d:%02d, true SOC %.1f%%, PV %.0f W, load %.0f W" % (
                    int(st["hour"]), int(st["hour"] % 1 * 60), st["soc"], st["pv_w"], st["load_w"]))
                noc.summary()
                next_note += 10
        emu.close()
        noc.summary()
        noc.close()
        rc = fw.poll()
        if rc is not None and rc != 0:
            say("firmware exited with %s" % rc)
            return rc
        return 0
    except KeyboardInterrupt:
        return 0
    finally:
        if fw is not None and fw.poll() is None:
            fw.send_signal(signal.SIGTERM)
            try:
                fw.wait(timeout=10)
            except subprocess.TimeoutExpired:
                fw.kill()
        if emu_proc is not None:
            stop_emulator(emu_proc)
        if broker is not None:
            broker.stop()
        say("stopped the firmware, the emulator and the broker")


if __name__ == "__main__":
    sys.exit(main())
