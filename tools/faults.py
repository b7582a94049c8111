#!/usr/bin/env python3
"""The fault suite of issue 14: hostile input and faults, run against the
firmware in the MicroPython unix port, the cabinet emulator and a real
mosquitto, with one table row per fault class.

    .venv/bin/python tools/faults.py [--short | --soak] [--interp pypi,esp32like]
                                     [--classes replay,mqtt_input,...] [--json]

The classes (CLASSES below, in the order they run):
- replay: signed commands replayed in the window, after many other
  accepted commands, and across a `reboot` command; besides, bad
  signatures and stale and future timestamps.
- mqtt_input: oversized (4 KB, and 16 KB short / 256 KB soak), retained
  (a 256 KB one waiting before the firmware connects, more while it runs),
  nested (300 and 1,000 deep) and flooded (40 at once) messages on `cmd`.
- modbus: late (answer_delay_ms past the bus timeout), split (each answer
  in two pieces), garbage (crc, truncate, noise, mixed), wrong-unit,
  exception, silent and every-other replies from the emulated devices.
- broker: mosquitto frozen (SIGSTOP), killed and restarted, flapping,
  refusing (nothing listens) and a TCP peer that never sends CONNACK.
- powercut: a power cut at every block write and erase of the flash ring
  and of store.save() (host_tests' ring/store power-cut rigs on LittleFS).
- config: a corpus of bad config files, each with and without a
  config.lkg.json, offered to the firmware's start-up at the board's heap.
- console: random console lines, PIN guessing and a paste of `raw` bus
  reads of an absent unit (one a control cycle: wrongly = reads that ran
  without a tick between them) on the serial console.

The MQTT classes (replay, mqtt_input, modbus, broker) share one firmware
run a interpreter (host_tests/rigs.py's MqttSite: tools/host_run.py at the
board's heap, mqtt.timeout_s 1, poll_s 0.5, the gw bus paced at 9600 baud
with timeout_ms 300).

Columns, per class and interpreter:
- injected: the faults injected (messages, replies spoilt, outages, cuts,
  files, lines);
- wrongly: accepted when it must not be (a replayed, unsigned, stale or
  future command taken; a device write nobody commanded; a record or
  config that is neither the old nor the new; a wrong PIN taken);
- missing: results missing (a message on `cmd` without its one result or
  event; a device fault not reported or not recovered from; the link not
  back; a bad config that crashed or skipped the last known good; a
  console line without its prompt back);
- stall: the loop's longest stall, ms: the longest gap between two of
  the firmware's per-cycle lines less the median gap (a normal turn: poll_s
  or the bus's own time, whichever is longer); bound: mqtt.timeout_s plus
  one bus timeout (the console: its slowest prompt, no bound);
- lost: telemetry seqs missing between the first and last received (or
  records the power-cut rigs lost);
- heap: heap_free before > after (the firmware's own gc.mem_free() after a
  collection: from its MQTT `state`, the console's `status`, or the
  MicroPython script's).

Exit status 1 when a class misses a goal (wrongly, missing, lost 0; stall
within bound; heap after at most 1 KB under before, 3 KB for the classes
on the live link: LINK_HEAP_SLACK), 2 when a run failed.
--short is what host_tests/test_faults.py runs in CI; --soak runs more
of each.
"""
import argparse
import json
import os
import random
import re
import shutil
import socket
import sys
import threading
import time

from bench_rig import ROOT, BenchError, Rig

sys.path.insert(0, os.path.join(ROOT, "host_tests"))     # the test rigs
from rigs import (INTERPRETERS, KEY, Cabinet, MqttSite, board_heap,  # noqa: E402
                  drain, example_config, run_mpy_result)
from console_term import Terminal  # noqa: E402
from firmware.uplink import commands  # noqa: E402

SITE = "sites/BTS-0042/"
CMD = SITE + "cmd"
RESULT = SITE + "cmd/result"
CYCLE = re.compile(r"^\d\d:\d\d:\d\d PV ")
BUS_TIMEOUT_MS = 300
HEAP_SLACK = 1024
# The classes on the live link compare heap readings minutes apart in a
# firmware whose bounded memories fill and drain meanwhile: the command ids
# remembered for the replay window (up to 64, for 60 s), the inbox and
# its busy list, the alarms and the event log's RAM ring (16). Their
# readings drift by up to ~2 KB and come back (README, "The fault suite");
# they are held to 3 KB, the others to the 1 KB.
LINK_HEAP_SLACK = 3072
LINK_CLASSES = ("replay", "mqtt_input", "modbus", "broker")

# How much of each: (short, soak). The short run (CI, host_tests/test_faults.py)
# takes a few of each kind, the ones no other CI test injects first;
# besides, in CI: host_tests/test_uplink_hostile.py runs the replays after
# 64+ others and across a reboot, and every hostile message kind, on both
# interpreters; test_rtu_late_answer.py late answers; test_ring_powercut.py
# and test_store_powercut.py the power cuts on both; test_console.py
# 10,000 random lines and the raw paste; test_uplink_spool.py a frozen
# broker.
SIZES = {
    "replay_others": (7, 70),           # accepted commands between a command and its replay
    "replay_rounds": (1, 3),
    "replay_reboot": (0, 1),            # replays across a reboot command
    "input_rounds": (1, 5),
    "big_kb": (16, 256),                # the oversized messages sent while connected
    "modbus_s": (1.5, 8),                 # seconds each fault lasts (at least)
    "modbus_faults": (("wrong unit", "exception"), None),
    "broker_rounds": (1, 4),
    "broker_down_s": (2, 4),            # how long the broker is frozen, refusing, ...
    "broker_outages": (("no CONNACK",), None),
    "console_lines": (40, 1000),
    "pin_guesses": (4, 40),
    "raw_paste": (3, 20),               # `raw` reads of an absent unit pasted at once
}
SHORT_INTERPS = {}      # class: the interpreters besides the first that the short run takes


