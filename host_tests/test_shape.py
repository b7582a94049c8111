# The code's shape, read with `ast` by tools/shape.py: the firmware has no
# import cycle (a late, function-local import counts too), no module
# imports a higher layer of its architecture (tools/shape.py LAYERS: the
# entry, start-up, the front ends, the hardware shell, the control core,
# the base), every firmware module has a layer, nothing imports the entry
# module, and no test module imports another test module (shared rigs live
# in host_tests/rigs.py and host_tests/portable/helpers.py).
import ast
import os

import shape
from rigs import ROOT


def test_the_firmware_has_no_import_cycle():
    assert shape.cycles(shape.graph("firmware")) == []


def test_the_tools_have_no_import_cycle():
    assert shape.cycles(shape.graph("tools")) == []


def test_a_cycle_is_found_where_there_is_one():
    # The detector itself, on a small graph with one knot and one chain.
    g = {"a": ["b"], "b": ["c"], "c": ["a"], "d": ["a"], "e": []}
    assert shape.cycles(g) == [["a", "b", "c"]]


def test_no_firmware_module_imports_a_higher_layer():
    g = shape.graph("firmware")
    assert shape.upward(g) == []
    assert shape.unplaced(g) == []
    # And the check bites: the control core importing a front end is upward.
    assert shape.upward({"firmware.generator": ["firmware.console.look"]}) == [
        ("firmware.generator", "firmware.console.look")]


def test_nothing_imports_the_entry_module():
    g = shape.graph("firmware")
    assert [m for m in g if "firmware.app" in g[m]] == []


def test_no_test_module_imports_another_test_module():
    found = []
    top = os.path.join(ROOT, "host_tests")
    for d, _, files in os.walk(top):
        for f in files:
            if not f.endswith(".py"):
                continue
            path = os.path.join(d, f)
            for n in ast.walk(ast.parse(open(path).read(), path)):
                names = [a.name for a in n.names] if isinstance(n, ast.Import) else \
                    [n.module] if isinstance(n, ast.ImportFrom) and n.module else []
                for name in names:
                    if name.split(".")[-1].startswith("test_") or name == "conftest":
                        found.append((os.path.relpath(path, ROOT), name))
    assert found == []
