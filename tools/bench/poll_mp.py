# Runs in the MicroPython unix port inside a laid-out flash folder
# (tools/bench_poll.py puts it there as .mpy): builds the real firmware App from
# config.json and times app.tick() cycles with time.ticks_us.
#   micropython -X heapsize=160k poll_mp.py CYCLES WARMUP
# Output, one record a line:
#   REQ <device> <fc> <start> <count>      each request of each device's plan
#   WARM <us>                              one warm-up cycle
#   CYCLE <i> <us>                         one timed cycle
#   SNAP {...}                             the site picture after the last cycle
#   HEALTH <device> {...}                  online, good answers, errors by kind
#   DONE
import sys
import gc
import json
import time
from firmware import app


def main(cycles, warmup):
    cfg, _ = app.load_config(preload=True)     # as app.run() starts: names interned first
    a = app.App(cfg)
    for d in a.devices:
        for r in d.reqs:
            print('REQ %s %d %d %d' % (d.name, r[0], r[1], r[2]))
    ticks_us = time.ticks_us
    ticks_diff = time.ticks_diff
    for i in range(warmup):
        t0 = ticks_us()
        a.tick()
        print('WARM %d' % ticks_diff(ticks_us(), t0))
    us = [0] * cycles           # no printing inside the timed loop
    gc.collect()
    for i in range(cycles):
        t0 = ticks_us()
        a.tick()
        us[i] = ticks_diff(ticks_us(), t0)
    for i in range(cycles):
        print('CYCLE %d %d' % (i, us[i]))
    snap = a.snap
    print('SNAP ' + json.dumps({k: snap[k] for k in snap if k != 'dev'}))
    for d in a.devices:
        print('HEALTH %s %s' % (d.name, json.dumps(
            {'online': d.online, 'ok': d.n_ok, 'err': d.n_err, 'last_err': d.last_err})))
    print('DONE')


main(int(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else 2)