def row(cls, interp, injected, wrongly, missing, stall=None, bound=None, lost=0, heap0=None,
        heap1=None, note=""):
    return {"class": cls, "interp": interp, "injected": injected, "wrongly": wrongly,
            "missing": missing, "stall_ms": stall, "bound_ms": bound, "lost": lost,
            "heap_before": heap0, "heap_after": heap1, "note": note}


def misses(r):
    """The goals a row missed (empty: all met)."""
    out = [k for k in ("wrongly", "missing", "lost") if r[k]]
    if r["stall_ms"] is not None and r["bound_ms"] is not None and r["stall_ms"] > r["bound_ms"]:
        out.append("stall")
    slack = LINK_HEAP_SLACK if r["class"] in LINK_CLASSES else HEAP_SLACK
    if r["heap_before"] is not None and r["heap_after"] is not None and \
            r["heap_after"] < r["heap_before"] - slack:
        out.append("heap")
    return out


# -- the MQTT site: replay, mqtt_input, modbus, broker ----------------------

class Site:
    """rigs.MqttSite with the firmware started, and what the classes ask of it."""

    def __init__(self, tmp, interp):
        self.interp = interp
        self.s = MqttSite(tmp, start_hour=12.0, micropython=INTERPRETERS[interp],
                          baud_pace=9600)
        try:
            self.s.cfg["buses"]["gw"]["timeout_ms"] = BUS_TIMEOUT_MS
            self.op = self.s.op
            self.op.c.reconnect_delay_set(min_delay=1, max_delay=1)
            # When the operator (re)subscribed: a broker restarted without
            # persistence has forgotten its subscription until then.
            self.op_connects = []
            on_connect = self.op.c.on_connect

            def stamped(c, u, f, rc, p):
                on_connect(c, u, f, rc, p)
                self.op_connects.append(time.time())
            self.op.c.on_connect = stamped
            # A retained 256 KB message waits on cmd before the firmware connects.
            self.op.c.publish(CMD, b"x" * 262144, qos=1, retain=True).wait_for_publish(10)
            self.fw = self.s.start(flash=os.path.join(str(tmp), "flash"))
            self.op.take(SITE + "status", lambda p: p == "online", timeout=60)
            self.op.take(SITE + "telemetry", timeout=30)
            # The retained message: one event, then cleared (an empty retained message).
            if not [e for e in self.events(0) if "retained message on cmd" in e]:
                try:
                    self.op.take(SITE + "event", lambda p: "retained message on cmd" in p,
                                 timeout=10)
                except AssertionError:
                    pass
            mark = len(self.op.all)
            self.op.c.publish(CMD, b"", qos=1, retain=True).wait_for_publish(10)
            self.settle(mark, n_other=1, timeout=10)      # its result: malformed, id null
            self.retained_events = len([e for e in self.events(0)
                                        if "retained message on cmd" in e])
            # The event log keeps its newest 16 events in RAM: filled before
            # any heap_free is read (gen_mode changes, 8 at a time, the
            # inbox's size), so that a class's heap after is compared with a
            # heap that held as many.
            for b in range(2):
                mark = len(self.op.all)
                ids = ["fill%d-%d" % (b, i) for i in range(8)]
                for k, i in enumerate(ids):
                    self.publish(self.signed("gen_mode", i, {"mode": ("manual", "auto")[k % 2]}))
                self.settle(mark, ids)
        except BaseException:
            self.s.close()
            raise
        self.bound = int(self.s.cfg["mqtt"]["timeout_s"] * 1000) + BUS_TIMEOUT_MS
        self.poll_ms = int(self.s.cfg["poll_s"] * 1000)
        self.mode = "auto"          # the example config's generator mode
        self.last_heap = None

    def close(self):
        self.s.close()

    def publish(self, payload, retain=False):
        self.op.c.publish(CMD, payload, qos=1, retain=retain)

    @staticmethod
    def signed(cmd, cid, args=None, ts=None, key=KEY):
        return commands.envelope(key, cmd, args, cid, int(time.time()) if ts is None else ts)

    def wait(self, secs):
        drain(self.op, secs)

    def results(self, since):
        return [json.loads(p) for t, p in self.op.all[since:] if t == RESULT]

    def events(self, since):
        return [json.loads(p)["text"] for t, p in self.op.all[since:] if t == SITE + "event"]

    def settle(self, since, ids=(), n_other=0, timeout=30, events=None):
        """Drain until every id in `ids` has a result and n_other results
        with id null (plus events containing `events`, when given) came."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            self.wait(0.3)
            rs = self.results(since)
            got = {r.get("id") for r in rs}
            other = len([r for r in rs if r.get("id") is None])
            if events:
                other += len([e for e in self.events(since) if events in e])
            if all(i in got for i in ids) and other >= n_other:
                break
        self.wait(0.7)          # a second result (a double) would come in this

    def stall(self, t0, t1=None):
        t1 = t1 or time.time()
        ts = [t for t, l in zip(list(self.fw.stamps), list(self.fw.lines))
              if t0 <= t <= t1 and CYCLE.match(l)]
        if len(ts) < 3:
            return None
        gaps = sorted(b - a for a, b in zip(ts, ts[1:]))
        return max(0, int((gaps[-1] - gaps[len(gaps) // 2]) * 1000))

    def heap_before(self):
        """The heap reading a class starts from: the one the class before
        ended with, else a new one."""
        return self.last_heap if self.last_heap is not None else self.heap()

    def heap(self):
        """heap_free of the retained state that a gen_mode change sends (the
        firmware's gc.mem_free() after a collection): the second of two
        such changes, once what the first reading's turn still held (the
        last messages in and out) is gone."""
        for _ in range(2):
            self.mode = "auto" if self.mode == "manual" else "manual"
            r = self.op.command("gen_mode", {"mode": self.mode})
            if r.get("status") != "ok":
                raise BenchError("gen_mode refused: %r" % r)
            st = json.loads(self.op.take(SITE + "state",
                                         lambda p: json.loads(p).get("gen_mode") == self.mode))
        self.last_heap = st["heap_free"]
        return st["heap_free"]

    def lost(self, since, prev=False):
        """Telemetry seqs missing between the first and the last received
        since (prev: from the last one received before, so that a record
        lost at the start counts)."""
        tel = [json.loads(p)["seq"] for t, p in self.op.all if t == SITE + "telemetry"]
        n = len([1 for t, _ in self.op.all[:since] if t == SITE + "telemetry"])
        got = sorted(set(tel[max(0, n - 1) if prev else n:]))
        return (got[-1] - got[0] + 1 - len(got)) if got else 0

    def link_downs(self):
        return len([l for l in self.fw.lines if l.startswith("LINK down")])

    def links_up(self):
        return len([l for l in self.fw.lines if l == "LINK up"])

    def wait_link_up(self, n_before, timeout=60):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.links_up() > n_before:
                return True
            self.wait(0.2)
        return False

    def writes(self):
        return [w for w in self.s.cab.emu.writes() if w.get("device")]


def c_replay(site, size):
    s = site
    since = len(s.op.all)
    t0 = time.time()
    heap0 = s.heap_before()
    injected = wrongly = missing = 0
    ok_ids = set()

    def honest(ids):
        nonlocal missing
        mark = len(s.op.all)
        for i in ids:
            s.publish(s.signed("telemetry_now", i))
        s.settle(mark, ids)
        got = {r["id"]: r for r in s.results(mark) if r.get("id") in ids}
        missing += len([i for i in ids if i not in got])
        ok_ids.update(i for i in ids if got.get(i, {}).get("status") == "ok")

    def hostile(items):
        """(payload, id): each must get one result, never ok."""
        nonlocal injected, wrongly, missing
        mark = len(s.op.all)
        for payload, cid in items:
            injected += 1
            s.publish(payload)
        s.settle(mark, [cid for _, cid in items])
        rs = s.results(mark)
        for _, cid in items:
            mine = [r for r in rs if r.get("id") == cid]
            if not mine:
                missing += 1
            wrongly += len([r for r in mine if r["status"] == "ok"])

    tag = "r%d" % int(time.time() * 1000 % 1e8)
    for rnd in range(size("replay_rounds")):
        first = "%s-%d-first" % (tag, rnd)
        payload = s.signed("telemetry_now", first)
        honest([first])
        hostile([(payload, first)])                               # in the window
        n = size("replay_others")
        for b in range(0, n, 7):
            honest(["%s-%d-%d" % (tag, rnd, i) for i in range(b, min(n, b + 7))])
        hostile([(payload, first)])                               # after many others
        now = int(time.time())
        hostile([(s.signed("telemetry_now", tag + "-stale", ts=now - 400), tag + "-stale"),
                 (s.signed("telemetry_now", tag + "-future", ts=now + 400), tag + "-future"),
                 (s.signed("telemetry_now", tag + "-badsig", key="wrong"), tag + "-badsig")])
    if not size("replay_reboot"):
        heap1 = s.heap()
        return row("replay", s.interp, injected, wrongly, missing, s.stall(t0), s.bound,
                   s.lost(since), heap0, heap1)
    # Across a reboot.
    reboot_id = tag + "-reboot"
    reboot = s.signed("reboot", reboot_id)
    last = s.signed("telemetry_now", tag + "-last")
    honest([tag + "-last"])
    ups = s.links_up()
    mark = len(s.op.all)
    lost = s.lost(since)
    s.publish(reboot)
    s.settle(mark, [reboot_id])
    if not s.fw.wait_for("[host_run] board reset: starting again", 30) or not s.wait_link_up(ups):
        raise BenchError("no restart after the reboot command: %s" % s.fw.lines[-10:])
    s.op.take(SITE + "telemetry", timeout=30)
    after = len(s.op.all) - 1
    hostile([(reboot, reboot_id), (last, tag + "-last")])
    honest([tag + "-after"])
    missing += len([i for i in (tag + "-after",) if i not in ok_ids])
    heap1 = s.heap()
    # The reboot's restart is no loop stall: the stall is measured up to it
    # and after the firmware's restart.
    t_rb = [t for t, l in zip(s.fw.stamps, s.fw.lines) if "board reset: starting again" in l]
    stall = max(x for x in (s.stall(t0, t_rb[-1] - 1), s.stall(t_rb[-1] + 10)) if x is not None)
    # Telemetry seqs are reserved on flash 256 at a time: a restart goes on
    # after the last reservation (a gap by design), so lost is counted
    # before the reboot and after it.
    return row("replay", s.interp, injected, wrongly, missing, stall, s.bound,
               lost + s.lost(after), heap0, heap1, "heap after: after the reboot")


def c_mqtt_input(site, size):
    s = site
    since = len(s.op.all)
    # The retained 256 KB message that waited before the connect: one event
    # (Site.__init__).
    injected = 1
    missing = 0 if s.retained_events == 1 else 1
    heap0 = s.heap_before()
    t0 = time.time()
    downs = s.link_downs()
    wrongly = 0
    snow = "\u2603" * 20
    tag = "i%d" % int(time.time() * 1000 % 1e8)
    big = size("big_kb") * 1024
    for rnd in range(size("input_rounds")):
        env300 = '{"body": "x", "sig": "", "a": ' + "[" * 300 + "]" * 300 + "}"
        body300 = '{"id": "n1", "args": ' + "[" * 300 + "]" * 300 + "}"
        # (payload, retain, id or None: a result with it; None: a null result or an event)
        ids = ["%s-%d-f%02d" % (tag, rnd, i) for i in range(40)]
        phases = [
            [(b"{" * 4096, False, None)],
            # Its first bytes name its id: refused by a result to it.
            [(s.signed("gen_stop", tag + "big", {"pad": "x" * big}), False, tag + "big")],
            [(b"y" * 4096, True, None), (b"z" * big, True, None)],
            [(env300, False, None), (json.dumps({"body": body300, "sig": "00"}), False, None)],
            [("[" * 1000 + "]" * 1000, False, None), ("{" * 1000, False, None)],
            [(s.signed("gen_stop", snow), False, None),
             (commands.envelope("wrong", "gen_stop", None, snow, int(time.time())), False, None),
             (json.dumps({"body": json.dumps({"id": snow}), "sig": "\u2603"}), False, None)],
            [(s.signed("telemetry_now", i), False, i) for i in ids],
        ]
        for sends in phases:
            mark = len(s.op.all)
            want = [i for _, _, i in sends if i]
            n_null = len([1 for _, _, i in sends if i is None])
            for payload, retain, _ in sends:
                injected += 1
                s.publish(payload, retain)
            s.settle(mark, want, n_null, timeout=60, events="discarded unread")
            rs = s.results(mark)
            nulls = len([r for r in rs if r.get("id") is None]) + \
                len([e for e in s.events(mark) if "discarded unread" in e])
            missing += len([i for i in want if not [r for r in rs if r.get("id") == i]])
            missing += max(0, n_null - nulls)
            wrongly += len([r for r in rs if r["status"] == "ok" and r.get("id") not in want])
            if any(retain for _, retain, _ in sends):
                s.op.c.publish(CMD, b"", qos=1, retain=True).wait_for_publish(10)
                s.settle(len(s.op.all), n_other=1)
    downs = s.link_downs() - downs
    heap1 = s.heap()
    return row("mqtt_input", s.interp, injected, wrongly, missing + downs, s.stall(t0), s.bound,
               s.lost(since), heap0, heap1, "%d link downs" % downs if downs else "")


# The Modbus faults: (name, device, how to set it, how to clear it, the
# alarms that report it: the firmware must raise one of them while the
# fault lasts, and clear all it raised after). The device offline, or, as
# long as some of its requests still get good answers, "dev_data_missing"
# (online, some values with no fresh data): a late answer can still come
# within the wait for its own request, a split one (two pieces 30 ms apart)
# can still be joined within the line's quiet gap or be dropped as two
# broken frames, never half taken; a unit that answers every other request
# leaves one of the genset's two blocks a cycle without data.
OFF, PART = "dev_offline.", "dev_data_missing"
MODBUS_FAULTS = (
    ("late", "genset", ("set", "answer_delay_ms", 450), ("set", "answer_delay_ms", 0),
     (OFF, PART)),
    ("split", "meter", ("set", "fault", "split"), ("set", "fault", ""), (OFF, PART)),
    ("garbage crc", "meter", ("garbage", "crc"), ("garbage", None), (OFF,)),
    ("garbage truncate", "bms1", ("garbage", "truncate"), ("garbage", None), (OFF,)),
    ("garbage noise", "mppt1", ("garbage", "noise"), ("garbage", None), (OFF,)),
    ("garbage mixed", "genset", ("garbage", "mixed"), ("garbage", None), (OFF,)),
    ("wrong unit", "bms1", ("set", "fault", "wrong_unit"), ("set", "fault", ""), (OFF,)),
    ("exception", "mppt1", ("set", "fault", "exception"), ("set", "fault", ""), (PART,)),
    ("silent", "meter", ("silent", True), ("silent", False), (OFF,)),
    ("every other", "genset", ("set", "fault", "every_other"), ("set", "fault", ""), (PART,)),
)


def _emu_apply(emu, device, how):
    if how[0] == "set":
        emu.set(how[1], how[2], device=device)
    elif how[0] == "garbage":
        emu.garbage(device, on=how[1] is not None, mode=how[1] or "crc")
    else:
        emu.silent(device, on=how[1])


def c_modbus(site, size):
    s = site
    since = len(s.op.all)
    heap0 = None
    t0 = time.time()
    emu = s.s.cab.emu
    writes0 = len(s.writes())
    injected = missing = 0
    notes = []

    def alarms(n0):
        """{code: [raise/clear, ...]} of the firmware's alarm events since line n0."""
        out = {}
        for l in s.fw.lines[n0:]:
            m = re.match(r"EVENT alarm (\S+) (raise|clear)", l)
            if m:
                out.setdefault(m.group(1), []).append(m.group(2))
        return out

    def active():
        """The device alarms active now (their last event a raise)."""
        last = {}
        for code, what in ((c, w) for c, ws in alarms(0).items() for w in ws):
            last[code] = what
        return [c for c, w in last.items() if w == "raise" and
                (c.startswith("dev_offline") or c == "dev_data_missing")]

    for name, dev, on, off, codes in MODBUS_FAULTS:
        if size("modbus_faults") and name not in size("modbus_faults"):
            continue
        codes = [c + dev if c == OFF else c for c in codes]
        injected += 1
        # The last fault's alarms gone first (a device back may need a cycle
        # or two for all of its blocks).
        deadline = time.time() + 20
        while time.time() < deadline and active():
            s.wait(0.5)
        n0 = len(s.fw.lines)
        _emu_apply(emu, dev, on)
        # At least modbus_s seconds; up to 15 s more for a raise.
        t_min = time.time() + size("modbus_s")
        t_max = t_min + 15
        while True:
            s.wait(0.5)
            now = time.time()
            if now >= t_max or now >= t_min and any(
                    "raise" in alarms(n0).get(c, ()) for c in codes):
                break
        raised = [c for c, ws in alarms(n0).items() if "raise" in ws and
                  (c.startswith(OFF) or c == PART)]
        _emu_apply(emu, dev, off)
        deadline = time.time() + 40
        while time.time() < deadline and active():
            s.wait(0.5)
        left = active()
        wrong = [c for c in raised if c not in codes]
        if not [c for c in raised if c in codes] or left or wrong:
            missing += 1
            notes.append("%s: raised %s, left %s" % (name, raised or "nothing", left or "none"))
        if heap0 is None:
            # The first device fault's one-off cost (its code paths, the
            # units' error state) is in the heap before: it does not grow
            # with more faults (README, "The fault suite").
            heap0 = s.heap()
    wrongly = len(s.writes()) - writes0         # nobody commanded a write
    heap1 = s.heap()
    return row("modbus", s.interp, injected, wrongly, missing, s.stall(t0), s.bound,
               s.lost(since), heap0, heap1, "; ".join(notes))


