# End to end with the emulator, the firmware in the unix port (main.py via
# tools/host_run.py): SOC below start_soc -> after the delay the DSE
# remote-start key pair goes to 4104/4105 -> the emulated genset runs -> SOC
# at stop_soc -> the cancel key after min_run_s, then cool-down; and the
# same with the relay actuator on the pin twin. The DSE run and the lockout
# across a reboot also run on the board's number model (esp32like), at the
# board's heap in each (rigs.board_heap: 200k on PyPI's, 110k there).
import os
import time

from rigs import EMU_GEN, Cabinet, Firmware, board_heap, fw_config, on_both


@on_both
def test_dse_keys_start_and_stop_the_emulated_genset(tmp_path, micropython):
    cab = Cabinet(str(tmp_path), speed=1, start_hour=20.0, seed=1, sets=EMU_GEN)
    fw = None
    try:
        cab.emu.grid(False)
        cab.emu.set("soc", 60)
        fw = Firmware(str(tmp_path), fw_config(cab), micropython=micropython,
                      heap=board_heap(micropython))
        assert fw.wait_for("CTL standby", 30), "\n".join(fw.lines[-20:])
        cab.emu.set("soc", 15)          # in an outage: under outage_start_soc (20)
        t_low = time.time()
        assert fw.wait_for("EVENT gen standby -> start_delay (soc)", 10), "\n".join(fw.lines[-20:])
        assert fw.wait_for("EVENT gen start_delay -> cranking (soc)", 10), "\n".join(fw.lines[-20:])
        assert time.time() - t_low >= 2.5           # start_delay_s = 3
        assert fw.wait_for("EVENT gen warmup -> running", 20), "\n".join(fw.lines[-30:])
        st = cab.emu.state()
        assert st["gen"]["state"] == "running" and st["source"] == "gen"
        starts = [w for w in cab.emu.writes() if w.get("key")]
        assert len(starts) == 1
        w = starts[0]
        assert w["fc"] == 16 and w["address"] == 4104 and w["values"] == [35732, 65535 - 35732]
        assert w["effect"] == "telemetry start" and w["answered"]
        assert any("GEN running" in l and "CTL running(soc)" in l for l in fw.lines)
        t_run = time.time()
        cab.emu.set("soc", 95)
        assert fw.wait_for("EVENT gen running -> cooldown (reasons_cleared)", 20), "\n".join(fw.lines[-30:])
        assert time.time() - t_run >= 8 - 3            # min_run_s counts from running confirmed
        assert fw.wait_for("EVENT gen stopping -> standby", 30), "\n".join(fw.lines[-30:])
        keys = [w["key"] for w in cab.emu.writes() if w.get("key")]
        assert keys == [35732, 35733]
        assert cab.emu.state()["gen"]["state"] == "stopped"
    finally:
        if fw:
            fw.stop()
        cab.close()


def test_relay_actuator_cranks_and_stops_the_genset(tmp_path):
    cab = Cabinet(str(tmp_path), speed=1, start_hour=20.0, seed=1,
                  sets={"gen_crank_fire_s": 1, "gen_warm_s": 1})
    pins = str(tmp_path / "pins.log")
    fw = None
    follower = None
    try:
        from emulator_client import EmulatorClient, PinFollower
        ctl = cab.ready["control"]
        cab_ctl = EmulatorClient(ctl["host"], ctl["port"])
        cab.emu.grid(False)
        cab.emu.set("soc", 15)          # under outage_start_soc (20)
        # The pin twin's relay contacts, wired to the emulated engine.
        contacts = {5: 0, 18: 0}

        def wire(pin, level):
            contacts[pin] = level
            cab_ctl.contact(run=contacts[18], crank=contacts[5])
        follower = PinFollower(pins, wire)
        fw = Firmware(str(tmp_path), fw_config(cab, control="relay", relay_pin=5, run_pin=18,
                                              crank_s=4, crank_rest_s=2), pins_file=pins)
        assert fw.wait_for("EVENT gen start_delay -> cranking (soc)", 30), "\n".join(fw.lines[-20:])
        assert fw.wait_for("EVENT gen warmup -> running", 20), "\n".join(fw.lines[-30:])
        with open(pins) as f:
            log = f.read().split("\n")
        assert "5 1" in log and "18 1" in log and "5 0" in log      # crank released once it caught
        assert cab.emu.state()["gen"]["state"] == "running"
        cab.emu.set("soc", 95)
        assert fw.wait_for("EVENT gen stopping -> standby", 40), "\n".join(fw.lines[-30:])
        with open(pins) as f:
            assert f.read().split("\n")[-2] == "18 0"            # fuel/run contact opened
        assert cab.emu.state()["gen"]["state"] == "stopped"
        assert [w for w in cab.emu.writes() if w.get("key")] == []   # no keys in relay mode
    finally:
        if follower:
            follower.close()
        if fw:
            fw.stop()
        cab.close()


