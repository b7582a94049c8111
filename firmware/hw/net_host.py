# net.kind "host": the network the platform already has (the PC in a host
# run; on a board, none: only the RS485 UART). Nothing to bring up, so not
# the ~3 KB of firmware/hw/net.py; the same attributes the app reads.
from firmware.compat import ticks_ms


class HostNet:
    kind = 'host'
    state = 'up'
    up = True
    ip = '127.0.0.1'
    ups = 1
    failures = 0
    last_error = None

    def __init__(self, ncfg):
        self.dns = ncfg['dns']
        self.since_ms = ticks_ms()

    def step(self, now):
        return True

    def status(self):
        return {'kind': 'host', 'state': 'up', 'ip': self.ip, 'ups': 1, 'failures': 0,
                'last_error': None}

    def close(self):
        pass