RESTARTS = ("refusing", "no CONNACK", "killed")       # the broker outages that restart it


class SilentPeer:
    """A TCP listener on the broker's port that accepts and never answers
    (no CONNACK): what a half-dead broker or a captive middlebox does."""

    def __init__(self, port):
        self.ls = socket.socket()
        self.ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.ls.bind(("127.0.0.1", port))
        self.ls.listen(8)
        self.conns = []
        self.stopped = False
        self.t = threading.Thread(target=self._run, daemon=True)
        self.t.start()

    def _run(self):
        self.ls.settimeout(0.1)
        while not self.stopped:
            try:
                c, _ = self.ls.accept()
                self.conns.append(c)
            except OSError:
                pass

    def close(self):
        self.stopped = True
        self.t.join()
        for c in self.conns:
            c.close()
        self.ls.close()


def c_broker(site, size):
    s = site
    b = s.s.broker
    since = len(s.op.all)
    heap0 = s.heap_before()
    t0 = time.time()
    injected = missing = 0
    notes = []

    def outage(name, down, up):
        """down(), up(); then the link is back (a new LINK up, or it never
        went down) and telemetry flows. Records lost count when the broker
        kept running, or when it was restarted and the operator had
        subscribed again before the firmware's link came back: else the
        firmware's replay may have reached a broker with no subscriber yet
        (tools/broker.py runs mosquitto without persistence), the broker's
        loss, not the site's (noted as such)."""
        nonlocal injected, missing, lost_total, broker_gaps
        injected += 1
        ups, downs = s.links_up(), s.link_downs()
        mark, t1 = len(s.op.all), time.time()
        down()
        up()
        t_up, m_up = time.time(), len(s.op.all)
        deadline = t_up + 60
        while time.time() < deadline:
            if s.links_up() > ups:
                break
            if s.link_downs() == downs and time.time() > t_up + 2 and \
                    [1 for t, _ in s.op.all[m_up:] if t == SITE + "telemetry"]:
                break           # it never went down: telemetry went on
            s.wait(0.2)
        else:
            missing += 1
            notes.append(name + ": link not back")
            return
        # Its first record after the link is back, so the spool has replayed.
        s.op.take(SITE + "telemetry", timeout=30)
        s.wait(2)
        lost, stall = s.lost(mark, prev=True), s.stall(t1)
        ups_t = [t for t, l in zip(s.fw.stamps, s.fw.lines) if t >= t_up and l == "LINK up"]
        sub_t = [t for t in s.op_connects if t >= t_up]
        raced = name in RESTARTS and bool(ups_t) and (not sub_t or sub_t[0] > ups_t[0])
        if raced:
            broker_gaps += lost
        else:
            lost_total += lost
        notes.append("%s: %d %s, stall %s ms, %.0f s" % (
            name, lost, "seqs the restarted broker had no subscriber for" if raced else "lost",
            stall, time.time() - t1))

    def sleep(x):
        return lambda: time.sleep(x)

    def flap():
        for _ in range(5):
            b.freeze()
            time.sleep(0.6)
            b.thaw()
            time.sleep(0.6)

    def peer():
        b.kill()
        p = SilentPeer(b.port)
        time.sleep(down_s + 1)
        p.close()

    lost_total = broker_gaps = 0
    down_s = size("broker_down_s")
    outages = (("frozen", lambda: (b.freeze(), time.sleep(down_s)), b.thaw),
               ("flapping", flap, lambda: None),
               ("refusing", lambda: (b.kill(), time.sleep(down_s)), b.start),
               ("no CONNACK", peer, b.start),
               ("killed", lambda: (b.kill(), time.sleep(1)), b.start))
    for _ in range(size("broker_rounds")):
        for name, down, up in outages:
            if not size("broker_outages") or name in size("broker_outages"):
                outage(name, down, up)
    heap1 = s.heap()
    return row("broker", s.interp, injected, 0, missing, s.stall(t0), s.bound, lost_total,
               heap0, heap1, "; ".join(notes))


