# The alarm table and its state: each alarm raises after its condition has
# held for the raise delay and clears after it has been gone for the clear
# delay; a latched alarm also waits for an acknowledgement. Every raise,
# clear and ack is queued as an event for the uplink.
#
# Called every poll cycle, so a call that changes nothing allocates nothing:
# the state lives in preallocated lists and a bytearray, and thresholds
# derived from the config are computed once here, not per call (float
# arithmetic allocates in MicroPython).
from firmware.compat import const, ticks_diff
from firmware.poller import MISSES_OFFLINE
from firmware.site import dse_alarm, DSE_WARNING, DSE_TRIP, SEP_HOT_T, SEP_HOT_ENV

CRITICAL = const(1)
MAJOR = const(2)
MINOR = const(3)
WARNING = const(4)
SEVERITY_NAMES = ('', 'critical', 'major', 'minor', 'warning')


def severity_name(sev):
    return SEVERITY_NAMES[sev]


# The alarm table itself is firmware/alarm_table.py, read once by Alarms()
# and unloaded: its rows are heap the running controller does not need. The
# first six rows are evaluated here from the snapshot (their indices below).
_BATT_LOW = const(0)
_BATT_CRIT = const(1)
_BATT_OVERTEMP = const(2)
_BMS_PROTECT = const(3)
_BATT_DATA_LOST = const(4)
_GRID_LOST = const(5)

# dev_offline.<name>: the poller already waited MISSES_OFFLINE cycles.
DEV_OFFLINE = 'dev_offline.'
_DEV_SEVERITY = MINOR

# Hysteresis: a battery alarm clears only this far on the good side.
SOC_BAND = 5
V_BAND = 1.0
TEMP_BAND = 5

# Bits of the per-alarm flags byte.
_COND = const(1)       # the condition as last seen (after hysteresis)
_ACTIVE = const(2)
_ACKED = const(4)
_LATCHED = const(8)

# EPEver's charging equipment status (0x3201; "LS-B/VS-B/Tracer-B/Tracer-A/
# iTracer/eTracer Controller Communication Instruction" V2.5): D15-D14 input
# voltage 2 higher / 3 error, D13 charging MOSFET short, D12 charging or
# anti-reverse MOSFET open, D11 anti-reverse MOSFET short, D10 input over
# current, D9 load over current, D8 load short, D7 load MOSFET short, D6
# disequilibrium in three circuits, D4 PV input short. D1 ("0 normal, 1
# fault") is set without any fault by some firmware: never alone.
_MPPT_FAULTS = const(0xBFD0)

_BMS_TEMPS = ('temp1_c', 'temp2_c', 'temp3_c', 'temp4_c', 'cell_tmax_c')   # PACE; Seplos

# The DSE named alarms of the table's gen_emergency_stop.. rows, by their
# 0-based place in GenComm's page 154 list for the 72xx/73xx MkII family:
# emergency stop 0, low oil pressure 1, high coolant temperature 2, under
# speed 4, over speed 5, charge alternator failure 12, fail to start 13,
# low fuel level 22.
_DSE_NAMED = b'\x00\x01\x02\x04\x05\x0c\x0d\x16'
_NO_EVENTS = ()


