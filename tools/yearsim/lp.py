# A lower bound on what any controller can spend on the same year: a linear
# program (scipy's HiGHS) over the site model with only the genset's on/off
# and its start cost relaxed. Why it stays a bound:
# - the on-variable u is continuous in 0..1 but keeps the fuel curve's fixed
#   part (F0 * rated * u), the minimum load (out >= min * u) and the most the
#   genset can give through the rectifier (out <= top * u), so every
#   minute of a run maps to a feasible point (u = 1 when carrying; a warm-up
#   or cool-down minute maps to u = 0 and costs the LP nothing);
# - the charge taper is dropped (only the C-rate stays), the battery may
#   charge and discharge in the same step, the final SOC is free: each only
#   widens what the LP may do;
# - steps of several minutes are block averages: every constraint is linear
#   with the same coefficients in each minute of a block, so the average of
#   a run's minutes over a block is feasible for the block (energy-
#   conservative: the block's energy is the sum of its minutes'). The SOC is
#   constrained only at block ends (a relaxation), and the grid price of a
#   block is its lowest minute's, so the LP's cost never exceeds the run's.
# The objective is the run's cost: litres * diesel_price + grid cost +
# unserved energy at its value of lost load; in an off-grid scenario with
# diesel_price 1 and nothing unserved it is litres.
import numpy as np
from scipy import optimize, sparse

_NV = 10
PV, GAC, U, GDC, GRID, CHG, DIS, UNC, UNN, E = range(_NV)


def prices(sc):
    e = sc.get('economics', {})
    return e.get('diesel_price', 1.0), e.get('voll_critical', 100.0), \
        e.get('voll_noncritical', 10.0)


def run_cost(sc, k):
    """The run's cost in the LP's objective."""
    fp, vc, vn = prices(sc)
    return fp * k['fuel_l'] + k['grid_cost'] + vc * k['unserved_crit_kwh'] \
        + vn * k['unserved_noncrit_kwh']


def _blocks(a, m, how):
    n = len(a) // m * m
    r = np.asarray(a[:n], dtype=float).reshape(-1, m)
    return r.min(axis=1) if how == 'min' else r.mean(axis=1)


def bound(sc, prof, minutes=None, step_min=60):
    """Solve the LP on blocks of step_min minutes; returns a dict with the
    bound (cost), its litres, grid cost and unserved energy."""
    n = prof['minutes'] if minutes is None else minutes
    if n % step_min:
        raise ValueError('the run (%d min) must be whole steps of %d min' % (n, step_min))
    s = sc['site']
    b = s['battery']
    g = s.get('genset')
    h = step_min / 60.0
    pv = _blocks(prof['pv_kw'][:n], step_min, 'mean')
    load = _blocks(prof['load_kw'][:n], step_min, 'mean')
    up = _blocks(prof['grid_up'][:n], step_min, 'mean')
    price = _blocks(prof['price'][:n], step_min, 'min')
    T = len(pv)
    crit = s['load'].get('critical_fraction', 1.0)
    eff = s.get('rectifier_eff', 0.95)
    rect = s['rectifier_kw']
    kwh = b['kwh']
    eta_c = b.get('eta_charge', 0.96)
    eta_d = b.get('eta_discharge', 0.96)
    rated = g['rated_kw'] if g else 0.0
    f0 = g.get('f0', 0.08415) if g else 0.0
    f1 = g.get('f1', 0.246) if g else 0.0
    mn = g.get('min_load', 0.3) * rated if g else 0.0
    fp, vc, vn = prices(sc)

    def col(v):
        return v * T + np.arange(T)

    lo = np.zeros((_NV, T))
    hi = np.zeros((_NV, T))
    hi[PV] = pv
    # The most the genset ever gives in the model: the rectifier's limit
    # (or its rating), never under its minimum load. Tying out to this
    # times u (not rated * u) is still valid at u = 1 and tighter.
    top = max(min(rated, rect / eff), mn)
    hi[GAC] = top if g else 0.0
    hi[U] = 1.0 if g else 0.0
    hi[GDC] = rect
    hi[GRID] = rect * up
    hi[CHG] = b.get('c_charge', 0.5) * kwh
    hi[DIS] = b.get('c_discharge', 0.5) * kwh
    hi[UNC] = load
    hi[UNN] = load * (1.0 - crit)
    lo[E] = b.get('min_soc', 5.0) / 100.0 * kwh
    hi[E] = kwh
    e0 = b.get('soc0', 60.0) / 100.0 * kwh

    c = np.zeros((_NV, T))
    c[U] = h * fp * f0 * rated
    c[GAC] = h * fp * f1
    c[GRID] = h * price / eff
    c[UNC] = h * vc
    c[UNN] = h * vn

    t = np.arange(T)
    one = np.ones(T)
    # Equalities: the bus balance, then the battery's energy.
    rows = [t] * 7
    cols = [col(PV), col(GDC), col(GRID), col(DIS), col(CHG), col(UNC), col(UNN)]
    vals = [one, one, one, one, -one, one, one]
    rows += [T + t, T + t, T + t, T + t[1:]]
    cols += [col(E), col(CHG), col(DIS), col(E)[:-1]]
    vals += [one, -h * eta_c * one, h / eta_d * one, -one[1:]]
    a_eq = sparse.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                             shape=(2 * T, _NV * T))
    b_eq = np.concatenate([load, np.zeros(T)])
    b_eq[T] = e0
    # Inequalities: out <= rated*u, min*u <= out, DC <= eff*AC, rectifier.
    rows = [t, t, T + t, T + t, 2 * T + t, 2 * T + t, 3 * T + t, 3 * T + t]
    cols = [col(GAC), col(U), col(U), col(GAC), col(GDC), col(GAC), col(GDC), col(GRID)]
    vals = [one, -top * one, mn * one, -one, one, -eff * one, one, one]
    a_ub = sparse.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                             shape=(4 * T, _NV * T))
    b_ub = np.concatenate([np.zeros(3 * T), rect * one])
    res = optimize.linprog(c.ravel(), A_ub=a_ub, b_ub=b_ub, A_eq=a_eq, b_eq=b_eq,
                           bounds=np.stack([lo.ravel(), hi.ravel()], axis=1), method='highs')
    if res.status != 0:
        raise RuntimeError('LP not solved: %s' % res.message)
    x = res.x.reshape(_NV, T)
    litres = float(h * (f0 * rated * x[U].sum() + f1 * x[GAC].sum()))
    return {'cost': float(res.fun), 'fuel_l': litres,
            'grid_cost': float(h * (price / eff * x[GRID]).sum()),
            'unserved_kwh': float(h * (x[UNC] + x[UNN]).sum()),
            'pv_used_kwh': float(h * x[PV].sum()), 'step_min': step_min, 'steps': T,
            'x': x}