# -- power cut at every write -----------------------------------------------

def c_powercut(tmp, interp, size):
    mp = INTERPRETERS[interp]
    injected = wrongly = missing = 0
    notes = []
    for script in ("host_tests/ring_powercut_mpy.py", "host_tests/store_powercut_mpy.py"):
        try:
            res = run_mpy_result(mp, script)
        except AssertionError as e:         # the rig's own FAIL line: old-or-new broken
            wrongly += 1
            notes.append("%s: %s" % (script, str(e).splitlines()[0][:120]))
            continue
        for r in (res.values() if "store" in script else [res]):
            injected += r["cuts"]
            if r["cuts"] != r["ops"]:
                missing += 1
            if "old_main" in r and r["old_main"] + r["old_backup"] + r["new_main"] != r["cuts"] + 1:
                wrongly += 1
        if "appends" in res and res["appends"] != 30:
            missing += 30 - res["appends"]
    return row("powercut", interp, injected, wrongly, missing, note="; ".join(notes))


# -- the config corpus --------------------------------------------------------

def corpus():
    """{file name: bytes} of bad configs, each to be refused with its reason."""
    good = example_config()
    rnd = random.Random(14)

    def js(**edit):
        c = json.loads(json.dumps(good))
        for path, v in edit.items():
            *head, last = path.split("__")
            d = c
            for k in head:
                d = d[k]
            d[last] = v
        return json.dumps(c).encode()

    dev = good["devices"][0]
    many = [dict(dev, name="d%d" % i, unit=(i % 240) + 1) for i in range(40)]
    return {
        "c_1mb_spaces.json": b" " * 1048576,
        "c_1mb_string.json": b'{"site_id": "' + b"x" * 1048576 + b'"}',
        "c_1mb_random.json": bytes(rnd.randrange(256) for _ in range(1048576)),
        "c_nest_2000.json": b"[" * 2000 + b"]" * 2000,
        "c_nest_5000.json": b'{"a": ' * 5000 + b"1" + b"}" * 5000,
        "c_40_devices.json": js(devices=many),
        "c_site_latin1.json": js(site_id="BTS-\u00e9").replace(b"\\u00e9", b"\xe9"),
        "c_random_small.json": bytes(rnd.randrange(256) for _ in range(300)),
        "c_utf16.json": json.dumps(good).encode("utf-16"),
        "c_prefix_hash.json": js(mqtt__prefix="sites/#"),
        "c_prefix_plus.json": js(mqtt__prefix="+/x"),
        "c_loads_same_pin.json": js(loads=[{"name": "a", "pin": 25}, {"name": "b", "pin": 25}]),
        "c_pin_on_bus.json": js(loads=[{"name": "a", "pin": 17}]),
        "c_truncated.json": json.dumps(good).encode()[:200],
        "c_empty.json": b"",
        "c_null.json": b"null",
        "c_list.json": b"[]",
        "c_poll_string.json": js(poll_s="fast"),
        "c_poll_negative.json": js(poll_s=-1),
        "c_no_devices.json": json.dumps({k: v for k, v in good.items()
                                         if k != "devices"}).encode(),
        "c_bad_bus.json": js(devices=[dict(dev, bus="nowhere")]),
        "c_dup_names.json": js(devices=[dev, dict(dev, unit=9)]),
    }


