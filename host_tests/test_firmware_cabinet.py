# The firmware, compiled to .mpy and run in the MicroPython unix port at the
# board's heap, polls the emulated cabinet through umodbus's RTU master:
# over RTU-over-TCP (a gateway) and over a pty (the board's UART path).
# Every test runs on both interpreters: the PyPI binary and the board's
# number model (micropython-esp32like: 32-bit ints and floats).
import os
import re
import signal
import subprocess
import sys
import time

import pytest

from rigs import ROOT, Cabinet, Flash, board_heap, example_config, on_both


@pytest.fixture
def cabinet(tmp_path):
    cab = Cabinet(str(tmp_path), speed=0, start_hour=12.0, seed=1)
    yield cab
    cab.close()


def flash_for(tmp_path, cfg, micropython):
    return Flash(tmp_path / "flash", cfg, micropython=micropython)


def check_picture(snap, st):
    dev = st["devices"]
    assert snap["pv_w"] == pytest.approx(dev["mppt1"]["pv_w"], abs=0.011)
    assert snap["batt_v"] == pytest.approx(dev["bms1"]["voltage_v"], abs=0.011)
    assert snap["batt_a"] == pytest.approx(dev["bms1"]["current_a"], abs=0.011)
    assert snap["batt_soc"] == round(dev["bms1"]["soc"])
    assert snap["batt_src"] == "bms"
    assert snap["batt_w"] == pytest.approx(st["batt_w"], rel=1e-3)
    assert snap["grid_ok"] is True
    assert snap["grid_w"] == pytest.approx(dev["meter"]["total_w"], rel=1e-5)
    assert snap["grid_v"] == pytest.approx(dev["meter"]["v"][0], rel=1e-5)
    assert snap["gen_state"] == "stopped"
    assert snap["fuel_pct"] == round(dev["genset"]["fuel_pct"])
    # No load meter at this site: the DC balance gives the load.
    assert snap["load_derived"] is True
    assert snap["load_w"] == pytest.approx(st["load_w"], abs=2.0)
    g = snap["dev"]["genset"]
    assert g["online"] is True and g["run_s"] == dev["genset"]["run_s"]
    assert g["starts"] == dev["genset"]["starts"] and g["mode"] == 1
    assert snap["dev"]["bms1"]["cell01_v"] == pytest.approx(dev["bms1"]["cells_mv"][0] / 1000, abs=0.0011)


@on_both
def test_snapshot_over_rtu_tcp_matches_the_cabinet(tmp_path, cabinet, micropython):
    flash = flash_for(tmp_path, cabinet.cfg, micropython)
    ready, snaps = flash.run_harness(3)
    st = cabinet.emu.state()
    last = snaps[-1]
    assert all(h["online"] for h in last["health"].values()), last["health"]
    check_picture(last["snap"], st)
    # The controller's clock counts from 2000 (Unix seconds only on the wire).
    assert last["snap"]["ts"] + 946684800 == pytest.approx(time.time(), abs=60)


@on_both
def test_snapshot_over_a_pty_uart(tmp_path, micropython):
    cfg = example_config()
    for d in cfg["devices"]:
        d["bus"] = "rs485"
    cab = Cabinet(str(tmp_path), cfg=cfg, speed=0, start_hour=12.0, seed=1)
    try:
        flash = flash_for(tmp_path, cab.cfg, micropython)
        _, snaps = flash.run_harness(3, env={"UART2": cab.pty("rs485")})
        last = snaps[-1]
        assert all(h["online"] for h in last["health"].values()), last["health"]
        check_picture(last["snap"], cab.emu.state())
        reqs = cab.emu.requests()
        assert reqs["bms1"]["count"] >= 3
    finally:
        cab.close()


@on_both
def test_silent_device_goes_offline_without_stalling_the_cycle(tmp_path, cabinet, micropython):
    cabinet.emu.silent("bms1", True)
    flash = flash_for(tmp_path, cabinet.cfg, micropython)
    _, snaps = flash.run_harness(12, period_ms=100)
    timeout_ms = cabinet.cfg["buses"]["gw"].get("timeout_ms", 500)
    # A silent unit costs at most one timeout a cycle, never one per request.
    assert max(s["ms"] for s in snaps) < timeout_ms + 300, [s["ms"] for s in snaps]
    assert snaps[2]["health"]["bms1"]["online"] is False
    # Once offline it is retried with backoff: most cycles pay nothing for it.
    quick = [s["ms"] for s in snaps[3:] if s["ms"] < 150]
    assert len(quick) >= 6, [s["ms"] for s in snaps]
    last = snaps[-1]
    assert last["snap"]["dev"]["bms1"]["online"] is False
    assert last["snap"]["dev"]["bms1"]["soc"] is None
    # The charger's view of the battery stands in for the silent BMS.
    assert last["snap"]["batt_src"] == "mppt"
    assert last["snap"]["batt_v"] == pytest.approx(cabinet.emu.state()["batt_v"], abs=0.011)
    for name in ("mppt1", "meter", "genset"):
        assert last["health"][name]["online"] is True


