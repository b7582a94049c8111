# The generator's state machine: the start, warm-up, run, cool-down and stop
# sequence, through one of two actuators: DSE control keys over Modbus (the
# generator says start or stop; firmware/hw/actuators.py DseKeys speaks the
# module's keys), or a dry-contact relay (then the cranking is ours); and the
# run counters. The automatic start reasons are firmware/gen_reasons.py.
# Pure logic: the clock, the snapshot and the genset's feedback come in, the
# outputs (relay levels, start/stop intents) go out; runs the same in
# pytest, in the unix port and on the board.
#
# Allocation: a tick that changes nothing allocates nothing (ints, bools and
# comparisons of existing objects only); transitions allocate an event.
from firmware.compat import const, ticks_diff
from firmware.clock import local_minute, in_window, UNIX_2000
from firmware.site import RUNNING_HZ
# reason_text is read through this module by the app's event text.
from firmware.gen_reasons import reason_text  # noqa: F401
from firmware.gen_reasons import (Reasons, BATTERY_REASONS, R_GRID, R_BMS, R_BMS_WARN,
                                  R_EXERCISE, R_MANUAL, R_COMM)

# States.
OFF = const(0)          # mode off: never starts
STANDBY = const(1)      # ready, no reason to run
START_DELAY = const(2)  # a reason is waiting out its delay
CRANKING = const(3)     # starter engaged (relay) / start key sent (DSE)
CRANK_REST = const(4)   # between crank attempts (relay)
WARMUP = const(5)       # running confirmed, not yet taking load
RUNNING = const(6)      # carrying the site
COOLDOWN = const(7)     # off load, running down
STOPPING = const(8)     # stop commanded, waiting for it to stop
FAULT = const(9)        # stopped by itself, or would not stop
LOCKOUT = const(10)     # failed to start: needs a reset
STATE_NAMES = ('off', 'standby', 'start_delay', 'cranking', 'crank_rest', 'warmup',
               'running', 'cooldown', 'stopping', 'fault', 'lockout')

# Why the last run ended (or a start was refused).
S_NONE = const(0)
S_CLEARED = const(1)     # every reason cleared and min run done
S_MAX_RUN = const(2)
S_TAPER = const(3)
S_MAX_CHARGE = const(4)
S_PV = const(5)
S_FUEL = const(6)
S_MANUAL = const(7)
S_MODE = const(8)
S_GRID_BACK = const(9)
S_COMM = const(10)
S_FAIL_START = const(11)
S_UNEXPECTED = const(12)
S_FAIL_STOP = const(13)
S_PV_AHEAD = const(14)   # charged far enough: the PV forecast fills the rest
S_GRID_DUE = const(15)   # charged far enough: the grid, due back, charges the rest
STOP_NAMES = ('', 'reasons_cleared', 'max_run', 'charge_taper', 'max_charge_time', 'pv_carries',
              'fuel_low', 'manual_stop', 'mode_off', 'grid_back', 'comm_loss', 'fail_to_start',
              'unexpected_stop', 'fail_to_stop', 'pv_expected', 'grid_expected')

MODES = ('auto', 'manual', 'off')

# What the generator asks of a DSE module, in order; DseKeys turns each into
# the module's keys.
WANT_START = const(1)
WANT_STOP = const(2)
_INTENTS_MAX = const(4)      # a bus that stays down does not grow the queue

_FEEDBACK_LOSS_MS = const(5000)    # running feedback gone this long = it stopped
_FAULT_HOLD_MS = const(60000)      # a fault is held this long before a retry
_FAULTS_TO_LOCKOUT = const(3)      # faults in a row that lock the generator out
_MAX_RUN_REST_MS = const(1800000)  # after a max-run cut, no auto start for 30 min
_DSE_START_MARGIN_MS = const(30000)  # past the module's own crank sequence: a failed start
# The genset's frequency when nothing else tells: at speed (site.RUNNING_HZ,
# the one threshold site.gen_state uses too), or stopped.
_STOPPED_HZ = const(10)
_OUTAGE_STOP_OVER_START = const(10)  # SOC points an outage run leaves above start_soc
_MAX_TICK_GAP_MS = const(60000)   # a longer gap (a stall, a clock jump) adds no run time
_EVENTS_KEPT = const(16)
_DAY_S = const(86400)
_HOUR_S = const(3600)
# A saved last_exercise this large is Unix seconds (saved before the
# clock's epoch was 2000): seconds since 2000 reach it only in 2038.
_UNIX_SAVED = const(1200000000)


