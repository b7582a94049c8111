# The controller's side of the MQTT link: telemetry records and events go
# out through firmware.link, or onto the flash rings while the link is down
# and out again, in order, when it returns; signed commands come in, are
# checked by firmware.commands and carried out on the App. Loaded only when
# mqtt.enabled is set (the heap it costs is counted in the README).
import json
from firmware.compat import ticks_diff
from firmware.link import Link
from firmware.commands import Verifier, result
from firmware.telemetry import Telemetry
from firmware.ring import Ring

SEQ_BLOCK = 256          # telemetry seqs reserved on flash at a time (one write per block)
REPLAY_PER_TICK = 8      # records replayed a cycle: catching up never starves the loop
STATE_S = 600            # the retained state at least this often
CMDS_PER_TICK = 2


class Uplink:
    def __init__(self, app, mcfg, site_id, spool='spool'):
        self.app = app
        self.link = Link(mcfg, site_id, self._incoming)
        self.verifier = Verifier(mcfg['cmd_key']) if mcfg['cmd_key'] else None
        self.tel = Telemetry(mcfg['telemetry_s'])
        try:
            import os
            os.mkdir(spool)
        except OSError:
            pass
        self.rings = (('telemetry', Ring(spool, 'tel', 4096, 16)),
                      ('event', Ring(spool, 'ev', 4096, 8)))
        # A restart, even a power cut, must never reuse a seq (receivers
        # drop a seq they have seen): seqs are reserved on flash a block
        # ahead, and a restart begins after the last reservation.
        self._seq_path = spool + '/seq'
        self.tel.seq = self._read_seq()
        self._reserved = 0
        self._reserve()
        self.inbox = []
        self.force = False
        self._connects = 0          # link.connects when state/alarms were last sent
        self._alarms_dirty = True
        self._state_key = None      # (gen state, mode) last sent
        self._state_t = None

    def _read_seq(self):
        try:
            with open(self._seq_path) as f:
                v = int(f.read())
            return v if v > 0 else 0
        except (OSError, ValueError):
            return 0

    def _reserve(self):
        r = self.tel.seq + SEQ_BLOCK
        try:
            tmp = self._seq_path + '.tmp'
            with open(tmp, 'w') as f:
                f.write(str(r))
            import os
            os.rename(tmp, self._seq_path)
            self._reserved = r
        except OSError:
            self._reserved = self.tel.seq + 1      # try again with the next record

    def _incoming(self, payload):
        if len(self.inbox) < 8:     # a flood waits at the broker, not here
            self.inbox.append(payload)

    # --- out -------------------------------------------------------------
    def _send(self, k, payload):
        """Publish now when the link is up and nothing older waits; else
        keep it on flash behind the older ones."""
        suffix, ring = self.rings[k]
        if ring.peek() is None and self.link.publish(suffix, payload, False, 1):
            return
        ring.append(k, payload)

    def _replay(self):
        n = 0
        for suffix, ring in self.rings:
            while n < REPLAY_PER_TICK and self.link.up:
                rec = ring.peek()
                if rec is None:
                    break
                if not self.link.publish(suffix, rec[1], False, 1):
                    return
                ring.pop()
                n += 1

    def event(self, ts, text, who=None):
        if text.startswith('alarm '):
            self._alarms_dirty = True
        e = {'ts': ts, 'text': text}
        if who is not None:
            e['who'] = who
        self._send(1, json.dumps(e))

    def _retained(self, now, ts):
        """The retained topics: the active alarm list when it changed, and
        the slow state on a generator change or every STATE_S; both again
        after every (re)connect, as the broker may have restarted empty."""
        a = self.app
        g = a.gen
        link = self.link
        fresh = link.connects != self._connects
        if fresh or self._alarms_dirty:
            if link.publish('alarms', json.dumps(a.alarms.active()), True, 1):
                self._alarms_dirty = False
            else:
                return
        key = (g.state, g.mode)
        if fresh or key != self._state_key or self._state_t is None \
                or ticks_diff(now, self._state_t) >= STATE_S * 1000:
            c = a.counters
            state = {'ts': ts, 'version': a.version, 'uptime_s': ticks_diff(now, a.t_start) // 1000,
                     'gen_mode': g.mode, 'gen_ctl': g.state_name, 'lockout': g.lockout,
                     'gen_run_h': round(g.run_s / 3600, 2), 'gen_starts': g.starts,
                     'diesel_l': c.diesel_l, 'pv_kwh': c.pv_kwh, 'grid_kwh': c.grid_kwh,
                     'gen_kwh': c.gen_kwh, 'load_kwh': c.load_kwh, 'shed_min': c.shed_min}
            if link.publish('state', json.dumps(state), True, 1):
                self._state_key = key
                self._state_t = now
            else:
                return
        self._connects = link.connects

    # --- in --------------------------------------------------------------
    def _execute(self, cmd, ts):
        a = self.app
        name = cmd['cmd']
        args = cmd['args']
        g = a.gen
        if name == 'gen_start':
            return g.start()
        if name == 'gen_stop':
            return g.stop()
        if name == 'gen_mode':
            try:
                g.set_mode(args['mode'])
            except ValueError as e:
                return str(e)
            return None
        if name == 'gen_reset':
            g.reset()
            return None
        if name == 'alarm_ack':
            try:
                return None if a.alarms.ack(args['code'], ts, 'mqtt') else 'nothing to acknowledge'
            except ValueError as e:
                return str(e)
        if name in ('load_shed', 'load_restore'):
            try:
                f = a.shedding.force_shed if name == 'load_shed' else a.shedding.force_restore
                f(args['name'], a._last or 0)
            except ValueError as e:
                return str(e)
            return None
        if name == 'telemetry_now':
            self.force = True
            return None
        if name == 'config_set':
            return self._config_set(args['key'], args['value'])
        if name == 'reboot':
            a.reboot_requested = True      # after this cycle: the result goes out first
            return None
        return '%s is not available in this firmware yet' % name

    def _config_set(self, key, value):
        """Check the change against the whole schema, then save it (the
        running config kept as the last known good); a reboot applies it."""
        a = self.app
        from firmware import cfgedit
        from firmware.app import forget
        try:
            raw = cfgedit.with_change(cfgedit.read(a.cfg_path), key, value)
            full, err = cfgedit.validate(raw)
            if err is not None:
                return err
            del full
            cfgedit.save(a, raw)
            a.note('config set %s = %s' % (key, cfgedit.masked(key, value)), 'mqtt')
            return None
        except (OSError, ValueError) as e:
            return 'config not changed: %s' % e
        finally:
            forget('firmware.cfgedit')

    def _commands(self, ts):
        for _ in range(CMDS_PER_TICK):
            if not self.inbox:
                return
            payload = self.inbox.pop(0)
            if self.verifier is None:
                cid, err = None, 'commands are off: no mqtt.cmd_key on this site'
            else:
                cmd, err = self.verifier.check(payload, ts)
                if err is None:
                    cid = cmd['id']
                    err = self._execute(cmd, ts)
                    self.event(ts, 'command %s %s (mqtt)%s' % (
                        cmd['cmd'], 'done' if err is None else 'refused', '' if err is None else ': ' + err))
                else:
                    cid = cmd
            self.link.publish('cmd/result', result(cid, err), False, 1)

    # --- the loop's call ---------------------------------------------------
    def step(self, now, ts, snap):
        link = self.link
        link.step(now)
        self._commands(ts)
        a = self.app
        g = a.gen
        shed = [n for n, s in zip(a.shedding.names, a.shedding.shed) if s]
        ctl = (g.mode, g.state_name, tuple(shed))
        if self.force or self.tel.due(now, snap, ctl, ticks_diff):
            self.force = False
            self._send(0, self.tel.record(now, snap, g.mode, g.state_name, shed))
            if self.tel.seq >= self._reserved:
                self._reserve()
        if link.up:
            self._retained(now, ts)
        if link.up:
            self._replay()

    def close(self):
        for _, ring in self.rings:
            ring.flush()
        self.link.close()
