# Polls each configured device through its bus by its coalesced plan, decodes
# the answers in place and keeps each device's health: a device that misses
# MISSES_OFFLINE cycles in a row is offline and is retried with backoff, so a
# dead unit costs one timeout now and then instead of one every cycle.
#
# Pure of hardware: the bus objects and the clock come in from outside, so
# this runs against fake buses under CPython and real ones on the board.
from firmware.compat import const, ticks_ms, ticks_diff, ticks_add, sleep_ms
from firmware import decode, plan
from firmware.bus_errors import BusError, TIMEOUT, FRAME, EXCEPTION, LINK

MISSES_OFFLINE = const(3)
BACKOFF_MIN_MS = const(2000)
BACKOFF_MAX_MS = const(60000)
# Reads a device's plan may be split into beyond its coalesced ones: a unit
# that refuses a whole block (a page it lacks) costs at most this many more
# requests a cycle; one that refuses long reads needs one or two.
MAX_SPLITS = const(4)


class Device:
    def __init__(self, dcfg, profile, bus, baud=9600):
        self.name = dcfg['name']
        self.unit = dcfg['unit']
        self.role = dcfg.get('role')
        self.every = dcfg.get('poll_every', 1)
        # Only what polling needs is kept, so the profile module itself can
        # be unloaded once every device is built.
        self.profile_name = dcfg.get('profile')
        self.kind = profile.KIND
        self.sentinel = profile.SENTINEL
        self.gap_ms = profile.GAP_MS
        self.bus = bus
        # A Seplos stack head reads the stack's summary, not its own pack.
        src = profile.STACK_POINTS if dcfg.get('stack_head') else profile.POINTS
        pts, self.reqs = plan.build(
            src, profile.MAX_REGS, plan.bridge_limit(profile, baud),
            profile.ALIGN, profile.PAGE)
        self._compact(pts, getattr(profile, 'DECIMALS', None),
                      getattr(profile, 'DECIMALS_ELSE', 3))
        # The coalesced plan, kept while a split one (learnt from a unit that
        # refuses long reads) runs, and back when the unit goes offline.
        self._plan0 = (self.reqs, self._meta)
        self.limit = 0             # most registers a read, learnt; 0: the profile's
        self.refused = 0           # the longest read the unit refused with exception 2
        cs = dcfg.get('current_scale')      # a Seplos board's current unit, when not 0.01 A
        if cs is not None and 'current_a' in self.names:
            k = self.names.index('current_a')
            sc = list(self._scale)
            sc[k] = cs
            self._scale = tuple(sc)
            dp = bytearray(self.dp)     # its resolution follows: 0.1 A is one decimal
            dp[k] = decode.decimals(cs)
            self.dp = bytes(dp)
        # Decoded values by point name (SI units, None = no data), updated in
        # place each cycle; `online` rides along for the snapshot.
        self.values = {}
        # A block point (decode.BLOCK: DSE's named alarms) is no value: its
        # registers are copied into one bytearray, `blk`, None while unread.
        self.blk = None
        self._blk = None
        self._blk_i = -1
        for i in range(len(pts)):
            vt = pts[i][decode.P_TYPE]
            if vt & decode.BLOCK:
                # FC01: n coils, 8 a byte (a Seplos's event bits); else n registers.
                n = vt & 0x7F
                self._blk = bytearray((n + 7) // 8 if pts[i][decode.P_FC] == 1 else 2 * n)
                self._blk_i = i
            else:
                self.values[self.names[i]] = None
        self.values['online'] = False
        # The answer's bytes each value was last decoded from (4 a point) and
        # whether they are there: an unchanged value is not decoded again.
        self._last = bytearray(4 * len(pts))
        self._seen = bytearray(len(pts))
        self.online = False
        self.misses = 0
        self.backoff_ms = BACKOFF_MIN_MS
        self.next_try = None       # ticks_ms when an offline device is retried
        self.last_ok = None        # Unix seconds of the last good answer
        self.last_frame = None     # ticks_ms of the last frame to this unit
        self.last_err = None       # short text of the last error
        self.n_ok = 0
        self.n_err = [0, 0, 0, 0, 0]   # by bus_errors kind
        # Cycles in a row each request got no data (capped): a unit that
        # answers some requests and refuses or drops others is online, yet
        # the points of those requests never have a value.
        self._fails = bytearray(len(self.reqs))
        self.missing = 0           # requests without data for MISSES_OFFLINE cycles or more

    def _compact(self, pts, decimals, dp_else):
        # The profile's point tuples cost ~100 bytes each on the heap: keep
        # the points as parallel columns instead (names; byte offset in the
        # request's answer and value type, 3 bytes a point; scale and limits
        # with equal numbers shared), and let the tuples go with the module.
        n = len(pts)
        self.names = tuple(p[decode.P_NAME] for p in pts)
        self._meta = self._layout(self.reqs, [p[decode.P_ADDR] for p in pts],
                                  [p[decode.P_TYPE] for p in pts])
        # Each value's resolution in decimals (what the device measures):
        # from its scale, or for floats the profile's DECIMALS (DECIMALS_ELSE
        # for those it does not name). An integer's value is its register
        # divided by 10 ** decimals when its scale is 0.1, 0.01...
        dp = bytearray(n)
        for i in range(n):
            p = pts[i]
            if p[decode.P_TYPE] == decode.F32:
                dp[i] = decimals.get(p[decode.P_NAME], dp_else) if decimals else dp_else
            else:
                dp[i] = decode.decimals(p[decode.P_SCALE])
        self.dp = bytes(dp)
        shared = {}

        def one(v):
            if v is None:
                return None
            return shared.setdefault(v, v)
        self._scale = tuple(one(p[decode.P_SCALE]) for p in pts)
        self._lo = tuple(one(p[decode.P_LO]) for p in pts)
        self._hi = tuple(one(p[decode.P_HI]) for p in pts)

    def _layout(self, reqs, addr, types):
        # Byte offset of each point in its request's answer, and its type.
        meta = bytearray(3 * len(self.names))
        for r in reqs:
            for i in range(r[plan.R_FIRST], r[plan.R_FIRST] + r[plan.R_N]):
                off = 2 * (addr[i] - r[plan.R_START])
                meta[3 * i] = off >> 8
                meta[3 * i + 1] = off & 0xFF
                meta[3 * i + 2] = types[i]
        return bytes(meta)

    def _split(self, k):
        """The unit refused request k with exception 2 (illegal data
        address): some units (EPEver's LS-B) refuse a read longer than they
        like even where every register exists. Split it in two at a point
        boundary, once, here: the plan stays so until the unit goes offline.
        False when it carries one point only (a register the unit lacks)."""
        reqs = self.reqs
        r = reqs[k]
        first, n = r[plan.R_FIRST], r[plan.R_N]
        if n < 2 or len(reqs) >= len(self._plan0[0]) + MAX_SPLITS:
            return False
        meta = self._meta
        npts = len(self.names)
        addr = [0] * npts          # each point's register, from the plan
        for q in reqs:
            for i in range(q[plan.R_FIRST], q[plan.R_FIRST] + q[plan.R_N]):
                addr[i] = q[plan.R_START] + (((meta[3 * i] << 8) | meta[3 * i + 1]) >> 1)
        m = first + n // 2
        fc, start, count = r[plan.R_FC], r[plan.R_START], r[plan.R_COUNT]
        # Each half reads to its points' furthest register: a block point
        # (DSE's named alarms) may reach past the points after it.
        end1 = end2 = 0
        for i in range(first, first + n):
            e = addr[i] + decode.width(meta[3 * i + 2])
            if i < m:
                end1 = e if e > end1 else end1
            elif e > end2:
                end2 = e
        count1 = end1 - start
        start2 = addr[m]
        a = (fc, start, count1, first, m - first)
        b = (fc, start2, end2 - start2, m, first + n - m)
        if count > self.refused:
            self.refused = count
        self.reqs = reqs[:k] + (a, b) + reqs[k + 1:]
        self._meta = self._layout(self.reqs, addr, [meta[3 * i + 2] for i in range(npts)])
        f = self._fails
        self._fails = f[:k + 1] + f[k:]
        lim = count1 if count1 > b[plan.R_COUNT] else b[plan.R_COUNT]
        if not self.limit or lim > self.limit:
            self.limit = lim
        return True

    def _unsplit(self):
        # Offline: the unit may come back another (or restarted) unit.
        if self.limit:
            self.reqs, self._meta = self._plan0
            self._fails = bytearray(len(self.reqs))
            self.limit = 0
            self.refused = 0

    def out(self):
        """The values as they go out (dev/<name>): each at its resolution."""
        out = dict(self.values)
        names = self.names
        dp = self.dp
        for i in range(len(names)):
            if i != self._blk_i:        # a block is no value (alarms0.. carry it)
                out[names[i]] = decode.at(out[names[i]], dp[i])
        return out

    def errors(self, kind):
        return self.n_err[kind]

    def _clear(self, first, n):
        vals = self.values
        seen = self._seen
        names = self.names
        for i in range(first, first + n):
            seen[i] = 0
            if i == self._blk_i:
                self.blk = None
            else:
                vals[names[i]] = None

    def _decode(self, data, req):
        sent = self.sentinel
        vals = self.values
        last = self._last
        seen = self._seen
        meta = self._meta
        names = self.names
        dp = self.dp
        for i in range(req[plan.R_FIRST], req[plan.R_FIRST] + req[plan.R_N]):
            off = (meta[3 * i] << 8) | meta[3 * i + 1]
            vt = meta[3 * i + 2]
            if vt & decode.BLOCK:
                b = self._blk
                for j in range(len(b)):     # copied in place: no allocation
                    b[j] = data[off + j]
                self.blk = b
                continue
            # Decode (and allocate) only what changed: the answer's bytes are
            # compared with those last decoded, as bytes, so even a float's
            # 32 bits never become a number (a heap int on the board) first.
            j = 4 * i
            w = 2 * decode.width(vt)
            same = seen[i]
            for b in range(w):
                if last[j + b] != data[off + b]:
                    same = 0
                    last[j + b] = data[off + b]
            if same:
                continue
            seen[i] = 1
            d = dp[i]
            vals[names[i]] = decode.value_at(data, off, vt, self._scale[i], 10 ** d if d else 0,
                                             self._lo[i], self._hi[i], sent)

    def _pace(self):
        gap = self.gap_ms
        if gap and self.last_frame is not None:
            wait = gap - ticks_diff(ticks_ms(), self.last_frame)
            if wait > 0:
                sleep_ms(wait)

    def request(self, fc, start, count):
        """One raw read through this device's bus; raises BusError."""
        self._pace()
        try:
            return self.bus.read(self.unit, fc, start, count)
        finally:
            self.last_frame = ticks_ms()

    def write(self, addr, values):
        """FC16 write of `values` from `addr`. Returns None when done, or the
        error text; a write never raises into the control loop."""
        return self._put(self.bus.write, addr, values)

    def write_coil(self, addr, on):
        """FC05 write of one coil; as write()."""
        return self._put(self.bus.write_coil, addr, on)

    def _put(self, fn, addr, v):
        self._pace()
        try:
            fn(self.unit, addr, v)
            return None
        except BusError as e:
            self.n_err[e.kind] += 1
            self.last_err = str(e)
            return self.last_err
        finally:
            self.last_frame = ticks_ms()

    def _failed(self, k):
        f = self._fails
        if f[k] < 255:
            f[k] += 1

    def due(self, now):
        if self.online or self.next_try is None:
            return True
        return ticks_diff(now, self.next_try) >= 0

    def poll(self, ts):
        """Read every request of the plan. Returns True when the device gave
        at least one valid answer this cycle."""
        answered = False
        k = -1
        while k + 1 < len(self.reqs):
            k += 1
            req = self.reqs[k]
            try:
                data = self.request(req[plan.R_FC], req[plan.R_START], req[plan.R_COUNT])
            except BusError as e:
                self.n_err[e.kind] += 1
                self.last_err = str(e)
                if e.kind == EXCEPTION and e.detail in (2, '2') and self._split(k):
                    k -= 1          # read its two halves now
                    answered = True
                    continue
                self._clear(req[plan.R_FIRST], req[plan.R_N])
                if e.kind == EXCEPTION:
                    answered = True     # alive, just refuses this block
                    self._failed(k)
                    continue
                if e.kind == TIMEOUT or e.kind == LINK:
                    # A silent unit: do not pay its timeout again this cycle.
                    reqs = self.reqs
                    for j in range(k, len(reqs)):
                        rj = reqs[j]
                        self._clear(rj[plan.R_FIRST], rj[plan.R_N])
                        self._failed(j)
                    break
                self._failed(k)
                continue
            n = req[plan.R_COUNT]
            if len(data) != ((n + 7) // 8 if req[plan.R_FC] == 1 else 2 * n):
                self.n_err[FRAME] += 1
                self.last_err = 'frame: %d bytes for %d registers' % (len(data), req[plan.R_COUNT])
                self._clear(req[plan.R_FIRST], req[plan.R_N])
                self._failed(k)
                continue
            self._decode(data, req)
            self._fails[k] = 0
            self.n_ok += 1
            answered = True
        missing = 0
        for n in self._fails:
            if n >= MISSES_OFFLINE:
                missing += 1
        self.missing = missing
        now = ticks_ms()
        if answered:
            self.misses = 0
            self.online = True
            self.backoff_ms = BACKOFF_MIN_MS
            self.next_try = None
            self.last_ok = ts
        else:
            self.misses += 1
            if self.misses >= MISSES_OFFLINE:
                if self.online:
                    self.backoff_ms = BACKOFF_MIN_MS
                else:
                    self.backoff_ms = min(self.backoff_ms * 2, BACKOFF_MAX_MS)
                self.online = False
                self.next_try = ticks_add(now, self.backoff_ms)
                self._unsplit()
        self.values['online'] = self.online
        return answered


class Poller:
    def __init__(self, devices):
        self.devices = devices
        self.cycles = 0

    def cycle(self, ts):
        """Poll every device that is due this cycle."""
        self.cycles += 1
        now = ticks_ms()
        for d in self.devices:
            if self.cycles % d.every and d.online:
                continue
            if d.due(now):
                d.poll(ts)
