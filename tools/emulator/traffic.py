"""What the buses carried: per unit, the requests (counts and the recent
ones) and every write, as the control channel's "requests" and "writes"
give them to tests and benches."""
import collections

WRITE_FCS = (5, 6, 15, 16)


class Traffic:
    MAX_LOG = 2000

    def __init__(self, model):
        self.model = model
        self.writes = []
        self.counts = collections.defaultdict(collections.Counter)
        self.recent = collections.defaultdict(lambda: collections.deque(maxlen=self.MAX_LOG))

    def record(self, dev, bus, pdu, t_arrival, req_len, packet, note=None):
        """Record one request: per-device counts and recent list, and writes.

        "t" is the request's arrival, CLOCK_MONOTONIC seconds (comparable with
        time.monotonic() in another process on Linux); "bytes" the request's
        and reply's RTU sizes (reply 0: no answer); "wire_ms" the paced delay
        from arrival to reply (null when the bus is not paced)."""
        key = dev.name if dev else "%s:%d" % (bus.name, pdu.dev_id)
        fc = pdu.function_code
        t_model = round(self.model.t, 3)
        reply_len = len(packet) if packet else 0
        entry = {"fc": fc, "unit": pdu.dev_id, "addr": pdu.address,
                 "count": pdu.count, "t_model": t_model, "t": round(t_arrival, 4),
                 "answered": bool(packet),
                 "bytes": [bus.rtu_len(req_len), bus.rtu_len(reply_len) if packet else 0],
                 "wire_ms": (round(1000.0 * bus.reply_delay(req_len, reply_len, dev), 3)
                             if bus.baud and packet else None)}
        if note and fc not in WRITE_FCS:
            entry["note"] = note
        self.counts[key][fc] += 1
        self.recent[key].append(entry)
        if fc in WRITE_FCS:
            values = list(pdu.bits) if fc in (5, 15) else list(pdu.registers)
            w = {"device": key, "unit": pdu.dev_id, "fc": fc, "address": pdu.address,
                 "values": [int(v) for v in values], "t_model": t_model,
                 "t": entry["t"], "answered": bool(packet), "effect": note}
            if dev is not None:
                w.update(dev.write_notes(pdu.address, values))
            self.writes.append(w)
            del self.writes[: -self.MAX_LOG]

    def take_writes(self, device=None, clear=False):
        """The writes (to `device` only, if named), forgotten with clear."""
        rows = [w for w in self.writes if device is None or w["device"] == device]
        if clear:
            self.writes = [w for w in self.writes if w not in rows]
        return rows

    def take_requests(self, keys, clear=False, limit=None):
        """{key: {count, by_fc, recent}} for each unit key; `limit` keeps the
        newest recent entries only; clear forgets what was given."""
        out = {}
        for k in keys:
            counts = self.counts.get(k, collections.Counter())
            recent = list(self.recent.get(k, ()))
            if limit is not None:
                recent = recent[-int(limit):] if int(limit) > 0 else []
            out[k] = {"count": sum(counts.values()),
                      "by_fc": {str(fc): n for fc, n in sorted(counts.items())},
                      "recent": recent}
            if clear:
                self.counts.pop(k, None)
                self.recent.pop(k, None)
        return out
