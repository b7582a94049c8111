# Lets the pure-logic core run unchanged under CPython (pytest, the simulator)
# and MicroPython (the board, the unix port).
import time

try:
    from micropython import const
except ImportError:  # CPython
    def const(x):
        return x

try:
    ticks_ms = time.ticks_ms
    ticks_diff = time.ticks_diff
    ticks_add = time.ticks_add
    sleep_ms = time.sleep_ms
except AttributeError:  # CPython: monotonic milliseconds, no wrap-around
    def ticks_ms():
        return int(time.monotonic() * 1000)

    def ticks_diff(a, b):
        return a - b

    def ticks_add(a, b):
        return a + b

    def sleep_ms(ms):
        time.sleep(ms / 1000)
