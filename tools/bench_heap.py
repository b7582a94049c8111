#!/usr/bin/env python3
"""Benchmark: heap figures of the firmware in the MicroPython unix port.

    .venv/bin/python tools/bench_heap.py [--cycles 100] [--drift 1000] [--every 100]
                                         [--paced 3] [--json] [--micropython PATH]

a) the heap each module costs on import (.mpy, 160k heap): ours, and the
   libraries' (umodbus.serial in full against the firmware's lean way in,
   umodbus.functions/const/common, umqtt.simple);
b) free heap after start-up (config, App, one poll against the cabinet
   emulator, a display line) at 160k (goal >= 40 KB) and at the strict 110k
   (must run), with the largest free block, and the smallest heap the
   firmware starts in (bisection); also with the MQTT link up (to a
   mosquitto the bench starts; goal >= 40 KB at 160k);
c) bytes allocated per poll cycle (goal <= 2048) with a breakdown (poller,
   site picture, each device, each request step by step, single operations),
   under other conditions (values frozen; line paced at 9600 baud), and free
   heap every 100 of 1000 unpaced cycles (goal: no downward drift). Where a
   gc.disable()d cycle cannot fit in 160k, it is measured at 256k or 512k
   (bytes allocated do not depend on the heap size) and the output says so.

Everything runs the real firmware compiled to .mpy in a flash folder laid out
by tools/host_run.py; the MicroPython-side scripts are tools/bench/heap_*.py.
a) and b) are measured in both of the board's layouts: the .mpy files on its
filesystem (stock firmware: an import copies the bytecode into the heap) and
the ROMFS image (tools/deploy.py; the bytecode runs in place from flash; on
the host the image's buffer is kept outside the measured heap, see
tools/host_run.py). c) is the same in both; it runs in the ROMFS layout.
The PyPI unix port is 64-bit: GC blocks are 32 bytes and objects about twice
the size they have on the ESP32, so these are worst-case figures for the
board, and 160k stands in for the board's 110k. With --micropython
../shared/tools/micropython-esp32like (the board's number model: 32-bit,
16-byte GC blocks; README, "The board's number model") 110k is the board's
own figure: the free-heap goals of b) are checked there, and c) runs there.

A benchmark, not a test: it prints "ok" / "MISSED" next to each goal; only a
run that fails (a script crashes, a device never answers) exits non-zero.
--json prints one JSON object instead of the tables.
"""
import argparse
import re
import statistics
import subprocess
import sys
import time

from bench_rig import ROOMY, ROOT, BenchError, Rig, add_options, goal, report
from broker import Broker

HEAP = "160k"
STRICT = "110k"
LAYOUTS = ("files", "romfs")
FREE_GOAL = 40 * 1024
CYCLE_GOAL = 2048
DRIFT_TOLERANCE = 64        # two 32-byte GC blocks: conservative-GC noise

# Library rows of table a: (label, preload, target). "fresh" rows preload only
# what the board has anyway (machine is built in there; firmware and
# firmware.hw are empty packages the app loads regardless).
LIB_TOTALS = (
    ("umodbus.serial, imported in full", "machine,firmware,firmware.hw", "umodbus.serial"),
    ("umodbus via umodbus_lean.serial_class()", "machine,firmware,firmware.hw", "LEAN"),
)
LIB_MODULES = ("umodbus", "umodbus.version", "umodbus.const", "umodbus.typing",
               "umodbus.functions", "umodbus.common", "umodbus.modbus", "umodbus.serial",
               "umqtt.simple")


def board_heap(rig):
    """The heap standing for the board's: 110k in a 32-bit binary (the
    board's object sizes), 160k in the 64-bit one."""
    return HEAP if rig.word == 8 else STRICT


def kb(n):
    return "%.1f KB" % (n / 1024.0)


def stats(vals):
    return {"mean": round(statistics.mean(vals), 1), "min": min(vals), "max": max(vals),
            "n": len(vals)}


# -- a) import costs -----------------------------------------------------------

