# Site energy, diesel and shed-load counters, integrated every tick in
# integers: whole units plus an exact remainder, so years of ticks lose
# nothing to rounding. On the ESP32 a small int is 31 bits (|x| < 2**30) and
# anything bigger (or any float result) is a heap object, so every product
# below is kept under 2**30 for the envelope given by P_MAX, MAX_DT_MS and
# RATE_MAX; beyond it the numbers stay right but allocate.
#
# Diesel follows HOMER's linear fuel curve while the generator runs:
# F [l/h] = F0 * rated kW + F1 * output kW.
from firmware.compat import const

MAX_DT_MS = const(60000)      # a longer gap (stall, first tick) books only this
P_MAX = const(1000000000)     # W; a reading above this is a glitch
RATE_MAX = const(1000000000)  # ul/h (1000 l/h): a genset of a few MW at full load
CO2_KG_PER_L = 2.68
ASSUMED_RATED_KW = 20         # kW, for the fuel curve when generator.rated_kw is not set

# Channels in the accumulator list: (whole units, remainder) pairs.
_PV = const(0)        # Wh, W*ms
_GRID = const(2)
_GEN = const(4)
_LOAD = const(6)
_FUEL = const(8)      # ul (carried into _FUEL_ML at 1000), ul/h*ms
_SHED = const(10)     # load-minutes, load-ms
_FUEL_ML = const(12)
_N = const(13)

_WH = const(3600000)      # W*ms in a Wh
_UL = const(3600000)      # ul/h*ms in a ul
_MIN = const(60000)       # ms in a minute

# to_dict() keys by accumulator index, and the bound each value must stay
# under (0: none).
_KEYS = ('pv_wh', 'pv_wms', 'grid_wh', 'grid_wms', 'gen_wh', 'gen_wms',
         'load_wh', 'load_wms', 'fuel_ul', 'fuel_rem', 'shed_min', 'shed_ms', 'fuel_ml')
_LIMIT = (0, _WH, 0, _WH, 0, _WH, 0, _WH, 1000, _UL, 0, _MIN, 0)


def _mac(acc, i, a, b, d):
    """acc[i] += a*b // d, the remainder carried in acc[i+1] (0 <= it < d).
    Long division of a*b by d over a's base-100 digits: exact for any
    a, b >= 0, and no intermediate passes 100*d + 99*b or the quotient, so
    it stays in small ints where the product a*b would not (energy:
    d = 3.6e6, b <= 6e4 ms; fuel rate: d = 1000, b = F1 * 1e6 <= 1e6)."""
    q = 0
    r = 0
    m = 100000000
    while m > a and m > 1:
        m //= 100
    while m:
        k = a // m
        a -= k * m
        r = r * 100 + k * b
        c = r // d
        r -= c * d
        q = q * 100 + c
        m //= 100
    r += acc[i + 1]
    if r >= d:
        r -= d
        q += 1
    acc[i] += q
    acc[i + 1] = r


def _watts(v):
    # None (unknown), NaN and negative readings count as 0 for the tick.
    if v is None or not v > 0:
        return 0
    if v > P_MAX:
        return P_MAX
    return int(v)


# The DSE module's own rating is learnt from a run at this load or more:
# its output (GenComm 1536, W) over its percentage of full power (1558).
_LEARN_PCT = const(20)


