"""EPEver Tracer AN/BN MPPT charger."""
from pymodbus.constants import ExcCodes

from emulator.devices.device import Device, bits16
from emulator.registers import put_lo_first, s16, s32_words, u16, u32_words


class EpeverTracer(Device):
    """EPEver Tracer AN/BN MPPT charger: FC04 real-time, FC03/FC16 settings."""

    PROFILE = "epever_tracer"
    FCS = (1, 3, 4, 5, 6, 16)
    MAIN_FC = 4
    ANSWER_DELAY_MS = 15
    PARAMS = dict(Device.PARAMS, load_on=("load_on", bool),
                  charger_fault=("fault_bits", bits16))  # bits OR'd into 0x3201
    RANGES = {
        "input": ((0x3000, 0x3010, 0), (0x3100, 0x311D, 0), (0x3200, 0x3202, 0),
                  (0x3300, 0x331E, 0)),
        "holding": ((0x9000, 0x901F, 0),),
        "coil": ((0x0000, 0x0006, 0),),
    }
    SETTINGS = {  # 0x9000.. for a 16S LiFePO4 bank, x0.01 V
        0x9000: 0, 0x9001: 300, 0x9002: 0, 0x9003: 5840, 0x9004: 5760,
        0x9005: 5600, 0x9006: 5680, 0x9007: 5680, 0x9008: 5440, 0x9009: 5280,
        0x900A: 5000, 0x900B: 5040, 0x900C: 4880, 0x900D: 4640, 0x900E: 4480,
        0x9016: 30, 0x9017: 6500, 0x9018: (-4000) & 0xFFFF,
    }

    def __init__(self, emu, cfg):
        super().__init__(emu, cfg)
        self.stored = dict(self.SETTINGS)
        self.load_on = True
        self.fault_bits = 0  # OR'd into 0x3201 (set via "charger_fault")

    def snapshot(self):
        m = self.model
        n = max(1, m.n_mppt)
        avail, pv_w = m.pv_avail_w / n, m.pv_w / n
        out_w = m.mppt_out_w / n
        sun = m.sun()
        if avail > 1.0:
            curtail = 1.0 - (pv_w / avail if avail else 0.0)
            pv_v = 96.0 + 6.0 * sun + 20.0 * curtail
        elif sun > 0:
            pv_v = 60.0 * sun + 5.0
        else:
            pv_v = 0.0
        pv_a = pv_w / pv_v if pv_v > 0 else 0.0
        bv = m.batt_v
        charge_a = out_w / bv
        load_w = m.p["aux_dc_w"] if self.load_on else 0.0
        load_a = load_w / bv
        if m.soc <= 0.5:
            volt_state = 3
        elif bv > 58.0:
            volt_state = 1
        elif m.soc < 10.0:
            volt_state = 2
        else:
            volt_state = 0
        if out_w <= 0.5:
            chg = 0
        elif m.soc >= 98.0 or pv_w < avail - 5.0:
            chg = 1  # float: the battery takes less than the panels give
        else:
            chg = 2  # boost
        status = (1 if out_w > 0.5 else 0) | (chg << 2) | self.fault_bits
        if pv_v < 1.0:
            status |= 1 << 14  # input volt status 01: no power connected
        return {"pv_v": pv_v, "pv_a": pv_a, "pv_w": pv_w, "batt_v": bv,
                "charge_a": charge_a, "charge_w": out_w, "load_v": bv if self.load_on else 0.0,
                "load_a": load_a, "load_w": load_w,
                "batt_temp_c": m.ambient_c() + 1.0 + abs(m.batt_a) * 0.02,
                "device_temp_c": m.ambient_c() + 3.0 + out_w / 150.0,
                "soc": round(m.soc), "batt_status": volt_state, "charge_status": status,
                "discharge_status": 1 if self.load_on else 0,
                "energy_today_kwh": m.pv_today_kwh / n * m.p["mppt_eff"],
                "energy_total_kwh": m.pv_total_kwh / n * m.p["mppt_eff"],
                "net_batt_a": charge_a - load_a}

    def tables(self):
        s, inp = self.snapshot(), {}
        inp[0x3000], inp[0x3001] = 15000, 6000                # rated 150 V, 60 A
        put_lo_first(inp, 0x3002, u32_words(3120 * 100))      # rated input W
        inp[0x3004], inp[0x3005] = 4800, 6000
        put_lo_first(inp, 0x3006, u32_words(3120 * 100))
        inp[0x3008] = 2                                        # MPPT
        inp[0x300E] = 2000
        inp[0x3100] = u16(s["pv_v"] * 100)
        inp[0x3101] = u16(s["pv_a"] * 100)
        put_lo_first(inp, 0x3102, u32_words(s["pv_w"] * 100))
        inp[0x3104] = u16(s["batt_v"] * 100)
        inp[0x3105] = u16(s["charge_a"] * 100)
        put_lo_first(inp, 0x3106, u32_words(s["charge_w"] * 100))
        inp[0x310C] = u16(s["load_v"] * 100)
        inp[0x310D] = u16(s["load_a"] * 100)
        put_lo_first(inp, 0x310E, u32_words(s["load_w"] * 100))
        inp[0x3110] = s16(s["batt_temp_c"] * 100)
        inp[0x3111] = s16(s["device_temp_c"] * 100)
        inp[0x3112] = s16(s["device_temp_c"] * 100 + 200)
        inp[0x311A] = u16(s["soc"])
        inp[0x311B] = s16(s["batt_temp_c"] * 100)
        inp[0x311D] = 4800                                      # 48 V system
        inp[0x3200] = s["batt_status"]
        inp[0x3201] = s["charge_status"]
        inp[0x3202] = s["discharge_status"]
        inp[0x3300] = u16(max(s["pv_v"], 118.0) * 100)
        inp[0x3302] = u16(max(s["batt_v"], 54.0) * 100)
        inp[0x3303] = u16(min(s["batt_v"], 51.0) * 100)
        put_lo_first(inp, 0x330C, u32_words(s["energy_today_kwh"] * 100))
        put_lo_first(inp, 0x3312, u32_words(s["energy_total_kwh"] * 100))
        put_lo_first(inp, 0x331B, s32_words(s["net_batt_a"] * 100))
        inp[0x331D] = s16(s["batt_temp_c"] * 100)
        inp[0x331E] = s16(self.model.ambient_c() * 100)
        hold = dict(self.stored)
        # Real-time clock from the model clock: sec|min<<8, hour|day<<8, month|year<<8.
        t = self.model.t
        day = int(t // 86400)
        hold[0x9013] = int(t % 60) | (int(t // 60 % 60) << 8)
        hold[0x9014] = int(t // 3600 % 24) | ((1 + day % 28) << 8)
        hold[0x9015] = (1 + day // 28 % 12) | (25 << 8)
        coil = {0x0000: 1, 0x0001: 0, 0x0002: 1 if self.load_on else 0, 0x0003: 1}
        return {"input": inp, "holding": hold, "coil": coil}

    def write(self, fc, addr, values):
        if fc in (5, 15):
            if addr == 0x0002 and len(values) == 1:
                self.load_on = bool(values[0])
                return None, "load %s" % ("on" if self.load_on else "off")
            return ExcCodes.ILLEGAL_ADDRESS, "coil not writable"
        if not all(0x9000 <= a <= 0x901F for a in range(addr, addr + len(values))):
            return ExcCodes.ILLEGAL_ADDRESS, "not a setting"
        return self.store(addr, values)
