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
    # Bounded, and a forgotten id raises the floor instead of falling out:
    # its replay, and anything signed in the same second, is refused.
    v = C.Verifier(KEY, max_ids=3)
    for i in range(5):
        assert v.check(env(id='i%d' % i, ts=NOW + i), NOW + 5)[1] is None
    assert v.seen == ['i2', 'i3', 'i4'] and v.floor == NOW + 1 and v.mark == NOW + 4
    for i in (0, 1):
        assert v.check(env(id='i%d' % i, ts=NOW + i), NOW + 5) == \
            ('i%d' % i, 'not newer than the commands already taken (replay)')
    # Signed in the same seconds as ones remembered: taken while the ids fit.
    assert v.check(env(id='j', ts=NOW + 2), NOW + 5)[1] is None


def test_replay_after_many_others_and_after_a_restart():
    # The campaign's replays: after 64+ others (the bounded id list), and
    # after a restart (a new Verifier with only the mark from flash).
    v = C.Verifier(KEY)
    first = env(id='g1', ts=NOW)
    assert v.check(first, NOW)[1] is None
    for i in range(70):
        assert v.check(env('telemetry_now', id='t%d' % i, ts=NOW + i // 10), NOW + 25)[1] is None
    assert len(v.seen) <= C.SEEN_IDS
    assert v.check(first, NOW + 25)[1].endswith('(replay)')
    after = C.Verifier(KEY, mark=v.mark)
    assert after.check(first, NOW + 26)[1].endswith('(replay)')
    assert after.check(env(id='t69', ts=NOW + 6), NOW + 26)[1].endswith('(replay)')
    assert after.check(env(id='new', ts=v.mark + 1), NOW + 26)[1] is None
    # The skew: a command signed a little before the newest taken still
    # goes (two operators, clocks apart), but nothing below the restart's mark.
    assert after.check(env(id='late', ts=v.mark), NOW + 26)[1].endswith('(replay)')
    v = C.Verifier(KEY)
    assert v.check(env(id='a', ts=NOW + 10), NOW)[1] is None
    assert v.check(env(id='b', ts=NOW + 10 - C.SKEW_S + 1), NOW)[1] is None
    assert v.check(env(id='c', ts=NOW + 10 - C.SKEW_S), NOW)[1].endswith('(replay)')


def test_nesting_and_ids_that_cannot_be_echoed():
    deep = '{"body": "x", "sig": "", "a": ' + '[' * 300 + ']' * 300 + '}'
    v = C.Verifier(KEY)
    assert v.check(deep, NOW) == (None, 'malformed JSON: nested deeper than 16')
    body = json.dumps({'id': 'n1', 'cmd': 'gen_start', 'args': {'a': [[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]},
                       'ts': NOW})
    assert v.check(json.dumps({'body': body, 'sig': C.sign(KEY, body)}), NOW)[0] is None
    for bad in ('\u2603' * 10, 'x' * 65, 'a\nb', ''):
        cid, err = v.check(env(id=bad), NOW)
        assert cid is None and 'id not echoed' in err, (bad, err)
        cid, err = v.check(env(id=bad, key='other'), NOW)
        assert cid is None and err.startswith('bad signature') and 'id not echoed' in err
    r = json.loads(C.result('\u2603', 'unknown command \u2603' + 'x' * 300))
    assert r['id'] is None and len(r['reason']) <= 160 and all(' ' <= c <= '~' for c in r['reason'])
    assert isinstance(C.result('c1'), bytes)
    assert C.id_of(deep) is None and C.id_of(env(id='\u2603')) is None
    assert C.id_of(env(id='ok-1')) == 'ok-1'


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


def test_the_id_in_the_head_of_an_oversized_command():
    # The link reads the first 128 bytes of a command too large to read
    # (firmware/uplink/link.py) and refuses it by a result when they name
    # its id: envelope() puts the body's id first.
    big = C.envelope('k', 'gen_stop', {'pad': 'x' * 5000}, 'big-1', 1700000000)
    assert C.head_id(big[:128].encode()) == 'big-1'
    assert C.head_id(C.envelope('k', 'gen_stop', None, 12345, 1)[:128].encode()) == 12345
    assert C.head_id(b'{"id": "plain", "cmd": "x"') == 'plain'
    long_id = 'i' * 64
    cut = C.envelope('k', 'gen_stop', None, long_id, 1)[:60].encode()
    assert C.head_id(cut) is None                  # cut off inside the id
    assert C.head_id(b'{' * 128) is None and C.head_id(b'') is None
    assert C.head_id(b'{"body": "{\\"id\\": \\"\\u2603\\"') is None     # not echoable
    assert C.head_id(b'{"id": 123') is None        # a number cut off: maybe longer
