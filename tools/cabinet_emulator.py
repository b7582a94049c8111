#!/usr/bin/env python3
"""Cabinet emulator: the site's Modbus devices, with their real register maps,
over a small physical model that runs in compressible time.

Host-side (CPython + asyncio + pymodbus 3.16.1); the package tools/emulator/
(its __init__ lists the modules). The registers the firmware reads are
encoded from the firmware's own profiles (firmware/profiles/, through the
inverse of firmware/decode.py), so a profile change moves the emulator with
it; the rest of each map is written from /work/shared/devices.md.
host_tests/test_emulator.py decodes them again from devices.md: that second
reading checks the profiles. Tests start and script it through
tools/emulator_client.py (stdlib only).

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
        fault ("split": each answer in two pieces 30 ms apart, "wrong_unit":
        answers from the next unit, "exception": reads answer exception 4,
        "every_other": every other request unanswered, "": none),
        and per profile: epever load_on, charger_fault (bits OR'd into 0x3201),
        long_read_max (longer FC04 reads of 0x31xx answer exception 2, as an LS-B);
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
import json
import logging
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
# The emulator's register maps come from the firmware's profiles.
for _p in (HERE, os.path.dirname(HERE)):
    if _p not in sys.path:
        sys.path.insert(0, _p)

import pymodbus  # noqa: E402

from emulator.control import Emulator  # noqa: E402
from emulator.servers import PYMODBUS_VERSION  # noqa: E402

log = logging.getLogger("cabinet_emulator")


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


def _pace(items):
    """--baud-pace values as {bus: baud}; a bare BAUD is every bus's (key None)."""
    pace = {}
    for item in items:
        if "=" in item:
            b, v = _split_pair(item, "--baud-pace")
            pace[b] = int(v)
        else:
            pace[None] = int(item)
    return pace


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
        ports = dict(_split_pair(o, "--port-override") for o in args.port_override)
        await emu.run(ports=ports, ptys=args.pty, pace=_pace(args.baud_pace), sets=args.set,
                      control_port=args.control_port)

    asyncio.run(amain())
    return 0


if __name__ == "__main__":
    sys.exit(main())
