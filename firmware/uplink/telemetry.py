# What goes to <prefix>/<site_id>/telemetry: the site picture's fields plus
# the controller's own (mode, gen_ctl, shed) and a per-site sequence number,
# sent every mqtt.telemetry_s and at once on a significant change. Pure
# logic; the link sends what this builds.
from firmware import clock
from firmware.clock import to_unix
from firmware.decode import at
import json

# The snapshot fields sent, and for each the change that counts as
# significant (None: any change of value counts, for states and flags).
# Two flat tuples, whole numbers where they are whole: on the board a tuple
# and a float are each a heap block, kept for as long as the link runs.
FIELDS = ('pv_w', 'batt_v', 'batt_a', 'batt_w', 'batt_soc', 'load_w', 'grid_ok', 'grid_w',
          'gen_state', 'gen_w', 'gen_hz', 'fuel_pct', 'batt_src', 'load_derived')
DEADBANDS = (200, 0.5, 10, 500, 2, 200, None, 300, None, 500, 2, 2, None, None)
# Each field's resolution in decimals, as it goes out: that of the finest
# device that feeds it (EPEver PV W 0.01; PACE/EPEver battery V, A 0.01;
# Seplos SOC 0.1 %; a meter's Hz 0.01, W 1; DSE W 1, fuel 1 %); the derived
# ones (batt_w = V x A, the DC balance's load_w) to 1 W. Whole numbers
# (a PACE's SOC) stay whole.
DECIMALS = (2, 2, 2, 0, 1, 0, 0, 0, 0, 0, 2, 0, 0, 0)


class Telemetry:
    def __init__(self, period_s, seq=0):
        self.period_ms = period_s * 1000
        self.seq = seq              # the last seq sent (reserved on flash by the uplink)
        self._last = {}             # field -> value last sent
        self._last_ctl = None
        self._t = None              # ticks of the last record

    def _significant(self, snap, ctl):
        last = self._last
        if ctl != self._last_ctl:
            return True
        for i in range(len(FIELDS)):
            name = FIELDS[i]
            band = DEADBANDS[i]
            v = snap[name]
            old = last.get(name)
            if band is None or v is None or old is None:
                if v != old:
                    return True
            elif abs(v - old) >= band:
                return True
        return False

    def due(self, now_ms, snap, ctl, diff):
        """True when a record is due: the period has passed, or something
        moved more than its deadband. `ctl` is a small tuple of the
        controller's own state (mode, gen_ctl, shed); diff is ticks_diff."""
        if self._t is None or diff(now_ms, self._t) >= self.period_ms:
            return True
        return self._significant(snap, ctl)

    def record(self, now_ms, snap, mode, gen_ctl, shed):
        """The next record as JSON text (and remember what it said)."""
        self.seq += 1
        self._t = now_ms
        out = {'seq': self.seq, 'ts': to_unix(snap['ts']), 'clock_ok': clock.valid,
               'mode': mode, 'gen_ctl': gen_ctl, 'shed': list(shed)}
        for i in range(len(FIELDS)):
            name = FIELDS[i]
            v = snap[name]
            out[name] = at(v, DECIMALS[i])
            self._last[name] = v
        self._last_ctl = (mode, gen_ctl, tuple(shed))
        return json.dumps(out)
