# The only place that acts on the cabinet: DSE control keys over Modbus,
# the generator's relay contacts and the loads' contactors on pins. Each
# apply() turns the pure decisions into writes, and only on a change.
from firmware.bus_errors import BusError
from firmware import generator as G

FLAGS_RETRY_MS = 60000


class DseKeys:
    """Sends the generator's pending control keys: the key to 4104 and its
    complement to 4105 in one FC16 request, as GenComm requires."""

    def __init__(self, device, gen):
        self.dev = device
        self.gen = gen
        self.sent = 0
        self.failed = 0
        self._flags_at = None

    def _read_flags(self, now):
        from firmware.compat import ticks_diff
        if self._flags_at is not None and ticks_diff(now, self._flags_at) < FLAGS_RETRY_MS:
            return
        self._flags_at = now
        try:
            data = self.dev.request(3, G.KEY_FLAGS, 8)
        except BusError:
            return
        self.gen.key_flags = [(data[2 * i] << 8) | data[2 * i + 1] for i in range(8)]

    def apply(self, now):
        g = self.gen
        if g.key_flags is None and self.dev.online:
            self._read_flags(now)
        while g.keys:
            k = g.keys[0]
            err = self.dev.write(G.KEY_REG, [k, 65535 - k])
            g.key_sent(err is None)
            if err is not None:
                self.failed += 1
                break       # tried again next tick
            self.sent += 1


class OutPin:
    """An output pin written only when its level changes."""

    def __init__(self, pin_no, level=0):
        from machine import Pin
        self.pin = Pin(pin_no, Pin.OUT, value=level)   # the level before the pin drives
        self.level = None
        self.set(level)

    def set(self, level):
        if level != self.level:
            self.level = level
            self.pin.value(level)


class GenRelays:
    """Relay control: the starter contact and the fuel/run contact."""

    def __init__(self, gcfg, gen):
        self.gen = gen
        self.crank = OutPin(gcfg['relay_pin'])
        self.run = OutPin(gcfg['run_pin']) if gcfg['run_pin'] is not None else None

    def apply(self, now):
        g = self.gen
        self.crank.set(1 if g.out_crank else 0)
        if self.run is not None:
            self.run.set(1 if g.out_run else 0)


class LoadContactors:
    def __init__(self, shedding):
        self.shed = shedding
        self.pins = [OutPin(l['pin'], shedding.level(i)) for i, l in enumerate(shedding.loads)]

    def apply(self, now):
        s = self.shed
        for i in range(len(self.pins)):
            self.pins[i].set(s.level(i))


def build(cfg, devices, gen, shedding):
    acts = []
    g = cfg['generator']
    if g['control'] == 'dse' and g['device']:
        for d in devices:
            if d.name == g['device']:
                acts.append(DseKeys(d, gen))
    elif g['control'] == 'relay':
        acts.append(GenRelays(g, gen))
    if shedding.loads:
        acts.append(LoadContactors(shedding))
    return acts
