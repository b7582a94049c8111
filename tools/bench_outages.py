#!/usr/bin/env python3
"""Benchmark: telemetry records lost across repeated broker outages (goal 0).

    .venv/bin/python tools/bench_outages.py [--outages 100] [--down 3] [--settle 1] [--json]
                                            [--micropython PATH]

The firmware's MQTT store and forward end to end: the real firmware in the
MicroPython unix port (tools/host_run.py, through the test rigs'
host_tests/rigs.py Firmware: the board's heap, the code in its ROMFS image),
the cabinet emulator (rigs.Cabinet), a real mosquitto (tools/broker.py) and
a paho operator subscribed to sites/BTS-0042/# (rigs.Operator), with the e2e
tests' MQTT config (rigs.mqtt_config): a telemetry record every second
(telemetry_s 1), every broker operation bounded at 1 s (timeout_s 1).

Method: once the link is up and telemetry flows, --outages times: freeze the
broker (SIGSTOP) for --down seconds, thaw it, wait for the firmware's next
"LINK up" line, then for the first record made after the thaw to arrive (so
the backlog has been replayed: records go out strictly in order), then
--settle seconds. While the broker is frozen each publish times out after
timeout_s, the link drops and the records go to the flash ring (spool/);
after the thaw the link reconnects on its backoff and replays them. At the
end the run waits for the replay to catch up and drains the operator's
queue for a few seconds more.

Only freeze/thaw outages: a mosquitto killed and restarted without
persistence (tools/broker.py runs it so) loses what it had acknowledged but
not yet passed on to the operator. That is the broker's loss, not the
site's, and would show up here as missing seqs that the firmware did
deliver. A frozen broker is the worst case for the site instead: it accepts
TCP connections and bytes into the kernel's buffers but answers nothing, so
every publish and every connection attempt runs into the timeout.

Judging the seqs (as host_tests/test_uplink_reboot.py does): telemetry
payloads carry a rising integer "seq". QoS 1 is at least once: a publish
whose PUBACK was lost in the freeze was kept and is sent again, so a repeat
of a seq already seen is dropped (counted as a repeat, not a loss). A seq
missing from first..last received is a loss; a new seq below the highest
seen is an out-of-order error. Records still on the board's flash when the
run ends are not counted (the last seq counted is the highest received).

The rings' drop counters (firmware/uplink/ring.py, Ring.dropped) are read as the
firmware publishes them, in its retained state (dropped_telemetry,
dropped_events: sent on a change and after every reconnect); the highest
seen is reported, or "not published" by a firmware without them. The bench
also samples the telemetry ring's segment files on the flash folder every
0.25 s and reports the peak (the ring drops its oldest records only once it
holds all of its mqtt.spool_tel_kb / 4 segments of 4 KB), and how many
records one outage held back against how many the ring can hold; any drop
would also be a missing seq. The firmware's "LINK down (...)" lines are
counted with their reasons, and the retained status is checked to end each
outage "online" (the will of an abandoned connection could come after it).

Timing: each outage costs --down plus the reconnection (the link backs off
1 s, 2 s, 4 s ... to 60 s, with up to 50 % jitter, from the first failed
publish of the freeze; a successful connect resets it to 1 s, so the
backoff never builds up across outages), plus the replay and --settle.
Measured at the defaults (--down 3, --settle 1): 5.8 s an outage (link up
0.3 to 2.5 s after the thaw, the 2 to 3 records held back replayed within
2.5 s), so 100 outages take about 10 minutes.

A benchmark, not a test: it prints "ok" / "MISSED" next to the goal; only a
run that fails (no link at the start, no reconnection within --reconnect-
timeout, the firmware exits) exits non-zero. --json prints one JSON object
instead of the table.
"""
import argparse
import collections
import json
import os
import queue
import statistics
import sys
import tempfile
import threading
import time
import shutil
import signal

from bench_rig import ROOT, BenchError, add_options, goal, report
from broker import Broker
from firmware.uplink.uplink import SEG_BYTES

sys.path.insert(0, os.path.join(ROOT, "host_tests"))     # the test rigs
from rigs import Cabinet, Firmware, Operator, mqtt_config  # noqa: E402

TOPIC = "sites/BTS-0042/"


