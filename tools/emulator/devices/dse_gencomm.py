"""Deep Sea Electronics genset controller over GenComm."""
from pymodbus.constants import ExcCodes

from emulator.devices.device import Device
from emulator.genset import DSE_STATE_CODE, ENGINE_TURNING, Genset
from emulator.registers import put_hi_first, s16, s32_words, u16, u32_words


# DSE sentinel codes: offset down from the type's maximum.
DSE_SENTINEL = {"unimplemented": 0, "over_range": 1, "under_range": 2,
                "transducer_fault": 3, "bad_data": 4, "high_digital": 5,
                "low_digital": 6, "reserved": 7}
DSE_KEY_BASE = 35700
DSE_FIELDS = ("fuel", "battery_v", "rpm", "hz", "voltage", "current", "power",
              "engine_state", "run_time", "starts", "kwh", "oil_pressure", "coolant",
              "total_power", "load_pct")


class DseGencomm(Device):
    """DSE genset controller over GenComm: FC03 reads, FC16 writes (keys at 4104)."""

    PROFILE = "dse_gencomm"
    FCS = (3, 16)
    ANSWER_DELAY_MS = 12
    # Pages read as 0xFFFF ("unimplemented") where this model has no value.
    RANGES = {"holding": ((768, 1023, 0xFFFF), (1024, 1279, 0xFFFF), (1280, 1535, 0xFFFF),
                          (1536, 1791, 0xFFFF), (1792, 2047, 0xFFFF), (4096, 4351, 0xFFFF),
                          (39424, 39679, 0xFFFF))}
    # Page 154 "named alarms", 4 bits each, 4 a register, first alarm in the
    # top nibble. Position of fail-to-start here (register 39428, second
    # nibble) follows GenComm's list for the 72xx/73xx family; not verified.
    ALARM_BASE, ALARM_REGS = 39425, 20
    ALARM_POS = {"fail_to_start": (39428, 1), "out_of_fuel": (39430, 2)}

    def __init__(self, emu, cfg):
        super().__init__(emu, cfg)
        self.sentinels = {}  # field -> sentinel code name

    def set_param(self, key, value):
        if key == "missing":  # list of fields that read "unimplemented"
            names = value or []
            self._check_fields(names)
            self.sentinels = {f: "unimplemented" for f in names}
        elif key == "sentinels":  # {field: code name}, {} clears
            value = value or {}
            self._check_fields(value)
            for code in value.values():
                if code not in DSE_SENTINEL:
                    raise KeyError("unknown sentinel %r (one of %s)" % (code, sorted(DSE_SENTINEL)))
            self.sentinels = dict(value)
        elif key == "mode":  # the genset's, as its front panel sets it
            self.model.gen.mode = int(value)
        else:
            super().set_param(key, value)

    @staticmethod
    def _check_fields(names):
        for n in names:
            if n not in DSE_FIELDS:
                raise KeyError("unknown DSE field %r (one of %s)" % (n, DSE_FIELDS))

    def _u16(self, field, x):
        if field in self.sentinels:
            return 0xFFFF - DSE_SENTINEL[self.sentinels[field]]
        return u16(x)

    def _s16(self, field, x):
        if field in self.sentinels:
            return 0x7FFF - DSE_SENTINEL[self.sentinels[field]]
        return s16(x)

    def _u32(self, field, x):
        if field in self.sentinels:
            return u32_words(0xFFFFFFFF - DSE_SENTINEL[self.sentinels[field]])
        return u32_words(x)

    def _s32(self, field, x):
        if field in self.sentinels:
            return u32_words(0x7FFFFFFF - DSE_SENTINEL[self.sentinels[field]])
        return s32_words(x)

    def key_flags(self):
        regs = [0] * 8
        for k in Genset.IMPLEMENTED_KEYS:
            n = k - DSE_KEY_BASE
            regs[n // 16] |= 1 << (15 - n % 16)
        return regs

    def snapshot(self):
        g, m = self.model.gen, self.model
        o = g.outputs()
        return {"mode": g.mode, "engine_state": DSE_STATE_CODE[g.state], "state": g.state,
                "fuel_pct": 100.0 * m.fuel_l / m.p["tank_l"], "battery_v": o["batt_v"],
                "alternator_v": o["batt_v"] if g.state in ENGINE_TURNING else 0.0,
                "rpm": o["rpm"], "hz": o["hz"], "v_l1": o["v"], "a_l1": o["a"],
                "w_l1": o["w"] / 3.0, "w_total": o["w"], "load_pct": o["load_pct"],
                "run_s": g.run_s, "starts": g.starts, "kwh": g.kwh,
                "oil_kpa": o["oil_kpa"], "coolant_c": o["coolant_c"],
                "alarms": sorted(g.alarms), "sentinels": dict(self.sentinels)}

    def tables(self):
        s, h = self.snapshot(), {}
        h[768], h[769] = 1, 32840                     # manufacturer 1, model 7310 MKII
        put_hi_first(h, 770, u32_words(12340000 + self.unit))
        h[772] = s["mode"]
        h[1024] = self._u16("oil_pressure", s["oil_kpa"])
        h[1025] = self._s16("coolant", s["coolant_c"])
        h[1026] = self._s16("coolant", s["coolant_c"] - 5)
        h[1027] = self._u16("fuel", s["fuel_pct"])
        h[1028] = self._u16("battery_v", s["alternator_v"] * 10)  # charge alternator
        h[1029] = self._u16("battery_v", s["battery_v"] * 10)     # engine battery
        h[1030] = self._u16("rpm", s["rpm"])
        h[1031] = self._u16("hz", s["hz"] * 10)
        for ph in range(3):
            put_hi_first(h, 1032 + 2 * ph, self._u32("voltage", s["v_l1"] * 10))
            put_hi_first(h, 1044 + 2 * ph, self._u32("current", s["a_l1"] * 10))
            put_hi_first(h, 1052 + 2 * ph, self._s32("power", s["w_l1"]))
        h[1408] = 15 if "engine_state" in self.sentinels else s["engine_state"]
        put_hi_first(h, 1536, self._s32("total_power", s["w_total"]))
        h[1558] = self._s16("load_pct", s["load_pct"] * 10)
        put_hi_first(h, 1798, self._u32("run_time", s["run_s"]))
        put_hi_first(h, 1800, self._u32("kwh", s["kwh"] * 10))
        put_hi_first(h, 1808, self._u32("starts", s["starts"]))
        for i, v in enumerate(self.key_flags()):
            h[4096 + i] = v
        h[4104], h[4105] = 0, 0
        alarms = [0x1111] * self.ALARM_REGS  # every named alarm "not active"
        for name in s["alarms"]:
            reg, nib = self.ALARM_POS[name]
            idx = reg - self.ALARM_BASE
            shift = 12 - 4 * nib
            alarms[idx] = (alarms[idx] & ~(0xF << shift)) | (3 << shift)  # 3 = shutdown
        for i, v in enumerate(alarms):
            h[self.ALARM_BASE + i] = v
        return {"holding": h}

    def write_notes(self, address, values):
        return {"key": int(values[0])} if address == 4104 and values else {}

    def write(self, fc, addr, values):
        if not all(a in (4104, 4105) for a in range(addr, addr + len(values))):
            return ExcCodes.ILLEGAL_ADDRESS, "not writable"
        if addr != 4104 or len(values) != 2:
            return None, "ignored: a key needs 4104 and 4105 in one write"
        key, comp = values
        if comp != 65535 - key:
            return None, "ignored: complement mismatch"
        n = key - DSE_KEY_BASE
        if not 0 <= n < 128 or not self.key_flags()[n // 16] & (1 << (15 - n % 16)):
            return None, "ignored: key %d not available" % key
        return None, self.model.gen.key(key)
