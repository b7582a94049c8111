# Modbus RTU master bus over the board's RS485 UART (kind "uart") or over a
# transparent RS485-TCP gateway (kind "rtu_tcp"), both through umodbus's RTU
# master: its Serial sets up the UART and the DE pin, and its _send_receive
# drives every exchange. Three of the steps it calls are replaced in a
# subclass, because as shipped they cost the board what it cannot spare:
#   - _send built the frame in a new bytearray and packed the CRC with
#     struct: ours fills a preallocated frame (the library's CRC table);
#   - _uart_read waited a hard-coded 119 polls (~0.5 s at 9600 baud) and
#     grew a new bytearray: ours waits the bus's timeout_ms plus the answer's
#     wire time, stops as soon as the whole answer is in, and reads it into
#     a preallocated buffer;
#   - _validate_resp_hdr sliced and copied the frame three times and let the
#     library decode registers as signed into a tuple: ours checks in place
#     and hands back a view of the data bytes, decoded by firmware.decode.
# Together that took a 12-request poll cycle from ~7 KB allocated to a few
# hundred bytes. The requests and the CRC are built here too, so that the
# library's request builders and constants need not be loaded at all
# (see umodbus_lean). Serial(pins=None) crashes and __init__ would claim a
# hardware UART even for a gateway: the gateway master skips it.
from firmware.bus_errors import BusError, TIMEOUT, FRAME, EXCEPTION, LINK
from firmware.compat import const, ticks_ms, ticks_diff, ticks_add
from firmware.hw.umodbus_lean import serial_class
import time

_PARITY = {'none': None, 'even': 0, 'odd': 1}
LINK_RETRY_MIN_MS = 1000
LINK_RETRY_MAX_MS = 30000
_RX_MAX = const(256)        # the longest RTU frame
_EXC_LEN = const(5)         # unit, fc | 0x80, code, CRC
_GATEWAY_QUIET_US = const(20000)  # TCP may split a frame: wait longer for the rest
_ANY_UNIT = const(-1)        # a garbled frame: its rest may spoil any unit's answer


def classify(e):
    """Map what the library raises to a BusError."""
    if isinstance(e, BusError):
        return e
    msg = str(e.args[0]) if e.args else repr(e)
    if 'no data' in msg:
        return BusError(TIMEOUT, 'no answer')
    if 'exception code' in msg:
        return BusError(EXCEPTION, msg.split(':')[-1].strip())
    return BusError(FRAME, msg)


def _crc_table():
    # Modbus CRC-16 (reflected polynomial 0xA001), one entry per byte value.
    from array import array
    t = array('H', bytes(512))
    for b in range(256):
        crc = b
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
        t[b] = crc
    return t


CRC_TABLE = _crc_table()
del _crc_table          # its code is needed once


def crc16(buf, n, table=CRC_TABLE):
    crc = 0xFFFF
    for i in range(n):
        crc = (crc >> 8) ^ table[(crc ^ buf[i]) & 0xFF]
    return crc


