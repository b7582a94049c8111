# Runs in the MicroPython unix port inside a laid-out flash folder
# (tools/bench_heap.py puts it there as .mpy): bytes the heap gives out per
# poll cycle of the real App, and where they go.
#   micropython -X heapsize=160k heap_cycle.py MODE N
# After 3 warm-up ticks:
#   MODE "measure": N measured ticks, N/2 of poller.cycle and site.update,
#     each device's poll, every request of every plan through bus.read and
#     step by step, single operations, the reply wait loop's polls;
#   MODE "ticks": only the N measured ticks and the wait-loop polls.
# (The drift run is heap_drift.py: smaller, so it fits where this does not.)
# Events the App queues are drained after every tick, outside the
# measurements, as app.run() does.
#
# One measurement: gc.collect(); gc.disable(); a = gc.mem_alloc(); <call>;
# b = gc.mem_alloc(); gc.enable()  ->  b - a bytes (whole GC blocks).
# Output lines (values space-separated):
#   EMPTY <bytes>                   an empty window (the method's own cost)
#   TICK <bytes...>                 app.tick()
#   CYCLE <bytes...>                app.poller.cycle(ts)
#   SITE <bytes...>                 site.update(snap, devices, ts)
#   DEVPOLL <dev> <bytes...>        one device's poll(ts) (all its requests)
#   READ <dev> <fc> <start> <count> <bytes...>   bus.read of one request
#   PART <dev> <fc> <start> <count> <pdu> <send> <uart_read> <validate> <polls> <reply len>
#       the same request step by step as umodbus's _send_receive takes it
#   DECODE <dev> <fc> <start> <count> <all values changed> <none changed>
#   MICRO <bytes> <label>           single operations on the path
#   POLLS <link.any() calls per tick...>   the reply wait loop's iterations
#   ONLINE <dev>=<0|1>...
#   DONE
import gc
import sys
import time
import select
from firmware import app
from firmware.clock import now as clock_now


def _call(f, nargs, a1, a2, a3, a4):
    if nargs == 0:
        return f()
    if nargs == 1:
        return f(a1)
    if nargs == 2:
        return f(a1, a2)
    if nargs == 3:
        return f(a1, a2, a3)
    return f(a1, a2, a3, a4)


def meas_ret(f, a1=None, a2=None, a3=None, a4=None, nargs=0):
    # Arguments go positionally, so the call itself allocates nothing (the
    # EMPTY line shows the method's own cost). Returns (bytes, result).
    gc.collect()
    gc.disable()
    a = gc.mem_alloc()
    r = _call(f, nargs, a1, a2, a3, a4)
    b = gc.mem_alloc()
    gc.enable()
    return b - a, r


def meas(f, a1=None, a2=None, a3=None, a4=None, nargs=0):
    return meas_ret(f, a1, a2, a3, a4, nargs)[0]


def nothing():
    pass


def series(label, vals):
    print(label + ' ' + ' '.join([str(v) for v in vals]))


class PollCounter:
    """Counts link.any() calls (the reply wait loop's iterations) by shadowing
    the method on the instance; remove() restores the class's method."""

    def __init__(self, link):
        self.link = link
        self.n = 0
        orig = link.any

        def counting():
            self.n += 1
            return orig()
        link.any = counting

    def remove(self):
        del self.link.any


def wait_polls(A, k):
    link = A.devices[0].bus._m._uart
    pc = PollCounter(link)
    vals = [0] * k
    for i in range(k):
        pc.n = 0
        tick(A)
        vals[i] = pc.n
    pc.remove()
    series('POLLS', vals)


def fill_pdu(bus, fc, start, count):
    pdu = bus._pdu          # as RtuBus.read fills it
    pdu[0] = fc
    pdu[1] = start >> 8
    pdu[2] = start & 0xFF
    pdu[3] = count >> 8
    pdu[4] = count & 0xFF
    return pdu


def step_by_step(d, req):
    """One request through the steps umodbus's _send_receive takes (with
    rtu.py's LeanSerial steps), each measured on its own."""
    bus = d.bus
    m = bus._m
    link = m._uart
    fc, start, count = req[0], req[1], req[2]
    d._pace()
    m.expect = 5 + 2 * count            # as RtuBus._transact sets them
    m.wait_us = bus.timeout_us + m.expect * m._t1char
    b_pdu, pdu = meas_ret(fill_pdu, bus, fc, start, count, nargs=4)
    link.read()                         # _send_receive's flush of the Rx side
    b_send = meas(m._send, pdu, d.unit, nargs=2)
    pc = PollCounter(link)
    b_read, resp = meas_ret(m._uart_read)
    pc.remove()
    b_val, data = meas_ret(m._validate_resp_hdr, resp, d.unit, pdu[0], True, nargs=4)
    d.last_frame = time.ticks_ms()
    print('PART %s %d %d %d %d %d %d %d %d %d' % (d.name, fc, start, count, b_pdu, b_send,
                                                 b_read, b_val, pc.n, resp))
    return data


