# tools/faults.py's bad-config class, in MicroPython at the board's heap:
# each file named on the command line (in the flash folder) is offered as
# config.json to the firmware's start-up choice (firmware.app.load_config),
# once with no config.lkg.json and once with the good lkg.json beside it.
# Prints one "CASE <file> <lkg|none> <outcome> <text>" line each, where the
# outcome is "primary" (taken as the config), "lkg" (refused, the last
# known good runs), "refused" (ConfigError) or "crash" (anything else), and
# "HEAP <before> <after>" (gc.mem_free() after a collection) around them,
# the good file and the first bad one loaded once before.
import gc
import sys

from firmware import app

# The good file first, then the first bad one with its fallback: what the
# start-up keeps loaded, and the first refusal's one-off cost (its code
# paths), are in the heap before.
app.load_config('lkg.json', 'no-such.json')
app.load_config(sys.argv[1], 'lkg.json')
try:
    app.load_config(sys.argv[1], 'no-such.json')
except Exception:
    pass
gc.collect()
before = gc.mem_free()
for name in sys.argv[1:]:
    for lkg in ('none', 'lkg'):
        try:
            cfg, warning = app.load_config(name, 'lkg.json' if lkg == 'lkg' else 'no-such.json')
            outcome = 'primary' if warning is None else 'lkg'
            text = warning or cfg.get('site_id')
        except Exception as e:      # ConfigError, or a crash
            outcome = 'refused' if type(e).__name__ == 'ConfigError' else 'crash'
            text = '%s: %s' % (type(e).__name__, e)
        cfg = warning = None
        gc.collect()
        print('CASE', name, lkg, outcome, gc.mem_free(), repr(text)[:200])
gc.collect()
print('HEAP', before, gc.mem_free())
