"""A diesel genset with a DSE-like controller: modes, control keys, the
start sequence, fuel and run counters."""
import logging

log = logging.getLogger(__name__)


# Genset engine states (internal name -> DSE register 1408 code).
GEN_STOPPED, GEN_START_DELAY, GEN_CRANKING, GEN_CRANK_REST = \
    "stopped", "start_delay", "cranking", "crank_rest"
GEN_WARMING, GEN_RUNNING, GEN_COOLING = "warming", "running", "cooling"
DSE_STATE_CODE = {GEN_STOPPED: 0, GEN_START_DELAY: 1, GEN_CRANKING: 1,
                  GEN_CRANK_REST: 1, GEN_WARMING: 2, GEN_RUNNING: 3, GEN_COOLING: 4}
ENGINE_TURNING = (GEN_WARMING, GEN_RUNNING, GEN_COOLING)

# DSE control modes (register 772).
MODE_STOP, MODE_AUTO, MODE_MANUAL = 0, 1, 2
MODE_NAMES = {0: "stop", 1: "auto", 2: "manual", 3: "test_on_load",
              4: "auto_manual_restore", 5: "user_config", 6: "test_off_load", 7: "off"}


class Genset:
    """Diesel genset with a DSE-like controller: modes, keys, start sequence."""

    def __init__(self, model):
        self.m = model
        self.mode = MODE_AUTO
        self.state = GEN_STOPPED
        self.timer = 0.0          # model s left in a timed state
        self.attempt = 0          # crank attempt number, 1-based
        self.remote_start = False  # telemetry start request (key 35732)
        self.fail_to_start = False  # scripted: cranks never fire
        self.alarms = set()       # "fail_to_start", "out_of_fuel"
        self._fires = False       # the current crank attempt will fire
        self.run_s = 3_600_000.0  # engine run time counter, s
        self.starts = 412         # successful starts
        self.kwh = 31_250.0       # energy delivered
        self.coolant_c = 25.0
        self.contacts = None      # (run, crank) once relay-wired

    # -- relay contacts (a controller that does its own cranking) -----------

    def contact(self, run, crank):
        self.contacts = (run, crank)
        self._evaluate()

    def _contacts(self):
        run, crank = self.contacts
        if not run:
            if self.state != GEN_STOPPED:
                self._enter(GEN_STOPPED)
        elif self.state == GEN_STOPPED and crank and not self.alarms:
            self.attempt = 0
            self._crank()
        elif self.state == GEN_CRANKING and not crank:
            self._enter(GEN_STOPPED)     # starter released before it caught

    # -- keys ---------------------------------------------------------------

    def key(self, k):
        """Apply a GenComm system control key; return a short effect text.
        Mode and start/stop requests act at once (a start delay starts now)."""
        effect = self._key(k)
        self._evaluate()
        return effect

    def _key(self, k):
        if k == 35700:
            self.mode = MODE_STOP
            self.remote_start = False
            if self.state != GEN_STOPPED:
                self._enter(GEN_STOPPED)
            return "stop mode"
        if k == 35701:
            self.mode = MODE_AUTO
            return "auto mode"
        if k == 35702:
            self.mode = MODE_MANUAL
            return "manual mode"
        if k == 35705:
            if self.mode != MODE_MANUAL:
                return "ignored: start key needs manual mode"
            if self.alarms:
                return "ignored: shutdown alarm active"
            if self.state == GEN_STOPPED:
                self.attempt = 0
                self._crank()
                return "start engine"
            return "ignored: engine not stopped"
        if k == 35706:
            return "mute alarm"
        if k == 35707:
            if self.m.fuel_l > 0:
                self.alarms.discard("out_of_fuel")
            self.alarms.discard("fail_to_start")
            return "reset alarms"
        if k == 35732:
            if self.mode != MODE_AUTO:
                return "ignored: telemetry start needs auto mode"
            self.remote_start = True
            return "telemetry start"
        if k == 35733:
            self.remote_start = False
            return "cancel telemetry start"
        return "ignored: key not implemented"

    IMPLEMENTED_KEYS = (35700, 35701, 35702, 35705, 35706, 35707, 35732, 35733)

    # -- sequence -----------------------------------------------------------

    def _enter(self, state, timer=0.0):
        if state != self.state:
            log.info("genset %s -> %s", self.state, state)
        self.state = state
        self.timer = timer

    def _crank(self):
        self.attempt += 1
        fires = not self.fail_to_start and self.m.fuel_l > 0
        p = self.m.p
        self._enter(GEN_CRANKING, p["gen_crank_fire_s"] if fires else p["gen_crank_s"])
        self._fires = fires

    def _want_run(self):
        if self.mode == MODE_AUTO:
            return self.remote_start or (self.m.p["gen_amf"] and not self.m.grid_ok)
        return None  # manual: runs until stop mode; stop: never

    def _evaluate(self):
        """Mode and request changes that do not wait for a timer."""
        if self.contacts is not None:
            self._contacts()
            return
        if self.mode == MODE_STOP:
            if self.state != GEN_STOPPED:
                self._enter(GEN_STOPPED)
            return
        want = self._want_run()
        if want is None:
            return
        if want and self.state == GEN_STOPPED and not self.alarms:
            self.attempt = 0
            self._enter(GEN_START_DELAY, self.m.p["gen_start_delay_s"])
        elif not want:
            if self.state in (GEN_START_DELAY, GEN_CRANKING, GEN_CRANK_REST):
                self._enter(GEN_STOPPED)
            elif self.state in (GEN_WARMING, GEN_RUNNING):
                self._enter(GEN_COOLING, self.m.p["gen_cool_s"])

    def _timeout(self):
        p = self.m.p
        if self.state == GEN_START_DELAY:
            self._crank()
        elif self.state == GEN_CRANKING:
            if self._fires:
                self.starts += 1
                self._enter(GEN_WARMING, p["gen_warm_s"])
            elif self.contacts is not None:
                self._enter(GEN_CRANKING, 1e9)   # turns while the starter is held
            elif self.attempt < int(p["gen_crank_attempts"]):
                self._enter(GEN_CRANK_REST, p["gen_crank_rest_s"])
            else:
                self.alarms.add("fail_to_start")
                self._enter(GEN_STOPPED)
        elif self.state == GEN_CRANK_REST:
            self._crank()
        elif self.state == GEN_WARMING:
            self._enter(GEN_RUNNING)
        elif self.state == GEN_COOLING:
            self._enter(GEN_STOPPED)

    def step(self, dt):
        left = dt
        for _ in range(64):  # bounded: each pass ends a state or uses all of dt
            self._evaluate()
            timed = self.state in (GEN_START_DELAY, GEN_CRANKING, GEN_CRANK_REST,
                                   GEN_WARMING, GEN_COOLING)
            use = min(left, self.timer) if timed else left
            self._account(use)
            left -= use
            if timed:
                self.timer -= use
                if self.timer <= 1e-9:
                    self._timeout()
                    continue
            if left <= 1e-9:
                break
        self._evaluate()

    def _account(self, dt):
        if dt <= 0:
            return
        p, m = self.m.p, self.m
        turning = self.state in ENGINE_TURNING
        if turning:
            self.run_s += dt
        out_kw = m.gen_ac_w / 1000.0 if self.state == GEN_RUNNING else 0.0
        if turning:
            # HOMER linear fuel curve F = F0*Ygen + F1*Pgen (l/h).
            lph = p["gen_f0"] * p["gen_rated_kw"] + p["gen_f1"] * out_kw
            m.fuel_l = max(0.0, m.fuel_l - lph * dt / 3600.0)
            self.kwh += out_kw * dt / 3600.0
            if m.fuel_l <= 0.0:
                self.alarms.add("out_of_fuel")
                self._enter(GEN_STOPPED)
        target = 85.0 if turning else m.ambient_c()
        self.coolant_c += (target - self.coolant_c) * min(1.0, dt / 300.0)

    # -- outputs ------------------------------------------------------------

    @property
    def carrying(self):
        return self.state == GEN_RUNNING

    def outputs(self):
        """Electrical/engine quantities as the controller would measure them."""
        m = self.m
        turning = self.state in ENGINE_TURNING
        load_frac = min(1.0, m.gen_ac_w / (m.p["gen_rated_kw"] * 1000.0)) if self.carrying else 0.0
        rpm = 1500.0 - 20.0 * load_frac if turning else (220.0 if self.state == GEN_CRANKING else 0.0)
        hz = rpm / 30.0 if turning else 0.0
        v = (230.0 - 4.0 * load_frac) if turning else 0.0
        w = m.gen_ac_w if self.carrying else 0.0
        amps = w / 3.0 / v / 0.98 if v > 0 else 0.0  # three phases, pf 0.98
        batt_v = 10.6 if self.state == GEN_CRANKING else (13.9 if turning else 12.7)
        return {"rpm": rpm, "hz": hz, "v": v, "a": amps, "w": w,
                "load_pct": 100.0 * load_frac, "batt_v": batt_v,
                "oil_kpa": 380.0 if turning else 0.0, "coolant_c": self.coolant_c}
