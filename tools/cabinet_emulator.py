#!/usr/bin/env python3
"""Cabinet emulator: the site's Modbus devices, with their real register maps,
over a small physical model that runs in compressible time.

Host-side (CPython + asyncio + pymodbus 3.16.1). The register encodings here are
written from /work/shared/devices.md independently of firmware/, so that the
firmware's decoders are checked against a second reading of the same maps.
Tests start and script it through tools/emulator_client.py (stdlib only).

CLI
    cabinet_emulator.py --config CFG.json [--port-override BUS=PORT ...]
        [--speed 60] [--start-hour 10.0] [--control-port 0] [--pty BUS ...]
        [--baud-pace BAUD | --baud-pace BUS=BAUD ...] [--seed N]
        [--set KEY=JSON ...] [--verbose]

    --port-override BUS=PORT  TCP port for that bus (0 = a free port); may be
        HOST:PORT. For a `uart` bus a number serves it as RTU over TCP instead
        of a pty, and a path makes the firmware-side pty appear at that path
        (a symlink, removed at exit).
    --pty BUS        serve that bus as RTU on a pty whatever its kind.
    --speed S        model seconds per real second (0 freezes the model).
    --baud-pace      delay each reply by the RS485 wire time (see Bus.wire_time).
    --set KEY=JSON   set a model parameter at start (same keys as the control
        channel's "set"); KEY may be DEVICE.KEY for a device parameter.

Once every server listens, ONE JSON line goes to stdout (logs go to stderr):
    {"ready": true, "pid": ..., "speed": ..., "seed": ...,
     "buses": {"gw": {"kind": "rtu_tcp", "framer": "rtu", "host": "127.0.0.1",
                      "port": 41234, "baud_pace": null, "units": {"1": "mppt1"}},
               "rs485": {"kind": "uart", "framer": "rtu", "pty": "/dev/pts/7",
                         "link": null, ...}},
     "devices": {"mppt1": {"profile": ..., "bus": ..., "unit": ..., "role": ...}},
     "answer_delay_ms": {"mppt1": 15, ...},
     "control": {"host": "127.0.0.1", "port": 40000}}
It runs until SIGINT/SIGTERM (or the control command "shutdown") and exits 0.

Control channel: JSON lines on 127.0.0.1 (one request a line, one reply a
line; every reply has "ok", a refused one "ok": false and "error"):
    {"cmd":"ping"}                              -> {"pong":true,"t_model_s":..}
    {"cmd":"state"}                             -> {"state":{...}}: soc, batt_v,
        batt_a (+ = charging), pv_avail_w, pv_w, mppt_out_w, load_w, source
        ("grid"|"gen"|null), grid_ok, grid_ac_w, rect_dc_w, rect_ac_w, fuel_pct,
        t_model_s, hour, speed, gen{state, state_code (DSE 1408), mode, alarms,
        remote_start, run_s, starts, rpm, hz, v, ac_w}, energy_kwh{}, params{},
        devices{name: the physical values that unit encodes, + silent/garbage}
    {"cmd":"set","key":K,"value":V}             model: any key of Model.PARAMS,
        or soc, fuel_pct, fuel_l, speed (0 freezes), hour (jump, no
        integration, forward only), grid_ok, load_w (null = daily shape),
        gen_mode (772 code),
        gen_fail, gen_reset (stopped, auto, no request, no alarm)
    {"cmd":"set","device":D,"key":K,"value":V}  unit: answer_delay_ms,
        min_gap_ms (requests closer than this get no answer; PACE wants 100),
        and per profile: epever load_on, charger_fault (bits OR'd into 0x3201);
        eastron powered_from_line (no answer while its line is dead),
        import_kwh, export_kwh; pace/seplos soc_offset, soh, cycles, warning,
        protection, status, balance (bits OR'd in); seplos max_charge_a,
        max_discharge_a; dse missing [fields] (read 0xFFFF..), sentinels
        {field: unimplemented|over_range|under_range|transducer_fault|...}
    {"cmd":"grid","ok":false}
    {"cmd":"silent","device":D,"on":true}       D never answers: no bytes at all
    {"cmd":"garbage","device":D,"on":true,"mode":M}   D's replies corrupted; M:
        "crc" (default: a data bit flipped, CRC kept), "truncate" (first half),
        "noise" (random bytes), "mixed" (the three in turn)
    {"cmd":"gen_fail","on":true}                the genset cranks, never fires
    {"cmd":"contact","run":true,"crank":true}   relay wiring instead of keys: the
        run (fuel) contact holds the engine, the crank contact turns the
        starter; the engine fires after gen_crank_fire_s of cranking
    {"cmd":"writes","device":D?,"clear":false}  -> {"writes":[{device, unit,
        fc, address, values, t_model, t, answered, effect, key (DSE 4104)}]}
    {"cmd":"requests","device":D?,"clear":false,"limit":N?}
        -> {"requests":{D: {"count", "by_fc": {"3": n}, "recent": [{fc, unit,
        addr, count, t_model, t, answered, bytes: [req, reply], wire_ms}]}}};
        a unit nobody configured appears as "BUS:UNIT"
    {"cmd":"override","device":D,"address":A,"value":V|null,"fc":3|4?}
        force one raw register (null clears)
    {"cmd":"pace","bus":B|null,"baud":N|null}    line pacing on/off at run time
    {"cmd":"advance","seconds":S}               integrate S model seconds now
    {"cmd":"shutdown"}

Model time only moves at `speed`; with speed 0 and "advance" a test steps the
model deterministically (weather and noise come from --seed; at a non-zero
speed the integration steps follow the wall clock).
"""

