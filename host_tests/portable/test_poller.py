# Polling and decoding every profile from hand-computed register words, the
# device health rules, and writes, against a fake bus.
from firmware import profiles, poller, site
from firmware.bus_errors import BusError, TIMEOUT, FRAME, EXCEPTION
from helpers import FakeBus, close


def dev(name, profile, unit, bus, role=None):
    return poller.Device({'name': name, 'unit': unit, 'role': role},
                         profiles.load(profile), bus)


def epever_regs(bus, unit=1):
    bus.set(unit, 4, 0x3100, [
        0x1C84,             # 0x3100 PV 73.00 V
        0x0514,             # 0x3101 PV 13.00 A
        0x5678, 0x0001,     # 0x3102 PV power 876.72 W (low word first)
        0x14B4,             # 0x3104 battery 53.00 V
        0x0640,             # 0x3105 charging 16.00 A
        0x4B40, 0x0001,     # 0x3106 charging power 848.00 W (84800)
    ])
    bus.set(unit, 4, 0x3110, [0xFDF3, 0x0BB8])   # batt -5.25 degC, device 30.00 degC
    bus.set(unit, 4, 0x311A, [75])               # SOC 75 %
    bus.set(unit, 4, 0x3200, [0x0000, 0x0009, 0x0000])   # normal, boost + running
    bus.set(unit, 4, 0x330C, [0x04D2, 0x0000])   # today 12.34 kWh
    bus.set(unit, 4, 0x3312, [0x86A0, 0x0001])   # total 1000.00 kWh
    bus.set(unit, 4, 0x331B, [0xFB2E, 0xFFFF])   # net -12.34 A (discharging)


def test_epever_decodes():
    bus = FakeBus()
    epever_regs(bus)
    d = dev('mppt1', 'epever_tracer', 1, bus)
    assert d.poll(1000)
    v = d.values
    assert close(v['pv_v'], 73.0) and close(v['pv_a'], 13.0)
    assert close(v['pv_w'], 876.72)
    assert close(v['batt_v'], 53.0) and close(v['charge_a'], 16.0)
    assert close(v['charge_w'], 848.0)
    assert close(v['batt_temp_c'], -5.25) and close(v['dev_temp_c'], 30.0)
    assert v['soc'] == 75
    assert v['charge_status'] == 9
    assert close(v['energy_today_kwh'], 12.34) and close(v['energy_total_kwh'], 1000.0)
    assert close(v['batt_net_a'], -12.34)
    assert v['online'] is True
    # Only input registers (FC04), three coalesced reads.
    assert [r[1] for r in bus.reads] == [4, 4, 4]


def test_epever_remote_temp_rated_voltage_and_consumed_energy():
    # EPEver's "LS-B/VS-B/Tracer-B/Tracer-A/iTracer/eTracer Controller
    # Communication Instruction" V2.5 (input registers, FC04): 0x311B remote
    # battery temperature s16 x0.01 degC, 0x311D battery's real rated voltage
    # x0.01 V, 0x3304-0x3305 consumed energy today and 0x330A-0x330B total
    # consumed energy, u32 x0.01 kWh, low word first. The values are a
    # Tracer2215BN's, published in toggio/PhpEpsolarTracer's README: remote
    # battery temperature 25 degC, system rated voltage 12 V, consumed
    # energy today 0.15 kWh, total consumed energy 13.4 kWh.
    bus = FakeBus()
    epever_regs(bus)
    bus.set(1, 4, 0x311B, [2500, 0, 1200])
    bus.set(1, 4, 0x3304, [15, 0])
    bus.set(1, 4, 0x330A, [1340, 0])
    d = dev('mppt1', 'epever_tracer', 1, bus)
    assert d.poll(1000)
    v = d.values
    assert v['remote_temp_c'] == 25.0 and v['rated_v'] == 12.0
    assert v['used_today_kwh'] == 0.15 and v['used_total_kwh'] == 13.4
    assert close(v['energy_today_kwh'], 12.34)     # the generated ones unchanged
    bus.set(1, 4, 0x311B, [0xFF06])                # -2.50 degC: signed
    bus.set(1, 4, 0x330A, [0x86A0, 0x0001])        # 1000.00 kWh: the high word counts
    d.poll(1002)
    assert v['remote_temp_c'] == -2.5 and v['used_total_kwh'] == 1000.0
    # Still three reads: the new registers ride in the coalesced requests.
    assert len(d.reqs) == 3


def f32_words(hexstr):
    w = int(hexstr, 16)
    return [w >> 16, w & 0xFFFF]


