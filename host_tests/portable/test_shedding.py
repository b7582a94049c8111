# LLVD-style shedding: trip order, delays, backup time, critical loads,
# restore rules and order, manual commands.
from firmware import config, shedding as S
from gen_sim import blank_snap
from helpers import raises, assert_no_alloc, example

LOADS = [
    {'name': 'aircon', 'pin': 25, 'priority': 1, 'shed_v': 48.0, 'restore_v': 51.0,
     'shed_soc': 50, 'restore_soc': 60, 'min_off_s': 300},
    {'name': 'carrier2', 'pin': 26, 'priority': 2, 'shed_v': 47.0, 'restore_v': 51.0,
     'shed_soc': 30, 'restore_soc': 50, 'min_off_s': 300},
    {'name': 'core', 'pin': 27, 'priority': 3, 'critical': True},
    {'name': 'tower_light', 'pin': 14, 'priority': 2, 'shed_soc': None, 'shed_v': None,
     'backup_s': 3600, 'active_high': False},
]


def make(loads=LOADS):
    raw = example()
    raw['loads'] = loads
    return S.Shedding(config.validate(raw)['loads'])


class Run:
    def __init__(self):
        self.s = make()
        self.now = 0
        self.snap = blank_snap()
        self.snap.update({'batt_v': 52.0, 'batt_soc': 80})

    def step(self, seconds, on_battery=True, **kw):
        self.snap.update(kw)
        for _ in range(seconds):
            self.s.tick(self.now, self.snap, on_battery)
            self.now += 1000

    def shed(self):
        return [n for n, sh in zip(self.s.names, self.s.shed) if sh]


def test_order_is_priority():
    assert make().names == ['aircon', 'carrier2', 'tower_light', 'core']


def test_trip_after_delay_in_priority_order_one_step_at_a_time():
    r = Run()
    r.step(9, batt_soc=25)          # both aircon and carrier2 below their SOC
    assert r.shed() == []
    r.step(2)
    assert r.shed() == ['aircon']
    r.step(25)
    assert r.shed() == ['aircon']   # next trip waits a step
    r.step(6)
    assert r.shed() == ['aircon', 'carrier2']
    r.step(100000 // 1000, batt_soc=1, batt_v=40.0)
    assert 'core' not in r.shed()   # critical: never by the controller


def test_a_short_dip_does_not_trip():
    r = Run()
    r.step(5, batt_v=47.5)
    r.step(5, batt_v=52.0)
    r.step(60)
    assert r.shed() == []


def test_no_shedding_while_a_source_carries():
    r = Run()
    r.step(120, on_battery=False, batt_soc=10, batt_v=45.0)
    assert r.shed() == []


def test_backup_time_allotted_to_a_load():
    r = Run()
    r.step(3600 + 12)               # battery healthy, but an hour on battery (+ trip delay)
    assert r.shed() == ['tower_light']
    assert r.s.level(r.s.index('tower_light')) == 1   # active low: open = pin high
    assert r.s.level(r.s.index('aircon')) == 1        # active high: closed = pin high


def test_restore_needs_source_min_off_and_voltage_in_reverse_order():
    r = Run()
    r.step(50, batt_soc=25, batt_v=46.5)
    assert r.shed() == ['aircon', 'carrier2']
    r.step(60, batt_v=52.0, batt_soc=70)
    assert r.shed() == ['aircon', 'carrier2']         # still on battery
    r.step(100, on_battery=False, batt_v=50.0)
    assert r.shed() == ['aircon', 'carrier2']         # voltage below restore_v
    r.step(100, on_battery=False, batt_v=52.0, batt_soc=70)
    assert r.shed() == ['aircon', 'carrier2']         # min_off_s not yet
    r.step(60, on_battery=False)
    assert r.shed() == ['aircon']                     # the last shed comes back first
    r.step(31, on_battery=False)
    assert r.shed() == []


def test_restore_soc_is_checked():
    r = Run()
    r.step(20, batt_soc=45)
    assert r.shed() == ['aircon']
    r.step(400, on_battery=False, batt_soc=55, batt_v=53.0)
    assert r.shed() == ['aircon']                     # restore_soc 60
    r.step(2, on_battery=False, batt_soc=61)
    assert r.shed() == []


def test_manual_shed_and_restore():
    r = Run()
    r.s.force_shed('carrier2', r.now)
    r.step(1, on_battery=False)
    assert r.shed() == ['carrier2']
    r.step(1000, on_battery=False)
    assert r.shed() == ['carrier2']                   # forced: no auto restore
    r.s.force_restore('carrier2', r.now)
    assert r.shed() == []
    r.step(600, batt_soc=20)                          # held off auto shedding an hour
    assert 'carrier2' not in r.shed() and 'aircon' in r.shed()
    e = raises(ValueError, r.s.force_shed, 'core', r.now)
    assert 'critical' in str(e)
    raises(ValueError, r.s.force_shed, 'nope', r.now)
    assert r.s.events[0] == ('carrier2', True, 'manual')


def test_tick_allocates_nothing():
    r = Run()
    r.step(3)

    def ticks(n):
        for _ in range(n):
            r.s.tick(r.now, r.snap, True)
    assert_no_alloc(ticks, 100)
