# Runs first on the board. Kept tiny: all logic lives in firmware/.
import sys
# The board's sys.path is ['', '.frozen', '/rom', '/rom/lib', '/lib']:
# modules frozen into the firmware image come first, and stock ESP32
# firmware freezes its own umqtt.simple. Our pinned libraries must win.
if '.frozen' in sys.path:
    sys.path.remove('.frozen')
    sys.path.append('.frozen')
try:
    from firmware import bootmode       # safe mode after a boot loop or with its pin held
    if bootmode.check():
        print('SAFE MODE: ' + bootmode.why)
except Exception as e:                  # never let boot.py keep main.py from running
    print('boot: safe-mode check failed: %r' % e)
import gc
gc.collect()
