# boot.py on the board's import path.
import subprocess

from conftest import ROOT

PROBE = """
import sys
sys.path[:] = ['', '.frozen', '/rom', '/rom/lib', '/lib']
exec(open('boot.py').read())
print(sys.path)
"""


def test_boot_puts_our_libraries_before_the_firmware_images(micropython):
    # ports/esp32 (v1.25+) sets sys.path to '', '.frozen', '/rom',
    # '/rom/lib', '/lib': a frozen umqtt.simple (1.4.0 in v1.24 takes no
    # ssl_params) would shadow our pinned lib/umqtt without this.
    r = subprocess.run([micropython, "-c", PROBE], cwd=ROOT, capture_output=True, text=True,
                       timeout=30)
    assert r.stdout.strip() == "['', '/rom', '/rom/lib', '/lib', '.frozen']", r.stdout + r.stderr
