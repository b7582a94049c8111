"""pymodbus glue: one server a bus (TCP, or RTU on a pty), one handler a
connection; silence, corrupted replies and RS485 line pacing."""
import asyncio
import collections
import logging
import random
import time

from pymodbus.constants import ExcCodes
from pymodbus.framer import FramerType
from pymodbus.pdu import ExceptionResponse
from pymodbus.server import ModbusSerialServer, ModbusTcpServer
from pymodbus.server.requesthandler import ServerRequestHandler
from pymodbus.simulator import DataType, SimData, SimDevice

from emulator.pty_link import PtyLink

log = logging.getLogger(__name__)

# _BusHandler overrides pymodbus internals (ServerRequestHandler); written and
# tested against this version.
PYMODBUS_VERSION = "3.16.1"


def wire_time(req_bytes, reply_bytes, baud):
    """Seconds an RS485 line at `baud` needs for request + reply, 8N1 (10
    bits a byte), plus one 3.5-character gap (fixed 1.75 ms above 19200
    baud, as the Modbus serial line spec says)."""
    gap = 3.5 * 10.0 / baud if baud <= 19200 else 0.00175
    return (req_bytes + reply_bytes) * 10.0 / baud + gap


class _DeviceStore:
    """The datastore API pymodbus' PDUs call, routed to one Device."""

    def __init__(self, device):
        self.device = device
        self.note = None

    async def async_getValues(self, device_id, func_code, address, count=1):  # noqa: N802
        return self.device.read(func_code, address, count)

    async def async_setValues(self, device_id, func_code, address, values):  # noqa: N802
        rc, self.note = self.device.write(func_code, address, list(values))
        return rc


class _BusHandler(ServerRequestHandler):
    """Per-connection request handler: units, silence, garbage, pacing, logs.

    Replaces ServerRequestHandler.handle_request/server_send (pymodbus 3.16.1):
    the reply is built with the framer, then dropped, corrupted or delayed.
    """

    def __init__(self, owner):
        super().__init__(owner, None, None, None)
        self.bus = owner.emu_bus
        self._pending = None

    def callback_data(self, data, addr=None):
        t_arrival = time.monotonic()
        used = super().callback_data(data, addr)
        if self.last_pdu is not None:
            self._pending = (self.last_pdu, self.last_addr, t_arrival, used)
        return used

    async def handle_request(self):
        if not self._pending:
            return
        pdu, addr, t_arrival, req_len = self._pending
        self._pending = None
        await self.bus.answer(self, pdu, addr, t_arrival, req_len)

    def server_send(self, pdu, addr):
        # Only reached for requests pymodbus could not decode (its own
        # exception reply); send it through the same pacing path.
        if pdu:
            dev = self.bus.units.get(pdu.dev_id)
            if dev is not None and not dev.silent:
                self.bus.emit(self, self.framer.buildFrame(pdu), addr, time.monotonic(), 8, dev)

    def send_packet(self, packet, addr):
        if packet and self.transport:
            self.send(packet, addr)


class _OneBus:
    """A pymodbus server of one Bus: its connections are _BusHandlers."""

    def __init__(self, bus, **kw):
        self.emu_bus = bus
        super().__init__(**kw)

    def callback_new_connection(self):
        return _BusHandler(self)


class _TcpBusServer(_OneBus, ModbusTcpServer):
    pass


class _SerialBusServer(_OneBus, ModbusSerialServer):
    pass


def _placeholder_context():
    # pymodbus wants a datastore; _BusHandler never consults it.
    return [SimDevice(id=1, simdata=[SimData(1, values=0, datatype=DataType.REGISTERS)])]


