# The year benchmark's own checks (tools/yearsim): short runs only, the
# full year is a benchmark (README, Benchmarks).
import os

import numpy as np
import pytest

from yearsim import controllers, lp, run, scenario

_SC = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                   'tools', 'yearsim', 'scenarios')
_DAYS = 3


def _load(name):
    return scenario.load(os.path.join(_SC, name))


@pytest.fixture(scope='module')
def offgrid():
    sc = _load('offgrid_bts.json')
    return sc, scenario.profiles(sc, minutes=_DAYS * 1440)


def _runs(sc, prof):
    """The firmware at its scenario's config and each variant, and the baselines."""
    ctls = [controllers.Firmware(scenario.firmware_config(sc), sc.get('utc_offset_min', 0))]
    for over in sc.get('variants', {}).values():
        v = scenario.merge(sc, over)
        ctls.append(controllers.Firmware(scenario.firmware_config(v), v.get('utc_offset_min', 0)))
    ctls += controllers.baselines(sc)
    return [run.simulate(sc, prof, c, check=True, keep=False)[0] for c in ctls]


def test_energy_balance_closes_every_minute(offgrid):
    # check=True raises at the first minute whose DC bus does not balance.
    for name in ('offgrid_bts.json', 'badgrid_bts.json', 'grid_tou.json'):
        sc = _load(name)
        prof = offgrid[1] if name == 'offgrid_bts.json' else scenario.profiles(sc, minutes=1440)
        for k in _runs(sc, prof):
            assert k['max_balance_err_kw'] < 1e-9, (name, k['name'])


def test_battery_energy_is_conserved(offgrid):
    sc, prof = offgrid
    k = run.simulate(sc, prof, controllers.Firmware(scenario.firmware_config(sc)))[0]
    b = sc['site']['battery']
    stored = (k['soc_end'] - b['soc0']) / 100 * b['kwh']
    assert stored == pytest.approx(k['chg_kwh'] * b['eta_charge']
                                   - k['dis_kwh'] / b['eta_discharge'], abs=1e-6)


def test_lp_bound_is_never_above_any_run(offgrid):
    # The minute LP is the tightest; the hourly one is its block-average
    # relaxation, so it sits under it (and under every run).
    sc, prof = offgrid
    best = min(lp.run_cost(sc, k) for k in _runs(sc, prof))
    b1 = lp.bound(sc, prof, step_min=1)['cost']
    b60 = lp.bound(sc, prof, step_min=60)['cost']
    assert b60 <= b1 + 1e-6 <= best + 2e-6, (b60, b1, best)


def test_lp_bound_holds_with_grid_outages_and_prices():
    sc = _load('badgrid_bts.json')
    prof = scenario.profiles(sc, minutes=2 * 1440)
    best = min(lp.run_cost(sc, k) for k in _runs(sc, prof))
    for step in (60, 15):
        assert lp.bound(sc, prof, step_min=step)['cost'] <= best + 1e-6, step


def test_offgrid_firmware_serves_all_critical_load(offgrid):
    sc, prof = offgrid
    k = run.simulate(sc, prof, controllers.Firmware(scenario.firmware_config(sc)), check=True)[0]
    assert k['unserved_crit_kwh'] == 0
    assert k['starts'] > 0          # the diesel did run: the case is not trivial


def test_constant_load_diesel_24_7_burns_the_fuel_curve():
    # No PV, a full battery that takes nothing, a constant 3 kW DC load and
    # the genset carrying from the first minute: litres = hours * (F0 *
    # rated + F1 * AC out), AC out = load / rectifier efficiency.
    sc = {'site': {'lat': 0, 'lon': 0, 'pv': None,
                   'load': {'mean_kw': 3.0},
                   'battery': {'kwh': 10.0, 'v_nom': 48.0, 'soc0': 100.0, 'taper_min_c': 0.0,
                               'eta_charge': 0.96, 'eta_discharge': 0.96},
                   'genset': {'rated_kw': 8.0, 'f0': 0.08415, 'f1': 0.246, 'min_load': 0.3},
                   'rectifier_kw': 6.0, 'rectifier_eff': 0.95}}
    hours = 10
    prof = scenario.profiles(sc, minutes=hours * 60)
    assert not prof['pv_kw'].any()
    ctl = controllers.Baseline('diesel', 0, 101, True, warmup_min=0, always=True)
    k = run.simulate(sc, prof, ctl, check=True)[0]
    assert k['fuel_l'] == pytest.approx(hours * (0.08415 * 8.0 + 0.246 * 3.0 / 0.95), rel=1e-9)
    assert k['gen_h'] == hours and k['starts'] == 1 and k['unserved_crit_kwh'] == 0


def test_snapshot_has_the_fields_site_update_fills():
    from firmware import site
    ctl = controllers.Firmware(scenario.firmware_config(_load('offgrid_bts.json')))
    assert set(ctl.snap) == set(site.FIELDS) | {'dev'}


def test_seed_makes_the_year_repeatable():
    sc = _load('offgrid_bts.json')
    a = scenario.profiles(sc, minutes=2880)
    b = scenario.profiles(sc, minutes=2880)
    c = scenario.profiles(sc, minutes=2880, seed=sc['seed'] + 1)
    assert np.array_equal(a['pv_kw'], b['pv_kw'])
    assert not np.array_equal(a['pv_kw'], c['pv_kw'])


def test_the_command_writes_a_report_with_its_seed_and_plots(tmp_path):
    from yearsim import cli
    out = str(tmp_path)
    assert cli.main(['--out', out, '--days', '1', '--no-variants',
                     '--scenario', os.path.join(_SC, 'offgrid_bts.json')]) == 0
    text = open(os.path.join(out, 'report.md')).read()
    assert 'seed 12' in text and '## Assumptions' in text and 'LP lower bound' in text
    for png in ('week.png', 'soc_year.png', 'monthly.png'):
        assert os.path.getsize(os.path.join(out, 'offgrid_bts', png)) > 1000


def test_perfect_foresight_sits_between_the_bound_and_the_runs(offgrid):
    # tools/yearsim/dp.py: a DP that knows the days' PV and load, its
    # decisions run through the same site model. Above the LP bound (which
    # relaxes on/off), no unserved energy, and its grid fine enough: the
    # value at 2x the SOC points moves by under 1 %.
    from yearsim import dp
    sc, prof = offgrid
    m = 2 * 1440
    ref = dp.PerfectForesight(sc, prof, m, n=100)
    k = run.simulate(sc, prof, ref, minutes=m, check=True, keep=False)[0]
    b = lp.bound(sc, prof, minutes=m, step_min=60)
    assert b['fuel_l'] <= k['fuel_l'] and k['unserved_crit_kwh'] == 0.0, (b['fuel_l'], k)
    soc0 = sc['site']['battery']['soc0']
    fine = dp.PerfectForesight(sc, prof, m, n=200).value(soc0)
    assert abs(ref.value(soc0) - fine) <= 0.01 * fine, (ref.value(soc0), fine)
    # What it plans is what the model then burns (within the grid's error
    # and the real warm-up minute it does not plan), ending near soc0.
    assert abs(k['fuel_l'] - ref.value(soc0)) <= 0.03 * k['fuel_l'] + 0.5, (k['fuel_l'], ref.value(soc0))
