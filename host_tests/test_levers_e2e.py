# End to end with the emulator and the firmware in the unix port: each of
# dispatch's levers moves something real (issue 12 A), and a BMS warning
# that forbids charge never starts the diesel (issue 12 B).
#
# PACE BMS Modbus protocol V1.3 (PACE-BMS-Modbus-Protocol-for-RS485-V1.3,
# 2017-06-27, tabulated by syssi/esphome-pace-bms): register 9 warning flags,
# bit 0 cell over-voltage, bit 1 cell under-voltage.
# EPEver's Modbus register address list for the LS-B/VS-B/Tracer-B/Tracer-A/
# iTracer/eTracer series (V2.5), switch values: coil 0x0000 "charging device
# on/off", 1 on, 0 off; written with FC05, read with FC01.
import time

from rigs import Cabinet, Firmware, fw_config

PACE_WARN_CELL_OV = 1 << 0
PACE_WARN_CELL_UV = 1 << 1
COIL_CHARGE = 0x0000


def wait(cond, timeout, what):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if cond():
            return
        time.sleep(0.1)
    raise AssertionError(what)


def coil_writes(cab):
    return [w["values"] for w in cab.emu.writes("mppt1")
            if w["fc"] == 5 and w["address"] == COIL_CHARGE]


def charging(cab):
    return cab.emu.state()["devices"]["mppt1"]


def test_cell_over_voltage_stops_mppt_charging_and_never_starts_the_diesel(tmp_path):
    cab = Cabinet(str(tmp_path), speed=1, start_hour=12.0, seed=1)
    fw = None
    try:
        cab.emu.grid(False)
        cab.emu.set("soc", 99)
        fw = Firmware(str(tmp_path), fw_config(cab, start_delay_s=0))
        assert fw.wait_for("CTL standby", 30), "\n".join(fw.lines[-20:])
        # A start re-asserts the coil from the decision: charging on.
        wait(lambda: coil_writes(cab) == [[1]], 10, "coil on at start: %r" % coil_writes(cab))
        assert cab.emu.state()["pv_w"] > 0
        cab.emu.set("warning", PACE_WARN_CELL_OV, device="bms1")
        wait(lambda: cab.emu.state()["mppt_off"] == 1, 10, "coil off: %r" % coil_writes(cab))
        assert coil_writes(cab) == [[1], [0]]
        assert cab.emu.state()["pv_w"] == 0       # the Tracer's charger off: its panels idle
        time.sleep(3)           # the bug started the diesel within 2 s
        assert not any("-> start_delay" in l or "-> cranking" in l for l in fw.lines), \
            "\n".join(fw.lines[-30:])
        assert cab.emu.state()["gen"]["state"] == "stopped"
        assert coil_writes(cab) == [[1], [0]]       # written on a change only
        # The warning gone, charging comes back.
        cab.emu.set("warning", 0, device="bms1")
        wait(lambda: cab.emu.state()["mppt_off"] == 0, 10, "coil back on")
        # A cell UNDER-voltage warning is a start reason (bms_cell_low).
        cab.emu.set("warning", PACE_WARN_CELL_UV, device="bms1")
        assert fw.wait_for("(bms_cell_low)", 15), "\n".join(fw.lines[-30:])
    finally:
        if fw:
            fw.stop()
        cab.close()


def test_a_refused_coil_write_raises_lever_fault_and_is_retried(tmp_path):
    cab = Cabinet(str(tmp_path), speed=1, start_hour=12.0, seed=1)
    fw = None
    try:
        cab.emu.set("coil_refuse", True, device="mppt1")
        cab.emu.set("warning", PACE_WARN_CELL_OV, device="bms1")
        fw = Firmware(str(tmp_path), fw_config(cab))
        assert fw.wait_for("EVENT alarm lever_fault raise", 30), "\n".join(fw.lines[-20:])
        assert cab.emu.state()["mppt_off"] == 0
        n = len([w for w in cab.emu.writes("mppt1") if w["fc"] == 5])
        cab.emu.set("coil_refuse", False, device="mppt1")
        wait(lambda: cab.emu.state()["mppt_off"] == 1, 15, "retried")
        assert len([w for w in cab.emu.writes("mppt1") if w["fc"] == 5]) == n + 1
        assert fw.wait_for("EVENT alarm lever_fault clear", 10), "\n".join(fw.lines[-20:])
    finally:
        if fw:
            fw.stop()
        cab.close()


