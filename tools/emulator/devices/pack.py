"""A battery pack's share of the model's battery, as a BMS reports it."""
from emulator.devices.device import Device, bits16
from emulator.model import CELLS, hrand


# PACE BMS bit fields (registers 9-11). Bit positions as tabulated for PACE's
# Modbus protocol V1.3; only the ones the model drives are named here.
PACE_WARN_CELL_OV, PACE_WARN_CELL_UV, PACE_WARN_PACK_OV, PACE_WARN_PACK_UV = 1, 2, 4, 8
PACE_WARN_SOC_LOW = 1 << 15
PACE_PROT_CELL_OV, PACE_PROT_CELL_UV, PACE_PROT_PACK_OV, PACE_PROT_PACK_UV = 1, 2, 4, 8
PACE_ST_CHARGING, PACE_ST_DISCHARGING = 1 << 8, 1 << 9
PACE_ST_CHG_MOS_ON, PACE_ST_DSG_MOS_ON = 1 << 10, 1 << 11


def cell_v(index):
    """A cell's volts from a pack snapshot (which has them in mV)."""
    return lambda snap: snap["cells_mv"][index] / 1000.0


class Pack(Device):
    """A battery pack: its share of the model's battery (current, capacity)."""

    PARAMS = dict(Device.PARAMS, soc_offset=("soc_offset", float), soh=("soh", float),
                  cycles=("cycles0", int))

    def __init__(self, emu, cfg):
        super().__init__(emu, cfg)
        self.soc_offset = 0.0
        self.soh = 98.0
        self.cycles0 = 120
        self.flags_or = {"warning": 0, "protection": 0, "status": 0, "balance": 0}
        idx = int(cfg.get("_pack_index", 0))
        self.cell_mv_offset = [round(8.0 * (hrand(emu.model.seed, self.name, "cell", i) - 0.5))
                               for i in range(CELLS)]
        self.temp_offset = 1.5 * (hrand(emu.model.seed, self.name, "temp") - 0.5) + 0.2 * idx

    def share(self):
        """This pack's fraction of the bank (by capacity_ah if configured)."""
        packs = self.emu.packs or [self]
        caps = [float(p.cfg.get("capacity_ah", 0) or 0) for p in packs]
        if all(caps):
            return float(self.cfg["capacity_ah"]) / sum(caps)
        return 1.0 / len(packs)

    def set_param(self, key, value):
        if key in self.flags_or:
            self.flags_or[key] = bits16(value)
        else:
            super().set_param(key, value)

    def snapshot(self):
        m = self.model
        share = self.share()
        cap = m.p["capacity_ah"] * share
        soc = max(0.0, min(100.0, m.soc + self.soc_offset))
        amps = m.batt_a * share
        v = m.batt_v
        cell_avg = v * 1000.0 / CELLS
        cells = [cell_avg + o for o in self.cell_mv_offset]
        temp = m.ambient_c() + 1.0 + self.temp_offset + 0.02 * abs(m.batt_a)
        warn = prot = 0
        if soc < 15.0:
            warn |= PACE_WARN_SOC_LOW
        if soc <= 0.5:
            warn |= PACE_WARN_CELL_UV | PACE_WARN_PACK_UV
            prot |= PACE_PROT_CELL_UV | PACE_PROT_PACK_UV
        if max(cells) > 3550:
            warn |= PACE_WARN_CELL_OV
        status = PACE_ST_CHG_MOS_ON
        if not prot & PACE_PROT_PACK_UV:
            status |= PACE_ST_DSG_MOS_ON
        if amps > 0.05:
            status |= PACE_ST_CHARGING
        elif amps < -0.05:
            status |= PACE_ST_DISCHARGING
        balance = 0
        if soc > 95.0:
            for i, c in enumerate(cells):
                if c > cell_avg + 2:
                    balance |= 1 << i
        full = cap * self.soh / 100.0
        return {"current_a": amps, "voltage_v": v, "soc": soc, "soh": self.soh,
                "remaining_ah": full * soc / 100.0, "full_ah": full, "design_ah": cap,
                "cycles": self.cycles0 + int(m.discharged_ah * share / max(cap, 1.0)),
                "warning": warn | self.flags_or["warning"],
                "protection": prot | self.flags_or["protection"],
                "status": status | self.flags_or["status"],
                "balance": balance | self.flags_or["balance"],
                "cells_mv": cells, "cell_temps_c": [temp + 0.3 * i for i in range(4)],
                "mosfet_c": temp + 3.0 + 0.03 * abs(amps), "env_c": m.ambient_c()}
