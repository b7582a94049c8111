"""The Emulator: devices and buses from the site config, the JSON control
channel (Emulator.COMMANDS, a handler a command) and the lifecycle; what
the buses carried is logged by traffic.py."""
import asyncio
import collections
import json
import logging
import os
import signal
import sys

import pymodbus

from emulator.devices import PROFILES
from emulator.devices.epever_tracer import EpeverTracer
from emulator.devices.pack import Pack
from emulator.model import Model
from emulator.registers import FC_TABLE
from emulator.servers import Bus
from emulator.traffic import Traffic

log = logging.getLogger(__name__)


class Emulator:
    """The site's devices on their buses, over one model, scripted through
    the control channel."""

    def __init__(self, config, speed=60.0, start_hour=10.0, seed=1):
        self.config = config
        self.start_hour = start_hour
        self.model = Model(seed=seed, speed=speed, start_hour=start_hour)
        self.devices = {}
        self.packs = []
        self.buses = {}
        self.traffic = Traffic(self.model)
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

    # -- control channel --------------------------------------------------------

    def control(self, req):
        """Carry out one control request; its reply (without "ok")."""
        self.model.advance_to_now()
        cmd = req.get("cmd")
        handler = self.COMMANDS.get(cmd) if isinstance(cmd, str) else None
        if handler is None:
            raise ValueError("unknown cmd %r" % (cmd,))
        return handler(self, req)

    def _device(self, req):
        name = req.get("device")
        if name not in self.devices:
            raise KeyError("unknown device %r (known: %s)" % (name, ", ".join(sorted(self.devices))))
        return self.devices[name]

    def cmd_ping(self, req):
        return {"pong": True, "t_model_s": round(self.model.t, 3)}

    def cmd_state(self, req):
        state = self.model.snapshot()
        state["devices"] = {}
        for name, d in self.devices.items():
            snap = d.snapshot()
            snap.update(silent=d.silent, garbage=d.garbage, answer_delay_ms=d.answer_delay_ms)
            state["devices"][name] = _jsonable(snap)
        return {"state": state}

    def cmd_set(self, req):
        if req.get("device") is not None:
            self._device(req).set_common(req["key"], req.get("value"))
        else:
            self._set_model(req["key"], req.get("value"))
        return {}

    def cmd_grid(self, req):
        self.model.set("grid_ok", bool(req.get("ok", True)))
        return {"grid_ok": self.model.grid_ok}

    def cmd_silent(self, req):
        self._device(req).silent = bool(req.get("on", True))
        return {}

    def cmd_garbage(self, req):
        dev = self._device(req)
        mode = req.get("mode", "crc")
        if mode not in ("crc", "truncate", "noise", "mixed"):
            raise ValueError("garbage mode must be crc, truncate, noise or mixed")
        dev.garbage = mode if req.get("on", True) else None
        return {}

    def cmd_contact(self, req):
        g = self.model.gen
        g.contact(bool(req.get("run")), bool(req.get("crank")))
        return {"state": g.state}

    def cmd_gen_fail(self, req):
        self.model.gen.fail_to_start = bool(req.get("on", True))
        return {}

    def cmd_writes(self, req):
        return {"writes": self.traffic.take_writes(req.get("device"), req.get("clear"))}

    def cmd_requests(self, req):
        keys = [req["device"]] if req.get("device") is not None else sorted(
            set(self.traffic.counts) | set(self.devices))
        return {"requests": self.traffic.take_requests(keys, req.get("clear"), req.get("limit"))}

    def cmd_override(self, req):
        dev = self._device(req)
        table = FC_TABLE[int(req.get("fc", dev.MAIN_FC))]
        addr = int(req["address"])
        if req.get("value") is None:
            dev.overrides.pop((table, addr), None)
        else:
            dev.overrides[(table, addr)] = int(req["value"]) & 0xFFFF
        return {}

    def cmd_pace(self, req):
        """{"bus": a name, or null for all, "baud": N, or null for no pacing}"""
        names = [req["bus"]] if req.get("bus") is not None else list(self.buses)
        for n in names:
            if n not in self.buses:
                raise KeyError("unknown bus %r (served: %s)" % (n, ", ".join(self.buses)))
            self.buses[n].baud = int(req["baud"]) if req.get("baud") else None
        return {"baud_pace": {n: self.buses[n].baud for n in self.buses}}

    def cmd_advance(self, req):
        self.model.advance(float(req["seconds"]))
        return {"t_model_s": round(self.model.t, 3)}

    def cmd_shutdown(self, req):
        asyncio.get_running_loop().call_soon(self.stop_event.set)
        return {}

    # The control channel's commands (tools/cabinet_emulator.py's docstring).
    COMMANDS = {
        "ping": cmd_ping,
        "state": cmd_state,
        "set": cmd_set,
        "grid": cmd_grid,
        "silent": cmd_silent,
        "garbage": cmd_garbage,
        "contact": cmd_contact,
        "gen_fail": cmd_gen_fail,
        "writes": cmd_writes,
        "requests": cmd_requests,
        "override": cmd_override,
        "pace": cmd_pace,
        "advance": cmd_advance,
        "shutdown": cmd_shutdown,
    }

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

    async def run(self, ports=None, ptys=(), pace=None, sets=(), control_port=0):
        """Serve every bus and the control channel until stopped.

        ports: {bus: TCP port, "HOST:PORT", or a path where the
        firmware-side pty appears}; ptys: buses served on a pty whatever
        their kind; pace: {bus: baud}, the key None for every other bus;
        sets: (key, value) pairs as the control channel's "set" takes them.
        """
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self.stop_event.set)
        ports = ports or {}
        pace = pace or {}
        for name in list(ports) + list(ptys):
            if name not in self.config.get("buses", {}):
                raise SystemExit("unknown bus %r" % name)
        for key, value in sets:
            self._set_model(key, value)
        started = []
        try:
            for name, bus in self.buses.items():
                bus.baud = pace.get(name, pace.get(None))
                ov = ports.get(name)
                link = None
                if ov is not None and not str(ov).split(":")[-1].isdigit():
                    link, ov = ov, None  # a path: where the firmware-side pty appears
                    if bus.kind != "uart" and name not in ptys:
                        raise SystemExit("--port-override %s=%s: a path needs a pty bus"
                                         " (kind uart, or --pty %s)" % (name, link, name))
                try:
                    await bus.start(ov, name in ptys, link)
                except (OSError, RuntimeError) as exc:
                    raise SystemExit("bus %s: cannot serve: %s" % (name, exc))
                started.append(bus)
            self.control_server = await asyncio.start_server(
                self._control_conn, "127.0.0.1", control_port)
            self.control_addr = self.control_server.sockets[0].getsockname()[:2]
            ticker = asyncio.create_task(self._tick())
            ready = {"ready": True, "pid": os.getpid(), "pymodbus": pymodbus.__version__,
                     "speed": self.model.speed,
                     "start_hour": self.start_hour, "seed": self.model.seed,
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
