# Runs in the MicroPython unix port inside a laid-out flash folder
# (tools/bench_heap.py puts it there as .mpy): N unmeasured poll cycles of the
# real App, with gc.mem_free() after gc.collect() at cycle 0 and every EVERY
# cycles. Kept tiny so that it runs at the heap the board would have.
#   micropython -X heapsize=160k heap_drift.py N EVERY
# Prints DRIFT <cycle> <free> then micropython.mem_info()'s lines; ONLINE; DONE.
import gc
import sys
import micropython
from firmware import app


def main(n, every):
    cfg, _ = app.load_config(preload=True)     # as app.run() starts: names interned first
    a = app.App(cfg)
    drain = hasattr(a, 'drain_events')      # as app.run() does every cycle
    for i in range(n + 3):
        if i >= 3 and (i - 3) % every == 0:     # after 3 warm-up cycles
            gc.collect()
            print('DRIFT %d %d' % (i - 3, gc.mem_free()))
            micropython.mem_info()
        a.tick()
        if drain:
            a.drain_events()
    gc.collect()
    print('DRIFT %d %d' % (n, gc.mem_free()))
    micropython.mem_info()
    print('ONLINE ' + ' '.join(['%s=%d' % (d.name, d.online) for d in a.devices]))
    print('DONE')


main(int(sys.argv[1]), int(sys.argv[2]))
