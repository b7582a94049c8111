# The generator's automatic start reasons as rows of one table, evaluated by
# one loop (the shape of Victron's dbus_generator startstop.py): a row names
# the snapshot value it watches, which way that value starts the generator,
# its thresholds, delays and minimum run. Exercise and manual runs are not
# snapshot thresholds: firmware/generator.py adds them.
#
# Allocation: update() allocates nothing (the thresholds are read from the
# config as they are; the state is two ints and a preallocated list).
from firmware.compat import const, ticks_diff

# Start reasons, bit flags so that several can be active without a list.
R_SOC = const(1)
R_VOLT = const(2)
R_LOAD = const(4)
R_GRID = const(8)
R_BMS = const(16)
R_BMS_WARN = const(32)
R_EXERCISE = const(64)
R_MANUAL = const(128)
R_COMM = const(256)
# Their names, bit 0 first.
REASON_NAMES = ('soc', 'voltage', 'load', 'grid_lost', 'bms_protect', 'bms_cell_low', 'exercise',
                'manual', 'comm_loss')
BATTERY_REASONS = const(R_SOC | R_VOLT | R_LOAD | R_BMS | R_BMS_WARN | R_COMM)

_STOP_V_DELAY_MS = const(60000)    # voltage must stay recovered this long

# Which way a value starts the generator. None (no data) neither starts nor
# stops: a reason holds through a gap in the data.
_BELOW = const(0)    # starts under the start threshold, stops at or over the stop one
_ABOVE = const(1)    # starts over the start threshold, stops under the stop one
_FLAG = const(2)     # starts on True, stops on False

_SAME_AS_START = const(-1)    # a stop delay: the row's own start delay


def reason_text(bits):
    out = []
    for i in range(len(REASON_NAMES)):
        if bits & (1 << i):
            out.append(REASON_NAMES[i])
    return ','.join(out)


# One row a reason: (bit, value getter (a function of the snapshot), which
# way it starts, config keys of the start and the stop threshold and of the
# start delay, the stop delay in ms, config key of the minimum run, whether
# it may start (a function of the config; None: it may), whether a healthy
# grid vetoes it). A start threshold or start delay configured None leaves
# the reason out. A healthy grid carries and charges: a battery reason does
# not start the diesel then, and a run for it ends.
ROWS = (
    (R_SOC, lambda s: s['batt_soc'], _BELOW, 'start_soc', 'stop_soc', 'start_delay_s', 0,
     None, None, True),
    (R_VOLT, lambda s: s['batt_v'], _BELOW, 'start_v', 'stop_v', 'start_delay_s',
     _STOP_V_DELAY_MS, None, None, True),
    (R_LOAD, lambda s: s['load_w'], _ABOVE, 'start_load_w', 'stop_load_w', 'start_delay_s',
     _SAME_AS_START, None, None, True),
    (R_GRID, lambda s: None if s['grid_ok'] is None else s['grid_ok'] is False, _FLAG,
     None, None, 'grid_loss_start_s', 0, None, None, False),
    # A protection that forbids charge (over-voltage, charging over-current
    # or over-temperature: firmware/site.py) is no reason to charge.
    (R_BMS, lambda s: s['batt_protect'] and s['batt_no_charge'] is not True
     if s['batt_protect'] is not None else None, _FLAG, None, None, None, 0, None, None, True),
    # batt_warn is a cell or pack LOW warning only (firmware/site.py): a high
    # one forbids charge and must never start the diesel. No word from the
    # BMS ends a cell-low run: it no longer asks for one.
    (R_BMS_WARN, lambda s: s['batt_warn'] is True, _FLAG, None, None, None, 0,
     'bms_min_run_s', lambda g: g['bms_warn_start'], True),
    # The charger's voltage alone keeps the battery known: no comm loss.
    (R_COMM, lambda s: s['batt_soc'] is None and s['batt_v'] is None, _FLAG, None, None,
     'start_delay_s', 0, None, lambda g: g['on_comm_loss'] == 'start', False),
)


_ROW_BITS = const(R_SOC | R_VOLT | R_LOAD | R_GRID | R_BMS | R_BMS_WARN | R_COMM)


class Reasons:
    """The automatic start reasons of one generator config: each row's raw
    start and stop tests every tick, through its start delay, stop delay
    and minimum run."""

    def __init__(self, g):
        self.cfg = g
        self.active = 0           # bits of the reasons that hold
        self.waiting = 0          # bits of the reasons waiting out their start delay
        self._t = [None] * len(ROWS)   # ticks_ms a row's start or stop test turned true
        self.soc_start = None     # a lower SOC start for now (an outage the grid ends soon)

    def reset(self):
        self.active = 0
        self.waiting = 0
        t = self._t
        for i in range(len(t)):
            t[i] = None

    def hold(self, bits):
        """A run restored after a reboot: its reasons hold until they clear."""
        self.active |= bits & _ROW_BITS

    def update(self, snap, now, run_ms):
        """One step of every row; run_ms: how long the current run has run."""
        g = self.cfg
        grid_up = snap['grid_ok'] is True
        act = self.active
        wait = 0
        t = self._t
        i = -1
        for bit, get, way, k_on, k_off, k_delay, off_ms, k_min, starts, vetoed in ROWS:
            i += 1
            on = None if k_on is None else g[k_on]
            if bit == R_SOC and on is not None and self.soc_start is not None \
                    and self.soc_start < on:
                on = self.soc_start
            delay = 0 if k_delay is None else g[k_delay]
            if delay is None or (on is None and k_on is not None):
                act &= ~bit         # left out by the config
                t[i] = None
                continue
            v = get(snap)
            if vetoed and grid_up:
                start = False
                stop = True
            elif v is None:
                start = stop = False
            elif way == _BELOW:
                start = v < on
                stop = v >= g[k_off]
            elif way == _ABOVE:
                start = v > on
                stop = v < g[k_off]
            else:
                start = v is True
                stop = v is False
            if not act & bit:
                if start and (starts is None or starts(g)):
                    if t[i] is None:
                        t[i] = now
                    if ticks_diff(now, t[i]) >= delay * 1000:
                        act |= bit
                        t[i] = None
                    else:
                        wait |= bit
                else:
                    t[i] = None
            elif stop:
                if t[i] is None:
                    t[i] = now
                if off_ms == _SAME_AS_START:
                    off_ms = delay * 1000
                if ticks_diff(now, t[i]) >= off_ms \
                        and (k_min is None or run_ms >= g[k_min] * 1000):
                    act &= ~bit
                    t[i] = None
            else:
                t[i] = None
        self.active = act
        self.waiting = wait
