#!/usr/bin/env python3
"""Flash wear at default settings: one day of the controller's writes
(tools/bench/flash_day.py, on LittleFS in the unix port over a counting
4 KB-block device the size of an ESP32's filesystem partition) and the
arithmetic against the flash's rated erase cycles for 10 years.

A day at defaults: state.json every persist_s (600 s: 144 saves) plus a
save per generator or load change (24 assumed), 50 events in the log, and
the telemetry seq reserved every 256 records (1,440 a day at telemetry_s
60: 6). With the MQTT link up nothing else is written (the spool only fills
while the link is down).

    .venv/bin/python tools/bench_flash.py [--blocks 448] [--micropython PATH]
"""
import argparse
import os
import subprocess
import sys

from bench_rig import ROOT, goal

RATED = 100000      # program/erase cycles of the ESP32 modules' NOR flash (e.g. Winbond W25Q32JV)
YEARS = 10


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--blocks", type=int, default=448,
                    help="4 KB blocks of the filesystem (448 = 1.75 MB, a 4 MB board with ROMFS)")
    ap.add_argument("--micropython", default=os.path.join(ROOT, ".venv", "bin", "micropython"))
    a = ap.parse_args()
    saves, events, seqs = 144 + 24, 50, 6
    r = subprocess.run([a.micropython, "-X", "heapsize=8m", "tools/bench/flash_day.py",
                        str(a.blocks), str(saves), str(events), str(seqs)],
                       cwd=ROOT, capture_output=True, text=True, timeout=300)
    if r.returncode:
        sys.exit(r.stdout + r.stderr)
    f = dict(zip(r.stdout.split()[::2], map(int, r.stdout.split()[1::2])))
    per_day, hot, used = f["ERASES"], f["MAXBLOCK"], f["USED"]
    days = 365 * YEARS
    spread = per_day * days / a.blocks
    print("Flash writes, one day at default settings (%d state saves, %d events, %d seq "
          "reservations):" % (saves, events, seqs))
    print("  %d block erases a day over %d of %d blocks (most on one block: %d)"
          % (per_day, used, a.blocks, hot))
    print("  %d years: %.0f erases per block with LittleFS spreading them over the partition "
          "(%.0fx below the rated %d) %s" % (YEARS, spread, RATED / spread, RATED,
                                            goal(spread < RATED)))
    print("  worst case, the day's hottest block hot for %d years: %d erases (%.1fx below) %s"
          % (YEARS, hot * days, RATED / (hot * days), goal(hot * days < RATED)))


if __name__ == "__main__":
    main()