def c_config(tmp, interp, size):
    files = corpus()
    lkg = example_config(site_id="BTS-LKG")
    injected = wrongly = missing = 0
    notes = []
    with Rig(micropython=INTERPRETERS[interp]) as rig:
        for name, data in files.items():
            with open(os.path.join(rig.flash, name), "wb") as f:
                f.write(data)
        with open(os.path.join(rig.flash, "lkg.json"), "w") as f:
            json.dump(lkg, f)
        lines = rig.run("faults_config.py", sorted(files), heap=board_heap(rig.micropython),
                        timeout=300)
    if os.environ.get("FAULTS_DEBUG"):
        print("\n".join(lines), file=sys.stderr)
    cases = [l.split(" ", 5)[1:] for l in lines if l.startswith("CASE ")]
    heap = [int(x) for x in [l for l in lines if l.startswith("HEAP ")][0].split()[1:]]
    for name, with_lkg, outcome, _, text in cases:
        # Refused with a reason; with a config.lkg.json, the last known good
        # runs and the warning gives the reason.
        injected += 1
        if outcome == "primary":
            wrongly += 1
            notes.append("%s taken" % name)
        elif outcome != ("lkg" if with_lkg == "lkg" else "refused") or \
                "refused ()" in text or text.endswith(": '") or text.endswith(": \"'"):
            missing += 1
            notes.append("%s (%s): %s %s" % (name, with_lkg, outcome, text[:60]))
    if len(cases) != 2 * len(files):
        missing += 2 * len(files) - len(cases)
    return row("config", interp, injected, wrongly, missing, heap0=heap[0], heap1=heap[1],
               note="; ".join(notes))


