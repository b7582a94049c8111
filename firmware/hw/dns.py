# A bounded DNS resolver: one UDP A query to the network's DNS server,
# retried once, answered from a small cache while the record's TTL lasts.
#
# The board's socket.getaddrinfo (ports/esp32/modsocket.c,
# _getaddrinfo_inner -> lwip_getaddrinfo) blocks until lwIP's resolver gives
# up, with no timeout of its own: a dead DNS server would hold the control
# loop for as long as lwIP retries. So on the board a name is only ever
# resolved here, and getaddrinfo is only called with an IP literal (which
# lwIP parses without a query), on the host only to build the unix port's
# sockaddr bytes.
#
# resolve() blocks for at most timeout_ms; Query is the same lookup polled
# once a loop turn (the SNTP client uses it), blocking never.
import sys
import socket
from errno import ETIMEDOUT
from firmware.hw import close_quietly
import select
import os
from firmware.compat import const, ticks_ms, ticks_diff, ticks_add

# True on the board: no OS resolver to fall back on for a name. Tests set it
# to check the board's path inside the unix port.
BOARD = sys.platform == 'esp32'
# The board's sockets take ('a.b.c.d', port) (modsocket.c parses it with
# netutils_parse_inet_addr); the unix port's take sockaddr bytes.
_TUPLE = sys.platform == 'esp32'

ENONAME = const(-2)         # as the board's getaddrinfo raises for an unknown name
EAGAIN_DNS = const(-3)      # the server failed (SERVFAIL, REFUSED): try later

_CACHE_MAX = const(4)       # names kept: the broker, the NTP server, a spare or two
_TTL_MAX_S = const(86400)   # ticks_diff is only sound within 2**29 ms (6 days)
_cache = {}                 # name -> (ip, ticks_ms it expires)


def is_ip(host):
    """True for a dotted-quad IPv4 literal."""
    p = host.split('.')
    if len(p) != 4:
        return False
    for x in p:
        if not x or len(x) > 3 or not x.isdigit() or int(x) > 255:
            return False
    return True


def sockaddr(ip, port):
    """What socket.connect/sendto take for an IP literal on this port."""
    if _TUPLE:
        return (ip, port)
    return socket.getaddrinfo(ip, port)[0][-1]     # a literal: libc parses it, no query


def _server(server):
    # 'a.b.c.d' or 'a.b.c.d:port' (tests run their server on a free port).
    i = server.find(':')
    ip, port = (server, 53) if i < 0 else (server[:i], int(server[i + 1:]))
    if not is_ip(ip):
        raise OSError(ENONAME)      # a server named by a name cannot be asked
    return sockaddr(ip, port)


def cached(host, now=None):
    """The IP of an IP literal, 'localhost' or a name still in the cache, else None."""
    if host == 'localhost':
        return '127.0.0.1'
    if is_ip(host):
        return host
    e = _cache.get(host)
    if e is None:
        return None
    if ticks_diff(e[1], ticks_ms() if now is None else now) > 0:
        return e[0]
    del _cache[host]
    return None


def _remember(host, ip, ttl, now):
    if ttl <= 0:
        return
    if host not in _cache and len(_cache) >= _CACHE_MAX:
        # Drop the entry that expires first (the oldest answer, usually).
        first = None
        for k in _cache:
            if first is None or ticks_diff(_cache[k][1], _cache[first][1]) < 0:
                first = k
        del _cache[first]
    _cache[host] = (ip, ticks_add(now, min(ttl, _TTL_MAX_S) * 1000))


def _u16(b, i):
    return b[i] << 8 | b[i + 1]


def _skip_name(b, i, n):
    # Past a name in a message: labels, ending in a zero or a pointer.
    while i < n:
        c = b[i]
        if c == 0:
            return i + 1
        if c >= 0xC0:
            return i + 2
        i += c + 1
    raise ValueError