class Alarms:
    def __init__(self, acfg, device_names, max_events=32):
        delay = acfg['delay_s']
        from firmware import alarm_table
        from firmware.modules import forget
        try:
            table = alarm_table.TABLE
            n = len(table) + len(device_names)
            self.codes = []
            self._text = []
            self._sev = bytearray(n)
            self._f = bytearray(n)
            self._raise_ms = [0] * n
            self._clear_ms = [0] * n
            self._t = [0] * n          # ticks_ms when the condition last changed
            self._since = [None] * n   # ts of the raise; None while inactive
            self._idx = {}
            self._dev = {}             # device name -> index, so no string is built per call
            i = 0
            for code, sev, latched, r, c, text in table:
                self._add(i, code, SEVERITY_NAMES.index(sev), latched,
                          delay if r is None else r, delay if c is None else c, text)
                i += 1
        finally:
            del table
            forget('firmware.alarm_table')
        self._dse0 = self._idx['gen_emergency_stop']
        for name in device_names:
            self._add(i, DEV_OFFLINE + name, _DEV_SEVERITY, False, 0, 0,
                      'no answer from ' + name)
            self._dev[name] = i
            i += 1
        # The hysteresis edges, once, as the config gives them.
        self._low_soc = acfg['batt_low_soc']
        self._low_v = acfg['batt_low_v']
        self._low_soc_ok = acfg['batt_low_soc'] + SOC_BAND
        self._low_v_ok = acfg['batt_low_v'] + V_BAND
        self._crit_soc = acfg['batt_crit_soc']
        self._crit_v = acfg['batt_crit_v']
        self._crit_soc_ok = acfg['batt_crit_soc'] + SOC_BAND
        self._crit_v_ok = acfg['batt_crit_v'] + V_BAND
        self._temp = acfg['batt_temp_c']
        self._temp_ok = acfg['batt_temp_c'] - TEMP_BAND
        self._n_active = 0
        self._events = []
        self.max_events = max_events
        self.dropped = 0           # events lost because nobody drained the queue

    def _add(self, i, code, sev, latched, raise_s, clear_s, text):
        self.codes.append(code)
        self._text.append(text)
        self._sev[i] = sev
        self._f[i] = _LATCHED if latched else 0
        self._raise_ms[i] = raise_s * 1000
        self._clear_ms[i] = clear_s * 1000
        self._idx[code] = i

    def _index(self, code):
        i = self._idx.get(code)
        if i is None:
            raise ValueError('unknown alarm %r' % (code,))
        return i

    # -- state changes ------------------------------------------------------

    def set(self, code, cond, now_ms, ts):
        """Feed the current condition of `code` (debounced here)."""
        self._step(self._index(code), cond, now_ms, ts)

    def _step(self, i, cond, now_ms, ts):
        f = self._f[i]
        c = _COND if cond else 0
        if c != f & _COND:
            f ^= _COND
            self._f[i] = f
            self._t[i] = now_ms
        if f & _ACTIVE:
            if not c and (f & _ACKED or not f & _LATCHED) \
                    and ticks_diff(now_ms, self._t[i]) >= self._clear_ms[i]:
                self._clear(i, ts, None)
        elif c and ticks_diff(now_ms, self._t[i]) >= self._raise_ms[i]:
            self._f[i] = (f | _ACTIVE) & ~_ACKED
            self._since[i] = ts
            self._n_active += 1
            self._event(ts, i, 'raise', None)

    def _clear(self, i, ts, who):
        self._f[i] &= ~(_ACTIVE | _ACKED)
        self._since[i] = None
        self._n_active -= 1
        self._event(ts, i, 'clear', who)

    def ack(self, code_or_all, ts, who='console'):
        """Acknowledge one alarm or 'all'; returns how many were acked."""
        if code_or_all == 'all':
            n = 0
            for i in range(len(self.codes)):
                n += self._ack(i, ts, who)
            return n
        return self._ack(self._index(code_or_all), ts, who)

    def _ack(self, i, ts, who):
        f = self._f[i]
        if not f & _ACTIVE or f & _ACKED:
            return 0
        self._f[i] = f | _ACKED
        self._event(ts, i, 'ack', who)
        # A latched alarm whose cause is gone was only waiting for this.
        if f & _LATCHED and not f & _COND:
            self._clear(i, ts, who)
        return 1

    # -- conditions seen in the snapshot ------------------------------------

    def evaluate(self, snap, devices, now_ms, ts):
        f = self._f
        soc = snap['batt_soc']
        v = snap['batt_v']
        known = soc is not None or v is not None
        self._step(_BATT_DATA_LOST, not known, now_ms, ts)
        if known:
            low = self._below(_BATT_LOW, soc, v, self._low_soc, self._low_v,
                              self._low_soc_ok, self._low_v_ok)
            crit = self._below(_BATT_CRIT, soc, v, self._crit_soc, self._crit_v,
                               self._crit_soc_ok, self._crit_v_ok)
        else:
            # No data says nothing about the charge: hold, do not flap.
            low = f[_BATT_LOW] & _COND
            crit = f[_BATT_CRIT] & _COND
        self._step(_BATT_LOW, low, now_ms, ts)
        self._step(_BATT_CRIT, crit, now_ms, ts)

        hot = None
        bms_hot = False     # a BMS's own high-temperature bits (Seplos)
        missing = False
        mppt_fault = False
        blk = None
        gen_seen = False
        for d in devices:
            i = self._dev.get(d.name)
            if i is not None and (d.online or d.misses >= MISSES_OFFLINE):
                # Before MISSES_OFFLINE misses a never-seen device is unknown.
                self._step(i, not d.online, now_ms, ts)
            if not d.online:
                continue
            if d.missing:
                missing = True
            vals = d.values
            if d.kind == 'bms':
                for k in _BMS_TEMPS:
                    t = vals.get(k)
                    if t is not None and (hot is None or t > hot):
                        hot = t
                ev = getattr(d, 'blk', None)
                if ev is not None and (ev[2] & SEP_HOT_T or ev[3] & SEP_HOT_ENV):
                    bms_hot = True
            elif d.kind == 'pv':
                t = vals.get('batt_temp_c')
                if t is not None and (hot is None or t > hot):
                    hot = t
                cs = vals.get('charge_status')
                if cs is not None and cs & _MPPT_FAULTS:
                    mppt_fault = True
            elif d.kind == 'genset' and not gen_seen:
                gen_seen = True
                blk = getattr(d, 'blk', None)
        # The module's named alarms; unread, they hold what they were.
        i = self._dse0
        for k in range(len(_DSE_NAMED)):
            if blk is None:
                c = f[i + k] & _COND
            else:
                lv = dse_alarm(blk, _DSE_NAMED[k])
                c = DSE_WARNING <= lv <= DSE_TRIP
            self._step(i + k, c, now_ms, ts)
        if hot is None:
            hot_c = f[_BATT_OVERTEMP] & _COND
        elif f[_BATT_OVERTEMP] & _COND:
            hot_c = not hot < self._temp_ok
        else:
            hot_c = hot > self._temp
        if bms_hot:
            hot_c = True
        self.set('dev_data_missing', missing, now_ms, ts)
        self.set('mppt_fault', mppt_fault, now_ms, ts)
        self._step(_BATT_OVERTEMP, hot_c, now_ms, ts)

        p = snap['batt_protect']
        self._step(_BMS_PROTECT, f[_BMS_PROTECT] & _COND if p is None else p, now_ms, ts)
        # None: no grid meter, or it is silent; only a meter that sees the
        # grid bad raises, and a silent one does not clear what it saw.
        g = snap['grid_ok']
        self._step(_GRID_LOST, f[_GRID_LOST] & _COND if g is None else g is False,
                   now_ms, ts)

    def _below(self, i, soc, v, soc_on, v_on, soc_ok, v_ok):
        if self._f[i] & _COND:
            return not ((soc is None or soc > soc_ok) and (v is None or v > v_ok))
        return (soc is not None and soc < soc_on) or (v is not None and v < v_on)

    # -- reading ---------------------------------------------------------------

    def is_active(self, code):
        return bool(self._f[self._index(code)] & _ACTIVE)

    def count_active(self):
        return self._n_active

    def active(self):
        """Active alarms, most severe first (allocates: call on demand)."""
        out = []
        for sev in (CRITICAL, MAJOR, MINOR, WARNING):
            for i in range(len(self.codes)):
                f = self._f[i]
                if f & _ACTIVE and self._sev[i] == sev:
                    out.append({'code': self.codes[i], 'severity': SEVERITY_NAMES[sev],
                                'since': self._since[i], 'acked': bool(f & _ACKED),
                                'text': self._text[i]})
        return out

    # -- events ----------------------------------------------------------------

    def _event(self, ts, i, ev, who):
        e = {'ts': ts, 'code': self.codes[i], 'event': ev,
             'severity': SEVERITY_NAMES[self._sev[i]]}
        if who is not None:
            e['who'] = who
        q = self._events
        if len(q) >= self.max_events:
            q.pop(0)
            self.dropped += 1
        q.append(e)

    def drain_events(self):
        """The queued events, oldest first; the queue is left empty."""
        q = self._events
        if not q:
            return _NO_EVENTS
        self._events = []
        return q