# -- the console ----------------------------------------------------------------

PIN = "4321"
WORDS = ("status", "help", "gen", "start", "stop", "auto", "manual", "config", "get", "set",
         "save", "revert", "raw", "gw", "99", "3", "0", "125", "alarms", "ack", "dev", "log",
         "lock", "loads", "shed", "poll_s", "generator.start_soc", "-1", "1e99", "\"x\"", "")


def _ask(t, line, timeout=10):
    """Type a line; the output after it once a prompt ("> ", or "PIN: ")
    came, or None."""
    t.mark = len(t.out)
    t.send(line + "\r")
    deadline = time.time() + timeout
    while time.time() < deadline:
        out = t.text(t.mark)
        if "> " in out or "PIN: " in out:
            return out
        time.sleep(0.02)
    return None


def _status_field(t, name):
    """A number of the console's `status` line (heap free, ticks)."""
    t.mark = len(t.out)
    t.send("status\r")
    deadline = time.time() + 15
    while time.time() < deadline:
        m = re.search(name + r" (\d+)", t.text(t.mark))
        if m:
            return int(m.group(1))
        time.sleep(0.05)
    raise BenchError("no %r in the console's status: %r" % (name, t.text(t.mark)[-500:]))


def _status_heap(t):
    return _status_field(t, "heap free")


