# A UART-shaped view of a TCP socket, so that umodbus's RTU master talks RTU
# frames through a transparent RS485-Ethernet/WiFi gateway (and, on the host,
# to the cabinet emulator) by the very code path it uses on the board's UART.
#
# Called in the RTU master's reply-wait loop, so it allocates nothing:
# replies land in one preallocated buffer and readinto() copies them out.
import socket
import select
from firmware.bus_errors import BusError, LINK
from firmware.hw import close_quietly

RX_SIZE = 260       # the longest RTU frame is 256 bytes


def literal(host):
    """True when connecting to host needs no lookup (an IPv4 literal)."""
    return host == 'localhost' or (host.replace('.', '').isdigit() and host.count('.') == 3)


def sockaddr(host, port):
    """Where to connect: an IP literal as it is (getaddrinfo parses it, no
    lookup); a name through hw/dns.py, bounded, as the board's getaddrinfo
    is not (and only then is that module loaded)."""
    if literal(host):
        return socket.getaddrinfo(host, port)[0][-1]
    from firmware.hw import dns
    return dns.resolve(host, port)


class SockUart:
    def __init__(self, host, port, timeout_ms):
        self.host = host
        self.port = port
        self.timeout_s = timeout_ms / 1000
        self._sock = None
        self._poll = None
        self._rx = bytearray(RX_SIZE)
        self._mv = memoryview(self._rx)
        self._n = 0             # bytes waiting in _rx
        self._chunk = bytearray(64)
        self.overruns = 0       # bytes dropped: more than a frame pending

    def connect(self):
        self.close()
        try:
            addr = sockaddr(self.host, self.port)
            s = socket.socket()
            s.settimeout(self.timeout_s)
            s.connect(addr)
            s.setblocking(False)
        except OSError as e:
            raise BusError(LINK, 'connect %s:%d: %s' % (self.host, self.port, e))
        self._sock = s
        self._poll = select.poll()
        self._poll.register(s, select.POLLIN)

    def close(self):
        close_quietly(self._sock)
        self._sock = None
        self._poll = None
        self._n = 0

    @property
    def connected(self):
        return self._sock is not None

    def _ready(self):
        # ipoll reuses the poll object's own result: poll(0) would allocate
        # a list on every call of umodbus's reply-wait loop.
        for _ in self._poll.ipoll(0):
            return True
        return False

    def _pump(self):
        if self._sock is None:
            return
        chunk = self._chunk
        rx = self._rx
        while self._ready():
            try:
                n = self._sock.readinto(chunk)
            except OSError:
                return
            if n is None:       # nothing after all (EAGAIN)
                return
            if n == 0:          # the gateway closed the connection
                self.close()
                return
            at = self._n
            for i in range(n):
                if at < RX_SIZE:
                    rx[at] = chunk[i]
                    at += 1
                else:
                    self.overruns += 1
            self._n = at

    # --- the UART interface umodbus uses ---
    def any(self):
        self._pump()
        return self._n

    def read(self, n=-1):
        """A view of the pending bytes, valid until the next call (umodbus
        copies it at once into its reply)."""
        self._pump()
        k = self._n
        if not k:
            return None
        if 0 <= n < k:
            out = bytes(self._mv[:n])       # partial reads are not umodbus's way
            rx = self._rx
            for i in range(k - n):
                rx[i] = rx[n + i]
            self._n = k - n
            return out
        self._n = 0
        return self._mv[:k]

    def readinto(self, buf, nbytes=-1):
        """Move the pending bytes into `buf` (as the board's UART does);
        the count, or None when nothing is pending."""
        self._pump()
        k = self._n
        if not k:
            return None
        n = len(buf) if nbytes < 0 else min(nbytes, len(buf))
        n = min(n, k)
        rx = self._rx
        for i in range(n):
            buf[i] = rx[i]
        for i in range(k - n):
            rx[i] = rx[n + i]
        self._n = k - n
        return n

    def write(self, data):
        if self._sock is None:
            self.connect()
        try:
            n = self._sock.write(data)
            if n is not None and n < len(data):     # rare: a full send buffer
                mv = memoryview(data)
                while n < len(data):
                    k = self._sock.write(mv[n:])
                    if k:
                        n += k
            return len(data)
        except OSError as e:
            self.close()
            raise BusError(LINK, 'send: %s' % e)

    def flush(self):
        pass
