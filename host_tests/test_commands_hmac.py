# Our HMAC (built on hashlib.sha256 for MicroPython) agrees with CPython's
# hmac module on random keys and messages of every length around the block.
import hashlib
import hmac
import os

from firmware.uplink import commands


def test_hmac_matches_cpython_hmac():
    for klen in (0, 1, 32, 63, 64, 65, 200):
        for mlen in (0, 1, 55, 56, 64, 127, 1000):
            key = os.urandom(klen)
            msg = os.urandom(mlen)
            assert commands.hmac_sha256(key, msg) == hmac.new(key, msg, hashlib.sha256).digest()
