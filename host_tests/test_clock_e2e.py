# The clock on the board's terms, end to end: after a power-on the RTC says
# 2000-01-01 (the twin's RTC_UNSET), so telemetry says the clock is not set
# and signed commands are refused with "clock not set"; once the NTP server
# answers (net.ntp_host) the clock is the server's, on the wire as Unix
# seconds, and commands go through.
import json
import time

from rigs import NtpServer

DAY = 86400


def test_clock_waits_for_ntp_then_commands_and_telemetry_follow_it(tmp_path, mqtt_site,
                                                                     monkeypatch):
    ntp = NtpServer(offset_s=DAY, mode="silent")    # a day ahead: its time, not the PC's
    try:
        monkeypatch.setenv("RTC_UNSET", "1")
        s = mqtt_site(start_hour=12.0)
        s.cfg["net"] = {"kind": "host", "ntp_host": "127.0.0.1:%d" % ntp.port, "ntp_s": 60}
        fw = s.start(flash=str(tmp_path / "flash"))
        assert fw.wait_for("ntp 127.0.0.1:%d" % ntp.port, 60), "\n".join(fw.lines[-20:])
        s.op.take("sites/BTS-0042/status", lambda p: p == "online", timeout=30)
        rec = json.loads(s.op.take("sites/BTS-0042/telemetry"))
        assert rec["clock_ok"] is False and rec["ts"] < 946684800 + 365 * DAY, rec
        r = s.op.command("gen_mode", {"mode": "manual"})
        assert r["status"] == "error" and r["reason"] == "clock not set", r
        ntp.mode = "answer"
        # Retried 10 s after the failed query, then 20 s, 40 s...
        rec = json.loads(s.op.take("sites/BTS-0042/telemetry",
                                   lambda p: json.loads(p)["clock_ok"], timeout=90))
        assert abs(rec["ts"] - (time.time() + DAY)) < 5, rec
        # The state goes out on the change, maybe before that telemetry record.
        ok = [p for t, p in s.op.all if t == "sites/BTS-0042/state" and json.loads(p)["clock_ok"]]
        state = json.loads(ok[-1] if ok else s.op.take(
            "sites/BTS-0042/state", lambda p: json.loads(p)["clock_ok"], timeout=30))
        assert state["ntp"]["syncs"] >= 1 and state["net"]["state"] == "up", state
        r = s.op.command("gen_mode", {"mode": "manual"}, ts=int(time.time() + DAY))
        assert r["status"] == "ok", r
    finally:
        ntp.close()