def running_feedback(snap):
    """True/False from what the genset (or a generator meter) reports, None
    when nothing tells: never from our own command."""
    st = snap['gen_state']
    if st == 'running' or st == 'warming':
        return True
    if st == 'stopped' or st == 'fault':
        return False
    hz = snap['gen_hz']
    if hz is not None:
        if hz >= RUNNING_HZ:
            return True
        if hz < _STOPPED_HZ:
            return False
    return None


class Generator:
    def __init__(self, gcfg, utc_offset_min=0):
        g = gcfg
        self.cfg = g
        self.control = g['control']
        self.utc_offset_s = utc_offset_min * 60
        self.conditions = Reasons(g)
        self.mode = g['mode']
        self.state = OFF if self.mode == 'off' else STANDBY
        self.reasons = 0          # active start reasons (bits)
        self.waiting = 0          # reasons waiting out their start delay (bits)
        self.run_reasons = 0      # the reasons the current run was started for
        self.stop_reason = S_NONE
        self.manual = False       # manual start requested
        self.exercise = False     # exercise run in progress
        self.available = False    # may carry load (dispatch reads this)
        self.out_run = False      # relay: fuel/run hold
        self.out_crank = False    # relay: starter
        self.intents = []         # WANT_START / WANT_STOP for the DSE, oldest first
        self.attempt = 0
        self.faults = 0
        self.low_fuel = False
        self.fail_stop = False
        self.external = False     # running, but not started by us
        self.feedback = None
        # Counters from real running feedback (resynced to the genset's own).
        self.run_s = 0
        self._run_ms = 0          # sub-second carry
        self.starts = 0
        # run_s at the last service; None until the genset's hours are first
        # known, which then count as serviced (a new controller on an old
        # genset must not call a service due on its first day).
        self.service_base_s = None
        self.last_exercise = 0    # clock s (since 2000) of the last run long enough to count
        self.clock_ok = True      # set by the app: exercise and quiet hours wait for the clock
        self.pv_stop_soc = None   # set by the app from its PV forecast: a charging run's stop SOC
        self._t_state = None      # ticks_ms at entry of the current state
        self._t_run = None        # ticks_ms when running was confirmed
        self._t_fb_lost = None
        self._t_taper = None
        self._t_pv = None
        self._t_rest = None       # ticks_ms of a max-run cut, until its rest is over
        self._last = None         # ticks_ms of the previous tick
        self._was_running = False
        self._taper_ah = None     # capacity the taper threshold was made for
        self._taper_a = None
        self.events = []          # (ts, from_state, to_state, reasons, stop_reason)
        self.dev_name = g['device'] if g['control'] == 'dse' else None
        self._resume = False

    # --- commands -------------------------------------------------------
    def set_mode(self, mode):
        if mode not in MODES:
            raise ValueError('mode must be auto, manual or off')
        self.mode = mode
        if mode != 'manual':
            self.manual = False

    def start(self):
        """Manual/remote start: switches to manual mode."""
        if self.state == LOCKOUT:
            return 'locked out: reset first'
        if self.low_fuel:
            return 'fuel below fuel_prevent_pct'
        self.mode = 'manual'
        self.manual = True
        return None

    def stop(self):
        """Manual/remote stop: stays in manual mode, stopped."""
        self.mode = 'manual'
        self.manual = False
        return None

    def reset(self):
        """Clear a lockout or fault (and the latched flags behind them)."""
        self.attempt = 0
        self.faults = 0
        self.fail_stop = False
        self._t_rest = None
        if self.state in (LOCKOUT, FAULT):
            self._t_state = None
            self.state = OFF if self.mode == 'off' else STANDBY

    def service_done(self):
        self.service_base_s = self.run_s

    @property
    def state_name(self):
        return STATE_NAMES[self.state]

    @property
    def service_due(self):
        h = self.cfg['service_hours']
        b = self.service_base_s
        return h > 0 and b is not None and self.run_s - b >= h * _HOUR_S

    @property
    def lockout(self):
        return self.state == LOCKOUT

    @property
    def max_run_cut(self):
        """True in the tick that cut a run at max_run_s: the latched alarm
        holds it until acknowledged."""
        return self._t_rest is not None and self._t_rest == self._last

    # --- persistence ----------------------------------------------------
    def to_dict(self):
        return {'state': STATE_NAMES[self.state], 'mode': self.mode, 'run_s': self.run_s,
                'starts': self.starts, 'service_base_s': self.service_base_s,
                'last_exercise': self.last_exercise, 'faults': self.faults,
                'manual': self.manual, 'run_reasons': self.run_reasons}

    def from_dict(self, d):
        """Restore after a reboot. A lockout stays a lockout; a run in
        progress resumes only if the genset still reports running. Bad
        values raise ValueError or TypeError and change nothing."""
        run_s = int(d.get('run_s', 0))
        starts = int(d.get('starts', 0))
        b = d.get('service_base_s')
        base = None if b is None else int(b)
        last_ex = int(d.get('last_exercise', 0) or 0)
        if last_ex > _UNIX_SAVED:
            last_ex -= UNIX_2000
        faults = int(d.get('faults', 0))
        reasons = int(d.get('run_reasons', 0))
        mode = d.get('mode')
        st = d.get('state')
        self.run_s, self.starts, self.service_base_s = run_s, starts, base
        self.last_exercise, self.faults = last_ex, faults
        if mode in MODES:
            self.mode = mode
        self.manual = bool(d.get('manual')) and self.mode == 'manual'
        if st == 'lockout':
            self.state = LOCKOUT
        elif st in ('warmup', 'running', 'cranking', 'cooldown', 'stopping'):
            self.state = RUNNING    # confirmed or dropped on the first tick
            self._resume = True
            self.run_reasons = reasons
            self.conditions.hold(reasons)
        else:
            self.state = OFF if self.mode == 'off' else STANDBY

    # --- the tick -------------------------------------------------------
    def _enter(self, state, now, ts):
        self.events.append((ts, self.state, state,
                            self.run_reasons or self.reasons or self.waiting, self.stop_reason))
        if len(self.events) > _EVENTS_KEPT:
            self.events.pop(0)
        self.state = state
        self._t_state = now

    def _in_state_ms(self, now):
        return ticks_diff(now, self._t_state) if self._t_state is not None else 0

    def _run_ms_now(self, now):
        return ticks_diff(now, self._t_run) if self._t_run is not None else 0

    def _quiet(self, ts):
        q = self.cfg['quiet']
        if q is None or not self.clock_ok:      # unknown hour: the battery comes first
            return False
        return in_window(local_minute(ts, self.utc_offset_s), q[0], q[1])

    def _count(self, fb, now, dt, snap):
        if fb:
            if not self._was_running:
                self.starts += 1
            self._run_ms += dt
            if self._run_ms >= 1000:
                self.run_s += self._run_ms // 1000
                self._run_ms %= 1000
        self._was_running = bool(fb)
        dev = snap['dev'].get(self.dev_name) if self.dev_name else None
        if dev is not None and dev['online']:   # the genset's own counters win
            if dev['run_s'] is not None:
                self.run_s = dev['run_s']
            if dev['starts'] is not None:
                self.starts = dev['starts']
        if self.service_base_s is None and (fb is not None or dev is not None):
            self.service_base_s = self.run_s

    def _ask(self, intent):
        if self.control == 'dse' and len(self.intents) < _INTENTS_MAX:
            self.intents.append(intent)

    def _reasons(self, snap, now, ts):
        """The reasons to run now (self.reasons) and those waiting out their
        start delay (self.waiting); True when some are waiting."""
        g = self.cfg
        c = self.conditions
        # A grid outage most likely ends before the battery does: in one,
        # the battery carries lower before the diesel starts.
        c.soc_start = g['outage_start_soc'] if snap['grid_ok'] is False else None
        c.update(snap, now, self._run_ms_now(now))
        bits = c.active
        pend = c.waiting
        # Exercise: due every exercise_days at exercise_hour, outside quiet hours.
        days = g['exercise_days']
        if self.exercise:
            bits |= R_EXERCISE
        elif days and self.clock_ok and ts >= self.last_exercise + days * _DAY_S \
                and self.state == STANDBY:
            hour = int((ts + self.utc_offset_s) // _HOUR_S) % 24
            if hour == g['exercise_hour'] and not self._quiet(ts):
                self.exercise = True
                bits |= R_EXERCISE
        if self.manual:
            bits |= R_MANUAL
        if self.mode == 'manual':       # only the technician's request counts
            bits &= R_MANUAL
            pend = 0
        elif self.mode == 'off':
            bits = 0
            pend = 0
        self.reasons = bits
        self.waiting = pend
        return pend != 0

    def _may_start(self, snap, ts):
        g = self.cfg
        if self.low_fuel:
            return False
        if self.manual:
            return True
        if self._t_rest is not None:    # resting after a max-run cut
            soc = snap['batt_soc']
            if soc is None or soc > g['quiet_override_soc']:
                return False
        if self._quiet(ts):
            soc = snap['batt_soc']
            return soc is not None and soc <= g['quiet_override_soc']
        return True

    def _charging(self):
        # A run for the battery's charge (not for its BMS or for lost data)
        # may end before its reasons clear.
        r = self.reasons
        return r & BATTERY_REASONS and not r & (R_BMS | R_BMS_WARN | R_COMM)

    def _tapering(self, snap, run_ms):
        """Whether the charge current is under the taper threshold; None
        when that cannot be told (no current or capacity, still warming up)."""
        g = self.cfg
        ba = snap['batt_a']
        if not g['stop_taper_c'] or snap['batt_ah'] is None or ba is None \
                or run_ms < g['warmup_s'] * 1000:
            return None
        return 0 <= ba < self._taper_a

    def _track(self, snap, now):
        """The run's clocks that _stop_cause reads: the end of an exercise,
        how long the charge has tapered, how long PV has carried the load."""
        g = self.cfg
        run_ms = self._run_ms_now(now)
        if self.exercise:
            if run_ms < g['exercise_s'] * 1000:
                return      # an exercise runs its time whatever the battery does
            self.exercise = False
            self.reasons &= ~R_EXERCISE
        if not self._charging():
            return
        cap = snap['batt_ah']
        tc = g['stop_taper_c']
        if tc and cap is not None and cap != self._taper_ah:
            self._taper_ah = cap
            self._taper_a = tc * cap    # a float: made again only when the capacity changes
        t = self._tapering(snap, run_ms)
        if t:
            if self._t_taper is None:
                self._t_taper = now
        elif t is False:
            self._t_taper = None
        pv = snap['pv_w']
        lw = snap['load_w']
        ba = snap['batt_a']
        if g['pv_stop_s'] and pv is not None and lw is not None and ba is not None \
                and pv >= lw and ba > 0:
            if self._t_pv is None:
                self._t_pv = now
        else:
            self._t_pv = None

    def _stop_cause(self, snap, now):
        """Why a running generator should stop now (S_NONE = keep running).
        A query: _track has moved the run's clocks for this tick."""
        g = self.cfg
        fuel = snap['fuel_pct']
        if fuel is not None and fuel < g['fuel_stop_pct']:
            return S_FUEL
        if self.mode == 'off':
            return S_MODE
        lost = snap['batt_soc'] is None and snap['batt_v'] is None
        if lost and g['on_comm_loss'] == 'stop' and not self.manual:
            return S_COMM
        run_ms = self._run_ms_now(now)
        mr = g['max_run_s']
        if mr and run_ms >= mr * 1000:
            return S_MAX_RUN
        if self.mode == 'manual':
            return S_NONE if self.manual else S_MANUAL
        if self.run_reasons & R_GRID and snap['grid_ok'] is True:
            return S_GRID_BACK
        if self.exercise:
            return S_NONE
        if self._charging():
            # Cycle charging ends early when the battery stops taking current.
            if self._tapering(snap, run_ms) \
                    and ticks_diff(now, self._t_taper) >= g['stop_taper_s'] * 1000:
                return S_TAPER
            mc = g['max_charge_s']
            if mc and run_ms >= mc * 1000:
                return S_MAX_CHARGE
            if self._t_pv is not None and ticks_diff(now, self._t_pv) >= g['pv_stop_s'] * 1000:
                return S_PV
            soc = snap['batt_soc']
            if soc is not None and run_ms >= g['min_run_s'] * 1000:
                # Charged far enough for what comes next; a SOC that jumps
                # (a BMS recalibrating) still leaves the engine its min run.
                t = self.pv_stop_soc
                if t is not None and soc >= t:
                    return S_PV_AHEAD
                # In an outage, diesel charging past what carries the site to
                # the next start does what the grid, back, does at its price.
                t = g['outage_stop_soc']
                if t is not None and snap['grid_ok'] is False \
                        and soc >= t and soc >= g['start_soc'] + _OUTAGE_STOP_OVER_START:
                    return S_GRID_DUE
        if self.reasons:
            return S_NONE
        if self.run_reasons & (R_GRID | BATTERY_REASONS) and snap['grid_ok'] is True:
            return S_GRID_BACK
        if run_ms >= g['min_run_s'] * 1000 or self.run_reasons == 0:
            return S_CLEARED
        return S_NONE

    def tick(self, now, ts, snap):
        """One decision from one snapshot. `now` is ticks_ms, `ts` Unix s."""
        g = self.cfg
        dt = ticks_diff(now, self._last) if self._last is not None else 0
        if dt < 0 or dt > _MAX_TICK_GAP_MS:
            dt = 0
        self._last = now
        if self._t_rest is not None and ticks_diff(now, self._t_rest) >= _MAX_RUN_REST_MS:
            self._t_rest = None
        fb = running_feedback(snap)
        self.feedback = fb
        self._count(fb, now, dt, snap)
        fuel = snap['fuel_pct']
        if fuel is not None:
            self.low_fuel = fuel < g['fuel_prevent_pct']
        waiting = self._reasons(snap, now, ts)
        st = self.state
        ctl = self.control

        if self._resume:
            self._resume = False
            if fb:
                self._t_run = now
                self.run_reasons = self.reasons or R_MANUAL * self.manual
            else:
                self._enter(OFF if self.mode == 'off' else STANDBY, now, ts)
                st = self.state

        if st == OFF or st == STANDBY or st == START_DELAY:
            self.external = bool(fb) and st != START_DELAY
            idle = OFF if self.mode == 'off' else STANDBY
            want = self.mode != 'off' and (self.reasons != 0)
            if want and self._may_start(snap, ts):
                self.run_reasons = self.reasons
                self.stop_reason = S_NONE
                self.attempt = 1
                self._t_taper = self._t_pv = None
                self._begin_crank(now, ts)
            elif self.mode != 'off' and waiting and self._may_start(snap, ts):
                if st != START_DELAY:
                    self._enter(START_DELAY, now, ts)
            elif st != idle:
                self._enter(idle, now, ts)
        elif st == CRANKING:
            self._cranking(fb, now, ts, snap)
        elif st == CRANK_REST:
            if self._abort_start(now, ts):
                pass
            elif self._in_state_ms(now) >= g['crank_rest_s'] * 1000:
                self.attempt += 1
                self._begin_crank(now, ts)
        elif st == WARMUP or st == RUNNING:
            if fb is False:
                if self._t_fb_lost is None:
                    self._t_fb_lost = now
                if ticks_diff(now, self._t_fb_lost) >= _FEEDBACK_LOSS_MS:
                    self.stop_reason = S_UNEXPECTED
                    self._fault(now, ts)
                    return self
            else:
                self._t_fb_lost = None
            self._track(snap, now)
            cause = self._stop_cause(snap, now)
            if cause:
                self.stop_reason = cause
                if cause == S_MAX_RUN:
                    self._t_rest = now
                self._end_run(now, ts)
            elif st == WARMUP and self._in_state_ms(now) >= g['warmup_s'] * 1000:
                self._enter(RUNNING, now, ts)
        elif st == COOLDOWN:
            # An emergency (fuel, mode off) does not wait out the cool-down.
            if self._in_state_ms(now) >= g['cooldown_s'] * 1000 or self.stop_reason == S_FUEL:
                self.out_run = False
                self._enter(STOPPING, now, ts)
        elif st == STOPPING:
            self.out_run = False
            if fb is False or (fb is None and ctl == 'relay'):
                self._t_run = None
                self._enter(OFF if self.mode == 'off' else STANDBY, now, ts)
            elif snap['gen_state'] == 'cooling':
                self._t_state = now     # the module runs its own cool-down
            elif self._in_state_ms(now) >= g['stop_timeout_s'] * 1000:
                self.stop_reason = S_FAIL_STOP
                self.fail_stop = True
                self._fault(now, ts)
        elif st == FAULT:
            if self._in_state_ms(now) >= _FAULT_HOLD_MS and not fb:
                self._enter(OFF if self.mode == 'off' else STANDBY, now, ts)
        # LOCKOUT: nothing until reset().
        self.available = self.state == RUNNING
        return self

    def _begin_crank(self, now, ts):
        if self.control == 'relay':
            self.out_run = True
            self.out_crank = True
        self._ask(WANT_START)
        self._enter(CRANKING, now, ts)

    def _abort_start(self, now, ts):
        """Mode off or every reason gone before the engine caught."""
        if self.mode == 'off' or (self.reasons == 0 and not self.manual) or self.low_fuel:
            self.out_crank = False
            self.out_run = False
            self._ask(WANT_STOP)
            self.stop_reason = S_MODE if self.mode == 'off' else S_CLEARED
            self._enter(OFF if self.mode == 'off' else STANDBY, now, ts)
            return True
        return False

    def _cranking(self, fb, now, ts, snap):
        g = self.cfg
        if self._abort_start(now, ts):
            return
        if fb:
            self.out_crank = False
            self._t_run = now
            self._t_fb_lost = None
            self._enter(WARMUP, now, ts)
            return
        t = self._in_state_ms(now)
        if self.control == 'dse':
            # The module runs its own crank attempts; a shutdown alarm or no
            # running within its whole sequence is a failure to start.
            limit = g['crank_attempts'] * (g['crank_s'] + g['crank_rest_s']) * 1000 \
                + _DSE_START_MARGIN_MS
            if snap['gen_state'] == 'fault' or t >= limit:
                self._ask(WANT_STOP)
                self.stop_reason = S_FAIL_START
                self._enter(LOCKOUT, now, ts)
            return
        if t >= g['crank_s'] * 1000:
            self.out_crank = False
            self.out_run = False
            if self.attempt >= g['crank_attempts']:
                self.stop_reason = S_FAIL_START
                self._enter(LOCKOUT, now, ts)
            else:
                self._enter(CRANK_REST, now, ts)

    def _end_run(self, now, ts):
        if self._run_ms_now(now) >= self.cfg['exercise_s'] * 1000:
            self.last_exercise = ts     # a long enough run counts as exercise
        self.exercise = False
        self.manual = False             # a new run needs a new request
        self.faults = 0                 # a run that ends by our hand ends a fault series
        self.conditions.reset()
        self._ask(WANT_STOP)
        self._enter(COOLDOWN, now, ts)

    def _fault(self, now, ts):
        self.out_crank = False
        self.out_run = False
        self._t_run = None
        self.exercise = False
        self.faults += 1
        self._ask(WANT_STOP)
        self._enter(LOCKOUT if self.faults >= _FAULTS_TO_LOCKOUT else FAULT, now, ts)