def test_sdm630_decodes():
    bus = FakeBus()
    bus.set(2, 4, 0, f32_words('43668000') * 3)          # 230.5 V on L1-L3
    bus.set(2, 4, 6, f32_words('40A00000') * 3)          # 5.0 A
    bus.set(2, 4, 12, f32_words('44902000') * 3)         # 1153.0 W
    bus.set(2, 4, 52, f32_words('45582000'))             # 3458.0 W total
    bus.set(2, 4, 70, f32_words('42480000'))             # 50.0 Hz
    bus.set(2, 4, 72, f32_words('461C4000'))             # 10000.0 kWh import
    bus.set(2, 4, 74, f32_words('00000000'))             # 0 kWh export
    d = dev('meter', 'eastron_sdm630', 2, bus, 'grid')
    assert d.poll(1000)
    v = d.values
    assert close(v['v_l1'], 230.5) and close(v['v_l3'], 230.5)
    assert close(v['a_l2'], 5.0) and close(v['w_l1'], 1153.0)
    assert close(v['power_w'], 3458.0) and close(v['hz'], 50.0)
    assert close(v['import_kwh'], 10000.0) and v['export_kwh'] == 0.0
    for r in bus.reads:
        assert r[2] % 2 == 0 and r[3] <= 80


def test_sdm630_apparent_reactive_power_and_power_factor():
    # Eastron "SDM630 Modbus Protocol" V1.8, input registers (FC04, float32
    # high word first): 30057 (address 0x38 = 56) total system volt amps,
    # 30061 (0x3C = 60) total system VAr, 30063 (0x3E = 62) total system
    # power factor; 30073/30075 (72/74) import/export kWh were read already.
    bus = FakeBus()
    bus.set(2, 4, 52, f32_words('45582000'))             # 3458.0 W
    bus.set(2, 4, 56, f32_words('45610000'))             # 3600.0 VA
    bus.set(2, 4, 60, f32_words('C4960000'))             # -1200.0 VAr (capacitive)
    bus.set(2, 4, 62, f32_words('3F75C28F'))             # 0.96
    d = dev('meter', 'eastron_sdm630', 2, bus, 'grid')
    assert d.poll(1000)
    v = d.values
    assert close(v['va'], 3600.0) and close(v['var'], -1200.0)
    assert abs(v['pf'] - 0.96) < 1e-6
    assert len(d.reqs) == 2      # 52..75 already was one read


def test_sdm120_apparent_reactive_power_and_power_factor():
    # Eastron "SDM120 Modbus Protocol" input registers (FC04): 30019 (18)
    # apparent power VA, 30025 (24) reactive power VAr, 30031 (30) power
    # factor; 30073/30075 (72/74) import/export kWh.
    bus = FakeBus()
    bus.set(5, 4, 12, f32_words('44BB8000'))             # 1500.0 W
    bus.set(5, 4, 18, f32_words('44C80000'))             # 1600.0 VA
    bus.set(5, 4, 24, f32_words('43FA0000'))             # 500.0 VAr
    bus.set(5, 4, 30, f32_words('3F700000'))             # 0.9375
    bus.set(5, 4, 72, f32_words('447A0000'))             # 1000.0 kWh import
    bus.set(5, 4, 74, f32_words('41200000'))             # 10.0 kWh export
    d = dev('m2', 'eastron_sdm120', 5, bus, 'load')
    assert d.poll(0)
    v = d.values
    assert close(v['va'], 1600.0) and close(v['var'], 500.0) and v['pf'] == 0.9375
    assert close(v['import_kwh'], 1000.0) and close(v['export_kwh'], 10.0)
    for r in bus.reads:
        assert r[2] % 2 == 0 and r[3] <= 80


def test_sdm120_total_is_phase_power():
    bus = FakeBus()
    bus.set(5, 4, 0, f32_words('43660000'))              # 230.0 V
    bus.set(5, 4, 12, f32_words('C4BB8000'))             # -1500.0 W (export)
    bus.set(5, 4, 70, f32_words('42480000'))
    d = dev('m2', 'eastron_sdm120', 5, bus, 'load')
    d.poll(0)
    assert close(d.values['power_w'], -1500.0) and close(d.values['v_l1'], 230.0)


def test_pace_decodes():
    bus = FakeBus()
    bus.set(3, 3, 0, [0xFB2E, 5210, 64, 98, 19200, 30000, 30000, 123, 0,
                      0x0001, 0x0000, 0x0004, 0x0000])
    bus.set(3, 3, 15, [3256] * 16)
    bus.set(3, 3, 31, [251, 0xFFF6, 250, 249, 300, 220])
    d = dev('bms1', 'pace_bms', 3, bus)
    assert d.poll(0)
    v = d.values
    assert close(v['current_a'], -12.34)
    assert close(v['voltage_v'], 52.10)
    assert v['soc'] == 64 and v['soh'] == 98
    assert close(v['remain_ah'], 192.0) and close(v['full_ah'], 300.0)
    assert v['cycles'] == 123
    assert v['warning'] == 1 and v['protection'] == 0 and v['status'] == 4
    assert close(v['cell01_v'], 3.256) and close(v['cell16_v'], 3.256)
    assert close(v['temp1_c'], 25.1) and close(v['temp2_c'], -1.0)
    assert close(v['mos_temp_c'], 30.0)
    assert bus.reads == [(3, 3, 0, 37)]


