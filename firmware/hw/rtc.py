# The board's real-time clock, read once at boot and set after each NTP
# answer, so the time survives a soft reset (a watchdog or a reboot). After
# a power-on the ESP32's RTC starts at 2000-01-01 (firmware.clock then
# reports the time as not valid).
from firmware import clock


def read():
    """Seconds since 2000 by the RTC (machine.RTC().datetime(): year, month,
    day, weekday, hours, minutes, seconds, subseconds)."""
    from machine import RTC
    y, mo, d, _wd, h, mi, s = RTC().datetime()[:7]
    return clock.seconds(y, mo, d, h, mi, s)


def write(t):
    """Set the RTC to t seconds since 2000."""
    from machine import RTC
    y, mo, d, h, mi, s = clock.civil(t)
    # Weekday Monday = 0, as the port counts it: 2000-01-01 was a Saturday.
    RTC().datetime((y, mo, d, (t // 86400 + 5) % 7, h, mi, s, 0))
