#!/usr/bin/env python3
"""Benchmark: MQTT bytes a day of telemetry and dev/<name>, from the payloads
the firmware really sends (issue 13, "telemetry at the devices' resolution").

    .venv/bin/python tools/bench_telemetry.py [--seconds 40] [--micropython PATH] [--json]

Method: the firmware (tools/host_run.py, example config, the board's heap)
polls the emulated cabinet at noon with its MQTT link to a real mosquitto,
sending a telemetry record every second and each dev/<name> every 10 s so
that enough payloads arrive in --seconds; a paho client collects them.
Bytes a day are then the mean payload of each topic at the product's
defaults: a telemetry record every mqtt.telemetry_s (60 s: 1,440 a day) and
each dev/<name> every mqtt.dev_s (300 s: 288 a day). Records sent early on
a significant change (the deadbands) come on top and depend on the site;
`wire` adds what MQTT 3.1.1 puts around a QoS 1 PUBLISH (fixed header 2-3
bytes, topic length 2, the topic, packet id 2) and its PUBACK (4).
"""
import argparse
import json
import os
import statistics
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "host_tests"))
sys.path.insert(0, os.path.join(ROOT, "tools"))

from rigs import MqttSite  # noqa: E402

TELEMETRY_S = 60     # mqtt.telemetry_s default (firmware/config.py)
DEV_S = 300          # mqtt.dev_s default


def wire(topic, payload_len):
    n = 2 + len(topic) + 2 + payload_len
    return n + (2 if n < 128 else 3) + 4


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=40)
    ap.add_argument("--micropython", default=None)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="bench_tel_")
    s = MqttSite(tmp, start_hour=12.0, micropython=a.micropython)
    try:
        s.cfg["mqtt"]["dev_s"] = 10
        s.start()
        end = time.time() + a.seconds
        while time.time() < end:
            try:
                s.op.take("-", timeout=min(1.0, max(0.1, end - time.time())))
            except AssertionError:
                pass
        got = s.op.all
    finally:
        s.close()
    by = {}
    for t, p in got:
        name = t.split("/", 2)[2]
        if name == "telemetry" or name.startswith("dev/"):
            by.setdefault(name, []).append((t, len(p.encode())))
    rows = {}
    total_payload = total_wire = 0
    for name, xs in sorted(by.items()):
        per_day = 86400 // (TELEMETRY_S if name == "telemetry" else DEV_S)
        mean = statistics.mean(n for _, n in xs)
        mw = statistics.mean(wire(t, n) for t, n in xs)
        rows[name] = {"n": len(xs), "mean_payload": round(mean, 1), "per_day": per_day,
                      "payload_day": round(mean * per_day), "wire_day": round(mw * per_day)}
        total_payload += mean * per_day
        total_wire += mw * per_day
    last = [p for t, p in got if t.endswith("/telemetry")][-1:]
    out = {"topics": rows, "payload_bytes_day": round(total_payload),
           "wire_bytes_day": round(total_wire), "last_telemetry": last[0] if last else None}
    if a.json:
        print(json.dumps(out))
        return
    for name, r in rows.items():
        print("%-14s %4d payloads, mean %6.1f B, %4d a day: %7d B payload, %7d B on the wire" % (
            name, r["n"], r["mean_payload"], r["per_day"], r["payload_day"], r["wire_day"]))
    print("total: %d B a day of payload, %d B on the wire (periodic records only)" % (
        out["payload_bytes_day"], out["wire_bytes_day"]))
    print("last telemetry: %s" % out["last_telemetry"])


if __name__ == "__main__":
    main()
