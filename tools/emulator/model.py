"""The physical model: sun, DC load, 48 V LFP battery, grid, rectifier and
genset, integrated in model time that runs at `speed` model seconds a real
second (0 freezes it)."""
import math
import random
import time

from emulator.genset import Genset, DSE_STATE_CODE, MODE_NAMES, MODE_AUTO, GEN_STOPPED


def hrand(seed, *keys):
    """Deterministic uniform [0, 1) from a seed and keys (stable across runs)."""
    return random.Random("%s:%s" % (seed, ":".join(str(k) for k in keys))).random()


# LiFePO4 cell open-circuit voltage against SOC (%): 16 cells make a "48 V" bank.
LFP_OCV = ((0, 2.90), (5, 3.10), (10, 3.18), (20, 3.22), (30, 3.25), (40, 3.27),
           (50, 3.28), (60, 3.29), (70, 3.30), (80, 3.32), (90, 3.34), (95, 3.36),
           (100, 3.40))
CELLS = 16


def lfp_ocv(soc):
    soc = max(0.0, min(100.0, soc))
    for (s0, v0), (s1, v1) in zip(LFP_OCV, LFP_OCV[1:]):
        if soc <= s1:
            return CELLS * (v0 + (v1 - v0) * (soc - s0) / (s1 - s0))
    return CELLS * LFP_OCV[-1][1]


