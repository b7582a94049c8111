# The only place that acts on the cabinet: DSE control keys and the MPPTs'
# charging coils over Modbus, the generator's relay contacts, the loads' and
# the grid input's contactors on pins. Each apply() turns the pure
# decisions into writes, and only on a change.
from firmware.compat import const, ticks_diff
from firmware.bus_errors import BusError
from firmware import generator as G

# DSE GenComm control keys (page 16, firmware/profiles/dse_gencomm.py): a key
# and its complement written to KEY_REG and KEY_REG + 1 in one FC16; the
# module's 8 registers at KEY_FLAGS hold one bit a key, _KEY_BASE the first,
# most significant bit first, set when the module takes that key.
KEY_REG = const(4104)
KEY_FLAGS = const(4096)
_KEY_BASE = const(35700)
KEY_STOP_MODE = const(35700)
KEY_AUTO = const(35701)
KEY_MANUAL = const(35702)
KEY_START = const(35705)
KEY_TELE_START = const(35732)
KEY_TELE_CANCEL = const(35733)

_FLAGS_RETRY_MS = const(60000)

# EPEver Tracer coil 0x0000, "charging device on/off": 1 on, 0 off, FC05 to
# write, FC01 to read (EPEver's LS-B/VS-B/Tracer-B/Tracer-A/iTracer/eTracer
# Modbus register address list V2.5, "switch values"). Holding registers
# 0x9000.. are voltages: a Tracer cannot be given a charge current limit.
_COIL_CHARGE = const(0)
_COIL_RETRY_MS = const(10000)


def offers(flags, key):
    """Whether the key-availability registers (KEY_FLAGS..+7) offer key."""
    n = key - _KEY_BASE
    return n // 16 < len(flags) and (flags[n // 16] >> (15 - n % 16)) & 1 == 1


class DseKeys:
    """Turns the generator's start/stop intents into the module's control
    keys and sends them: the key to 4104 and its complement to 4105 in one
    FC16 request, as GenComm requires."""

    def __init__(self, device, gen):
        self.dev = device
        self.gen = gen
        self.flags = None         # the module's key availability, once read
        self.sent = 0             # keys the module took
        self.failed = 0           # key writes that failed (each tried again)
        self.flag_errors = 0      # reads of the key availability that failed
        self._seq = None          # the keys of the intent being sent
        self._i = 0               # how many of them the module has taken
        self._flags_at = None

    def manual_path(self):
        # Telemetry start in auto is the preferred way; a module that lacks
        # it is put in manual mode and started, and stopped by stop mode,
        # then back to auto as the module was found.
        f = self.flags
        return f is not None and not offers(f, KEY_TELE_START) \
            and offers(f, KEY_MANUAL) and offers(f, KEY_START)

    def keys_for(self, intent):
        if self.manual_path():
            if intent == G.WANT_START:
                return (KEY_MANUAL, KEY_START)
            return (KEY_STOP_MODE, KEY_AUTO)
        return (KEY_TELE_START,) if intent == G.WANT_START else (KEY_TELE_CANCEL,)

    def write(self, key):
        """One key; None when the module took it, else the error."""
        err = self.dev.write(KEY_REG, [key, 65535 - key])
        if err is None:
            self.sent += 1
        else:
            self.failed += 1
        return err

    def _read_flags(self, now):
        if self._flags_at is not None and ticks_diff(now, self._flags_at) < _FLAGS_RETRY_MS:
            return
        self._flags_at = now
        try:
            data = self.dev.request(3, KEY_FLAGS, 8)
        except BusError:
            self.flag_errors += 1       # the telemetry keys meanwhile; read again later
            return
        self.flags = [(data[2 * i] << 8) | data[2 * i + 1] for i in range(8)]

    def apply(self, now):
        if self.flags is None and self.dev.online:
            self._read_flags(now)
        q = self.gen.intents
        while q:
            if self._seq is None:       # the path is chosen once an intent
                self._seq = self.keys_for(q[0])
            if self.write(self._seq[self._i]) is not None:
                return                  # the same key again next tick
            self._i += 1
            if self._i == len(self._seq):
                q.pop(0)
                self._seq = None
                self._i = 0


class OutPin:
    """An output pin written only when its level changes."""

    def __init__(self, pin_no, level=0):
        from machine import Pin
        # value= sets the level as the pin becomes an output: set after,
        # an active-low contactor would drop for a moment at every boot.
        self.pin = Pin(pin_no, Pin.OUT, value=level)
        self.level = level

    def set(self, level):
        if level != self.level:
            self.level = level
            self.pin.value(level)


