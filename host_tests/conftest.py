import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "host_tests", "portable"))
sys.path.insert(0, os.path.join(ROOT, "tools"))

MICROPYTHON = os.path.join(ROOT, ".venv", "bin", "micropython")


@pytest.fixture(scope="session")
def micropython():
    """The MicroPython unix port binary; a test that needs it fails without it."""
    assert os.path.exists(MICROPYTHON), "micropython missing: run tools/setup.sh"
    out = subprocess.run([MICROPYTHON, "-c", "import sys; print(sys.implementation.name)"],
                         capture_output=True, text=True, timeout=20)
    assert out.stdout.strip() == "micropython", out
    return MICROPYTHON


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
