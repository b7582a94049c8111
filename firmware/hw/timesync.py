# Keeping the clock: an SNTP query (hw/sntp.py) once the network is up and
# every net.ntp_s after, a failed one retried after 10 s, doubling to 10 min; each answer
# sets firmware.clock and the board's RTC. Never blocks the loop: the query
# is polled a turn at a time (its DNS lookup is bounded, hw/dns.py).
from firmware.compat import ticks_diff, ticks_add
from firmware import clock

RETRY_MIN_MS = 10000     # a failed query is tried again after this, doubling
RETRY_MAX_MS = 600000


class TimeSync:
    def __init__(self, host, period_s):
        from firmware.hw.sntp import Sntp
        self.host = host
        name, _, port = host.partition(':')     # 'host:port' for a server off port 123
        self.sntp = Sntp(name, int(port) if port else 123)
        self.period_ms = period_s * 1000
        self.next_ms = None         # ticks of the next query; None: at once
        self.syncs = 0
        self.failures = 0
        self.last_error = None
        self.last_sync = None       # clock time of the last answer
        self.retry_ms = RETRY_MIN_MS

    def step(self, now, net_up):
        s = self.sntp
        if not s.busy:
            if not net_up or (self.next_ms is not None and ticks_diff(now, self.next_ms) < 0):
                return
            from firmware.hw import dns
            try:
                s.start(now, dns.default_server)
            except OSError as e:
                self._failed(now, e)
                return
        try:
            t = s.poll(now)
        except OSError as e:
            self._failed(now, e)
            return
        if t is None:
            return
        clock.set_unix(t)
        self.last_sync = clock.now()
        try:
            from firmware.hw import rtc
            rtc.write(self.last_sync)
        except (ImportError, AttributeError, OSError):
            pass        # a port without an RTC: the clock still counts on ticks
        self.syncs += 1
        self.retry_ms = RETRY_MIN_MS
        self.next_ms = ticks_add(now, self.period_ms)

    def _failed(self, now, e):
        self.failures += 1
        self.last_error = repr(e)[:40]
        self.next_ms = ticks_add(now, self.retry_ms)
        self.retry_ms = min(self.retry_ms * 2, RETRY_MAX_MS)

    def status(self):
        return {'host': self.host, 'syncs': self.syncs, 'failures': self.failures,
                'last_error': self.last_error, 'last_sync': clock.to_unix(self.last_sync)}