@on_both
def test_lockout_and_counters_survive_a_reboot(tmp_path, micropython):
    sets = dict(EMU_GEN, gen_crank_s=1, gen_crank_rest_s=1, gen_crank_attempts=2)
    cab = Cabinet(str(tmp_path), speed=1, start_hour=20.0, seed=1, sets=sets)
    fw = None
    try:
        cab.emu.grid(False)
        cab.emu.set("soc", 15)          # under outage_start_soc (20)
        cab.emu.gen_fail(True)
        fw = Firmware(str(tmp_path), fw_config(cab), micropython=micropython,
                      heap=board_heap(micropython))
        assert fw.wait_for("EVENT gen cranking -> lockout (fail_to_start)", 40), "\n".join(fw.lines[-20:])
        assert fw.wait_for("EVENT alarm gen_fail_start raise (critical)", 10), "\n".join(fw.lines[-20:])
        fw.stop()
        assert "stopped" in fw.lines
        assert os.path.exists(tmp_path / "flash" / "state.json")
        # Power comes back: the same flash, a fresh firmware process.
        cab.emu.gen_fail(False)
        fw = Firmware(str(tmp_path), fw_config(cab), micropython=micropython,
                      heap=board_heap(micropython))
        assert fw.wait_for("state from main", 30), "\n".join(fw.lines[-20:])
        assert fw.wait_for("CTL lockout", 10), "\n".join(fw.lines[-20:])
        time.sleep(3)
        assert not any("-> cranking" in l for l in fw.lines), "\n".join(fw.lines)
        assert [w["key"] for w in cab.emu.writes() if w.get("key")] == [35732, 35733]
    finally:
        if fw:
            fw.stop()
        cab.close()


def test_loads_shed_on_battery_and_come_back_with_the_grid(tmp_path):
    cab = Cabinet(str(tmp_path), speed=1, start_hour=20.0, seed=1)
    pins = str(tmp_path / "pins.log")
    fw = None
    try:
        cab.emu.grid(False)
        cab.emu.set("soc", 60)
        cfg = fw_config(cab, mode="off")
        cfg["loads"] = [
            {"name": "aircon", "pin": 25, "priority": 1, "shed_soc": 50, "restore_soc": 55,
             "shed_v": None, "restore_v": None, "min_off_s": 5},
            {"name": "core", "pin": 26, "priority": 2, "critical": True}]
        fw = Firmware(str(tmp_path), cfg, pins_file=pins)
        assert fw.wait_for("CTL off", 30), "\n".join(fw.lines[-20:])
        with open(pins) as f:
            assert f.read().split() == ["25", "1", "26", "1"]        # both contactors closed
        cab.emu.set("soc", 45)
        assert fw.wait_for("EVENT load aircon shed (auto)", 20), "\n".join(fw.lines[-20:])
        assert fw.wait_for("EVENT alarm load_shed raise", 5), "\n".join(fw.lines[-20:])
        assert any("SHED aircon" in l for l in fw.lines)
        with open(pins) as f:
            assert f.read().split("\n")[-2] == "25 0"
        cab.emu.grid(True)
        cab.emu.set("soc", 60)
        # One contactor move per 30 s step: the restore waits out the trip's step.
        assert fw.wait_for("EVENT load aircon restored (auto)", 60), "\n".join(fw.lines[-20:])
        with open(pins) as f:
            log = f.read().split("\n")
        assert log[-2] == "25 1" and "26 0" not in log               # critical never opened
    finally:
        if fw:
            fw.stop()
        cab.close()
