# Modbus TCP master bus (kind "tcp") through umodbus.tcp.TCP. Its constructor
# connects before setting a timeout (a silent host would hang it) and its
# transaction id overflows struct.pack after 65535 requests, so we build the
# socket ourselves and wrap the id.
import socket
from errno import EAGAIN, ETIMEDOUT
from firmware.bus_errors import BusError, TIMEOUT, FRAME, LINK
from firmware.hw.umodbus_lean import tcp_class
from firmware.hw.rtu import classify


class TcpBus:
    def __init__(self, name, bcfg):
        self._cls = tcp_class()         # first: it puts the real request builders in place
        from umodbus import functions
        self._fn = functions
        self.name = name
        self.kind = 'tcp'
        self.baud = 0
        self.host = bcfg['host']
        self.port = bcfg['port']
        self.timeout_s = bcfg['timeout_ms'] / 1000
        self._m = None
        self.n_requests = 0

    def _connect(self):
        class Master(self._cls):
            def __init__(self):     # the library's would connect untimed
                pass
        m = Master()
        try:
            s = socket.socket()
            s.settimeout(self.timeout_s)
            from firmware.hw.sock_uart import sockaddr
            s.connect(sockaddr(self.host, self.port))
        except OSError as e:
            raise BusError(LINK, 'connect %s:%d: %s' % (self.host, self.port, e))
        m._sock = s
        m.trans_id_ctr = 0
        self._m = m

    def _transact(self, pdu, unit, count):
        if self._m is None:
            self._connect()
        m = self._m
        m.trans_id_ctr &= 0xFFFF
        self.n_requests += 1
        try:
            return m._send_receive(slave_addr=unit, modbus_pdu=pdu, count=count)
        except OSError as e:
            self._drop()
            if e.args and e.args[0] in (EAGAIN, ETIMEDOUT):   # the platform's own numbers
                raise BusError(TIMEOUT, 'no answer')
            raise BusError(LINK, str(e))
        except Exception as e:
            raise classify(e)

    def _drop(self):
        try:
            self._m._sock.close()
        except Exception:
            pass
        self._m = None

    def read(self, unit, fc, start, count):
        fn = self._fn
        if fc == 1:
            pdu = fn.read_coils(start, count)
        else:
            pdu = fn.read_holding_registers(start, count) if fc == 3 else \
                fn.read_input_registers(start, count)
        data = self._transact(pdu, unit, True)
        if len(data) != ((count + 7) // 8 if fc == 1 else 2 * count):
            raise BusError(FRAME, '%d bytes for %d registers' % (len(data), count))
        return data

    def write_coil(self, unit, addr, on):
        data = self._transact(self._fn.write_single_coil(addr, bool(on)), unit, False)
        if len(data) != 4:
            raise BusError(FRAME, 'coil echo does not match')
        return True

    def write(self, unit, addr, values):
        data = self._transact(self._fn.write_multiple_registers(addr, values, False), unit, False)
        if len(data) != 4:
            raise BusError(FRAME, 'write echo does not match')
        return True
