# End to end with the emulator and the firmware in the unix port: each of
# dispatch's levers moves something real (issue 12 A), and a BMS warning
# that forbids charge never starts the diesel (issue 12 B).
#
# PACE BMS Modbus protocol V1.3 (PACE-BMS-Modbus-Protocol-for-RS485-V1.3,
# 2017-06-27, tabulated by syssi/esphome-pace-bms): register 9 warning flags,
# bit 0 cell over-voltage, bit 1 cell under-voltage.
import time

from rigs import Cabinet, Firmware, fw_config

PACE_WARN_CELL_OV = 1 << 0
PACE_WARN_CELL_UV = 1 << 1


def test_cell_over_voltage_warning_never_starts_the_diesel(tmp_path):
    cab = Cabinet(str(tmp_path), speed=1, start_hour=12.0, seed=1)
    fw = None
    try:
        cab.emu.grid(False)
        cab.emu.set("soc", 99)
        fw = Firmware(str(tmp_path), fw_config(cab, start_delay_s=0))
        assert fw.wait_for("CTL standby", 30), "\n".join(fw.lines[-20:])
        cab.emu.set("warning", PACE_WARN_CELL_OV, device="bms1")
        time.sleep(5)           # the bug started it within 2 s
        assert not any("-> start_delay" in l or "-> cranking" in l for l in fw.lines), \
            "\n".join(fw.lines[-30:])
        assert cab.emu.state()["gen"]["state"] == "stopped"
        # A cell UNDER-voltage warning is a reason (bms_cell_low).
        cab.emu.set("warning", PACE_WARN_CELL_UV, device="bms1")
        assert fw.wait_for("(bms_cell_low)", 15), "\n".join(fw.lines[-30:])
    finally:
        if fw:
            fw.stop()
        cab.close()