class Model:
    """Sun, DC load, 48 V LFP battery, grid, rectifier and genset."""

    # Settable parameters with their defaults (units in the names).
    PARAMS = {
        "pv_peak_w": 3000.0,        # all MPPTs together, at solar noon, clear sky
        "sunrise_h": 6.0, "sunset_h": 18.5,
        "clouds": True,             # seeded cloud factor (False: clear sky)
        "load_base_w": 1900.0,      # daily mean of the telecom DC load
        "load_swing_w": 300.0,      # +- around it, peak at 20:00
        "capacity_ah": 300.0,       # whole battery, split across packs
        "batt_r_ohm": 0.01,         # bank internal resistance
        "charge_limit_a": 60.0,     # rectifier battery charge current limit
        "rect_max_w": 6000.0,       # rectifier DC output capacity
        "rect_eff": 0.95, "mppt_eff": 0.97, "pf": 0.98,
        "ac_aux_w": 0.0,            # AC load beside the rectifiers (air con...)
        "sheddable_w": 0.0,         # part of the DC load on a sheddable contactor
        "aux_dc_w": 24.0,           # each MPPT's load terminal (monitoring box)
        "tank_l": 200.0,
        "gen_rated_kw": 10.0,
        "gen_f0": 0.08415, "gen_f1": 0.246,  # l/h per kW rated / per kW out
        "gen_start_delay_s": 5.0, "gen_crank_s": 6.0, "gen_crank_fire_s": 2.5,
        "gen_crank_rest_s": 10.0, "gen_crank_attempts": 3,
        "gen_warm_s": 60.0, "gen_cool_s": 120.0,
        "gen_amf": False,           # start on grid failure by itself (in auto)
        "ambient_c": 27.0,          # mean cabinet temperature
        "grid_v": 230.0, "grid_hz": 50.0,
    }

    def __init__(self, seed=1, speed=60.0, start_hour=10.0):
        self.seed = seed
        self.p = dict(self.PARAMS)
        self.speed = float(speed)
        self.t = float(start_hour) * 3600.0  # model seconds since day 0, 00:00
        self._real_ref = time.monotonic()
        self._t_ref = self.t
        self.soc = 80.0
        self.grid_ok = True
        # The controller's levers (issue 12 A): the rectifiers' AC input
        # contactor and their charge enable (the test wires them from the
        # pin twin through "set"), and how many MPPTs have their charging
        # switched off by coil 0 (emulator/devices/epever_tracer.py).
        self.grid_input = True
        self.grid_charge = True
        self.mppt_off = 0
        # The sheddable load's contactor (a loads[] pin of the firmware,
        # wired by the test or the demo): open, its sheddable_w is off.
        self.sheddable_on = True
        self.fuel_l = 0.7 * self.p["tank_l"]
        self.load_override_w = None
        self.gen = Genset(self)
        self.n_mppt = 1
        # Integrated counters (kWh) and derived values of the last step.
        self.pv_total_kwh = 1523.4
        self.pv_today_kwh = 0.0
        self.grid_import_kwh = 45210.3
        self.load_kwh = 88113.0
        self.discharged_ah = 0.0
        self.pv_avail_w = self.pv_w = self.mppt_out_w = 0.0
        self.load_w = self.load_served_w = 0.0
        self.rect_dc_w = self.rect_ac_w = self.grid_ac_w = self.gen_ac_w = 0.0
        self.batt_a = 0.0
        self.batt_v = lfp_ocv(self.soc)
        self.source = "grid"
        self.load_dropped = False
        self._day = int(self.t // 86400)
        self.epoch = 0  # bumped by clock jumps that skip integration
        self._step(0.0)

    # -- time -----------------------------------------------------------------

    def target_time(self):
        return self._t_ref + (time.monotonic() - self._real_ref) * self.speed

    def advance_to_now(self):
        self._integrate(self.target_time() - self.t)

    def advance(self, seconds):
        """Jump forward `seconds` of model time (integrating)."""
        self.advance_to_now()
        self._integrate(float(seconds))
        self._t_ref += float(seconds)

    def set_speed(self, speed):
        self.advance_to_now()
        self._real_ref, self._t_ref, self.speed = time.monotonic(), self.t, float(speed)

    def set_hour(self, hour):
        """Jump forward to the next `hour` o'clock, without integrating (the
        clock never runs backwards; counters do not see the skipped time)."""
        self.advance_to_now()
        t = (self.t // 86400) * 86400 + float(hour) % 24.0 * 3600.0
        if t < self.t:
            t += 86400.0
        self.t = t
        self.epoch += 1
        self._real_ref, self._t_ref = time.monotonic(), self.t
        self._step(0.0)

    def _integrate(self, dt):
        while dt > 1e-9:
            h = min(dt, 30.0)
            self._step(h)
            dt -= h
        if dt <= 0:
            self._step(0.0)

    # -- environment ------------------------------------------------------------

    def hour(self, t=None):
        return ((self.t if t is None else t) % 86400) / 3600.0

    def sun(self, t=None):
        h, p = self.hour(t), self.p
        if not p["sunrise_h"] < h < p["sunset_h"]:
            return 0.0
        x = (h - p["sunrise_h"]) / (p["sunset_h"] - p["sunrise_h"])
        return math.sin(math.pi * x) ** 1.3

    def cloud(self, t=None):
        """Cloud factor 0..1 (1 = clear), seeded per day and per 10 minutes."""
        if not self.p["clouds"]:
            return 1.0
        t = self.t if t is None else t
        day = int(t // 86400)
        r = hrand(self.seed, "day", day)
        depth = 0.05 if r < 0.6 else (0.35 if r < 0.85 else 0.7)
        slot, frac = divmod(t / 600.0, 1.0)
        a = hrand(self.seed, "cloud", int(slot))
        b = hrand(self.seed, "cloud", int(slot) + 1)
        return 1.0 - depth * (0.5 + 0.5 * (a + (b - a) * frac))

    def ambient_c(self, t=None):
        h = self.hour(t)
        return self.p["ambient_c"] + 4.0 * math.cos(2 * math.pi * (h - 15.0) / 24.0)

    def load_profile_w(self, t=None):
        t = self.t if t is None else t
        h, p = self.hour(t), self.p
        w = p["load_base_w"] + p["load_swing_w"] * math.cos(2 * math.pi * (h - 20.0) / 24.0)
        w += 150.0 * self.sun(t)  # cooling fans follow the sun
        w *= 1.0 + 0.04 * (hrand(self.seed, "load", int(t // 300)) - 0.5)
        return w + p["aux_dc_w"] * self.n_mppt

    def noise(self, name, scale, period_s=60.0):
        """Small deterministic jitter for readings (e.g. mains voltage)."""
        return scale * (2.0 * hrand(self.seed, name, int(self.t // period_s)) - 1.0)

    # -- the step ---------------------------------------------------------------

    def charge_limit_a(self):
        if self.soc >= 100.0:
            return 0.0
        taper = 1.0 if self.soc < 95.0 else max(0.05, (100.0 - self.soc) / 5.0)
        return self.p["charge_limit_a"] * taper

    def _step(self, dt):
        p = self.p
        if dt > 0:
            self.t += dt
            day = int(self.t // 86400)
            if day != self._day:
                self._day, self.pv_today_kwh = day, 0.0
            self.gen.step(dt)
        else:
            self.gen._evaluate()
        if self.gen.carrying:
            self.source = "gen"
        elif self.grid_ok and self.grid_input:
            # The grid meter sits before the input contactor: with it open
            # the meter still sees the grid's voltage, and 0 W.
            self.source = "grid"
        else:
            self.source = None
        v = max(self.batt_v, 40.0)
        self.pv_avail_w = p["pv_peak_w"] * self.sun() * self.cloud()
        load = self.load_override_w if self.load_override_w is not None else self.load_profile_w()
        if not self.sheddable_on:
            load -= min(p["sheddable_w"], load)
        self.load_w = max(0.0, float(load))
        charge_cap_w = self.charge_limit_a() * v
        # An MPPT whose charging is off gives nothing: the Tracer's only
        # output is the battery bus, so its charger off is the panels off.
        n = max(1, self.n_mppt)
        mppt_avail = self.pv_avail_w * p["mppt_eff"] * max(0, n - self.mppt_off) / n
        # Charging inhibited, the grid's rectifiers carry only the load.
        rect_cap_w = charge_cap_w if self.source != "grid" or self.grid_charge else 0.0
        if self.source:
            rect = min(p["rect_max_w"], max(0.0, self.load_w + rect_cap_w - mppt_avail))
        else:
            rect = 0.0
        # PV first; it is curtailed when the battery cannot take the surplus.
        mppt_out = min(mppt_avail, max(0.0, self.load_w + charge_cap_w - rect))
        net_w = mppt_out + rect - self.load_w
        batt_a = net_w / v
        self.load_dropped = False
        self.load_served_w = self.load_w
        if batt_a < 0 and self.soc <= 0.0:
            # BMS low-voltage disconnect: the load is not served.
            self.load_dropped = True
            self.load_served_w = mppt_out + rect
            batt_a = 0.0
        self.mppt_out_w, self.pv_w = mppt_out, mppt_out / p["mppt_eff"]
        self.rect_dc_w = rect
        self.rect_ac_w = rect / p["rect_eff"] + (p["ac_aux_w"] if self.source else 0.0)
        self.gen_ac_w = self.rect_ac_w if self.source == "gen" else 0.0
        self.grid_ac_w = self.rect_ac_w if self.source == "grid" else 0.0
        self.batt_a = batt_a
        if dt > 0:
            cap = max(1.0, p["capacity_ah"])
            self.soc = max(0.0, min(100.0, self.soc + batt_a * dt / 3600.0 / cap * 100.0))
            if batt_a < 0:
                self.discharged_ah += -batt_a * dt / 3600.0
            hours = dt / 3600.0
            self.pv_today_kwh += self.pv_w * hours / 1000.0
            self.pv_total_kwh += self.pv_w * hours / 1000.0
            self.grid_import_kwh += self.grid_ac_w * hours / 1000.0
            self.load_kwh += self.load_served_w * hours / 1000.0
        self.batt_v = lfp_ocv(self.soc) + batt_a * p["batt_r_ohm"]

    # -- scripting --------------------------------------------------------------

    def set(self, key, value):
        self.advance_to_now()
        if key == "soc":
            self.soc = max(0.0, min(100.0, float(value)))
        elif key == "fuel_pct":
            self.fuel_l = max(0.0, min(100.0, float(value))) / 100.0 * self.p["tank_l"]
        elif key == "fuel_l":
            self.fuel_l = max(0.0, float(value))
        elif key == "speed":
            self.set_speed(float(value))
        elif key == "hour":
            self.set_hour(float(value))
            return
        elif key == "grid_ok":
            self.grid_ok = bool(value)
        elif key in ("grid_input", "grid_charge", "sheddable_on"):
            setattr(self, key, bool(value))
        elif key == "load_w":
            self.load_override_w = None if value is None else float(value)
        elif key == "gen_mode":
            self.gen.mode = int(value)
        elif key == "gen_fail":
            self.gen.fail_to_start = bool(value)
        elif key == "gen_reset":  # stopped, auto mode, no request, no alarm
            g = self.gen
            g.mode, g.remote_start, g.attempt = MODE_AUTO, False, 0
            g.alarms.clear()
            g._enter(GEN_STOPPED)
        elif key in self.PARAMS:
            ref = self.PARAMS[key]
            self.p[key] = bool(value) if isinstance(ref, bool) else float(value)
        else:
            raise KeyError("unknown model key %r" % key)
        self._step(0.0)

    def snapshot(self):
        g, go = self.gen, self.gen.outputs()
        r = lambda x: round(x, 4)  # noqa: E731
        return {
            "t_model_s": r(self.t), "day": int(self.t // 86400), "hour": r(self.hour()),
            "speed": self.speed, "seed": self.seed,
            "soc": r(self.soc), "batt_v": r(self.batt_v), "batt_a": r(self.batt_a),
            "batt_w": r(self.batt_a * self.batt_v), "capacity_ah": self.p["capacity_ah"],
            "pv_avail_w": r(self.pv_avail_w), "pv_w": r(self.pv_w),
            "mppt_out_w": r(self.mppt_out_w), "sun": r(self.sun()), "cloud": r(self.cloud()),
            "load_w": r(self.load_w), "load_served_w": r(self.load_served_w),
            "load_dropped": self.load_dropped, "load_override_w": self.load_override_w,
            "rect_dc_w": r(self.rect_dc_w), "rect_ac_w": r(self.rect_ac_w),
            "source": self.source, "grid_ok": self.grid_ok, "grid_ac_w": r(self.grid_ac_w),
            "grid_input": self.grid_input, "grid_charge": self.grid_charge,
            "mppt_off": self.mppt_off, "sheddable_on": self.sheddable_on,
            "ambient_c": r(self.ambient_c()),
            "fuel_pct": r(100.0 * self.fuel_l / self.p["tank_l"]), "fuel_l": r(self.fuel_l),
            "gen": {
                "state": g.state, "state_code": DSE_STATE_CODE[g.state],
                "mode": g.mode, "mode_name": MODE_NAMES.get(g.mode, "?"),
                "remote_start": g.remote_start, "fail_to_start": g.fail_to_start,
                "alarms": sorted(g.alarms), "attempt": g.attempt,
                "timer_s": r(g.timer), "run_s": r(g.run_s), "starts": g.starts,
                "kwh": r(g.kwh), "ac_w": r(self.gen_ac_w),
                "rpm": r(go["rpm"]), "hz": r(go["hz"]), "v": r(go["v"]),
            },
            "energy_kwh": {"pv_today": r(self.pv_today_kwh), "pv_total": r(self.pv_total_kwh),
                           "grid_import": r(self.grid_import_kwh), "load": r(self.load_kwh)},
            "params": dict(self.p),
        }
