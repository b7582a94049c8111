# The controller's side of the MQTT link: telemetry records and events go
# out through firmware.uplink.link, or onto the flash rings while the link is down
# and out again, in order, when it returns; signed commands come in and
# wait in the inbox until firmware.uplink.remote checks and carries them out.
# Loaded only when mqtt.enabled is set (the heap it costs is counted in the
# README).
from firmware import clock
from firmware.clock import to_unix
import json
from firmware.compat import const, ticks_diff
from firmware.uplink.link import Link, MAX_PAYLOAD
from firmware.uplink.telemetry import Telemetry
from firmware.uplink.ring import Ring

_SEQ_BLOCK = const(256)          # telemetry seqs reserved on flash at a time (one write per block)
_REPLAY_PER_TICK = const(8)      # records replayed a cycle: catching up never starves the loop
_STATE_S = const(600)            # the retained state at least this often
_CMDS_PER_TICK = const(2)
_INBOX_MAX = const(8)            # commands waiting (each at most 1 KB)
_BUSY_MAX = const(32)            # ids of commands refused "busy", waiting for their result
_NOTES_MAX = const(4)            # events about cmd messages that got no result
_HA_INBOX_MAX = const(2)         # Home Assistant switch presses waiting
SEG_BYTES = 4096         # a flash ring's segment file: one 4 KB flash block


def _file_hash(path):
    """First 16 hex digits of the file's SHA-256: which config a site runs."""
    try:
        import hashlib
        from binascii import hexlify
        h = hashlib.sha256()
        buf = bytearray(256)
        with open(path, 'rb') as f:
            while True:
                n = f.readinto(buf)
                if not n:
                    break
                h.update(buf[:n])
        return hexlify(h.digest()).decode()[:16]
    except OSError:
        return None