class Watch:
    """A thread that stamps what arrives: the operator's messages (moved from
    op.q), the firmware's new stdout lines, and the spool's size."""

    def __init__(self, op, fw, spool):
        self.op, self.fw, self.spool = op, fw, spool
        self.msgs = []              # (t, topic, payload)
        self.links = []             # (t, "up" | "down", line)
        self.lines_seen = 0
        self.spool_peak = {"segments": 0, "bytes": 0}
        self.win_peak = 0           # peak segments since the caller last reset it
        self.lock = threading.Lock()
        self._stop = threading.Event()
        self._t_spool = 0.0
        self.th = threading.Thread(target=self._run, daemon=True)
        self.th.start()

    def _run(self):
        while not self._stop.is_set():
            self.poll()
            time.sleep(0.02)

    def poll(self):
        now = time.time()
        with self.lock:
            while True:
                try:
                    t, p = self.op.q.get_nowait()
                except queue.Empty:
                    break
                self.msgs.append((now, t, p))
            fw = self.fw
            if fw is not None:
                lines = fw.lines
                while self.lines_seen < len(lines):
                    line = lines[self.lines_seen]
                    self.lines_seen += 1
                    if line == "LINK up":
                        self.links.append((now, "up", line))
                    elif line.startswith("LINK down"):
                        self.links.append((now, "down", line))
            if now - self._t_spool >= 0.25:
                self._t_spool = now
                self._sample_spool()

    def _sample_spool(self):
        segs = nbytes = 0
        try:
            names = os.listdir(self.spool)
        except OSError:
            return
        for f in names:
            pre, _, n = f.partition(".")
            if pre == "tel" and n.isdigit():
                segs += 1
                try:
                    nbytes += os.stat(os.path.join(self.spool, f)).st_size
                except OSError:
                    pass
        self.win_peak = max(self.win_peak, segs)
        if segs > self.spool_peak["segments"]:
            self.spool_peak["segments"] = segs
        if nbytes > self.spool_peak["bytes"]:
            self.spool_peak["bytes"] = nbytes

    def count(self, kind):
        with self.lock:
            return sum(1 for e in self.links if e[1] == kind)

    def link_state(self):
        with self.lock:
            return self.links[-1][1] if self.links else None

    def nth(self, kind, n):
        """Time of the n-th (0-based) link event of `kind`."""
        with self.lock:
            k = [e for e in self.links if e[1] == kind]
        return k[n][0] if n < len(k) else None

    def telemetry(self):
        """[(recv time, seq, ts)] in arrival order."""
        with self.lock:
            out = []
            for t, topic, p in self.msgs:
                if topic == TOPIC + "telemetry":
                    try:
                        d = json.loads(p)
                        out.append((t, d["seq"], d.get("ts")))
                    except (ValueError, KeyError, TypeError):
                        out.append((t, None, None))
            return out

    def stop(self):
        self._stop.set()
        self.th.join(timeout=2)
        self.poll()


def wait(cond, timeout, step=0.05):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if cond():
            return True
        time.sleep(step)
    return cond()


def first_after(watch, t_mark):
    """Receive time of the first telemetry record made at or after t_mark
    (its ts; ts has whole seconds), or None."""
    for t, seq, ts in watch.telemetry():
        if t >= t_mark and ts is not None and ts >= int(t_mark) + 1:
            return t
    return None


def reason(line):
    """'LINK down (OSError(110,))' -> 'OSError(110,)'."""
    r = line[len("LINK down"):].strip()
    return r[1:-1] if r.startswith("(") and r.endswith(")") else r


def held_back(tel, per, t_start):
    """Per outage, the records that had to wait on flash: made after the
    newest one received before the freeze and before the first one made
    after the thaw (seqs, as records go out in order)."""
    out = []
    for r in per:
        t_freeze = t_start + r["at_s"]
        t_thaw = t_freeze + r["down_s"]
        before = [seq for t, seq, ts in tel if t < t_freeze and isinstance(seq, int)]
        after = [seq for t, seq, ts in tel if isinstance(seq, int) and isinstance(ts, (int, float))
                 and ts >= t_thaw]
        if before and after:
            r["held_back"] = min(after) - max(before) - 1
            out.append(r["held_back"])
    return out