def test_seplos_decodes():
    bus = FakeBus()
    bus.set(0, 4, 0x1000, [5312, 0xFC18, 0, 0, 0, 875])
    bus.set(0, 4, 0x100F, [100, 50])
    d = dev('bms', 'seplos_v3', 0, bus)
    d.poll(0)
    v = d.values
    assert close(v['voltage_v'], 53.12) and close(v['current_a'], -10.0)
    assert close(v['soc'], 87.5) and v['max_dis_a'] == 100 and v['max_chg_a'] == 50


# A Seplos V3 pack's own block (PIA, 0x1000..0x1010) and a stack's summary
# (EIA 0x2000..0x2019, EIB 0x2100..), as a two-pack stack answered them in a
# published capture (patman15/BMS_BLE-HA tests/test_seplos_bms.py: "PIA1",
# "EIA", "EIB"; its reference values: 52.34 V, pack -7.2 A, stack -6.7 A,
# 47.9 %, 9 cycles, cells 3.270-3.273 V, 23.8-25.0 degC, 2 packs).
SEPLOS_PIA1 = [0x1472, 0xFD30, 0x3464, 0x6D60, 0x00D5, 0x01DF, 0x03E7, 0x0009, 0x0CC7,
               0x0B9F, 0x0CC8, 0x0CC6, 0x0BA5, 0x0B99, 0x0000, 0x00B4, 0x00B4]
SEPLOS_EIA = [0x1472, 0x0000, 0xFFBD, 0xFFFF, 0x3464, 0x0000, 0x6D60, 0x0000, 0x00D5, 0x0000,
              0x6D60, 0x0000, 0x0001, 0x0000, 0x0000, 0x0000, 0x0708, 0x0000, 0x0708, 0x0000,
              0x0240, 0x01D0, 0x0002, 0x0009, 0x01DF, 0x03E7]
SEPLOS_EIB = [0x0CC9, 0x0CC6, 0x0002, 0x0007, 0x1472, 0x1472, 0x0000, 0x0000, 0x00FA, 0x00EE,
              0x00F4, 0x0000, 0x0000, 0x0001, 0x01DF, 0x01DF, 0x0009, 0x03E7, 0x010A, 0x010A,
              0x010A, 0x0000]


def seplos_dev(bus, **cfg):
    from firmware import profiles
    d = dict({'name': 'bms', 'unit': 0, 'profile': 'seplos_v3'}, **cfg)
    return poller.Device(d, profiles.load('seplos_v3'), bus)


def test_seplos_pack_block_from_a_capture():
    bus = FakeBus()
    bus.set(0, 4, 0x1000, SEPLOS_PIA1)
    d = seplos_dev(bus)
    d.poll(0)
    v = d.values
    assert bus.reads == [(0, 1, 0x1240, 80), (0, 4, 0x1000, 17)]
    assert close(v['voltage_v'], 52.34) and close(v['current_a'], -7.2)
    assert close(v['remain_ah'], 134.12) and close(v['full_ah'], 280.0)
    assert close(v['soc'], 47.9) and close(v['soh'], 99.9) and v['cycles'] == 9
    assert close(v['cell_vmax'], 3.272) and close(v['cell_vmin'], 3.270)
    # 0.1 K: 2981 and 2969 are 24.95 and 23.75 degC
    assert close(v['cell_tmax_c'], 24.95, 1e-3) and close(v['cell_tmin_c'], 23.75, 1e-3)
    assert v['max_dis_a'] == 180 and v['max_chg_a'] == 180


def test_seplos_current_scale_of_the_300_and_400_a_boards():
    # Seplos's protocol note: current in 0.1 A on the 300 A and 400 A boards
    # (device key current_scale 0.1); the same word then means 10x the amps.
    bus = FakeBus()
    bus.set(0, 4, 0x1000, SEPLOS_PIA1)
    d = seplos_dev(bus, current_scale=0.1)
    d.poll(0)
    assert close(d.values['current_a'], -72.0) and close(d.values['voltage_v'], 52.34)
    bus.set(0, 4, 0x1001, [0x7530])            # 30000 counts, 3000 A: past any board, no reading
    d.poll(1)
    assert d.values['current_a'] is None
    bus.set(0, 4, 0x1001, [0x0FA0])            # 4000 counts: 400.0 A on a 400 A board
    d.poll(2)
    assert close(d.values['current_a'], 400.0)


