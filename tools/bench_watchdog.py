#!/usr/bin/env python3
"""Benchmark: the loop's longest stall with everything failing at once,
against the watchdog's timeout (goal: within watchdog_s, with margin).

    .venv/bin/python tools/bench_watchdog.py [--seconds 40] [--micropython PATH]

The firmware (tools/host_run.py, the board's heap for the binary) on a WLAN
(the network twin) with the MQTT link and NTP, against the cabinet emulator
and a real mosquitto. In turn:
  1. every device silent (the RS485 bus dead: each costs its timeout),
     the broker frozen (SIGSTOP: TCP open, nothing answers) and the NTP
     server silent, all at once;
  2. the network down (the twin's WLAN loses its AP), then back.
host_run is the board's watchdog: it records the longest gap between two
feeds (and from the watchdog's start to the first), which is the longest the
loop went without a healthy turn. Prints it against watchdog_s; "ok"/"MISSED". Not a test.
"""
import argparse
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

from bench_rig import EXAMPLE, HERE, BenchError, add_options, goal, report
from broker import Broker
from emulator_client import EmulatorClient, start_emulator, stop_emulator

MARGIN = 2.0        # the goal: the longest gap at most half the timeout


def silent_udp():
    """A UDP port that takes NTP queries and never answers."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    return s


def run(seconds, micropython=None):
    tmp = tempfile.mkdtemp(prefix="bench-wdt-")
    broker = Broker()
    ntp = silent_udp()
    proc, ready = start_emulator(EXAMPLE, port_overrides={"gw": 0}, speed=1, start_hour=12.0)
    emu = EmulatorClient(ready["control"]["host"], ready["control"]["port"])
    fw = None
    lines = []
    try:
        with open(EXAMPLE) as f:
            cfg = json.load(f)
        cfg["buses"]["gw"]["port"] = ready["buses"]["gw"]["port"]
        cfg["mqtt"].update(enabled=True, port=broker.port, timeout_s=5)
        cfg["net"] = {"kind": "wlan", "ssid": "cabinet", "password": "secret", "dns": "127.0.0.1",
                      "ntp_host": "127.0.0.1:%d" % ntp.getsockname()[1], "ntp_s": 60}
        cfg_path = os.path.join(tmp, "config.json")
        with open(cfg_path, "w") as f:
            json.dump(cfg, f)
        link = os.path.join(tmp, "net_twin")
        with open(link, "w") as f:
            f.write("up 127.0.0.1\n")
        env = dict(os.environ, NET_TWIN=link)
        cmd = [sys.executable, os.path.join(HERE, "host_run.py"), "--config", cfg_path,
               "--dir", os.path.join(tmp, "flash")]
        if micropython:
            cmd += ["--micropython", micropython]
        fw = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True)
        threading.Thread(target=lambda: [lines.append(l.rstrip("\n")) for l in fw.stdout],
                         daemon=True).start()
        deadline = time.time() + 60
        while time.time() < deadline and not any("LINK up" in l for l in lines):
            time.sleep(0.2)
        wdt = [int(m.group(1)) for l in lines for m in [re.search(r"watchdog (\d+) s", l)] if m]
        print("phase 1: bus dead, broker frozen, NTP silent for %.0f s" % seconds, flush=True)
        for d in ("mppt1", "meter", "bms1", "genset"):
            emu.silent(d, True)
        broker.freeze()
        time.sleep(seconds)
        broker.thaw()
        for d in ("mppt1", "meter", "bms1", "genset"):
            emu.silent(d, False)
        print("phase 2: the network down for %.0f s, then back" % seconds, flush=True)
        with open(link, "w") as f:
            f.write("down\n")
        time.sleep(seconds)
        with open(link, "w") as f:
            f.write("up 127.0.0.1\n")
        time.sleep(10)
    finally:
        if fw is not None:
            fw.terminate()
            fw.wait(timeout=30)
        stop_emulator(proc)
        broker.stop()
        ntp.close()
        shutil.rmtree(tmp, ignore_errors=True)
    gaps = [int(m.group(1)) for l in lines
            for m in [re.search(r"longest gap between feeds (\d+) ms", l)] if m]
    if not gaps or not wdt:
        raise BenchError("no figure:\n" + "\n".join(lines[-30:]))
    return {"gap_ms": gaps[-1], "watchdog_s": wdt[0],
            "link_downs": sum("LINK down" in l for l in lines),
            "error_cycles": sum(l.startswith("ERROR in cycle") for l in lines)}


def print_table(r):
    most = r["watchdog_s"] * 1000 / MARGIN
    print("Longest loop stall (gap between watchdog feeds): %d ms; watchdog_s %d s "
          "(goal: <= %d ms)  %s" % (r["gap_ms"], r["watchdog_s"], most,
                                    goal(r["gap_ms"] <= most)))
    print("  link down %d times; cycles with errors: %d" % (r["link_downs"], r["error_cycles"]))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=40, help="length of each phase")
    add_options(ap, json_output=False)
    a = ap.parse_args(argv)
    return report("bench_watchdog", lambda: run(a.seconds, a.micropython), print_table, False)


if __name__ == "__main__":
    sys.exit(main())
