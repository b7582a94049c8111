#!/usr/bin/env python3
"""Benchmark: the longest stall of the loop while the MQTT broker is frozen
(goal: <= mqtt.timeout_s).

    .venv/bin/python tools/bench_stall.py [--freezes 10] [--down 3] [--timeout 1.0]
                                          [--micropython PATH]

firmware.uplink.link in the MicroPython unix port (host_tests/mpy_link.py: each
loop turn is link.step() and, every 200 ms, a QoS 1 publish, as the
uplink's tick does) against a real mosquitto (tools/broker.py) that is
frozen (SIGSTOP: TCP stays open, nothing answers) --freezes times for --down
seconds, then thawed. A frozen broker is the worst case: every publish and
every connection attempt waits for its answer until mqtt.timeout_s runs out.
Prints each loop turn of 50 ms or more (their count, mean, max) and the
longest against the goal. A benchmark, not a test: "ok"/"MISSED".
"""
import argparse
import statistics
import subprocess
import sys
import threading
import time

from bench_rig import ROOT, BenchError, add_options, goal, report
from broker import Broker
import host_run


def run(freezes, down, timeout_s, micropython=None):
    broker = Broker()
    mp = host_run.micropython_path(micropython)
    secs = 3 + freezes * (down + 3)
    p = subprocess.Popen([mp, "host_tests/mpy_link.py", "127.0.0.1", str(broker.port), str(secs),
                          "200", str(timeout_s)], cwd=ROOT, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, text=True)
    lines = []
    threading.Thread(target=lambda: [lines.append(l.rstrip("\n")) for l in p.stdout],
                     daemon=True).start()
    try:
        time.sleep(2)
        for _ in range(freezes):
            broker.freeze()
            time.sleep(down)
            broker.thaw()
            time.sleep(3)
        p.wait(timeout=secs + 30)
    finally:
        if p.poll() is None:
            p.kill()
        broker.stop()
    time.sleep(0.2)
    slow = [int(l.split()[1]) for l in lines if l.startswith("SLOW ")]
    stall = [int(l.split()[1]) for l in lines if l.startswith("STALL ")]
    if not stall:
        raise BenchError("mpy_link.py did not finish:\n" + "\n".join(lines[-20:]))
    return {"stall_ms": stall[0], "slow": slow, "downs": sum(l.startswith("DOWN") for l in lines),
            "ups": lines.count("UP"), "micropython": mp, "freezes": freezes, "down_s": down,
            "timeout_s": timeout_s}


def print_table(r):
    most = int(r["timeout_s"] * 1000)
    s = r["slow"]
    print("Loop stalls with the broker frozen %d x %.1f s, mqtt.timeout_s %g (link down %d times,"
          " up %d times)" % (r["freezes"], r["down_s"], r["timeout_s"], r["downs"], r["ups"]))
    print("  MicroPython: %s" % r["micropython"])
    if s:
        print("  turns of 50 ms or more: %d, mean %.0f ms, max %d ms" % (
            len(s), statistics.mean(s), max(s)))
    print("  longest loop turn: %d ms  goal <= %d ms  %s" % (
        r["stall_ms"], most, goal(r["stall_ms"] <= most)))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--freezes", type=int, default=10)
    ap.add_argument("--down", type=float, default=3.0)
    ap.add_argument("--timeout", type=float, default=1.0, help="mqtt.timeout_s")
    add_options(ap, json_output=False)
    a = ap.parse_args(argv)
    return report("bench_stall", lambda: run(a.freezes, a.down, a.timeout, a.micropython),
                  print_table, False)


if __name__ == "__main__":
    sys.exit(main())