def test_seplos_stack_head_reads_the_stack_summary():
    bus = FakeBus()
    bus.set(0, 4, 0x1000, SEPLOS_PIA1)
    bus.set(0, 4, 0x2000, SEPLOS_EIA)
    bus.set(0, 4, 0x2100, SEPLOS_EIB)
    d = seplos_dev(bus, stack_head=True)
    d.poll(0)
    v = d.values
    assert [r[2] for r in bus.reads] == [0x2200, 0x2000, 0x2100]      # never the head's own pack
    assert close(v['voltage_v'], 52.34) and close(v['current_a'], -6.7)    # s32, 0.1 A
    assert close(v['remain_ah'], 134.12) and close(v['full_ah'], 280.0)
    assert v['packs'] == 2 and v['cycles'] == 9
    assert close(v['soc'], 47.9) and close(v['soh'], 99.9)
    assert close(v['max_dis_a'], 180.0) and close(v['max_chg_a'], 180.0)
    assert close(v['cell_vmax'], 3.273) and close(v['cell_vmin'], 3.270)
    assert close(v['cell_tmax_c'], 25.0) and close(v['cell_tmin_c'], 23.8)
    # The site's battery: capacity known at last (batt_ah), current from the stack.
    s = site.update(site.new([d]), [d], 0)
    assert close(s['batt_ah'], 280.0) and close(s['batt_a'], -6.7) and close(s['batt_soc'], 47.9)


def dse_regs(bus, unit=10, state=3):
    bus.set(unit, 3, 772, [1])                        # auto mode
    bus.set(unit, 3, 1027, [78, 0xFFFF, 276, 1500, 501, 0x0000, 0x08FD])
    bus.set(unit, 3, 1408, [state])
    bus.set(unit, 3, 1536, [0xFFFF, 0xF63C])          # -2500 W (s32)
    bus.set(unit, 3, 1798, [0x0001, 0x5180])          # 86400 s
    bus.set(unit, 3, 1808, [0x0000, 0x0021])          # 33 starts
    bus.set(unit, 3, 39425, [0, 0, 0, 0, 0])


def test_dse_decodes_with_sentinels():
    bus = FakeBus()
    dse_regs(bus)
    d = dev('genset', 'dse_gencomm', 10, bus)
    d.poll(0)
    v = d.values
    assert v['mode'] == 1 and v['fuel_pct'] == 78
    assert close(v['batt_v'], 27.6) and v['rpm'] == 1500 and close(v['hz'], 50.1)
    assert close(v['v_l1'], 230.1)
    assert v['engine_state'] == 3 and v['power_w'] == -2500
    assert v['run_s'] == 86400 and v['starts'] == 33
    for r in bus.reads:
        assert r[1] == 3
        assert r[2] // 256 == (r[2] + r[3] - 1) // 256


def test_dse_sentinel_register_is_none():
    bus = FakeBus()
    dse_regs(bus)
    bus.set(10, 3, 1408, [0xFFFF])      # state not implemented by this model
    bus.set(10, 3, 1030, [0xFFFF])      # no speed sensor
    d = dev('genset', 'dse_gencomm', 10, bus)
    d.poll(0)
    assert d.values['engine_state'] is None and d.values['rpm'] is None
    assert close(d.values['hz'], 50.1)
    assert site.gen_state(d.values, True) == 'running'     # from frequency


def test_silent_device_goes_offline_and_backs_off():
    bus = FakeBus()
    dse_regs(bus)
    bus.silent.add(10)
    d = dev('genset', 'dse_gencomm', 10, bus)
    for i in range(poller.MISSES_OFFLINE - 1):
        assert not d.poll(0)
        assert len(bus.reads) == i + 1      # one timeout a cycle, not one a request
    assert d.online is False and d.misses == poller.MISSES_OFFLINE - 1
    d.poll(0)
    assert d.online is False and d.next_try is not None
    p = poller.Poller([d])
    n = len(bus.reads)
    p.cycle(0)                              # not due yet: no request at all
    assert len(bus.reads) == n
    assert d.errors(TIMEOUT) == poller.MISSES_OFFLINE
    assert all(d.values[k] is None for k in d.values if k != 'online')


def test_backoff_grows_while_offline_and_resets_on_answer():
    bus = FakeBus()
    bus.silent.add(10)
    d = dev('genset', 'dse_gencomm', 10, bus)
    for _ in range(poller.MISSES_OFFLINE):
        d.poll(0)
    first = d.backoff_ms
    d.poll(0)
    assert d.backoff_ms == 2 * first
    for _ in range(10):
        d.poll(0)
    assert d.backoff_ms == poller.BACKOFF_MAX_MS
    bus.silent.discard(10)
    dse_regs(bus)
    assert d.poll(5)
    assert d.online and d.backoff_ms == poller.BACKOFF_MIN_MS and d.last_ok == 5


