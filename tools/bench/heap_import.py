# Runs in the MicroPython unix port inside a laid-out flash folder
# (tools/bench_heap.py puts it there as .mpy): the heap one import costs.
#   BENCH_PRELOAD=... BENCH_TARGET=... micropython -X heapsize=160k heap_import.py
# (in the environment, not on the command line: the unix port dies with
# "FATAL: uncaught NLR" on any argument of 256 characters or more, since it
# interns sys.argv as qstrs). BENCH_PRELOAD is a comma-separated list of modules imported first (outside the
# measurement; "-" for none); TARGET a module name, or LEAN for the
# firmware's lean umodbus master (firmware.hw.umodbus_lean.serial_class()),
# or several of those, comma-separated, imported in that order.
# Prints "RESULT <bytes> <modules the import added, comma-separated>" where
# bytes = gc.mem_alloc() after minus before, each after gc.collect().
import gc
import os
import sys


def main():
    pre = os.getenv('BENCH_PRELOAD') or '-'
    target = os.getenv('BENCH_TARGET')
    if pre != '-':
        for name in pre.split(','):
            __import__(name)
    names = target.split(',')
    before = list(sys.modules)
    gc.collect()
    a = gc.mem_alloc()
    for name in names:
        if name == 'LEAN':
            __import__('firmware.hw.umodbus_lean', None, None, ('serial_class',)).serial_class()
        else:
            __import__(name)
    gc.collect()
    b = gc.mem_alloc()
    new = [k for k in sys.modules if k not in before]
    print('RESULT %d %s' % (b - a, ','.join(new) or '-'))


main()
