# The pure-logic tests in portable/ run under CPython through pytest; this
# runs the very same test functions in the MicroPython unix port, so the
# core is shown to work unchanged on both: in the PyPI binary (64-bit,
# double floats) and in micropython-esp32like, the board's number model
# (32-bit: small ints end at 2**30, single floats, 16-byte GC blocks).
import ast
import os
import subprocess

import pytest

from rigs import ROOT, on_both

PORTABLE = os.path.join(ROOT, "host_tests", "portable")
MODULES = sorted(f[:-3] for f in os.listdir(PORTABLE) if f.startswith("test_") and f.endswith(".py"))


def functions_in(mod):
    tree = ast.parse(open(os.path.join(PORTABLE, mod + ".py")).read())
    return {n.name for n in tree.body if isinstance(n, ast.FunctionDef) and n.name.startswith("test_")}


@on_both
@pytest.mark.parametrize("mod", MODULES)
def test_portable_module_in_micropython(micropython, mod):
    r = subprocess.run([micropython, "host_tests/mpy_run.py", mod], cwd=ROOT,
                       capture_output=True, text=True, timeout=120)
    passed = {l.split(".", 1)[1] for l in r.stdout.splitlines() if l.startswith("PASS ")}
    assert r.returncode == 0, r.stdout + r.stderr
    # Every test function ran and passed: none silently missing.
    assert passed == functions_in(mod), r.stdout