def test_values_do_not_go_stale_after_a_miss():
    bus = FakeBus()
    dse_regs(bus)
    d = dev('genset', 'dse_gencomm', 10, bus)
    d.poll(0)
    assert d.values['fuel_pct'] == 78
    bus.silent.add(10)
    d.poll(0)
    assert d.values['fuel_pct'] is None and d.online   # not yet offline
    bus.silent.discard(10)
    d.poll(0)
    assert d.values['fuel_pct'] == 78                  # decoded again after the gap


def test_garbage_answer_clears_its_block_only():
    bus = FakeBus()
    dse_regs(bus)
    bus.fail[(10, 3, 1024)] = BusError(FRAME, 'invalid response CRC')
    d = dev('genset', 'dse_gencomm', 10, bus)
    assert d.poll(0)
    assert d.values['fuel_pct'] is None and d.values['mode'] == 1
    assert d.errors(FRAME) == 1 and d.online


def test_exception_answer_means_alive():
    bus = FakeBus()
    dse_regs(bus)
    # Exception 4 (device failure): exception 2 to a long read splits it
    # (test_refused_long_read_is_split_*).
    for r in (769, 1024, 1408, 1536, 1798, 39425):
        bus.fail[(10, 3, r)] = BusError(EXCEPTION, '4')
    d = dev('genset', 'dse_gencomm', 10, bus)
    assert d.poll(0) and d.online
    assert d.errors(EXCEPTION) == 6


def test_short_answer_is_a_frame_error():
    class Short(FakeBus):
        def read(self, unit, fc, start, count):
            return b'\x00\x01'
    d = dev('bms1', 'pace_bms', 3, Short())
    assert not d.poll(0)
    assert d.errors(FRAME) == 1 and d.values['soc'] is None


def test_write_goes_through_the_same_layer():
    bus = FakeBus()
    d = dev('genset', 'dse_gencomm', 10, bus)
    assert d.write(4104, [35732, 65535 - 35732]) is None
    assert bus.writes == [(10, 4104, [35732, 29803])]
    bus.silent.add(10)
    err = d.write(4104, [35733, 65535 - 35733])
    assert err == 'timeout: no answer' and d.errors(TIMEOUT) == 1


def test_poll_every_skips_cycles_but_not_offline_retries():
    bus = FakeBus()
    epever_regs(bus)
    d = poller.Device({'name': 'm', 'unit': 1, 'poll_every': 3},
                      profiles.load('epever_tracer'), bus)
    p = poller.Poller([d])
    for _ in range(6):
        p.cycle(0)
    # cycle 1 (first contact, not yet online), 3 and 6
    assert len(bus.reads) == 3 * 3


def test_retry_deadline_across_the_tick_wrap():
    # On the board ticks_ms wraps at 2**30 ms (12.4 days): a deadline
    # stored as now + backoff becomes a heap int past the wrap, which
    # ticks_diff cannot take (OverflowError on the 32-bit build), so an
    # offline device would never be retried. ticks_add keeps it in range.
    from firmware.compat import ticks_add, ticks_diff
    now = ticks_add(0, -100)            # 100 ms before the wrap on MicroPython
    saved = poller.ticks_ms
    poller.ticks_ms = lambda: now
    try:
        bus = FakeBus()
        bus.silent.add(10)
        d = dev('genset', 'dse_gencomm', 10, bus)
        for _ in range(poller.MISSES_OFFLINE):
            d.poll(0)
    finally:
        poller.ticks_ms = saved
    assert d.online is False
    assert ticks_diff(d.next_try, now) == d.backoff_ms
    assert not d.due(ticks_add(now, d.backoff_ms - 1))
    assert d.due(ticks_add(now, d.backoff_ms))