class Bus:
    """One bus: its units, its server (TCP or pty) and its line pacing."""

    def __init__(self, emu, name, cfg, devices):
        self.emu = emu
        self.name = name
        self.cfg = cfg
        self.kind = cfg.get("kind", "rtu_tcp")
        self.units = {d.unit: d for d in devices}
        self.baud = None       # pacing baud rate, None = instant
        self.serve = None      # "tcp" or "pty"
        self.framer = FramerType.SOCKET if self.kind == "tcp" else FramerType.RTU
        self.host, self.port = "127.0.0.1", None
        self.pty = None
        self.server = None
        self.unknown = collections.Counter()
        self.garbage_rng = random.Random("%s:garbage:%s" % (emu.model.seed, name))

    # -- timing -------------------------------------------------------------

    def wire_time(self, req_bytes, reply_bytes):
        """wire_time() at this bus's pacing baud rate; 0 when not paced."""
        if not self.baud:
            return 0.0
        return wire_time(req_bytes, reply_bytes, self.baud)

    def rtu_len(self, n):
        """Bytes the same frame takes in RTU (a socket frame's MBAP is 7 bytes
        where RTU has unit + CRC, 3 bytes)."""
        return n - 4 if self.framer == FramerType.SOCKET else n

    # -- answering ----------------------------------------------------------

    async def answer(self, handler, pdu, addr, t_arrival, req_len):
        dev = self.units.get(pdu.dev_id)
        fc = pdu.function_code
        if dev is None:
            self.unknown[pdu.dev_id] += 1
            self.emu.traffic.record(None, self, pdu, t_arrival, req_len, None)
            return  # an absent unit is silence on a real line
        self.emu.model.advance_to_now()
        gap_ok = (t_arrival - dev.last_frame_t) * 1000.0 >= dev.min_gap_ms
        dev.last_frame_t = t_arrival
        answers = not dev.silent and gap_ok and getattr(dev, "answers", lambda: True)()
        dev.fault_count += 1
        if dev.fault == "every_other" and dev.fault_count % 2 == 0:
            answers = False
        response = None
        if fc not in dev.FCS:
            response = ExceptionResponse(fc, ExcCodes.ILLEGAL_FUNCTION)
            note = "exception 1"
        elif not answers and fc in (5, 6, 15, 16):
            note = "not received (unit silent)"
        elif dev.fault == "exception" and fc in (1, 2, 3, 4):
            response = ExceptionResponse(fc, ExcCodes.DEVICE_FAILURE)
            note = "exception 4 (fault)"
        else:
            store = _DeviceStore(dev)
            try:
                response = await pdu.datastore_update(store, pdu.dev_id)
            except Exception as exc:  # noqa: BLE001
                log.exception("unit %s: %s", dev.name, exc)
                response = ExceptionResponse(fc, ExcCodes.DEVICE_FAILURE)
            note = store.note
            if isinstance(response, ExceptionResponse):
                note = "exception %d" % response.exception_code
        packet = None
        if answers and response is not None:
            response.transaction_id = pdu.transaction_id
            response.dev_id = pdu.dev_id
            if dev.fault == "wrong_unit":
                response.dev_id = pdu.dev_id % 247 + 1
            packet = handler.framer.buildFrame(response)
            if dev.garbage:
                packet = self.corrupt(dev, packet)
        self.emu.traffic.record(dev, self, pdu, t_arrival, req_len, packet, note)
        if packet and dev.fault == "split" and len(packet) > 2:
            half = len(packet) // 2
            self.emit(handler, packet[:half], addr, t_arrival, req_len, dev)
            self.emit(handler, packet[half:], addr, t_arrival + 0.03, req_len, dev)
        elif packet:
            self.emit(handler, packet, addr, t_arrival, req_len, dev)

    def reply_delay(self, req_len, reply_len, dev):
        """Seconds from a request's arrival to its reply (0 without pacing)."""
        if not self.baud:
            return 0.0
        delay = self.wire_time(self.rtu_len(req_len), self.rtu_len(reply_len))
        return delay + (dev.answer_delay_ms if dev else 0.0) / 1000.0

    def emit(self, handler, packet, addr, t_arrival, req_len, dev):
        wait = t_arrival + self.reply_delay(req_len, len(packet), dev) - time.monotonic()
        if wait > 0:
            asyncio.get_running_loop().call_later(wait, handler.send_packet, packet, addr)
        else:
            handler.send_packet(packet, addr)

    def corrupt(self, dev, packet):
        mode = dev.garbage
        if mode == "mixed":
            mode = ("crc", "truncate", "noise")[dev.garbage_count % 3]
        dev.garbage_count += 1
        rng = self.garbage_rng
        b = bytearray(packet)
        if mode == "truncate":
            return bytes(b[: max(1, len(b) // 2)])
        if mode == "noise":
            return bytes(rng.randrange(256) for _ in b)
        # "crc": one payload bit flipped, the CRC left as it was (for a socket
        # frame, whose MBAP has no CRC, the protocol id is spoiled instead).
        if self.framer == FramerType.SOCKET:
            b[2] ^= 0xA5
        else:  # a data byte (past unit, function, byte count), CRC kept
            i = rng.randrange(min(3, len(b) - 3), len(b) - 2)
            b[i] ^= 1 << rng.randrange(8)
        return bytes(b)

    # -- servers ------------------------------------------------------------

    async def start(self, port_override, force_pty, link_path):
        loop = asyncio.get_running_loop()
        use_pty = force_pty or (self.kind == "uart" and port_override is None)
        if use_pty:
            self.serve = "pty"
            self.pty = PtyLink(loop, link_path)
            self.server = _SerialBusServer(
                self, context=_placeholder_context(), framer=FramerType.RTU,
                port=self.pty.emu_path, baudrate=int(self.cfg.get("baud", 9600)),
                ignore_missing_devices=True)
            await self.server.serve_forever(background=True)
            return
        self.serve = "tcp"
        host = self.cfg.get("host", "127.0.0.1")
        port = self.cfg.get("port", 502)
        if port_override is not None:
            if ":" in str(port_override):
                host, port = str(port_override).rsplit(":", 1)
            else:
                port = port_override
        if host not in ("127.0.0.1", "localhost", "0.0.0.0", "::1", ""):
            log.warning("bus %s: host %s is not local; listening on 127.0.0.1", self.name, host)
            host = "127.0.0.1"
        self.server = _TcpBusServer(self, context=_placeholder_context(), framer=self.framer,
                                    address=(host, int(port)), ignore_missing_devices=True)
        await self.server.serve_forever(background=True)
        sock = self.server.transport.sockets[0]
        self.host, self.port = sock.getsockname()[:2]

    async def stop(self):
        if self.server:
            await self.server.shutdown()
        if self.pty:
            self.pty.close()

    def ready_info(self):
        info = {"kind": self.kind, "serve": self.serve,
                "framer": "socket" if self.framer == FramerType.SOCKET else "rtu",
                "baud_pace": self.baud,
                "units": {str(u): d.name for u, d in sorted(self.units.items())}}
        if self.serve == "pty":
            info.update(pty=self.pty.link or self.pty.fw_path, pty_device=self.pty.fw_path,
                        link=self.pty.link)
        else:
            info.update(host=self.host, port=self.port)
        return info
