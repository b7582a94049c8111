# Wall-clock time for the controller, one epoch on every port: inside, the
# seconds since 2000-01-01 UTC (the ESP32's own epoch); on the wire, Unix
# seconds (to_unix()). Inside, a time stays a small int until 2034 on the
# board (small ints end at 2**30), so the control tick allocates nothing;
# Unix seconds (1.8e9) would be a heap int at every use.
#
# The count runs on ticks_ms from a start read off the RTC (start()), set
# again from NTP (set_unix()). After a power-on the ESP32's RTC says
# 2000-01-01: until the clock is set, `valid` is False, and what needs the
# time of day (TOU, quiet hours, exercise, signed commands) waits.
from firmware.compat import ticks_ms, ticks_diff, ticks_add

UNIX_2000 = 946684800           # Unix seconds at 2000-01-01 00:00 UTC
VALID_FROM = 820540800          # 2026-01-01: an RTC behind this was never set

_base = 0           # seconds since 2000 at ticks _at
_at = 0
valid = False
synced = False      # set from NTP (not only from an RTC that kept its time)


def start(seconds):
    """Count on from `seconds` since 2000 (the RTC's time at boot)."""
    global _base, _at, valid, synced
    _base = seconds
    _at = ticks_ms()
    valid = seconds >= VALID_FROM
    synced = False


def set_unix(unix_s):
    """The time from NTP (Unix seconds): the clock is valid from now."""
    global _base, _at, valid, synced
    _base = int(unix_s) - UNIX_2000
    _at = ticks_ms()
    valid = synced = True


def now():
    """Seconds since 2000. Allocates nothing: the elapsed ticks are folded
    into the base each second, so ticks_diff never nears its half period."""
    global _base, _at
    d = ticks_diff(ticks_ms(), _at)
    if d >= 1000:
        s = d // 1000
        _base += s
        _at = ticks_add(_at, s * 1000)
    return _base


def to_unix(t):
    """Seconds since 2000 -> Unix seconds (for the wire and the logs)."""
    return None if t is None else t + UNIX_2000


def from_unix(u):
    return int(u) - UNIX_2000


def unix_time():
    return now() + UNIX_2000


def civil(t):
    """(year, month, day, hour, minute, second) of t seconds since 2000,
    by integer arithmetic alone (time.gmtime's epoch differs by port)."""
    days, s = divmod(t, 86400)
    # Days from 2000-03-01, whose 400-year eras make leap days regular.
    z = days - 60
    era = z // 146097
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    d = doy - (153 * mp + 2) // 5 + 1
    m = mp + 3 if mp < 10 else mp - 9
    y = 2000 + yoe + era * 400 + (1 if m <= 2 else 0)
    return y, m, d, s // 3600, s // 60 % 60, s % 60


def seconds(y, m, d, hh=0, mm=0, ss=0):
    """Seconds since 2000 of a UTC date and time (the inverse of civil())."""
    y -= m <= 2
    era = (y - 2000) // 400 if y >= 2000 else (y - 2399) // 400
    yoe = y - 2000 - era * 400
    mp = m - 3 if m > 2 else m + 9
    doy = (153 * mp + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return (era * 146097 + doe + 60) * 86400 + hh * 3600 + mm * 60 + ss


def local_minute(ts, offset_s):
    """Minute of the local day (0..1439) of time ts (either epoch: both
    begin at a UTC midnight)."""
    return int((ts + offset_s) // 60) % 1440


def in_window(minute, start, end):
    """True when minute falls in [start, end), a window that may wrap
    midnight (22:00-06:00)."""
    return start <= minute < end if start <= end else (minute >= start or minute < end)