import argparse
import asyncio
import collections
import json
import logging
import math
import os
import random
import signal
import struct
import sys
import time
import tty

import pymodbus
from pymodbus.constants import ExcCodes
from pymodbus.framer import FramerType
from pymodbus.pdu import ExceptionResponse
from pymodbus.server import ModbusSerialServer, ModbusTcpServer
from pymodbus.server.requesthandler import ServerRequestHandler
from pymodbus.simulator import DataType, SimData, SimDevice

log = logging.getLogger("cabinet_emulator")

# _BusHandler overrides pymodbus internals (ServerRequestHandler); written and
# tested against this version.
PYMODBUS_VERSION = "3.16.1"

# ---------------------------------------------------------------------------
# Register encoding (independent of firmware/decode.py on purpose)
# ---------------------------------------------------------------------------


def u16(x):
    """Unsigned 16-bit, rounded and clamped."""
    return max(0, min(0xFFFF, int(round(x))))


def s16(x):
    """Two's complement 16-bit, rounded and clamped to -32768..32767."""
    return max(-0x8000, min(0x7FFF, int(round(x)))) & 0xFFFF


def u32_words(x):
    """(high word, low word) of an unsigned 32-bit value."""
    v = max(0, min(0xFFFFFFFF, int(round(x))))
    return (v >> 16) & 0xFFFF, v & 0xFFFF


def s32_words(x):
    """(high word, low word) of a two's complement 32-bit value."""
    v = max(-0x80000000, min(0x7FFFFFFF, int(round(x)))) & 0xFFFFFFFF
    return (v >> 16) & 0xFFFF, v & 0xFFFF


def f32_words(x):
    """(high word, low word) of an IEEE-754 float32."""
    raw = struct.pack(">f", float(x))
    return (raw[0] << 8) | raw[1], (raw[2] << 8) | raw[3]


def put_hi_first(table, addr, words):
    table[addr], table[addr + 1] = words[0], words[1]


def put_lo_first(table, addr, words):
    table[addr], table[addr + 1] = words[1], words[0]


def ascii_regs(text, nregs):
    """A string as registers, two characters each, NUL padded."""
    raw = text.encode("ascii")[: nregs * 2].ljust(nregs * 2, b"\0")
    return [(raw[i] << 8) | raw[i + 1] for i in range(0, nregs * 2, 2)]


def hrand(seed, *keys):
    """Deterministic uniform [0, 1) from a seed and keys (stable across runs)."""
    return random.Random("%s:%s" % (seed, ":".join(str(k) for k in keys))).random()


# ---------------------------------------------------------------------------
# Physical model
# ---------------------------------------------------------------------------

# LiFePO4 cell open-circuit voltage against SOC (%): 16 cells make a "48 V" bank.
LFP_OCV = ((0, 2.90), (5, 3.10), (10, 3.18), (20, 3.22), (30, 3.25), (40, 3.27),
           (50, 3.28), (60, 3.29), (70, 3.30), (80, 3.32), (90, 3.34), (95, 3.36),
           (100, 3.40))
CELLS = 16

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


def lfp_ocv(soc):
    soc = max(0.0, min(100.0, soc))
    for (s0, v0), (s1, v1) in zip(LFP_OCV, LFP_OCV[1:]):
        if soc <= s1:
            return CELLS * (v0 + (v1 - v0) * (soc - s0) / (s1 - s0))
    return CELLS * LFP_OCV[-1][1]


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
        elif self.grid_ok:
            self.source = "grid"
        else:
            self.source = None
        v = max(self.batt_v, 40.0)
        self.pv_avail_w = p["pv_peak_w"] * self.sun() * self.cloud()
        load = self.load_override_w if self.load_override_w is not None else self.load_profile_w()
        self.load_w = max(0.0, float(load))
        charge_cap_w = self.charge_limit_a() * v
        mppt_avail = self.pv_avail_w * p["mppt_eff"]
        if self.source:
            rect = min(p["rect_max_w"], max(0.0, self.load_w + charge_cap_w - mppt_avail))
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


# ---------------------------------------------------------------------------
# Device profiles
# ---------------------------------------------------------------------------

FC_TABLE = {1: "coil", 5: "coil", 15: "coil", 2: "discrete",
            3: "holding", 6: "holding", 16: "holding", 4: "input"}


