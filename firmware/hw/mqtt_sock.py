# The socket module umqtt.simple sees: the real one, except that every
# socket it makes has a timeout that survives umqtt's setblocking(True).
# umqtt.simple 1.3.4 has no timeout of its own, and its check_msg()
# toggles setblocking, which clears a socket timeout on the board: a broker
# that accepts TCP and then never answers would hang the control loop.
# Installed by firmware.hw.mqtt before umqtt.simple is used; nothing of the
# library is copied.
import socket as _socket

getaddrinfo = _socket.getaddrinfo
timeout_s = 5.0      # set by the link from mqtt.timeout_s
made = []            # the last socket made (the link closes it on errors)


class _Sock:
    def __init__(self):
        self._s = _socket.socket()
        self._s.settimeout(timeout_s)
        made[:] = [self]

    def connect(self, addr):
        self._s.connect(addr)
        try:    # a QoS 1 round trip: 44 ms with Nagle, 1 ms without
            self._s.setsockopt(_socket.IPPROTO_TCP, _socket.TCP_NODELAY, 1)
        except (AttributeError, OSError):
            pass

    def setblocking(self, flag):
        # umqtt's "blocking" means: wait, but never longer than timeout_s.
        self._s.settimeout(timeout_s if flag else 0)

    def settimeout(self, t):
        self._s.settimeout(t)

    def read(self, n):
        return self._s.read(n)

    def write(self, data, n=None):
        if n is None:
            return self._s.write(data)
        return self._s.write(memoryview(data)[:n])

    def close(self):
        self._s.close()

    def raw(self):
        return self._s


def socket(*args):
    return _Sock()
