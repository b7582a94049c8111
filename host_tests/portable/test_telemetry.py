# Telemetry records: every period, at once on a significant change (per
# field deadband), never for noise; seq counts up; the payload's fields.
import json
from firmware.uplink.telemetry import Telemetry, FIELDS, DEADBANDS
from gen_sim import blank_snap


def diff(a, b):
    return a - b


def snap(**kw):
    s = blank_snap()
    s.update({'ts': 1000, 'pv_w': 1000.0, 'batt_v': 52.0, 'batt_a': 5.0, 'batt_w': 260.0,
              'batt_soc': 70, 'load_w': 1500.0, 'grid_ok': True, 'grid_w': 800.0,
              'gen_state': 'stopped', 'gen_w': 0.0, 'gen_hz': 0.0, 'fuel_pct': 80,
              'batt_src': 'bms', 'load_derived': True})
    s.update(kw)
    return s


CTL = ('auto', 'standby', ())


def test_first_record_is_due_then_the_period():
    t = Telemetry(60)
    s = snap()
    assert t.due(0, s, CTL, diff)
    t.record(0, s, 'auto', 'standby', [])
    assert not t.due(59000, s, CTL, diff)
    assert t.due(60000, s, CTL, diff)


def test_noise_is_not_significant_a_step_is():
    t = Telemetry(60)
    t.record(0, snap(), 'auto', 'standby', [])
    assert not t.due(1000, snap(pv_w=1150.0, batt_v=52.3, batt_soc=71), CTL, diff)
    assert t.due(1000, snap(pv_w=1250.0), CTL, diff)
    assert t.due(1000, snap(grid_ok=False), CTL, diff)
    assert t.due(1000, snap(gen_state='starting'), CTL, diff)
    assert t.due(1000, snap(batt_soc=None), CTL, diff)          # a value lost is news
    assert t.due(1000, snap(), ('auto', 'cranking', ()), diff)  # our own state too


def test_record_fields_and_seq():
    t = Telemetry(60, seq=41)
    rec = json.loads(t.record(5, snap(), 'manual', 'running', ['aircon']))
    # Inside, seconds since 2000; on the wire, Unix seconds.
    assert rec['seq'] == 42 and rec['ts'] == 1000 + 946684800
    assert rec['clock_ok'] in (True, False)
    assert rec['mode'] == 'manual' and rec['gen_ctl'] == 'running' and rec['shed'] == ['aircon']
    assert len(FIELDS) == len(DEADBANDS)
    for name in FIELDS:
        assert name in rec
    assert json.loads(t.record(6, snap(), 'manual', 'running', []))['seq'] == 43


def test_after_a_record_the_new_values_are_the_reference():
    t = Telemetry(60)
    t.record(0, snap(pv_w=1000.0), 'auto', 'standby', [])
    t.record(10, snap(pv_w=1300.0), 'auto', 'standby', [])
    assert not t.due(20, snap(pv_w=1350.0), CTL, diff)


def test_fields_go_out_at_their_devices_resolution():
    # Issue 13: records carried "load_w": 1809.0259774169922. Each field goes
    # out at the resolution of the device that measures it (EPEver's
    # register list V2.5: PV power u32 x0.01 W, battery voltage x0.01 V;
    # PACE protocol V1.3: current x10 mA, SOC whole %; DSE GenComm: frequency
    # x0.1 Hz), derived ones (batt_w = V x A, the DC balance's load_w) to 1 W.
    t = Telemetry(60)
    s = snap(pv_w=876.72 + 848.01, batt_v=53.74, batt_a=-12.34, batt_w=53.74 * -12.34,
             batt_soc=75, load_w=1809.0259774169922, grid_w=1153.2999267578125,
             gen_hz=49.900001525878906, gen_w=0, fuel_pct=80)
    text = t.record(0, s, 'auto', 'standby', [])
    out = json.loads(text)
    assert out['load_w'] == 1809 and isinstance(out['load_w'], int)
    assert out['pv_w'] == 1724.73 and out['batt_v'] == 53.74 and out['batt_a'] == -12.34
    assert out['batt_w'] == -663 and out['batt_soc'] == 75 and out['grid_w'] == 1153
    assert out['gen_hz'] == 49.9 and out['fuel_pct'] == 80 and out['gen_w'] == 0
    assert '1809.02' not in text and '49.900001' not in text and '1724.7300' not in text
    assert out['grid_ok'] is True and out['gen_state'] == 'stopped'
    assert len(FIELDS) == len(DEADBANDS)
    # The deadbands still compare what was measured, not what was printed.
    s2 = dict(s)
    s2['load_w'] = 1809.4
    assert not t.due(1000, s2, CTL, diff)
