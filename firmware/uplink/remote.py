# The operator's signed commands: each checked (firmware.uplink.commands), carried
# out through the command table (firmware.actions) and answered with exactly
# one result. The uplink loads this only while commands wait in its inbox,
# a few times a day, and unloads it afterwards.
from firmware.uplink.commands import Verifier, result, id_of, MAX_PAYLOAD
from firmware import actions
from firmware import clock

_BUSY_PER_RUN = 16


def run(up, ts, n):
    """Say what the link could not take (events), refuse what found the
    inbox full ("busy"), then check and carry out at most n waiting
    commands of the uplink `up`; each gets exactly one result on
    cmd/result, and an event when it was checked and tried."""
    while up.notes:
        up.event(ts, up.notes.pop(0))
    if up.busy_lost:
        up.event(ts, 'commands refused: %d more than the inbox and the busy list hold, '
                 'no result sent' % up.busy_lost)
        up.busy_lost = 0
    for _ in range(_BUSY_PER_RUN):
        if not up.busy:
            break
        # QoS 0: a QoS 1 round trip each (measured 44 ms on the host) held
        # the loop 1.4 s for a flood's 31; a "busy" lost with the link is
        # what the operator's own timeout says anyway.
        up.link.publish('cmd/result', result(up.busy.pop(0), 'busy: too many commands at '
                                             'once, send it again'), False, 0)
    while up.big:
        cid, size = up.big.pop(0)
        up.link.publish('cmd/result', result(cid, 'payload too large (%d bytes, at most %d): '
                                             'discarded unread' % (size, MAX_PAYLOAD)), False, 1)
    v = Verifier(up.cmd_key, seen=up.seen_ids, seen_ts=up.seen_ts, mark=up.cmd_mark,
                 floor=up.cmd_floor) if up.cmd_key else None
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
            cid, err = id_of(payload), 'not enough memory now: try again'
        up.link.publish('cmd/result', result(cid, err), False, 1)


def _one(up, v, payload, ts):
    """(id, None) when carried out, else (id or None, why not)."""
    if v is None:
        return None, 'commands are off: no mqtt.cmd_key on this site'
    if not clock.valid:
        # The replay window needs the time: a clock at 2000 would refuse
        # every command as stale, or take an old one as new.
        return id_of(payload), 'clock not set'
    cmd, err = v.check(payload, clock.to_unix(ts))
    up.cmd_floor = v.floor
    if err is not None:
        return cmd, err
    # On flash before it runs: a reboot (or a power cut during it) must not
    # make it, or anything older, acceptable again.
    if not up.save_mark(v.mark):
        return cmd['id'], 'not carried out: the replay mark could not be saved (flash)'
    up.cmd_mark = v.mark
    err = actions.attempt(up.app, cmd['cmd'], cmd['args'], ts, 'mqtt')
    up.event(ts, actions.event_text(cmd['cmd'], 'mqtt', err))
    return cmd['id'], err
