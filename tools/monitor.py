#!/usr/bin/env python3
"""The operator's view of sites over MQTT, and signed commands to them.

    monitor.py watch [SITE ...]                  live status, telemetry, alarms, events
    monitor.py cmd SITE CMD [ARG=VALUE ...]      one signed command, waits for its result

    e.g. monitor.py cmd BTS-0042 gen_start
         monitor.py cmd BTS-0042 gen_mode mode=manual
         monitor.py cmd BTS-0042 config_set key=poll_s value=5

Options: --host, --port, --prefix (default sites), --key (or SITE_CMD_KEY in
the environment: the site's mqtt.cmd_key), --timeout for cmd. ARG values are
read as JSON when they parse (5, true, "x"), else taken as text.
"""
import argparse
import json
import os
import sys
import threading
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

import paho.mqtt.client as mqtt  # noqa: E402

from firmware.uplink import commands  # noqa: E402


def client(args, name):
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2,
                    client_id="%s-%s" % (name, uuid.uuid4().hex[:8]))
    c.connect(args.host, args.port, keepalive=30)
    return c


def parse_args_kv(items):
    out = {}
    for it in items:
        if "=" not in it:
            raise SystemExit("monitor: argument %r is not ARG=VALUE" % it)
        k, v = it.split("=", 1)
        try:
            out[k] = json.loads(v)
        except ValueError:
            out[k] = v
    return out


def line(topic, payload, prefix):
    """One readable line for a site message."""
    parts = topic[len(prefix) + 1:].split("/", 1)
    site = parts[0]
    kind = parts[1] if len(parts) > 1 else ""
    try:
        data = json.loads(payload)
    except ValueError:
        data = payload
    if kind == "telemetry" and isinstance(data, dict):
        def f(k, fmt):
            v = data.get(k)
            return "--" if v is None else fmt % v
        return "%-10s TEL  seq %s PV %s BAT %s %s LOAD %s GRID %s GEN %s/%s" % (
            site, data.get("seq"), f("pv_w", "%.0fW"), f("batt_soc", "%.0f%%"),
            f("batt_v", "%.1fV"), f("load_w", "%.0fW"),
            {True: "ok", False: "LOST"}.get(data.get("grid_ok"), "--"),
            data.get("gen_ctl", "--"), data.get("gen_state", "--"))
    if kind == "state" and isinstance(data, dict):
        return "%-10s STATE gen %s/%s run %sh starts %s diesel %sl dropped %s/%s cfg %s up %ss" % (
            site, data.get("gen_mode"), data.get("gen_ctl"), data.get("gen_run_h"),
            data.get("gen_starts"), data.get("diesel_l"), data.get("dropped_telemetry"),
            data.get("dropped_events"), data.get("config_hash"), data.get("uptime_s"))
    if kind.startswith("dev/") and isinstance(data, dict):
        vals = " ".join("%s=%s" % (k, ("%.4g" % v) if isinstance(v, float) else v)
                        for k, v in sorted(data.items())
                        if k not in ("ts", "online", "last_ok") and v is not None)
        return "%-10s DEV  %-8s %s %s" % (site, kind[4:], "online" if data.get("online")
                                          else "OFFLINE", vals[:160])
    if kind == "alarms" and isinstance(data, list):
        return "%-10s ALM  %s" % (site, ", ".join(a.get("code", "?") for a in data) or "none")
    text = payload if isinstance(data, str) else json.dumps(data, sort_keys=True)
    return "%-10s %-4s %s" % (site, kind.upper()[:4] or "?", text)


def watch(args):
    c = client(args, "noc-watch")
    sites = args.sites or ["+"]
    for s in sites:
        c.subscribe("%s/%s/#" % (args.prefix, s), qos=1)
    last_seq = {}

    def on_message(cl, u, m):
        payload = m.payload.decode(errors="replace")
        if m.topic.endswith("/telemetry"):
            # QoS 1 is at least once: a record replayed after a lost
            # acknowledgement comes again with its seq; show it once.
            try:
                seq = json.loads(payload).get("seq")
            except (ValueError, AttributeError):
                seq = None
            site = m.topic.split("/")[-2]
            if isinstance(seq, int):
                if seq <= last_seq.get(site, -1):
                    return
                last_seq[site] = seq
        print(line(m.topic, payload, args.prefix), flush=True)

    c.on_message = on_message
    try:
        c.loop_forever()
    except KeyboardInterrupt:
        pass
    return 0


def cmd(args):
    key = args.key or os.environ.get("SITE_CMD_KEY")
    if not key:
        raise SystemExit("monitor: no command key (--key or SITE_CMD_KEY)")
    cid = uuid.uuid4().hex[:12]
    payload = commands.envelope(key, args.command, parse_args_kv(args.args), cid, int(time.time()))
    base = "%s/%s" % (args.prefix, args.site)
    got = {}
    done = threading.Event()

    def on_message(cl, u, m):
        try:
            r = json.loads(m.payload)
        except ValueError:
            return
        if isinstance(r, dict) and r.get("id") == cid:
            got.update(r)
            done.set()

    c = client(args, "noc-cmd")
    c.on_message = on_message
    c.subscribe(base + "/cmd/result", qos=1)
    c.loop_start()
    try:
        time.sleep(0.2)         # the subscription is in place before we ask
        c.publish(base + "/cmd", payload, qos=1).wait_for_publish(args.timeout)
        if not done.wait(args.timeout):
            print("%s %s: no result within %g s" % (args.site, args.command, args.timeout))
            return 2
    finally:
        c.loop_stop()
        c.disconnect()
    print("%s %s: %s%s" % (args.site, args.command, got.get("status"),
                           (" (%s)" % got["reason"]) if got.get("reason") else ""))
    return 0 if got.get("status") == "ok" else 1


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=1883)
    ap.add_argument("--prefix", default="sites")
    sub = ap.add_subparsers(dest="what", required=True)
    w = sub.add_parser("watch", help="live view of sites")
    w.add_argument("sites", nargs="*")
    k = sub.add_parser("cmd", help="send one signed command")
    k.add_argument("site")
    k.add_argument("command")
    k.add_argument("args", nargs="*")
    k.add_argument("--key")
    k.add_argument("--timeout", type=float, default=15)
    args = ap.parse_args(argv)
    return watch(args) if args.what == "watch" else cmd(args)


if __name__ == "__main__":
    sys.exit(main())
