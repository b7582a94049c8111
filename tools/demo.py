#!/usr/bin/env python3
"""The product's main job on the host: the firmware in the MicroPython unix
port reads an emulated PV-storage-diesel cabinet over Modbus RTU, decides,
and its decisions move the emulated site; this prints what it reads and
decides each cycle, what that does to the site, and what the operator's
side receives.

Starts mosquitto on a free port, the cabinet emulator and the firmware
through tools/host_run.py (its ROMFS layout, the board's heap) with
tools/configs/demo.json (short generator timers: the firmware's timers run
in real seconds while the emulator compresses site time). The firmware's
output pins reach the emulator as on the board's wiring: the grid input
contactor, the rectifiers' charge enable and the sheddable load's
contactor. The story, in model time (each phase says what it shows):

  day off grid    from --start-hour (14:00): PV carries the site and charges
  night off grid  the battery falls; the air conditioner is shed; the diesel
                  is started by DSE keys, warms up, carries and charges, and
                  stops for its reason; the load comes back
  grid back       at --grid-hour (05:00), off-peak: the grid charges the
                  battery to dispatch.grid_charge_soc, then carries the load
                  only; once PV carries the load its input contactor opens

and a summary. The shedding and the start (their delays are real seconds)
run at --event-speed, the rest at --speed. A paho-mqtt client stands for
the operator and prints a [noc] line for each event and, every 10 s, the
latest telemetry. Stops everything it started at the end or on Ctrl-C.

    python3 tools/demo.py [--seconds 300] [--speed 720] [--event-speed 360]
                          [--start-hour 14] [--grid-hour 5] [--heap 200k]
"""
import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)

import paho.mqtt.client as mqtt  # noqa: E402

from broker import Broker  # noqa: E402
from emulator_client import EmulatorClient, PinFollower, start_emulator, stop_emulator  # noqa: E402

DEMO = os.path.join(HERE, "configs", "demo.json")

# The emulated site (the emulator's model parameters): 6 kWp of PV, a 1.6 kW
# DC load of which the air conditioner's 400 W is on a sheddable contactor,
# 48 V 400 Ah, a 6 kW rectifier charging at up to 100 A, an 8 kW genset
# whose own sequence is short.
SITE = {"pv_peak_w": 6000, "load_base_w": 1600, "load_swing_w": 200, "sheddable_w": 400,
        "capacity_ah": 400, "charge_limit_a": 100, "rect_max_w": 7000,
        "gen_rated_kw": 8, "gen_start_delay_s": 5, "gen_warm_s": 30, "gen_cool_s": 60}
START_SOC = 55          # the battery at --start-hour
LOCAL_CLOCK = 23 * 60   # the firmware's local time at its start: off-peak (demo.json's tou)


_OUT = threading.Lock()


def out(line):
    # One write a line: the firmware's console, the operator and the demo
    # print from three threads.
    with _OUT:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


def say(msg):
    out("[demo] " + msg)


def hhmm(hour):
    return "%02d:%02d" % (int(hour) % 24, int(hour % 1 * 60))


class Noc:
    """The operator's side: what the broker received from the site."""

    def __init__(self, port, prefix, site):
        self.base = "%s/%s/" % (prefix, site)
        self.last = None
        self.state = None
        self.n = 0
        self.c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="demo-noc")
        self.c.on_message = self._msg
        self.c.connect("127.0.0.1", port)
        self.c.subscribe(self.base + "#", qos=1)
        self.c.loop_start()

    def _msg(self, _c, _u, m):
        sub = m.topic[len(self.base):]
        text = m.payload.decode(errors="replace")
        if sub == "telemetry":
            self.n += 1
            self.last = text
        elif sub == "state":
            self.state = text
        elif sub in ("event", "status"):
            out("[noc] %s: %s" % (sub, text))

    def summary(self):
        if self.last is None:
            out("[noc] no telemetry yet")
            return
        t = json.loads(self.last)

        def n(k):
            return "-" if t.get(k) is None else "%.0f" % t[k]
        out("[noc] %d telemetry records; last: seq %s, SOC %s %%, PV %s W, load %s W, "
            "generator %s, grid %s" % (self.n, t.get("seq"), n("batt_soc"), n("pv_w"),
                                       n("load_w"), t.get("gen_ctl"),
                                       "ok" if t.get("grid_ok") else "lost"))

    def close(self):
        self.c.loop_stop()
        self.c.disconnect()


