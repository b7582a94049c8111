# The benchmark's command line: each scenario's year under the firmware (its
# config and each variant's), the baselines and the LP bound; a Markdown
# report with plots in --out DIR, and the headline numbers on stdout.
import argparse
import glob
import json
import os
import platform
import time

import numpy as np

from firmware import config

from . import controllers, dp, lp, report, run, scenario
from .model import DT_H

_HERE = os.path.dirname(os.path.abspath(__file__))


def _args(argv):
    p = argparse.ArgumentParser(prog='tools/yearsim', description=__doc__)
    p.add_argument('--scenario', action='append',
                   help='scenario JSON (repeatable; default: every file in %s)'
                   % os.path.relpath(os.path.join(_HERE, 'scenarios')))
    p.add_argument('--out', required=True, help='folder for report.md, plots and summary.json')
    p.add_argument('--days', type=int, default=365)
    p.add_argument('--seed', type=int, help="override the scenario's seed")
    p.add_argument('--lp-step', type=int, help="LP step in minutes (default: the scenario's)")
    p.add_argument('--no-variants', action='store_true', help='the scenario config only')
    p.add_argument('--no-dp', action='store_true',
                   help='skip the perfect-foresight DP (off-grid scenarios; ~5 min a year)')
    return p.parse_args(argv)


def _grid_only_cost(sc, prof, n):
    """What the load would cost from the grid alone (no PV, no battery)."""
    eff = sc['site'].get('rectifier_eff', 0.95)
    return float((prof['load_kw'][:n] * prof['price'][:n]).sum() * DT_H / eff)


def _firmware_runs(sc, prof, n, variants):
    """(name, kpis, trace, seconds) of the firmware at the scenario's config and variants."""
    out = []
    todo = [('firmware', sc)]
    if variants:
        todo += [('firmware+' + k, scenario.merge(sc, v)) for k, v in sc.get('variants', {}).items()]
    for name, v in todo:
        try:
            cfg = scenario.firmware_config(v)
        except config.ConfigError as e:
            if v is sc:
                raise
            # A variant naming a key this firmware does not have yet (a
            # branch's new option): said, and the rest still run.
            print('  %s skipped: %s' % (name, e))
            continue
        ctl = controllers.Firmware(cfg, v.get('utc_offset_min', 0))
        ctl.name = name
        t = time.perf_counter()
        k, tr = run.simulate(sc, prof, ctl, minutes=n)
        k['wall_s'] = time.perf_counter() - t
        k['config'] = {key: ctl.gen.cfg[key] for key in report.GEN_KEYS}
        k['dispatch'] = {key: v for key, v in ctl.disp.__dict__.items()
                         if key in ('reserve', 'charge_to', 'windows')}
        out.append((k, tr))
    return out


def _perfect_foresight(sc, prof, n):
    """The DP's run (tools/yearsim/dp.py) on a grid of the scenario's
    dp_grid SOC points, and its convergence: the first 30 days' value at
    that grid and at twice it."""
    pts = sc.get('dp_grid', 150)
    t = time.perf_counter()
    ctl = dp.PerfectForesight(sc, prof, n, n=pts)
    k, tr = run.simulate(sc, prof, ctl, minutes=n)
    k['wall_s'] = time.perf_counter() - t
    m = min(n, 30 * 1440)
    soc0 = sc['site']['battery'].get('soc0', 60.0)
    k['dp'] = {'grid': pts, 'value_l': ctl.value(soc0), 'check_days': m // 1440,
               'check_value_l': dp.PerfectForesight(sc, prof, m, n=pts).value(soc0),
               'check_value_2x_l': dp.PerfectForesight(sc, prof, m, n=2 * pts).value(soc0)}
    return k, tr