def test_a_unit_that_answers_but_not_for_some_values_says_they_are_missing():
    # Online (it answers), yet one request is refused every cycle: after
    # MISSES_OFFLINE cycles that request is missing, and the alarm says so;
    # when it answers again both clear.
    from firmware.alarms import Alarms
    bus = FakeBus()
    dse_regs(bus)
    bus.fail[(10, 3, 1024)] = BusError(EXCEPTION, '4')     # '2' would split the read
    d = dev('genset', 'dse_gencomm', 10, bus)
    al = Alarms({'delay_s': 0, 'batt_low_soc': 20, 'batt_low_v': 46, 'batt_crit_soc': 10,
                 'batt_crit_v': 44, 'batt_temp_c': 50}, ['genset'])
    snap = {'batt_soc': 50, 'batt_v': 52.0, 'batt_protect': None, 'grid_ok': None}
    for n in range(1, poller.MISSES_OFFLINE + 1):
        assert d.poll(n) and d.online
        assert d.missing == (1 if n >= poller.MISSES_OFFLINE else 0)
        al.evaluate(snap, [d], n * 1000, n)
    assert d.values['fuel_pct'] is None
    assert al.is_active('dev_data_missing')
    del bus.fail[(10, 3, 1024)]
    assert d.poll(9) and d.missing == 0 and d.values['fuel_pct'] is not None
    al.evaluate(snap, [d], 9000, 9)
    assert not al.is_active('dev_data_missing')


# Exception 2 is "illegal data address", and the MODBUS Application Protocol
# Specification V1.1b3 (section 7, exception code 02) says it may mean that
# "the combination of reference number and transfer length is invalid":
# a unit may refuse a read for its length alone. EPEver's LS-B series is
# reported (issue 13) to refuse reads of 20 or more registers from 0x3100.
class LsbBus(FakeBus):
    def __init__(self, longest=19):
        super().__init__()
        self.longest = longest

    def read(self, unit, fc, start, count):
        if fc == 4 and 0x3100 <= start < 0x3200 and count > self.longest:
            self.reads.append((unit, fc, start, count))
            raise BusError(EXCEPTION, 2)        # as firmware/hw/rtu.py raises it
        return super().read(unit, fc, start, count)


def test_refused_long_read_is_split_and_the_values_arrive_that_cycle():
    bus = LsbBus()
    epever_regs(bus)
    d = dev('mppt1', 'epever_tracer', 1, bus)
    long_read = d.reqs[0]
    assert long_read[2] >= 20
    assert d.poll(1000) and d.online
    v = d.values
    assert close(v['pv_v'], 73.0) and close(v['batt_v'], 53.0) and v['soc'] == 75
    assert close(v['charge_w'], 848.0) and close(v['batt_temp_c'], -5.25)
    assert d.refused == long_read[2] and 0 < d.limit < 20
    assert d.missing == 0 and len(d.reqs) == 4
    # Built once, when learnt: the next cycles read the split plan as it is,
    # and the unit never sees the long read again.
    split = d.reqs
    n = len(bus.reads)
    d.poll(1002)
    d.poll(1004)
    assert d.reqs is split
    assert all(r[3] < 20 for r in bus.reads[n:] if r[2] < 0x3200) and len(bus.reads) - n == 8
    assert d.errors(EXCEPTION) == 1


def test_split_is_forgotten_when_the_unit_goes_offline():
    bus = LsbBus()
    epever_regs(bus)
    d = dev('mppt1', 'epever_tracer', 1, bus)
    coalesced = d.reqs
    d.poll(1000)
    assert d.limit and d.reqs is not coalesced
    bus.silent.add(1)
    for k in range(3):
        d.poll(1002 + 2 * k)
    assert not d.online
    # Another unit may be put in its place: it starts from the coalesced plan.
    assert d.reqs is coalesced and d.limit == 0 and d.refused == 0
    assert len(d._fails) == len(coalesced)


def test_unit_that_takes_the_long_read_keeps_the_coalesced_plan():
    bus = FakeBus()
    epever_regs(bus)
    d = dev('mppt1', 'epever_tracer', 1, bus)
    coalesced = d.reqs
    for k in range(3):
        d.poll(1000 + 2 * k)
    assert d.reqs is coalesced and d.limit == 0 and len(bus.reads) == 9


def test_other_exceptions_and_single_points_are_not_split():
    bus = FakeBus()
    epever_regs(bus)
    bus.fail[(1, 4, 0x3100)] = BusError(EXCEPTION, 4)     # device failure
    d = dev('mppt1', 'epever_tracer', 1, bus)
    d.poll(1000)
    assert len(d.reqs) == 3 and d.limit == 0 and d.values['pv_v'] is None
    bus = FakeBus()
    bus.fail[(10, 3, 772)] = BusError(EXCEPTION, 2)        # one register it lacks
    d = dev('genset', 'dse_gencomm', 10, bus)
    n = len(d.reqs)
    d.poll(0)
    assert len(d.reqs) == n and d.limit == 0


def test_a_unit_refusing_every_read_costs_at_most_max_splits_more_requests():
    class Refuses(FakeBus):
        def read(self, unit, fc, start, count):
            self.reads.append((unit, fc, start, count))
            raise BusError(EXCEPTION, 2)
    bus = Refuses()
    d = dev('mppt1', 'epever_tracer', 1, bus)
    n = len(d.reqs)
    for k in range(5):
        d.poll(1000 + 2 * k)
    assert len(d.reqs) <= n + poller.MAX_SPLITS
    m = len(bus.reads)
    d.poll(2000)
    assert len(bus.reads) - m == len(d.reqs)


