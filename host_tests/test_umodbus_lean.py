# The lean umodbus import in the unix port: the RTU master loads without the
# library's request builders, constants and helpers (served by stand-ins),
# and Modbus TCP, loaded before or after it, still gets the real ones.
import os
import subprocess

from rigs import ROOT, on_both

SCRIPT = """
import sys
from firmware.hw import umodbus_lean as L
first = sys.argv[1]
if first == 'serial':
    S = L.serial_class()
    print('STUBBED', sys.modules['umodbus.functions'] is L and sys.modules['umodbus.const'] is L)
T = L.tcp_class()
S = L.serial_class()
from umodbus import functions
print('TCP', T.__name__, functions.read_holding_registers(0, 2) == b'\\x03\\x00\\x00\\x00\\x02')
print('SERIAL', S.__name__, sys.modules['umodbus.const'] is not L)
"""


def run(micropython, tmp_path, first):
    path = tmp_path / "lean.py"
    path.write_text(SCRIPT)
    env = dict(os.environ, MICROPYPATH=":".join(
        [os.path.join(ROOT, "tools", "board_twin"), ROOT, os.path.join(ROOT, "lib")]))
    r = subprocess.run([micropython, "-X", "heapsize=160k", str(path), first], env=env,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    return r.stdout.split("\n")


@on_both
def test_rtu_master_alone_loads_no_request_builders(micropython, tmp_path):
    out = run(micropython, tmp_path, "serial")
    assert "STUBBED True" in out
    assert "TCP TCP True" in out and "SERIAL Serial True" in out


@on_both
def test_tcp_first_then_rtu(micropython, tmp_path):
    out = run(micropython, tmp_path, "tcp")
    assert "TCP TCP True" in out and "SERIAL Serial True" in out
