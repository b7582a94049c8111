"""EPEver Tracer AN/BN MPPT charger."""
from pymodbus.constants import ExcCodes

from firmware.decode import S16, U16, U32R
from emulator.devices.device import Device, bits16
from emulator.registers import put


class EpeverTracer(Device):
    """EPEver Tracer AN/BN MPPT charger: FC04 real-time, FC03/FC16 settings."""

    PROFILE = "epever_tracer"
    FCS = (1, 3, 4, 5, 6, 16)
    MAIN_FC = 4
    ANSWER_DELAY_MS = 15
    PARAMS = dict(Device.PARAMS, load_on=("load_on", bool),
                  coil_refuse=("coil_refuse", bool),   # coil 0 writes answer exception 4
                  charger_fault=("fault_bits", bits16),  # bits OR'd into 0x3201
                  # > 0: an FC04 read of more registers than this from the
                  # 0x31xx block answers exception 2, as the LS-B series is
                  # reported to for 20 or more (issue 13): long_read_max 19
                  long_read_max=("long_read_max", int))
    POINT_VALUES = {
        "pv_v": "pv_v", "pv_a": "pv_a", "pv_w": "pv_w", "batt_v": "batt_v",
        "charge_a": "charge_a", "charge_w": "charge_w",
        "load_v": "load_v", "load_a": "load_a", "load_w": "load_w",
        "batt_temp_c": "batt_temp_c", "dev_temp_c": "device_temp_c", "soc": "soc",
        "batt_status": "batt_status", "charge_status": "charge_status",
        "discharge_status": "discharge_status", "energy_today_kwh": "energy_today_kwh",
        "remote_temp_c": "batt_temp_c", "rated_v": "rated_v",
        "used_today_kwh": "used_today_kwh", "used_total_kwh": "used_total_kwh",
        "energy_total_kwh": "energy_total_kwh", "batt_net_a": "net_batt_a",
    }
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
        self.charge_on = True    # coil 0: charging device on/off
        self.coil_refuse = False
        self.fault_bits = 0  # OR'd into 0x3201 (set via "charger_fault")
        self.long_read_max = int(cfg.get("long_read_max", 0))
        self.used_kwh = 0.0  # the load terminal's consumed energy (0x3304.., 0x330A..)
        self.used_day = 0
        self.used_today = 0.0
        self._used_t = None

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
        t = m.t
        if self._used_t is not None and t > self._used_t:
            e = load_w * (t - self._used_t) / 3.6e6
            self.used_kwh += e
            if int(t // 86400) != self.used_day:
                self.used_day, self.used_today = int(t // 86400), 0.0
            self.used_today += e
        self._used_t = t
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
                "net_batt_a": charge_a - load_a, "rated_v": 48.0,
                "used_today_kwh": self.used_today, "used_total_kwh": self.used_kwh}

    def set_param(self, key, value):
        if key != "charge_on":  # coil 0, also scripted: a unit power-cycled back on
            return super().set_param(key, value)
        self.charge_on = bool(value)
        m = self.model
        m.mppt_off = sum(1 for d in self.emu.devices.values()
                         if isinstance(d, EpeverTracer) and not d.charge_on)
        m._step(0.0)

    def tables(self):
        s, inp = self.snapshot(), {}
        put(inp, 0x3000, U16, 150, 0.01)                       # rated PV volts
        put(inp, 0x3001, U16, 60, 0.01)                        # rated charging amps
        put(inp, 0x3002, U32R, 3120, 0.01)                     # rated input W
        put(inp, 0x3004, U16, 48, 0.01)                        # rated output volts, amps
        put(inp, 0x3005, U16, 60, 0.01)
        put(inp, 0x3006, U32R, 3120, 0.01)
        inp[0x3008] = 2                                        # MPPT
        inp[0x300E] = 2000
        put(inp, 0x3112, S16, s["device_temp_c"] + 2.0, 0.01)  # components
        put(inp, 0x3300, U16, max(s["pv_v"], 118.0), 0.01)     # today's maxima, minima
        put(inp, 0x3302, U16, max(s["batt_v"], 54.0), 0.01)
        put(inp, 0x3303, U16, min(s["batt_v"], 51.0), 0.01)
        put(inp, 0x331D, S16, s["batt_temp_c"], 0.01)
        put(inp, 0x331E, S16, self.model.ambient_c(), 0.01)
        tables = {"input": inp}
        self.put_points(tables, s)
        hold = dict(self.stored)
        # Real-time clock from the model clock: sec|min<<8, hour|day<<8, month|year<<8.
        t = self.model.t
        day = int(t // 86400)
        hold[0x9013] = int(t % 60) | (int(t // 60 % 60) << 8)
        hold[0x9014] = int(t // 3600 % 24) | ((1 + day % 28) << 8)
        hold[0x9015] = (1 + day // 28 % 12) | (25 << 8)
        coil = {0x0000: 1 if self.charge_on else 0, 0x0001: 0, 0x0002: 1 if self.load_on else 0, 0x0003: 1}
        tables.update(holding=hold, coil=coil)
        return tables

    def read(self, fc, addr, count):
        if (fc == 4 and self.long_read_max and 0x3100 <= addr <= 0x31FF
                and count > self.long_read_max):
            return ExcCodes.ILLEGAL_ADDRESS
        return super().read(fc, addr, count)

    def write(self, fc, addr, values):
        if fc in (5, 15):
            if addr == 0x0000 and len(values) == 1:
                if self.coil_refuse:
                    return ExcCodes.DEVICE_FAILURE, "charging coil refused"
                self.set_param("charge_on", values[0])
                return None, "charging %s" % ("on" if self.charge_on else "off")
            if addr == 0x0002 and len(values) == 1:
                self.load_on = bool(values[0])
                return None, "load %s" % ("on" if self.load_on else "off")
            return ExcCodes.ILLEGAL_ADDRESS, "coil not writable"
        if not all(0x9000 <= a <= 0x901F for a in range(addr, addr + len(values))):
            return ExcCodes.ILLEGAL_ADDRESS, "not a setting"
        return self.store(addr, values)
