# One controller over the scenario's minutes: decide, move the site, book
# the KPIs. The balance of every minute is checked as it goes (max error
# kept; check=True raises at the first minute that does not close).
from array import array

from .model import DT_H, Flows, Site, step
from .scenario import T0

CO2_KG_PER_L = 2.68
BALANCE_TOL_KW = 1e-9


class BalanceError(AssertionError):
    pass


def _zero_flows():
    f = Flows()
    for k in Flows.__slots__:
        setattr(f, k, 0.0)
    return f


def simulate(sc, prof, ctl, minutes=None, check=False, keep=True):
    site = Site(sc)
    n = prof['minutes'] if minutes is None else minutes
    pv = prof['pv_kw'][:n].tolist()
    load = prof['load_kw'][:n].tolist()
    up = prof['grid_up'][:n].tolist()
    price = prof['price'][:n].tolist()
    f = _zero_flows()
    k = {'fuel_l': 0.0, 'gen_min': 0, 'starts': 0, 'unserved_crit_kwh': 0.0,
         'unserved_noncrit_kwh': 0.0, 'pv_avail_kwh': 0.0, 'pv_used_kwh': 0.0,
         'pv_curt_kwh': 0.0, 'load_kwh': 0.0, 'gen_dc_kwh': 0.0, 'gen_ac_kwh': 0.0,
         'dump_kwh': 0.0, 'grid_dc_kwh': 0.0, 'grid_ac_kwh': 0.0, 'chg_kwh': 0.0,
         'dis_kwh': 0.0, 'grid_cost': 0.0, 'max_balance_err_kw': 0.0}
    trace = {name: array('f') for name in ('soc', 'pv', 'load', 'gen', 'grid', 'batt', 'fuel')} \
        if keep else None
    crit = site.critical
    gen = site.gen
    was = False
    decide = ctl.decide
    for i in range(n):
        ts = T0 + i * 60
        p, ld, u = pv[i], load[i], up[i]
        grid_on, grid_charge, carry, gch = decide(site, ts, p, ld, u, f)
        step(site, f, p, ld, u, grid_on, grid_charge, carry, gch)
        err = f.pv_used + f.gen_dc + f.grid_dc + f.dis + f.unserved - ld - f.chg - f.gen_dump
        if err < 0:
            err = -err
        if err > k['max_balance_err_kw']:
            k['max_balance_err_kw'] = err
            if check and err > BALANCE_TOL_KW:
                raise BalanceError('minute %d: balance off by %g kW' % (i, err))
        if gen is not None:
            turning = gen.turning
            if turning:
                k['gen_min'] += 1
                if not was:
                    k['starts'] += 1
            was = turning
            gen.minute_done()
        _book(k, f, crit, price[i])
        if keep:
            _trace(trace, f)
    return _finish(k, site, n, ctl), trace


def _book(k, f, crit, price):
    k['fuel_l'] += f.fuel
    # Non-critical load is lost first (the shedding contactors' job).
    un = f.unserved
    nc = f.load * (1.0 - crit)
    k['unserved_noncrit_kwh'] += (un if un < nc else nc) * DT_H
    k['unserved_crit_kwh'] += (un - nc if un > nc else 0.0) * DT_H
    k['pv_avail_kwh'] += f.pv_avail * DT_H
    k['pv_used_kwh'] += f.pv_used * DT_H
    k['pv_curt_kwh'] += f.pv_curt * DT_H
    k['load_kwh'] += f.load * DT_H
    k['gen_dc_kwh'] += f.gen_dc * DT_H
    k['gen_ac_kwh'] += f.gen_ac * DT_H
    k['dump_kwh'] += f.gen_dump * DT_H
    k['grid_dc_kwh'] += f.grid_dc * DT_H
    k['grid_ac_kwh'] += f.grid_ac * DT_H
    k['chg_kwh'] += f.chg * DT_H
    k['dis_kwh'] += f.dis * DT_H
    k['grid_cost'] += f.grid_ac * price * DT_H


def _trace(t, f):
    t['soc'].append(f.soc)
    t['pv'].append(f.pv_used)
    t['load'].append(f.load)
    t['gen'].append(f.gen_dc - f.gen_dump)
    t['grid'].append(f.grid_dc)
    t['batt'].append(f.dis - f.chg)
    t['fuel'].append(f.fuel)


def _finish(k, site, n, ctl):
    k['name'] = ctl.name
    k['minutes'] = n
    k['gen_h'] = k['gen_min'] / 60.0
    k['co2_kg'] = k['fuel_l'] * CO2_KG_PER_L
    served = k['load_kwh'] - k['unserved_crit_kwh'] - k['unserved_noncrit_kwh']
    fossil = k['gen_dc_kwh'] - k['dump_kwh'] + k['grid_dc_kwh']
    # HOMER's renewable fraction: the share of served load not from diesel or grid.
    k['renewable_fraction'] = 1.0 - fossil / served if served > 0 else 0.0
    k['self_consumption'] = k['pv_used_kwh'] / k['pv_avail_kwh'] if k['pv_avail_kwh'] else 0.0
    k['batt_throughput_kwh'] = k['dis_kwh']
    k['soc_end'] = site.batt.soc
    fw = getattr(ctl, 'counters', None)
    if fw is not None:
        k['fw_counter_l'] = fw.diesel_l
        k['fw_starts'] = ctl.gen.starts
        k['fw_run_h'] = ctl.gen.run_s / 3600.0
    return k