class Counters:
    def __init__(self, gcfg):
        rated = gcfg['rated_kw']
        # No rating from the installer: the litres are an estimate, and say
        # so, until the genset's module tells its own (a configured one wins).
        self.rated_assumed = rated is None
        self.rated_src = 'assumed' if rated is None else 'config'
        self._dev = gcfg.get('device') if rated is None else None
        self._f0 = gcfg['fuel_f0']
        self._f1 = int(round(gcfg['fuel_f1'] * 1000000))    # ul/h per kW of output (= F1 * 1e6)
        self._rate(ASSUMED_RATED_KW if rated is None else rated)
        self._a = [0] * _N
        self._tmp = [0, 0]

    def _rate(self, rated):
        self.rated_kw = rated
        # ul/h at no load, and the output at which the rate reaches RATE_MAX.
        self._r0 = min(int(round(self._f0 * rated * 1000000)), RATE_MAX)
        self._p_fuel_max = P_MAX
        if self._f1:
            self._p_fuel_max = min((RATE_MAX - self._r0) * 1000 // self._f1, P_MAX)

    def _learn(self, snap):
        # Once: after it, the ticks allocate nothing here again.
        v = snap['dev'].get(self._dev)
        if v is None:
            return
        w = v.get('power_w')
        pct = v.get('load_pct')
        if w is None or pct is None or pct < _LEARN_PCT or w <= 0:
            return
        kw = round(w / pct / 10, 1)
        if kw < 1:
            return
        self._rate(kw)
        self.rated_assumed = False
        self.rated_src = 'module'
        self._dev = None

    def tick(self, snap, dt_ms, gen_running, n_shed):
        """Book dt_ms of the site as `snap` shows it."""
        if dt_ms > MAX_DT_MS:
            dt_ms = MAX_DT_MS
        if dt_ms <= 0:
            return
        a = self._a
        p = _watts(snap['pv_w'])
        if p:
            _mac(a, _PV, p, dt_ms, _WH)
        p = _watts(snap['grid_w'])     # import only: export is not bought
        if p:
            _mac(a, _GRID, p, dt_ms, _WH)
        p = _watts(snap['load_w'])
        if p:
            _mac(a, _LOAD, p, dt_ms, _WH)
        if gen_running:
            if self._dev is not None:
                self._learn(snap)
            rate = self._r0
            # An unknown output still burns the idle share of the curve.
            p = _watts(snap['gen_w'])
            if p:
                _mac(a, _GEN, p, dt_ms, _WH)
                if p > self._p_fuel_max:
                    p = self._p_fuel_max
                t = self._tmp
                t[0] = 0
                t[1] = 0
                _mac(t, 0, p, self._f1, 1000)    # ul/h; drops under 1 ul/h
                rate += t[0]
            if rate:
                _mac(a, _FUEL, rate, dt_ms, _UL)
                if a[_FUEL] >= 1000:
                    c = a[_FUEL] // 1000
                    a[_FUEL] -= c * 1000
                    a[_FUEL_ML] += c
        if n_shed > 0:
            _mac(a, _SHED, n_shed, dt_ms, _MIN)

    def pv_wh(self):
        """Whole Wh of PV so far (an int: no allocation)."""
        return self._a[_PV]

    # -- readings (allocate floats: on demand, not per tick) -----------------

    def _kwh(self, i):
        return (self._a[i] + self._a[i + 1] / _WH) / 1000

    @property
    def pv_kwh(self):
        return self._kwh(_PV)

    @property
    def grid_kwh(self):
        return self._kwh(_GRID)

    @property
    def gen_kwh(self):
        return self._kwh(_GEN)

    @property
    def load_kwh(self):
        return self._kwh(_LOAD)

    @property
    def diesel_l(self):
        a = self._a
        return (a[_FUEL_ML] * 1000 + a[_FUEL] + a[_FUEL + 1] / _UL) / 1000000

    @property
    def co2_kg(self):
        return self.diesel_l * CO2_KG_PER_L

    @property
    def shed_min(self):
        return self._a[_SHED] + self._a[_SHED + 1] / _MIN

    # -- persistence ------------------------------------------------------------

    def to_dict(self):
        d = {}
        for i in range(_N):
            d[_KEYS[i]] = self._a[i]
        return d

    def from_dict(self, d):
        """Restore what to_dict() gave; a missing key counts as 0 (a file
        from an older firmware). Raises ValueError and changes nothing on a
        bad value."""
        vals = [0] * _N
        for i in range(_N):
            v = d.get(_KEYS[i], 0)
            if not isinstance(v, int) or isinstance(v, bool) or v < 0:
                raise ValueError('%s: must be a non-negative integer' % _KEYS[i])
            lim = _LIMIT[i]
            if lim and v >= lim:
                raise ValueError('%s: must be below %d' % (_KEYS[i], lim))
            vals[i] = v
        for i in range(_N):
            self._a[i] = vals[i]
        return self
