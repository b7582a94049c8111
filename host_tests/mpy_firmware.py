# Test harness run by the MicroPython unix port inside a laid-out flash
# folder (tools/host_run.py layout): builds the real firmware App from
# config.json and runs N ticks, printing after each one machine-readable
# lines with the snapshot, each device's values and health, and the heap.
#   micropython -X heapsize=160k mpy_firmware.py CYCLES [PERIOD_MS]
import sys
import gc
import json
import time
from firmware import app

cycles = int(sys.argv[1])
period = int(sys.argv[2]) if len(sys.argv) > 2 else 0
cfg, _ = app.load_config(preload=True)     # as app.run() starts: names interned first
a = app.App(cfg)
gc.collect()
print('READY ' + json.dumps({'free': gc.mem_free(), 'alloc': gc.mem_alloc()}))
for i in range(cycles):
    t0 = time.ticks_ms()
    snap = a.tick()
    # Printed in small pieces so that the strict heap has room for them.
    for d in a.devices:
        print('DEV %s %s' % (d.name, json.dumps(d.values)))
        print('HEALTH %s %s' % (d.name, json.dumps(
            {'online': d.online, 'misses': d.misses, 'ok': d.n_ok, 'err': d.n_err,
             'last_err': d.last_err})))
    print('CYCLE ' + json.dumps({'i': i, 'ms': a.cycle_ms, 'free': gc.mem_free()}))
    print('ALARMS ' + json.dumps([x['code'] for x in a.alarms.active()]))
    for k in snap:
        if k != 'dev':
            print('FIELD %s %s' % (k, json.dumps(snap[k])))
    print('END')
    rest = period - time.ticks_diff(time.ticks_ms(), t0)
    if rest > 0:
        time.sleep_ms(rest)
