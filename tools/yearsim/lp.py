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


class _P:
    """The site's numbers the LP needs, genset figures 0 when there is none."""

    def __init__(self, sc):
        s = sc['site']
        b = s['battery']
        g = s.get('genset') or {}
        self.has_gen = bool(g)
        self.crit = s['load'].get('critical_fraction', 1.0)
        self.eff = s.get('rectifier_eff', 0.95)
        self.rect = s['rectifier_kw']
        self.kwh = b['kwh']
        self.eta_c = b.get('eta_charge', 0.96)
        self.eta_d = b.get('eta_discharge', 0.96)
        self.p_chg = b.get('c_charge', 0.5) * self.kwh
        self.p_dis = b.get('c_discharge', 0.5) * self.kwh
        self.e_min = b.get('min_soc', 5.0) / 100.0 * self.kwh
        self.e0 = b.get('soc0', 60.0) / 100.0 * self.kwh
        self.rated = g.get('rated_kw', 0.0)
        self.f0 = g.get('f0', 0.08415)
        self.f1 = g.get('f1', 0.246)
        self.mn = g.get('min_load', 0.3) * self.rated
        # The most the genset ever gives in the model: the rectifier's limit
        # (or its rating), never under its minimum load. Tying out to this
        # times u (not rated * u) is still exact at u = 1 and tighter.
        self.top = max(min(self.rated, self.rect / self.eff), self.mn)
        self.fp, self.vc, self.vn = prices(sc)


def _box(p, pv, load, up):
    lo = np.zeros((_NV, len(pv)))
    hi = np.zeros((_NV, len(pv)))
    hi[PV] = pv
    hi[GAC] = p.top
    hi[U] = 1.0 if p.has_gen else 0.0
    hi[GDC] = p.rect
    hi[GRID] = p.rect * up
    hi[CHG] = p.p_chg
    hi[DIS] = p.p_dis
    hi[UNC] = load
    hi[UNN] = load * (1.0 - p.crit)
    lo[E] = p.e_min
    hi[E] = p.kwh
    return np.stack([lo.ravel(), hi.ravel()], axis=1)


def _costs(p, price, h):
    c = np.zeros((_NV, len(price)))
    c[U] = h * p.fp * p.f0 * p.rated
    c[GAC] = h * p.fp * p.f1
    c[GRID] = h * price / p.eff
    c[UNC] = h * p.vc
    c[UNN] = h * p.vn
    return c.ravel()


def _matrix(rows, cols, vals, n_rows, T):
    return sparse.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                             shape=(n_rows, _NV * T))


def _equalities(p, load, h):
    """The bus balance of each block, then the battery's energy."""
    T = len(load)
    t = np.arange(T)
    one = np.ones(T)
    rows = [t] * 7 + [T + t, T + t, T + t, T + t[1:]]
    cols = [PV * T + t, GDC * T + t, GRID * T + t, DIS * T + t, CHG * T + t, UNC * T + t,
            UNN * T + t, E * T + t, CHG * T + t, DIS * T + t, E * T + t[:-1]]
    vals = [one, one, one, one, -one, one, one,
            one, -h * p.eta_c * one, h / p.eta_d * one, -one[1:]]
    b_eq = np.concatenate([load, np.zeros(T)])
    b_eq[T] = p.e0
    return _matrix(rows, cols, vals, 2 * T, T), b_eq


def _inequalities(p, T):
    """out <= top * u, min * u <= out, DC <= eff * AC, grid + genset <= rectifier."""
    t = np.arange(T)
    one = np.ones(T)
    rows = [t, t, T + t, T + t, 2 * T + t, 2 * T + t, 3 * T + t, 3 * T + t]
    cols = [GAC * T + t, U * T + t, U * T + t, GAC * T + t, GDC * T + t, GAC * T + t,
            GDC * T + t, GRID * T + t]
    vals = [one, -p.top * one, p.mn * one, -one, one, -p.eff * one, one, one]
    b_ub = np.concatenate([np.zeros(3 * T), p.rect * one])
    return _matrix(rows, cols, vals, 4 * T, T), b_ub


def bound(sc, prof, minutes=None, step_min=60):
    """Solve the LP on blocks of step_min minutes; returns a dict with the
    bound (cost), its litres, grid cost and unserved energy."""
    n = prof['minutes'] if minutes is None else minutes
    if n % step_min:
        raise ValueError('the run (%d min) must be whole steps of %d min' % (n, step_min))
    p = _P(sc)
    h = step_min / 60.0
    pv = _blocks(prof['pv_kw'][:n], step_min, 'mean')
    load = _blocks(prof['load_kw'][:n], step_min, 'mean')
    up = _blocks(prof['grid_up'][:n], step_min, 'mean')
    price = _blocks(prof['price'][:n], step_min, 'min')
    a_eq, b_eq = _equalities(p, load, h)
    a_ub, b_ub = _inequalities(p, len(pv))
    res = optimize.linprog(_costs(p, price, h), A_ub=a_ub, b_ub=b_ub, A_eq=a_eq, b_eq=b_eq,
                           bounds=_box(p, pv, load, up), method='highs')
    if res.status != 0:
        raise RuntimeError('LP not solved: %s' % res.message)
    x = res.x.reshape(_NV, len(pv))
    return {'cost': float(res.fun),
            'fuel_l': float(h * (p.f0 * p.rated * x[U].sum() + p.f1 * x[GAC].sum())),
            'grid_cost': float(h * (price / p.eff * x[GRID]).sum()),
            'unserved_kwh': float(h * (x[UNC] + x[UNN]).sum()),
            'pv_used_kwh': float(h * x[PV].sum()), 'step_min': step_min, 'steps': len(pv),
            'x': x}
