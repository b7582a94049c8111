# The site's physics for one minute: PV, the DC load, the battery, the
# genset and the grid through one rectifier stage. Plain floats, no numpy:
# it runs 525,600 times a year and a numpy scalar op costs more than the sum.
#
# Sign conventions follow firmware/site.py: battery current positive when it
# charges; powers in kW here, W in the snapshot.

DT_H = 1.0 / 60.0


class Battery:
    """Energy bucket with one-way efficiencies, C-rate limits, a linear charge
    taper above taper_soc (the CV phase) and a BMS floor at min_soc."""

    def __init__(self, b):
        self.kwh = b['kwh']
        self.v_nom = b['v_nom']
        self.ah = self.kwh * 1000.0 / self.v_nom
        self.eta_c = b.get('eta_charge', 0.96)
        self.eta_d = b.get('eta_discharge', 0.96)
        self.p_chg = b.get('c_charge', 0.5) * self.kwh
        self.p_dis = b.get('c_discharge', 0.5) * self.kwh
        self.taper_soc = b.get('taper_soc', 90.0)
        self.taper_min = b.get('taper_min_c', 0.02) * self.kwh     # kW left at 100 %
        self.min_soc = b.get('min_soc', 5.0)
        self.protect_soc = b.get('protect_soc', 6.0)
        self.soc = b.get('soc0', 60.0)

    def charge_max(self):
        """kW the battery takes now (DC bus side)."""
        s = self.soc
        p = self.p_chg
        if s > self.taper_soc:
            f = (100.0 - s) / (100.0 - self.taper_soc)
            p = self.taper_min + (p - self.taper_min) * f
        room = (100.0 - s) / 100.0 * self.kwh / self.eta_c / DT_H
        return max(0.0, min(p, room))

    def discharge_max(self):
        room = (self.soc - self.min_soc) / 100.0 * self.kwh * self.eta_d / DT_H
        return max(0.0, min(self.p_dis, room))

    def volts(self):
        # A LiFePO4-like flat curve: start_v/stop_v never decide in the model.
        return self.v_nom * (0.98 + 0.1 * self.soc / 100.0)

    def apply(self, chg, dis):
        self.soc += (chg * self.eta_c - dis / self.eta_d) * DT_H / self.kwh * 100.0
        if self.soc > 100.0:        # float dust only: charge_max keeps it in range
            self.soc = 100.0


class Genset:
    """A genset behind a DSE module: starts within the minute it is asked,
    carries only when its controller says (warm-up is the controller's),
    runs its own cool-down at no load after a stop. HOMER's fuel curve."""

    def __init__(self, g):
        self.rated = g['rated_kw']
        self.f0 = g.get('f0', 0.08415)
        self.f1 = g.get('f1', 0.246)
        self.min_kw = g.get('min_load', 0.3) * self.rated
        self.cool_min = g.get('cooldown_min', 2)
        self.state = 'stopped'
        self._cool = 0
        self.run_min = 0          # minutes since this run's start

    def start(self):
        if self.state != 'running':
            self.state = 'running'
            self.run_min = 0

    def stop(self):
        if self.state == 'running':
            self.state = 'cooling' if self.cool_min else 'stopped'
            self._cool = self.cool_min

    def minute_done(self):
        if self.state == 'running':
            self.run_min += 1
        elif self.state == 'cooling':
            self._cool -= 1
            if self._cool <= 0:
                self.state = 'stopped'

    @property
    def turning(self):
        return self.state != 'stopped'

    def litres(self, out_kw):
        return (self.f0 * self.rated + self.f1 * out_kw) * DT_H


class Flows:
    """One minute's flows (kW), kept for the balance test and the KPIs."""
    __slots__ = ('pv_avail', 'load', 'pv_used', 'pv_curt', 'grid_dc', 'grid_ac', 'gen_dc',
                 'gen_ac', 'gen_dump', 'chg', 'dis', 'unserved', 'fuel', 'soc')


def step(site, f, pv, load, grid_up, grid_on, grid_charge, gen_carry, gen_charge):
    """Move the site one minute; fills `f`. The grid (when up and switched
    on) or else a carrying genset feeds the DC bus through the rectifier
    after PV; the battery takes PV's surplus first, then the source's
    (grid_charge / gen_charge), and covers what is left."""
    b = site.batt
    g = site.gen
    eff = site.rect_eff
    pv_load = pv if pv < load else load
    deficit = load - pv_load
    surplus = pv - pv_load
    chg_max = b.charge_max()
    pv_chg = surplus if surplus < chg_max else chg_max
    use_grid = grid_up and grid_on
    use_gen = gen_carry and not use_grid and g is not None
    src_load = src_chg = dump = gen_ac = grid_ac = 0.0
    if use_grid or use_gen:
        cap = site.gen_cap if use_gen else site.rect_kw
        src_load = deficit if deficit < cap else cap
        deficit -= src_load
        if (use_grid and grid_charge) or (use_gen and gen_charge):
            room = min(chg_max - pv_chg, cap - src_load)
            src_chg = room if room > 0.0 else 0.0
        if use_gen:
            need = g.min_kw * eff - src_load - src_chg
            if need > 0.0:
                # Below the minimum load: PV backs off to let the genset
                # charge, and what still does not fit is dumped.
                shift = min(need, pv_chg)
                pv_chg -= shift
                src_chg += shift
                dump = need - shift
            gen_ac = (src_load + src_chg + dump) / eff
        else:
            grid_ac = (src_load + src_chg) / eff
    dis_max = b.discharge_max()
    dis = deficit if deficit < dis_max else dis_max
    unserved = deficit - dis
    chg = pv_chg + src_chg
    f.pv_avail = pv
    f.load = load
    f.pv_used = pv_load + pv_chg
    f.pv_curt = pv - f.pv_used
    f.grid_ac = grid_ac
    f.grid_dc = grid_ac * eff
    f.gen_ac = gen_ac
    f.gen_dc = gen_ac * eff
    f.gen_dump = dump
    f.chg = chg
    f.dis = dis
    f.unserved = unserved
    f.fuel = g.litres(gen_ac) if g is not None and g.turning else 0.0
    b.apply(chg, dis)
    f.soc = b.soc
    return f


class Site:
    def __init__(self, sc):
        s = sc['site']
        self.batt = Battery(s['battery'])
        self.gen = Genset(s['genset']) if s.get('genset') else None
        self.rect_kw = s['rectifier_kw']
        self.rect_eff = s.get('rectifier_eff', 0.95)
        # The genset feeds the bus through the rectifier: the smaller limit wins.
        self.gen_cap = min(self.rect_kw, self.gen.rated * self.rect_eff) if self.gen else 0.0
        self.has_grid = s.get('grid') is not None     # {}: a grid that never fails
        self.critical = s['load'].get('critical_fraction', 1.0)
