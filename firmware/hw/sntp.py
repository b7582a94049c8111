# SNTP client (RFC 4330, client mode 3) polled from the control loop: start()
# sends one request on a non-blocking UDP socket (after a polled DNS lookup
# through firmware.hw.dns when the server is a name), poll() looks for the
# answer once a loop turn and never waits. The loop's clock is set only
# from an answer that is really ours and from a synchronised server.
#
# NTP counts seconds since 1900 in 32 bits: ~3.9e9 now, a heap int on the
# board (small ints end at 2**30). That is fine for a request every few
# hours, but no float may touch a full timestamp: a single-precision float
# near 1.8e9 has a resolution of 128 s.
import socket
from errno import ETIMEDOUT
from firmware.hw import close_quietly
import os
from firmware.compat import const, ticks_diff
from firmware.hw import dns

NTP_UNIX = 2208988800       # 1900-01-01 to 1970-01-01, s

_IDLE = const(0)
_DNS = const(1)             # waiting for the server's address
_WAIT = const(2)            # request sent, waiting for the answer


class SntpError(OSError):
    pass


class Sntp:
    def __init__(self, host, port=123, timeout_ms=3000):
        self.host = host
        self.port = port
        self.timeout_ms = timeout_ms
        self.last_error = None
        self.rtt_ms = None          # round trip of the last good answer
        self._state = _IDLE
        self._sock = None
        self._q = None              # dns.Query while resolving
        self._err = None            # a failure of start(), raised by the next poll()
        self._t0 = 0
        self._buf = bytearray(48)
        self._tx = bytearray(8)     # our transmit timestamp: the server echoes it

    @property
    def busy(self):
        return self._state != _IDLE

    def start(self, now_ms, server=None):
        """Ask the server for the time. server: the DNS server for a name
        (Net.dns), as dns.resolve takes it. Failures come out of poll()."""
        self.close()
        self._t0 = now_ms
        self._state = _DNS
        self._err = None
        try:
            ip = dns.cached(self.host, now_ms)
            if ip is not None:
                self._send(dns.sockaddr(ip, self.port))
            elif server is None:
                # The host's resolver; on the board this raises at once.
                self._send(dns.resolve(self.host, self.port, None))
            else:
                self._q = dns.Query(self.host, server, self.timeout_ms, now_ms)
        except Exception as e:
            self._err = e

    def _send(self, addr):
        # Client request: LI 0, version 4, mode 3; everything else zero but
        # the transmit timestamp, random: it says nothing of our (unset)
        # clock and the answer must carry it back as its originate stamp.
        b = self._buf
        for i in range(48):
            b[i] = 0
        b[0] = 0x23
        r = os.urandom(8)
        for i in range(8):
            self._tx[i] = b[40 + i] = r[i]
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._sock = s
        s.connect(addr)             # only the server's datagrams get through
        s.setblocking(False)
        s.write(b)
        self._state = _WAIT

    def poll(self, now_ms):
        """None while waiting (or idle); the server's time as Unix seconds
        (int) once it answers. Raises OSError when the request failed: no
        address, a refusal (kiss-of-death, unsynchronised server), or no
        answer within timeout_ms of start()."""
        st = self._state
        if st == _IDLE:
            return None
        try:
            if self._err is not None:
                raise self._err
            if st == _DNS:
                ip = self._q.poll(now_ms)
                if ip is not None:
                    self._q = None
                    self._send(dns.sockaddr(ip, self.port))
            else:
                n = self._sock.readinto(self._buf)
                if n is not None:
                    t = self._check(n)
                    if t is not None:
                        self.rtt_ms = ticks_diff(now_ms, self._t0)
                        self.last_error = None
                        self.close()
                        return t
            if ticks_diff(now_ms, self._t0) >= self.timeout_ms:
                raise SntpError(ETIMEDOUT)
        except Exception as e:
            self.last_error = e
            self.close()
            raise
        return None

    def _check(self, n):
        # Unix seconds from an answer, None for a datagram that is not the
        # answer to our request; raises SntpError when the server refuses.
        b = self._buf
        if n < 48 or b[0] & 7 != 4:                 # mode 4: server
            return None
        for i in range(8):
            if b[24 + i] != self._tx[i]:            # originate = our transmit
                return None
        if b[1] == 0:       # kiss-of-death: the code (RATE, DENY...) is the refid
            code = ''
            for c in b[12:16]:
                if 32 < c < 127:
                    code += chr(c)
            raise SntpError('kod ' + code)
        if b[0] >> 6 == 3 or b[1] > 15:
            raise SntpError('unsynchronised')
        v = b[0] >> 3 & 7
        if v < 3:
            return None
        secs = b[40] << 24 | b[41] << 16 | b[42] << 8 | b[43]
        if secs == 0:
            raise SntpError('no time')
        if secs < 0x80000000:       # era 1 (after 2036-02-07): the counter wrapped
            secs += 0x100000000
        # Round to the nearest second on the fraction's top bit.
        return secs - NTP_UNIX + (b[44] >> 7)

    def close(self):
        if self._q is not None:
            self._q.close()
            self._q = None
        close_quietly(self._sock)
        self._sock = None
        self._state = _IDLE
