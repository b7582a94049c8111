"""Seplos V3 BMS."""
from emulator.devices.pack import PACE_PROT_PACK_UV, Pack
from emulator.model import CELLS
from emulator.registers import ascii_regs, s16, u16


class SeplosV3(Pack):
    """Seplos V3 BMS: FC04 0x1000.. pack, 0x1100.. cells, 0x1700.. identity."""

    PROFILE = "seplos_v3"
    FCS = (4,)
    MAIN_FC = 4
    ANSWER_DELAY_MS = 20
    PARAMS = dict(Pack.PARAMS, max_discharge_a=("max_dsg_a", float),
                  max_charge_a=("max_chg_a", float))
    RANGES = {"input": ((0x1000, 0x1011, 0), (0x1100, 0x111A, 0), (0x1300, 0x1369, 0),
                        (0x1700, 0x1723, 0))}

    def __init__(self, emu, cfg):
        super().__init__(emu, cfg)
        self.max_dsg_a = 150.0
        self.max_chg_a = 100.0

    def snapshot(self):
        s = super().snapshot()
        s["max_discharge_a"] = 0.0 if s["protection"] & PACE_PROT_PACK_UV else self.max_dsg_a
        s["max_charge_a"] = 0.0 if s["soc"] >= 100.0 else self.max_chg_a
        return s

    def tables(self):
        s, i = self.snapshot(), {}
        k = lambda c: u16(c * 10 + 2731)  # noqa: E731  0.1 K
        i[0x1000] = u16(s["voltage_v"] * 100)
        i[0x1001] = s16(s["current_a"] * 100)
        i[0x1002] = u16(s["remaining_ah"] * 100)
        i[0x1003] = u16(s["full_ah"] * 100)
        i[0x1004] = u16(s["design_ah"] * 100)
        i[0x1005] = u16(s["soc"] * 10)
        i[0x1006] = u16(s["soh"] * 10)
        i[0x1007] = u16(s["cycles"])
        i[0x1008] = u16(sum(s["cells_mv"]) / CELLS)
        i[0x1009] = k(sum(s["cell_temps_c"]) / 4)
        i[0x100A], i[0x100B] = u16(max(s["cells_mv"])), u16(min(s["cells_mv"]))
        i[0x100C], i[0x100D] = k(max(s["cell_temps_c"])), k(min(s["cell_temps_c"]))
        i[0x100F] = u16(s["max_discharge_a"])
        i[0x1010] = u16(s["max_charge_a"])
        for n, mv in enumerate(s["cells_mv"]):
            i[0x1100 + n] = u16(mv)
        for n, c in enumerate(s["cell_temps_c"]):
            i[0x1110 + n] = k(c)
        i[0x1118], i[0x1119] = k(s["env_c"]), k(s["mosfet_c"])
        i[0x1300], i[0x1301] = 4, CELLS
        i[0x1359] = u16(s["design_ah"] * 100)
        for n, r in enumerate(ascii_regs("XZH-ElecTech Co.,Ltd", 10)):
            i[0x1700 + n] = r
        for n, r in enumerate(ascii_regs("SP16S020P-EMU", 10)):
            i[0x170A + n] = r
        i[0x1714] = (ord("1") << 8) | ord("6")
        for n, r in enumerate(ascii_regs("SEPLOS%06d" % self.unit, 15)):
            i[0x1715 + n] = r
        return {"input": i}
