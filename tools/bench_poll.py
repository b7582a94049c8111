#!/usr/bin/env python3
"""Benchmark: poll-cycle time at RS485 speed against the wire-time lower bound.

Runs the real firmware App (compiled to .mpy, MicroPython unix port, 160k heap)
against the cabinet emulator with line pacing on: the emulator holds every
reply back until the request and reply bytes would have crossed an RS485 line
at --baud, plus one 3.5-character gap, plus the device's answer delay
(tools/emulator/servers.py, wire_time and Bus.reply_delay).

    .venv/bin/python tools/bench_poll.py [--cycles 30] [--baud 9600] [--json]
                                         [--micropython PATH]

The lower bound of one cycle is worked out here, under CPython, from the same
poll plans the firmware builds (firmware.plan + firmware.profiles, which are
pure): the sum over every request of the emulator's wire formula plus its
device's answer delay. Nothing can poll the same registers faster on that
line; the goal is a measured mean within 1.2x of it. The emulator's own request log (arrival time
and wire_ms of every request) cross-checks the bound and shows where the rest
of the time goes: the firmware's turnaround between a reply and the next
request.

A benchmark, not a test: it asserts only sanity (every device answered) and
prints "ok" / "MISSED" next to each goal. --json prints one JSON object
instead of the table. Exit status 0 unless the run itself failed.
"""
import argparse
import json
import statistics
import sys

from bench_rig import BenchError, Rig, add_options, goal, report
from emulator.servers import wire_time

# Site-picture fields that every poll must be able to fill at the example site.
PICTURE = ("pv_w", "batt_v", "batt_a", "batt_w", "batt_soc", "load_w",
           "grid_ok", "grid_w", "gen_state", "fuel_pct")

RATIO_GOAL = 1.2


def read_bytes(count):
    """RTU sizes of an FC03/FC04 read: 8-byte request, 5 + 2n reply."""
    return 8, 5 + 2 * count


def host_plans(cfg):
    """{device: (profile name, baud, [(fc, start, count), ...])} as the firmware
    builds them (poller.Device.__init__), computed under CPython."""
    from firmware import config as config_mod, plan, profiles
    from firmware.decode import width
    full = config_mod.validate(cfg)
    out = {}
    for dc in full["devices"]:
        if not dc["enabled"]:
            continue
        prof = profiles.load(dc["profile"])
        baud = full["buses"][dc["bus"]].get("baud", 9600)
        _pts, reqs = plan.build(prof.POINTS, prof.MAX_REGS, plan.bridge_limit(prof, baud),
                                prof.ALIGN, prof.PAGE)
        needed = 0
        for p in prof.POINTS:
            needed += width(p[3])
        out[dc["name"]] = {"profile": dc["profile"], "baud": baud, "needed_regs": needed,
                           "reqs": [(r[0], r[1], r[2]) for r in reqs],
                           "timeout_ms": full["buses"][dc["bus"]]["timeout_ms"]}
    return out


def parse_mp(lines):
    reqs, warm, cycles, snap, health = {}, [], [], None, {}
    done = False
    for line in lines:
        tag, _, rest = line.partition(" ")
        if tag == "REQ":
            name, fc, start, count = rest.split()
            reqs.setdefault(name, []).append((int(fc), int(start), int(count)))
        elif tag == "WARM":
            warm.append(int(rest))
        elif tag == "CYCLE":
            cycles.append(int(rest.split()[1]))
        elif tag == "SNAP":
            snap = json.loads(rest)
        elif tag == "HEALTH":
            name, _, js = rest.partition(" ")
            health[name] = json.loads(js)
        elif tag == "DONE":
            done = True
    if not done:
        raise BenchError("poll_mp.py output incomplete:\n" + "\n".join(lines[-30:]))
    return reqs, warm, cycles, snap, health


