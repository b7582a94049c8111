# Which source carries the site, by priority: PV first (its surplus charges
# the battery), then the battery down to the reserve SOC within the BMS's
# current limits, then the grid (charging the battery off-peak, avoided at
# peak), then the diesel (firmware.generator decides its runs). One tick is
# one decision from one snapshot, written into a preallocated record: a tick
# that changes nothing allocates nothing. Pure logic.
from firmware.compat import const
from firmware.clock import local_minute, in_window

SRC_NONE = const(0)
SRC_PV = const(1)
SRC_BATT = const(2)
SRC_GRID = const(3)
SRC_GEN = const(4)
SOURCE_NAMES = ('none', 'pv', 'battery', 'grid', 'generator')

TOU_NONE = const(0)
TOU_OFFPEAK = const(1)
TOU_SHOULDER = const(2)
TOU_PEAK = const(3)
TOU_NAMES = ('none', 'offpeak', 'shoulder', 'peak')
_TOU_KIND = {'offpeak': TOU_OFFPEAK, 'shoulder': TOU_SHOULDER, 'peak': TOU_PEAK}

# Why the grid is connected or not (the decision's reason code).
D_PV = const(0)            # PV carries the load
D_BATTERY = const(1)       # battery above reserve carries the deficit
D_RESERVE = const(2)       # battery at its reserve: the grid carries
D_OFFPEAK = const(3)       # off-peak: the grid carries and charges
D_PEAK = const(4)          # peak: import avoided, the battery carries
D_BMS_LIMIT = const(5)     # deficit above the BMS discharge limit
D_UNKNOWN = const(6)       # battery or load unknown: the grid, to be safe
D_GEN = const(7)           # grid down, the generator carries
D_NO_GRID = const(8)       # grid down, the battery carries
D_NO_SOURCE = const(9)     # nothing can carry the site
D_PV_REFILL = const(10)    # flat tariff: the battery is down to what the sun refills
REASON_NAMES = ('pv_carries', 'battery_above_reserve', 'battery_at_reserve', 'offpeak_charge',
                'peak_avoid', 'bms_discharge_limit', 'battery_unknown', 'generator',
                'grid_down_battery', 'no_source', 'pv_refills')

RESERVE_HYST = 5        # SOC points above the reserve before the grid is released
_RESERVE_MAX = const(95)    # the outage-aware reserve never asks more (the BMS's top is for PV)
_DAY_S = const(86400)
_OUTAGE_FACTOR = const(2)   # twice the longest recent outage: the next may be longer
CHARGE_HYST = 5         # SOC points below grid_charge_soc before charging resumes


class Decision:
    def __init__(self):
        self.source = SRC_NONE
        self.grid_on = True        # the grid rectifiers' contactor closed
        self.grid_charge = False   # the grid may charge the battery now
        self.charge_limit_a = None  # from the BMS, for the chargers
        self.pv_charge = True      # the MPPTs may charge: no BMS forbids it
        self.tou = TOU_NONE
        self.reason = D_UNKNOWN
        self.on_battery = False    # no grid or generator could carry the site now


