# Energy, diesel and shed-time counters: exact integer integration, HOMER's
# fuel curve, clamping, unknown values, the persistence round trip, small
# ints only on the ESP32, and no heap allocation per tick.
import json
import sys
from firmware import counters as C
from helpers import raises, close, assert_no_alloc

GCFG = {'rated_kw': 20, 'fuel_f0': 0.08415, 'fuel_f1': 0.246}
HOUR = 3600000


def snap(pv=None, grid=None, gen=None, load=None):
    return {'pv_w': pv, 'grid_w': grid, 'gen_w': gen, 'load_w': load}


def run(c, s, ms, step=1000, gen=False, shed=0):
    for _ in range(ms // step):
        c.tick(s, step, gen, shed)


def test_constant_power_for_an_hour_is_exact():
    c = C.Counters(GCFG)
    run(c, snap(pv=1000.0, grid=2500.0, load=1800.0), HOUR)
    assert c.pv_kwh == 1.0 and c.grid_kwh == 2.5 and c.load_kwh == 1.8
    assert c.gen_kwh == 0.0 and c.diesel_l == 0.0 and c.shed_min == 0.0
    d = c.to_dict()
    assert (d['pv_wh'], d['pv_wms']) == (1000, 0)
    assert (d['grid_wh'], d['load_wh']) == (2500, 1800)


def test_remainder_is_kept_exactly():
    c = C.Counters(GCFG)
    for _ in range(7):
        c.tick(snap(pv=1234.0), 777, False, 0)
    d = c.to_dict()
    # 1234 W x 7 x 777 ms = 6711726 W*ms = 1 Wh + 3111726 W*ms
    assert (d['pv_wh'], d['pv_wms']) == (1, 3111726)
    assert close(c.pv_kwh, 6711726 / 3.6e9, 1e-15)


def test_years_of_small_ticks_lose_nothing():
    c = C.Counters(GCFG)
    for _ in range(3600):
        c.tick(snap(pv=1.0), 1, False, 0)        # 1 W for 3.6 s in 1 ms steps
    d = c.to_dict()
    assert (d['pv_wh'], d['pv_wms']) == (0, 3600)


def test_grid_counts_import_only():
    c = C.Counters(GCFG)
    run(c, snap(grid=-3000.0), HOUR)
    run(c, snap(grid=500.0), HOUR)
    assert c.grid_kwh == 0.5


def test_generator_energy_only_while_running():
    c = C.Counters(GCFG)
    run(c, snap(gen=14000.0), HOUR, gen=False)     # a stale reading while stopped
    assert c.gen_kwh == 0.0 and c.diesel_l == 0.0
    run(c, snap(gen=14000.0), HOUR, gen=True)
    assert c.gen_kwh == 14.0


def test_fuel_by_homer_curve_to_the_millilitre():
    c = C.Counters(GCFG)
    run(c, snap(gen=14000.0), HOUR, step=2000, gen=True)
    # 0.08415 x 20 + 0.246 x 14 = 5.127 l
    assert abs(c.diesel_l - 5.127) < 0.001
    assert c.to_dict()['fuel_ml'] == 5127
    assert abs(c.co2_kg - 5.127 * 2.68) < 0.003


def test_fuel_with_homers_own_coefficients():
    c = C.Counters({'rated_kw': 10, 'fuel_f0': 0.033, 'fuel_f1': 0.273})
    run(c, snap(gen=7500.0), HOUR // 2, gen=True)
    # (0.033 x 10 + 0.273 x 7.5) / 2 = 1.18875 l
    assert abs(c.diesel_l - 1.18875) < 1e-6


def test_unknown_generator_output_burns_the_idle_share_only():
    c = C.Counters(GCFG)
    run(c, snap(gen=None), HOUR, gen=True)
    assert abs(c.diesel_l - 0.08415 * 20) < 1e-6 and c.gen_kwh == 0.0
    c = C.Counters(GCFG)
    run(c, snap(gen=0.0), HOUR, gen=True)          # running unloaded: same
    assert abs(c.diesel_l - 1.683) < 1e-6


def test_shed_load_minutes():
    c = C.Counters(GCFG)
    run(c, snap(), 90000, gen=False, shed=2)
    assert c.shed_min == 3.0
    run(c, snap(), 45000, shed=1)
    assert c.shed_min == 3.75
    run(c, snap(), 60000, shed=0)
    assert c.shed_min == 3.75


def test_long_gap_is_clamped():
    c = C.Counters(GCFG)
    c.tick(snap(pv=3600.0, gen=6000.0), 10 * HOUR, True, 1)     # a stalled loop
    assert c.pv_kwh == 3600 * 60 / 3.6e6
    assert c.shed_min == 1.0
    assert abs(c.diesel_l - 3.159 / 60) < 1e-6                 # 1.683 + 0.246 x 6 l/h
    c2 = C.Counters(GCFG)
    c2.tick(snap(pv=3600.0), -5000, False, 3)                   # clock stepped back
    c2.tick(snap(pv=3600.0), 0, False, 3)
    assert c2.to_dict() == C.Counters(GCFG).to_dict()


def test_unknown_and_nonsense_readings_count_as_zero():
    c = C.Counters(GCFG)
    nan = float('nan')
    run(c, snap(pv=None, grid=None, gen=None, load=None), 60000, gen=False)
    run(c, snap(pv=nan, grid=nan, load=nan), 60000)
    run(c, snap(pv=-50.0, load=-10.0), 60000)
    assert c.to_dict() == C.Counters(GCFG).to_dict()
    run(c, snap(gen=nan), HOUR, gen=True)
    assert c.gen_kwh == 0.0 and abs(c.diesel_l - 1.683) < 1e-6


def test_integer_readings_work_too():
    c = C.Counters(GCFG)
    run(c, snap(pv=1000, gen=14000), HOUR, gen=True)
    assert c.pv_kwh == 1.0 and c.to_dict()['fuel_ml'] == 5127


def test_glitch_readings_are_clamped():
    c = C.Counters(GCFG)
    c.tick(snap(pv=5e12), 3600, False, 0)
    assert c.to_dict()['pv_wh'] == C.P_MAX // 1000
    c.tick(snap(gen=5e12), 60000, True, 0)
    assert abs(c.diesel_l - 1000.0 / 60) < 1e-3     # the fuel rate tops out at RATE_MAX


def test_round_trip_is_exact_and_json_safe():
    c = C.Counters(GCFG)
    run(c, snap(pv=1234.5, grid=99.9, gen=7777.7, load=3210.1), 3 * 60000 + 1234, step=617,
        gen=True, shed=3)
    d = c.to_dict()
    for v in d.values():
        assert isinstance(v, int)
    d2 = json.loads(json.dumps(d))
    c2 = C.Counters(GCFG).from_dict(d2)
    assert c2.to_dict() == d
    # Continuing from the restored state books the same as never stopping.
    run(c, snap(pv=321.0, gen=9000.0), 100000, step=777, gen=True, shed=1)
    run(c2, snap(pv=321.0, gen=9000.0), 100000, step=777, gen=True, shed=1)
    assert c2.to_dict() == c.to_dict()
    assert c2.diesel_l == c.diesel_l and c2.pv_kwh == c.pv_kwh


def test_from_dict_fills_missing_keys_and_refuses_bad_values():
    c = C.Counters(GCFG).from_dict({'pv_wh': 5})
    assert c.pv_kwh == 0.005 and c.diesel_l == 0.0
    for bad in ({'pv_wh': 1.5}, {'pv_wh': -1}, {'gen_wh': True}, {'pv_wms': 3600000},
                {'fuel_ul': 1000}, {'shed_ms': 60000}, {'fuel_ml': '3'}):
        c = C.Counters(GCFG).from_dict({'load_wh': 7})
        raises(ValueError, c.from_dict, bad)
        assert c.to_dict()['load_wh'] == 7 and c.to_dict()['pv_wh'] == 0   # unchanged


class _Lcg:
    def __init__(self):
        self.x = 12345

    def next(self, n):
        self.x = (self.x * 1103515245 + 12345) & 0x7FFFFFFF
        return self.x % n


def test_long_division_matches_exact_arithmetic():
    r = _Lcg()
    for d in (1000, 60000, 3600000):
        acc = [0, 0]
        total = 0
        for _ in range(300):
            a = r.next(1000000000) >> r.next(30)
            b = r.next(60001)
            C._mac(acc, 0, a, b, d)
            total += a * b
            assert acc[0] * d + acc[1] == total and 0 <= acc[1] < d


class _Small(int):
    """An int that fails on leaving the ESP32's small-int range (|x| < 2**30)."""
    def _c(self, v):
        assert -(1 << 30) <= v < (1 << 30), v
        return _Small(v)

    def __add__(self, o):
        return self._c(int(self) + int(o))
    __radd__ = __add__

    def __sub__(self, o):
        return self._c(int(self) - int(o))

    def __rsub__(self, o):
        return self._c(int(o) - int(self))

    def __mul__(self, o):
        return self._c(int(self) * int(o))
    __rmul__ = __mul__

    def __floordiv__(self, o):
        return self._c(int(self) // int(o))

    def __rfloordiv__(self, o):
        return self._c(int(o) // int(self))


def test_worst_case_arithmetic_stays_in_small_ints():
    # CPython only (subclassed int operators); MicroPython runs the body's
    # calls elsewhere. Every intermediate of _mac is checked at the envelope.
    if sys.implementation.name == 'micropython':
        return
    c = C.Counters({'rated_kw': 5000, 'fuel_f0': 1, 'fuel_f1': 1})
    cases = ((C.P_MAX, C.MAX_DT_MS, 3600000),           # energy
             (C.RATE_MAX, C.MAX_DT_MS, 3600000),        # fuel
             (c._p_fuel_max, 1000000, 1000),            # fuel rate from output
             (1000, C.MAX_DT_MS, 60000))                # shed loads
    for a, b, d in cases:
        acc = [_Small(1 << 29), _Small(d - 1)]
        C._mac(acc, 0, _Small(a), _Small(b), _Small(d))
    # The accumulators after a worst-case tick on a full counter.
    c._a[C._FUEL] = 999
    c._a[C._FUEL + 1] = 3599999
    c.tick(snap(pv=1e30, grid=1e30, gen=1e30, load=1e30), C.MAX_DT_MS, True, 1000)
    for v in c._a:
        assert v < (1 << 30)


def test_tick_allocates_nothing():
    c = C.Counters(GCFG)
    running = snap(pv=1234.5, grid=230.25, gen=14321.5, load=2047.75)
    blind = snap(pv=None, grid=-5.0, gen=None, load=1500.0)

    def ticks(n):
        for _ in range(n):
            c.tick(running, 2000, True, 2)
            c.tick(blind, 2000, True, 0)
            c.tick(running, 120000, False, 1)
    assert_no_alloc(ticks, 300)


def test_the_genset_modules_rating_replaces_the_assumed_one():
    # No generator.rated_kw: the litres are estimated from an assumed 20 kW
    # until the DSE module tells its own rating, its output (GenComm 1536)
    # over its percentage of full power (1558): 6000 W at 75.0 % is 8 kW.
    g = dict(GCFG, rated_kw=None, device='genset')
    c = C.Counters(g)
    assert c.rated_assumed and c.rated_src == 'assumed' and c.rated_kw == C.ASSUMED_RATED_KW
    s = snap(gen=6000.0)
    s['dev'] = {'genset': {'power_w': 6000, 'load_pct': 10.0}}     # too light to tell
    c.tick(s, 1000, True, 0)
    assert c.rated_assumed
    s['dev']['genset']['load_pct'] = 75.0
    c = C.Counters(g)
    run(c, s, HOUR, gen=True)
    assert not c.rated_assumed and c.rated_src == 'module' and c.rated_kw == 8.0
    # HOMER: F0 * 8 kW + F1 * 6 kW for the hour (learnt on its first tick).
    assert close(c.diesel_l, 0.08415 * 8 + 0.246 * 6, 1e-4)
    # A configured rating wins over the module's.
    c = C.Counters(dict(GCFG, device='genset'))
    run(c, s, 10000, gen=True)
    assert c.rated_src == 'config' and c.rated_kw == 20
