# Wall-clock time in Unix seconds on every port: the ESP32 counts from 2000.
import time

_EPOCH_OFFSET = 946684800 if time.gmtime(0)[0] == 2000 else 0


def unix_time():
    return time.time() + _EPOCH_OFFSET


def local_minute(ts, offset_s):
    """Minute of the local day (0..1439) of Unix time ts."""
    return int((ts + offset_s) // 60) % 1440


def in_window(minute, start, end):
    """True when minute falls in [start, end), a window that may wrap
    midnight (22:00-06:00)."""
    return start <= minute < end if start <= end else (minute >= start or minute < end)