def import_cost(rig, preload, target):
    """(bytes, modules added) of importing `target` after `preload` in a fresh
    process; (None, [], why) when that process fails."""
    rc, lines, err = rig.run("heap_import.py", heap=HEAP, timeout=60, check=False,
                             env={"BENCH_PRELOAD": ",".join(preload) or "-",
                                  "BENCH_TARGET": target})
    for line in lines:
        if line.startswith("RESULT "):
            _, n, new = line.split(" ", 2)
            return int(n), [] if new == "-" else new.split(","), None
    why = ([x for x in lines + err.splitlines() if x.strip()] or ["exit %d" % rc])[-1]
    return None, [], why.strip()


def module_row(rig, name, base=("machine",)):
    """fresh: name imported after `base` only (so with what it imports);
    alone: what it imports preloaded first, then name by itself (None when
    its own imports load it, as a package whose __init__ imports a child)."""
    fresh, new, why = import_cost(rig, list(base), name)
    if fresh is None:
        return {"alone": None, "fresh": None, "pulls_in": [], "error": why}
    deps = [m for m in new if m != name]
    alone = fresh
    if deps:
        alone, new2, why = import_cost(rig, list(base) + deps, name)
        if alone is None or name not in new2:
            alone = None
    return {"alone": alone, "fresh": fresh, "pulls_in": sorted(deps)}


def part_a(rig, loaded, resident):
    ours = {}
    for name in sorted(m for m in loaded if m.startswith("firmware")):
        ours[name] = module_row(rig, name)
        ours[name]["resident"] = name in resident
    libs_total = {}
    for label, pre, target in LIB_TOTALS:
        n, new, why = import_cost(rig, pre.split(","), target)
        libs_total[label] = {"fresh": n, "modules": sorted(new), "error": why}
    libs = {}
    for name in LIB_MODULES:
        libs[name] = module_row(rig, name)
    twin, _, _ = import_cost(rig, [], "machine")
    # The modules the app keeps loaded, in one import sequence (lean path
    # first, as the app's own order has it): the code-and-globals share of b).
    seq = ",".join(["LEAN"] + sorted(m for m in resident if m.startswith("firmware")))
    all_app, _, why = import_cost(rig, ["machine"], seq)
    full_, lean_ = (libs_total[LIB_TOTALS[0][0]]["fresh"], libs_total[LIB_TOTALS[1][0]]["fresh"])
    return {"ours": ours,
            "ours_sum_alone": sum(r["alone"] or 0 for r in ours.values()),
            "ours_sum_alone_resident": sum(r["alone"] or 0 for r in ours.values()
                                           if r["resident"]),
            "lib_totals": libs_total,
            "lean_saving": full_ - lean_ if full_ is not None and lean_ is not None else None,
            "libs": libs, "machine_twin": twin, "all_app_modules": all_app,
            "all_app_modules_error": why}


# -- b) free heap after start-up -------------------------------------------------

def start_up(rig, heap, extra=None):
    """One start-up at `heap`; {"ok": False, "error": ...} when it fails."""
    rc, lines, err = rig.run("heap_start.py", (extra,) if extra else (), heap=heap,
                             timeout=60, check=False)
    out = {"heap": heap, "extra": extra, "modules": {}, "ok": False}
    word = rig.word
    for line in lines:
        tag, _, rest = line.partition(" ")
        if tag == "START":
            free, alloc, base = (int(x) for x in rest.split())
            out.update(free=free, alloc=alloc, base=base, ok=True)
        elif tag == "FAIL":
            step, _, msg = rest.partition(" ")
            out["error"] = "%s in %s" % (msg, step.replace("_", " "))
            out["traceback"] = [x.strip() for x in lines if x.startswith("  File ")]
        elif tag == "MODULE":
            name, path = rest.split(" ", 1)
            if not name.startswith("_bench"):
                out["modules"][name] = path
        elif tag == "LOADED":
            if not rest.startswith("_bench"):
                out.setdefault("loaded", []).append(rest)
        elif tag == "ONLINE":
            out["online"] = dict((kv.split("=")[0], kv.split("=")[1] == "1")
                                 for kv in rest.split())
        elif tag == "WORD":
            word = int(rest)
        elif tag == "LINK":
            out["link"] = rest
        m = re.search(r"max free sz: (\d+)", line)
        if m:
            out["largest_free_block"] = int(m.group(1)) * 4 * word
        m = re.search(r"GC: total: (\d+)", line)
        if m:
            out["gc_total"] = int(m.group(1))
        m = re.search(r"qstr pool: n_pool=(\d+), n_qstr=(\d+), n_str_data_bytes=(\d+), "
                      r"n_total_bytes=(\d+)", line)
        if m:
            out["qstr"] = {"pools": int(m.group(1)), "names": int(m.group(2)),
                           "text_bytes": int(m.group(3)), "heap_bytes": int(m.group(4))}
    out["block_bytes"] = 4 * word
    if rc or "DONE" not in lines:
        out["ok"] = False
        out.setdefault("error", "exit %d: %s" % (rc, (err.strip().splitlines() or ["?"])[-1]))
    elif out["ok"] and not all(out.get("online", {}).values()):
        raise BenchError("start-up at %s: a device did not answer: %r" % (heap, out["online"]))
    elif out["ok"] and extra == "link" and out.get("link") != "up":
        out["ok"] = False
        out["error"] = "the MQTT link did not come up: %s" % out.get("link")
    return out


