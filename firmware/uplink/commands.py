# Remote commands from the operator: the signed envelope, its checks and
# the one result each command gets. Pure logic (hashlib and json only), so
# the MQTT link, the console's tests and the operator's tools share it.
#
# Envelope: {"body": "<JSON text>", "sig": "<hex>"}; the body is the JSON
# text of {"id": ..., "cmd": ..., "args": {...}, "ts": ...} and sig is
# HMAC-SHA256 over the body's exact bytes, so no canonical JSON is needed.
# MicroPython has hashlib.sha256 but no hmac module: HMAC is built here.
import json
import hashlib
from firmware.actions import Refused, TABLE, check, type_ok

MAX_PAYLOAD = 1024      # bytes; a command is small, a bigger one is refused unread
WINDOW_S = 300          # a command's ts must be this close to our clock
SEEN_IDS = 64           # ids remembered against replay, all within SKEW_S of the mark
# Replay: the mark is the newest ts accepted (kept on flash by the uplink),
# and a command must be newer than mark - SKEW_S, or newer than the ts of
# any id already forgotten, or newer than the mark itself after a restart
# (the floor). Between the floor and the mark only the ids remembered can
# tell a replay from two commands signed in the same seconds, so an id
# that no longer fits in SEEN_IDS raises the floor instead of falling out.
SKEW_S = 60
MAX_DEPTH = 16          # JSON nesting; a command's envelope, body and args need 4
ID_MAX = 64             # an id echoed in a result: printable ASCII, at most this long
_REASON_MAX = 160
_BLOCK = 64             # SHA-256 block size


def hmac_sha256(key, msg):
    """HMAC-SHA256 (RFC 2104) of bytes msg under bytes key."""
    if len(key) > _BLOCK:
        key = hashlib.sha256(key).digest()
    key = key + b'\x00' * (_BLOCK - len(key))
    inner = hashlib.sha256(bytes([b ^ 0x36 for b in key]))
    inner.update(msg)
    outer = hashlib.sha256(bytes([b ^ 0x5C for b in key]))
    outer.update(inner.digest())
    return outer.digest()


def hexlify(b):
    return ''.join(['%02x' % x for x in b])


def sign(key, body):
    """The sig of a body text (the operator's side; tests)."""
    if isinstance(key, str):
        key = key.encode()
    return hexlify(hmac_sha256(key, body.encode() if isinstance(body, str) else body))


def envelope(key, cmd, args=None, id=None, ts=None):
    """A signed command envelope as JSON text (the operator's side)."""
    body = json.dumps({'id': id, 'cmd': cmd, 'args': args or {}, 'ts': ts})
    return json.dumps({'body': body, 'sig': sign(key, body)})


def _same(a, b):
    # Constant-time: how much of a forged signature matched must not show.
    if len(a) != len(b):
        return False
    d = 0
    for i in range(len(a)):
        d |= ord(a[i]) ^ ord(b[i])
    return d == 0


def _printable(s, n):
    # Results go out as UTF-8 MQTT payloads and into logs: only printable
    # ASCII is echoed, so a length in characters is a length in bytes.
    for c in s[:n]:
        if not ' ' <= c <= '~':
            return False
    return len(s) <= n


def clean_id(i):
    """i when it may be echoed in a result (a string of 1..ID_MAX printable
    ASCII characters, or an integer of at most 18 digits), else None."""
    if isinstance(i, bool):
        return None
    if isinstance(i, int):
        return i if -10 ** 18 < i < 10 ** 18 else None
    if isinstance(i, str) and i and _printable(i, ID_MAX):
        return i
    return None


def depth_ok(b):
    """Whether bytes b nest brackets no deeper than MAX_DEPTH, counted
    without parsing (brackets in strings count too: only a larger
    count). The parser's stack for a deep payload would need a block the
    board's fragmented heap may not have, and its error says nothing."""
    d = 0
    for c in b:
        if c == 0x5B or c == 0x7B:          # [ {
            d += 1
            if d > MAX_DEPTH:
                return False
        elif c == 0x5D or c == 0x7D:        # ] }
            d -= 1
    return True


def id_of(payload):
    """A payload's id for its result, clean_id()'d, read without checking
    the envelope; None when it cannot be read."""
    try:
        if isinstance(payload, str):
            payload = payload.encode()
        if len(payload) > MAX_PAYLOAD or not depth_ok(payload):
            return None
        cmd = json.loads(json.loads(payload)['body'])
        return clean_id(cmd.get('id'))
    except Exception:       # anything a hostile payload raises: no id
        return None


def head_id(head):
    """The id named in the first bytes of a command too large to read
    (an envelope's body names it first: envelope()), clean_id()'d; None
    when those bytes do not hold all of it."""
    try:
        s = bytes(head)
        for key, q in ((b'\\"id\\"', b'\\"'), (b'"id"', b'"')):
            i = s.find(key)
            if i < 0:
                continue
            j = i + len(key)
            while j < len(s) and (s[j] == 32 or s[j] == 58):     # spaces, the colon
                j += 1
            if s[j:j + len(q)] == q:            # a string id
                j += len(q)
                k = s.find(q, j)
                if k <= j or s.find(b'\\', j, k) >= 0:
                    return None     # cut off, or escaped: not the id as sent
                return clean_id(s[j:k].decode())
            k = j
            while k < len(s) and (48 <= s[k] <= 57 or (k == j and s[k] == 45)):
                k += 1
            if k == len(s) or k == j:           # cut off, or not a number
                return None
            return clean_id(int(s[j:k]))
    except Exception:       # bytes a hostile sender chose: no id
        pass
    return None