def _parse(b, n, qid):
    """(ip, ttl) from an answer to query qid; None when it is not one (a
    stray or spoofed datagram: keep waiting). Raises OSError when the server
    answered that there is no such address."""
    if n < 12 or _u16(b, 0) != qid or not b[2] & 0x80:
        return None
    rcode = b[3] & 15
    if rcode == 3:
        raise OSError(ENONAME)
    if rcode:
        raise OSError(EAGAIN_DNS)
    try:
        i = 12
        for _ in range(_u16(b, 4)):             # the question, echoed
            i = _skip_name(b, i, n) + 4
        for _ in range(_u16(b, 6)):             # answers: CNAMEs, then As
            i = _skip_name(b, i, n)
            if i + 10 > n:
                break
            rtype, rclass, rlen = _u16(b, i), _u16(b, i + 2), _u16(b, i + 8)
            ttl = _u16(b, i + 4) << 16 | _u16(b, i + 6)
            i += 10
            if rtype == 1 and rclass == 1 and rlen == 4 and i + 4 <= n:
                return '%d.%d.%d.%d' % (b[i], b[i + 1], b[i + 2], b[i + 3]), ttl
            i += rlen
    except ValueError:
        pass
    raise OSError(ENONAME)      # answered, but with no address


class Query:
    """One name's A record from `server`, polled: poll(now) returns the IP
    (a str) once it is known, None while waiting, and raises OSError on an
    answer that there is none or when timeout_ms have passed. Two tries,
    each on a new socket (a new source port) with a new random id."""

    def __init__(self, host, server, timeout_ms, now):
        self.host = host
        self._addr = _server(server)
        self._sock = None
        self._tries = 0
        self._end = ticks_add(now, timeout_ms)
        self._half = timeout_ms // 2
        # An answer: 512 bytes is UDP DNS without EDNS. Taken per lookup (a
        # few an hour), not kept for the firmware's life.
        self._buf = bytearray(512)
        try:
            self._send(now)
        except Exception:
            self.close()
            raise

    def _send(self, now):
        self.close()
        self._tries += 1
        # The first try gets half the time, the retry what is left.
        self._t_try = ticks_add(now, self._half) if self._tries == 1 else self._end
        r = os.urandom(2)
        self.qid = r[0] << 8 | r[1]
        q = bytearray(b'\x00\x00\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00')
        q[0], q[1] = r[0], r[1]
        for label in self.host.split('.'):
            if not label or len(label) > 63:
                raise OSError(ENONAME)
            q.append(len(label))
            q.extend(label.encode())
        q.extend(b'\x00\x00\x01\x00\x01')       # root; type A; class IN
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._sock = s
        # Connected: the stack drops datagrams from anyone but the server.
        s.connect(self._addr)
        s.setblocking(False)
        s.write(q)

    def poll(self, now):
        s = self._sock
        if s is None:
            raise OSError(ETIMEDOUT)
        try:
            while True:
                n = s.readinto(self._buf)
                if n is None:       # nothing (more) waiting
                    break
                a = _parse(self._buf, n, self.qid)
                if a is not None:
                    self.close()
                    _remember(self.host, a[0], a[1], now)
                    return a[0]
            if ticks_diff(now, self._t_try) >= 0:
                if self._tries < 2 and ticks_diff(self._end, now) > 0:
                    self._send(now)
                else:
                    raise OSError(ETIMEDOUT)
        except Exception:
            self.close()
            raise
        return None

    def wait_ms(self, now):
        """How long until this query has something to do (its try ends)."""
        return max(0, ticks_diff(self._t_try, now))

    def close(self):
        close_quietly(self._sock)
        self._sock = None


default_server = None   # the network's DNS server (net.dns), set by the app as the link comes up


def resolve(host, port, server=None, timeout_ms=2000):
    """A sockaddr for (host, port), as socket.getaddrinfo(host, port)[0][-1]
    gives, in at most timeout_ms (plus a socket wake-up). IP literals and
    'localhost' never touch the network. server: the DNS server, 'a.b.c.d'
    or 'a.b.c.d:port'; None on the board raises OSError, on the host asks
    the PC's resolver (bounded by the OS). Raises OSError on failure."""
    now = ticks_ms()
    ip = cached(host, now)
    if ip is not None:
        return sockaddr(ip, port)
    if server is None:
        server = default_server
    if server is None:
        if BOARD:
            raise OSError(ENONAME)
        return socket.getaddrinfo(host, port)[0][-1]
    q = Query(host, server, timeout_ms, now)
    s = p = None
    try:
        while True:
            if q._sock is not s:        # the retry's new socket
                s = q._sock
                p = select.poll()
                p.register(s, select.POLLIN)
            p.poll(q.wait_ms(now) + 1)
            now = ticks_ms()
            ip = q.poll(now)
            if ip is not None:
                return sockaddr(ip, port)
    finally:
        q.close()