class Device:
    """One Modbus unit. Subclasses give tables() and their quirks.

    RANGES maps a table name to (first, last, fill) blocks: an address inside a
    block but absent from the table reads as `fill`; an address outside every
    block is an illegal address (exception 2).
    """

    PROFILE = "?"
    FCS = (3, 4)
    RANGES = {}
    ANSWER_DELAY_MS = 10
    ROLE = None
    MAIN_FC = 3  # the function code of the unit's main table ("override" default)

    def __init__(self, emu, cfg):
        self.emu = emu
        self.model = emu.model
        self.name = cfg["name"]
        self.unit = int(cfg["unit"])
        self.bus = cfg["bus"]
        self.role = cfg.get("role", self.ROLE)
        self.cfg = cfg
        self.answer_delay_ms = float(cfg.get("answer_delay_ms", self.ANSWER_DELAY_MS))
        self.silent = False
        self.garbage = None          # None or a mode: crc, truncate, noise, mixed
        self.garbage_count = 0
        self.min_gap_ms = 0.0        # > 0: requests closer than this get no answer
        self.last_frame_t = -1e9
        self.overrides = {}          # (table, addr) -> raw value
        self.stored = {}             # writable registers written by the master

    def describe(self):
        return {"profile": self.PROFILE, "bus": self.bus, "unit": self.unit,
                "role": self.role}

    # -- to override --------------------------------------------------------------

    def snapshot(self):
        """Physical quantities this unit reports, in SI units (what tables encode)."""
        return {}

    def tables(self):
        """{table name: {address: raw register value}} for the current model state."""
        return {}

    def write(self, fc, addr, values):
        """Apply a write; return (ExcCodes or None, effect text)."""
        return ExcCodes.ILLEGAL_ADDRESS, "read-only"

    def set_param(self, key, value):
        raise KeyError("unknown key %r for %s" % (key, self.PROFILE))

    # -- generic read ---------------------------------------------------------------

    def _table(self, name):
        table = self.tables().get(name, {})
        for (tname, addr), value in self.overrides.items():
            if tname == name:
                table[addr] = value
        return table

    def _covered(self, table, addr, count):
        blocks = self.RANGES.get(table, ())
        for a in range(addr, addr + count):
            if not any(first <= a <= last for first, last, _ in blocks):
                return False
        return True

    def _fill(self, table, addr):
        for first, last, fill in self.RANGES.get(table, ()):
            if first <= addr <= last:
                return fill
        return 0

    def read(self, fc, addr, count):
        """Registers (or bits) addr..addr+count-1, or an ExcCodes."""
        name = FC_TABLE.get(fc)
        if name is None:
            return ExcCodes.ILLEGAL_FUNCTION
        if not self._covered(name, addr, count):
            return ExcCodes.ILLEGAL_ADDRESS
        table = self._table(name)
        values = [table.get(a, self._fill(name, a)) for a in range(addr, addr + count)]
        if name in ("coil", "discrete"):
            return [bool(v) for v in values]
        return [v & 0xFFFF for v in values]

    def set_common(self, key, value):
        if key == "answer_delay_ms":
            self.answer_delay_ms = float(value)
        elif key == "min_gap_ms":
            self.min_gap_ms = float(value)
        else:
            self.set_param(key, value)


class EpeverTracer(Device):
    """EPEver Tracer AN/BN MPPT charger: FC04 real-time, FC03/FC16 settings."""

    PROFILE = "epever_tracer"
    FCS = (1, 3, 4, 5, 6, 16)
    MAIN_FC = 4
    ANSWER_DELAY_MS = 15
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

    def set_param(self, key, value):
        if key == "load_on":
            self.load_on = bool(value)
        elif key == "charger_fault":
            self.fault_bits = int(value) & 0xFFFF
        else:
            super().set_param(key, value)

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
        for i, v in enumerate(values):
            self.stored[addr + i] = v & 0xFFFF
        return None, "stored"


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

    def __init__(self, emu, cfg):
        super().__init__(emu, cfg)
        if self.role not in ("grid", "generator", "load"):
            raise ValueError("meter %s: role must be grid, generator or load" % self.name)
        self.powered_from_line = False  # True: no supply, no answer, when dead
        self.import_kwh = {"grid": 45210.3, "generator": 0.0, "load": 61877.2}[self.role]
        self.export_kwh = 0.0
        self._last_t = None
        self._epoch = 0

    def set_param(self, key, value):
        if key == "powered_from_line":
            self.powered_from_line = bool(value)
        elif key == "import_kwh":
            self.import_kwh = float(value)
        elif key == "export_kwh":
            self.export_kwh = float(value)
        else:
            super().set_param(key, value)

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


# PACE BMS bit fields (registers 9-11). Bit positions as tabulated for PACE's
# Modbus protocol V1.3; only the ones the model drives are named here.
PACE_WARN_CELL_OV, PACE_WARN_CELL_UV, PACE_WARN_PACK_OV, PACE_WARN_PACK_UV = 1, 2, 4, 8
PACE_WARN_SOC_LOW = 1 << 15
PACE_PROT_CELL_OV, PACE_PROT_CELL_UV, PACE_PROT_PACK_OV, PACE_PROT_PACK_UV = 1, 2, 4, 8
PACE_ST_CHARGING, PACE_ST_DISCHARGING = 1 << 8, 1 << 9
PACE_ST_CHG_MOS_ON, PACE_ST_DSG_MOS_ON = 1 << 10, 1 << 11


class Pack(Device):
    """A battery pack: its share of the model's battery (current, capacity)."""

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
        if key == "soc_offset":
            self.soc_offset = float(value)
        elif key == "soh":
            self.soh = float(value)
        elif key == "cycles":
            self.cycles0 = int(value)
        elif key in self.flags_or:
            self.flags_or[key] = int(value) & 0xFFFF
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