def full(A, n):
    half = max(n // 2, 1)
    vals = [0] * half
    for i in range(half):
        ts = clock_now()
        vals[i] = meas(A.poller.cycle, ts, nargs=1)
    series('CYCLE', vals)
    site = A._site
    for i in range(half):
        ts = clock_now()
        vals[i] = meas(site.update, A.snap, A.devices, ts, nargs=3)
    series('SITE', vals)

    reps = 5
    vals = [0] * reps
    for d in A.devices:
        for i in range(reps):
            ts = clock_now()
            vals[i] = meas(d.poll, ts, nargs=1)
        series('DEVPOLL ' + d.name, vals)

    for d in A.devices:
        bus = d.bus
        for req in d.reqs:
            fc, start, count = req[0], req[1], req[2]
            for i in range(reps):
                d._pace()
                vals[i] = meas(bus.read, d.unit, fc, start, count, nargs=4)
                d.last_frame = time.ticks_ms()
            series('READ %s %d %d %d' % (d.name, fc, start, count), vals)

    for d in A.devices:
        for req in d.reqs:
            data = step_by_step(d, req)
            first = req[3]
            for i in range(first, first + req[4]):
                d._seen[i] = 0          # as if every value had changed
            b_all = meas(d._decode, data, req, nargs=2)
            b_same = meas(d._decode, data, req, nargs=2)
            print('DECODE %s %d %d %d %d %d' % (d.name, req[0], req[1], req[2], b_all, b_same))

    m = A.devices[0].bus._m
    link = m._uart
    print('MICRO %d clock_now()' % meas(clock_now))
    print('MICRO %d time.ticks_us()' % meas(time.ticks_us))
    p = select.poll()
    print('MICRO %d select.poll().poll(0), nothing ready' % meas(p.poll, 0, nargs=1))
    meas(p.ipoll, 0, nargs=1)
    print('MICRO %d select.poll().ipoll(0), nothing ready (2nd call)' % meas(p.ipoll, 0, nargs=1))
    if hasattr(link, '_pump'):
        print('MICRO %d SockUart.any(), nothing pending' % meas(link.any))
    from firmware.hw import rtu
    print('MICRO %d rtu.crc16() of 8 bytes (umodbus\'s table)' % meas(
        rtu.crc16, bytearray(8), 8, m._crc_table, nargs=3))
    from firmware import decode
    r32 = 0x43660000        # 230.0 as float32: a meter voltage
    f32 = lambda: decode.value(r32, decode.F32, 1, 0, 500, decode.SENT_NONE)
    print('MICRO %d decode.value() of an F32 point (230.0 V)' % meas(f32))
    u16 = lambda: decode.value(5374, decode.U16, 0.01, 0, 70, decode.SENT_NONE)
    print('MICRO %d decode.value() of a U16 point x 0.01 (53.74 V)' % meas(u16))
    if hasattr(link, '_pump'):
        # A reply waiting in the socket: what the wait loop's any() and the
        # read that follows cost when there is something to take.
        d = A.devices[-1]
        fc, start, count = d.reqs[0][:3]
        pdu = fill_pdu(d.bus, fc, start, count)
        d._pace()
        link.read()
        m._send(pdu, d.unit)
        time.sleep_ms(60)
        print('MICRO %d SockUart.any(), a %d-register reply pending' % (meas(link.any), count))
        print('MICRO %d SockUart.readinto() of that reply' % meas(link.readinto, m._rx, nargs=1))
        d.last_frame = time.ticks_ms()


def tick(A):
    A.tick()
    if hasattr(A, 'drain_events'):
        A.drain_events()


def main(mode, n):
    cfg, _ = app.load_config(preload=True)     # as app.run() starts: names interned first
    A = app.App(cfg)
    for i in range(3):          # warm-up: the first answers fill the values dicts
        tick(A)
    print('EMPTY %d' % meas(nothing))
    vals = [0] * n
    drain = hasattr(A, 'drain_events')
    for i in range(n):
        vals[i] = meas(A.tick)
        if drain:
            A.drain_events()
    series('TICK', vals)
    wait_polls(A, 3)
    if mode == 'measure':
        full(A, n)
    print('ONLINE ' + ' '.join(['%s=%d' % (d.name, d.online) for d in A.devices]))
    print('DONE')


main(sys.argv[1], int(sys.argv[2]))
