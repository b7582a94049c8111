"""Deep Sea Electronics genset controller over GenComm."""
from pymodbus.constants import ExcCodes

from firmware.decode import BLOCK, P_ADDR, P_NAME, P_SCALE, P_TYPE, S16, S32, U16, U32
from emulator.devices.device import Device, item
from emulator.genset import DSE_STATE_CODE, ENGINE_TURNING, Genset
from emulator.registers import point_table, put, put_raw, sentinel


# DSE sentinel codes: offset down from the type's maximum.
DSE_SENTINEL = {"unimplemented": 0, "over_range": 1, "under_range": 2,
                "transducer_fault": 3, "bad_data": 4, "high_digital": 5,
                "low_digital": 6, "reserved": 7}
DSE_KEY_BASE = 35700
KEY_FLAGS_REG = 4096    # 8 registers: which keys the module takes, a bit a key
KEY_REG = 4104          # a key, and at 4105 its complement, in one FC16 write
ENGINE_STATE_UNKNOWN = 15   # what register 1408 reads when the module has no state
ALARM_WORDS = 20        # page 154: 4 named alarms a register (7310 MKII)
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
    # top nibble: (word, nibble) from the first alarm register (39425). The
    # places follow GenComm's list for the 72xx/73xx MkII family (Victron's
    # gui-v2 genset error strings 0x1200.., dbus-modbus-client dse.py):
    # 0 emergency stop, 1 low oil pressure, 2 high coolant temperature,
    # 4 under speed, 5 over speed, 12 charge alternator failure, 13 fail to
    # start, 22 low fuel level.
    ALARM_INDEX = {"emergency_stop": 0, "low_oil_pressure": 1, "high_coolant_temp": 2,
                   "under_speed": 4, "over_speed": 5, "charge_alt_fail": 12,
                   "fail_to_start": 13, "out_of_fuel": 22}
    ALARM_POS = {k: (i // 4, i % 4) for k, i in ALARM_INDEX.items()}
    # The profile reads the whole block (alarms) and names its first five
    # words (alarms0..alarms4).
    POINT_VALUES = dict(
        model="model", mode="mode", oil_kpa="oil_kpa", coolant_c="coolant_c",
        oil_c=lambda s: s["coolant_c"] - 5, fuel_pct="fuel_pct", batt_v="battery_v", rpm="rpm",
        hz="hz", v_l1="v_l1", v_l2="v_l1", v_l3="v_l1", a_l1="a_l1", a_l2="a_l1", a_l3="a_l1",
        w_l1="w_l1", w_l2="w_l1", w_l3="w_l1", engine_state="engine_state", power_w="w_total",
        load_pct="load_pct", run_s="run_s", kwh="kwh", starts="starts", alarms="alarm_words",
        **{"alarms%d" % i: item("alarm_words", i) for i in range(5)})
    # The control channel's sentinel field of each point that has one.
    SENTINEL_FIELDS = {"fuel_pct": "fuel", "batt_v": "battery_v", "rpm": "rpm", "hz": "hz",
                       "v_l1": "voltage", "v_l2": "voltage", "v_l3": "voltage",
                       "a_l1": "current", "a_l2": "current", "a_l3": "current",
                       "w_l1": "power", "w_l2": "power", "w_l3": "power",
                       "oil_kpa": "oil_pressure", "coolant_c": "coolant", "oil_c": "coolant",
                       "load_pct": "load_pct", "kwh": "kwh",
                       "engine_state": "engine_state",
                       "power_w": "total_power", "run_s": "run_time", "starts": "starts"}

    def __init__(self, emu, cfg):
        super().__init__(emu, cfg)
        self.sentinels = {}  # field -> sentinel code name
        self.alarm_codes = {}  # named alarm index (0-based) -> 4-bit code, over the model's

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
        elif key == "alarm_codes":  # {index: code}: GenComm's 4-bit codes, {} clears
            codes = {int(k): int(v) for k, v in (value or {}).items()}
            for k, v in codes.items():
                if not (0 <= k < 4 * ALARM_WORDS and 0 <= v <= 15):
                    raise KeyError("alarm %r code %r: index 0..%d, code 0..15"
                                   % (k, v, 4 * ALARM_WORDS - 1))
            self.alarm_codes = codes
        elif key == "mode":  # the genset's, as its front panel sets it
            self.model.gen.mode = int(value)
        else:
            super().set_param(key, value)

    @staticmethod
    def _check_fields(names):
        for n in names:
            if n not in DSE_FIELDS:
                raise KeyError("unknown DSE field %r (one of %s)" % (n, DSE_FIELDS))

    def _put(self, table, addr, vtype, field, value, scale=1):
        """A value, or the no-data code its sentinel field is set to."""
        if field in self.sentinels:
            put_raw(table, addr, vtype, sentinel(vtype, DSE_SENTINEL[self.sentinels[field]]))
        else:
            put(table, addr, vtype, value, scale)

    def put_point(self, tables, point, value):
        name = point[P_NAME]
        if point[P_TYPE] & BLOCK:
            table = point_table(tables, point)
            for i, w in enumerate(value):
                table[point[P_ADDR] + i] = w
            return
        field = self.SENTINEL_FIELDS.get(name)
        if name == "engine_state" and field in self.sentinels:
            value = ENGINE_STATE_UNKNOWN
            field = None
        self._put(point_table(tables, point), point[P_ADDR], point[P_TYPE], field, value,
                  point[P_SCALE])

    def key_flags(self):
        regs = [0] * 8
        for k in Genset.IMPLEMENTED_KEYS:
            n = k - DSE_KEY_BASE
            regs[n // 16] |= 1 << (15 - n % 16)
        return regs

    def snapshot(self):
        g, m = self.model.gen, self.model
        o = g.outputs()
        return {"model": 32840, "mode": g.mode, "engine_state": DSE_STATE_CODE[g.state], "state": g.state,
                "fuel_pct": 100.0 * m.fuel_l / m.p["tank_l"], "battery_v": o["batt_v"],
                "alternator_v": o["batt_v"] if g.state in ENGINE_TURNING else 0.0,
                "rpm": o["rpm"], "hz": o["hz"], "v_l1": o["v"], "a_l1": o["a"],
                "w_l1": o["w"] / 3.0, "w_total": o["w"], "load_pct": o["load_pct"],
                "run_s": g.run_s, "starts": g.starts, "kwh": g.kwh,
                "oil_kpa": o["oil_kpa"], "coolant_c": o["coolant_c"],
                "alarms": sorted(g.alarms), "sentinels": dict(self.sentinels)}

    def alarm_words(self, alarms):
        """Page 154's registers for the active alarms (names)."""
        words = [0x1111] * ALARM_WORDS  # every named alarm "not active"
        for name in alarms:
            idx, nib = self.ALARM_POS[name]
            shift = 12 - 4 * nib
            words[idx] = (words[idx] & ~(0xF << shift)) | (3 << shift)  # 3 = shutdown
        for i, code in self.alarm_codes.items():
            shift = 12 - 4 * (i % 4)
            words[i // 4] = (words[i // 4] & ~(0xF << shift)) | (code << shift)
        return words

    def tables(self):
        s, h = self.snapshot(), {}
        h[768] = 1                                    # manufacturer 1, model 7310 MKII (769)
        put(h, 770, U32, 12340000 + self.unit)        # serial number
        self._put(h, 1028, U16, "battery_v", s["alternator_v"], 0.1)  # charge alternator
        for i, v in enumerate(self.key_flags()):
            h[KEY_FLAGS_REG + i] = v
        h[KEY_REG], h[KEY_REG + 1] = 0, 0
        words = self.alarm_words(s["alarms"])
        tables = {"holding": h}
        self.put_points(tables, dict(s, alarm_words=words))
        return tables

    def write_notes(self, address, values):
        return {"key": int(values[0])} if address == KEY_REG and values else {}

    def write(self, fc, addr, values):
        if not all(a in (KEY_REG, KEY_REG + 1) for a in range(addr, addr + len(values))):
            return ExcCodes.ILLEGAL_ADDRESS, "not writable"
        if addr != KEY_REG or len(values) != 2:
            return None, "ignored: a key needs 4104 and 4105 in one write"
        key, comp = values
        if comp != 65535 - key:
            return None, "ignored: complement mismatch"
        n = key - DSE_KEY_BASE
        if not 0 <= n < 128 or not self.key_flags()[n // 16] & (1 << (15 - n % 16)):
            return None, "ignored: key %d not available" % key
        return None, self.model.gen.key(key)