def _lean_master(Serial, table):
    class LeanSerial(Serial):
        def __init__(self, gateway=None, **uart):
            if gateway is None:
                Serial.__init__(self, **uart)
                quiet_us = 0
            else:           # no hardware UART for a gateway
                self._uart = gateway
                self._ctrlPin = None
                self._has_uart_flush = True
                self._t1char = (1000000 * 11) // uart['baudrate']   # the library's rules
                self._inter_frame_delay = (self._t1char * 35) // 10 \
                    if uart['baudrate'] <= 19200 else 1750
                quiet_us = _GATEWAY_QUIET_US
            self._crc_table = table
            self._adu8 = bytearray(8)       # every read request is 8 bytes
            self._rx = bytearray(_RX_MAX)
            self._rxmv = memoryview(self._rx)
            self._quiet_us = max(self._inter_frame_delay, quiet_us)
            self._poll_us = max(2 * self._t1char, 500)
            self.expect = 0         # bytes of a normal answer to this request
            self.wait_us = 0        # how long to wait for its first byte

        def _send(self, modbus_pdu, slave_addr):
            n = len(modbus_pdu) + 3
            adu = self._adu8 if n == 8 else bytearray(n)
            adu[0] = slave_addr
            for i in range(n - 3):
                adu[i + 1] = modbus_pdu[i]
            crc = crc16(adu, n - 2, self._crc_table)
            adu[n - 2] = crc & 0xFF
            adu[n - 1] = crc >> 8
            pin = self._ctrlPin
            if pin:
                pin.on()
                time.sleep_us(200)      # the transceiver's turn-around
            t0 = time.ticks_us()
            self._uart.write(adu)
            if self._has_uart_flush:
                self._uart.flush()
                time.sleep_us(self._t1char)
            else:
                time.sleep_us(self._t1char * n - time.ticks_diff(time.ticks_us(), t0) + 100)
            if pin:
                pin.off()

        def _uart_read(self):
            uart = self._uart
            expect = self.expect
            start = last = time.ticks_us()
            seen = 0
            while True:
                n = uart.any()
                now = time.ticks_us()
                if n >= expect:
                    break
                if n != seen:
                    seen = n
                    last = now
                elif n:
                    # An exception answer is shorter than the normal one:
                    # the line going quiet ends the frame.
                    if time.ticks_diff(now, last) > self._quiet_us:
                        break
                elif time.ticks_diff(now, start) > self.wait_us:
                    return 0
                time.sleep_us(self._poll_us)
            return uart.readinto(self._rx) or 0

        def _validate_resp_hdr(self, response, slave_addr, function_code, count):
            n = response
            rx = self._rx
            if n == 0:
                raise BusError(TIMEOUT, 'no answer')
            if n < _EXC_LEN:
                raise BusError(FRAME, '%d-byte frame' % n)
            crc = crc16(rx, n - 2, self._crc_table)
            if rx[n - 2] != crc & 0xFF or rx[n - 1] != crc >> 8:
                raise BusError(FRAME, 'invalid response CRC')
            if rx[0] != slave_addr:
                raise BusError(FRAME, 'answer from unit %d' % rx[0])
            if rx[1] == function_code | 0x80:
                raise BusError(EXCEPTION, rx[2])
            if rx[1] != function_code:
                raise BusError(FRAME, 'answer to function %d' % rx[1])
            if count:
                if rx[2] + 5 != n:
                    raise BusError(FRAME, '%d bytes, byte count %d' % (n, rx[2]))
                return self._rxmv[3:n - 2]
            return self._rxmv[2:n - 2]
    return LeanSerial


