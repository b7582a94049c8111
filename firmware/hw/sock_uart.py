# A UART-shaped view of a TCP socket, so that umodbus's RTU master talks RTU
# frames through a transparent RS485-Ethernet/WiFi gateway (and, on the host,
# to the cabinet emulator) by the very code path it uses on the board's UART.
import socket
import select
from firmware.bus_errors import BusError, LINK


class SockUart:
    def __init__(self, host, port, timeout_ms):
        self.host = host
        self.port = port
        self.timeout_s = timeout_ms / 1000
        self._sock = None
        self._poll = None
        self._buf = bytearray()

    def connect(self):
        self.close()
        try:
            addr = socket.getaddrinfo(self.host, self.port)[0][-1]
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
        if self._sock is not None:
            try:
                self._sock.close()
            except OSError:
                pass
        self._sock = None
        self._poll = None
        self._buf = bytearray()

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
        while self._ready():
            try:
                chunk = self._sock.recv(256)
            except OSError:
                return
            if not chunk:       # the gateway closed the connection
                self.close()
                return
            self._buf.extend(chunk)

    # --- the UART interface umodbus uses ---
    def any(self):
        self._pump()
        return len(self._buf)

    def read(self, n=-1):
        self._pump()
        if not self._buf:
            return None
        if n < 0 or n >= len(self._buf):
            out = bytes(self._buf)
            self._buf = bytearray()
        else:
            out = bytes(self._buf[:n])
            self._buf = self._buf[n:]
        return out

    def write(self, data):
        if self._sock is None:
            self.connect()
        try:
            mv = memoryview(data)
            sent = 0
            while sent < len(data):
                n = self._sock.send(mv[sent:])
                if n:
                    sent += n
            return sent
        except OSError as e:
            self.close()
            raise BusError(LINK, 'send: %s' % e)

    def flush(self):
        pass