class PaceBMS(Pack):
    """PACE BMS (Modbus V1.3): FC03 holding 0..36, settings 60..114, strings 150..179."""

    PROFILE = "pace_bms"
    FCS = (3, 6, 16)
    ANSWER_DELAY_MS = 25
    RANGES = {"holding": ((0, 36, 0), (60, 114, 0), (150, 179, 0))}
    SETTINGS = {60: 57600, 61: 58400, 62: 54400, 63: 10, 64: 3600, 65: 3650, 66: 3400,
                67: 10, 68: 46400, 69: 44800, 70: 48000, 71: 10, 72: 2900, 73: 2800,
                74: 3000, 75: 10, 76: 105, 77: 110, 78: 10, 79: 105, 80: 110, 81: 10,
                82: 150, 83: 10, 84: 550, 85: 600, 86: 500, 87: 600, 88: 650, 89: 550,
                90: 20, 91: 0, 92: 50, 93: (-150) & 0xFFFF, 94: (-200) & 0xFFFF,
                95: (-100) & 0xFFFF, 105: 3400, 106: 30, 107: 56800, 108: 2000,
                109: 2900, 110: 60, 111: 4, 112: 10, 113: 150, 114: 10}

    def __init__(self, emu, cfg):
        super().__init__(emu, cfg)
        self.stored = dict(self.SETTINGS)
        for i, r in enumerate(ascii_regs("P16S100A-1.03", 10)):
            self.stored[150 + i] = r
        for i, r in enumerate(ascii_regs("PACE-EMU", 10)):
            self.stored[160 + i] = r
        for i, r in enumerate(ascii_regs("PK%08d" % (1000 + self.unit), 10)):
            self.stored[170 + i] = r

    def tables(self):
        s = self.snapshot()
        h = dict(self.stored)
        h[0] = s16(s["current_a"] * 100)        # x10 mA
        h[1] = u16(s["voltage_v"] * 100)        # x10 mV
        h[2] = u16(s["soc"])
        h[3] = u16(s["soh"])
        h[4] = u16(s["remaining_ah"] * 100)     # x10 mAh
        h[5] = u16(s["full_ah"] * 100)
        h[6] = u16(s["design_ah"] * 100)
        h[7] = u16(s["cycles"])
        h[9], h[10], h[11], h[12] = s["warning"], s["protection"], s["status"], s["balance"]
        for i, mv in enumerate(s["cells_mv"]):
            h[15 + i] = u16(mv)
        for i, c in enumerate(s["cell_temps_c"]):
            h[31 + i] = s16(c * 10)
        h[35] = s16(s["mosfet_c"] * 10)
        h[36] = s16(s["env_c"] * 10)
        return {"holding": h}

    def write(self, fc, addr, values):
        if not all(60 <= a <= 114 or 160 <= a <= 179 for a in range(addr, addr + len(values))):
            return ExcCodes.ILLEGAL_ADDRESS, "read-only"
        for i, v in enumerate(values):
            self.stored[addr + i] = v & 0xFFFF
        return None, "stored"


class SeplosV3(Pack):
    """Seplos V3 BMS: FC04 0x1000.. pack, 0x1100.. cells, 0x1700.. identity."""

    PROFILE = "seplos_v3"
    FCS = (4,)
    MAIN_FC = 4
    ANSWER_DELAY_MS = 20
    RANGES = {"input": ((0x1000, 0x1011, 0), (0x1100, 0x111A, 0), (0x1300, 0x1369, 0),
                        (0x1700, 0x1723, 0))}

    def __init__(self, emu, cfg):
        super().__init__(emu, cfg)
        self.max_dsg_a = 150.0
        self.max_chg_a = 100.0

    def set_param(self, key, value):
        if key == "max_discharge_a":
            self.max_dsg_a = float(value)
        elif key == "max_charge_a":
            self.max_chg_a = float(value)
        else:
            super().set_param(key, value)

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
        elif key == "mode":
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


PROFILES = {c.PROFILE: c for c in (EpeverTracer, EastronSDM, EastronSDM120, PaceBMS,
                                   SeplosV3, DseGencomm)}


# ---------------------------------------------------------------------------
# pymodbus glue: one server per bus, one handler per connection
# ---------------------------------------------------------------------------


class _DeviceStore:
    """The datastore API pymodbus' PDUs call, routed to one Device."""

    def __init__(self, device):
        self.device = device
        self.note = None

    async def async_getValues(self, device_id, func_code, address, count=1):  # noqa: N802
        return self.device.read(func_code, address, count)

    async def async_setValues(self, device_id, func_code, address, values):  # noqa: N802
        rc, self.note = self.device.write(func_code, address, list(values))
        return rc


class _BusHandler(ServerRequestHandler):
    """Per-connection request handler: units, silence, garbage, pacing, logs.

    Replaces ServerRequestHandler.handle_request/server_send (pymodbus 3.16.1):
    the reply is built with the framer, then dropped, corrupted or delayed.
    """

    def __init__(self, owner):
        super().__init__(owner, None, None, None)
        self.bus = owner.emu_bus
        self._pending = None

    def callback_data(self, data, addr=None):
        t_arrival = time.monotonic()
        used = super().callback_data(data, addr)
        if self.last_pdu is not None:
            self._pending = (self.last_pdu, self.last_addr, t_arrival, used)
        return used

    async def handle_request(self):
        if not self._pending:
            return
        pdu, addr, t_arrival, req_len = self._pending
        self._pending = None
        await self.bus.answer(self, pdu, addr, t_arrival, req_len)

    def server_send(self, pdu, addr):
        # Only reached for requests pymodbus could not decode (its own
        # exception reply); send it through the same pacing path.
        if pdu:
            dev = self.bus.units.get(pdu.dev_id)
            if dev is not None and not dev.silent:
                self.bus.emit(self, self.framer.buildFrame(pdu), addr, time.monotonic(), 8, dev)

    def send_packet(self, packet, addr):
        if packet and self.transport:
            self.send(packet, addr)


class _TcpBusServer(ModbusTcpServer):
    def __init__(self, bus, **kw):
        self.emu_bus = bus
        super().__init__(**kw)

    def callback_new_connection(self):
        return _BusHandler(self)


class _SerialBusServer(ModbusSerialServer):
    def __init__(self, bus, **kw):
        self.emu_bus = bus
        super().__init__(**kw)

    def callback_new_connection(self):
        return _BusHandler(self)


def _placeholder_context():
    # pymodbus wants a datastore; _BusHandler never consults it.
    return [SimDevice(id=1, simdata=[SimData(1, values=0, datatype=DataType.REGISTERS)])]


