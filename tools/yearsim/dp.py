# A perfect-foresight reference for an off-grid genset: a dynamic program
# over the battery's SOC that knows the whole year's PV and load, and a
# controller that follows its decisions through the same site model as
# every other run (tools/yearsim/model.py). Its litres are what a
# controller could reach that knew the future; the LP bound (lp.py) is
# below every controller. The best possible controller lies between them.
#
# Why the LP is loose off grid: with the genset's on/off relaxed it runs
# the set at a fraction of an hour at full output and serves the load
# directly, so the battery's round-trip loss on what the set makes at
# night costs it nothing. A real set above its minimum load makes more
# than a 1.8 kW load takes and the battery stores the rest: that loss
# (~8 %) is in every run, this one's included.
#
# The DP: each minute, for each SOC on a grid of `n` points and the
# genset's state (stopped / running), the least litres to the year's end
# over three actions (stopped; running and charging the battery as it
# takes; running for the load only). A start costs its warm-up and cool-
# down at no load (the model's 1 + cooldown_min minutes at HOMER's F0).
# Unserved energy costs voll_critical / diesel_price litres a kWh. Values
# between grid points are interpolated: the grid is checked by running
# the DP at n and 2n (convergence() prints both).
#
# Memory: the value of a whole year on the grid would be 525,600 x 2 x n
# floats. It is kept once a day (checkpoints); the controller recomputes
# each day's minutes from the next day's checkpoint as it goes (twice the
# work, 1/1440 the memory).
import numpy as np

from .model import DT_H

OFF, CHARGE, CARRY = 0, 1, 2


class _Params:
    def __init__(self, sc):
        s = sc['site']
        b = s['battery']
        g = s['genset']
        self.kwh = b['kwh']
        self.eta_c = b.get('eta_charge', 0.96)
        self.eta_d = b.get('eta_discharge', 0.96)
        self.p_chg = b.get('c_charge', 0.5) * self.kwh
        self.p_dis = b.get('c_discharge', 0.5) * self.kwh
        self.taper = b.get('taper_soc', 90.0)
        self.taper_min = b.get('taper_min_c', 0.02) * self.kwh
        self.min_soc = b.get('min_soc', 5.0)
        self.soc0 = b.get('soc0', 60.0)
        self.eff = s.get('rectifier_eff', 0.95)
        self.rated = g['rated_kw']
        self.f0 = g.get('f0', 0.08415)
        self.f1 = g.get('f1', 0.246)
        self.min_dc = g.get('min_load', 0.3) * self.rated * self.eff
        self.cap = min(s['rectifier_kw'], self.rated * self.eff)
        idle_min = 1 + g.get('cooldown_min', 2)
        self.start_l = self.f0 * self.rated * idle_min * DT_H
        e = sc.get('economics', {})
        self.voll = e.get('voll_critical', 100.0) / e.get('diesel_price', 1.0)


def _step(p, soc, pv, load, action):
    """Next SOC and litres (unserved energy at its value) of one minute,
    for an array of SOCs: model.step's rules, vectorised."""
    room = (100.0 - soc) / 100.0 * p.kwh / p.eta_c / DT_H
    top = np.where(soc > p.taper,
                   p.taper_min + (p.p_chg - p.taper_min) * (100.0 - soc) / (100.0 - p.taper),
                   p.p_chg)
    chg_max = np.clip(np.minimum(top, room), 0.0, None)
    dis_max = np.clip(np.minimum(p.p_dis, (soc - p.min_soc) / 100.0 * p.kwh * p.eta_d / DT_H),
                      0.0, None)
    pv_load = min(pv, load)
    deficit = load - pv_load
    pv_chg = np.minimum(pv - pv_load, chg_max)
    litres = 0.0
    if action != OFF:
        src_load = min(deficit, p.cap)
        deficit -= src_load
        src_chg = np.clip(np.minimum(chg_max - pv_chg, p.cap - src_load), 0.0, None) \
            if action == CHARGE else np.zeros_like(soc)
        need = p.min_dc - src_load - src_chg
        shift = np.where(need > 0.0, np.minimum(need, pv_chg), 0.0)
        pv_chg = pv_chg - shift
        src_chg = src_chg + shift
        dump = np.clip(need - shift, 0.0, None)
        litres = (p.f0 * p.rated + p.f1 * (src_load + src_chg + dump) / p.eff) * DT_H
    else:
        src_chg = 0.0
    dis = np.minimum(deficit, dis_max)
    unserved = deficit - dis
    nxt = soc + ((pv_chg + src_chg) * p.eta_c - dis / p.eta_d) * DT_H / p.kwh * 100.0
    return np.minimum(nxt, 100.0), litres + p.voll * unserved * DT_H


