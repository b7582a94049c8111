# Output pins on the board: made at their safe level, and a pin the board
# refuses leaves the rest of the controller running with an alarm.
import json
import os
import subprocess
import time

from rigs import ROOT, Cabinet, Firmware


def config(cab, **top):
    cfg = json.loads(json.dumps(cab.cfg))
    cfg["poll_s"] = 0.5
    cfg.update(top)
    return cfg


def test_outputs_start_at_their_safe_level(tmp_path):
    # An active-high contactor of a load that is on: its pin must be high
    # from the instant it becomes an output (machine.Pin(n, Pin.OUT,
    # value=1)); made low first, the load would drop at every boot.
    pins = tmp_path / "pins.log"
    pins.write_text("")
    cab = Cabinet(str(tmp_path))
    fw = None
    try:
        cfg = config(cab, loads=[{"name": "radio", "pin": 25, "active_high": True},
                                 {"name": "aircon", "pin": 26, "active_high": False}])
        fw = Firmware(str(tmp_path), cfg, pins_file=str(pins))
        assert fw.wait_for("site BTS-0042", 60), "\n".join(fw.lines[-30:])
        first = {}
        for line in pins.read_text().splitlines():
            pin, level = line.split()
            first.setdefault(int(pin), int(level))
        assert first == {25: 1, 26: 0}, pins.read_text()
    finally:
        if fw:
            fw.stop()
        cab.close()


def test_a_pin_the_board_refuses_raises_an_alarm_and_the_loop_runs(tmp_path):
    # The config says ESP32-S3 (GPIO 40 exists there) but the board is a
    # classic ESP32: machine.Pin(40) raises ValueError("invalid pin").
    cab = Cabinet(str(tmp_path))
    fw = None
    try:
        cfg = config(cab, board="esp32s3", loads=[{"name": "aircon", "pin": 40}])
        cfg["buses"]["rs485"].update(tx=43, rx=44, de=2)
        fw = Firmware(str(tmp_path), cfg)
        assert fw.wait_for("EVENT alarm actuator_fault raise", 60), "\n".join(fw.lines[-30:])
        assert any("WARNING: cannot drive load contactors: invalid pin" in l for l in fw.lines)
        # Cycles go on after it.
        n = len([l for l in fw.lines if "| CTL " in l])
        deadline = time.time() + 20
        while len([l for l in fw.lines if "| CTL " in l]) < n + 3 and time.time() < deadline:
            time.sleep(0.2)
        assert len([l for l in fw.lines if "| CTL " in l]) >= n + 3, "\n".join(fw.lines[-30:])
    finally:
        if fw:
            fw.stop()
        cab.close()


DE_PROBE = """
from firmware.hw.rtu import RtuBus
RtuBus('rs485', {'kind': 'uart', 'uart': 2, 'baud': 9600, 'bits': 8, 'parity': 'none',
                 'stop': 1, 'tx': 17, 'rx': 16, 'de': 4, 'timeout_ms': 300})
print('made')
"""


def test_rs485_driver_enable_starts_off(tmp_path, micropython):
    # umodbus makes the DE pin an output without a level; ours is made low
    # first, so the transceiver never drives the bus while the board boots.
    pins = tmp_path / "pins.log"
    env = dict(os.environ, MICROPYPATH="tools/board_twin:.:lib", PINS_FILE=str(pins))
    r = subprocess.run([micropython, "-c", DE_PROBE], cwd=ROOT, env=env, capture_output=True,
                       text=True, timeout=60)
    assert r.stdout.strip() == "made", r.stdout + r.stderr
    assert pins.read_text().splitlines()[0] == "4 0", pins.read_text()
