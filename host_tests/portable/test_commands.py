# Signed remote commands: HMAC-SHA256 against RFC 4231, and every way a
# command is refused (unsigned, wrong key, replayed, stale, malformed, wrong
# types, unknown, oversize) with the id echoed where it could be read.
import json
from firmware.uplink import commands as C
from firmware.actions import TABLE

KEY = 'site-key-0042'
NOW = 1767261600


def env(cmd='gen_start', args=None, id='c1', ts=NOW, key=KEY):
    return C.envelope(key, cmd, args, id, ts)


def test_hmac_rfc4231_vectors():
    # Test case 1 and 2 of RFC 4231.
    assert C.hexlify(C.hmac_sha256(b'\x0b' * 20, b'Hi There')) == \
        'b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7'
    assert C.hexlify(C.hmac_sha256(b'Jefe', b'what do ya want for nothing?')) == \
        '5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843'
    # Test case 6: a key longer than the block is hashed first.
    assert C.hexlify(C.hmac_sha256(b'\xaa' * 131,
                                   b'Test Using Larger Than Block-Size Key - Hash Key First')) == \
        '60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54'


def test_a_signed_command_is_accepted_once():
    v = C.Verifier(KEY)
    cmd, err = v.check(env('gen_mode', {'mode': 'manual'}), NOW)
    assert err is None
    assert cmd == {'id': 'c1', 'cmd': 'gen_mode', 'args': {'mode': 'manual'}, 'ts': NOW}
    cid, err = v.check(env('gen_mode', {'mode': 'manual'}), NOW + 1)
    assert (cid, err) == ('c1', 'id already seen (replay)')


def test_bytes_payload_and_integer_id():
    v = C.Verifier(KEY.encode())
    cmd, err = v.check(env(id=7).encode(), NOW)
    assert err is None and cmd['id'] == 7


def test_refusals_with_reasons_and_ids():
    good_body = json.dumps({'id': 'x9', 'cmd': 'gen_stop', 'args': {}, 'ts': NOW})
    cases = [
        (json.dumps({'body': good_body, 'sig': '00' * 32}), 'x9', 'bad signature'),
        (env(key='wrong-key'), 'c1', 'bad signature'),
        (json.dumps({'body': good_body}), None, 'not an envelope'),
        ('{"body": ', None, 'malformed JSON'),
        ('[1, 2]', None, 'not an envelope'),
        (env(ts=NOW - 301), 'c1', 'ts outside the replay window'),
        (env(ts=NOW + 301), 'c1', 'ts outside the replay window'),
        (env(ts='now'), 'c1', 'ts missing or not a number'),
        (env(cmd='self_destruct'), 'c1', "unknown command 'self_destruct'"),
        (env(cmd='gen_mode', args={}), 'c1', "gen_mode needs arg 'mode'"),
        (env(cmd='gen_mode', args={'mode': 3}), 'c1', "gen_mode: arg 'mode' has the wrong type"),
        (env(cmd='gen_start', args={'force': True}), 'c1', "gen_start takes no arg 'force'"),
        (env(id=None), None, 'id missing or not a string/integer'),
        (env(id=True), None, 'id missing or not a string/integer'),
        ('{"body": "x", "sig": "%s"}' % C.sign(KEY, 'x'), None, 'body is not a JSON object'),
        ('{"body": "' + 'a' * 2000 + '", "sig": ""}', None, 'payload too large'),
    ]
    for payload, want_id, want in cases:
        v = C.Verifier(KEY)
        cid, err = v.check(payload, NOW)
        assert err is not None and err.startswith(want), (payload[:60], err)
        assert cid == want_id, (payload[:60], cid)
        assert v.seen == [] and v.refused == 1     # a refusal changes nothing


def test_a_refused_id_can_come_again_correctly_signed():
    v = C.Verifier(KEY)
    body = json.dumps({'id': 'r1', 'cmd': 'gen_stop', 'args': {}, 'ts': NOW})
    assert v.check(json.dumps({'body': body, 'sig': 'ab' * 32}), NOW)[1] == 'bad signature'
    assert v.check(json.dumps({'body': body, 'sig': C.sign(KEY, body)}), NOW)[1] is None


def test_signature_is_over_the_exact_body_bytes():
    v = C.Verifier(KEY)
    body = '{"ts": %d, "cmd": "reboot", "id": "z", "args": {}}' % NOW    # any key order
    assert v.check(json.dumps({'body': body, 'sig': C.sign(KEY, body)}), NOW)[1] is None
    v = C.Verifier(KEY)
    spaced = body.replace(', ', ',  ')
    assert v.check(json.dumps({'body': spaced, 'sig': C.sign(KEY, body)}), NOW)[1] == 'bad signature'


def test_seen_ids_are_bounded():
    v = C.Verifier(KEY, max_ids=3)
    for i in range(5):
        assert v.check(env(id='i%d' % i), NOW)[1] is None
    assert v.seen == ['i2', 'i3', 'i4']


def test_replay_is_refused_across_verifiers_sharing_the_seen_ids():
    # The uplink makes a Verifier per batch of commands and keeps the ids.
    seen = []
    assert C.Verifier(KEY, seen=seen).check(env(id='once'), NOW)[1] is None
    assert seen == ['once']
    cid, err = C.Verifier(KEY, seen=seen).check(env(id='once'), NOW)
    assert (cid, err) == ('once', 'id already seen (replay)') and seen == ['once']


def test_every_command_of_the_interface_is_known():
    for name in ('gen_start', 'gen_stop', 'gen_mode', 'gen_reset', 'alarm_ack', 'load_shed',
                 'load_restore', 'config_set', 'telemetry_now', 'reboot', 'gen_service_done'):
        assert name in TABLE
    v = C.Verifier(KEY)
    cmd, err = v.check(env('config_set', {'key': 'poll_s', 'value': 5}), NOW)
    assert err is None and cmd['args'] == {'key': 'poll_s', 'value': 5}


def test_results():
    assert json.loads(C.result('c1')) == {'id': 'c1', 'status': 'ok'}
    assert json.loads(C.result(None, 'malformed JSON')) == \
        {'id': None, 'status': 'error', 'reason': 'malformed JSON'}