def emulator_window(emu, plans, warmup, cycles):
    """The emulator's log of the timed cycles' requests, in arrival order,
    and figures from it. Requests that no plan makes (the control logic's:
    a DSE key-flags read, a key write) are counted apart."""
    planned = set()
    for name, p in plans.items():
        for fc, start, count in p["reqs"]:
            planned.add((name, fc, start, count))
    n_per = len(planned)
    log = emu.requests()
    entries = []
    for dev, v in log.items():
        for e in v.get("recent", ()):
            e = dict(e, device=dev)
            e["planned"] = (dev, e["fc"], e["addr"], e["count"]) in planned
            entries.append(e)
    entries.sort(key=lambda e: e["t"])
    plan_entries = [e for e in entries if e["planned"]]
    want = (warmup + cycles) * n_per
    info = {"logged": len(plan_entries), "expected": want}
    extras = [e for e in entries if not e["planned"]]
    info["unplanned"] = [{"device": e["device"], "fc": e["fc"], "addr": e["addr"],
                          "count": e["count"], "answered": e["answered"],
                          "wire_ms": e["wire_ms"]} for e in extras]
    if len(plan_entries) != want or not all(e["answered"] for e in plan_entries):
        info["aligned"] = False
        return info
    t0 = plan_entries[warmup * n_per]["t"]
    win = [e for e in entries if e["t"] >= t0]
    info["aligned"] = True
    info["unplanned_in_timed_cycles"] = sum(1 for e in win if not e["planned"])
    info["wire_ms_per_cycle"] = sum(e["wire_ms"] for e in win if e["planned"]) / cycles
    info["unplanned_wire_ms_per_cycle"] = sum(e["wire_ms"] or 0.0 for e in win
                                              if not e["planned"]) / cycles
    # Firmware turnaround: from a reply being due (arrival + wire_ms) to the
    # next request's arrival at the emulator.
    dead = {}
    for a, b in zip(win, win[1:]):
        if a["wire_ms"] is None:
            continue
        d = (b["t"] - a["t"]) * 1000.0 - a["wire_ms"]
        dead.setdefault(a["device"], []).append(d)
    alld = [x for v in dead.values() for x in v]
    info["turnaround_ms"] = {"mean": statistics.mean(alld), "min": min(alld),
                             "max": max(alld), "n": len(alld)}
    info["turnaround_by_device_ms"] = {k: statistics.mean(v) for k, v in sorted(dead.items())}
    # Cycle length as the line sees it: first request of one cycle to the
    # first of the next.
    timed = plan_entries[warmup * n_per:]
    firsts = [timed[k * n_per]["t"] for k in range(cycles)]
    spans = [(b - a) * 1000.0 for a, b in zip(firsts, firsts[1:])]
    if spans:
        info["line_cycle_ms_mean"] = statistics.mean(spans)
    return info


