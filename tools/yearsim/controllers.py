# Who decides each minute: the firmware (its own Generator, Dispatch and
# Counters, ticked as firmware/app.py ticks them) or a textbook baseline.
# decide() gets the minute's inputs and the last minute's flows, starts or
# stops the genset, and returns (grid_on, grid_charge, gen_carry, gen_charge).
from firmware import generator as G
from firmware.counters import Counters
from firmware.dispatch import Dispatch
from firmware.site import FIELDS
from firmware import startup

_TICK_MS = 60000


def _blank_snap():
    s = {}
    for k in FIELDS:
        s[k] = None
    s['dev'] = {}     # no genset counters: the firmware counts run time itself
    return s


class Firmware:
    """The board's loop at one tick a minute: snapshot in (the fields
    firmware/site.update fills), generator state and DSE intents and the
    dispatch decision out. The genset obeys WANT_START / WANT_STOP."""

    name = 'firmware'

    def __init__(self, cfg, utc_offset_min=0):
        self.gen = G.Generator(cfg['generator'], utc_offset_min)
        self.disp = Dispatch(cfg['dispatch'], utc_offset_min)
        self.counters = Counters(cfg['generator'])
        # The PV forecast as the App builds it (None without a position).
        fc_cfg = dict(cfg, utc_offset_min=utc_offset_min)
        self.forecast = startup.forecast(fc_cfg)
        self.snap = _blank_snap()
        self.now = 1000

    def _fill(self, site, ts, load, grid_up, f):
        s = self.snap
        b = site.batt
        v = b.volts()
        s['ts'] = ts
        s['pv_w'] = f.pv_used * 1000.0
        s['batt_v'] = v
        a = (f.chg - f.dis) * 1000.0 / v
        s['batt_a'] = a
        s['batt_w'] = a * v
        s['batt_soc'] = b.soc
        s['batt_ah'] = b.ah
        s['batt_protect'] = b.soc <= b.protect_soc
        s['batt_warn'] = False
        s['batt_no_charge'] = False
        s['batt_src'] = 'bms'
        s['load_w'] = load * 1000.0          # a load meter
        s['load_derived'] = False
        if site.has_grid:
            s['grid_ok'] = grid_up
            s['grid_v'] = 230.0 if grid_up else 0.0
            s['grid_w'] = f.grid_ac * 1000.0
        gen = site.gen
        if gen is not None:
            st = gen.state
            s['gen_state'] = st
            s['gen_w'] = f.gen_ac * 1000.0
            s['gen_hz'] = 50.0 if st != 'stopped' else 0.0
            s['fuel_pct'] = 80.0             # refuelled: fuel never decides here

    def decide(self, site, ts, pv, load, grid_up, f):
        self._fill(site, ts, load, grid_up, f)
        g = self.gen.tick(self.now, ts, self.snap)
        if g.intents:
            for want in g.intents:
                if site.gen is not None:
                    if want == G.WANT_START:
                        site.gen.start()
                    else:
                        site.gen.stop()
            del g.intents[:]
        d = self.disp.tick(ts, self.snap, g.available)
        self.counters.tick(self.snap, _TICK_MS, g.feedback is True, 0)
        fc = self.forecast
        if fc is not None:          # as App.tick does, after the counters
            fc.tick(ts, self.counters.pv_wh(), self.snap)
            self.gen.pv_stop_soc = fc.target
            self.disp.pv_keep = fc.keep
        self.now += _TICK_MS
        return d.grid_on, d.grid_charge, g.available, True


class Baseline:
    """A genset rule on SOC: start at or under start_soc, stop at or over
    stop_soc. The grid, when up, carries and charges (a plain rectifier)
    and no genset starts. warmup_min of no-load running before it carries."""

    def __init__(self, name, start_soc, stop_soc, charge, warmup_min=1, always=False,
                 pv_stops=False):
        self.name = name
        self.start_soc = start_soc
        self.stop_soc = stop_soc
        self.charge = charge          # the genset charges the battery to its limit
        self.warmup = warmup_min
        self.always = always
        self.pv_stops = pv_stops      # load following: PV carrying the load ends the run

    def decide(self, site, ts, pv, load, grid_up, f):
        gen = site.gen
        soc = site.batt.soc
        if gen is None:
            return True, True, False, False
        if self.always:
            gen.start()
        elif gen.state == 'running':
            if grid_up or soc >= self.stop_soc or (self.pv_stops and pv >= load):
                gen.stop()
        elif soc <= self.start_soc and not grid_up and not (self.pv_stops and pv >= load):
            gen.start()
        carry = gen.state == 'running' and gen.run_min >= self.warmup
        return True, True, carry, self.charge


def baselines(sc):
    """The scenario's baselines (diesel 24/7, load following, cycle charging)."""
    if not sc['site'].get('genset'):
        # No diesel: the one baseline is a plain rectifier, grid first.
        return [Baseline('grid_first', 0, 101, False)]
    bl = sc.get('baselines', {})
    w = bl.get('warmup_min', 1)
    lf = bl.get('load_following', [20, 25])
    cc = bl.get('cycle_charging', [10, 90])
    return [Baseline('diesel_24_7', 0, 101, True, w, always=True),
            Baseline('load_following', lf[0], lf[1], False, w, pv_stops=True),
            Baseline('cycle_charging_%d_%d' % tuple(cc), cc[0], cc[1], True, w)]
