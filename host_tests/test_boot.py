# boot.py on the board's import path, with the board's machine module (the
# twin): the path reordered, the safe-mode check made.
import os
import subprocess

from rigs import ROOT

PROBE = """
import sys
# The twin and the repo first (the host's own /lib/firmware must not be found).
sys.path[:] = sys.path[-2:] + ['', '.frozen', '/rom', '/rom/lib', '/lib']
exec(open('%s').read())
print(sys.path[2:])
"""


def test_boot_puts_our_libraries_before_the_firmware_images(micropython, tmp_path):
    # ports/esp32 (v1.25+) sets sys.path to '', '.frozen', '/rom',
    # '/rom/lib', '/lib': a frozen umqtt.simple (1.4.0 in v1.24 takes no
    # ssl_params) would shadow our pinned lib/umqtt without this.
    env = dict(os.environ, MICROPYPATH=os.path.join(ROOT, "tools", "board_twin") + ":" + ROOT)
    r = subprocess.run([micropython, "-c", PROBE % os.path.join(ROOT, "boot.py")],
                       cwd=str(tmp_path), env=env, capture_output=True, text=True, timeout=30)
    assert r.stdout.strip() == "['', '/rom', '/rom/lib', '/lib', '.frozen']", r.stdout + r.stderr
    # The safe-mode check ran: a power-on starts the reset count at 0.
    assert (tmp_path / "resets").read_text() == "0"
