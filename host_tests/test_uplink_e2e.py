# The firmware with mqtt.enabled, in the unix port (at the board's heap,
# the code in its ROMFS image), against the emulated
# cabinet and a real mosquitto, with paho as the operator: telemetry with a
# rising seq, a signed gen_start that reaches the genset, refusals with
# their reasons, and a frozen broker: after it, every seq is there, in
# order (repeats of QoS 1's at-least-once dropped by seq). On both
# interpreters: the PyPI binary and the board's number model (esp32like),
# at the board's heap in each (rigs.board_heap: 110k in esp32like).
import json
import queue
import time

from broker import Broker
from rigs import Cabinet, Firmware, Operator, board_heap, mqtt_config, on_both


@on_both
def test_telemetry_commands_and_an_outage(tmp_path, micropython):
    broker = Broker()
    cab = Cabinet(str(tmp_path), speed=1, start_hour=20.0, seed=1,
                  sets={"gen_start_delay_s": 1, "gen_crank_fire_s": 1, "gen_warm_s": 1})
    op = Operator(broker.port)
    fw = None
    try:
        cab.emu.grid(False)
        cab.emu.set("soc", 60)
        fw = Firmware(str(tmp_path), mqtt_config(cab, broker), micropython=micropython,
                      heap=board_heap(micropython))
        assert op.take("sites/BTS-0042/status", lambda p: p == "online") == "online"
        first = json.loads(op.take("sites/BTS-0042/telemetry"))
        assert first["batt_soc"] is not None and first["gen_ctl"] in ("standby", "start_delay")
        assert first["mode"] == "auto" and first["shed"] == []

        r = op.command("gen_start")
        assert r["status"] == "ok", r
        fw.wait_for("EVENT gen standby -> cranking (manual)", 20)
        assert fw.wait_for("EVENT gen warmup -> running", 30), "\n".join(fw.lines[-20:])
        assert [w["key"] for w in cab.emu.writes() if w.get("key")] == [35732]
        state = json.loads(op.take("sites/BTS-0042/state",
                                   lambda p: json.loads(p)["gen_ctl"] == "running"))
        assert state["gen_mode"] == "manual" and state["lockout"] is False
        assert state["version"] and state["gen_starts"] >= 1 and "diesel_l" in state
        alarms = json.loads(op.take("sites/BTS-0042/alarms",
                                    lambda p: "grid_lost" in p, timeout=30))
        assert [a["code"] for a in alarms] == ["grid_lost"] and alarms[0]["severity"] == "major"
        # The command's event went out before its result.
        assert any(t.endswith("/event") and "command gen_start done (mqtt)" in p
                   for t, p in op.all), op.all[-10:]

        r = op.command("gen_start", key="wrong")
        assert r == {"id": r["id"], "status": "error", "reason": "bad signature"}
        r = op.command("load_shed", {"name": "nope"})
        assert r["status"] == "error" and "no load named" in r["reason"]
        # The service reset (the command table's gen_service_done, also the
        # console's `gen service`): done, with its event.
        r = op.command("gen_service_done")
        assert r["status"] == "ok", r
        assert any(t.endswith("/event") and "command gen_service_done done (mqtt)" in p
                   for t, p in op.all), op.all[-10:]

        # The broker freezes: records wait on flash and come back in order
        # when the link returns. QoS 1 is at least once (a publish whose
        # acknowledgement is lost is sent again), so a receiver drops a seq
        # it has seen; after that, no seq may be missing or out of order.
        broker.freeze()
        time.sleep(5)
        broker.thaw()
        deadline = time.time() + 30          # the link backs off while the broker is gone
        while time.time() < deadline and fw.lines.count("LINK up") < 2:
            try:
                op.all.append(op.q.get(timeout=0.5))
            except queue.Empty:
                pass
        assert fw.lines.count("LINK up") >= 2, [l for l in fw.lines if l.startswith("LINK")]
        time.sleep(4)                        # the replay, then live records
        while True:
            try:
                op.all.append(op.q.get(timeout=0.5))
            except queue.Empty:
                break
        seqs = [json.loads(p)["seq"] for t, p in op.all if t.endswith("/telemetry")]
        kept = []
        for q in seqs:
            if not kept or q > kept[-1]:
                kept.append(q)
            else:
                assert q in kept, seqs              # a repeat, never something new out of order
        assert kept == list(range(kept[0], kept[0] + len(kept))), repr(seqs)
        assert len(kept) >= 15, seqs
    finally:
        if fw:
            fw.stop()
        op.stop()
        cab.close()
        broker.stop()