def test_values_are_the_decimals_the_device_sent():
    # EPEver's register list V2.5: 0x3100 PV voltage x0.01 V. A raw 35 is
    # 0.35 V; multiplied by the scale it is 0.35000000000000003 (and 53.74
    # V is 53.739996 on the board's 32-bit floats): divided by 100 it is
    # the decimal the device sent.
    bus = FakeBus()
    epever_regs(bus)
    bus.set(1, 4, 0x3100, [35])
    d = dev('mppt1', 'epever_tracer', 1, bus)
    d.poll(0)
    assert d.values['pv_v'] == 0.35 and repr(d.values['pv_v']) == '0.35'
    assert d.values['batt_v'] == 53.0 and d.values['soc'] == 75
    dp = dict(zip(d.names, d.dp))
    assert dp['pv_v'] == 2 and dp['soc'] == 0 and dp['charge_status'] == 0


def test_meter_floats_go_out_at_the_meters_resolution():
    # Eastron SDM630 Modbus protocol V1.8: every value a float32, which
    # carries more digits than the meter measures: dev/<name> and the
    # console give V to 0.1, A to 0.001, W to 1, PF to 0.001, Hz to 0.01,
    # kWh to 0.01 (the meter's display).
    bus = FakeBus()
    bus.set(2, 4, 0, f32_words('4365D800'))              # 229.84375 V
    bus.set(2, 4, 6, f32_words('40A0A3D7'))              # 5.02 A (5.0199999...)
    bus.set(2, 4, 52, f32_words('44902666'))             # 1153.2 W (1153.199951...)
    bus.set(2, 4, 62, f32_words('3F700000'))             # PF 0.9375
    bus.set(2, 4, 70, f32_words('4247999A'))             # 49.9 Hz (49.900001...)
    bus.set(2, 4, 72, f32_words('473C9A8F'))             # 48282.56 kWh
    d = dev('meter', 'eastron_sdm630', 2, bus, 'grid')
    d.poll(0)
    out = d.out()
    assert out['v_l1'] == 229.8 and out['a_l1'] == 5.02 and out['power_w'] == 1153
    assert out['pf'] == 0.938 and out['hz'] == 49.9 and out['import_kwh'] == 48282.56
    assert out['online'] is True and out['v_l2'] == 0.0
    assert close(d.values['v_l1'], 229.84375)      # what the site computes with
def test_dse_reads_its_whole_named_alarm_block_in_one_request():
    # DSE 72xx/73xx MkII: 80 named alarms in 20 registers from 39425 (GenComm
    # page 154; victronenergy/dbus-modbus-client dse.py: alarm_base 39425,
    # alarm_count 20 for that family). Alarm 14 (0-based 13, fail to start)
    # sits in register 39428, second nibble; alarm 80 in 39444's last.
    bus = FakeBus()
    dse_regs(bus)
    words = [0x1111] * 20
    words[3] = 0x1311
    words[19] = 0x111A
    bus.set(10, 3, 39425, words)
    d = dev('genset', 'dse_gencomm', 10, bus)
    d.poll(0)
    assert (10, 3, 39425, 20) in bus.reads
    assert len(bus.reads) == 6
    assert site.dse_alarm(d.blk, 13) == 3 and site.dse_alarm(d.blk, 79) == 10
    assert site.dse_alarm(d.blk, 12) == 1
    assert d.values['alarms3'] == 0x1311 and 'alarms' not in d.values
    bus.fail[(10, 3, 39425)] = BusError(EXCEPTION, '4')
    d.poll(1)
    assert d.blk is None and d.values['alarms3'] is None


