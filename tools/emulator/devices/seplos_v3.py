"""Seplos V3 BMS."""
from firmware.decode import P_NAME, S16, S32R, U16, U32R
from emulator.devices.pack import (PACE_PROT_CELL_OV, PACE_PROT_CELL_UV, PACE_PROT_PACK_OV,
                                   PACE_PROT_PACK_UV, PACE_WARN_CELL_OV, PACE_WARN_CELL_UV,
                                   PACE_WARN_PACK_OV, PACE_WARN_PACK_UV, PACE_WARN_SOC_LOW, Pack)
from emulator.model import CELLS
from emulator.registers import ascii_regs, point_table, put, put_point


def kelvin(c):
    """Seplos reports temperatures in 0.1 K."""
    return c + 273.15


class SeplosV3(Pack):
    """Seplos V3 BMS: FC04 0x1000.. pack, 0x1100.. cells, 0x1700.. identity."""

    PROFILE = "seplos_v3"
    FCS = (1, 4)
    MAIN_FC = 4
    ANSWER_DELAY_MS = 20
    PARAMS = dict(Pack.PARAMS, max_discharge_a=("max_dsg_a", float),
                  max_charge_a=("max_chg_a", float))
    POINT_VALUES = {"voltage_v": "voltage_v", "current_a": "current_a", "soc": "soc",
                    "remain_ah": "remaining_ah", "full_ah": "full_ah", "soh": "soh",
                    "cycles": "cycles",
                    "cell_vmax": lambda s: max(s["cells_mv"]) / 1000.0,
                    "cell_vmin": lambda s: min(s["cells_mv"]) / 1000.0,
                    "cell_tmax_c": lambda s: max(s["cell_temps_c"]),
                    "cell_tmin_c": lambda s: min(s["cell_temps_c"]),
                    "max_dis_a": "max_discharge_a", "max_chg_a": "max_charge_a",
                    "events": lambda s: None}       # the coils: event_coils()
    # The stack's summary (EIA 0x2000.., EIB 0x2100..): this pack as a stack
    # of one, as a stack head answers it (firmware/profiles/seplos_v3.py).
    RANGES = {"input": ((0x1000, 0x1011, 0), (0x1100, 0x111A, 0), (0x1300, 0x1369, 0),
                        (0x1700, 0x1723, 0), (0x2000, 0x2019, 0), (0x2100, 0x2115, 0)),
              "coil": ((0x1200, 0x128F, 0), (0x2200, 0x224F, 0))}
    # The pack's flags (PACE's bits, the Pack model's) as Seplos's event
    # tables: TB02 (byte 1) of the voltage, TB06 (byte 6) bit 0 SOC low.
    TB02 = ((PACE_WARN_CELL_OV, "warning", 0), (PACE_PROT_CELL_OV, "protection", 1),
            (PACE_WARN_CELL_UV, "warning", 2), (PACE_PROT_CELL_UV, "protection", 3),
            (PACE_WARN_PACK_OV, "warning", 4), (PACE_PROT_PACK_OV, "protection", 5),
            (PACE_WARN_PACK_UV, "warning", 6), (PACE_PROT_PACK_UV, "protection", 7))

    def __init__(self, emu, cfg):
        super().__init__(emu, cfg)
        self.max_dsg_a = 150.0
        self.max_chg_a = 100.0
        # The board's current unit: 0.01 A, or 0.1 A on the 300 A and 400 A boards.
        self.current_scale = float(cfg.get("current_scale") or 0.01)

    def put_point(self, tables, point, value):
        if point[P_NAME] == "events":
            return
        if point[P_NAME] == "current_a" and self.current_scale != 0.01:
            put(point_table(tables, point), point[2], point[3], value, self.current_scale)
            return
        put_point(tables, point, value)

    def snapshot(self):
        s = super().snapshot()
        s["max_discharge_a"] = 0.0 if s["protection"] & PACE_PROT_PACK_UV else self.max_dsg_a
        s["max_charge_a"] = 0.0 if s["soc"] >= 100.0 else self.max_chg_a
        return s

    def tables(self):
        s, i = self.snapshot(), {}
        put(i, 0x1002, U16, s["remaining_ah"], 0.01)
        put(i, 0x1003, U16, s["full_ah"], 0.01)
        put(i, 0x1004, U16, s["design_ah"], 0.01)      # total discharged (x10 Ah) on real units
        put(i, 0x1006, U16, s["soh"], 0.1)
        put(i, 0x1007, U16, s["cycles"])
        put(i, 0x1008, U16, sum(s["cells_mv"]) / CELLS)      # mV
        put(i, 0x1009, U16, kelvin(sum(s["cell_temps_c"]) / 4), 0.1)
        put(i, 0x100A, U16, max(s["cells_mv"]))
        put(i, 0x100B, U16, min(s["cells_mv"]))
        put(i, 0x100C, U16, kelvin(max(s["cell_temps_c"])), 0.1)
        put(i, 0x100D, U16, kelvin(min(s["cell_temps_c"])), 0.1)
        for n, mv in enumerate(s["cells_mv"]):
            put(i, 0x1100 + n, U16, mv)
        for n, c in enumerate(s["cell_temps_c"]):
            put(i, 0x1110 + n, U16, kelvin(c), 0.1)
        put(i, 0x1118, U16, kelvin(s["env_c"]), 0.1)
        put(i, 0x1119, U16, kelvin(s["mosfet_c"]), 0.1)
        i[0x1300], i[0x1301] = 4, CELLS                      # temperature sensors, cells
        put(i, 0x1359, U16, s["design_ah"], 0.01)
        for n, r in enumerate(ascii_regs("XZH-ElecTech Co.,Ltd", 10)):
            i[0x1700 + n] = r
        for n, r in enumerate(ascii_regs("SP16S020P-EMU", 10)):
            i[0x170A + n] = r
        i[0x1714] = (ord("1") << 8) | ord("6")
        for n, r in enumerate(ascii_regs("SEPLOS%06d" % self.unit, 15)):
            i[0x1715 + n] = r
        self.put_summary(i, s)
        tables = {"input": i, "coil": self.event_coils(s)}
        self.put_points(tables, s)
        return tables

    def put_summary(self, i, s):
        """EIA/EIB: the stack's totals, 32-bit values low word first."""
        put(i, 0x2000, U32R, s["voltage_v"], 0.01)
        put(i, 0x2002, S32R, s["current_a"], 0.1)
        put(i, 0x2004, U32R, s["remaining_ah"], 0.01)
        put(i, 0x2006, U32R, s["full_ah"], 0.01)
        put(i, 0x200A, U32R, s["design_ah"], 0.01)
        put(i, 0x2010, U32R, s["max_discharge_a"], 0.1)
        put(i, 0x2012, U32R, s["max_charge_a"], 0.1)
        i[0x2016] = 1                                        # packs
        put(i, 0x2017, U16, s["cycles"])
        put(i, 0x2018, U16, s["soc"], 0.1)
        put(i, 0x2019, U16, s["soh"], 0.1)
        put(i, 0x2100, U16, max(s["cells_mv"]))
        put(i, 0x2101, U16, min(s["cells_mv"]))
        put(i, 0x2108, S16, max(s["cell_temps_c"]), 0.1)       # 0.1 degC here
        put(i, 0x2109, S16, min(s["cell_temps_c"]), 0.1)

    def event_coils(self, s):
        """The event bits (80 coils) at 0x1240 (the pack's) and 0x2200 (the stack's)."""
        ev = bytearray(10)
        for flag, word, bit in self.TB02:
            if s[word] & flag:
                ev[1] |= 1 << bit
        if s["warning"] & PACE_WARN_SOC_LOW:
            ev[6] |= 1
        coils = {}
        for base in (0x1240, 0x2200):
            for k in range(80):
                coils[base + k] = (ev[k >> 3] >> (k & 7)) & 1
        return coils