def run(cycles=30, warmup=2, baud=9600, heap="160k", micropython=None):
    with Rig(baud_pace=baud, speed=0, start_hour=12.0, seed=1, fw_baud=baud,
             micropython=micropython) as rig:
        plans = host_plans(rig.cfg)
        delays = rig.ready["answer_delay_ms"]
        lines, used_heap, where = rig.run_roomy(
            "poll_mp.py", (cycles, warmup), heap, timeout=60 + cycles * 5,
            before=lambda: rig.emu.requests(clear=True))    # only this attempt's requests
        heap_note = None if where is None else "MemoryError at %s%s" % (
            heap, " (%s)" % where if where else "")
        mp_reqs, warm, us, snap, health = parse_mp(lines)
        n_per = sum(len(p["reqs"]) for p in plans.values())
        emu_info = emulator_window(rig.emu, plans, warmup, cycles)

    devices = {}
    bound_ms = 0.0
    regs = 0
    for name, p in plans.items():
        d_ms = 0.0
        rows = []
        for fc, start, count in p["reqs"]:
            q, a = read_bytes(count)
            w = wire_time(q, a, baud) * 1000.0
            one = w + delays[name]
            rows.append({"fc": fc, "start": start, "count": count, "bytes": q + a,
                         "wire_ms": round(w, 3), "bound_ms": round(one, 3)})
            d_ms += one
            regs += count
        bound_ms += d_ms
        devices[name] = {"profile": p["profile"], "answer_delay_ms": delays[name],
                         "requests": rows, "regs_read": sum(r["count"] for r in rows),
                         "regs_needed": p["needed_regs"], "bound_ms": round(d_ms, 3),
                         "plan_matches_firmware": mp_reqs.get(name) == p["reqs"],
                         "health": health.get(name)}
    ms = [u / 1000.0 for u in us]
    mean = statistics.mean(ms)
    missing = [f for f in PICTURE if snap.get(f) is None]
    # What the firmware's own timing adds per request (from rtu.py's rules):
    # its 3.5-char quiet gap counts 11-bit characters, the bound 10-bit ones,
    # and rtu.py's LeanSerial polls the reply every two characters (>= 0.5 ms).
    t1char_us = (1000000 * 11) // baud
    timeout_ms = next(iter(plans.values()))["timeout_ms"]
    poll_us = [max(2 * t1char_us, 500) for p in plans.values() for _r in p["reqs"]]
    res = {
        "baud": baud, "heap": used_heap, "heap_note": heap_note,
        "micropython": rig.micropython, "word_bytes": rig.word,
        "cycles": cycles, "warmup": warmup,
        "requests_per_cycle": n_per, "registers_per_cycle": regs,
        "registers_needed_per_cycle": sum(p["needed_regs"] for p in plans.values()),
        "bound_ms": round(bound_ms, 3),
        "wire_only_ms": round(bound_ms - sum(delays[n] * len(p["reqs"])
                                              for n, p in plans.items()), 3),
        "measured_ms": {"mean": round(mean, 3), "min": round(min(ms), 3),
                        "max": round(max(ms), 3),
                        "stdev": round(statistics.pstdev(ms), 3)},
        "warmup_ms": [round(u / 1000.0, 3) for u in warm],
        "ratio": round(mean / bound_ms, 4),
        "ratio_goal": RATIO_GOAL,
        "ratio_ok": mean / bound_ms <= RATIO_GOAL,
        "overhead_ms_per_request": round((mean - bound_ms) / n_per, 3),
        "firmware_timing": {
            "quiet_gap_ms": round(t1char_us * 35 // 10 / 1000.0, 3),
            "bound_gap_ms": round(35.0 / baud * 1000.0, 3),
            "reply_poll_period_ms_mean": round(statistics.mean(poll_us) / 1000.0, 3),
            "bus_timeout_ms": timeout_ms,
        },
        "picture": {f: snap.get(f) for f in PICTURE},
        # The emulator's reply delay already holds one 3.5-char gap, and the
        # firmware then keeps its own gap before the next request: on a real
        # line only the second one is paid, so about one gap less a request.
        "real_line_estimate_ms": round(mean - n_per * 35.0 / baud * 1000.0, 1),
        "real_line_estimate_ratio": round((mean - n_per * 35.0 / baud * 1000.0) / bound_ms, 3),
        "picture_missing": missing,
        "picture_ok": not missing,
        "all_online": all(h and h["online"] and not any(h["err"]) for h in health.values()),
        "devices": devices,
        "emulator": emu_info,
    }
    return res


def fmt_req(r):
    return "fc%d %d+%d" % (r["fc"], r["start"], r["count"])


def print_table(r):
    w = print
    w("Poll cycle at %d baud vs the wire-time lower bound (firmware .mpy, unix port, %s heap)"
      % (r["baud"], r["heap"]))
    w("  MicroPython: %s (%d-bit)" % (r["micropython"], 8 * r["word_bytes"]))
    w("  %d timed cycles of app.tick() after %d warm-up; emulator paced at %d baud, model frozen"
      % (r["cycles"], r["warmup"], r["baud"]))
    if r["heap_note"]:
        w("  NOTE: the asked heap was too small (%s); timed at %s instead"
          % (r["heap_note"], r["heap"]))
    w("")
    w("Plans (what each device's plan reads; bound = wire formula + answer delay per request)")
    w("  %-8s %-15s %6s %9s %5s  %s" % ("device", "profile", "delay", "bound ms", "regs",
                                         "requests (fc start+count: wire ms)"))
    for name, d in r["devices"].items():
        reqs = ", ".join("%s: %.1f" % (fmt_req(q), q["wire_ms"]) for q in d["requests"])
        w("  %-8s %-15s %4.0fms %9.1f %5s  %s%s" % (
            name, d["profile"], d["answer_delay_ms"], d["bound_ms"],
            "%d/%d" % (d["regs_read"], d["regs_needed"]), reqs,
            "" if d["plan_matches_firmware"] else "  (!! firmware's plan differs)"))
    w("  (regs = registers read / registers the points need; the rest are bridged gaps)")
    w("")
    m = r["measured_ms"]
    rows = [
        ("requests per cycle", "%d" % r["requests_per_cycle"], ""),
        ("registers read per cycle", "%d (points need %d)" % (
            r["registers_per_cycle"], r["registers_needed_per_cycle"]), ""),
        ("lower bound per cycle", "%.1f ms (wire %.1f + answer delays %.1f)" % (
            r["bound_ms"], r["wire_only_ms"], r["bound_ms"] - r["wire_only_ms"]), ""),
        ("measured mean / min / max", "%.1f / %.1f / %.1f ms (sd %.1f)" % (
            m["mean"], m["min"], m["max"], m["stdev"]), ""),
        ("warm-up cycles", ", ".join("%.1f" % x for x in r["warmup_ms"]) + " ms", ""),
        ("ratio mean / bound", "%.3f" % r["ratio"],
         "goal <= %.1f  %s" % (r["ratio_goal"], goal(r["ratio_ok"]))),
        ("overhead per request", "%.2f ms" % r["overhead_ms_per_request"], ""),
        ("site picture complete", "yes" if r["picture_ok"] else
         "NO: None in " + ", ".join(r["picture_missing"]),
         "goal: 10 fields not None  %s" % goal(r["picture_ok"])),
        ("every device online, 0 errors", "yes" if r["all_online"] else "NO",
         "sanity  %s" % goal(r["all_online"])),
    ]
    for k, v, g in rows:
        w("  %-30s %-44s %s" % (k, v, g))
    e = r["emulator"]
    w("")
    w("Cross-check from the emulator's request log")
    if not e.get("aligned"):
        w("  log has %d planned requests, expected %d: not lined up with the cycles, skipped"
          % (e["logged"], e["expected"]))
    else:
        t = e["turnaround_ms"]
        w("  %-30s %.1f ms (host bound %.1f)" % ("sum of wire_ms per cycle",
                                                e["wire_ms_per_cycle"], r["bound_ms"]))
        if "line_cycle_ms_mean" in e:
            w("  %-30s %.1f ms" % ("cycle length on the line", e["line_cycle_ms_mean"]))
        w("  %-30s mean %.2f, min %.2f, max %.2f ms over %d gaps" % (
            "reply due -> next request", t["mean"], t["min"], t["max"], t["n"]))
        w("  %-30s %s" % ("  after each device's replies", ", ".join(
            "%s %.2f" % kv for kv in e["turnaround_by_device_ms"].items())))
        w("  %-30s %d in the timed cycles (%.1f ms a cycle)" % (
            "requests outside the plans", e["unplanned_in_timed_cycles"],
            e["unplanned_wire_ms_per_cycle"]))
    if e.get("unplanned"):
        w("  outside the plans, whole run: " + ", ".join(
            "%s fc%d %d+%d%s" % (u["device"], u["fc"], u["addr"], u["count"],
                                 "" if u["answered"] else " (no answer)")
            for u in e["unplanned"][:6]) + (" ..." if len(e["unplanned"]) > 6 else ""))
    f = r["firmware_timing"]
    w("  firmware timing rules: quiet gap %.2f ms (3.5 x 11-bit chars; the bound counts %.2f),"
      % (f["quiet_gap_ms"], f["bound_gap_ms"]))
    w("  reply polled every %.2f ms (two characters; the wait ends at timeout %d ms + answer time)"
      % (f["reply_poll_period_ms_mean"], f["bus_timeout_ms"]))
    if e.get("aligned"):
        w("  so each request's %.2f ms beyond the bound = the quiet gap %.2f + reply detection"
          % (e["turnaround_ms"]["mean"], f["quiet_gap_ms"]))
        w("  and CPU %.2f ms. The emulator's reply delay already holds one gap, which a real"
          % (e["turnaround_ms"]["mean"] - f["quiet_gap_ms"]))
        w("  line does not pay twice: estimate there ~%.0f ms a cycle, ratio ~%.2f."
          % (r["real_line_estimate_ms"], r["real_line_estimate_ratio"]))
    w("")
    w("Site picture: " + ", ".join("%s=%s" % (k, v) for k, v in r["picture"].items()))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cycles", type=int, default=30, help="timed cycles (default 30)")
    ap.add_argument("--warmup", type=int, default=2, help="warm-up cycles (default 2)")
    ap.add_argument("--baud", type=int, default=9600, help="RS485 baud, paced (default 9600)")
    ap.add_argument("--heap", default="160k", help="MicroPython heap (default 160k)")
    add_options(ap)
    args = ap.parse_args(argv)
    if args.cycles < 2:
        ap.error("--cycles must be at least 2")
    return report("bench_poll",
                  lambda: run(args.cycles, args.warmup, args.baud, args.heap, args.micropython),
                  print_table, args.json)


if __name__ == "__main__":
    sys.exit(main())
