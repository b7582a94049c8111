# Runs in the MicroPython unix port inside a laid-out flash folder
# (tools/bench_heap.py puts it there as .mpy): the firmware's start-up as
# app.run() does it (config, App with every module it loads, one poll cycle,
# one display line), then the free heap after gc.collect().
#   micropython -X heapsize=160k heap_start.py [link|discover]
# "link" starts from
# config-link.json (the MQTT link on, to a broker the bench runs) and ticks
# until the link is up (LINK up|down);
# "discover" hooks builtins.__import__ to print LOADED <name> for every module
# loaded at any time (the app unloads some after use), figures then biased.
# Prints START <free> <alloc> <alloc at script start>, or FAIL <step> <error>
# (and the traceback) when start-up fails; MODULE <name> <file> lines, ONLINE,
# WORD <bytes a machine word>, micropython.mem_info()'s and qstr_info()'s
# lines (the interned names: their count and the heap their pools take), DONE.
import gc
gc.collect()
import sys
import micropython
BASE = gc.mem_alloc()
STEP = ['import']


def start(path='config.json'):
    from firmware import app
    STEP[0] = 'config'
    try:
        cfg, _ = app.load_config(path, preload=True)     # as app.run() does
    except TypeError:           # a tree from before preloading
        cfg, _ = app.load_config(path)
    STEP[0] = 'App()'
    a = app.App(cfg, cfg_path=path)
    STEP[0] = 'import display'
    from firmware import display
    STEP[0] = 'tick'
    snap = a.tick()
    if hasattr(a, 'drain_events'):
        a.drain_events()
    STEP[0] = 'display.line'
    try:
        display.line(snap, a.devices, a)
    except TypeError:           # the display of the first slice took two
        display.line(snap, a.devices)
    return a


def hook_imports():
    import builtins
    seen = {}
    orig = builtins.__import__

    def hook(name, *args):
        m = orig(name, *args)
        for k in sys.modules:
            seen[k] = 1
        return m
    builtins.__import__ = hook
    return seen


def main():
    mode = sys.argv[1] if len(sys.argv) > 1 else ''
    seen = hook_imports() if mode == 'discover' else None
    try:
        A = start('config-link.json' if mode == 'link' else 'config.json')
        if mode == 'link':
            STEP[0] = 'link'
            for _ in range(10):
                if A.uplink.link.up:
                    break
                A.tick()
                A.drain_events()
            print('LINK ' + ('up' if A.uplink.link.up else 'down %s' % A.uplink.link.last_error))
    except Exception as e:      # MemoryError above all
        A = None
        gc.collect()
        print('FAIL %s %s: %s' % (STEP[0].replace(' ', '_'), type(e).__name__, e))
        sys.print_exception(e, sys.stdout)
    gc.collect()
    free = gc.mem_free()
    alloc = gc.mem_alloc()
    if A is not None:
        print('START %d %d %d' % (free, alloc, BASE))
        print('ONLINE ' + ' '.join(['%s=%d' % (d.name, d.online) for d in A.devices]))
    for k in sorted(sys.modules):
        print('MODULE %s %s' % (k, getattr(sys.modules[k], '__file__', '-')))
    if seen is not None:
        for k in sorted(seen):
            print('LOADED %s' % k)
    print('WORD %d' % (8 if sys.maxsize > 0x7FFFFFFF else 4))
    print('MEMINFO')
    micropython.mem_info()
    micropython.qstr_info()
    print('DONE')


main()
