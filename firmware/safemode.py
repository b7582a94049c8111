# Safe mode's outputs (see firmware/bootmode.py for when the board is in
# it). Nothing is polled or decided; every output is held where it does no
# harm without a controller:
# - the DSE module back in its own auto mode: any remote start cancelled
#   (35733), then the auto key (35701), so the genset follows its own
#   inputs and schedule;
# - every load contactor closed: the loads on, as without a controller;
# - the grid input closed, grid and MPPT charging allowed (dispatch's
#   decision held at its safe values: the BMS still protects the cells);
# - relay control: the starter off, the run/fuel hold per
#   safe_mode.gen_relay ('off' stops a running set, 'run' keeps it).
from firmware.compat import ticks_diff, ticks_add

RETRY_MS = 60000
TRIES = 5           # a key the module keeps refusing is given up, not sent forever


class FailSafe:
    def __init__(self, app, gen_relay):
        from firmware.hw.actuators import DseKeys, MpptCoils, KEY_TELE_CANCEL, KEY_AUTO
        self.app = app
        sh = app.shedding
        for i in range(len(sh.shed)):
            sh.shed[i] = False
            sh.forced[i] = False
        d = app.dispatch.d
        d.grid_on = True
        d.grid_charge = True
        d.pv_charge = True
        g = app.gen
        g.out_crank = False
        g.out_run = gen_relay == 'run'
        g.intents.clear()
        self.pins = [a for a in app.actuators if not isinstance(a, DseKeys)]
        for a in self.pins:
            if isinstance(a, MpptCoils):
                a.blind = True      # no poll says they answer: write all the same
        dse = [a for a in app.actuators if isinstance(a, DseKeys)]
        self.keys_act = dse[0] if dse else None
        self.keys = [KEY_TELE_CANCEL, KEY_AUTO] if dse else []
        self.tries = 0
        self.next_ms = None
        # What the console and MQTT say of the DSE: None (no DSE control),
        # 'sending', 'auto' (both keys taken), 'failed' (a key refused).
        self.dse = 'sending' if dse else None

    def apply(self, now):
        for a in self.pins:
            a.apply(now)
        if not self.keys or (self.next_ms is not None and ticks_diff(now, self.next_ms) < 0):
            return
        k = self.keys[0]
        err = self.keys_act.write(k)
        self.tries += 1
        if err is None or self.tries >= TRIES:
            self.keys.pop(0)
            self.tries = 0
            self.next_ms = None
            if err is not None:
                self.dse = 'failed'
            elif not self.keys and self.dse == 'sending':
                self.dse = 'auto'
        else:
            self.next_ms = ticks_add(now, RETRY_MS)
