"""Eastron SDM630 and SDM120 energy meters."""
import math

from pymodbus.constants import ExcCodes

from firmware.decode import F32
from emulator.devices.device import Device, item
from emulator.registers import put


class EastronSDM(Device):
    """Eastron SDM630 / SDM120: FC04 float32 ABCD; odd start = garbage; <= 80 regs."""

    PROFILE = "eastron_sdm630"
    FCS = (4,)
    MAIN_FC = 4
    ANSWER_DELAY_MS = 10
    ROLE = "grid"
    PHASES = 3
    RANGES = {"input": ((0x0000, 0x017F, 0),)}
    POINT_VALUES = {
        "v_l1": item("v", 0), "v_l2": item("v", 1), "v_l3": item("v", 2),
        "a_l1": item("a", 0), "a_l2": item("a", 1), "a_l3": item("a", 2),
        "w_l1": item("w", 0), "w_l2": item("w", 1), "w_l3": item("w", 2),
        "power_w": "total_w", "hz": "hz", "import_kwh": "import_kwh", "export_kwh": "export_kwh",
        "va": lambda s: sum(s["va"]), "var": lambda s: sum(s["var"]), "pf": "pf",
    }
    PARAMS = dict(Device.PARAMS, powered_from_line=("powered_from_line", bool),
                  import_kwh=("import_kwh", float), export_kwh=("export_kwh", float))

    def __init__(self, emu, cfg):
        super().__init__(emu, cfg)
        if self.role not in ("grid", "generator", "load"):
            raise ValueError("meter %s: role must be grid, generator or load" % self.name)
        self.powered_from_line = False  # True: no supply, no answer, when dead
        self.import_kwh = {"grid": 45210.3, "generator": 0.0, "load": 61877.2}[self.role]
        self.export_kwh = 0.0
        self._last_t = None
        self._epoch = 0

    def measured(self):
        """(line live, total W, volts, hz) at the point this meter measures."""
        m = self.model
        if self.role == "grid":
            live, w = m.grid_ok, m.grid_ac_w
            v, hz = m.p["grid_v"] + m.noise("gv", 3.0), m.p["grid_hz"] + m.noise("ghz", 0.05)
        elif self.role == "generator":
            go = m.gen.outputs()
            live, w, v, hz = go["v"] > 0, go["w"], go["v"], go["hz"]
        else:  # load: the AC feed of the rectifiers, whichever source
            live = m.source is not None
            w = m.rect_ac_w
            if m.source == "gen":
                go = m.gen.outputs()
                v, hz = go["v"], go["hz"]
            else:
                v, hz = m.p["grid_v"] + m.noise("gv", 3.0), m.p["grid_hz"] + m.noise("ghz", 0.05)
        if not live:
            return False, 0.0, 0.0, 0.0
        return True, w, v, hz

    def integrate(self):
        """Meters integrate their own energy register from what they measure."""
        t = self.model.t
        if self._epoch != self.model.epoch:
            self._epoch, self._last_t = self.model.epoch, t
        if self._last_t is not None and t > self._last_t:
            _, w, _, _ = self.measured()
            self.import_kwh += w * (t - self._last_t) / 3600.0 / 1000.0
        self._last_t = t

    def snapshot(self):
        self.integrate()
        live, w, v, hz = self.measured()
        pf = self.model.p["pf"] if w > 0 else 1.0
        n = self.PHASES
        pw = w / n
        amps = pw / v / pf if v > 0 else 0.0
        snap = {"live": live, "v": [v] * n, "a": [amps] * n, "w": [pw] * n,
                "va": [pw / pf] * n, "var": [math.sqrt(max(0.0, (pw / pf) ** 2 - pw * pw))] * n,
                "pf": pf, "total_w": w, "hz": hz,
                "import_kwh": self.import_kwh, "export_kwh": self.export_kwh,
                "total_kwh": self.import_kwh + self.export_kwh}
        return snap

    def tables(self):
        s, inp = self.snapshot(), {}
        for i in range(self.PHASES):
            put(inp, 18 + 2 * i, F32, s["va"][i])
            put(inp, 24 + 2 * i, F32, s["var"][i])             # reactive power
            put(inp, 30 + 2 * i, F32, s["pf"])
        if self.PHASES == 3:
            put(inp, 42, F32, s["v"][0])                       # averages and sums
            put(inp, 46, F32, s["a"][0])
            put(inp, 48, F32, sum(s["a"]))
            put(inp, 56, F32, sum(s["va"]))
            put(inp, 62, F32, s["pf"])
            for i in range(3):
                put(inp, 200 + 2 * i, F32, s["v"][0] * math.sqrt(3))   # line to line
        put(inp, 342, F32, s["total_kwh"])
        tables = {"input": inp}
        self.put_points(tables, s)
        return tables

    def read(self, fc, addr, count):
        if fc == 4 and count > self.FIRMWARE_PROFILE.MAX_REGS:
            return ExcCodes.ILLEGAL_VALUE
        # An odd start address reads the words shifted by one: low word of one
        # float with the high word of the next, i.e. garbage, not an exception.
        return super().read(fc, addr, count)

    def answers(self):
        if self.powered_from_line:
            return self.measured()[0]
        return True


class EastronSDM120(EastronSDM):
    PROFILE = "eastron_sdm120"
    PHASES = 1
    POINT_VALUES = {"v_l1": item("v", 0), "a_l1": item("a", 0), "power_w": "total_w",
                    "hz": "hz", "import_kwh": "import_kwh", "export_kwh": "export_kwh",
                    "va": item("va", 0), "var": item("var", 0), "pf": "pf"}
