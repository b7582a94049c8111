# A simulated clock and snapshot around firmware.generator for the tests.
from firmware import config, site, generator as G
from helpers import example

T0 = 820576800      # 2026-01-01 10:00:00 UTC in the clock's seconds since 2000 (firmware/clock.py)


def gcfg(**over):
    raw = example()
    g = {'exercise_days': 0, 'pv_stop_s': 0, 'stop_taper_c': 0}
    g.update(over)
    raw['generator'] = g
    return config.validate(raw)['generator']


def blank_snap():
    s = {}
    for f in site.FIELDS:
        s[f] = None
    s['dev'] = {}
    return s


class Sim:
    """Ticks a Generator once a simulated second with a snapshot the test
    edits; the genset follows the relay or the DSE keys when `obey` is set."""

    def __init__(self, ts=T0, obey=False, **over):
        self.g = G.Generator(gcfg(**over))
        self.now = 1000
        self.ts = ts
        self.snap = blank_snap()
        self.snap['batt_soc'] = 60
        self.snap['batt_v'] = 52.0
        self.snap['fuel_pct'] = 80
        self.snap['gen_state'] = 'stopped'
        self.obey = obey
        self.sent = []

    def set(self, **kw):
        self.snap.update(kw)

    def step(self, seconds=1, **kw):
        self.snap.update(kw)
        for _ in range(int(seconds)):
            self.g.tick(self.now, self.ts, self.snap)
            while self.g.keys:
                k = self.g.keys[0]
                self.sent.append(k)
                self.g.key_sent(True)
                if self.obey:
                    if k in (G.KEY_TELE_START, G.KEY_START):
                        self.snap['gen_state'] = 'running'
                    elif k in (G.KEY_TELE_CANCEL, G.KEY_STOP_MODE):
                        self.snap['gen_state'] = 'stopped'
            if self.obey and self.g.control == 'relay':
                self.snap['gen_state'] = 'running' if self.g.out_run and \
                    (self.g.out_crank or self.snap['gen_state'] == 'running') else 'stopped'
            self.now += 1000
            self.ts += 1
        return self.g.state_name

    def run_until(self, state, limit=100000):
        for _ in range(limit):
            if self.g.state_name == state:
                return True
            self.step()
        return False