def smallest_start_heap(rig, known):
    """Smallest heap (whole KB) at which start-up succeeds, by bisection;
    `known` maps KB to a start_up() result already run."""
    ok = {k: r["ok"] for k, r in known.items()}

    def starts(k):
        if k not in ok:
            ok[k] = start_up(rig, "%dk" % k)["ok"]
        return ok[k]
    hi = None
    for k in sorted(set(list(ok) + [192, 256, 384, 512])):
        if k >= 110 and starts(k):
            hi = k
            break
    if hi is None:
        return None
    lo = max([k for k in ok if not ok[k] and k < hi] + [48])
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if starts(mid):
            hi = mid
        else:
            lo = mid
    return hi


# -- c) allocation per cycle ----------------------------------------------------------

def parse_cycle(lines, word=8):
    r = {"devpoll": {}, "read": [], "part": [], "decode": [], "micro": [], "drift": []}
    for line in lines:
        tag, _, rest = line.partition(" ")
        f = rest.split()
        if tag == "EMPTY":
            r["empty"] = int(rest)
        elif tag in ("TICK", "CYCLE", "SITE", "POLLS"):
            r[tag.lower()] = [int(x) for x in f]
        elif tag == "DEVPOLL":
            r["devpoll"][f[0]] = [int(x) for x in f[1:]]
        elif tag == "READ":
            r["read"].append({"device": f[0], "fc": int(f[1]), "start": int(f[2]),
                              "count": int(f[3]), "bytes": [int(x) for x in f[4:]]})
        elif tag == "PART":
            k = ("fc", "start", "count", "pdu", "send", "uart_read", "validate", "polls",
                 "reply_len")
            r["part"].append(dict([("device", f[0])] + list(zip(k, (int(x) for x in f[1:])))))
        elif tag == "DECODE":
            r["decode"].append({"device": f[0], "fc": int(f[1]), "start": int(f[2]),
                                "count": int(f[3]), "all_changed": int(f[4]),
                                "unchanged": int(f[5])})
        elif tag == "MICRO":
            r["micro"].append({"bytes": int(f[0]), "op": rest.split(" ", 1)[1]})
        elif tag == "DRIFT":
            r["drift"].append({"cycle": int(f[0]), "free": int(f[1])})
        elif tag == "ONLINE":
            r["online"] = dict((kv.split("=")[0], kv.split("=")[1] == "1") for kv in f)
        m = re.search(r"max free sz: (\d+)", line)
        if m and r["drift"]:
            r["drift"][-1]["largest_free_block"] = int(m.group(1)) * 4 * word
    if "online" not in r:
        raise BenchError("heap_cycle.py output incomplete:\n" + "\n".join(lines[-20:]))
    if not all(r["online"].values()):
        raise BenchError("a device went offline during the run: %r" % r["online"])
    return r


