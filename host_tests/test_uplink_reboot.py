# The MQTT link across reboots, with the firmware in the unix port, the
# emulated cabinet and a real mosquitto: a signed config_set (checked, saved,
# the running config kept as last known good; a bad one changes nothing), a
# signed reboot, telemetry seq never reused after a restart, and a power cut
# during an outage: what was spooled before the cut is replayed, in order,
# once the firmware is back and the broker returns, and no seq is reused.
import json
import os
import time

from rigs import drain, seqs


def test_config_set_reboot_and_seq_across_restarts(tmp_path, mqtt_site):
    s = mqtt_site(start_hour=12.0)
    op, cfg = s.op, s.cfg
    flash = str(tmp_path / "flash")
    cfg["persist_s"] = 10
    fw = s.start(flash=flash)
    assert op.take("sites/BTS-0042/status", lambda p: p == "online") == "online"
    op.take("sites/BTS-0042/telemetry")

    r = op.command("config_set", {"key": "generator.stop_soc", "value": 20})
    assert r["status"] == "error" and "must be above start_soc" in r["reason"], r
    r = op.command("config_set", {"key": "generator.nosuch", "value": 1})
    assert r["status"] == "error" and "unknown key" in r["reason"], r
    with open(os.path.join(flash, "config.json")) as f:
        assert json.load(f)["generator"]["stop_soc"] == 90
    assert not os.path.exists(os.path.join(flash, "config.lkg.json"))

    r = op.command("config_set", {"key": "generator.start_soc", "value": 35})
    assert r["status"] == "ok", r
    r = op.command("config_set", {"key": "mqtt.password", "value": "s3cret"})
    assert r["status"] == "ok", r
    with open(os.path.join(flash, "config.json")) as f:
        saved = json.load(f)
    assert saved["generator"]["start_soc"] == 35
    # A saved config is not the last known good until it has run healthy
    # (safe_mode.healthy_s; test_safe_mode.py).
    assert not os.path.exists(os.path.join(flash, "config.lkg.json"))
    drain(op, 2)
    texts = [json.loads(p)["text"] for t, p in op.all if t.endswith("/event")]
    assert "config set generator.start_soc = 35" in texts, texts
    assert 'config set mqtt.password = "***"' in texts and not any("s3cret" in x for x in texts)

    before = seqs(op)
    assert before
    r = op.command("reboot")
    assert r["status"] == "ok", r
    assert fw.wait_for("[host_run] board reset: starting again", 20), fw.lines[-20:]
    mark = len(op.all)
    # Back online after the restart (the will fired, then online again).
    op.take("sites/BTS-0042/status", lambda p: p == "online", timeout=30)
    drain(op, 4)
    after = seqs(op, mark)
    assert after and min(after) > max(before), (before[-5:], after[:5])
    assert "saving state and rebooting" not in fw.lines       # not a console reboot
    assert any(json.loads(p).get("text") == "command reboot done (mqtt)"
               for t, p in op.all if t.endswith("/event"))
    # The saved change applies after the reboot (the console would show it).
    with open(os.path.join(flash, "config.json")) as f:
        assert json.load(f)["generator"]["start_soc"] == 35


def test_power_cut_during_an_outage_then_replay(tmp_path, mqtt_site):
    s = mqtt_site(start_hour=12.0)
    broker, op, cfg = s.broker, s.op, s.cfg
    flash = str(tmp_path / "flash")
    cfg["persist_s"] = 10
    fw = s.start(flash=flash)
    assert fw.wait_for("LINK up", 30), "\n".join(fw.lines[-20:])
    op.take("sites/BTS-0042/status", lambda p: p == "online")
    drain(op, 4)
    live = seqs(op)
    assert live
    # The backhaul drops (a frozen broker: one killed without
    # persistence would also lose what it had taken but not passed on,
    # which is the broker's loss, not the site's).
    broker.freeze()
    time.sleep(6)                 # records go to the flash ring meanwhile
    fw.kill()                     # and then the power goes
    spool = os.listdir(os.path.join(flash, "spool"))
    assert spool, "nothing spooled during the outage"
    fw = s.start(flash=flash)
    assert fw.wait_for("site BTS-0042", 30), fw.lines[-20:]
    time.sleep(3)                 # the restarted firmware spools too
    broker.thaw()
    deadline = time.time() + 40   # the link's backoff, then the replay
    while time.time() < deadline:
        drain(op, 1)
        got = seqs(op)
        if got and max(got) > max(live) + 15:
            break
    drain(op, 3)
    got = seqs(op)
    kept = []
    for q in got:
        if not kept or q > kept[-1]:
            kept.append(q)
        else:
            assert q in kept, got       # a QoS 1 repeat, never new out of order
    # Every seq from before the outage to the cut is there, in order:
    # nothing spooled was lost to the power cut.
    cut = [q for q in kept if q <= max(live) + 100]
    assert cut == list(range(kept[0], kept[0] + len(cut))), kept
    assert len(cut) >= len(live) + 3, (live, kept)     # ~1 a second of the outage
    # After the restart the seqs jump ahead: none reused.
    later = [q for q in kept if q > cut[-1]]
    assert later and later[0] > cut[-1], kept
