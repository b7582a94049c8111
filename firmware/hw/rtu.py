# Modbus RTU master bus over the board's RS485 UART (kind "uart") or over a
# transparent RS485-TCP gateway (kind "rtu_tcp"), both through umodbus's RTU
# code path. Works around the library's known faults:
#   - its answer timeout is a hard-coded 119 polls of the inter-frame delay
#     (~0.5 s at 9600 baud): we set that delay per request so the wait is
#     the bus's timeout_ms plus the expected answer's wire time;
#   - register reads decode as signed and allocate a tuple: we take the raw
#     answer bytes from _send_receive and decode them ourselves;
#   - Serial(pins=None) crashes, and __init__ would claim a hardware UART
#     even for a gateway: the gateway master is built without __init__.
from firmware.bus_errors import BusError, TIMEOUT, FRAME, EXCEPTION, LINK
from firmware.compat import ticks_ms, ticks_diff
from firmware.hw.umodbus_lean import serial_class
import time

_PARITY = {'none': None, 'even': 0, 'odd': 1}
LINK_RETRY_MIN_MS = 1000
LINK_RETRY_MAX_MS = 30000


def classify(e):
    """Map what umodbus raises to a BusError."""
    if isinstance(e, BusError):
        return e
    msg = str(e.args[0]) if e.args else repr(e)
    if 'no data' in msg:
        return BusError(TIMEOUT, 'no answer')
    if 'exception code' in msg:
        return BusError(EXCEPTION, msg.split(':')[-1].strip())
    return BusError(FRAME, msg)


def _gateway_master(Serial, link, baud):
    class GatewaySerial(Serial):
        # Serial.__init__ would claim a hardware UART; a gateway needs none.
        def __init__(self):
            self._uart = link
            self._ctrlPin = None
            self._has_uart_flush = True
            self._t1char = (1000000 * 11) // baud
            self._inter_frame_delay = (self._t1char * 35) // 10
    return GatewaySerial()


class RtuBus:
    def __init__(self, name, bcfg):
        Serial = serial_class()
        from umodbus import functions
        self._fn = functions
        self.name = name
        self.kind = bcfg['kind']
        self.baud = bcfg['baud']
        self.timeout_us = bcfg['timeout_ms'] * 1000
        self._link = None
        if self.kind == 'uart':
            self._m = Serial(uart_id=bcfg['uart'], baudrate=self.baud,
                             data_bits=bcfg['bits'], stop_bits=bcfg['stop'],
                             parity=_PARITY[bcfg['parity']],
                             pins=[bcfg['tx'], bcfg['rx']], ctrl_pin=bcfg['de'])
        else:
            from firmware.hw.sock_uart import SockUart
            self._link = SockUart(bcfg['host'], bcfg['port'], bcfg['timeout_ms'])
            self._m = _gateway_master(Serial, self._link, self.baud)
        self._gap_us = (self._m._t1char * 35) // 10
        self._last_us = None
        self._retry_at = None
        self._retry_ms = LINK_RETRY_MIN_MS
        self.n_requests = 0

    def _ensure_link(self):
        link = self._link
        if link is None or link.connected:
            return
        now = ticks_ms()
        if self._retry_at is not None and ticks_diff(now, self._retry_at) < 0:
            raise BusError(LINK, 'gateway down')
        try:
            link.connect()
        except BusError:
            self._retry_at = now + self._retry_ms
            self._retry_ms = min(self._retry_ms * 2, LINK_RETRY_MAX_MS)
            raise
        self._retry_at = None
        self._retry_ms = LINK_RETRY_MIN_MS

    def _transact(self, pdu, unit, count, answer_bytes):
        self._ensure_link()
        m = self._m
        # The library polls 119 times, sleeping this long between polls.
        wait = self.timeout_us + answer_bytes * m._t1char
        m._inter_frame_delay = max(wait // 119, 200)
        if self._last_us is not None:   # 3.5 characters of silence on the line
            quiet = self._gap_us - time.ticks_diff(time.ticks_us(), self._last_us)
            if quiet > 0:
                time.sleep_us(quiet)
        self.n_requests += 1
        try:
            return m._send_receive(modbus_pdu=pdu, slave_addr=unit, count=count)
        except MemoryError:
            raise       # a heap squeeze is not the device's fault: never a frame error
        except Exception as e:
            raise classify(e)
        finally:
            self._last_us = time.ticks_us()

    def read(self, unit, fc, start, count):
        fn = self._fn
        if fc == 3:
            pdu = fn.read_holding_registers(start, count)
        elif fc == 4:
            pdu = fn.read_input_registers(start, count)
        else:
            raise BusError(EXCEPTION, 'function %d not supported' % fc)
        data = self._transact(pdu, unit, True, 5 + 2 * count)
        if len(data) != 2 * count:
            raise BusError(FRAME, '%d bytes for %d registers' % (len(data), count))
        return data

    def write(self, unit, addr, values):
        pdu = self._fn.write_multiple_registers(addr, values, False)
        data = self._transact(pdu, unit, False, 8)
        if len(data) != 4 or ((data[0] << 8) | data[1]) != addr \
                or ((data[2] << 8) | data[3]) != len(values):
            raise BusError(FRAME, 'write echo does not match')
        return True