def ranked_breakdown(c):
    """Bytes per cycle by where they go, from the per-request measurements
    (every request of every plan once a cycle) and the tick's other parts."""
    per_req = {}
    for p in c["part"]:
        per_req[(p["device"], p["fc"], p["start"])] = p
    read_mean = {}
    for rd in c["read"]:
        read_mean[(rd["device"], rd["fc"], rd["start"])] = statistics.mean(rd["bytes"])
    transport = sum(read_mean.values())
    pdu = sum(p["pdu"] for p in c["part"])
    send = sum(p["send"] for p in c["part"])
    uread = sum(p["uart_read"] for p in c["part"])
    val = sum(p["validate"] for p in c["part"])
    other = transport - pdu - send - uread - val
    cycle = statistics.mean(c["cycle"])
    site = statistics.mean(c["site"])
    tick = statistics.mean(c["tick"])
    decode_poller = cycle - transport
    rest = tick - cycle - site
    rows = [
        ("LeanSerial._uart_read: wait loop, SockUart.any/readinto", uread),
        ("LeanSerial._validate_resp_hdr: CRC in place, data view", val),
        ("LeanSerial._send: preallocated ADU, CRC; SockUart.write", send),
        ("decode of changed values, poller bookkeeping (poller.cycle - the reads)",
         decode_poller),
        ("RtuBus.read: the request PDU (preallocated)", pdu),
        ("rest of bus.read: _send_receive's Rx flush (a poll list), _transact", other),
        ("site.update: the picture's floats", site),
        ("rest of App.tick(): clock.now() and all it does after site.update", rest),
    ]
    rows.sort(key=lambda r: -r[1])
    return {"rows": [{"what": w, "bytes": round(b, 1), "share": round(b / tick, 3)}
                     for w, b in rows],
            "transport_per_cycle": round(transport, 1),
            "requests_per_cycle": len(c["read"])}


def run_cycle(rig, args, timeout, heap=None, script="heap_cycle.py"):
    """heap_cycle.py at `heap`, else at a roomier heap when it runs out of
    memory there; returns (parsed, heap used, error at `heap` or None)."""
    lines, used, where = rig.run_roomy(script, args, heap or board_heap(rig), timeout,
                                       done=lambda lines: "DONE" in lines)
    err = None if where is None else "MemoryError%s" % (" (%s)" % where if where else "")
    return parse_cycle(lines, rig.word), used, err


def part_c(rig, cycles, drift, every, paced_cycles):
    c, c_heap, c_err = run_cycle(rig, ("measure", cycles), 60 + cycles)
    c["ranked"] = ranked_breakdown(c)
    # The same App with nothing changing: what decode costs, by difference.
    rig.emu.set("speed", 0)
    frozen, _, _ = run_cycle(rig, ("ticks", 20), 60, heap=c_heap)
    rig.emu.set("speed", 60)
    paced = None
    if paced_cycles:
        rig.emu.pace(9600)
        paced, _, _ = run_cycle(rig, ("ticks", paced_cycles), 60 + 5 * paced_cycles,
                                heap=c_heap)
        rig.emu.pace(None)
    dr, d_heap, d_err = (None, None, None)
    if drift:
        dr, d_heap, d_err = run_cycle(rig, (drift, every), 60 + drift // 5,
                                      script="heap_drift.py")
    res = {
        "heap_asked": board_heap(rig),
        "heap": c_heap,
        "heap_note": c_err,
        "method_empty_window": c["empty"],
        "tick": stats(c["tick"]),
        "tick_goal": CYCLE_GOAL,
        "tick_ok": statistics.mean(c["tick"]) <= CYCLE_GOAL,
        "poller_cycle": stats(c["cycle"]),
        "site_update": stats(c["site"]),
        "device_poll": {k: stats(v) for k, v in c["devpoll"].items()},
        "reads": [dict((k, v) for k, v in rd.items() if k != "bytes") |
                  {"bytes": stats(rd["bytes"])} for rd in c["read"]],
        "parts": c["part"],
        "decode": c["decode"],
        "micro": c["micro"],
        "wait_polls_per_cycle": statistics.mean(c["polls"]),
        "ranked": c["ranked"],
        "frozen_tick": stats(frozen["tick"]),
        "frozen_wait_polls_per_cycle": statistics.mean(frozen["polls"]),
        "paced_tick": stats(paced["tick"]) if paced else None,
        "paced_wait_polls_per_cycle": statistics.mean(paced["polls"]) if paced else None,
        "drift": dr["drift"] if dr else [],
        "drift_heap": d_heap,
        "drift_heap_note": d_err,
    }
    samples = [d for d in res["drift"] if d["cycle"] > 0]
    if samples:
        d = samples[-1]["free"] - samples[0]["free"]
        res["drift_bytes"] = d
        res["drift_ok"] = d >= -DRIFT_TOLERANCE
    return res


