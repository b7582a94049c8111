# The leanest way to use micropython-modbus's RTU master. umodbus.serial
# imports the library's slave module (umodbus.modbus, ~7 KB of heap) and
# umodbus.typing (dummy typing classes, ~12 KB) although a master needs
# neither: MicroPython ignores annotations, so names that merely exist
# serve. Registering this small module under both names before the import
# saves ~17 KB of a ~110 KB heap. Nothing of the library is copied.
import sys

List = Optional = Union = Tuple = Any = Callable = Dict = None


class Modbus:   # only subclassed by the slave classes we never use
    pass


def _install():
    me = sys.modules[__name__]
    for name in ('umodbus.typing', 'umodbus.modbus'):
        if name not in sys.modules:
            sys.modules[name] = me


def serial_class():
    _install()
    from umodbus.serial import Serial
    return Serial


def tcp_class():
    _install()
    from umodbus.tcp import TCP
    return TCP