class RtuBus:
    def __init__(self, name, bcfg):
        Lean = _lean_master(serial_class(), CRC_TABLE)
        self.name = name
        self.kind = bcfg['kind']
        self.baud = bcfg['baud']
        self.timeout_us = bcfg['timeout_ms'] * 1000
        self._link = None
        if self.kind == 'uart':
            if bcfg['de'] is not None:
                # The transceiver's driver off from the first instant:
                # umodbus makes the pin an output without a level.
                from machine import Pin
                Pin(bcfg['de'], Pin.OUT, value=0)
            m = Lean(uart_id=bcfg['uart'], baudrate=self.baud,
                     data_bits=bcfg['bits'], stop_bits=bcfg['stop'],
                     parity=_PARITY[bcfg['parity']],
                     pins=[bcfg['tx'], bcfg['rx']], ctrl_pin=bcfg['de'])
        else:
            from firmware.hw.sock_uart import SockUart
            self._link = SockUart(bcfg['host'], bcfg['port'], bcfg['timeout_ms'])
            m = Lean(gateway=self._link, baudrate=self.baud)
        self._m = m
        self._gap_us = m._inter_frame_delay
        self._pdu = bytearray(5)
        self._last_us = None
        self._late_unit = None      # the unit whose last request timed out: it may still answer
        self._late_us = 0           # when that request timed out (ticks_us)
        self.stale_bytes = 0        # bytes on the line no request of ours was waiting for
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
            self._retry_at = ticks_add(now, self._retry_ms)
            self._retry_ms = min(self._retry_ms * 2, LINK_RETRY_MAX_MS)
            raise
        self._retry_at = None
        self._retry_ms = LINK_RETRY_MIN_MS

    def _discard(self, listen_us):
        # The classic RTU hazard: an answer that came after its timeout
        # lands in the wait for the next request and, as long as that one
        # (same unit, function and length: nothing in an RTU read answer
        # names the register), is taken for it. So whatever is on the line
        # before a request is thrown away, and after a timeout the line is
        # listened to for listen_us and until it is quiet, the late answer
        # thrown away with it. Into the preallocated frame: no allocation.
        m = self._m
        uart = m._uart
        start = last = time.ticks_us()
        while True:
            n = uart.any()
            if n:
                self.stale_bytes += uart.readinto(m._rx) or 0
                last = time.ticks_us()
            now = time.ticks_us()
            waited = time.ticks_diff(now, start)
            if waited >= listen_us and (time.ticks_diff(now, last) >= m._quiet_us
                                        or waited >= listen_us + self.timeout_us):
                return          # quiet, or a line that babbles: go on regardless
            if not n and not listen_us:
                return
            time.sleep_us(m._poll_us)

    def _transact(self, pdu, unit, count, answer_bytes):
        self._ensure_link()
        m = self._m
        m.expect = answer_bytes
        m.wait_us = self.timeout_us + answer_bytes * m._t1char
        if self._last_us is not None:   # 3.5 characters of silence on the line
            quiet = self._gap_us - time.ticks_diff(time.ticks_us(), self._last_us)
            if quiet > 0:
                time.sleep_us(quiet)
        # A late answer from another unit fails the unit check; only the
        # same unit's can pass for the answer to this request. A unit that
        # missed its timeout is given one more timeout to finish late
        # (later it is on the line before the request, and discarded).
        # After a garbled frame the rest of it may still come (an answer
        # sent in pieces): the line is listened to so, whoever is next.
        listen = 0
        if unit == self._late_unit or self._late_unit == _ANY_UNIT:
            listen = self.timeout_us - time.ticks_diff(time.ticks_us(), self._late_us)
        self._discard(listen if listen > 0 else 0)
        self._late_unit = None
        self.n_requests += 1
        try:
            return m._send_receive(modbus_pdu=pdu, slave_addr=unit, count=count)
        except MemoryError:
            raise       # a heap squeeze is not the device's fault: never a frame error
        except Exception as e:
            e = classify(e)
            if e.kind == TIMEOUT or e.kind == FRAME:
                self._late_unit = unit if e.kind == TIMEOUT else _ANY_UNIT
                self._late_us = time.ticks_us()
            raise e
        finally:
            self._last_us = time.ticks_us()

    def read(self, unit, fc, start, count):
        """The data bytes of a register read: a view valid until the next
        request on this bus."""
        if fc != 3 and fc != 4 and fc != 1:
            raise BusError(EXCEPTION, 'function %d not supported' % fc)
        pdu = self._pdu
        pdu[0] = fc
        pdu[1] = start >> 8
        pdu[2] = start & 0xFF
        pdu[3] = count >> 8
        pdu[4] = count & 0xFF
        n = (count + 7) // 8 if fc == 1 else 2 * count    # FC01: coils, 8 a byte
        data = self._transact(pdu, unit, True, 5 + n)
        if len(data) != n:
            raise BusError(FRAME, '%d bytes for %d registers' % (len(data), count))
        return data

    def write_coil(self, unit, addr, on):
        """FC 05: one coil on (0xFF00) or off (0x0000); the answer echoes it."""
        pdu = self._pdu
        pdu[0] = 5
        pdu[1] = addr >> 8
        pdu[2] = addr & 0xFF
        pdu[3] = 0xFF if on else 0
        pdu[4] = 0
        data = self._transact(pdu, unit, False, 8)
        if len(data) != 4 or ((data[0] << 8) | data[1]) != addr or data[2] != (0xFF if on else 0):
            raise BusError(FRAME, 'coil echo does not match')
        return True

    def write(self, unit, addr, values):
        """FC 16: write `values` (unsigned 16-bit) from register `addr`."""
        n = len(values)
        if not 1 <= n <= 123:
            raise BusError(EXCEPTION, '%d registers: 1..123 in one write' % n)
        pdu = bytearray(6 + 2 * n)
        pdu[0] = 16
        pdu[1] = addr >> 8
        pdu[2] = addr & 0xFF
        pdu[3] = 0
        pdu[4] = n
        pdu[5] = 2 * n
        for i in range(n):
            v = values[i] & 0xFFFF
            pdu[6 + 2 * i] = v >> 8
            pdu[7 + 2 * i] = v & 0xFF
        data = self._transact(pdu, unit, False, 8)
        if len(data) != 4 or ((data[0] << 8) | data[1]) != addr \
                or ((data[2] << 8) | data[3]) != len(values):
            raise BusError(FRAME, 'write echo does not match')
        return True
