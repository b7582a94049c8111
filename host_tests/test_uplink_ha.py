# Home Assistant MQTT discovery with the firmware in the unix port, the
# emulated cabinet and a real mosquitto: off by default; when on, retained
# config messages for the main sensors, the grid and the generator, all
# reading the telemetry topic; the generator is a switch (whose ON reaches
# the genset) only with mqtt.ha_commands, else a read-only binary sensor.
import json
import time

from rigs import EMU_GEN, retained


def start(mqtt_site, **mq):
    s = mqtt_site(start_hour=20.0, sets=EMU_GEN)
    s.cfg["mqtt"].update(mq)
    s.start()
    return s.broker, s.cab, s.op, s.fw


def test_discovery_is_off_by_default(mqtt_site):
    broker, cab, op, fw = start(mqtt_site)
    assert fw.wait_for("LINK up", 30), fw.lines[-20:]
    time.sleep(3)
    assert retained(broker.port, "homeassistant/#", timeout=2) == []


def discovery(broker):
    deadline = time.time() + 30
    got = {}
    while time.time() < deadline and len(got) < 13:
        got = {t: p for t, p, r in retained(broker.port, "homeassistant/#", timeout=2)}
    return got


def test_discovery_sensors_and_the_generator_switch(mqtt_site):
    broker, cab, op, fw = start(mqtt_site, ha_discovery=True, ha_commands=True)
    cab.emu.grid(False)
    assert fw.wait_for("LINK up", 30), fw.lines[-20:]
    got = discovery(broker)
    soc = json.loads(got["homeassistant/sensor/BTS-0042/batt_soc/config"])
    assert soc["state_topic"] == "sites/BTS-0042/telemetry"
    assert soc["value_template"] == "{{ value_json.batt_soc }}"
    assert soc["unit_of_measurement"] == "%" and soc["device_class"] == "battery"
    assert soc["availability_topic"] == "sites/BTS-0042/status"
    assert soc["unique_id"] == "BTS-0042_batt_soc" and soc["device"]["name"] == "BTS-0042 power"
    assert "homeassistant/binary_sensor/BTS-0042/grid_ok/config" in got
    sw = json.loads(got["homeassistant/switch/BTS-0042/generator/config"])
    assert sw["command_topic"] == "sites/BTS-0042/ha/gen/set"

    op.c.publish("sites/BTS-0042/ha/gen/set", "ON", qos=1)
    assert fw.wait_for("EVENT gen standby -> cranking (manual)", 20), fw.lines[-20:]
    ev = json.loads(op.take("sites/BTS-0042/event",
                            lambda p: "(ha)" in json.loads(p)["text"], timeout=10))
    assert ev["text"] == "command gen_start done (ha)"
    deadline = time.time() + 30
    while time.time() < deadline and cab.emu.state()["gen"]["state"] != "running":
        time.sleep(0.3)
    assert cab.emu.state()["gen"]["state"] == "running"


def test_without_ha_commands_the_generator_is_read_only(mqtt_site):
    broker, cab, op, fw = start(mqtt_site, ha_discovery=True)
    assert fw.wait_for("LINK up", 30), fw.lines[-20:]
    got = discovery(broker)
    gen = json.loads(got["homeassistant/binary_sensor/BTS-0042/generator/config"])
    assert "command_topic" not in gen and gen["device_class"] == "running"
    assert not any("/switch/" in t for t in got)
    op.c.publish("sites/BTS-0042/ha/gen/set", "ON", qos=1)
    time.sleep(3)
    assert not any("cranking" in l for l in fw.lines)


def test_a_retained_switch_command_is_ignored(mqtt_site):
    # A retained ON on the switch's topic would start the genset at every
    # connect, long after whoever sent it (issue 14: commands are never
    # retained; Home Assistant sends its switch commands unretained).
    s = mqtt_site(start_hour=20.0, sets=EMU_GEN)
    s.cfg["mqtt"].update(ha_discovery=True, ha_commands=True)
    s.op.c.publish("sites/BTS-0042/ha/gen/set", "ON", qos=1, retain=True).wait_for_publish(10)
    s.start()
    fw, op = s.fw, s.op
    assert fw.wait_for("LINK up", 30), fw.lines[-20:]
    ev = json.loads(op.take("sites/BTS-0042/event",
                            lambda p: "retained" in json.loads(p)["text"], timeout=20))
    assert "ha/gen/set" in ev["text"] and "ignored" in ev["text"], ev
    time.sleep(2)
    assert not any("cranking" in l for l in fw.lines)
    op.c.publish("sites/BTS-0042/ha/gen/set", "ON", qos=1)      # a live one still acts
    assert fw.wait_for("EVENT gen standby -> cranking (manual)", 20), fw.lines[-20:]