class Verifier:
    def __init__(self, key, window_s=WINDOW_S, max_ids=SEEN_IDS, seen=None, seen_ts=None,
                 mark=0, floor=None):
        self.key = key.encode() if isinstance(key, str) else key
        self.window_s = window_s
        self.max_ids = max_ids
        # Recent ids and their ts, oldest first: lists the caller keeps
        # when the Verifier itself is made per batch of commands.
        self.seen = [] if seen is None else seen
        self.seen_ts = [] if seen_ts is None else seen_ts
        # The newest ts accepted, and the floor: nothing at or below it is
        # taken. After a restart the floor is the mark (the ids are gone).
        self.mark = mark
        self.floor = mark if floor is None else floor
        self.refused = 0

    def check(self, payload, now):
        """(command dict, None) when payload is a command to carry out, else
        (id or None, reason). A refused command changes nothing here
        either: only an accepted id is remembered."""
        cid = None
        bad_id = False
        try:
            if isinstance(payload, str):
                payload = payload.encode()
            if len(payload) > MAX_PAYLOAD:
                raise Refused('payload too large (%d bytes, at most %d)'
                              % (len(payload), MAX_PAYLOAD))
            if not depth_ok(payload):
                raise Refused('malformed JSON: nested deeper than %d' % MAX_DEPTH)
            try:
                env = json.loads(payload)
            except (ValueError, UnicodeError, RuntimeError):
                raise Refused('malformed JSON')
            if not isinstance(env, dict) or not isinstance(env.get('body'), str) \
                    or not isinstance(env.get('sig'), str):
                raise Refused('not an envelope: want {"body": "<JSON text>", "sig": "<hex>"}')
            body = env['body']
            try:
                cmd = json.loads(body)
            except (ValueError, RuntimeError):
                cmd = None
            if isinstance(cmd, dict):
                i = cmd.get('id')
                cid = clean_id(i)   # echoed in the result even when refused
                bad_id = cid is None and isinstance(i, (str, int)) and not isinstance(i, bool)
            want = hexlify(hmac_sha256(self.key, body.encode()))
            if not _same(env['sig'].lower(), want):
                raise Refused('bad signature')
            if not isinstance(cmd, dict):
                raise Refused('body is not a JSON object')
            if cid is None:
                raise Refused('id missing or not a string/integer')
            name = cmd.get('cmd')
            if not isinstance(name, str) or name not in TABLE:
                raise Refused('unknown command %r' % (name,))
            ts = cmd.get('ts')
            if not type_ok(ts, 'num'):
                raise Refused('ts missing or not a number')
            if ts < now - self.window_s or ts > now + self.window_s:
                raise Refused('ts outside the replay window (%d s)' % self.window_s)
            if cid in self.seen:
                raise Refused('id already seen (replay)')
            if ts <= self.floor:
                raise Refused('not newer than the commands already taken (replay)')
            args = cmd.get('args', {})
            if args is None:
                args = {}
            if not isinstance(args, dict):
                raise Refused('args must be an object')
            check(name, args)
        except Refused as e:
            self.refused += 1
            why = str(e)
            if bad_id:
                why += '; id not echoed: want 1-%d printable ASCII characters' % ID_MAX
            return cid, why
        self._remember(cid, ts)
        return {'id': cid, 'cmd': name, 'args': args, 'ts': ts}, None

    def _remember(self, cid, ts):
        seen, seen_ts = self.seen, self.seen_ts
        seen.append(cid)
        seen_ts.append(ts)
        if ts > self.mark:
            self.mark = ts
        floor = max(self.floor, self.mark - SKEW_S)
        while len(seen) > self.max_ids:
            seen.pop(0)
            t = seen_ts.pop(0)
            if t > floor:
                floor = t       # a forgotten id: its ts and all below are refused
        self.floor = floor
        i = 0
        while i < len(seen):
            if seen_ts[i] <= floor:     # refused by the floor anyway
                seen.pop(i)
                seen_ts.pop(i)
            else:
                i += 1


def result(cid, reason=None):
    """The JSON text of a command's one result, as bytes: an id that may not
    be echoed (clean_id) goes out as null, and the reason, which can quote
    what the sender sent, as printable ASCII of at most 160 characters."""
    if cid is not None and clean_id(cid) is None:
        cid = None
        reason = (reason or 'done') + '; id not echoed: want 1-%d printable ASCII characters' % ID_MAX
    if reason is None:
        return json.dumps({'id': cid, 'status': 'ok'}).encode()
    if not _printable(reason, _REASON_MAX):
        reason = ''.join([c if ' ' <= c <= '~' else '?' for c in reason[:_REASON_MAX]])
    return json.dumps({'id': cid, 'status': 'error', 'reason': reason}).encode()
