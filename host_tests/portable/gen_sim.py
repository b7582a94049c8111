# A simulated clock and snapshot around firmware.generator for the tests.
from firmware import config, site, generator as G
from firmware.bus_errors import BusError, EXCEPTION
from firmware.hw import actuators as A
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


class Module:
    """A DSE module on the bus for DseKeys: it takes the keys (in `keys`)
    but those in `refuse`, and offers the keys `flags` names (None: it has
    no key-availability registers, so the read fails)."""

    online = True

    def __init__(self):
        self.keys = []
        self.flags = None
        self.refuse = []    # keys refused once each (a bus error), then taken

    def write(self, addr, values):
        assert addr == A.KEY_REG and values[1] == 65535 - values[0]
        if values[0] in self.refuse:
            self.refuse.remove(values[0])
            return 'timeout'
        self.keys.append(values[0])
        return None

    def request(self, fc, addr, n):
        if self.flags is None:
            raise BusError(EXCEPTION, 'illegal address')
        out = bytearray()
        for f in self.flags:
            out.append(f >> 8)
            out.append(f & 255)
        return bytes(out)


class Sim:
    """Ticks a Generator once a simulated second with a snapshot the test
    edits, its DSE intents sent through the firmware's DseKeys to a Module;
    the genset follows the relay or the keys when `obey` is set."""

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
        self.module = Module()
        self.sent = self.module.keys
        self.keys = A.DseKeys(self.module, self.g) if self.g.control == 'dse' else None

    def set(self, **kw):
        self.snap.update(kw)

    def step(self, seconds=1, **kw):
        self.snap.update(kw)
        for _ in range(int(seconds)):
            self.g.tick(self.now, self.ts, self.snap)
            n = len(self.sent)
            if self.keys is not None:
                self.keys.apply(self.now)
            for k in self.sent[n:]:
                if self.obey:
                    if k in (A.KEY_TELE_START, A.KEY_START):
                        self.snap['gen_state'] = 'running'
                    elif k in (A.KEY_TELE_CANCEL, A.KEY_STOP_MODE):
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
