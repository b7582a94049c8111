# tools/monitor.py against a real mosquitto: a signed command that a site
# (here a paho stand-in checking it with firmware.uplink.commands) accepts or
# refuses, and the live view of a site's messages.
import json
import os
import subprocess
import sys
import time

import paho.mqtt.client as mqtt

from rigs import ROOT
from firmware.uplink import commands

MONITOR = os.path.join(ROOT, "tools", "monitor.py")
KEY = "bts-key"


def site_stub(port, key):
    """Answers commands on sites/BTS-0042/cmd as the firmware will."""
    v = commands.Verifier(key)
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="site-stub")
    seen = []

    def on_message(cl, u, m):
        cmd, err = v.check(m.payload, time.time())
        cid = cmd["id"] if err is None else cmd
        seen.append((cmd, err))
        cl.publish("sites/BTS-0042/cmd/result", commands.result(cid, err), qos=1)

    c.on_message = on_message
    c.connect("127.0.0.1", port)
    c.subscribe("sites/BTS-0042/cmd", qos=1)
    c.loop_start()
    time.sleep(0.3)
    return c, seen


def run(*argv, env=None):
    return subprocess.run([sys.executable, MONITOR] + list(argv), capture_output=True,
                          text=True, timeout=30, env=env)


def test_signed_command_accepted(broker):
    c, seen = site_stub(broker.port, KEY)
    try:
        r = run("--port", str(broker.port), "cmd", "BTS-0042", "gen_mode", "mode=manual",
                "--key", KEY)
        assert r.returncode == 0, r.stdout + r.stderr
        assert r.stdout.strip() == "BTS-0042 gen_mode: ok"
        cmd, err = seen[0]
        assert err is None and cmd["cmd"] == "gen_mode" and cmd["args"] == {"mode": "manual"}
    finally:
        c.loop_stop()


def test_wrong_key_is_refused_with_its_reason(broker):
    c, seen = site_stub(broker.port, KEY)
    try:
        env = dict(os.environ, SITE_CMD_KEY="not-the-key")
        r = run("--port", str(broker.port), "cmd", "BTS-0042", "gen_start", env=env)
        assert r.returncode == 1
        assert r.stdout.strip() == "BTS-0042 gen_start: error (bad signature)"
    finally:
        c.loop_stop()


def test_no_answer_times_out(broker):
    r = run("--port", str(broker.port), "cmd", "BTS-9", "gen_stop", "--key", KEY,
            "--timeout", "1")
    assert r.returncode == 2 and "no result" in r.stdout


def test_watch_shows_a_sites_messages(broker):
    p = subprocess.Popen([sys.executable, MONITOR, "--port", str(broker.port), "watch"],
                         stdout=subprocess.PIPE, text=True)
    try:
        time.sleep(1)
        c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="site-pub")
        c.connect("127.0.0.1", broker.port)
        c.loop_start()
        c.publish("sites/BTS-0042/status", "online", qos=1, retain=True).wait_for_publish()
        c.publish("sites/BTS-0042/telemetry", json.dumps(
            {"seq": 7, "pv_w": 1200.0, "batt_soc": 81, "batt_v": 53.1, "load_w": 1700.0,
             "grid_ok": False, "gen_ctl": "running", "gen_state": "running"}), qos=1).wait_for_publish()
        c.publish("sites/BTS-0042/telemetry", json.dumps({"seq": 7}), qos=1).wait_for_publish()
        c.publish("sites/BTS-0042/alarms", json.dumps([{"code": "grid_lost"}]), qos=1).wait_for_publish()
        c.publish("sites/BTS-0042/dev/meter", json.dumps(
            {"online": True, "ts": 1, "last_ok": 1, "v_l1": 230.12345, "hz": None}),
            qos=1).wait_for_publish()
        c.publish("sites/BTS-0042/state", json.dumps(
            {"gen_mode": "auto", "gen_ctl": "standby", "gen_run_h": 12.5, "gen_starts": 3,
             "diesel_l": 40.2, "dropped_telemetry": 0, "dropped_events": 0,
             "config_hash": "5ec1d87ed1303ed0", "uptime_s": 60}), qos=1).wait_for_publish()
        time.sleep(1)
        c.loop_stop()
    finally:
        p.terminate()
        out = p.communicate(timeout=10)[0]
    assert "BTS-0042   STAT online" in out
    assert "BTS-0042   TEL  seq 7 PV 1200W BAT 81% 53.1V LOAD 1700W GRID LOST GEN running/running" in out
    assert "BTS-0042   ALM  grid_lost" in out
    assert "BTS-0042   DEV  meter    online v_l1=230.1" in out
    assert ("BTS-0042   STATE gen auto/standby run 12.5h starts 3 diesel 40.2l dropped 0/0 "
            "cfg 5ec1d87ed1303ed0 up 60s") in out
    assert out.count("TEL  seq 7") == 1              # the repeat of seq 7 is not shown
