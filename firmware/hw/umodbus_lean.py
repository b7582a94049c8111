# The leanest way to use micropython-modbus's RTU master. umodbus.serial
# imports, besides its own Serial class, the library's slave module
# (umodbus.modbus), dummy typing classes (umodbus.typing), and the request
# builders, constants and master helpers (umodbus.functions, .const,
# .common: ~15 KB of heap on the unix port). The firmware's master uses
# Serial's set-up of the UART and DE pin and its request/answer sequence
# (_send_receive); the steps that sequence calls are replaced in
# firmware.hw.rtu, which also builds its two requests (FC 3/4 reads, FC 16
# writes) and computes the CRC itself, so none of those modules is ever
# called. MicroPython ignores annotations, so names that merely exist serve:
# this small module is registered under those names before the import.
# Nothing of the library is copied.
#
# Modbus TCP (umodbus.tcp) does use functions, const and common: tcp_class()
# takes the stand-ins out again first, and the real modules load.
import sys

List = Optional = Union = Tuple = Any = Callable = Dict = None
Request = None
_SERVED = ('umodbus.typing', 'umodbus.modbus', 'umodbus.common', 'umodbus.functions',
           'umodbus.const')
_TCP_NEEDS = ('umodbus.common', 'umodbus.functions', 'umodbus.const')


class Modbus:                   # only subclassed by the slave classes we never use
    pass


class CommonModbusFunctions:    # the library's master helpers: the firmware builds its requests
    pass


class ModbusException(Exception):
    pass


def _install(names):
    me = sys.modules[__name__]
    for name in names:
        if name not in sys.modules:
            sys.modules[name] = me


def serial_class():
    if 'umodbus.serial' not in sys.modules:
        _install(_SERVED if 'umodbus.tcp' not in sys.modules else _SERVED[:2])
    from umodbus.serial import Serial
    return Serial


def tcp_class():
    me = sys.modules[__name__]
    pkg = sys.modules.get('umodbus')
    for name in _TCP_NEEDS:
        if sys.modules.get(name) is me:
            del sys.modules[name]
        short = name[8:]
        if pkg is not None and getattr(pkg, short, None) is me:
            delattr(pkg, short)
    _install(_SERVED[:2])
    from umodbus.tcp import TCP
    return TCP
