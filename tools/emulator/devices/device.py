"""What every emulated Modbus unit shares: tables, ranges, overrides, faults,
and the registers of the firmware's profile encoded from the unit's values."""
from pymodbus.constants import ExcCodes

from firmware.decode import P_NAME
from firmware import profiles
from emulator.registers import FC_TABLE, put_point


def bits16(x):
    """A 16-bit flag word from a number."""
    return int(x) & 0xFFFF


def item(key, index):
    """The index-th of a snapshot's list (a meter's phases)."""
    return lambda snap: snap[key][index]


# A unit's line faults (the control channel's "set" of key "fault"):
# "split", every answer sent in two pieces 30 ms apart; "wrong_unit", every
# answer from the next unit number (a well-formed frame, CRC and all);
# "exception", every read answered with exception 4 (device failure);
# "every_other", every other request unanswered; "" for none.
LINE_FAULTS = ("", "split", "wrong_unit", "exception", "every_other")


def line_fault(value):
    value = value or ""
    if value not in LINE_FAULTS:
        raise ValueError("fault must be one of %s" % ", ".join(repr(f) for f in LINE_FAULTS))
    return value


class Device:
    """One Modbus unit. Subclasses give tables() and their quirks.

    RANGES maps a table name to (first, last, fill) blocks: an address inside a
    block but absent from the table reads as `fill`; an address outside every
    block is an illegal address (exception 2).
    """

    PROFILE = "?"
    FCS = (3, 4)
    RANGES = {}
    ANSWER_DELAY_MS = 10
    ROLE = None
    MAIN_FC = 3  # the function code of the unit's main table ("override" default)
    # What the control channel's "set" may change: key -> (attribute, type).
    PARAMS = {"answer_delay_ms": ("answer_delay_ms", float), "min_gap_ms": ("min_gap_ms", float),
              "fault": ("fault", line_fault)}
    # Every point of the firmware's profile PROFILE, with the value the unit
    # puts there: a snapshot key, or a function of the snapshot. Registers
    # the firmware does not read are the subclass's own (tables()).
    POINT_VALUES = {}
    POINTS = {}                  # their profile points by name, in that order
    FIRMWARE_PROFILE = None      # the firmware's profile module (firmware/profiles/)

    def __init_subclass__(cls, **kw):
        super().__init_subclass__(**kw)
        if "POINT_VALUES" not in cls.__dict__:
            return
        cls.FIRMWARE_PROFILE = profiles.load(cls.PROFILE)
        points = {p[P_NAME]: p for p in cls.FIRMWARE_PROFILE.POINTS}
        missing = sorted(set(points) - set(cls.POINT_VALUES))
        unknown = sorted(set(cls.POINT_VALUES) - set(points))
        if missing or unknown:
            raise TypeError("%s: the firmware's profile %s has points it gives no value (%s),"
                            " or it names points the profile lacks (%s)"
                            % (cls.__name__, cls.PROFILE, ", ".join(missing) or "none",
                               ", ".join(unknown) or "none"))
        cls.POINTS = {name: points[name] for name in cls.POINT_VALUES}

    def __init__(self, emu, cfg):
        self.emu = emu
        self.model = emu.model
        self.name = cfg["name"]
        self.unit = int(cfg["unit"])
        self.bus = cfg["bus"]
        self.role = cfg.get("role", self.ROLE)
        self.cfg = cfg
        self.answer_delay_ms = float(cfg.get("answer_delay_ms", self.ANSWER_DELAY_MS))
        self.silent = False
        self.garbage = None          # None or a mode: crc, truncate, noise, mixed
        self.garbage_count = 0
        self.fault = ""              # "" or one of LINE_FAULTS (servers.Bus.answer)
        self.fault_count = 0
        self.min_gap_ms = 0.0        # > 0: requests closer than this get no answer
        self.last_frame_t = -1e9
        self.overrides = {}          # (table, addr) -> raw value
        self.stored = {}             # writable registers written by the master

    def describe(self):
        return {"profile": self.PROFILE, "bus": self.bus, "unit": self.unit,
                "role": self.role}

    # -- to override --------------------------------------------------------------

    def snapshot(self):
        """Physical quantities this unit reports, in SI units (what tables encode)."""
        return {}

    def tables(self):
        """{table name: {address: raw register value}} for the current model state."""
        return {}

    def put_points(self, tables, snap):
        """The profile's points into `tables`, each from its POINT_VALUES."""
        for name, point in self.POINTS.items():
            get = self.POINT_VALUES[name]
            self.put_point(tables, point, get(snap) if callable(get) else snap[get])

    def put_point(self, tables, point, value):
        put_point(tables, point, value)

    def write(self, fc, addr, values):
        """Apply a write; return (ExcCodes or None, effect text)."""
        return ExcCodes.ILLEGAL_ADDRESS, "read-only"

    def store(self, addr, values):
        """Keep written settings as the unit does; the write's outcome."""
        for i, v in enumerate(values):
            self.stored[addr + i] = v & 0xFFFF
        return None, "stored"

    def set_param(self, key, value):
        """A parameter that is more than an attribute (see PARAMS)."""
        raise KeyError("unknown key %r for %s" % (key, self.PROFILE))

    def integrate(self):
        """Keep up with the model between requests (a meter counts energy)."""

    def write_notes(self, address, values):
        """Fields the write log adds to a write of `values` at `address`."""
        return {}

    # -- generic read ---------------------------------------------------------------

    def _table(self, name):
        table = self.tables().get(name, {})
        for (tname, addr), value in self.overrides.items():
            if tname == name:
                table[addr] = value
        return table

    def _covered(self, table, addr, count):
        blocks = self.RANGES.get(table, ())
        for a in range(addr, addr + count):
            if not any(first <= a <= last for first, last, _ in blocks):
                return False
        return True

    def _fill(self, table, addr):
        for first, last, fill in self.RANGES.get(table, ()):
            if first <= addr <= last:
                return fill
        return 0

    def read(self, fc, addr, count):
        """Registers (or bits) addr..addr+count-1, or an ExcCodes."""
        name = FC_TABLE.get(fc)
        if name is None:
            return ExcCodes.ILLEGAL_FUNCTION
        if not self._covered(name, addr, count):
            return ExcCodes.ILLEGAL_ADDRESS
        table = self._table(name)
        values = [table.get(a, self._fill(name, a)) for a in range(addr, addr + count)]
        if name in ("coil", "discrete"):
            return [bool(v) for v in values]
        return [v & 0xFFFF for v in values]

    def set_common(self, key, value):
        """The control channel's "set" of one of this unit's parameters."""
        if key in self.PARAMS:
            attr, kind = self.PARAMS[key]
            setattr(self, attr, kind(value))
        else:
            self.set_param(key, value)