def stale_status(msgs, per, t_start):
    """Outages after which the retained status last said 'offline' although
    the link was back (the will of an abandoned connection published after
    the new 'online'): the last status message between the thaw and the
    next freeze (or the end)."""
    n = 0
    for k, r in enumerate(per):
        t_thaw = t_start + r["at_s"] + r["down_s"]
        t_next = t_start + per[k + 1]["at_s"] if k + 1 < len(per) else float("inf")
        last = [p for t, topic, p in msgs if topic == TOPIC + "status" and t_thaw <= t < t_next]
        if last and last[-1] != "online":
            n += 1
    return n


def ring_segments(cfg):
    """Segments of the telemetry ring for this config (mqtt.spool_tel_kb //
    4, the firmware's own default filled in by its schema); None when this
    firmware has no such key."""
    try:
        from firmware import config as config_mod
        kb = config_mod.validate(json.loads(json.dumps(cfg)))["mqtt"].get("spool_tel_kb")
    except Exception:       # a schema this bench does not know
        return None
    return kb // 4 if kb else None


def state_drops(msgs):
    """The ring drop counters the firmware puts in its retained state
    (dropped_telemetry, dropped_events): the highest seen, or None when
    no state message carried them."""
    out = {"n": 0, "telemetry": None, "events": None}
    for t, topic, p in msgs:
        if topic != TOPIC + "state":
            continue
        out["n"] += 1
        try:
            d = json.loads(p)
        except ValueError:
            continue
        for key, name in (("dropped_telemetry", "telemetry"), ("dropped_events", "events")):
            v = d.get(key)
            if isinstance(v, int):
                out[name] = v if out[name] is None else max(out[name], v)
    return out


def judge(tel):
    """Seqs as a receiver takes them: repeats dropped, new-but-lower is an
    error, holes in first..last are losses."""
    seen = set()
    top = None
    repeats = order_errors = bad = 0
    delays = []
    for t, seq, ts in tel:
        if not isinstance(seq, int):
            bad += 1
            continue
        if seq in seen:
            repeats += 1
            continue
        if top is not None and seq < top:
            order_errors += 1
        seen.add(seq)
        top = seq if top is None else max(top, seq)
        if isinstance(ts, (int, float)):
            delays.append(t - ts)
    if not seen:
        return {"first": None, "last": None, "produced": 0, "received": 0, "lost": 0,
                "missing": [], "repeats": repeats, "out_of_order": order_errors,
                "unparsed": bad, "delay_s": None}
    first, last = min(seen), max(seen)
    ts_of = {}
    for t, seq, ts in tel:
        if isinstance(seq, int) and isinstance(ts, (int, float)):
            ts_of.setdefault(seq, ts)
    gaps = [ts_of[q + 1] - ts_of[q] for q in range(first, last) if q in ts_of and q + 1 in ts_of]
    missing = [q for q in range(first, last + 1) if q not in seen]
    return {"first": first, "last": last, "produced": last - first + 1,
            "received": len(seen), "lost": len(missing), "missing": missing[:50],
            "repeats": repeats, "out_of_order": order_errors, "unparsed": bad,
            "ts_gap_max_s": round(max(gaps), 2) if gaps else None,
            "delay_s": {"mean": round(statistics.mean(delays), 2),
                        "median": round(statistics.median(delays), 2),
                        "max": round(max(delays), 2)} if delays else None}