@on_both
def test_garbage_answers_neither_crash_nor_stall(tmp_path, cabinet, micropython):
    cabinet.emu.garbage("meter", True, mode="mixed")
    flash = flash_for(tmp_path, cabinet.cfg, micropython)
    _, snaps = flash.run_harness(8)
    timeout_ms = cabinet.cfg["buses"]["gw"].get("timeout_ms", 500)
    assert max(s["ms"] for s in snaps) < 2 * timeout_ms + 300
    last = snaps[-1]
    frame_errors = last["health"]["meter"]["err"][2]
    assert frame_errors >= 4, last["health"]["meter"]
    # A corrupted answer is no reading: never a wrong grid figure.
    st = cabinet.emu.state()
    for s in snaps:
        w = s["snap"]["grid_w"]
        assert w is None or w == pytest.approx(st["devices"]["meter"]["total_w"], rel=1e-5)
    for name in ("mppt1", "bms1", "genset"):
        assert last["health"][name]["online"] is True
    # And the meter reads right again once the line is clean.
    cabinet.emu.garbage("meter", False)
    _, snaps = flash.run_harness(2)
    assert snaps[-1]["snap"]["grid_w"] == pytest.approx(st["devices"]["meter"]["total_w"], rel=1e-5)


LINE = re.compile(r"^\d\d:\d\d:\d\d PV \d+W \| BAT [\d.]+V [+-][\d.]+A [+-]\d+W \d+% bms \| "
                  r"LOAD \d+W~ \| GRID ok \d+W \d+V \| GEN stopped .* fuel \d+% \| off: - "
                  r"\| CTL standby auto src (battery|grid|pv) \| SHED - \| ALM 0$")


@on_both
def test_host_run_prints_the_site_picture_each_cycle(tmp_path, cabinet, micropython):
    cfg = dict(cabinet.cfg, poll_s=0.5)
    path = tmp_path / "cfg.json"
    import json
    path.write_text(json.dumps(cfg))
    p = subprocess.Popen([sys.executable, os.path.join(ROOT, "tools", "host_run.py"),
                          "--config", str(path), "--micropython", micropython,
                          "--heap", board_heap(micropython)],
                         stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, text=True)
    lines = []
    try:
        deadline = time.time() + 30
        while len([l for l in lines if LINE.match(l)]) < 3 and time.time() < deadline:
            lines.append(p.stdout.readline().rstrip("\n"))
    finally:
        p.send_signal(signal.SIGTERM)
        out, _ = p.communicate(timeout=10)
    assert len([l for l in lines if LINE.match(l)]) >= 3, lines
    assert "stopped" in out
    assert p.returncode == 0


@on_both
def test_snapshot_over_modbus_tcp(tmp_path, micropython):
    cfg = example_config()
    cfg["buses"]["gw"] = {"kind": "tcp", "host": "127.0.0.1", "port": 502}
    cab = Cabinet(str(tmp_path), cfg=cfg, speed=0, start_hour=12.0, seed=1)
    try:
        assert cab.ready["buses"]["gw"]["framer"] == "socket"
        flash = flash_for(tmp_path, cab.cfg, micropython)
        _, snaps = flash.run_harness(3)
        last = snaps[-1]
        assert all(h["online"] for h in last["health"].values()), last["health"]
        check_picture(last["snap"], cab.emu.state())
    finally:
        cab.close()


@on_both
def test_several_packs_and_a_seplos_head_at_unit_0(tmp_path, micropython):
    cfg = example_config()
    cfg["devices"] = [
        {"name": "mppt1", "profile": "epever_tracer", "bus": "gw", "unit": 1},
        {"name": "p1", "profile": "pace_bms", "bus": "gw", "unit": 3},
        {"name": "p2", "profile": "pace_bms", "bus": "gw", "unit": 4},
        {"name": "sep", "profile": "seplos_v3", "bus": "gw", "unit": 0}]
    cab = Cabinet(str(tmp_path), cfg=cfg, speed=0, start_hour=12.0, seed=1)
    try:
        cab.emu.set("soc_offset", -7, device="p2")
        flash = flash_for(tmp_path, cab.cfg, micropython)
        _, snaps = flash.run_harness(3)
        last = snaps[-1]
        assert all(h["online"] for h in last["health"].values()), last["health"]
        st = cab.emu.state()["devices"]
        snap = last["snap"]
        want_a = st["p1"]["current_a"] + st["p2"]["current_a"] + st["sep"]["current_a"]
        assert snap["batt_a"] == pytest.approx(want_a, abs=0.05)
        assert snap["batt_soc"] == min(round(st["p2"]["soc"]), snap["dev"]["sep"]["soc"])
        assert snap["batt_soc"] < round(st["p1"]["soc"])            # the weakest pack counts
        # The Seplos's capacity counts too (it was left out before it was read).
        assert snap["batt_ah"] == pytest.approx(
            st["p1"]["full_ah"] + st["p2"]["full_ah"] + st["sep"]["full_ah"], abs=0.03)
        sep = snap["dev"]["sep"]
        assert sep["voltage_v"] == pytest.approx(st["sep"]["voltage_v"], abs=0.011)
        assert sep["soc"] == pytest.approx(st["sep"]["soc"], abs=0.05)
        assert sep["max_dis_a"] == st["sep"]["max_discharge_a"]
        assert sep["max_chg_a"] == st["sep"]["max_charge_a"]
    finally:
        cab.close()


