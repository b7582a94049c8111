import os
import subprocess
import sys

import pytest

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, _ROOT)
sys.path.insert(0, os.path.join(_ROOT, "host_tests", "portable"))
sys.path.insert(0, os.path.join(_ROOT, "tools"))

from broker import Broker  # noqa: E402
from rigs import INTERPRETERS, MqttSite  # noqa: E402

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


@pytest.fixture
def mqtt_site(tmp_path):
    """mqtt_site(start_hour=..., sets=...) -> rigs.MqttSite: a real
    mosquitto, the cabinet emulator, the operator's client and (after
    .start()) the firmware; everything it made is closed after the test."""
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
    b = Broker()
    yield b
    b.stop()