class PerfectForesight:
    """The DP's decisions through the site model, as a yearsim controller."""

    name = 'perfect_foresight'

    def __init__(self, sc, prof, minutes, n=400, warmup_min=1):
        self.p = _Params(sc)
        self.pv = np.asarray(prof['pv_kw'][:minutes], dtype=float)
        self.load = np.asarray(prof['load_kw'][:minutes], dtype=float)
        self.minutes = minutes
        self.grid = np.linspace(self.p.min_soc, 100.0, n)
        self.warmup = warmup_min
        self.checkpoints = self._backward_days()
        self._day = None
        self._policy = None
        self.i = 0

    def _moves_at(self, t):
        pv, load = self.pv[t], self.load[t]
        return tuple(_step(self.p, self.grid, pv, load, a) for a in (OFF, CHARGE, CARRY))

    def _back(self, t, v_next):
        """The value at minute t from the value at t + 1, and each state's
        best action: v[0] stopped, v[1] running."""
        g = self.grid
        moves = self._moves_at(t)
        q = []
        for a in (OFF, CHARGE, CARRY):
            nxt, cost = moves[a]
            q.append(cost + np.interp(nxt, g, v_next[0 if a == OFF else 1]))
        q_off, q_chg, q_car = q
        run_best = np.minimum(q_chg, q_car)
        run_act = np.where(q_chg <= q_car, CHARGE, CARRY)
        # stopped: stay stopped, or start (paying the start)
        start = run_best + self.p.start_l
        v0 = np.minimum(q_off, start)
        a0 = np.where(q_off <= start, OFF, run_act)
        # running: stop (the start already paid the cool-down), or run on
        v1 = np.minimum(q_off, run_best)
        a1 = np.where(q_off <= run_best, OFF, run_act)
        vals = np.stack([v0, v1])
        best = np.stack([a0, a1]).astype(np.int8)
        return vals, best

    def _terminal(self):
        # Energy left short of the start's SOC is owed at the set's best
        # litres per kWh through the battery; more is worth nothing.
        p = self.p
        per_kwh = (p.f0 * p.rated / (p.cap / p.eff) + p.f1) / p.eff / p.eta_c
        short = np.clip(p.soc0 - self.grid, 0.0, None) / 100.0 * p.kwh
        v = short * per_kwh
        return np.stack([v, v])

    def _backward_days(self):
        days = (self.minutes + 1439) // 1440
        cps = [None] * (days + 1)
        v = self._terminal()
        cps[days] = v
        for t in range(self.minutes - 1, -1, -1):
            v, _ = self._back(t, v)
            if t % 1440 == 0:
                cps[t // 1440] = v
        return cps

    def value(self, soc, running=False):
        """The DP's litres from the first minute at `soc`."""
        return float(np.interp(soc, self.grid, self.checkpoints[0][1 if running else 0]))

    def _day_policy(self, day):
        end = min((day + 1) * 1440, self.minutes)
        v = self.checkpoints[day + 1] if (day + 1) * 1440 <= self.minutes else self._terminal()
        pol = [None] * (end - day * 1440)
        for t in range(end - 1, day * 1440 - 1, -1):
            v, a = self._back(t, v)
            pol[t - day * 1440] = a
        return pol

    def decide(self, site, ts, pv, load, grid_up, f):
        t = self.i
        self.i += 1
        day = t // 1440
        if day != self._day:
            self._day = day
            self._policy = self._day_policy(day)
        gen = site.gen
        running = gen.state == 'running'
        # The grid point at or under the SOC: the cautious side of it.
        j = int((site.batt.soc - self.p.min_soc) / (100.0 - self.p.min_soc)
                * (len(self.grid) - 1))
        j = min(max(j, 0), len(self.grid) - 1)
        a = int(self._policy[t - day * 1440][1 if running else 0][j])
        if a == OFF:
            if running:
                gen.stop()
            return True, True, False, False
        if not running:
            gen.start()
        carry = gen.state == 'running' and gen.run_min >= self.warmup
        return True, True, carry, a == CHARGE


def applies(sc):
    """The DP models an off-grid site with a genset."""
    s = sc['site']
    return bool(s.get('genset')) and s.get('grid') is None