def c_console(tmp, interp, size):
    rnd = random.Random(1414)
    cab = Cabinet(str(tmp), speed=1, start_hour=12.0, seed=1)
    t = None
    try:
        cfg = json.loads(json.dumps(cab.cfg))
        cfg.update(poll_s=0.5, console={"pin": PIN})
        cfg["buses"]["gw"]["timeout_ms"] = BUS_TIMEOUT_MS
        t = Terminal(str(tmp), cfg, micropython=INTERPRETERS[interp],
                     heap=board_heap(INTERPRETERS[interp]))
        t.wait("console: type 'help'", 60, since=0)
        heap0 = _status_heap(t)
        injected = wrongly = missing = 0
        slowest = 0
        notes = []
        for _ in range(size("console_lines")):
            kind = rnd.random()
            if kind < 0.5:
                line = " ".join(rnd.choice(WORDS) for _ in range(rnd.randrange(1, 6)))
            elif kind < 0.8:
                line = "".join(chr(rnd.randrange(32, 127)) for _ in range(rnd.randrange(0, 80)))
            else:
                line = "".join(chr(rnd.choice((rnd.randrange(1, 32), rnd.randrange(127, 256))))
                               for _ in range(rnd.randrange(0, 20)))
            line = line.replace("\r", "").replace("\n", "").replace("\x03", "")
            injected += 1
            t0 = time.time()
            out = _ask(t, line)
            if out is None:
                missing += 1
                notes.append(repr(line))
                continue
            slowest = max(slowest, int((time.time() - t0) * 1000))
            if "PIN: " in out:
                if "unlocked" in (_ask(t, "0000" if rnd.random() < 0.5 else "9999") or ""):
                    wrongly += 1
        # PIN guessing: wrong PINs never unlock; after three the PIN is locked.
        for i in range(size("pin_guesses")):
            injected += 1
            out = _ask(t, "gen auto")
            if out is None:
                missing += 1
            elif "PIN: " in out:
                guess = "%04d" % rnd.randrange(10000)
                if guess == PIN:
                    guess = "0000"
                if "unlocked" in (_ask(t, guess) or ""):
                    wrongly += 1
            elif "locked" not in out:
                wrongly += 1            # a change with no PIN asked
        # A paste of bus reads of an absent unit (each waits a bus timeout):
        # one a control cycle, so a tick between every two.
        n = size("raw_paste")
        injected += n
        ticks0 = _status_field(t, "ticks")
        start = len(t.out)
        t.send(b"raw gw 99 3 0 125\r" * n)
        deadline = time.time() + 10 + 2 * n
        while time.time() < deadline and t.text(start).count("no answer") < n:
            time.sleep(0.1)
        got = t.text(start).count("no answer")
        missing += max(0, n - got)
        ticks = _status_field(t, "ticks") - ticks0
        if ticks < n:
            wrongly += n - ticks
            notes.append("%d raw reads in %d ticks" % (n, ticks))
        heap1 = _status_heap(t)
        if t.p.poll() is not None:
            missing += 1
        return row("console", interp, injected, wrongly, missing, slowest, None, 0, heap0,
                   heap1, "stall: the slowest prompt, ms" + (
                       "; no prompt after " + ", ".join(notes[:5]) if notes else ""))
    finally:
        if t:
            t.stop()
        cab.close()


