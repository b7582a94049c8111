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
SEEN_IDS = 64           # ids remembered against replay (older ones fall out of the window)
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


class Verifier:
    def __init__(self, key, window_s=WINDOW_S, max_ids=SEEN_IDS, seen=None):
        self.key = key.encode() if isinstance(key, str) else key
        self.window_s = window_s
        self.max_ids = max_ids
        # Recent ids, oldest first: a list the caller keeps when the
        # Verifier itself is made per batch of commands.
        self.seen = [] if seen is None else seen
        self.refused = 0

    def check(self, payload, now):
        """(command dict, None) when payload is a command to carry out, else
        (id or None, reason). A refused command changes nothing here
        either: only an accepted id is remembered."""
        cid = None
        try:
            if len(payload) > MAX_PAYLOAD:
                raise Refused('payload too large (%d bytes, at most %d)'
                              % (len(payload), MAX_PAYLOAD))
            try:
                env = json.loads(payload)
            except (ValueError, UnicodeError):
                raise Refused('malformed JSON')
            if not isinstance(env, dict) or not isinstance(env.get('body'), str) \
                    or not isinstance(env.get('sig'), str):
                raise Refused('not an envelope: want {"body": "<JSON text>", "sig": "<hex>"}')
            body = env['body']
            try:
                cmd = json.loads(body)
            except ValueError:
                cmd = None
            if isinstance(cmd, dict):
                i = cmd.get('id')
                if isinstance(i, (str, int)) and not isinstance(i, bool):
                    cid = i     # echoed in the result even when refused
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
            args = cmd.get('args', {})
            if args is None:
                args = {}
            if not isinstance(args, dict):
                raise Refused('args must be an object')
            check(name, args)
        except Refused as e:
            self.refused += 1
            return cid, str(e)
        self.seen.append(cid)
        if len(self.seen) > self.max_ids:
            self.seen.pop(0)
        return {'id': cid, 'cmd': name, 'args': args, 'ts': ts}, None


def result(cid, reason=None):
    """The JSON text of a command's one result."""
    if reason is None:
        return json.dumps({'id': cid, 'status': 'ok'})
    return json.dumps({'id': cid, 'status': 'error', 'reason': reason})