def run(outages=100, down=3.0, settle=1.0, reconnect_timeout=120.0, progress=None,
        micropython=None):
    import host_run
    micropython = host_run.micropython_path(micropython)
    tmp = tempfile.mkdtemp(prefix="bench-outages-")
    flash = os.path.join(tmp, "flash")
    broker = cab = op = fw = watch = None
    t_start = time.time()
    per = []
    try:
        broker = Broker()
        cab = Cabinet(tmp, speed=1, start_hour=12.0, seed=1)
        op = Operator(broker.port)
        cfg = mqtt_config(cab, broker)
        mq = cfg["mqtt"]
        ring_segs = ring_segments(cfg)
        fw = Firmware(tmp, cfg, flash=flash, micropython=micropython)
        watch = Watch(op, fw, os.path.join(flash, "spool"))

        def alive():
            if fw.p.poll() is not None:
                raise BenchError("the firmware exited (%s):\n%s"
                                 % (fw.p.returncode, "\n".join(fw.lines[-30:])))

        if not wait(lambda: watch.count("up") >= 1 or fw.p.poll() is not None, 60):
            raise BenchError("no LINK up within 60 s:\n" + "\n".join(fw.lines[-30:]))
        alive()
        if not wait(lambda: len(watch.telemetry()) >= 3, 30):
            raise BenchError("no telemetry within 30 s of LINK up")
        t_first_link = watch.nth("up", 0)

        for i in range(outages):
            alive()
            ups, downs = watch.count("up"), watch.count("down")
            watch.win_peak = 0                      # this outage's peak
            t_freeze = time.time()
            broker.freeze()
            time.sleep(down)
            t_thaw = time.time()
            broker.thaw()
            # Back up: a new LINK up line; or, had the firmware not noticed
            # the freeze at all (no LINK down), the link simply stayed up.
            ok = wait(lambda: watch.count("up") > ups or
                      (watch.count("down") == downs and time.time() - t_thaw > 5 and
                       watch.link_state() == "up"), reconnect_timeout)
            alive()
            if not ok:
                raise BenchError("outage %d: no LINK up within %.0f s of the thaw; link lines: %s"
                                 % (i + 1, reconnect_timeout,
                                    [e[2] for e in watch.links[-6:]]))
            t_up = watch.nth("up", ups) if watch.count("up") > ups else None
            caught = wait(lambda: first_after(watch, t_thaw) is not None, 30)
            t_caught = first_after(watch, t_thaw) if caught else None
            row = {"i": i + 1, "at_s": round(t_freeze - t_start, 2),
                   "down_s": round(t_thaw - t_freeze, 2),
                   "link_downs": watch.count("down") - downs,
                   "thaw_to_up_s": round(t_up - t_thaw, 2) if t_up else None,
                   "thaw_to_caught_up_s": round(t_caught - t_thaw, 2) if t_caught else None,
                   "spool_peak_segments": watch.win_peak}
            per.append(row)
            time.sleep(settle)
            row["cycle_s"] = round(time.time() - t_freeze, 2)
            if progress:
                progress(row)

        # The end: the link up, the replay caught up, then a few seconds more
        # for late repeats.
        t_end_mark = time.time()
        wait(lambda: watch.link_state() == "up" and first_after(watch, t_end_mark) is not None,
             60)
        time.sleep(3)
        alive()
        watch.stop()
        t_run = time.time() - t_start

        tel = watch.telemetry()
        j = judge(tel)
        held = held_back(tel, per, t_start)
        sizes = [len(p) for t, topic, p in watch.msgs if topic == TOPIC + "telemetry"]
        rec_bytes = statistics.mean(sizes) + 8 if sizes else None     # + ring.py's header
        reasons = collections.Counter(reason(e[2]) for e in watch.links if e[1] == "down")
        status = [p for t, topic, p in watch.msgs if topic == TOPIC + "status"]
        drops = state_drops(watch.msgs)
        stale = stale_status(watch.msgs, per, t_start)
        ups_s = [r["thaw_to_up_s"] for r in per if r["thaw_to_up_s"] is not None]
        caught_s = [r["thaw_to_caught_up_s"] for r in per if r["thaw_to_caught_up_s"] is not None]
        cycles = [r["cycle_s"] for r in per]
        errors = [l for l in fw.lines if l.startswith("ERROR in cycle") or "MemoryError" in l
                  or l.startswith("Traceback")]
        res = {
            "outages_asked": outages,
            "outages_done": len(per),
            "outages_unnoticed": sum(1 for r in per if r["link_downs"] == 0),
            "down_s": down, "settle_s": settle,
            "heap": Firmware.HEAP,
            "micropython": micropython,
            "mqtt": {"telemetry_s": mq["telemetry_s"], "timeout_s": mq["timeout_s"],
                     "keepalive_s": mq["keepalive_s"]},
            "seq_first": j["first"], "seq_last": j["last"],
            "records_produced": j["produced"],
            "records_received": j["received"],
            "records_lost": j["lost"],
            "missing_seqs": j["missing"],
            "repeats_dropped": j["repeats"],
            "out_of_order": j["out_of_order"],
            "unparsed": j["unparsed"],
            "delivery_delay_s": j["delay_s"],
            "ts_gap_max_s": j["ts_gap_max_s"],
            "held_back": {"mean": round(statistics.mean(held), 1), "max": max(held)}
            if held else None,
            "ring_record_bytes": round(rec_bytes, 1) if rec_bytes else None,
            # Whole records per 4 KB segment; the ring drops its oldest
            # segment when a 17th is begun, so 15 full ones are always kept.
            "ring_capacity_records": (SEG_BYTES // int(rec_bytes + 0.999)) * (ring_segs - 1)
            if rec_bytes and ring_segs else None,
            "thaw_to_link_up_s": {"mean": round(statistics.mean(ups_s), 2),
                                  "median": round(statistics.median(ups_s), 2),
                                  "max": max(ups_s), "min": min(ups_s)} if ups_s else None,
            "thaw_to_caught_up_s": {"mean": round(statistics.mean(caught_s), 2),
                                    "max": max(caught_s)} if caught_s else None,
            "caught_up_missing": sum(1 for r in per if r["thaw_to_caught_up_s"] is None),
            "seconds_per_outage": round(statistics.mean(cycles), 2) if cycles else None,
            "run_s": round(t_run, 1),
            "first_link_up_s": round(t_first_link - t_start, 1),
            "link_up_lines": watch.count("up"),
            "link_down_lines": watch.count("down"),
            "link_down_reasons": dict(reasons.most_common()),
            "spool_peak_segments": watch.spool_peak["segments"],
            "spool_peak_bytes": watch.spool_peak["bytes"],
            "ring_segments": ring_segs,
            "ring_bytes": ring_segs * SEG_BYTES if ring_segs else None,
            "state_messages": drops["n"],
            "ring_dropped_telemetry": drops["telemetry"],
            "ring_dropped_events": drops["events"],
            "status_messages": dict(collections.Counter(status)),
            "status_last": status[-1] if status else None,
            "status_offline_after_reconnect": stale,
            "firmware_errors": len(errors),
            "firmware_error_lines": errors[:10],
            "goal_lost": 0,
            "lost_ok": j["lost"] == 0 and j["produced"] > 0,
            "order_ok": j["out_of_order"] == 0 and j["unparsed"] == 0,
            "per_outage": per,
        }
        return res
    finally:
        if broker is not None:
            try:
                broker.thaw()       # stopped mid-outage: a frozen broker would hang op.stop()
            except Exception:
                pass
        if watch is not None:
            watch.stop()
        try:
            if fw is not None:
                fw.stop()
        finally:
            try:
                if op is not None:
                    op.stop()
            finally:
                try:
                    if cab is not None:
                        cab.close()
                finally:
                    try:
                        if broker is not None:
                            broker.stop()
                    finally:
                        shutil.rmtree(tmp, ignore_errors=True)


def drops_text(r):
    if r["ring_dropped_telemetry"] is None:
        return "not published by this firmware (%d state messages)" % r["state_messages"]
    return "telemetry %d, events %s (highest in %d state messages)" % (
        r["ring_dropped_telemetry"], r["ring_dropped_events"], r["state_messages"])


def print_table(r):
    w = print
    n = r["outages_done"]
    w("Telemetry across %d broker outages (frozen %.1f s each; firmware .mpy in its ROMFS image,"
      % (n, r["down_s"]))
    w("  unix port, %s heap); telemetry_s %d, timeout_s %s, keepalive_s %d" % (r["heap"],
      r["mqtt"]["telemetry_s"], r["mqtt"]["timeout_s"], r["mqtt"]["keepalive_s"]))
    w("  MicroPython: %s" % r["micropython"])
    w("")
    up = r["thaw_to_link_up_s"] or {}
    cu = r["thaw_to_caught_up_s"] or {}
    dd = r["delivery_delay_s"] or {}
    rows = [
        ("outages done", "%d of %d (%d not noticed by the firmware)" % (
            n, r["outages_asked"], r["outages_unnoticed"]), ""),
        ("telemetry records produced", "%s (seq %s..%s)" % (
            r["records_produced"], r["seq_first"], r["seq_last"]), ""),
        ("records received", "%d" % r["records_received"], ""),
        ("records lost (missing seqs)", "%d" % r["records_lost"], ""),
        ("repeats dropped (QoS 1)", "%d" % r["repeats_dropped"], ""),
        ("out-of-order errors", "%d%s" % (r["out_of_order"], " (+%d unparsed)" % r["unparsed"]
                                          if r["unparsed"] else ""),
         "sanity 0  %s" % goal(r["order_ok"])),
        ("thaw -> LINK up", "mean %s, median %s, min %s, max %s s" % (
            up.get("mean"), up.get("median"), up.get("min"), up.get("max")), ""),
        ("thaw -> backlog replayed", "mean %s, max %s s%s" % (
            cu.get("mean"), cu.get("max"), " (%d never seen)" % r["caught_up_missing"]
            if r["caught_up_missing"] else ""), ""),
        ("records held back an outage", "mean %s, max %s (ring holds ~%s of %s B)" % (
            (r["held_back"] or {}).get("mean"), (r["held_back"] or {}).get("max"),
            r["ring_capacity_records"], r["ring_record_bytes"]), ""),
        ("record ts -> received", "median %s, mean %s, max %s s (ts: poll start)" % (
            dd.get("median"), dd.get("mean"), dd.get("max")), ""),
        ("longest ts gap between records", "%s s (telemetry_s %d: the loop waits on the broker)"
         % (r["ts_gap_max_s"], r["mqtt"]["telemetry_s"]), ""),
        ("firmware LINK down / up lines", "%d / %d" % (r["link_down_lines"], r["link_up_lines"]),
         ""),
        ("telemetry ring files, peak", "%d of %s segments, %.1f of %s KB" % (
            r["spool_peak_segments"], r["ring_segments"] or "?", r["spool_peak_bytes"] / 1024.0,
            r["ring_bytes"] // 1024 if r["ring_bytes"] else "?"), ""),
        ("ring.dropped (retained state)", drops_text(r), ""),
        ("status messages", ", ".join("%s %d" % kv for kv in r["status_messages"].items())
         + "; last: %s" % r["status_last"], ""),
        ("status 'offline' after reconnect", "%d outages" % r["status_offline_after_reconnect"],
         ""),
        ("firmware errors", "%d" % r["firmware_errors"], ""),
        ("time per outage", "%.2f s" % r["seconds_per_outage"] if r["seconds_per_outage"]
         else "-", ""),
        ("total run time", "%.1f s (first LINK up after %.1f s)" % (
            r["run_s"], r["first_link_up_s"]), ""),
    ]
    for k, v, g in rows:
        w("  %-33s %-52s %s" % (k, v, g))
    if r["link_down_reasons"]:
        w("  LINK down reasons: " + "; ".join(
            "%s x%d" % kv for kv in r["link_down_reasons"].items()))
    if r["missing_seqs"]:
        w("  missing seqs (first 50): %s" % r["missing_seqs"])
    for line in r["firmware_error_lines"]:
        w("  firmware: %s" % line)
    w("")
    w("records lost across %d outages: %d  goal 0  %s" % (n, r["records_lost"],
                                                      goal(r["lost_ok"])))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--outages", type=int, default=100, help="broker outages (default 100)")
    ap.add_argument("--down", type=float, default=3.0,
                    help="seconds the broker stays frozen (default 3)")
    ap.add_argument("--settle", type=float, default=1.0,
                    help="seconds after the replay before the next outage (default 1)")
    ap.add_argument("--reconnect-timeout", type=float, default=120.0,
                    help="seconds to wait for LINK up after a thaw (default 120)")
    ap.add_argument("--progress", action="store_true",
                    help="one line per outage on stderr as it goes")
    add_options(ap)
    args = ap.parse_args(argv)
    if args.outages < 1 or args.down <= 0:
        ap.error("--outages must be at least 1 and --down above 0")

    def progress(row):
        print("outage %(i)d: down %(down_s)ss, %(link_downs)d LINK down, up %(thaw_to_up_s)ss "
              "after thaw, replayed %(thaw_to_caught_up_s)ss, spool %(spool_peak_segments)d "
              "segs, cycle %(cycle_s)ss" % row, file=sys.stderr, flush=True)

    def term(signum, _frame):
        raise SystemExit(128 + signum)      # so that run() stops what it started
    signal.signal(signal.SIGTERM, term)
    return report("bench_outages",
                  lambda: run(args.outages, args.down, args.settle, args.reconnect_timeout,
                              progress if args.progress else None, args.micropython),
                  print_table, args.json, failures=(BenchError, AssertionError, OSError))


if __name__ == "__main__":
    sys.exit(main())
