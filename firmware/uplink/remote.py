# The operator's signed commands: each checked (firmware.uplink.commands), carried
# out through the command table (firmware.actions) and answered with exactly
# one result. The uplink loads this only while commands wait in its inbox,
# a few times a day, and unloads it afterwards.
from firmware.uplink.commands import Verifier, result
from firmware import actions
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
    err = actions.attempt(up.app, cmd['cmd'], cmd['args'], ts, 'mqtt')
    up.event(ts, actions.event_text(cmd['cmd'], 'mqtt', err))
    return cmd['id'], err
