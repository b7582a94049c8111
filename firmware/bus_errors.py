# What can go wrong on a Modbus request, as the bus shells report it.
from firmware.compat import const

TIMEOUT = const(1)     # no answer at all
FRAME = const(2)       # bad CRC, wrong length, wrong unit or function: garbage
EXCEPTION = const(3)   # the device answered with a Modbus exception code
LINK = const(4)        # the transport itself is down (gateway unreachable)

NAMES = {TIMEOUT: 'timeout', FRAME: 'frame', EXCEPTION: 'exception', LINK: 'link'}


class BusError(Exception):
    def __init__(self, kind, detail=''):
        super().__init__(kind, detail)
        self.kind = kind
        self.detail = detail

    def __str__(self):
        return NAMES.get(self.kind, '?') + (': ' + str(self.detail) if self.detail else '')
