# The Markdown report and its plots (matplotlib's Agg backend: no display).
import numpy as np

import matplotlib
matplotlib.use('Agg')
import matplotlib.pyplot as plt  # noqa: E402

# Effective firmware generator keys the report shows (after config.validate).
GEN_KEYS = ('mode', 'start_soc', 'stop_soc', 'start_delay_s', 'min_run_s', 'warmup_s',
            'cooldown_s', 'max_run_s', 'max_charge_s', 'stop_taper_c', 'stop_taper_s',
            'pv_stop_s', 'exercise_days', 'rated_kw', 'fuel_f0', 'fuel_f1')

ASSUMPTIONS = """\
- Time step 1 minute, 365 days from 2026-01-01 00:00 UTC; the firmware ticks once a minute
  (its delays are whole minutes here: a 60 s start delay starts at the next tick).
- PV: pvlib Ineichen clear sky (its Linke turbidity climatology) at the site's lat/lon,
  plane of array tilted at the scenario's tilt (default |lat|) facing the equator, times a
  derate (0.8: temperature, wiring, MPPT) and a daily clearness factor drawn from
  Beta(a, b) with the scenario's seed. No intra-day cloud variation.
- Load: the scenario's mean times a 24-hour shape (hourly factors, interpolated), a
  weekend factor where given. Non-critical load is lost first when the site runs short.
- Battery: an energy bucket; one-way efficiencies (charge, discharge); C-rate limits; the
  charge limit falls linearly above taper_soc to taper_min_c at 100 %; discharge stops at
  min_soc; the BMS protection flag is set at or under protect_soc. Voltage is a flat
  LiFePO4-like line from the SOC, so start_v / stop_v never decide. No PACE warnings
  (batt_warn False), no ageing, no temperature.
- Genset: HOMER's fuel curve F = F0 * rated + F1 * out (l/h) while it turns (warm-up and
  cool-down minutes burn F0 * rated); a minimum load (min_load * rated): below it PV backs
  off to let the genset charge, and what still does not fit is dumped. It starts within
  the minute it is asked, runs its own cool-down (cooldown_min) after a stop. Fuel never
  runs low (fuel_pct 80).
- Rectifier: the grid or the genset (one at a time, grid first) feed the DC bus through
  it, limited to rectifier_kw DC (and rated * efficiency for the genset), at
  rectifier_eff. Grid cost is paid on the AC side. No export.
- Grid outages: a Poisson number a day, each of an exponential length, from the seed.
- The firmware sees the snapshot fields of firmware/site.update: PV and battery current
  from the last minute's flows, SOC now, a load meter, grid ok / grid W, the genset's
  state and AC power. Its DSE intents start and stop the genset; its dispatch decision
  switches the grid input (grid_on) and grid charging (grid_charge); a running genset
  charges the battery up to the charge limit.
- Baselines on the same year and model: diesel 24/7 (the genset never stops, charges);
  load following (starts at the first SOC, carries only the load, stops at the second
  SOC or when PV carries the load); cycle charging (starts at the first SOC, charges to
  the second). The grid, when up, carries and charges; no genset starts then.
- LP bound (tools/yearsim/lp.py): scipy linprog HiGHS on the same model with only the
  genset's on/off and start cost relaxed: a continuous on-variable u in 0..1 keeps the
  curve's fixed part F0 * rated * u and the minimum load out >= min * u. The charge taper
  is dropped, the final SOC is free (worth at most one battery, ~6 l on the BTS), blocks
  of several minutes are averages (a run's block average is feasible: the bound stays a
  bound) with the block's lowest price. Its objective is the run's cost: litres x diesel
  price + grid cost + unserved energy x value of lost load.
- CO2 2.68 kg/l. Renewable fraction (HOMER): 1 - (genset + grid energy to the bus) /
  served load. Self-consumption: PV used / PV available. Battery throughput: energy
  discharged."""


def _month_of_minute(n):
    days = np.arange(n) // 1440
    return (np.datetime64('2026-01-01') + days.astype('timedelta64[D]')).astype(
        'datetime64[M]').astype(int) % 12


