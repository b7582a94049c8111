# Load shedding as telecom LLVD contactors do it: a non-critical load trips
# when the site runs on battery and the battery voltage or SOC falls below
# the load's level or the backup time allotted to it is spent; it reconnects
# only once a source is back, its contactor has been open a minimum time and
# the battery is above the reconnect level. Loads trip one at a time in
# priority order (1 first) and return in reverse order. Loads marked
# critical are never shed by the controller. Pure logic, allocation-free
# ticks: per-load state sits in preallocated lists.
from firmware.compat import const, ticks_diff

TRIP_DELAY_MS = const(10000)     # a condition must hold this long (no dips)
STEP_MS = const(30000)           # between two trips, and between two restores
MANUAL_HOLD_MS = const(3600000)  # a manual restore keeps auto shedding off this long


class Shedding:
    def __init__(self, loads_cfg):
        # Shed order: priority, then config order.
        order = sorted(range(len(loads_cfg)), key=lambda i: (loads_cfg[i]['priority'], i))
        self.loads = [loads_cfg[i] for i in order]
        n = len(self.loads)
        self.names = [l['name'] for l in self.loads]
        self.shed = [False] * n        # contactor open
        self.forced = [False] * n      # shed by command
        self._t_cond = [None] * n      # ticks_ms the trip condition began
        self._t_open = [None] * n      # ticks_ms the contactor opened
        self._hold = [None] * n        # ticks_ms of a manual restore
        self.stack = []                # indexes in the order they were shed
        self.n_shed = 0
        self._t_batt = None            # ticks_ms the site went on battery
        self._t_step = None
        self.events = []               # (name, shed: bool, why)

    def index(self, name):
        for i in range(len(self.names)):
            if self.names[i] == name:
                return i
        raise ValueError('no load named %r' % name)

    def force_shed(self, name, now):
        i = self.index(name)
        if self.loads[i]['critical']:
            raise ValueError('%s is critical: the controller never sheds it' % name)
        self.forced[i] = True
        self._hold[i] = None
        if not self.shed[i]:
            self._open(i, now, 'manual')

    def force_restore(self, name, now):
        i = self.index(name)
        self.forced[i] = False
        self._hold[i] = now
        if self.shed[i]:
            self._close(i, 'manual')

    def _open(self, i, now, why):
        self.shed[i] = True
        self._t_open[i] = now
        self.stack.append(i)
        self.n_shed += 1
        self.events.append((self.names[i], True, why))

    def _close(self, i, why):
        self.shed[i] = False
        self._t_open[i] = None
        if i in self.stack:
            self.stack.remove(i)
        self.n_shed -= 1
        self.events.append((self.names[i], False, why))

    def _trip_due(self, i, snap, now, batt_ms):
        l = self.loads[i]
        v = snap['batt_v']
        soc = snap['batt_soc']
        if l['shed_v'] is not None and v is not None and v < l['shed_v']:
            return True
        if l['shed_soc'] is not None and soc is not None and soc < l['shed_soc']:
            return True
        b = l['backup_s']
        return b is not None and batt_ms >= b * 1000

    def _restore_ok(self, i, snap, now):
        l = self.loads[i]
        if ticks_diff(now, self._t_open[i]) < l['min_off_s'] * 1000:
            return False
        v = snap['batt_v']
        soc = snap['batt_soc']
        if l['restore_v'] is not None and (v is None or v < l['restore_v']):
            return False
        if l['restore_soc'] is not None and soc is not None and soc < l['restore_soc']:
            return False
        return True

    def tick(self, now, snap, on_battery):
        if on_battery:
            if self._t_batt is None:
                self._t_batt = now
            batt_ms = ticks_diff(now, self._t_batt)
        else:
            self._t_batt = None
            batt_ms = 0
        stepped = self._t_step is not None and ticks_diff(now, self._t_step) < STEP_MS
        n = len(self.loads)
        if on_battery:
            for i in range(n):
                if self.shed[i] or self.loads[i]['critical']:
                    self._t_cond[i] = None
                    continue
                h = self._hold[i]
                if h is not None:
                    if ticks_diff(now, h) < MANUAL_HOLD_MS:
                        continue
                    self._hold[i] = None
                if self._trip_due(i, snap, now, batt_ms):
                    if self._t_cond[i] is None:
                        self._t_cond[i] = now
                    if not stepped and ticks_diff(now, self._t_cond[i]) >= TRIP_DELAY_MS:
                        self._open(i, now, 'auto')
                        self._t_step = now
                        stepped = True
                else:
                    self._t_cond[i] = None
        else:
            for i in range(n):
                self._t_cond[i] = None
            # Back in reverse order, one at a time, the last shed first.
            if self.stack and not stepped:
                i = self.stack[-1]
                if not self.forced[i] and self._restore_ok(i, snap, now):
                    self._close(i, 'auto')
                    self._t_step = now
        return self

    def level(self, i):
        """Pin level for load i's contactor."""
        closed = not self.shed[i]
        return 1 if closed == self.loads[i]['active_high'] else 0