class Dispatch:
    def __init__(self, dcfg, utc_offset_min=0, limit_devices=()):
        self.clock_ok = True       # set by the app: False until the clock is set
        self.reserve = dcfg['reserve_soc']
        self.charge_to = dcfg['grid_charge_soc']
        self.charge_from = dcfg['grid_charge_soc'] - CHARGE_HYST
        self.windows = tuple((w['from_min'], w['to_min'], _TOU_KIND[w['kind']])
                             for w in dcfg['tou'])
        self.offset_s = utc_offset_min * 60
        # Value dicts of the packs that state current limits (Seplos).
        self.limit_values = [d for d in limit_devices if 'max_dis_a' in d]
        self.d = Decision()
        self._at_reserve = False
        self._charging = False
        # The longest outage of each of the last outage_days days (s), by
        # day: on a grid that fails, the battery keeps what the longest
        # recent outage took, so the diesel is not what carries the next.
        self.outage_days = dcfg['outage_days']
        self._outages = [0] * self.outage_days
        self._day = None
        self._lost_at = None         # ts the grid was lost, while it is
        self.backup_s = 0            # the outage the reserve holds now (s)
        self.reserve_now = self.reserve
        # Set by the app from its PV forecast: the SOC the coming daylight's
        # surplus refills the battery from (None: no forecast).
        self.pv_keep = None

    def tou_at(self, minute):
        for a, b, kind in self.windows:
            if in_window(minute, a, b):
                return kind
        return TOU_NONE

    def _outage_reserve(self, ts, snap, grid_ok):
        # Integers only: the tick allocates nothing.
        n = self.outage_days
        if not n:
            return self.reserve
        day = ts // _DAY_S
        if day != self._day:
            if self._day is not None:       # the days passed leave the window
                for k in range(1, min(day - self._day, n) + 1):
                    self._outages[(self._day + k) % n] = 0
            self._day = day
        if grid_ok is False:
            if self._lost_at is None:
                self._lost_at = ts
        elif grid_ok is True and self._lost_at is not None:
            lost = ts - self._lost_at
            self._lost_at = None
            i = day % n
            if lost > self._outages[i]:
                self._outages[i] = lost
        longest = 0
        for s in self._outages:
            if s > longest:
                longest = s
        self.backup_s = longest
        load = snap['load_w']
        ah = snap['batt_ah']
        v = snap['batt_v']
        if not longest or load is None or not ah or not v:
            return self.reserve
        cap = int(ah) * int(v)          # Wh
        if cap < 100:
            return self.reserve
        # SOC points the load takes over the longest outage: W * s / 36 / Wh.
        pts = _OUTAGE_FACTOR * int(load) * longest // 36 // cap
        return min(_RESERVE_MAX, max(self.reserve, self.reserve + pts))

    def tick(self, ts, snap, gen_available):
        d = self.d
        soc = snap['batt_soc']
        load = snap['load_w']
        pv = snap['pv_w']
        grid_ok = snap['grid_ok']
        reserve = self._outage_reserve(ts, snap, grid_ok)
        self.reserve_now = reserve
        # Without a valid clock the time of day is unknown: no window applies.
        tou = self.tou_at(local_minute(ts, self.offset_s)) if self.windows and self.clock_ok \
            else TOU_NONE
        d.tou = tou

        # Hysteresis on the reserve and on off-peak charging.
        if soc is None:
            self._at_reserve = True
        elif soc <= reserve:
            self._at_reserve = True
        elif soc >= reserve + RESERVE_HYST:
            self._at_reserve = False
        if soc is not None:
            if soc >= self.charge_to:
                self._charging = False
            elif soc <= self.charge_from:
                self._charging = True

        pv_carries = load is not None and pv is not None and pv >= load
        # The BMS's discharge limit (Seplos gives one): a deficit above it
        # needs another source even above the reserve.
        over_limit = False
        lim = None
        chg = None
        for dev in self.limit_values:
            if dev['online']:
                if dev['max_dis_a'] is not None:
                    lim = dev['max_dis_a'] if lim is None else lim + dev['max_dis_a']
                if dev['max_chg_a'] is not None:
                    chg = dev['max_chg_a'] if chg is None else chg + dev['max_chg_a']
        d.charge_limit_a = chg
        ba = snap['batt_a']
        if lim is not None and ba is not None and ba < -lim:   # lim: int amps
            over_limit = True

        if soc is None or load is None:
            want_grid, reason = True, D_UNKNOWN
        elif pv_carries and not (tou == TOU_OFFPEAK and self._charging):
            want_grid, reason = False, D_PV
        elif tou == TOU_OFFPEAK:
            want_grid, reason = True, D_OFFPEAK
        elif over_limit:
            want_grid, reason = True, D_BMS_LIMIT
        elif self._at_reserve:
            want_grid, reason = True, D_RESERVE
        elif tou == TOU_PEAK:
            want_grid, reason = False, D_PEAK
        elif not self.windows and self.pv_keep is not None and soc < self.pv_keep:
            # One price all day: what the battery gives now the grid must
            # put back through the battery's round trip (~8 % lost) unless
            # the sun refills it. So it gives only what the sun will refill.
            want_grid, reason = True, D_PV_REFILL
        else:
            want_grid, reason = False, D_BATTERY

        if grid_ok is True:
            d.grid_on = want_grid
            d.grid_charge = want_grid and reason != D_PV_REFILL \
                and (reason != D_OFFPEAK or self._charging)
            if want_grid:
                d.source = SRC_GRID
            elif reason == D_PV:
                d.source = SRC_PV
            else:
                d.source = SRC_BATT
        else:
            # Grid down or unknown: keep its contactor closed so that it
            # carries the moment it returns.
            d.grid_on = True
            d.grid_charge = False
            if gen_available:
                d.source, reason = SRC_GEN, D_GEN
            elif pv_carries:
                d.source, reason = SRC_PV, D_PV
            elif soc is not None or snap['batt_v'] is not None:
                d.source, reason = SRC_BATT, D_NO_GRID
            else:
                d.source, reason = SRC_NONE, D_NO_SOURCE
        d.reason = reason
        # Unknown (no BMS word) leaves the MPPTs charging: their own
        # voltage setpoints still bound the charge.
        d.pv_charge = snap['batt_no_charge'] is not True
        # Shedding's question: could another source carry the site now? A
        # healthy grid can, even while dispatch lets the battery carry.
        d.on_battery = not gen_available and grid_ok is not True
        return d