class Wiring:
    """The firmware's output pins (the pin twin's file) wired to the
    emulated cabinet (emulator_client.PinFollower, as the lever tests): each
    change is set in the emulator and said in a [demo] line."""

    def __init__(self, ctl, path, dcfg, loads):
        self.ctl = EmulatorClient(ctl["host"], ctl["port"])
        self.path = path
        self.w = {}         # pin -> (model key, active level, what, closed text, open text)
        if dcfg.get("grid_pin") is not None:
            self.w[dcfg["grid_pin"]] = ("grid_input", int(dcfg.get("grid_pin_active_high", True)),
                                        "grid input contactor", "closed", "OPEN")
        if dcfg.get("grid_charge_pin") is not None:
            self.w[dcfg["grid_charge_pin"]] = (
                "grid_charge", int(dcfg.get("grid_charge_pin_active_high", True)),
                "rectifier charge enable", "on", "OFF")
        for l in loads:     # the emulator has one sheddable load: the first
            self.w[l["pin"]] = ("sheddable_on", int(l.get("active_high", True)),
                                "%s contactor" % l["name"], "closed", "OPEN")
            break
        self.level = {}
        self.changes = []       # (model hour, key, on)
        self.lock = threading.Lock()
        self.pins = PinFollower(path, self._change)

    def _change(self, pin, level):
        if pin not in self.w or self.level.get(pin) == level:
            return
        first = pin not in self.level
        self.level[pin] = level
        key, active, what, on_text, off_text = self.w[pin]
        on = level == active
        with self.lock:
            self.ctl.set(key, on)
            hour = self.ctl.state()["hour"]
        self.changes.append((hour, key, on))
        if not first or not on:
            say("%s pin %d -> %d: %s %s" % (hhmm(hour), pin, level, what,
                                            on_text if on else off_text))

    def close(self):
        self.pins.close()
        self.ctl.close()


class FirmwareOut:
    """The firmware's console, printed as it comes, its EVENT lines kept."""

    def __init__(self, proc):
        self.p = proc
        self.events = []
        self.last_line = None
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.p.stdout:
            line = line.rstrip("\n")
            out(line)
            if line.startswith("EVENT "):
                self.events.append(line[6:])
            elif " PV " in line and "| CTL " in line:
                self.last_line = line

    def seen(self, text):
        return any(text in e for e in self.events)