class PtyLink:
    """Two pty pairs relayed back to back: pymodbus opens one slave, the
    firmware the other. Both slaves stay open here, so either side may close
    and reopen its end without the relay seeing EIO."""

    def __init__(self, loop, link_path=None):
        self.loop = loop
        self.m_emu, self.s_emu = os.openpty()
        self.m_fw, self.s_fw = os.openpty()
        for fd in (self.s_emu, self.s_fw):
            tty.setraw(fd)
        for fd in (self.m_emu, self.m_fw):
            os.set_blocking(fd, False)
        self.emu_path = os.ttyname(self.s_emu)
        self.fw_path = os.ttyname(self.s_fw)
        self.link = None
        if link_path:
            if os.path.islink(link_path):
                os.unlink(link_path)
            os.symlink(self.fw_path, link_path)
            self.link = link_path
        loop.add_reader(self.m_emu, self._relay, self.m_emu, self.m_fw)
        loop.add_reader(self.m_fw, self._relay, self.m_fw, self.m_emu)

    @staticmethod
    def _relay(src, dst):
        try:
            data = os.read(src, 4096)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            return
        try:
            os.write(dst, data)
        except (BlockingIOError, OSError):
            pass  # nobody reads that side: drop, as a bus with no listener does

    def close(self):
        for fd in (self.m_emu, self.m_fw):
            try:
                self.loop.remove_reader(fd)
            except Exception:  # noqa: BLE001
                pass
        for fd in (self.m_emu, self.s_emu, self.m_fw, self.s_fw):
            try:
                os.close(fd)
            except OSError:
                pass
        if self.link and os.path.islink(self.link):
            os.unlink(self.link)


