import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "host_tests", "portable"))
sys.path.insert(0, os.path.join(ROOT, "tools"))

# The MicroPython interpreters the tests run. "pypi": the unix port from
# PyPI (.venv, tools/setup.sh): 64-bit, double floats, ssl. "esp32like":
# the board's number model (README, "The board's number model"): the unix
# port built 32-bit with single floats, small ints up to 2**30, ticks
# wrapping at 2**30 ms, 16-byte GC blocks, no ssl; CI has shared/ beside
# the repo clone.
MICROPYTHON = os.path.join(ROOT, ".venv", "bin", "micropython")
ESP32LIKE = os.path.normpath(os.path.join(ROOT, "..", "shared", "tools",
                                          "micropython-esp32like"))
INTERPRETERS = {"pypi": MICROPYTHON, "esp32like": ESP32LIKE}
# What each must be: its sys.maxsize and how it prints 2/3.
_MODEL = {"pypi": ("9223372036854775807", "0.6666666666666666"),
          "esp32like": ("2147483647", "0.6666667")}
_MISSING = {"pypi": "run tools/setup.sh",
            "esp32like": "it is ../shared/tools/micropython-esp32like from the repo root "
                         "(CI puts shared/ beside the clone); build it with the recipe in "
                         "the README's section \"The board's number model\""}

# Tests name their interpreter (the micropython fixture): host_run's
# $MICROPYTHON must not change what a "pypi" test runs.
os.environ.pop("MICROPYTHON", None)

_checked = {}


def interpreter(name):
    """The path of the named MicroPython binary, once checked to run and to
    have its number model; the test fails (never skips) without it."""
    if name not in _checked:
        path = INTERPRETERS[name]
        if not os.path.exists(path):
            pytest.fail("MicroPython %r missing at %s: %s" % (name, path, _MISSING[name]),
                        pytrace=False)
        out = subprocess.run([path, "-c", "import sys; print(sys.implementation.name); "
                              "print(sys.maxsize); print(2.0 / 3)"],
                             capture_output=True, text=True, timeout=20)
        got = out.stdout.split()
        if got != ["micropython"] + list(_MODEL[name]):
            pytest.fail("%s is not the %r MicroPython: %r %s" % (path, name, got, out.stderr),
                        pytrace=False)
        _checked[name] = path
    return _checked[name]


@pytest.fixture(scope="session")
def micropython(request):
    """The MicroPython unix port binary: the PyPI one, or the one a test is
    parametrized with (on_both, or indirect parametrization by name)."""
    return interpreter(getattr(request, "param", "pypi"))


# Runs a test under both interpreters: ids ...[pypi] and ...[esp32like].
on_both = pytest.mark.parametrize("micropython", ["pypi", "esp32like"], indirect=True)


# The 64-bit PyPI binary's stand-in for the board's 110k: its objects are
# about twice the board's, and measured with the example config 200k leaves
# it twice the bytes the 32-bit build has free at 110k (96 KB against 48 KB,
# MQTT off). The board's own heap is tested on esp32like at 110k.
PYPI_BOARD_HEAP = "200k"


def board_heap(micropython):
    """The heap that stands for an ESP32-WROOM's in that binary: 110k in
    the 32-bit esp32like (the board's own object sizes), PYPI_BOARD_HEAP in
    the 64-bit PyPI binary (its objects are bigger)."""
    return "110k" if micropython == INTERPRETERS["esp32like"] else PYPI_BOARD_HEAP


def run_mpy_result(micropython, script, timeout=300):
    """Run a MicroPython-side test script from the repo root; it must exit
    0 and print exactly one 'RESULT <json>' line, which is returned."""
    import json
    r = subprocess.run([micropython, script], cwd=ROOT, capture_output=True, text=True,
                       timeout=timeout)
    out = r.stdout + r.stderr
    assert r.returncode == 0, out
    lines = [l for l in r.stdout.splitlines() if l.startswith("RESULT ")]
    assert len(lines) == 1, out
    return json.loads(lines[0][len("RESULT "):])


@pytest.fixture
def mqtt_site(tmp_path):
    """mqtt_site(start_hour=..., sets=...) -> test_uplink_e2e.MqttSite: a real
    mosquitto, the cabinet emulator, the operator's client and (after
    .start()) the firmware; everything it made is closed after the test."""
    from test_uplink_e2e import MqttSite
    made = []

    def make(**kw):
        made.append(MqttSite(tmp_path, **kw))
        return made[-1]
    yield make
    for s in made:
        s.close()


@pytest.fixture
def broker():
    """A real mosquitto on a free port, stopped after the test."""
    from broker import Broker
    b = Broker()
    yield b
    b.stop()