# -- output ------------------------------------------------------------------------

def print_part_b(lay, a, b):
    w = print
    w("   %-6s %-24s %17s %14s %14s  %s" % ("layout", "heap", "free", "largest block",
                                             "app start-up", "goal"))
    gh = b["goal_heap"]
    for key in ("160k", "110k", "160k+link", "110k+link"):
        s = b.get(key)
        if s is None:
            continue
        if key == gh:
            g = ">= %d KB  %s" % (FREE_GOAL // 1024, goal(b["free_ok"]))
            if key == STRICT:
                g += "; must run  %s" % goal(b["strict_ok"])
        elif key == STRICT:
            g = "must run  %s" % goal(b["strict_ok"])
        elif key == gh + "+link":
            g = ">= %d KB  %s" % (FREE_GOAL // 1024, goal(b["link_ok"]))
        else:
            g = "(info)"
        label = key + (" (GC %d B)" % s["gc_total"] if "gc_total" in s else "")
        if s["ok"]:
            w("   %-6s %-24s %17s %14s %14s  %s" % (
                lay, label, "%d (%s)" % (s["free"], kb(s["free"])),
                kb(s["largest_free_block"]), kb(s["alloc"] - s["base"]), g))
        else:
            w("   %-6s %-24s %17s %14s %14s  %s" % (lay, label, "FAILED", "", "", g))
            w("      %s" % s.get("error"))
            if s.get("traceback"):
                w("      at " + " <- ".join(reversed(s["traceback"][-3:])))
    w("   %-6s smallest heap the firmware starts in: %sk (bisection, 1k steps)"
      % (lay, b["smallest_start_heap_k"]))
    s = b["160k"]
    if s["ok"]:
        app_heap = s["alloc"] - s["base"]
        runtime = app_heap - (a["all_app_modules"] or 0) - (a["machine_twin"] or 0)
        w("   %-6s app start-up heap at 160k = %d B: code and globals of the modules it"
          % (lay, app_heap))
        w("          keeps loaded %s (umodbus's lean path included, imported in one go),"
          % a["all_app_modules"])
        w("          machine twin %s (host only), runtime objects and name tables %d."
          % (a["machine_twin"], runtime))
        sg = b[b["goal_heap"]]
        if sg["ok"]:
            w("          Board-like free at %s: ~%s (without the twin)."
              % (b["goal_heap"], kb(sg["free"] + (a["machine_twin"] or 0))))
    w("")


def print_report(r):
    w = print
    fa, ra, c = r["files"]["a"], r["romfs"]["a"], r["c"]
    b160 = r["files"]["b"]["160k"]
    if r["word_bytes"] == 8:
        w("Heap benchmark: firmware as .mpy in the MicroPython unix port (64-bit: %d-byte GC"
          % b160["block_bytes"])
        w("blocks, objects about twice their ESP32 size, so worst-case figures for the board)")
    else:
        w("Heap benchmark: firmware as .mpy in a %d-bit MicroPython unix port (%d-byte GC"
          % (8 * r["word_bytes"], b160["block_bytes"]))
        w("blocks, the ESP32's object sizes: %s is the board's own heap)" % STRICT)
    w("MicroPython: %s" % r["micropython"])
    t = r["tree"]
    w("Tree: %s%s" % (t["commit"], " + uncommitted changes in " + ", ".join(t["changed"])
                      if t["changed"] else ""))
    w("Layouts: files = the .mpy files on the board's filesystem (an import copies the")
    w("bytecode into the heap); romfs = the ROMFS image (bytecode runs in place, from flash).")
    w("")
    w("a) Heap each module costs on import, %s heap" % HEAP)
    w("   Method: one fresh micropython process per figure; gc.collect(); gc.mem_alloc()")
    w("   before and after the import. 'alone' = the module by itself: what it imports at")
    w("   module level is imported first, outside the measurement. 'fresh' = the module")
    w("   with everything it imports. `machine` (the host twin, .py; built into the")
    w("   board) is preloaded everywhere. Imports done later inside functions are not")
    w("   counted here (the library rows hold them). Growth of qstr pools and of")
    w("   sys.modules is charged to whichever import triggers it (a few hundred bytes).")
    w("")

    def num(v):
        return "-" if v is None else str(v)

    def rom(table, name):
        row = table.get(name)
        return num(row["alone"]) if row else "?"
    w("   %-32s %5s %7s %7s %7s  %s" % ("ours: every module the app loads", "kept", "alone",
                                       "fresh", "romfs", "imports at module level"))
    for name, row in fa["ours"].items():
        w("   %-32s %5s %7s %7s %7s  %s" % (name, "yes" if row["resident"] else "no",
                                           num(row["alone"]), num(row["fresh"]),
                                           rom(ra["ours"], name),
                                           row.get("error") or ", ".join(row["pulls_in"]) or "-"))
    w("   %-32s %5s %7d %7s %7d  (kept loaded: files %d, romfs %d)" % (
        "sum of ours", "", fa["ours_sum_alone"], "", ra["ours_sum_alone"],
        fa["ours_sum_alone_resident"], ra["ours_sum_alone_resident"]))
    w("   (kept = still in sys.modules after start-up; 'no' = loaded, then unloaded by")
    w("   the app, e.g. app.forget(): costs heap only while it is loaded; romfs = alone,")
    w("   in the ROMFS layout)")
    w("")
    w("   %-42s %7s %7s  %s" % ("libraries, totals", "fresh", "romfs", "modules loaded"))
    for label, row in fa["lib_totals"].items():
        w("   %-42s %7s %7s  %s" % (label, num(row["fresh"]),
                                    num(ra["lib_totals"][label]["fresh"]),
                                    row["error"] or ", ".join(row["modules"])))
    w("   %-42s %7s %7s  (typing, modbus, common, functions, const served by umodbus_lean)"
      % ("saving of the lean way", num(fa["lean_saving"]), num(ra["lean_saving"])))
    w("")
    w("   %-32s %5s %7s %7s %7s  %s" % ("libraries, by module", "", "alone", "fresh", "romfs",
                                       "imports at module level"))
    for name, row in fa["libs"].items():
        w("   %-32s %5s %7s %7s %7s  %s" % (name, "", num(row["alone"]), num(row["fresh"]),
                                           rom(ra["libs"], name),
                                           row.get("error") or ", ".join(row["pulls_in"]) or "-"))
    w("   %-32s %5s %7s %7s %7s  host only; built into the board" % (
        "machine (twin, .py)", "", "", num(fa["machine_twin"]), ""))
    w("   ('-' alone: its own imports load it, e.g. umodbus/__init__ imports .version)")
    if fa["aliases"]:
        w("   In the app, %s are the lean module." % ", ".join(sorted(fa["aliases"])))
    w("")
    w("b) Free heap after start-up as app.run() does it: config, App (every module it")
    w("   loads), one poll cycle against the emulator, one display line; then")
    w("   gc.collect(); gc.mem_free(). 'largest block' = the biggest contiguous free run.")
    w("   '+link': config with the MQTT link on, ticked until it is up (mosquitto).")
    for lay in LAYOUTS:
        print_part_b(lay, r[lay]["a"], r[lay]["b"])
    w("")
    w("c) Bytes allocated per poll cycle (gc.collect(); gc.disable(); a=gc.mem_alloc(); ...;")
    w("   b=gc.mem_alloc(); gc.enable()), unpaced emulator at speed 60 so that values")
    w("   change between cycles as in the field. Empty window: %d B. Heap %s." % (
        c["method_empty_window"], c["heap"]))
    if c["heap_note"]:
        w("   (At %s the App and this measuring code ran out of heap:" % c["heap_asked"])
        w("   %s;" % c["heap_note"])
        w("   the bytes a cycle allocates do not depend on the heap size.)")
    t = c["tick"]
    w("   %-38s %8s %7s %7s %5s  %s" % ("", "mean", "min", "max", "n", "goal"))

    def line(label, s, g=""):
        w("   %-38s %8.0f %7d %7d %5d  %s" % (label, s["mean"], s["min"], s["max"], s["n"], g))
    line("app.tick()", t, "<= %d  %s" % (CYCLE_GOAL, goal(c["tick_ok"])))
    line("  poller.cycle(ts) only", c["poller_cycle"])
    line("  site.update() only", c["site_update"])
    for name, s in c["device_poll"].items():
        line("  %s.poll() (%d requests)" % (name, sum(1 for x in c["reads"]
                                                    if x["device"] == name)), s)
    for name in c["device_poll"]:
        rows = [x for x in c["reads"] if x["device"] == name]
        big = max(rows, key=lambda x: x["count"])
        line("  bus.read %s fc%d %d+%d (largest)" % (name, big["fc"], big["start"],
                                                    big["count"]), big["bytes"])
    line("app.tick(), values frozen (speed 0)", c["frozen_tick"],
         "decode of changed values ~%.0f B" % (c["tick"]["mean"] - c["frozen_tick"]["mean"]))
    if c["paced_tick"]:
        line("app.tick(), line paced at 9600 baud", c["paced_tick"],
             "wait loop ~%.0f B more" % (c["paced_tick"]["mean"] - c["tick"]["mean"]))
    w("   reply wait-loop polls (link.any() calls) per cycle: unpaced %.0f, frozen %.0f%s"
      % (c["wait_polls_per_cycle"], c["frozen_wait_polls_per_cycle"],
         ", paced %.0f" % c["paced_wait_polls_per_cycle"] if c["paced_tick"] else ""))
    w("")
    w("   One request step by step (umodbus _send_receive's steps, LeanSerial's), bytes:")
    w("   %-26s %5s %5s %10s %9s %6s %11s %8s" % ("request", "pdu", "send", "uart_read",
                                                  "validate", "polls", "decode all", "reply"))
    for p in c["parts"]:
        dec = next(d for d in c["decode"] if d["device"] == p["device"]
                   and d["start"] == p["start"])
        w("   %-26s %5d %5d %10d %9d %6d %11d %8d" % (
            "%s fc%d %d+%d" % (p["device"], p["fc"], p["start"], p["count"]), p["pdu"],
            p["send"], p["uart_read"], p["validate"], p["polls"], dec["all_changed"],
            p["reply_len"]))
    w("   (decode all = Device._decode with every value changed; unchanged values: %s B)"
      % "/".join(sorted(set(str(d["unchanged"]) for d in c["decode"]))))
    w("")
    rk = c["ranked"]
    w("   Where a cycle's bytes go, ranked (%d requests; transport %d B of %.0f B):" % (
        rk["requests_per_cycle"], rk["transport_per_cycle"], c["tick"]["mean"]))
    for i, row in enumerate(rk["rows"], 1):
        w("   %d. %6.0f B %5.1f%%  %s" % (i, row["bytes"], 100 * row["share"], row["what"]))
    w("")
    w("   Single operations:")
    for m in c["micro"]:
        w("   %6d B  %s" % (m["bytes"], m["op"]))
    w("")
    if c["drift"]:
        w("   Free heap after gc.collect() every %d of %d unpaced cycles, heap %s%s:" % (
            c["drift"][1]["cycle"] if len(c["drift"]) > 1 else 0, c["drift"][-1]["cycle"],
            c["drift_heap"], " (at %s: %s)" % (c["heap_asked"], c["drift_heap_note"])
            if c["drift_heap_note"] else ""))
        w("   %-8s %10s %14s" % ("cycle", "free", "largest block"))
        for d in c["drift"]:
            w("   %-8d %10d %14d" % (d["cycle"], d["free"], d.get("largest_free_block", -1)))
        if "drift_bytes" in c:
            w("   drift first -> last sample (cycle %d -> %d): %+d B  goal: no downward drift"
              " (tolerance %d B)  %s" % (
                  [d for d in c["drift"] if d["cycle"] > 0][0]["cycle"],
                  c["drift"][-1]["cycle"], c["drift_bytes"], DRIFT_TOLERANCE,
                  goal(c["drift_ok"])))


def tree_state():
    """The commit and the firmware files changed since, so that a figure can
    be tied to the code it measured."""
    try:
        head = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"],
                              capture_output=True, text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "-C", ROOT, "status", "--porcelain", "--",
                                "firmware", "boot.py", "main.py"],
                               capture_output=True, text=True, timeout=10).stdout.split("\n")
    except OSError:
        return {"commit": None, "changed": []}
    return {"commit": head or None, "changed": [x[3:] for x in dirty if x.strip()]}