class Bus:
    """One bus: its units, its server (TCP or pty) and its line pacing."""

    def __init__(self, emu, name, cfg, devices):
        self.emu = emu
        self.name = name
        self.cfg = cfg
        self.kind = cfg.get("kind", "rtu_tcp")
        self.units = {d.unit: d for d in devices}
        self.baud = None       # pacing baud rate, None = instant
        self.serve = None      # "tcp" or "pty"
        self.framer = FramerType.SOCKET if self.kind == "tcp" else FramerType.RTU
        self.host, self.port = "127.0.0.1", None
        self.pty = None
        self.server = None
        self.unknown = collections.Counter()
        self.garbage_rng = random.Random("%s:garbage:%s" % (emu.model.seed, name))

    # -- timing -------------------------------------------------------------

    def wire_time(self, req_bytes, reply_bytes):
        """Seconds an RS485 line at self.baud needs for request + reply, 8N1
        (10 bits a byte), plus one 3.5-character gap (fixed 1.75 ms above
        19200 baud, as the Modbus serial line spec says)."""
        if not self.baud:
            return 0.0
        gap = 3.5 * 10.0 / self.baud if self.baud <= 19200 else 0.00175
        return (req_bytes + reply_bytes) * 10.0 / self.baud + gap

    def rtu_len(self, n):
        """Bytes the same frame takes in RTU (a socket frame's MBAP is 7 bytes
        where RTU has unit + CRC, 3 bytes)."""
        return n - 4 if self.framer == FramerType.SOCKET else n

    # -- answering ----------------------------------------------------------

    async def answer(self, handler, pdu, addr, t_arrival, req_len):
        dev = self.units.get(pdu.dev_id)
        fc = pdu.function_code
        if dev is None:
            self.unknown[pdu.dev_id] += 1
            self.emu.log_request(None, self, pdu, t_arrival, req_len, None)
            return  # an absent unit is silence on a real line
        self.emu.model.advance_to_now()
        gap_ok = (t_arrival - dev.last_frame_t) * 1000.0 >= dev.min_gap_ms
        dev.last_frame_t = t_arrival
        answers = not dev.silent and gap_ok and getattr(dev, "answers", lambda: True)()
        response = None
        if fc not in dev.FCS:
            response = ExceptionResponse(fc, ExcCodes.ILLEGAL_FUNCTION)
            note = "exception 1"
        elif not answers and fc in (5, 6, 15, 16):
            note = "not received (unit silent)"
        else:
            store = _DeviceStore(dev)
            try:
                response = await pdu.datastore_update(store, pdu.dev_id)
            except Exception as exc:  # noqa: BLE001
                log.exception("unit %s: %s", dev.name, exc)
                response = ExceptionResponse(fc, ExcCodes.DEVICE_FAILURE)
            note = store.note
            if isinstance(response, ExceptionResponse):
                note = "exception %d" % response.exception_code
        packet = None
        if answers and response is not None:
            response.transaction_id = pdu.transaction_id
            response.dev_id = pdu.dev_id
            packet = handler.framer.buildFrame(response)
            if dev.garbage:
                packet = self.corrupt(dev, packet)
        self.emu.log_request(dev, self, pdu, t_arrival, req_len, packet, note)
        if packet:
            self.emit(handler, packet, addr, t_arrival, req_len, dev)

    def reply_delay(self, req_len, reply_len, dev):
        """Seconds from a request's arrival to its reply (0 without pacing)."""
        if not self.baud:
            return 0.0
        delay = self.wire_time(self.rtu_len(req_len), self.rtu_len(reply_len))
        return delay + (dev.answer_delay_ms if dev else 0.0) / 1000.0

    def emit(self, handler, packet, addr, t_arrival, req_len, dev):
        wait = t_arrival + self.reply_delay(req_len, len(packet), dev) - time.monotonic()
        if wait > 0:
            asyncio.get_running_loop().call_later(wait, handler.send_packet, packet, addr)
        else:
            handler.send_packet(packet, addr)

    def corrupt(self, dev, packet):
        mode = dev.garbage
        if mode == "mixed":
            mode = ("crc", "truncate", "noise")[dev.garbage_count % 3]
        dev.garbage_count += 1
        rng = self.garbage_rng
        b = bytearray(packet)
        if mode == "truncate":
            return bytes(b[: max(1, len(b) // 2)])
        if mode == "noise":
            return bytes(rng.randrange(256) for _ in b)
        # "crc": one payload bit flipped, the CRC left as it was (for a socket
        # frame, whose MBAP has no CRC, the protocol id is spoiled instead).
        if self.framer == FramerType.SOCKET:
            b[2] ^= 0xA5
        else:  # a data byte (past unit, function, byte count), CRC kept
            i = rng.randrange(min(3, len(b) - 3), len(b) - 2)
            b[i] ^= 1 << rng.randrange(8)
        return bytes(b)

    # -- servers ------------------------------------------------------------

    async def start(self, port_override, force_pty, link_path):
        loop = asyncio.get_running_loop()
        use_pty = force_pty or (self.kind == "uart" and port_override is None)
        if use_pty:
            self.serve = "pty"
            self.pty = PtyLink(loop, link_path)
            self.server = _SerialBusServer(
                self, context=_placeholder_context(), framer=FramerType.RTU,
                port=self.pty.emu_path, baudrate=int(self.cfg.get("baud", 9600)),
                ignore_missing_devices=True)
            await self.server.serve_forever(background=True)
            return
        self.serve = "tcp"
        host = self.cfg.get("host", "127.0.0.1")
        port = self.cfg.get("port", 502)
        if port_override is not None:
            if ":" in str(port_override):
                host, port = str(port_override).rsplit(":", 1)
            else:
                port = port_override
        if host not in ("127.0.0.1", "localhost", "0.0.0.0", "::1", ""):
            log.warning("bus %s: host %s is not local; listening on 127.0.0.1", self.name, host)
            host = "127.0.0.1"
        self.server = _TcpBusServer(self, context=_placeholder_context(), framer=self.framer,
                                    address=(host, int(port)), ignore_missing_devices=True)
        await self.server.serve_forever(background=True)
        sock = self.server.transport.sockets[0]
        self.host, self.port = sock.getsockname()[:2]

    async def stop(self):
        if self.server:
            await self.server.shutdown()
        if self.pty:
            self.pty.close()

    def ready_info(self):
        info = {"kind": self.kind, "serve": self.serve,
                "framer": "socket" if self.framer == FramerType.SOCKET else "rtu",
                "baud_pace": self.baud,
                "units": {str(u): d.name for u, d in sorted(self.units.items())}}
        if self.serve == "pty":
            info.update(pty=self.pty.link or self.pty.fw_path, pty_device=self.pty.fw_path,
                        link=self.pty.link)
        else:
            info.update(host=self.host, port=self.port)
        return info


# ---------------------------------------------------------------------------
# The emulator: config, control channel, lifecycle
# ---------------------------------------------------------------------------


class Emulator:
    MAX_LOG = 2000

    def __init__(self, config, speed=60.0, start_hour=10.0, seed=1):
        self.config = config
        self.model = Model(seed=seed, speed=speed, start_hour=start_hour)
        self.devices = {}
        self.packs = []
        self.buses = {}
        self.writes = []
        self.req_counts = collections.defaultdict(collections.Counter)
        self.req_recent = collections.defaultdict(lambda: collections.deque(maxlen=self.MAX_LOG))
        self.stop_event = asyncio.Event()
        self.control_server = None
        self.control_addr = None
        self._build(config)

    def _build(self, config):
        buses = config.get("buses", {})
        by_bus = collections.defaultdict(list)
        units_seen = set()
        for i, dcfg in enumerate(config.get("devices", [])):
            dcfg = dict(dcfg)
            for k in ("name", "profile", "bus", "unit"):
                if k not in dcfg:
                    raise ValueError("devices[%d]: missing %r" % (i, k))
            if dcfg["profile"] not in PROFILES:
                raise ValueError("devices[%d]: unknown profile %r (known: %s)"
                                 % (i, dcfg["profile"], ", ".join(sorted(PROFILES))))
            if dcfg["bus"] not in buses:
                raise ValueError("devices[%d]: unknown bus %r" % (i, dcfg["bus"]))
            if dcfg["name"] in self.devices:
                raise ValueError("devices[%d]: duplicate name %r" % (i, dcfg["name"]))
            if (dcfg["bus"], int(dcfg["unit"])) in units_seen:
                raise ValueError("devices[%d]: unit %s used twice on bus %s"
                                 % (i, dcfg["unit"], dcfg["bus"]))
            units_seen.add((dcfg["bus"], int(dcfg["unit"])))
            cls = PROFILES[dcfg["profile"]]
            if issubclass(cls, Pack):
                dcfg["_pack_index"] = len(self.packs)
            dev = cls(self, dcfg)
            self.devices[dev.name] = dev
            if isinstance(dev, Pack):
                self.packs.append(dev)
            by_bus[dev.bus].append(dev)
        self.model.n_mppt = max(1, sum(isinstance(d, EpeverTracer) for d in self.devices.values()))
        self.model._step(0.0)
        for name, devs in by_bus.items():
            self.buses[name] = Bus(self, name, buses[name], devs)

    # -- logs -----------------------------------------------------------------

    def log_request(self, dev, bus, pdu, t_arrival, req_len, packet, note=None):
        """Record one request: per-device counts and recent list, and writes.

        "t" is the request's arrival, CLOCK_MONOTONIC seconds (comparable with
        time.monotonic() in another process on Linux); "bytes" the request's
        and reply's RTU sizes (reply 0: no answer); "wire_ms" the paced delay
        from arrival to reply (null when the bus is not paced)."""
        key = dev.name if dev else "%s:%d" % (bus.name, pdu.dev_id)
        fc = pdu.function_code
        t_model = round(self.model.t, 3)
        reply_len = len(packet) if packet else 0
        entry = {"fc": fc, "unit": pdu.dev_id, "addr": pdu.address,
                 "count": pdu.count, "t_model": t_model, "t": round(t_arrival, 4),
                 "answered": bool(packet),
                 "bytes": [bus.rtu_len(req_len), bus.rtu_len(reply_len) if packet else 0],
                 "wire_ms": (round(1000.0 * bus.reply_delay(req_len, reply_len, dev), 3)
                             if bus.baud and packet else None)}
        if note and fc not in (5, 6, 15, 16):
            entry["note"] = note
        self.req_counts[key][fc] += 1
        self.req_recent[key].append(entry)
        if fc in (5, 6, 15, 16):
            values = list(pdu.bits) if fc in (5, 15) else list(pdu.registers)
            w = {"device": key, "unit": pdu.dev_id, "fc": fc, "address": pdu.address,
                 "values": [int(v) for v in values], "t_model": t_model,
                 "t": entry["t"], "answered": bool(packet), "effect": note}
            if isinstance(dev, DseGencomm) and pdu.address == 4104 and values:
                w["key"] = int(values[0])
            self.writes.append(w)
            del self.writes[: -self.MAX_LOG]

    # -- control channel --------------------------------------------------------

    def _device(self, req):
        name = req.get("device")
        if name not in self.devices:
            raise KeyError("unknown device %r (known: %s)" % (name, ", ".join(sorted(self.devices))))
        return self.devices[name]

    def control(self, req):
        cmd = req.get("cmd")
        m = self.model
        m.advance_to_now()
        if cmd == "ping":
            return {"pong": True, "t_model_s": round(m.t, 3)}
        if cmd == "state":
            state = m.snapshot()
            state["devices"] = {}
            for name, d in self.devices.items():
                snap = d.snapshot()
                snap.update(silent=d.silent, garbage=d.garbage, answer_delay_ms=d.answer_delay_ms)
                state["devices"][name] = _jsonable(snap)
            return {"state": state}
        if cmd == "set":
            if req.get("device") is not None:
                self._device(req).set_common(req["key"], req.get("value"))
            else:
                self._set_model(req["key"], req.get("value"))
            return {}
        if cmd == "grid":
            m.set("grid_ok", bool(req.get("ok", True)))
            return {"grid_ok": m.grid_ok}
        if cmd == "silent":
            self._device(req).silent = bool(req.get("on", True))
            return {}
        if cmd == "garbage":
            dev = self._device(req)
            mode = req.get("mode", "crc")
            if mode not in ("crc", "truncate", "noise", "mixed"):
                raise ValueError("garbage mode must be crc, truncate, noise or mixed")
            dev.garbage = mode if req.get("on", True) else None
            return {}
        if cmd == "contact":
            g = m.gen
            g.contact(bool(req.get("run")), bool(req.get("crank")))
            return {"state": g.state}
        if cmd == "gen_fail":
            m.gen.fail_to_start = bool(req.get("on", True))
            return {}
        if cmd == "writes":
            rows = [w for w in self.writes
                    if req.get("device") is None or w["device"] == req["device"]]
            if req.get("clear"):
                self.writes = [w for w in self.writes if w not in rows]
            return {"writes": rows}
        if cmd == "requests":
            keys = [req["device"]] if req.get("device") is not None else sorted(
                set(self.req_counts) | set(self.devices))
            out = {}
            for k in keys:
                counts = self.req_counts.get(k, collections.Counter())
                recent = list(self.req_recent.get(k, ()))
                if req.get("limit") is not None:
                    recent = recent[-int(req["limit"]):] if int(req["limit"]) > 0 else []
                out[k] = {"count": sum(counts.values()),
                          "by_fc": {str(fc): n for fc, n in sorted(counts.items())},
                          "recent": recent}
                if req.get("clear"):
                    self.req_counts.pop(k, None)
                    self.req_recent.pop(k, None)
            return {"requests": out}
        if cmd == "override":
            dev = self._device(req)
            fc = int(req.get("fc", dev.MAIN_FC))
            table = FC_TABLE[fc]
            addr = int(req["address"])
            if req.get("value") is None:
                dev.overrides.pop((table, addr), None)
            else:
                dev.overrides[(table, addr)] = int(req["value"]) & 0xFFFF
            return {}
        if cmd == "pace":  # {"bus": name or null for all, "baud": N or null}
            names = [req["bus"]] if req.get("bus") is not None else list(self.buses)
            for n in names:
                if n not in self.buses:
                    raise KeyError("unknown bus %r (served: %s)" % (n, ", ".join(self.buses)))
                self.buses[n].baud = int(req["baud"]) if req.get("baud") else None
            return {"baud_pace": {n: self.buses[n].baud for n in self.buses}}
        if cmd == "advance":
            m.advance(float(req["seconds"]))
            return {"t_model_s": round(m.t, 3)}
        if cmd == "shutdown":
            asyncio.get_running_loop().call_soon(self.stop_event.set)
            return {}
        raise ValueError("unknown cmd %r" % (cmd,))

    def _set_model(self, key, value):
        if "." in key:
            dev, k = key.split(".", 1)
            self._device({"device": dev}).set_common(k, value)
        else:
            self.model.set(key, value)

    async def _control_conn(self, reader, writer):
        try:
            while True:
                line = await reader.readline()
                if not line:
                    break
                try:
                    req = json.loads(line)
                    if not isinstance(req, dict):
                        raise ValueError("request must be a JSON object")
                    reply = self.control(req)
                    reply = dict(reply, ok=True)
                except Exception as exc:  # noqa: BLE001
                    reply = {"ok": False, "error": "%s: %s" % (type(exc).__name__, exc)}
                writer.write(json.dumps(reply).encode() + b"\n")
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    # -- lifecycle --------------------------------------------------------------

    async def run(self, args):
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self.stop_event.set)
        overrides = dict(_split_pair(o, "--port-override") for o in args.port_override)
        for name in list(overrides) + list(args.pty):
            if name not in self.config.get("buses", {}):
                raise SystemExit("unknown bus %r" % name)
        pace_all, pace = None, {}
        for item in args.baud_pace:
            if "=" in item:
                b, v = _split_pair(item, "--baud-pace")
                pace[b] = int(v)
            else:
                pace_all = int(item)
        for key, value in args.set:
            self._set_model(key, value)
        started = []
        try:
            for name, bus in self.buses.items():
                bus.baud = pace.get(name, pace_all)
                ov = overrides.get(name)
                link = None
                if ov is not None and not str(ov).split(":")[-1].isdigit():
                    link, ov = ov, None  # a path: where the firmware-side pty appears
                    if bus.kind != "uart" and name not in args.pty:
                        raise SystemExit("--port-override %s=%s: a path needs a pty bus"
                                         " (kind uart, or --pty %s)" % (name, link, name))
                try:
                    await bus.start(ov, name in args.pty, link)
                except (OSError, RuntimeError) as exc:
                    raise SystemExit("bus %s: cannot serve: %s" % (name, exc))
                started.append(bus)
            self.control_server = await asyncio.start_server(
                self._control_conn, "127.0.0.1", args.control_port)
            self.control_addr = self.control_server.sockets[0].getsockname()[:2]
            ticker = asyncio.create_task(self._tick())
            ready = {"ready": True, "pid": os.getpid(), "pymodbus": pymodbus.__version__,
                     "speed": self.model.speed,
                     "start_hour": args.start_hour, "seed": self.model.seed,
                     "buses": {n: b.ready_info() for n, b in self.buses.items()},
                     "devices": {n: d.describe() for n, d in self.devices.items()},
                     "answer_delay_ms": {n: d.answer_delay_ms for n, d in self.devices.items()},
                     "control": {"host": self.control_addr[0], "port": self.control_addr[1]}}
            sys.stdout.write(json.dumps(ready) + "\n")
            sys.stdout.flush()
            log.info("ready: %s", json.dumps(ready))
            await self.stop_event.wait()
            ticker.cancel()
        finally:
            if self.control_server:
                self.control_server.close()
            for bus in started:
                try:
                    await bus.stop()
                except Exception as exc:  # noqa: BLE001
                    log.warning("bus %s: stop: %s", bus.name, exc)
        log.info("stopped")

    async def _tick(self):
        while True:
            try:
                self.model.advance_to_now()
                for d in self.devices.values():
                    if isinstance(d, EastronSDM):
                        d.integrate()
            except Exception:  # noqa: BLE001
                log.exception("model step failed")
            await asyncio.sleep(0.05)


def _jsonable(x):
    if isinstance(x, float):
        return round(x, 4)
    if isinstance(x, dict):
        return {k: _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    return x


def _split_pair(text, opt):
    if "=" not in text:
        raise SystemExit("%s wants NAME=VALUE, got %r" % (opt, text))
    a, b = text.split("=", 1)
    return a, b


def _parse_set(text):
    key, raw = _split_pair(text, "--set")
    try:
        return key, json.loads(raw)
    except ValueError:
        return key, raw


def main(argv=None):
    ap = argparse.ArgumentParser(description="Emulate the cabinet's Modbus devices.")
    ap.add_argument("--config", required=True, help="the firmware's config JSON")
    ap.add_argument("--port-override", action="append", default=[], metavar="BUS=PORT")
    ap.add_argument("--speed", type=float, default=60.0, help="model s per real s")
    ap.add_argument("--start-hour", type=float, default=10.0)
    ap.add_argument("--control-port", type=int, default=0)
    ap.add_argument("--pty", action="append", default=[], metavar="BUS")
    ap.add_argument("--baud-pace", action="append", default=[], metavar="[BUS=]BAUD")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--set", action="append", default=[], type=_parse_set, metavar="KEY=JSON")
    ap.add_argument("--verbose", "-v", action="store_true")
    args = ap.parse_args(argv)
    logging.basicConfig(stream=sys.stderr, level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    logging.getLogger("pymodbus").setLevel(logging.DEBUG if args.verbose else logging.WARNING)
    if pymodbus.__version__ != PYMODBUS_VERSION:
        log.warning("pymodbus %s: this emulator was written against %s (it overrides"
                    " ServerRequestHandler internals)", pymodbus.__version__, PYMODBUS_VERSION)
    with open(args.config) as f:
        config = json.load(f)

    async def amain():
        try:
            emu = Emulator(config, speed=args.speed, start_hour=args.start_hour, seed=args.seed)
        except ValueError as exc:
            raise SystemExit("config: %s" % exc)
        await emu.run(args)

    asyncio.run(amain())
    return 0


if __name__ == "__main__":
    sys.exit(main())
