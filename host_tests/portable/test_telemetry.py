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
