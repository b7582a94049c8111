# The board's own PV forecast, and the SOC a charging run may stop at
# because the sun will fill the rest. A run charged to a fixed stop_soc at
# 03:00 leaves a battery still ~60 % full at sunrise, and on a clear day
# the midday PV then has nowhere to go: the diesel made energy the panels
# would have made for free.
#
# The shape is clear sky at the site's latitude and longitude (cos of the
# sun's zenith angle, 15-minute slots, made once a day); its scale is the
# best of the site's own PV yields of the last days, as the MPPTs reported
# them. A cloudy day reads low, and so does a curtailed one (battery full);
# a forecast that is low throws free PV away, while one that is high costs
# at most a run that comes earlier (start_soc still starts it), the same
# energy at the same efficiency. So the best day, not the mean, sets it.
# The night the battery must still carry is the load less the dawn's PV
# until PV alone carries it.
#
# target is an int, or None when there is no forecast yet. It is made
# once a minute in integers from a precomputed table: the tick allocates
# nothing (floats are made only once a day, for the day's shape).
from firmware.compat import const

_SLOTS = const(96)          # 15-minute slots a day
_SLOT_S = const(900)
_DAYS = const(7)            # days of yield the scale is the best of
_SUN = const(50)            # shape (permille of the sun overhead) counted as daylight
_MARGIN_SOC = const(10)     # SOC points kept above what the night still needs
_CHARGE_EFF = const(95)     # % of PV surplus that ends up in the battery
_DAY_S = const(86400)


class PvForecast:
    def __init__(self, lat, lon, utc_offset_min, start_soc, stop_soc, min_soc):
        self.lat = lat
        self.lon = lon
        self.offset_s = utc_offset_min * 60
        self.start_soc = start_soc
        self.stop_soc = stop_soc
        self.min_soc = min_soc            # never stop below this (config)
        self.shape = [0] * _SLOTS         # permille of the sun overhead, a slot
        self.day_shape = 0                # sum of today's shape
        self.scales = [0] * _DAYS         # Wh per 1000 shape-slots, the last days
        self.n_scales = 0
        self._day = None                  # local day number of the shape
        self._day_wh = None               # PV Wh counter at the start of the day
        self._minute = None
        self.target = None                # the last stop SOC worked out (None: none)
        self.expected_wh = 0              # PV surplus expected into the battery
        self.keep = None                  # the SOC that surplus refills from (100: none)

    # -- once a day -----------------------------------------------------------

    def _make_shape(self, day):
        # Clear-sky cos(zenith) at each slot's middle, local time (Cooper's
        # declination, Spencer's equation of time in minutes: within a
        # minute or two, far below a slot).
        import math
        doy = day * 400 % 146097 // 400 + 1     # 146,097 days in 400 Gregorian years
        b = 2 * math.pi * (doy - 81) / 364
        eot_min = 9.87 * math.sin(2 * b) - 7.53 * math.cos(b) - 1.5 * math.sin(b)
        decl = math.radians(23.45) * math.sin(2 * math.pi * (284 + doy) / 365)
        phi = math.radians(self.lat)
        a = math.sin(phi) * math.sin(decl)
        c = math.cos(phi) * math.cos(decl)
        total = 0
        for i in range(_SLOTS):
            local_h = (i + 0.5) * _SLOT_S / 3600
            solar_h = local_h - self.offset_s / 3600 + self.lon / 15 + eot_min / 60
            cz = a + c * math.cos(math.radians(15 * (solar_h - 12)))
            v = int(cz * 1000) if cz > 0 else 0
            self.shape[i] = v
            total += v
        self.day_shape = total

    def _new_day(self, day, pv_wh):
        if self._day is not None and self._day_wh is not None and self.day_shape:
            # A whole day seen: its yield against its clear sky.
            s = (pv_wh - self._day_wh) * 1000 // self.day_shape
            self.scales[self.n_scales % _DAYS] = s
            self.n_scales += 1
        self._day_wh = pv_wh if self._day is not None else None     # a day begun before the start is partial
        self._day = day
        self._make_shape(day)

    # -- once a minute ------------------------------------------------------------

    def tick(self, ts, pv_wh, snap):
        """ts: clock seconds since 2000 (a valid clock); pv_wh: the PV energy
        counter (whole Wh); snap: the site picture (load, battery Ah and V)."""
        local = ts + self.offset_s
        minute = local // 60
        if minute == self._minute:
            return
        self._minute = minute
        day = local // _DAY_S
        if day != self._day:
            self._new_day(day, pv_wh)
        load_w = snap['load_w']
        ah = snap['batt_ah']
        v = snap['batt_v']
        if not self.n_scales or load_w is None or not ah or not v:
            self.target = None
            self.keep = None
            return
        self.target = self._target((local % _DAY_S) // _SLOT_S, int(load_w), int(ah) * int(v))

    def _scale(self):
        n = min(self.n_scales, _DAYS)
        t = 0
        for i in range(n):
            if self.scales[i] > t:
                t = self.scales[i]
        return t

    def _target(self, slot, load_w, cap_wh):
        shape = self.shape
        scale = self._scale()
        # The coming daylight: the rest of today while the sun is still up
        # (or yet to rise), else tomorrow's (today's shape stands in).
        last = _SLOTS - 1
        while last > 0 and shape[last] < _SUN:
            last -= 1
        first = slot if slot <= last else 0
        # What the battery gives until PV alone carries the load (the load
        # less the dawn's PV), and PV beyond the load until sunset: Wh a
        # slot = scale * shape // 1000 (per 1000 shape-slots).
        load_slot_wh = load_w // 4
        night_wh = 0 if slot <= last else load_slot_wh * (_SLOTS - slot)
        carried = False
        surplus = 0
        for i in range(first, last + 1):
            pv = scale * shape[i] // 1000
            if pv > load_slot_wh:
                carried = True
                surplus += pv - load_slot_wh
            elif not carried:
                night_wh += load_slot_wh - pv
        pct = cap_wh // 100           # Wh a SOC point
        if not carried or not pct:
            self.expected_wh = 0
            self.keep = 100 if pct else None
            return None                 # no sun to wait for: the fixed stop stands
        self.expected_wh = surplus * _CHARGE_EFF // 100
        room = self.expected_wh // pct
        self.keep = 100 - room if room < 100 else 0
        night = night_wh // pct
        floor = max(self.min_soc, self.start_soc + night + _MARGIN_SOC)
        return min(self.stop_soc, max(floor, 100 - room))