def test_dse_instrumentation_users_read():
    # GenComm page 4 (basic instrumentation), page 6 (derived) and page 7
    # (accumulated) as victronenergy/dbus-modbus-client dse.py reads them:
    # 1024 oil pressure kPa, 1025 coolant and 1026 oil temperature degC
    # (s16), 1032/1034/1036 L1-L3 voltage u32 x0.1 V, 1044.. currents u32 x0.1
    # A, 1052.. powers s32 W, 1558 engine load s16 x0.1 %, 1800 kWh u32 x0.1;
    # 769 the model number (32840 = 7310 MKII there).
    bus = FakeBus()
    dse_regs(bus)
    bus.set(10, 3, 769, [32840])
    bus.set(10, 3, 1024, [310, 0xFFF6, 95])               # 310 kPa, -10 degC, 95 degC
    bus.set(10, 3, 1032, [0, 2301, 0, 2295, 0, 2310])
    bus.set(10, 3, 1044, [0, 125, 0, 131, 0xFFFF, 0xFFFF])   # L3: u32 sentinel (unimplemented)
    bus.set(10, 3, 1052, [0, 2800, 0, 2900, 0xFFFF, 0xFF38])   # -200 W on L3
    bus.set(10, 3, 1558, [412])
    bus.set(10, 3, 1800, [0x0004, 0xC4B5])               # 31250.1 kWh
    d = dev('genset', 'dse_gencomm', 10, bus)
    d.poll(0)
    v = d.values
    assert v['model'] == 32840 and v['oil_kpa'] == 310
    assert v['coolant_c'] == -10 and v['oil_c'] == 95
    assert close(v['v_l1'], 230.1) and close(v['v_l2'], 229.5) and close(v['v_l3'], 231.0)
    assert close(v['a_l1'], 12.5) and close(v['a_l2'], 13.1) and v['a_l3'] is None
    assert v['w_l1'] == 2800 and v['w_l3'] == -200
    assert close(v['load_pct'], 41.2) and close(v['kwh'], 31250.1)
    assert len(bus.reads) == 6


def coil_bits(data):
    """FC01 answer bytes as one 0/1 a coil, the first coil in bit 0."""
    return [(b >> k) & 1 for b in data for k in range(8)]


def test_seplos_event_bits_feed_protection_warning_and_charge():
    # A stack's EIC (0x2200, 80 coils) as the published capture answers it
    # (patman15/BMS_BLE-HA tests/test_seplos_bms.py): b"\x01\x00.." is
    # "discharge, dis/charge-FET on, no alarm"; its problem case sets every
    # bit of TB02..TB06 and TB15 (bytes 1-9: FF FF FF FF FF FF FF 03 FF).
    bus = FakeBus()
    bus.set(0, 4, 0x2000, SEPLOS_EIA)
    bus.set(0, 4, 0x2100, SEPLOS_EIB)
    bus.set(0, 1, 0x2200, coil_bits(b'\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00'))
    d = seplos_dev(bus, stack_head=True)
    d.poll(0)
    s = site.update(site.new([d]), [d], 0)
    assert s['batt_protect'] is False and s['batt_warn'] is False and s['batt_no_charge'] is False
    bus.set(0, 1, 0x2200, coil_bits(b'\x01\xff\xff\xff\xff\xff\xff\xff\x03\xff'))
    d.poll(1)
    s = site.update(s, [d], 1)
    assert s['batt_protect'] is True and s['batt_no_charge'] is True
    # One bit at a time (TB02, byte 1): cell low alarm (bit 2) asks for
    # charge; cell under-voltage protection (bit 3) protects and still
    # allows charge; cell over-voltage protection (bit 1) forbids it.
    for byte1, prot, warn, nochg in ((0x04, False, True, False), (0x08, True, False, False),
                                     (0x02, True, False, True)):
        bus.set(0, 1, 0x2200, coil_bits(bytes([0x01, byte1]) + bytes(8)))
        d.poll(2)
        s = site.update(s, [d], 2)
        assert (s['batt_protect'], s['batt_warn'], s['batt_no_charge']) == (prot, warn, nochg), byte1
    # A pack's own bits are at 0x1240 (PIC); TB06 bit 0, SOC low, asks for charge.
    bus.set(0, 4, 0x1000, SEPLOS_PIA1)
    bus.set(0, 1, 0x1240, coil_bits(bytes(6) + b'\x01' + bytes(3)))
    p = seplos_dev(bus)
    p.poll(0)
    s = site.update(site.new([p]), [p], 0)
    assert s['batt_warn'] is True and s['batt_protect'] is False


def test_a_dse_with_twenty_alarms_keeps_its_five_alarm_registers():
    # The 20-alarm families (5 registers from 39425) refuse the MkII's
    # 20-register block with exception 2 (illegal data address: Modbus
    # Application Protocol V1.1b3, 7). The read is split until the block
    # point stands alone: alarms0..4 keep coming, the block stays unread,
    # and no half ever reads less than a point it carries needs.
    bus = FakeBus()
    dse_regs(bus)
    bus.set(10, 3, 39425, [0x1111, 0x1111, 0x1111, 0x1311, 0x1111])
    for a in range(39430, 39445):
        bus.lacks.add((10, 3, a))
    d = dev('genset', 'dse_gencomm', 10, bus)
    for n in range(3):
        assert d.poll(n) and d.online
    assert d.values['alarms3'] == 0x1311 and d.values['alarms4'] == 0x1111
    assert d.blk is None and d.values['fuel_pct'] == 78
    assert d.limit and d.refused == 20