class Uplink:
    def __init__(self, app, mcfg, site_id, spool='spool'):
        self.app = app
        self.site_id = site_id
        self.link = Link(mcfg, site_id, self._incoming)
        self.cmd_key = mcfg['cmd_key']
        self.seen_ids = []          # command ids already carried out (replay)
        self.seen_ts = []           # and their ts
        self.tel = Telemetry(mcfg['telemetry_s'])
        try:
            import os
            os.mkdir(spool)
        except OSError:
            pass
        self.rings = (('telemetry', Ring(spool, 'tel', SEG_BYTES, mcfg['spool_tel_kb'] // 4)),
                      ('event', Ring(spool, 'ev', SEG_BYTES, mcfg['spool_ev_kb'] // 4)))
        # A restart, even a power cut, must never reuse a seq (receivers
        # drop a seq they have seen): seqs are reserved on flash a block
        # ahead, and a restart begins after the last reservation.
        self._seq_path = spool + '/seq'
        self.tel.seq = self._read_seq()
        self._reserved = 0
        self._reserve()
        # The newest command ts carried out, on flash: after a restart
        # nothing at or below it is taken (commands.Verifier).
        self._mark_path = spool + '/cmd_mark'
        from firmware import store
        from firmware.modules import forget
        m = store.load(self._mark_path)[0]
        forget('firmware.store')        # back for a command, a few a day
        self.cmd_mark = m if isinstance(m, (int, float)) and not isinstance(m, bool) else 0
        self.cmd_floor = self.cmd_mark
        self.busy = []              # ids of commands the full inbox refused
        self.busy_lost = 0          # and those beyond even the busy list
        self.big = []               # (id, bytes) of oversized commands whose head named an id
        self.notes = []             # events about cmd messages without a result
        self.dev_ms = mcfg['dev_s'] * 1000
        n = len(app.devices)
        self._dev_i = 0
        self._dev_t = [None] * n        # ticks of each device's last dev/<name>
        self._dev_online = [None] * n   # the online flag it said
        self.config_hash = _file_hash(app.cfg_path)
        self.inbox = []
        self.ha = mcfg['ha_discovery']
        self.ha_prefix = mcfg['ha_prefix']
        self.ha_commands = self.ha and mcfg['ha_commands']
        self._ha_i = None           # the next discovery message after a connect
        self.ha_inbox = []
        if self.ha_commands:
            self.link.t_ha = self.link.topic('ha/gen/set')
            self.link.on_ha = self._incoming_ha
        self.force = False
        self.spool_errors = 0       # records lost because the flash refused them
        self._connects = 0          # link.connects when state/alarms were last sent
        self._alarms_dirty = True
        self._state_key = None      # (gen state, mode) last sent
        self._state_t = None

    def _incoming_ha(self, payload, retained=False):
        # A retained ON would start the genset at every connect, long after
        # whoever sent it: switch commands, like commands, are never retained.
        if retained:
            self._note('Home Assistant command ignored: a retained message on %s; '
                       'switch commands are never retained' % self.link.t_ha)
        elif len(self.ha_inbox) < _HA_INBOX_MAX:
            self.ha_inbox.append(payload)

    def _discovery(self):
        """One Home Assistant discovery message a cycle after each connect."""
        from firmware.uplink import ha
        from firmware.modules import forget
        try:
            if self._ha_i >= ha.count():
                self._ha_i = None
                return
            topic, payload = ha.message(self._ha_i, self.link.base, self.site_id,
                                        self.ha_prefix, self.ha_commands, self.app.version)
        finally:
            forget('firmware.uplink.ha')
        if self.link.publish_to(topic, payload, True, 1):
            self._ha_i += 1

    def _read_seq(self):
        try:
            with open(self._seq_path) as f:
                v = int(f.read())
            return v if v > 0 else 0
        except (OSError, ValueError):
            return 0

    def _reserve(self):
        r = self.tel.seq + _SEQ_BLOCK
        try:
            tmp = self._seq_path + '.tmp'
            with open(tmp, 'w') as f:
                f.write(str(r))
            import os
            os.rename(tmp, self._seq_path)
            self._reserved = r
        except OSError:
            self._reserved = self.tel.seq + 1      # try again with the next record

    def save_mark(self, mark):
        """Keep the replay mark on flash; False when the flash refused."""
        from firmware import store
        from firmware.modules import forget
        try:
            store.save(self._mark_path, mark)
            return True
        except OSError:
            return False
        finally:
            forget('firmware.store')

    def _incoming(self, payload, retained=False, size=0, head=None):
        # Called from inside umqtt's receive (even while a publish waits
        # for its acknowledgement): it only files the message, and never
        # publishes or raises. Every message gets its result or event
        # later, in _commands.
        try:
            if retained:
                self._note('command ignored: a retained message on cmd (%d bytes); '
                           'commands are never retained' % size)
            elif payload is None and size > MAX_PAYLOAD:
                rid = None
                if head is not None and len(self.big) < _BUSY_MAX:
                    from firmware.uplink.commands import head_id
                    rid = head_id(head)
                if rid is not None:
                    self.big.append((rid, size))    # refused by a result: its id is known
                else:
                    self._note('command refused: %d bytes on cmd, at most %d; '
                               'discarded unread, its id unknown' % (size, MAX_PAYLOAD))
            elif payload is None:
                self._note('command refused: no memory to read its %d bytes now; '
                           'discarded unread, its id unknown: send it again' % size)
            elif len(self.inbox) < _INBOX_MAX:
                self.inbox.append(payload)
            elif len(self.busy) < _BUSY_MAX:
                from firmware.uplink.commands import id_of
                self.busy.append(id_of(payload))
            else:
                self.busy_lost += 1
        except Exception:       # MemoryError: the message is lost, said so
            self.busy_lost += 1

    def _note(self, text):
        if len(self.notes) < _NOTES_MAX:
            self.notes.append(text)
        else:
            self.busy_lost += 1

    # --- out -------------------------------------------------------------
    def _send(self, k, payload):
        """Publish now when the link is up and nothing older waits; else
        keep it on flash behind the older ones."""
        suffix, ring = self.rings[k]
        if ring.peek() is None and self.link.publish(suffix, payload, False, 1):
            return
        try:
            ring.append(k, payload)
        except OSError:
            # A full or failing flash: the record is lost, counted in the
            # state; the loop goes on.
            self.spool_errors += 1

    def _replay(self):
        n = 0
        for suffix, ring in self.rings:
            while n < _REPLAY_PER_TICK and self.link.up:
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
        e = {'ts': to_unix(ts), 'text': text}
        if who is not None:
            e['who'] = who
        self._send(1, json.dumps(e))

    def _retained(self, now, ts):
        """The retained topics: the active alarm list when it changed, and
        the slow state on a generator change or every _STATE_S; both again
        after every (re)connect, as the broker may have restarted empty."""
        a = self.app
        g = a.gen
        link = self.link
        fresh = link.connects != self._connects
        if fresh and self.ha:
            self._ha_i = 0
        if fresh:
            for i in range(len(self._dev_t)):
                self._dev_t[i] = None       # every dev/<name> again too
        if fresh or self._alarms_dirty:
            act = a.alarms.active()
            for x in act:
                x['since'] = to_unix(x['since'])
            if link.publish('alarms', json.dumps(act), True, 1):
                self._alarms_dirty = False
            else:
                return
        tel_ring = self.rings[0][1]
        ev_ring = self.rings[1][1]
        key = (g.state, g.mode, tel_ring.dropped, ev_ring.dropped, self.spool_errors, clock.valid,
               a.net.up)
        if fresh or key != self._state_key or self._state_t is None \
                or ticks_diff(now, self._state_t) >= _STATE_S * 1000:
            c = a.counters
            state = {'ts': to_unix(ts), 'clock_ok': clock.valid, 'version': a.version, 'uptime_s': ticks_diff(now, a.t_start) // 1000,
                     'reset_cause': self.app.reset_cause, 'config_hash': self.config_hash,
                     'gen_mode': g.mode, 'gen_ctl': g.state_name, 'lockout': g.lockout,
                     'gen_run_h': round(g.run_s / 3600, 2), 'gen_starts': g.starts,
                     'diesel_l': c.diesel_l, 'pv_kwh': c.pv_kwh, 'grid_kwh': c.grid_kwh,
                     'gen_kwh': c.gen_kwh, 'load_kwh': c.load_kwh, 'shed_min': c.shed_min,
                     'dropped_telemetry': tel_ring.dropped, 'dropped_events': ev_ring.dropped,
                     'spool_errors': self.spool_errors,
                     'net': a.net.status(), 'safe_mode': a.safe}
            # Free heap after a collection: the fault campaign's heap
            # before/after, and a fleet's slow leak, seen from the NOC.
            import gc
            gc.collect()
            state['heap_free'] = gc.mem_free()
            if a.timesync is not None:
                state['ntp'] = a.timesync.status()
            if c.rated_assumed:
                state['diesel_estimated'] = True     # generator.rated_kw not set
            # The rating the litres follow: config, the genset module's own, or assumed.
            state['gen_rated_kw'] = c.rated_kw
            state['gen_rated_src'] = c.rated_src
            if a.forecast is not None:
                state['pv_stop_soc'] = a.forecast.target
            if link.publish('state', json.dumps(state), True, 1):
                self._state_key = key
                self._state_t = now
            else:
                return
        self._connects = link.connects

    def _device(self, now, ts):
        """dev/<name>, retained: one device a cycle, when its online flag
        changed or dev_s has passed since it was last sent."""
        devs = self.app.devices
        if not devs:
            return
        i = self._dev_i % len(devs)
        d = devs[i]
        t = self._dev_t[i]
        if t is not None and d.online == self._dev_online[i] and ticks_diff(now, t) < self.dev_ms:
            self._dev_i += 1
            return
        out = d.out()
        out['ts'] = to_unix(ts)
        out['last_ok'] = to_unix(d.last_ok)
        if self.link.publish('dev/' + d.name, json.dumps(out), True, 1):
            self._dev_t[i] = now
            self._dev_online[i] = d.online
            self._dev_i += 1

    # --- in --------------------------------------------------------------
    def _commands(self, ts):
        if self.ha_inbox:
            self._ha_commands(ts)
        if self.inbox or self.busy or self.notes or self.busy_lost or self.big:
            # Commands come a few a day: their checks and handlers are
            # loaded for them, not kept.
            from firmware.modules import forget
            try:
                from firmware.uplink import remote
                remote.run(self, ts, _CMDS_PER_TICK)
            except MemoryError:
                pass        # they wait in the inbox for the next cycle
            finally:
                forget('firmware.uplink.remote')
                forget('firmware.uplink.commands')
                forget('firmware.actions')

    def _ha_commands(self, ts):
        # Home Assistant's switch: unsigned, so only with ha_commands.
        from firmware.modules import forget
        try:
            from firmware import actions
            while self.ha_inbox:
                p = self.ha_inbox.pop(0)
                if p == b'ON' or p == b'OFF':
                    name = 'gen_start' if p == b'ON' else 'gen_stop'
                    err = actions.attempt(self.app, name, {}, ts, 'ha')
                else:
                    name, err = 'gen_switch', 'payload must be ON or OFF'
                self.event(ts, actions.event_text(name, 'ha', err))
        except MemoryError:
            pass        # what is left waits in the inbox for the next cycle
        finally:
            forget('firmware.actions')

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
            self._device(now, ts)
        if link.up and self._ha_i is not None:
            self._discovery()
        if link.up:
            self._replay()

    def close(self):
        for _, ring in self.rings:
            ring.flush()
        self.link.close()
