"""Eastron SDM630 and SDM120 energy meters."""
import math

from pymodbus.constants import ExcCodes

from emulator.devices.device import Device
from emulator.registers import f32_words, put_hi_first


class EastronSDM(Device):
    """Eastron SDM630 / SDM120: FC04 float32 ABCD; odd start = garbage; <= 80 regs."""

    PROFILE = "eastron_sdm630"
    FCS = (4,)
    MAIN_FC = 4
    ANSWER_DELAY_MS = 10
    ROLE = "grid"
    PHASES = 3
    MAX_REGS = 80
    RANGES = {"input": ((0x0000, 0x017F, 0),)}
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
                "va": [pw / pf] * n, "pf": pf, "total_w": w, "hz": hz,
                "import_kwh": self.import_kwh, "export_kwh": self.export_kwh,
                "total_kwh": self.import_kwh + self.export_kwh}
        return snap

    def tables(self):
        s, inp = self.snapshot(), {}
        for i in range(self.PHASES):
            put_hi_first(inp, 0 + 2 * i, f32_words(s["v"][i]))
            put_hi_first(inp, 6 + 2 * i, f32_words(s["a"][i]))
            put_hi_first(inp, 12 + 2 * i, f32_words(s["w"][i]))
            put_hi_first(inp, 18 + 2 * i, f32_words(s["va"][i]))
            put_hi_first(inp, 24 + 2 * i, f32_words(0.0))
            put_hi_first(inp, 30 + 2 * i, f32_words(s["pf"]))
        if self.PHASES == 3:
            put_hi_first(inp, 42, f32_words(s["v"][0]))
            put_hi_first(inp, 46, f32_words(s["a"][0]))
            put_hi_first(inp, 48, f32_words(sum(s["a"])))
            put_hi_first(inp, 52, f32_words(s["total_w"]))
            put_hi_first(inp, 56, f32_words(sum(s["va"])))
            put_hi_first(inp, 62, f32_words(s["pf"]))
            for i in range(3):
                put_hi_first(inp, 200 + 2 * i, f32_words(s["v"][0] * math.sqrt(3)))
        put_hi_first(inp, 70, f32_words(s["hz"]))
        put_hi_first(inp, 72, f32_words(s["import_kwh"]))
        put_hi_first(inp, 74, f32_words(s["export_kwh"]))
        put_hi_first(inp, 342, f32_words(s["total_kwh"]))
        return {"input": inp}

    def read(self, fc, addr, count):
        if fc == 4 and count > self.MAX_REGS:
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