def test_a_restart_reasserts_the_coil(tmp_path):
    cab = Cabinet(str(tmp_path), speed=1, start_hour=12.0, seed=1)
    fw = None
    try:
        cab.emu.set("warning", PACE_WARN_CELL_OV, device="bms1")
        fw = Firmware(str(tmp_path), fw_config(cab))
        wait(lambda: cab.emu.state()["mppt_off"] == 1, 30, "coil off")
        fw.kill()
        # The Tracer power-cycled meanwhile: back on by itself.
        cab.emu.set("charge_on", True, device="mppt1")
        fw = Firmware(str(tmp_path), fw_config(cab))
        wait(lambda: cab.emu.state()["mppt_off"] == 1, 30, "coil off again after the restart")
    finally:
        if fw:
            fw.stop()
        cab.close()


class PinBridge:
    """The pin twin's grid-input and charge-enable outputs wired to the
    emulated rectifiers (as test_generator_e2e wires the relay contacts)."""

    def __init__(self, cab, path, wiring):
        from emulator_client import EmulatorClient, PinFollower
        ctl = cab.ready["control"]
        self.ctl = EmulatorClient(ctl["host"], ctl["port"])
        self.path = path
        self.wiring = wiring        # pin -> (model key, active level)
        self.pins = PinFollower(path, self._change)

    def _change(self, pin, level):
        if pin in self.wiring:
            key, active = self.wiring[pin]
            self.ctl.set(key, level == active)

    def log(self):
        return self.pins.log()

    def close(self):
        self.pins.close()
        self.ctl.close()


def test_grid_pin_opens_above_the_reserve_and_closes_at_it(tmp_path):
    cab = Cabinet(str(tmp_path), speed=1, start_hour=22.0, seed=1)   # night: no PV
    br = PinBridge(cab, str(tmp_path / "pins.log"), {25: ("grid_input", 0)})
    fw = None
    try:
        cab.emu.set("soc", 30)
        cfg = fw_config(cab)
        # Active low: closed at level 0, the safe level it boots at.
        cfg["dispatch"] = {"reserve_soc": 40, "grid_pin": 25, "grid_pin_active_high": False}
        fw = Firmware(str(tmp_path), cfg, pins_file=br.path)
        assert fw.wait_for("CTL standby", 30), "\n".join(fw.lines[-20:])
        assert br.log()[:2] == ["25", "0"]
        assert cab.emu.state()["grid_ac_w"] > 1000          # the grid carries
        cab.emu.set("soc", 60)                               # above the reserve: the battery
        wait(lambda: cab.emu.state()["grid_input"] is False, 10, "grid input open")
        assert br.log()[-2:] == ["25", "1"]
        time.sleep(2)
        st = cab.emu.state()
        assert st["grid_ac_w"] == 0 and st["batt_a"] < -20   # the battery carries
        assert cab.emu.state()["grid_ok"] is True           # the meter still sees the grid
        cab.emu.set("soc", 38)                               # at the reserve: the grid again
        wait(lambda: cab.emu.state()["grid_input"] is True, 10, "grid input closed")
        assert cab.emu.state()["grid_ac_w"] > 1000
    finally:
        if fw:
            fw.stop()
        br.close()
        cab.close()


def test_grid_charge_pin_follows_offpeak_charging(tmp_path):
    cab = Cabinet(str(tmp_path), speed=1, start_hour=22.0, seed=1)
    br = PinBridge(cab, str(tmp_path / "pins.log"), {26: ("grid_charge", 1)})
    fw = None
    try:
        cab.emu.set("soc", 60)
        cfg = fw_config(cab)
        t = time.gmtime()
        now = t.tm_hour * 60 + t.tm_min
        frm = (now - 60) % 1440
        to = (now + 60) % 1440
        cfg["dispatch"] = {"grid_charge_soc": 80, "grid_charge_pin": 26, "tou": [
            {"from": "%02d:%02d" % divmod(frm, 60), "to": "%02d:%02d" % divmod(to, 60),
             "kind": "offpeak"}]}
        fw = Firmware(str(tmp_path), cfg, pins_file=br.path)
        assert fw.wait_for("CTL standby", 30), "\n".join(fw.lines[-20:])
        assert br.log()[:2] == ["26", "1"]                   # boots charging
        time.sleep(2)
        assert cab.emu.state()["batt_a"] > 20                # off-peak: the grid charges
        cab.emu.set("soc", 85)                               # above grid_charge_soc
        wait(lambda: cab.emu.state()["grid_charge"] is False, 10, "charge inhibited")
        time.sleep(2)
        st = cab.emu.state()
        assert st["grid_ac_w"] > 1000 and abs(st["batt_a"]) < 2   # the grid carries the load only
        cab.emu.set("soc", 70)                               # below the hysteresis: charging again
        wait(lambda: cab.emu.state()["grid_charge"] is True, 10, "charging again")
    finally:
        if fw:
            fw.stop()
        br.close()
        cab.close()
