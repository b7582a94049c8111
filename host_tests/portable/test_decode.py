# Value types, word orders, signs, scales and sentinels against hand-computed
# register bytes (the device's answer data, big-endian registers).
from firmware import decode as D
from helpers import close


def pt(vtype, scale=1, lo=None, hi=None):
    return ('x', 3, 0, vtype, scale, lo, hi)


def dec(hexstr, vtype, scale=1, lo=None, hi=None, sent=D.SENT_NONE):
    return D.decode_point(bytes.fromhex(hexstr), 0, pt(vtype, scale, lo, hi), sent)


def test_u16_scaled():
    assert close(dec('1388', D.U16, 0.01), 50.0)          # 5000 x 0.01 V


def test_s16_negative():
    assert close(dec('FDF3', D.S16, 0.01), -5.25)         # -525 x 0.01 degC


def test_u32_low_word_first_epever():
    # PV power 87672 = 0x00015678 sent low word first: 56 78 00 01
    assert close(dec('56780001', D.U32R, 0.01), 876.72)


def test_s32_low_word_first_negative():
    # -1234 = 0xFFFFFB2E, low word first: FB 2E FF FF
    assert close(dec('FB2EFFFF', D.S32R, 0.01), -12.34)


def test_u32_high_word_first_dse():
    assert close(dec('000008FD', D.U32, 0.1), 230.1)      # 2301 x 0.1 V


def test_s32_high_word_first_negative():
    assert dec('FFFFF63C', D.S32) == -2500


def test_f32_abcd():
    assert close(dec('43668000', D.F32), 230.5)
    assert close(dec('C4BB8000', D.F32), -1500.0)


def test_f32_nan_and_inf_are_no_data():
    assert dec('7FC00000', D.F32) is None
    assert dec('7F800000', D.F32) is None


def test_dse_sentinels_are_no_data():
    for h in ('FFFF', 'FFFE', 'FFFD', 'FFFC', 'FFFB', 'FFFA', 'FFF9', 'FFF8'):
        assert dec(h, D.U16, sent=D.SENT_DSE) is None, h
    assert dec('FFF7', D.U16, sent=D.SENT_DSE) == 0xFFF7
    assert dec('7FFF', D.S16, sent=D.SENT_DSE) is None
    assert dec('7FF8', D.S16, sent=D.SENT_DSE) is None
    assert dec('FFFFFFFF', D.U32, sent=D.SENT_DSE) is None
    assert dec('FFFFFFF8', D.U32, sent=D.SENT_DSE) is None
    assert dec('7FFFFFFF', D.S32, sent=D.SENT_DSE) is None


def test_sentinel_codes_are_readings_for_other_devices():
    assert dec('FFFF', D.U16) == 0xFFFF


def test_out_of_range_is_no_data():
    assert dec('1388', D.U16, 0.01, 0, 40) is None        # 50 V on a 0..40 V point
    assert close(dec('0FA0', D.U16, 0.01, 0, 40), 40.0)   # the limit itself is a reading


def test_short_answer_is_no_data():
    assert D.decode_point(bytes.fromhex('12'), 0, pt(D.U16), D.SENT_NONE) is None
    assert D.decode_point(bytes.fromhex('1234'), 0, pt(D.U32), D.SENT_NONE) is None
    assert D.decode_point(None, 0, pt(D.U16), D.SENT_NONE) is None


def test_offset_into_block():
    assert D.decode_point(bytes.fromhex('00000001FFFF'), 2, pt(D.U16), D.SENT_NONE) == 1