class Watch:
    """What the site did, from the emulator's state sampled by the demo."""

    def __init__(self):
        self.min_soc = 100.0
        self.max_soc = 0.0
        self.grid_max_w = 0.0           # grid import while charging off-peak
        self.grid_load_only = None      # grid import with the charge enable off
        self.grid_open_batt_a = None    # the battery while the grid input is open
        self.gen_max_w = 0.0
        self.night_batt_a = 0.0
        self.shed_model_s = 0.0
        self._shed_t = None
        self.first = self.last = None

    def see(self, st):
        if self.first is None:
            self.first = st
        self.last = st
        self.min_soc = min(self.min_soc, st["soc"])
        self.max_soc = max(self.max_soc, st["soc"])
        self.gen_max_w = max(self.gen_max_w, st["gen"]["ac_w"])
        if not st["grid_ok"] and st["source"] is None:
            self.night_batt_a = min(self.night_batt_a, st["batt_a"])
        if st["grid_ok"] and st["grid_input"]:
            if st["grid_charge"]:
                self.grid_max_w = max(self.grid_max_w, st["grid_ac_w"])
            elif st["batt_a"] < 5:
                self.grid_load_only = max(self.grid_load_only or 0, st["grid_ac_w"])
        if st["grid_ok"] and not st["grid_input"]:
            self.grid_open_batt_a = (st["grid_ac_w"], st["batt_a"], st["pv_w"], st["load_w"])
        if not st["sheddable_on"]:
            if self._shed_t is not None:
                self.shed_model_s += st["t_model_s"] - self._shed_t
            self._shed_t = st["t_model_s"]
        else:
            self._shed_t = None


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=300,
                    help="the longest the run may take (real seconds); it ends earlier "
                         "when the story is told")
    ap.add_argument("--speed", type=float, default=720,
                    help="model seconds per real second between the events")
    ap.add_argument("--event-speed", type=float, default=360,
                    help="model seconds per real second while the load is shed and the "
                         "diesel starts (the firmware's delays are real seconds)")
    ap.add_argument("--start-hour", type=float, default=14.0, help="model time at the start")
    ap.add_argument("--grid-hour", type=float, default=5.0,
                    help="model hour the grid comes back, after the night")
    ap.add_argument("--heap", help="default: the board's (host_run.board_heap)")
    args = ap.parse_args(argv)

    work = tempfile.mkdtemp(prefix="demo-")
    broker = emu_proc = fw = wiring = noc = emu = None
    t0 = time.time()
    try:
        try:
            broker = Broker()
        except AssertionError as e:     # not installed, or it would not start
            sys.exit("demo: mosquitto: %s" % e)
        mqtt_port = broker.port
        emu_proc, ready = start_emulator(DEMO, port_overrides={"gw": 0}, speed=args.speed,
                                         start_hour=args.start_hour, seed=1, sets=SITE)
        ctl = ready["control"]
        emu = EmulatorClient(ctl["host"], ctl["port"])
        emu.set("soc", START_SOC)
        emu.grid(False)
        with open(DEMO) as f:
            cfg = json.load(f)
        cfg["buses"]["gw"]["port"] = ready["buses"]["gw"]["port"]
        cfg["mqtt"]["port"] = mqtt_port
        # The firmware's clock is the PC's, in real seconds: its local time
        # is set to off-peak for the whole run (the grid's stretch).
        g = time.gmtime()
        off = (LOCAL_CLOCK - (g.tm_hour * 60 + g.tm_min)) % 1440
        cfg["utc_offset_min"] = off - 1440 if off > 840 else off
        cfg_path = os.path.join(work, "config.json")
        with open(cfg_path, "w") as f:
            json.dump(cfg, f)
        say("broker on 127.0.0.1:%d, cabinet emulator on 127.0.0.1:%d (RTU over TCP), "
            "model time x%g from %s (x%g while the load is shed and the diesel starts)"
            % (mqtt_port, cfg["buses"]["gw"]["port"], args.speed, hhmm(args.start_hour),
               args.event_speed))
        d, gcfg, load = cfg["dispatch"], cfg["generator"], cfg["loads"][0]
        say("site: %g kWp PV, %g W DC load (%s %g W of it sheddable), %g Ah battery, "
            "%g kW diesel; config %s: diesel at %g %% SOC until %g %% (in a grid outage at %g %% "
            "until %g %%: the grid, back, charges the rest), %s shed under %g %%, "
            "back over %g %%; grid charging to %g %% off-peak; pins: grid input %d, "
            "charge enable %d, %s %d" % (
                SITE["pv_peak_w"] / 1000, SITE["load_base_w"], load["name"], SITE["sheddable_w"],
                SITE["capacity_ah"], SITE["gen_rated_kw"], os.path.relpath(DEMO, ROOT),
                gcfg["start_soc"], gcfg["stop_soc"], gcfg["outage_start_soc"],
                gcfg["outage_stop_soc"], load["name"], load["shed_soc"],
                load["restore_soc"], d["grid_charge_soc"], d["grid_pin"], d["grid_charge_pin"],
                load["name"], load["pin"]))
        say("the firmware's timers run in real seconds and its clock is the PC's: its local "
            "time is set to %s (utc_offset_min %d), in the off-peak window, for the whole run"
            % (hhmm(LOCAL_CLOCK / 60), cfg["utc_offset_min"]))
        pins = os.path.join(work, "pins.log")
        wiring = Wiring(ctl, pins, d, cfg["loads"])
        fw = subprocess.Popen([sys.executable, "-u", os.path.join(HERE, "host_run.py"),
                               "--config", cfg_path, "--pins-file", pins]
                              + (["--heap", args.heap] if args.heap else []),
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        fwo = FirmwareOut(fw)
        noc = Noc(mqtt_port, cfg["mqtt"]["prefix"], cfg["site_id"])
        watch = Watch()
        st0 = emu.state()
        watch.see(st0)
        say("day off grid: from %s, no grid; PV carries the load and charges the battery "
            "(SOC %.0f %%)" % (hhmm(st0["hour"]), st0["soc"]))
        phase = "day"
        slow = carrying = stopped = False
        t_open = time.time()
        next_note = time.time() + 10
        day0 = st0["day"]
        while time.time() - t0 < args.seconds and fw.poll() is None:
            time.sleep(0.2)
            st = emu.state()
            watch.see(st)
            h = st["hour"]
            night = st["sun"] == 0
            if phase == "day" and night:
                phase = "night"
                say("night off grid: %s, sunset; the battery carries %.0f W (SOC %.0f %%); "
                    "%s goes under %g %%, the diesel starts under %g %%" % (
                        hhmm(h), st["load_w"], st["soc"], load["name"], load["shed_soc"],
                        gcfg["outage_start_soc"]))
            if not slow and not fwo.seen("gen warmup -> running") and st["batt_a"] < 0 \
                    and st["soc"] < load["shed_soc"] + 2 and not st["grid_ok"]:
                slow = True
                emu.set("speed", args.event_speed)
                say("%s SOC %.0f %%: the model slows to x%g for the shedding and the start"
                    % (hhmm(h), st["soc"], args.event_speed))
            if not carrying and fwo.seen("gen warmup -> running"):
                carrying = True
                say("%s the diesel carries %.1f kW: the %.0f W load and %+.0f A into the "
                    "battery (SOC %.0f %%)" % (hhmm(h), st["gen"]["ac_w"] / 1000, st["load_w"],
                                               st["batt_a"], st["soc"]))
            if slow and (fwo.seen("load %s restored" % load["name"])
                         or fwo.seen("gen running -> cooldown")):
                slow = False
                emu.set("speed", args.speed)
                say("%s the model at x%g again" % (hhmm(h), args.speed))
            if not stopped and fwo.seen("gen stopping -> standby"):
                stopped = True
                why = [e for e in fwo.events if "running -> cooldown" in e]
                say("%s the diesel stopped (%s), SOC %.0f %%, %s; the rest of the night on "
                    "the battery" % (hhmm(h), why[-1].split("(")[-1].rstrip(")") if why else "?",
                                     st["soc"], "%s %s" % (load["name"], "back on" if
                                                           st["sheddable_on"] else "still off")))
            if phase in ("day", "night") and st["day"] > day0 and args.grid_hour <= h < 12 \
                    and not slow:
                phase = "grid"
                emu.grid(True)
                say("grid back: %s, off-peak; SOC %.0f %%, under dispatch.grid_charge_soc %g %%: "
                    "the grid carries the load and charges the battery" % (
                        hhmm(h), st["soc"], d["grid_charge_soc"]))
            if phase == "grid" and not st["grid_input"] and time.time() > t_open + 5:
                break
            if phase == "grid" and st["grid_input"]:
                t_open = time.time()
            if time.time() >= next_note:
                say("model time %s, true SOC %.1f%%, PV %.0f W, load %.0f W, battery %+.0f A, "
                    "grid %.0f W, genset %s %.0f W" % (
                        hhmm(h), st["soc"], st["pv_w"], st["load_w"], st["batt_a"],
                        st["grid_ac_w"], st["gen"]["state"], st["gen"]["ac_w"]))
                noc.summary()
                next_note += 10
        time.sleep(1.5)         # the last telemetry and state reach the operator
        noc.summary()
        summary(watch, fwo, noc, wiring, d, time.time() - t0,
                [w for w in emu.writes() if w.get("key")])
        rc = fw.poll()
        if rc is not None and rc != 0:
            say("firmware exited with %s" % rc)
            return rc
        return 0
    except KeyboardInterrupt:
        return 0
    finally:
        if fw is not None and fw.poll() is None:
            fw.send_signal(signal.SIGTERM)
            try:
                fw.wait(timeout=10)
            except subprocess.TimeoutExpired:
                fw.kill()
        for x in (wiring, noc, emu):
            if x is not None:
                try:
                    x.close()
                except Exception:  # noqa: BLE001
                    pass
        if emu_proc is not None:
            stop_emulator(emu_proc)
        if broker is not None:
            broker.stop()
        say("stopped the firmware, the emulator and the broker")


def summary(w, out, noc, wiring, d, took, keys):
    a, b = w.first, w.last
    ga, gb = a["gen"], b["gen"]
    say("summary (%.0f s, model %s day %d to %s day %d):" % (
        took, hhmm(a["hour"]), a["day"], hhmm(b["hour"]), b["day"]))
    starts = [e for e in out.events if "-> cranking" in e]
    stops = [e for e in out.events if "running -> cooldown" in e]
    say("  diesel: %d start(s) by DSE keys (%s), stopped: %s; the genset ran %.1f h, "
        "%.1f l burned, up to %.1f kW" % (
            gb["starts"] - ga["starts"], "; ".join(e.split("(")[-1].rstrip(")") for e in starts)
            or "-", "; ".join(e.split("(")[-1].rstrip(")") for e in stops) or "-",
            (gb["run_s"] - ga["run_s"]) / 3600, a["fuel_l"] - b["fuel_l"], w.gen_max_w / 1000))
    say("  DSE keys the genset received: %s" % (", ".join(
        "%d (%s)" % (k["key"], k.get("effect")) for k in keys) or "none"))
    sheds = [e for e in out.events if e.startswith("load ")]
    say("  load shedding: %s; shed %.0f min of site time" % (
        "; ".join(sheds) or "none", w.shed_model_s / 60))
    say("  battery: SOC %.0f %% at the start, down to %.0f %% (discharging at up to %.0f A "
        "off grid), up to %.0f %%, %.0f %% at the end" % (
            a["soc"], w.min_soc, max(0.0, -w.night_batt_a), w.max_soc, b["soc"]))
    flows = []
    if w.grid_max_w:
        flows.append("off-peak charging: the grid imported up to %.0f W" % w.grid_max_w)
    if w.grid_load_only is not None:
        flows.append("charge enable off at %g %%: the grid carried the load only, %.0f W"
                     % (d["grid_charge_soc"], w.grid_load_only))
    if w.grid_open_batt_a is not None:
        gw, ba, pv, lw = w.grid_open_batt_a
        flows.append("grid input open: grid meter %.0f W, PV %.0f W for a %.0f W load, "
                     "battery %+.0f A" % (gw, pv, lw, ba))
    say("  grid: %s" % ("; ".join(flows) or "no grid stretch in this run"))
    say("  pins: %d changes (%s)" % (len(wiring.changes), ", ".join(
        "%s %s %s" % (hhmm(h), k, "on" if on else "off") for h, k, on in wiring.changes[-8:])))
    if noc.state:
        s = json.loads(noc.state)
        say("  the firmware's own counters (MQTT state; its clock is real time, so its "
            "litres and shed minutes are of the real run): "
            "the genset's %s starts and %s h run (its own counters), %.2f l, shed %.1f min"
            % (s.get("gen_starts"), s.get("gen_run_h"), s.get("diesel_l") or 0,
               s.get("shed_min") or 0))


if __name__ == "__main__":
    sys.exit(main())