class GenRelays:
    """Relay control: the starter contact and the fuel/run contact."""

    def __init__(self, gcfg, gen):
        self.gen = gen
        self.crank = OutPin(gcfg['relay_pin'])
        self.run = OutPin(gcfg['run_pin']) if gcfg['run_pin'] is not None else None

    def apply(self, now):
        g = self.gen
        self.crank.set(1 if g.out_crank else 0)
        if self.run is not None:
            self.run.set(1 if g.out_run else 0)


class LoadContactors:
    def __init__(self, shedding):
        self.shed = shedding
        self.pins = [OutPin(l['pin'], shedding.level(i)) for i, l in enumerate(shedding.loads)]

    def apply(self, now):
        s = self.shed
        for i in range(len(self.pins)):
            self.pins[i].set(s.level(i))


class GridPins:
    """The rectifiers' AC input contactor (dispatch.grid_pin) follows
    Decision.grid_on, their charge enable (dispatch.grid_charge_pin)
    Decision.grid_charge. Each starts at its safe level, the grid closed
    and charging, so that a reboot never drops the site off the grid;
    without a charge pin the rectifiers charge whenever the input is
    closed."""

    def __init__(self, dcfg, decision):
        self.d = decision
        self.hi = dcfg['grid_pin_active_high']
        self.chi = dcfg['grid_charge_pin_active_high']
        p = dcfg['grid_pin']
        self.inp = OutPin(p, 1 if self.hi else 0) if p is not None else None
        p = dcfg['grid_charge_pin']
        self.chg = OutPin(p, 1 if self.chi else 0) if p is not None else None

    def apply(self, now):
        d = self.d
        if self.inp is not None:
            self.inp.set(1 if d.grid_on == self.hi else 0)
        if self.chg is not None:
            self.chg.set(1 if d.grid_charge == self.chi else 0)


class MpptCoils:
    """The EPEver Tracers' charging on/off (coil 0) follows Decision.pv_charge:
    written when it differs from what the coil was last read back as (so
    once at every start: a restart re-asserts it), then read back. A write
    the device refuses, or a read-back that disagrees, is tried again
    every _COIL_RETRY_MS while `fault` holds (alarm lever_fault). An
    offline unit waits for its return."""

    def __init__(self, devs, decision):
        self.devs = devs
        self.d = decision
        self.state = [None] * len(devs)   # the coil as last read back
        self.at = [None] * len(devs)      # ticks_ms of the last failed try
        self.failed = 0
        self.fault = False
        self.blind = False      # safe mode: nothing is polled, write all the same

    def apply(self, now):
        on = self.d.pv_charge
        fault = False
        for i in range(len(self.devs)):
            dev = self.devs[i]
            if self.state[i] is on or not (dev.online or self.blind):
                continue
            t = self.at[i]
            if t is not None and ticks_diff(now, t) < _COIL_RETRY_MS:
                fault = True
                continue
            if dev.write_coil(_COIL_CHARGE, on) is None:
                try:
                    if (dev.request(1, _COIL_CHARGE, 1)[0] & 1 == 1) is on:
                        self.state[i] = on
                        self.at[i] = None
                        continue
                except BusError:
                    pass
            self.failed += 1
            self.at[i] = now
            fault = True
        self.fault = fault


def build(cfg, devices, gen, shedding, faults, dcfg, decision):
    """The actuators the config names. One whose pin the board refuses
    (ValueError, OSError) is left out and named in `faults`: the rest of
    the controller still runs, and the alarm says what cannot act."""
    acts = []
    g = cfg['generator']
    if g['control'] == 'dse' and g['device']:
        for d in devices:
            if d.name == g['device']:
                acts.append(DseKeys(d, gen))
    elif g['control'] == 'relay':
        _add(acts, faults, 'generator relays', GenRelays, g, gen)
    if shedding.loads:
        _add(acts, faults, 'load contactors', LoadContactors, shedding)
    if dcfg['pv_charge_coil']:
        mppts = [d for d in devices if d.profile_name == 'epever_tracer']
        if mppts:
            acts.append(MpptCoils(mppts, decision))
    if dcfg['grid_pin'] is not None or dcfg['grid_charge_pin'] is not None:
        _add(acts, faults, 'grid input', GridPins, dcfg, decision)
    return acts


def _add(acts, faults, what, cls, *args):
    try:
        acts.append(cls(*args))
    except (ValueError, OSError) as e:
        faults.append('%s: %s' % (what, e))
