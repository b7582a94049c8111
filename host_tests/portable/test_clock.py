# The controller's clock: seconds since 2000 inside (small ints on the
# board until 2034), Unix seconds on the wire, the time of day by integer
# arithmetic alone, valid only once set.
from firmware import clock
from firmware.compat import ticks_ms


def test_civil_dates_both_ways():
    # Reference dates from the proleptic Gregorian calendar (and the Unix
    # times any `date -u -d` gives for them).
    for unix, when in ((946684800, (2000, 1, 1, 0, 0, 0)),
                       (951782400, (2000, 2, 29, 0, 0, 0)),      # a 400-year leap day
                       (1709210096, (2024, 2, 29, 12, 34, 56)),
                       (1767225599, (2025, 12, 31, 23, 59, 59)),
                       (2087942400, (2036, 3, 1, 0, 0, 0)),
                       (4107542400, (2100, 3, 1, 0, 0, 0))):     # 2100 is no leap year
        t = clock.from_unix(unix)
        assert clock.civil(t) == when, (unix, clock.civil(t))
        assert clock.seconds(*when) == t
        assert clock.to_unix(t) == unix
    assert clock.to_unix(None) is None


def test_valid_only_once_set():
    clock.start(5)                           # an RTC at 2000-01-01 after power-on
    assert clock.valid is False and clock.now() in (5, 6)
    clock.start(clock.seconds(2026, 6, 1))   # an RTC that kept its time
    assert clock.valid is True and clock.synced is False
    clock.start(5)
    clock.set_unix(1796000000)               # NTP
    assert clock.valid and clock.synced
    assert abs(clock.unix_time() - 1796000000) <= 1


def test_now_counts_on_ticks_and_stays_a_small_int():
    clock.set_unix(1796000000)
    t0 = clock.now()
    end = ticks_ms() + 1200
    while ticks_ms() < end:
        pass
    assert clock.now() - t0 in (1, 2)
    # Below 2**30 until 2034: a small int on the board, no heap per tick.
    assert clock.now() < (1 << 30)
    assert clock.seconds(2034, 1, 9) < (1 << 30) < clock.seconds(2034, 1, 10)