def plot_week(trace, start_day, path, title):
    a = start_day * 1440
    b = min(a + 7 * 1440, len(trace['soc']))     # a run shorter than a week: all of it
    x = np.arange(b - a) / 1440.0 + start_day
    fig, ax = plt.subplots(figsize=(11, 4.5))
    for key, lab in (('load', 'load'), ('pv', 'PV used'), ('gen', 'genset (DC)'),
                     ('grid', 'grid (DC)'), ('batt', 'battery (+ discharge)')):
        v = np.frombuffer(trace[key], dtype=np.float32)[a:b]
        if v.any():
            ax.plot(x, v, lw=0.8, label=lab)
    ax.set_xlabel('day of year')
    ax.set_ylabel('kW')
    ax2 = ax.twinx()
    ax2.plot(x, np.frombuffer(trace['soc'], dtype=np.float32)[a:b], 'k--', lw=0.8, label='SOC')
    ax2.set_ylabel('SOC %')
    ax2.set_ylim(0, 100)
    ax.legend(loc='upper left', fontsize=8, ncol=3)
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def plot_soc(traces, path, title):
    fig, ax = plt.subplots(figsize=(11, 3.5))
    for name, tr in traces:
        s = np.frombuffer(tr['soc'], dtype=np.float32)
        h = s[:len(s) // 60 * 60].reshape(-1, 60).mean(axis=1)
        ax.plot(np.arange(len(h)) / 24.0, h, lw=0.5, label=name)
    ax.set_xlabel('day of year')
    ax.set_ylabel('SOC % (hourly mean)')
    ax.set_ylim(0, 100)
    ax.legend(fontsize=8)
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def plot_monthly(traces, path, title, key='fuel', ylabel='litres', scale=1.0):
    fig, ax = plt.subplots(figsize=(11, 3.5))
    w = 0.8 / max(1, len(traces))
    for i, (name, tr) in enumerate(traces):
        v = np.frombuffer(tr[key], dtype=np.float32).astype(float) * scale
        m = np.bincount(_month_of_minute(len(v)), weights=v, minlength=12)
        ax.bar(np.arange(12) + i * w, m, width=w, label=name)
    ax.set_xticks(np.arange(12) + 0.4)
    ax.set_xticklabels(['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct',
                        'Nov', 'Dec'])
    ax.set_ylabel(ylabel)
    ax.legend(fontsize=8)
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def _f(v, nd=1):
    return ('%.' + str(nd) + 'f') % v


def kpi_table(rows, bound, litres_bound=True):
    """rows: KPI dicts; bound: the LP's result. Markdown lines. With a grid
    the LP minimises cost, so its litres bound nothing: litres_bound False."""
    head = ('| run | litres | x LP litres | cost | x LP cost | gen h | starts | unserved crit kWh '
            '| unserved non-crit kWh | PV curtailed kWh | renewable fraction | self-consumption '
            '| battery throughput kWh | CO2 kg | grid cost | SOC at the end % |')
    out = [head, '|' + '---|' * 16]
    for k in rows:
        xl = k['fuel_l'] / bound['fuel_l'] if litres_bound and bound['fuel_l'] > 1e-9 \
            else float('nan')
        xc = k['cost'] / bound['cost'] if bound['cost'] > 1e-9 else float('nan')
        out.append('| %s | %s | %s | %s | %s | %s | %d | %s | %s | %s | %s | %s | %s | %s | %s | %s |' % (
            k['name'], _f(k['fuel_l']), _f(xl, 3), _f(k['cost']), _f(xc, 3), _f(k['gen_h']),
            k['starts'], _f(k['unserved_crit_kwh'], 2), _f(k['unserved_noncrit_kwh'], 2),
            _f(k['pv_curt_kwh']), _f(k['renewable_fraction'], 3), _f(k['self_consumption'], 3),
            _f(k['batt_throughput_kwh']), _f(k['co2_kg']), _f(k['grid_cost'], 2),
            _f(k['soc_end'])))
    out.append('| LP lower bound (%d-min steps) | %s | 1.000 | %s | 1.000 | | | | | | | | | | %s | free |'
               % (bound['step_min'], _f(bound['fuel_l']), _f(bound['cost']),
                  _f(bound['grid_cost'], 2)))
    return out