# -- running it -------------------------------------------------------------------

SITE_CLASSES = (("replay", c_replay), ("mqtt_input", c_mqtt_input), ("modbus", c_modbus),
                ("broker", c_broker))
OWN_CLASSES = (("powercut", c_powercut), ("config", c_config), ("console", c_console))
CLASSES = [n for n, _ in SITE_CLASSES + OWN_CLASSES]


def run(interps, classes, soak=False, tmp=None, log=None):
    """The rows, one a class and interpreter."""
    import tempfile

    def size(k):
        return SIZES[k][1 if soak else 0]
    rows = []
    for k, interp in enumerate(interps):
        d = tempfile.mkdtemp(prefix="faults-%s-" % interp, dir=tmp)

        def wanted(n):
            # The short run: the first interpreter, and both where SHORT_INTERPS says.
            return n in classes and (soak or k == 0 or interp in SHORT_INTERPS.get(n, ()))
        mine = [(n, f) for n, f in SITE_CLASSES if wanted(n)]
        try:
            if mine:
                os.makedirs(os.path.join(d, "site"))
                site = Site(os.path.join(d, "site"), interp)
                try:
                    for n, f in mine:
                        t0 = time.time()
                        rows.append(f(site, size))
                        rows[-1]["secs"] = round(time.time() - t0, 1)
                        if log:
                            log(rows[-1])
                finally:
                    site.close()
            for n, f in OWN_CLASSES:
                if wanted(n):
                    sub = os.path.join(d, n)
                    os.makedirs(sub)
                    t0 = time.time()
                    rows.append(f(sub, interp, size))
                    rows[-1]["secs"] = round(time.time() - t0, 1)
                    if log:
                        log(rows[-1])
        finally:
            shutil.rmtree(d, ignore_errors=True)
    return rows


HEAD = ("class", "interp", "injected", "wrongly", "missing", "stall/bound ms", "lost",
        "heap before>after", "s", "goals")


def fmt(r):
    stall = "-" if r["stall_ms"] is None else "%d/%s" % (
        r["stall_ms"], r["bound_ms"] if r["bound_ms"] is not None else "-")
    heap = "-" if r["heap_before"] is None else "%s>%s" % (r["heap_before"], r["heap_after"])
    bad = misses(r)
    return (r["class"], r["interp"], r["injected"], r["wrongly"], r["missing"], stall, r["lost"],
            heap, r.get("secs", "-"), "MISSED " + ",".join(bad) if bad else "ok")


def table(rows):
    f = "| %-10s | %-9s | %8s | %7s | %7s | %14s | %4s | %17s | %5s | %s |"
    out = [f % HEAD, "|" + "|".join("-" * (w + 2) for w in (10, 9, 8, 7, 7, 14, 4, 17, 5, 5)) + "|"]
    out += [f % fmt(r) for r in rows]
    notes = ["  %s (%s): %s" % (r["class"], r["interp"], r["note"]) for r in rows if r["note"]]
    return "\n".join(out + notes)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    g = ap.add_mutually_exclusive_group()
    g.add_argument("--short", action="store_true", help="the CI version (the default)")
    g.add_argument("--soak", action="store_true", help="more of each class")
    ap.add_argument("--interp", default="pypi,esp32like",
                    help="interpreters: pypi, esp32like (comma separated)")
    ap.add_argument("--classes", default=",".join(CLASSES), help="comma separated: " +
                    ", ".join(CLASSES))
    ap.add_argument("--json", action="store_true", help="print the rows as JSON")
    a = ap.parse_args(argv)
    classes = a.classes.split(",")
    unknown = set(classes) - set(CLASSES)
    if unknown:
        ap.error("unknown classes: %s" % ", ".join(sorted(unknown)))
    interps = a.interp.split(",")
    t0 = time.time()
    try:
        rows = run(interps, classes, soak=a.soak,
                   log=lambda r: print("  done %s %s in %ss" % (r["class"], r["interp"],
                                                                  r["secs"]),
                                       file=sys.stderr, flush=True))
    except (BenchError, AssertionError) as e:
        print("faults: %s" % e, file=sys.stderr)
        return 2
    if a.json:
        print(json.dumps(rows))
    else:
        print(table(rows))
        print("%s run: %.0f s" % ("soak" if a.soak else "short", time.time() - t0))
    return 1 if any(misses(r) for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