def part_b(rig, broker_port):
    """Start-ups at 160k and 110k, MQTT off and on. The free-heap goals are
    checked at the board's heap: 110k on a 32-bit binary (the board's
    object sizes), 160k, its stand-in, on the 64-bit one."""
    rig.write_link_config(broker_port)
    b = {"160k": start_up(rig, HEAP)}
    b["110k"] = start_up(rig, STRICT)
    b["smallest_start_heap_k"] = smallest_start_heap(rig, {160: b["160k"], 110: b["110k"]})
    b["160k+link"] = start_up(rig, HEAP, "link")
    b["110k+link"] = start_up(rig, STRICT, "link")
    b["free_goal"] = FREE_GOAL
    gh = b["goal_heap"] = board_heap(rig)
    b["free_ok"] = b[gh]["ok"] and b[gh]["free"] >= FREE_GOAL
    b["link_ok"] = b[gh + "+link"]["ok"] and b[gh + "+link"]["free"] >= FREE_GOAL
    b["strict_ok"] = b["110k"]["ok"]
    return b


def run(cycles, drift, every, paced_cycles, micropython=None):
    t0 = time.monotonic()
    out = {"tree": tree_state()}
    broker = Broker()
    try:
        for lay in LAYOUTS:
            with Rig(speed=60, start_hour=12.0, seed=1, romfs=lay == "romfs",
                     micropython=micropython) as rig:
                out["micropython"], out["word_bytes"] = rig.micropython, rig.word
                b = part_b(rig, broker.port)
                # Which modules the app loads at any time (some are unloaded after use).
                disc = start_up(rig, ROOMY[-1], "discover")
                if not disc["ok"]:
                    raise BenchError("start-up with the import hook failed: %s"
                                     % disc.get("error"))
                resident = disc["modules"]
                a = part_a(rig, disc.get("loaded", []), resident)
                a["aliases"] = dict((k, v) for k, v in resident.items()
                                    if k.startswith("umodbus") and "umodbus_lean" in v)
                if lay == "romfs":
                    out["c"] = part_c(rig, cycles, drift, every, paced_cycles)
            for x in list(b.values()):
                if isinstance(x, dict):
                    x.pop("modules", None)
                    x.pop("loaded", None)
            out[lay] = {"a": a, "b": b}
    finally:
        broker.stop()
    out["seconds"] = round(time.monotonic() - t0, 1)
    return out


def print_report_timed(r):
    print_report(r)
    print("\n(%.0f s)" % r["seconds"])


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cycles", type=int, default=100, help="measured cycles (default 100)")
    ap.add_argument("--drift", type=int, default=1000,
                    help="unpaced cycles of the drift run (default 1000; 0 skips it)")
    ap.add_argument("--every", type=int, default=100, help="drift sample period (default 100)")
    ap.add_argument("--paced", type=int, default=3,
                    help="measured cycles with the line paced at 9600 (default 3; 0 skips)")
    add_options(ap)
    args = ap.parse_args(argv)
    if args.cycles < 2 or args.every < 1:
        ap.error("--cycles must be >= 2 and --every >= 1")
    return report("bench_heap", lambda: run(args.cycles, args.drift, args.every, args.paced,
                                            args.micropython),
                  print_report_timed, args.json)


if __name__ == "__main__":
    sys.exit(main())
