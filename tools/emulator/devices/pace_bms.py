"""PACE BMS, Modbus protocol V1.3."""
from pymodbus.constants import ExcCodes

from emulator.devices.device import item
from emulator.devices.pack import Pack, cell_v
from emulator.model import CELLS
from emulator.registers import ascii_regs


class PaceBMS(Pack):
    """PACE BMS (Modbus V1.3): FC03 holding 0..36, settings 60..114, strings 150..179."""

    PROFILE = "pace_bms"
    FCS = (3, 6, 16)
    ANSWER_DELAY_MS = 25
    POINT_VALUES = dict(
        current_a="current_a", voltage_v="voltage_v", soc="soc", soh="soh",
        remain_ah="remaining_ah", full_ah="full_ah", design_ah="design_ah", cycles="cycles",
        warning="warning", protection="protection", status="status", balance="balance",
        mos_temp_c="mosfet_c", env_temp_c="env_c",
        **{"cell%02d_v" % (i + 1): cell_v(i) for i in range(CELLS)},
        **{"temp%d_c" % (i + 1): item("cell_temps_c", i) for i in range(4)})
    RANGES = {"holding": ((0, 36, 0), (60, 114, 0), (150, 179, 0))}
    SETTINGS = {60: 57600, 61: 58400, 62: 54400, 63: 10, 64: 3600, 65: 3650, 66: 3400,
                67: 10, 68: 46400, 69: 44800, 70: 48000, 71: 10, 72: 2900, 73: 2800,
                74: 3000, 75: 10, 76: 105, 77: 110, 78: 10, 79: 105, 80: 110, 81: 10,
                82: 150, 83: 10, 84: 550, 85: 600, 86: 500, 87: 600, 88: 650, 89: 550,
                90: 20, 91: 0, 92: 50, 93: (-150) & 0xFFFF, 94: (-200) & 0xFFFF,
                95: (-100) & 0xFFFF, 105: 3400, 106: 30, 107: 56800, 108: 2000,
                109: 2900, 110: 60, 111: 4, 112: 10, 113: 150, 114: 10}

    def __init__(self, emu, cfg):
        super().__init__(emu, cfg)
        self.stored = dict(self.SETTINGS)
        for i, r in enumerate(ascii_regs("P16S100A-1.03", 10)):
            self.stored[150 + i] = r
        for i, r in enumerate(ascii_regs("PACE-EMU", 10)):
            self.stored[160 + i] = r
        for i, r in enumerate(ascii_regs("PK%08d" % (1000 + self.unit), 10)):
            self.stored[170 + i] = r

    def tables(self):
        tables = {"holding": dict(self.stored)}
        self.put_points(tables, self.snapshot())
        return tables

    def write(self, fc, addr, values):
        if not all(60 <= a <= 114 or 160 <= a <= 179 for a in range(addr, addr + len(values))):
            return ExcCodes.ILLEGAL_ADDRESS, "read-only"
        return self.store(addr, values)
