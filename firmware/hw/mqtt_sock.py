# The socket module umqtt.simple sees: the real one, except that every
# socket it makes has a timeout that survives umqtt's setblocking(True).
# umqtt.simple 1.3.4 has no timeout of its own, and its check_msg()
# toggles setblocking, which clears a socket timeout on the board: a broker
# that accepts TCP and then never answers would hang the control loop.
# Installed by firmware.uplink.link (as umqtt's usocket and ussl) before
# umqtt.simple is used; nothing of the library is copied.
#
# mqtt.timeout_s bounds a whole operation of the link (a connect with its
# handshake, a QoS 1 publish with its acknowledgement), not each socket
# call in it: begin() starts the operation's clock, and every blocking
# read or write may wait only for what is left of it.
import socket as _socket
from errno import ETIMEDOUT
from firmware.compat import ticks_ms, ticks_diff



def getaddrinfo(host, port, *args):
    # What umqtt calls: the board's getaddrinfo blocks with no timeout on a
    # name; hw/dns.py resolves within its bound.
    from firmware.hw import dns
    return [(2, 1, 0, '', dns.resolve(host, port))]


timeout_s = 5.0      # set by the link from mqtt.timeout_s
# (ssl.SSLContext, server name) when the link uses TLS, set by the link.
# TLS is done here, at connect, and never by umqtt: the umqtt.simple a
# firmware image freezes may be another version than ours (1.4+ takes an
# SSLContext as ssl=, 1.3.4 calls ussl.wrap_socket with ssl_params), and
# either way the handshake must run on the timed socket.
tls = None
_t0 = None           # ticks_ms when the link's current operation began
# A socket timeout ends up to one clock step late (measured: 1.0 s waits
# 1024 ms in the unix port, in 32 ms steps; the ESP32's lwIP counts 10 ms
# FreeRTOS ticks), and a failed wait still has work after it (the link
# closes the socket and backs off): a wait gets what is left of the
# operation less two steps.
_SPARE_MS = 64


def begin():
    """The link starts an operation: its socket waits share timeout_s."""
    global _t0
    _t0 = ticks_ms()


class _Sock:
    def __init__(self):
        self._s = _socket.socket()       # what umqtt reads and writes (TLS on top once wrapped)
        self._raw = self._s              # the TCP socket, where the timeout lives
        self._blocking = True
        self._s.settimeout(timeout_s)

    def _arm(self):
        # Before a blocking call: the time left of the operation, if any.
        if self._blocking and _t0 is not None:
            left = int(timeout_s * 1000) - _SPARE_MS - ticks_diff(ticks_ms(), _t0)
            if left <= 0:
                raise OSError(ETIMEDOUT)
            self._raw.settimeout(left / 1000)

    def connect(self, addr):
        self._arm()
        self._s.connect(addr)
        try:    # a QoS 1 round trip: 44 ms with Nagle, 1 ms without
            self._s.setsockopt(_socket.IPPROTO_TCP, _socket.TCP_NODELAY, 1)
        except (AttributeError, OSError):
            pass
        if tls is not None:
            self._arm()
            ctx, name = tls
            self._s = ctx.wrap_socket(self._raw, server_hostname=name)

    def setblocking(self, flag):
        # umqtt's "blocking" means: wait, but never past the operation's time.
        self._blocking = flag
        self._raw.settimeout(timeout_s if flag else 0)

    def settimeout(self, t):
        self._raw.settimeout(t)

    def read(self, n):
        self._arm()
        return self._s.read(n)

    def readinto(self, buf, n=None):
        # The link's own receive path drops an oversized message through
        # one small buffer (firmware/uplink/link.py).
        self._arm()
        if n is None:
            return self._s.readinto(buf)
        return self._s.readinto(buf, n)

    def write(self, data, n=None):
        self._arm()
        if n is None:
            return self._s.write(data)
        return self._s.write(memoryview(data)[:n])

    def close(self):
        self._s.close()
        if self._raw is not self._s:
            self._raw.close()


def socket(*args):
    return _Sock()


def tls_context(cadata):
    """A client context that accepts only a broker whose certificate chains
    to cadata (the site's CA, PEM or DER)."""
    import ssl
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.verify_mode = ssl.CERT_REQUIRED
    ctx.load_verify_locations(cadata=der(cadata))
    return ctx


def der(cert):
    """DER bytes of a certificate given as PEM or DER: MicroPython's TLS
    takes DER only."""
    if not cert.startswith(b'-----BEGIN'):
        return cert
    from binascii import a2b_base64
    body = cert.split(b'-----')[2]
    return a2b_base64(b''.join(body.split()))
