# Carrying out the operator's signed commands on the App. The uplink loads
# this (and firmware.commands, the envelope's checks) only while commands
# wait in its inbox, a few times a day, and unloads it afterwards.
from firmware.commands import Verifier, result
from firmware import clock


def _id_of(payload):
    # The command's id for its result, read without checking the envelope.
    try:
        import json
        body = json.loads(json.loads(payload)['body'])
        cid = body.get('id')
        return cid if isinstance(cid, str) and len(cid) <= 64 else None
    except Exception:
        return None


def run(up, ts, n):
    """Check and carry out at most n waiting commands of the uplink `up`;
    each gets exactly one result on cmd/result, and an event when it was
    checked and tried."""
    v = Verifier(up.cmd_key, seen=up.seen_ids) if up.cmd_key else None
    for _ in range(n):
        if not up.inbox:
            return
        payload = up.inbox.pop(0)
        try:
            cid, err = _one(up, v, payload, ts)
        except MemoryError:
            # Taken off the inbox, it still gets its one result: a command
            # lost without an answer looks like a dead site to the operator.
            import gc
            gc.collect()
            cid, err = _id_of(payload), 'not enough memory now: try again'
        up.link.publish('cmd/result', result(cid, err), False, 1)


def _one(up, v, payload, ts):
    """(id, None) when carried out, else (id or None, why not)."""
    if v is None:
        return None, 'commands are off: no mqtt.cmd_key on this site'
    if not clock.valid:
        # The replay window needs the time: a clock at 2000 would refuse
        # every command as stale, or take an old one as new.
        return _id_of(payload), 'clock not set'
    cmd, err = v.check(payload, clock.to_unix(ts))
    if err is not None:
        return cmd, err
    err = execute(up, cmd, ts)
    up.event(ts, 'command %s %s (mqtt)%s' % (
        cmd['cmd'], 'done' if err is None else 'refused', '' if err is None else ': ' + err))
    return cmd['id'], err


def execute(up, cmd, ts):
    """None when done, else why not."""
    a = up.app
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
        up.force = True
        return None
    if name == 'config_set':
        return config_set(a, args['key'], args['value'])
    if name == 'reboot':
        a.reboot_requested = True      # after this cycle: the result goes out first
        return None
    return '%s is not available in this firmware yet' % name


def config_set(a, key, value):
    """Check the change against the whole schema, then save it (the running
    config kept as the last known good); a reboot applies it."""
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
