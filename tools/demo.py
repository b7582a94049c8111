#!/usr/bin/env python3
"""The product's main job on the host: the firmware in the MicroPython unix
port reads an emulated PV-storage-diesel cabinet over Modbus RTU, with a local
MQTT broker beside it, and prints what it reads each cycle.

Starts mosquitto on a free port, the cabinet emulator (dawn to evening in one
minute of compressed time, with a grid failure in the middle), and the
firmware through tools/host_run.py; stops everything it started at the end
or on Ctrl-C.

    python3 tools/demo.py [--seconds 60] [--speed 720] [--heap 160k]
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

from broker import Broker  # noqa: E402
from emulator_client import EmulatorClient, start_emulator, stop_emulator  # noqa: E402

EXAMPLE = os.path.join(HERE, "configs", "example.json")


def say(msg):
    print("[demo] " + msg, flush=True)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=60, help="how long to run (real seconds)")
    ap.add_argument("--speed", type=float, default=720, help="model seconds per real second")
    ap.add_argument("--start-hour", type=float, default=6.0)
    ap.add_argument("--heap", default="160k")
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
        cfg["mqtt"]["port"] = mqtt_port
        cfg["poll_s"] = 1
        cfg_path = os.path.join(work, "config.json")
        with open(cfg_path, "w") as f:
            json.dump(cfg, f)
        say("broker on 127.0.0.1:%d, cabinet emulator on 127.0.0.1:%d (RTU over TCP), "
            "model time x%g from %02d:00" % (mqtt_port, cfg["buses"]["gw"]["port"], args.speed,
                                             args.start_hour))
        fw = subprocess.Popen([sys.executable, os.path.join(HERE, "host_run.py"),
                               "--config", cfg_path, "--heap", args.heap])
        ctl = ready["control"]
        emu = EmulatorClient(ctl["host"], ctl["port"])
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
                next_note += 10
        emu.close()
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