@on_both
def test_dse_named_alarms_and_instrumentation_end_to_end(tmp_path, cabinet, micropython):
    # The emulated 7310 MkII answers GenComm's whole page 154 block: a low
    # oil pressure shutdown (alarm 2 of the 72xx/73xx list) is a fault and
    # the operator's alarm by name; indications (code 10) on every other
    # alarm, alarms 21-80 included, are neither.
    codes = {i: 10 for i in range(80)}
    cabinet.emu.set("alarm_codes", codes, device="genset")
    flash = flash_for(tmp_path, cabinet.cfg, micropython)
    _, snaps = flash.run_harness(2)
    last = snaps[-1]
    assert last["snap"]["gen_state"] == "stopped"
    assert not [a for a in last["alarms"] if a.startswith("gen_")]
    g = last["snap"]["dev"]["genset"]
    st = cabinet.emu.state()["devices"]["genset"]
    assert g["model"] == 32840 and g["oil_kpa"] == round(st["oil_kpa"])
    assert g["coolant_c"] == round(st["coolant_c"]) and g["kwh"] == pytest.approx(st["kwh"], abs=0.06)
    assert g["alarms0"] == 0xAAAA and "alarms" not in g
    codes[1] = 3
    cabinet.emu.set("alarm_codes", codes, device="genset")
    _, snaps = flash.run_harness(2)
    last = snaps[-1]
    assert last["snap"]["gen_state"] == "fault"
    assert "gen_low_oil_pressure" in last["alarms"]
    assert not [a for a in last["alarms"] if a.startswith("gen_") and a != "gen_low_oil_pressure"]


@on_both
def test_seplos_stack_head_and_a_400_a_board_end_to_end(tmp_path, micropython):
    cfg = example_config()
    cfg["devices"] = [
        {"name": "mppt1", "profile": "epever_tracer", "bus": "gw", "unit": 1},
        {"name": "head", "profile": "seplos_v3", "bus": "gw", "unit": 0, "stack_head": True},
        {"name": "big", "profile": "seplos_v3", "bus": "gw", "unit": 5, "current_scale": 0.1}]
    cab = Cabinet(str(tmp_path), cfg=cfg, speed=0, start_hour=12.0, seed=1)
    try:
        flash = flash_for(tmp_path, cab.cfg, micropython)
        _, snaps = flash.run_harness(3)
        last = snaps[-1]
        assert all(h["online"] for h in last["health"].values()), last["health"]
        st = cab.emu.state()["devices"]
        head, big = last["snap"]["dev"]["head"], last["snap"]["dev"]["big"]
        assert head["packs"] == 1
        assert head["current_a"] == pytest.approx(st["head"]["current_a"], abs=0.051)
        assert abs(st["big"]["current_a"]) > 1.0      # 10x low would show
        assert big["current_a"] == pytest.approx(st["big"]["current_a"], abs=0.051)
        assert head["full_ah"] == pytest.approx(st["head"]["full_ah"], abs=0.011)
        assert last["snap"]["batt_ah"] == pytest.approx(st["head"]["full_ah"] + st["big"]["full_ah"],
                                                        abs=0.03)
        assert head["cell_tmax_c"] == pytest.approx(max(st["head"]["cell_temps_c"]), abs=0.051)
        assert big["cell_tmax_c"] == pytest.approx(max(st["big"]["cell_temps_c"]), abs=0.051)
        assert big["soh"] == pytest.approx(st["big"]["soh"], abs=0.051)
        assert last["snap"]["batt_protect"] is False and "bms_protect" not in last["alarms"]
        # The head's event bits (EIC, FC01 at 0x2200): a cell under-voltage
        # protection (TB02 bit 3) is the site's BMS protection.
        cab.emu.set("protection", 2, device="head")      # the pack model's cell UV flag
        _, snaps = flash.run_harness(2)
        last = snaps[-1]
        assert last["snap"]["batt_protect"] is True and "bms_protect" in last["alarms"]
        assert last["snap"]["batt_no_charge"] is False
    finally:
        cab.close()