def _week_start(prof, n):
    # The week around the cloudiest day: where the diesel's decisions matter most.
    c = prof['clearness'][:n // 1440]
    if len(c) < 7:
        return 0
    d = int(np.argmin(c))
    return max(0, min(d - 3, n // 1440 - 7))


def one(path, args, out):
    sc = scenario.load(path)
    n = args.days * 1440
    prof = scenario.profiles(sc, minutes=n, seed=args.seed)
    runs = _firmware_runs(sc, prof, n, not args.no_variants)
    for b in controllers.baselines(sc):
        t = time.perf_counter()
        k, tr = run.simulate(sc, prof, b, minutes=n)
        k['wall_s'] = time.perf_counter() - t
        runs.append((k, tr))
    ref = None
    if dp.applies(sc) and not args.no_dp:
        ref = _perfect_foresight(sc, prof, n)
        runs.append(ref)
    for k, _ in runs:
        k['cost'] = lp.run_cost(sc, k)
    step = args.lp_step or sc.get('lp_step_min', 60)
    t = time.perf_counter()
    bound = lp.bound(sc, prof, minutes=n, step_min=step)
    bound['wall_s'] = time.perf_counter() - t
    bound.pop('x')
    stem = os.path.splitext(os.path.basename(path))[0]
    os.makedirs(os.path.join(out, stem), exist_ok=True)
    fw_k, fw_tr = runs[0]
    base = [r for r in runs if not r[0]['name'].startswith('firmware') and r is not ref]
    best = min(base, key=lambda r: r[0]['cost'])
    has_gen = bool(sc['site'].get('genset'))
    pics = {'week': stem + '/week.png', 'soc': stem + '/soc_year.png',
            'monthly': stem + '/monthly.png'}
    report.plot_week(fw_tr, _week_start(prof, n), os.path.join(out, pics['week']),
                     '%s: firmware, the week around the cloudiest day' % sc['name'])
    report.plot_soc([('firmware', fw_tr), (best[0]['name'], best[1])],
                    os.path.join(out, pics['soc']), sc['name'] + ': SOC')
    if has_gen:
        report.plot_monthly([(k['name'], tr) for k, tr in runs if k['name'] != 'diesel_24_7'],
                            os.path.join(out, pics['monthly']),
                            sc['name'] + ': monthly fuel (diesel 24/7 left out: off the scale)')
    else:
        report.plot_monthly([(k['name'], tr) for k, tr in runs],
                            os.path.join(out, pics['monthly']), sc['name'] + ': monthly grid import',
                            key='grid', ylabel='grid kWh (DC side)', scale=DT_H)
    res = {'scenario': sc['name'], 'file': sc['file'], 'seed': prof['seed'], 'days': args.days,
           'bound': bound, 'runs': [k for k, _ in runs], 'best_baseline': best[0]['name'],
           'grid_only_cost': _grid_only_cost(sc, prof, n) if sc['site'].get('grid') is not None else None,
           'claims': sc.get('claims'), 'pics': pics, 'firmware_section': sc.get('firmware'),
           'variants': sc.get('variants', {})}
    return res


def _section(r):
    b = r['bound']
    fw = r['runs'][0]
    best = next(k for k in r['runs'] if k['name'] == r['best_baseline'])
    lines = ['## %s' % r['scenario'], '',
             'Scenario file `tools/yearsim/scenarios/%s`, seed %d, %d days.' % (
                 r['file'], r['seed'], r['days']), '',
             "Firmware config (the scenario's `firmware` section over the firmware's defaults, "
             'as `firmware.config.validate` fills them): `%s`' % json.dumps(r['firmware_section']),
             '', 'Effective generator keys: `%s`' % json.dumps(fw['config']), '',
             'Variants (merged over the scenario): `%s`' % json.dumps(r['variants']), '']
    lines += report.kpi_table(r['runs'], b, r['grid_only_cost'] is None)
    if r['grid_only_cost'] is not None:
        lines += ['', 'With a grid the LP minimises cost (litres x diesel price + grid cost + '
                  'unserved energy x its value): compare costs; its litres are not a bound.']
    lines += ['', 'LP bound: %d steps of %d min, solved in %.1f s; its PV used %.0f kWh.' % (
        b['steps'], b['step_min'], b['wall_s'], b['pv_used_kwh']), '']
    pf = next((k for k in r['runs'] if k['name'] == 'perfect_foresight'), None)
    if pf is not None:
        d = pf['dp']
        lines += ['Perfect foresight (tools/yearsim/dp.py: a DP over %d SOC points that knows '
                  'the year, its decisions run through the same site model): %.1f l, %.3fx the '
                  'LP bound; the firmware is %.3fx it. Grid check over the first %d days: '
                  '%.2f l at %d points, %.2f l at %d.' % (
                      d['grid'], pf['fuel_l'], pf['fuel_l'] / b['fuel_l'],
                      fw['fuel_l'] / pf['fuel_l'], d['check_days'], d['check_value_l'],
                      d['grid'], d['check_value_2x_l'], 2 * d['grid']), '']
    if fw.get('fw_counter_l') is not None and fw['fuel_l'] > 0:
        lines.append("The firmware's own diesel counter (firmware/counters.py at its rated_kw "
                     '%s kW) booked %.1f l against the model\'s %.1f l; its run hours %.1f h, '
                     'starts %d.' % (fw['config']['rated_kw'], fw['fw_counter_l'], fw['fuel_l'],
                                     fw['fw_run_h'], fw['fw_starts']))
    lines.append('Best baseline by cost: %s (%.1f l, cost %.1f); firmware %.1f l, cost %.1f.'
                 % (best['name'], best['fuel_l'], best['cost'], fw['fuel_l'], fw['cost']))
    lines.append('One firmware year took %.1f s of wall time (CPython %s).'
                 % (fw['wall_s'], platform.python_version()))
    if r['grid_only_cost']:
        g0 = r['grid_only_cost']
        lines.append('Grid only (no PV, no battery) would cost %.0f; the firmware run costs %.0f '
                     '(%+.1f %%), self-consumption %.1f %%.' % (
                         g0, fw['grid_cost'], 100 * (fw['grid_cost'] / g0 - 1),
                         100 * fw['self_consumption']))
    if r['claims']:
        c = r['claims']
        lines.append("The owner's claims: grid cost %+.0f %%, self-consumption %.0f %%."
                     % (100 * c['grid_cost_change'], 100 * c['self_consumption']))
    lines += ['', '![week](%s)' % r['pics']['week'], '', '![soc](%s)' % r['pics']['soc'], '',
              '![monthly](%s)' % r['pics']['monthly'], '']
    return lines


def main(argv=None):
    args = _args(argv)
    paths = args.scenario or sorted(glob.glob(os.path.join(_HERE, 'scenarios', '*.json')))
    os.makedirs(args.out, exist_ok=True)
    t0 = time.perf_counter()
    results = []
    for p in paths:
        r = one(p, args, args.out)
        results.append(r)
        _print(r)
    lines = ['# Year benchmark (tools/yearsim)', '',
             'Command: `.venv/bin/python tools/yearsim --out %s%s`' % (
                 args.out, ''.join(' --scenario ' + p for p in (args.scenario or []))),
             '', 'Machine: %s, %d CPUs, CPython %s. Total wall time %.0f s.' % (
                 platform.machine(), os.cpu_count(), platform.python_version(),
                 time.perf_counter() - t0), '']
    for r in results:
        lines += _section(r)
    lines += ['## Assumptions', '', report.ASSUMPTIONS, '']
    with open(os.path.join(args.out, 'report.md'), 'w') as f:
        f.write('\n'.join(lines))
    with open(os.path.join(args.out, 'summary.json'), 'w') as f:
        json.dump(results, f, indent=1, default=str)
    print('report: %s' % os.path.join(args.out, 'report.md'))
    return 0


def _print(r):
    b = r['bound']
    lit = r['grid_only_cost'] is None and b['fuel_l'] > 1e-9    # a litres bound: off grid only
    print('%s (seed %d): LP bound %.1f l, cost %.1f' % (r['scenario'], r['seed'], b['fuel_l'],
                                                      b['cost']))
    for k in r['runs']:
        print('  %-28s %8.1f l  x%.3f  cost %9.1f  x%.3f  starts %4d  unserved crit %.2f kWh'
              '  %.1f s' % (k['name'], k['fuel_l'],
                            k['fuel_l'] / b['fuel_l'] if lit else float('nan'),
                            k['cost'], k['cost'] / b['cost'] if b['cost'] > 1e-9 else float('nan'),
                            k['starts'], k['unserved_crit_kwh'], k['wall_s']))
