# The alarm table: debounce delays, hysteresis, latched and self-clearing
# alarms, acknowledgement, per-device offline alarms, the event queue, and
# no heap allocation for a cycle that changes nothing.
from firmware import alarms as A
from firmware import alarm_table
from firmware import site, profiles, poller
from firmware.poller import MISSES_OFFLINE
from helpers import raises, FakeBus, assert_no_alloc

ACFG = {'batt_low_soc': 30, 'batt_crit_soc': 15, 'batt_low_v': 46.5,
        'batt_crit_v': 45.0, 'batt_temp_c': 45, 'delay_s': 10}
S = 1000   # ms


def new(names=('mppt1', 'bms1', 'meter'), **kw):
    return A.Alarms(ACFG, list(names), **kw)


def snap(**kw):
    s = site.new([])
    s.update({'batt_soc': 80, 'batt_v': 53.0, 'batt_protect': False, 'grid_ok': True})
    s.update(kw)
    return s


class Dev:
    """What evaluate() reads of a poller.Device."""
    def __init__(self, name, kind, values=None, online=True, misses=0):
        self.name = name
        self.kind = kind
        self.values = values or {}
        self.online = online
        self.misses = misses
        self.missing = 0


def events(al):
    return [(e['code'], e['event']) for e in al.drain_events()]


def test_severity_constants_and_names():
    assert (A.CRITICAL, A.MAJOR, A.MINOR, A.WARNING) == (1, 2, 3, 4)
    assert A.severity_name(A.CRITICAL) == 'critical'
    assert A.severity_name(A.WARNING) == 'warning'


def test_table_has_every_code_and_the_latched_ones():
    al = new()
    for c in ('batt_low', 'batt_critical', 'batt_overtemp', 'bms_protect', 'gen_fail_start',
              'gen_unexpected_stop', 'gen_fail_stop', 'gen_low_fuel', 'gen_service_due',
              'gen_max_run', 'grid_lost', 'load_shed', 'batt_data_lost', 'config_fallback',
              'dev_offline.mppt1', 'dev_offline.bms1', 'dev_offline.meter'):
        assert c in al.codes, c
    latched = [row[0] for row in alarm_table.TABLE if row[2]]
    assert sorted(latched) == ['gen_fail_start', 'gen_fail_stop', 'gen_max_run',
                               'gen_unexpected_stop']
    for row in alarm_table.TABLE:
        assert len(row) == 6 and row[1] in A.SEVERITY_NAMES[1:] and row[5]


def test_unknown_code_is_refused():
    al = new()
    raises(ValueError, al.set, 'batt_lo', True, 0, 100)
    raises(ValueError, al.ack, 'dev_offline.nosuch', 100)
    raises(ValueError, al.is_active, 'x')


def test_raise_waits_for_the_raise_delay():
    al = new()
    al.set('gen_low_fuel', True, 0, 100)          # 60 s each way
    al.set('gen_low_fuel', True, 60 * S - 1, 160)
    assert not al.is_active('gen_low_fuel') and al.count_active() == 0
    al.set('gen_low_fuel', True, 60 * S, 160)
    assert al.is_active('gen_low_fuel') and al.count_active() == 1
    assert al.active()[0]['since'] == 160


def test_a_flicker_restarts_the_raise_delay():
    al = new()
    al.set('gen_low_fuel', True, 0, 0)
    al.set('gen_low_fuel', False, 50 * S, 50)
    al.set('gen_low_fuel', True, 55 * S, 55)
    al.set('gen_low_fuel', True, 110 * S, 110)
    assert not al.is_active('gen_low_fuel')
    al.set('gen_low_fuel', True, 115 * S, 115)
    assert al.is_active('gen_low_fuel')


def test_zero_delay_raises_at_once():
    al = new()
    al.set('load_shed', True, 0, 7)
    assert al.is_active('load_shed')
    assert events(al) == [('load_shed', 'raise')]


def test_clear_waits_for_the_clear_delay():
    al = new()
    al.set('gen_low_fuel', True, 0, 0)
    al.set('gen_low_fuel', True, 60 * S, 60)
    al.set('gen_low_fuel', False, 100 * S, 100)
    al.set('gen_low_fuel', True, 120 * S, 120)     # back before the clear delay
    al.set('gen_low_fuel', False, 130 * S, 130)
    al.set('gen_low_fuel', False, 190 * S - 1, 190)
    assert al.is_active('gen_low_fuel')
    al.set('gen_low_fuel', False, 190 * S, 190)
    assert not al.is_active('gen_low_fuel') and al.count_active() == 0
    assert events(al) == [('gen_low_fuel', 'raise'), ('gen_low_fuel', 'clear')]


def test_latched_alarm_stays_until_acked_then_clears_at_once():
    al = new()
    al.set('gen_fail_start', True, 0, 10)
    al.set('gen_fail_start', False, 1 * S, 11)
    al.set('gen_fail_start', False, 3600 * S, 3610)
    assert al.is_active('gen_fail_start')
    assert al.ack('gen_fail_start', 3620, 'noc') == 1
    assert not al.is_active('gen_fail_start')
    ev = al.drain_events()
    assert [(e['event'], e['ts']) for e in ev] == [('raise', 10), ('ack', 3620), ('clear', 3620)]
    assert ev[1]['who'] == 'noc' and 'who' not in ev[0]


def test_latched_alarm_acked_while_its_cause_lasts_clears_with_the_cause():
    al = new()
    al.set('gen_max_run', True, 0, 0)
    assert al.ack('gen_max_run', 5) == 1
    assert al.is_active('gen_max_run') and al.active()[0]['acked'] is True
    al.set('gen_max_run', True, 10 * S, 10)
    assert al.is_active('gen_max_run')
    al.set('gen_max_run', False, 20 * S, 20)
    assert not al.is_active('gen_max_run')
    assert events(al) == [('gen_max_run', 'raise'), ('gen_max_run', 'ack'),
                          ('gen_max_run', 'clear')]


def test_latched_alarm_raises_again_after_it_cleared():
    al = new()
    al.set('gen_fail_stop', True, 0, 0)
    al.set('gen_fail_stop', False, 1 * S, 1)
    al.ack('gen_fail_stop', 2)
    al.set('gen_fail_stop', True, 3 * S, 3)
    assert al.is_active('gen_fail_stop') and al.active()[0]['acked'] is False


def test_ack_of_a_self_clearing_alarm_marks_it_but_keeps_it_active():
    al = new()
    al.set('load_shed', True, 0, 0)
    assert al.ack('load_shed', 1) == 1
    a = al.active()
    assert len(a) == 1 and a[0]['acked'] is True
    assert al.ack('load_shed', 2) == 0              # already acked
    al.set('load_shed', True, 5 * S, 5)
    assert al.is_active('load_shed')
    al.set('load_shed', False, 6 * S, 6)
    assert not al.is_active('load_shed')


def test_ack_all_counts_only_active_unacked_alarms():
    al = new()
    assert al.ack('all', 0) == 0
    al.set('load_shed', True, 0, 0)
    al.set('gen_fail_start', True, 0, 0)
    al.set('config_fallback', True, 0, 0)
    al.ack('config_fallback', 1)
    assert al.ack('gen_service_due', 1) == 0         # not active
    assert al.ack('all', 2, who='mqtt') == 2
    al.drain_events()
    assert al.ack('all', 3) == 0
    assert al.drain_events() == ()


def test_batt_low_by_soc_with_hysteresis_and_delay():
    al = new()
    al.evaluate(snap(batt_soc=29), [], 0, 0)
    al.evaluate(snap(batt_soc=29), [], 9 * S, 9)
    assert not al.is_active('batt_low')
    al.evaluate(snap(batt_soc=29), [], 10 * S, 10)
    assert al.is_active('batt_low')
    # Back above the threshold but inside the band: still low.
    al.evaluate(snap(batt_soc=34), [], 20 * S, 20)
    al.evaluate(snap(batt_soc=35), [], 40 * S, 40)
    assert al.is_active('batt_low')
    al.evaluate(snap(batt_soc=36), [], 50 * S, 50)
    al.evaluate(snap(batt_soc=36), [], 60 * S - 1, 59)
    assert al.is_active('batt_low')
    al.evaluate(snap(batt_soc=36), [], 60 * S, 60)
    assert not al.is_active('batt_low')


def test_batt_low_by_voltage_clears_only_a_volt_above():
    al = new()
    al.evaluate(snap(batt_soc=None, batt_v=46.4), [], 0, 0)
    al.evaluate(snap(batt_soc=None, batt_v=46.4), [], 10 * S, 10)
    assert al.is_active('batt_low')
    al.evaluate(snap(batt_soc=None, batt_v=47.5), [], 20 * S, 20)
    al.evaluate(snap(batt_soc=None, batt_v=47.5), [], 40 * S, 40)
    assert al.is_active('batt_low')
    al.evaluate(snap(batt_soc=None, batt_v=47.6), [], 50 * S, 50)
    al.evaluate(snap(batt_soc=None, batt_v=47.6), [], 60 * S, 60)
    assert not al.is_active('batt_low')


def test_batt_low_needs_both_soc_and_voltage_clear():
    al = new()
    al.evaluate(snap(batt_soc=80, batt_v=46.0), [], 0, 0)
    al.evaluate(snap(batt_soc=80, batt_v=46.0), [], 10 * S, 10)
    assert al.is_active('batt_low')
    al.evaluate(snap(batt_soc=80, batt_v=47.0), [], 20 * S, 20)
    al.evaluate(snap(batt_soc=80, batt_v=47.0), [], 40 * S, 40)
    assert al.is_active('batt_low')


def test_batt_critical_thresholds():
    al = new()
    al.evaluate(snap(batt_soc=16, batt_v=45.1), [], 0, 0)
    al.evaluate(snap(batt_soc=16, batt_v=45.1), [], 10 * S, 10)
    assert al.is_active('batt_low') and not al.is_active('batt_critical')
    al.evaluate(snap(batt_soc=14, batt_v=45.1), [], 20 * S, 20)
    al.evaluate(snap(batt_soc=14, batt_v=45.1), [], 30 * S, 30)
    assert al.is_active('batt_critical')
    assert al.active()[0]['code'] == 'batt_critical'      # most severe first
    al.evaluate(snap(batt_soc=19, batt_v=46.0), [], 40 * S, 40)
    al.evaluate(snap(batt_soc=19, batt_v=46.0), [], 60 * S, 60)
    assert al.is_active('batt_critical')                  # 19 <= 15 + 5
    al.evaluate(snap(batt_soc=21, batt_v=46.1), [], 70 * S, 70)
    al.evaluate(snap(batt_soc=21, batt_v=46.1), [], 80 * S, 80)
    assert not al.is_active('batt_critical')


def test_battery_data_lost_and_the_low_alarm_held_meanwhile():
    al = new()
    al.evaluate(snap(batt_soc=20), [], 0, 0)
    al.evaluate(snap(batt_soc=20), [], 10 * S, 10)
    assert al.is_active('batt_low')
    for t in (20, 49):
        al.evaluate(snap(batt_soc=None, batt_v=None), [], t * S, t)
    assert not al.is_active('batt_data_lost')
    al.evaluate(snap(batt_soc=None, batt_v=None), [], 50 * S, 50)
    al.evaluate(snap(batt_soc=None, batt_v=None), [], 200 * S, 200)
    assert al.is_active('batt_data_lost') and al.is_active('batt_low')
    al.evaluate(snap(batt_soc=20), [], 201 * S, 201)
    assert not al.is_active('batt_data_lost')


def test_overtemp_takes_the_hottest_bms_or_charger_sensor():
    al = new()
    bms = Dev('bms1', 'bms', {'temp1_c': 30.0, 'temp2_c': None, 'temp3_c': 46.0, 'temp4_c': 31.0})
    al.evaluate(snap(), [bms], 0, 0)
    al.evaluate(snap(), [bms], 10 * S, 10)
    assert al.is_active('batt_overtemp')
    bms.values['temp3_c'] = 41.0                          # inside the 5 degC band
    al.evaluate(snap(), [bms], 20 * S, 20)
    al.evaluate(snap(), [bms], 100 * S, 100)
    assert al.is_active('batt_overtemp')
    bms.values['temp3_c'] = 39.9
    al.evaluate(snap(), [bms], 110 * S, 110)
    al.evaluate(snap(), [bms], 170 * S, 170)
    assert not al.is_active('batt_overtemp')

    mppt = Dev('mppt1', 'pv', {'batt_temp_c': 45.5})
    al.evaluate(snap(), [bms, mppt], 200 * S, 200)
    al.evaluate(snap(), [bms, mppt], 210 * S, 210)
    assert al.is_active('batt_overtemp')


def test_overtemp_ignores_offline_devices_and_other_temperatures():
    al = new()
    gone = Dev('bms1', 'bms', {'temp1_c': 60.0}, online=False)
    mos = Dev('bms2', 'bms', {'mos_temp_c': 70.0, 'temp1_c': 30.0})
    charger = Dev('mppt1', 'pv', {'dev_temp_c': 80.0, 'batt_temp_c': 25.0})
    for t in (0, 100):
        al.evaluate(snap(), [gone, mos, charger], t * S, t)
    assert not al.is_active('batt_overtemp')


def test_bms_protect_raises_at_once():
    al = new()
    al.evaluate(snap(batt_protect=True), [], 0, 0)
    assert al.is_active('bms_protect')
    al.evaluate(snap(batt_protect=None), [], 5 * S, 5)     # BMS silent: held
    al.evaluate(snap(batt_protect=None), [], 50 * S, 50)
    assert al.is_active('bms_protect')
    al.evaluate(snap(batt_protect=False), [], 60 * S, 60)
    al.evaluate(snap(batt_protect=False), [], 70 * S, 70)
    assert not al.is_active('bms_protect')


def test_grid_lost_only_when_a_meter_sees_it_bad():
    al = new()
    for t in (0, 1000):
        al.evaluate(snap(grid_ok=None), [], t * S, t)
    assert not al.is_active('grid_lost')
    al.evaluate(snap(grid_ok=False), [], 2000 * S, 2000)
    al.evaluate(snap(grid_ok=False), [], 2010 * S, 2010)
    assert al.is_active('grid_lost')
    al.evaluate(snap(grid_ok=True), [], 2020 * S, 2020)
    al.evaluate(snap(grid_ok=True), [], 2079 * S, 2079)
    assert al.is_active('grid_lost')                       # a minute of good grid first
    al.evaluate(snap(grid_ok=True), [], 2080 * S, 2080)
    assert not al.is_active('grid_lost')


def test_a_silent_grid_meter_does_not_clear_grid_lost():
    al = new()
    al.evaluate(snap(grid_ok=False), [], 0, 0)
    al.evaluate(snap(grid_ok=False), [], 10 * S, 10)
    for t in (20, 100, 1000):
        al.evaluate(snap(grid_ok=None), [], t * S, t)
    assert al.is_active('grid_lost')


def test_device_offline_per_device_and_not_before_its_first_chance():
    al = new()
    mppt = Dev('mppt1', 'pv', online=False, misses=0)      # never polled yet
    bms = Dev('bms1', 'bms', online=False, misses=MISSES_OFFLINE - 1)
    meter = Dev('meter', 'meter', online=True)
    al.evaluate(snap(), [mppt, bms, meter], 0, 0)
    assert al.count_active() == 0
    bms.misses = MISSES_OFFLINE
    al.evaluate(snap(), [mppt, bms, meter], 2 * S, 2)
    assert [a['code'] for a in al.active()] == ['dev_offline.bms1']
    assert al.active()[0]['severity'] == 'minor' and 'bms1' in al.active()[0]['text']
    bms.online = True
    bms.misses = 0
    al.evaluate(snap(), [mppt, bms, meter], 4 * S, 4)
    assert al.count_active() == 0
    stray = Dev('unconfigured', 'pv', online=False, misses=9)
    al.evaluate(snap(), [stray], 6 * S, 6)
    assert al.count_active() == 0


def test_device_offline_from_a_real_poller_device():
    bus = FakeBus()
    bus.silent.add(1)
    d = poller.Device({'name': 'mppt1', 'unit': 1}, profiles.load('epever_tracer'), bus)
    al = new(['mppt1'])
    al.evaluate(snap(), [d], 0, 0)
    for k in range(MISSES_OFFLINE):
        d.poll(k)
        al.evaluate(snap(), [d], (k + 1) * S, k + 1)
        assert al.is_active('dev_offline.mppt1') == (k == MISSES_OFFLINE - 1)


def test_event_records():
    al = new()
    al.set('gen_fail_start', True, 0, 1700000000)
    al.ack('all', 1700000005, who='tech')
    ev = al.drain_events()
    assert ev[0] == {'ts': 1700000000, 'code': 'gen_fail_start', 'event': 'raise',
                     'severity': 'critical'}
    assert ev[1] == {'ts': 1700000005, 'code': 'gen_fail_start', 'event': 'ack',
                     'severity': 'critical', 'who': 'tech'}
    assert al.drain_events() == ()


def test_event_queue_is_bounded_and_counts_what_it_drops():
    al = new(max_events=4)
    for k in range(3):
        al.set('load_shed', True, k * 2 * S, k)
        al.set('load_shed', False, (k * 2 + 1) * S, k)
    ev = al.drain_events()
    assert len(ev) == 4 and al.dropped == 2
    assert [e['event'] for e in ev] == ['raise', 'clear', 'raise', 'clear']
    assert ev[0]['ts'] == 1                                # the oldest went first
    assert al.drain_events() == () and al.dropped == 2


def test_default_queue_holds_32():
    al = new()
    for k in range(20):
        al.set('load_shed', True, k * 2 * S, k)
        al.set('load_shed', False, (k * 2 + 1) * S, k)
    assert len(al.drain_events()) == 32 and al.dropped == 8


def test_active_lists_small_dicts_most_severe_first():
    al = new()
    al.set('config_fallback', True, 0, 1)
    al.set('load_shed', True, 0, 2)
    al.set('gen_fail_stop', True, 0, 3)
    a = al.active()
    assert [x['code'] for x in a] == ['gen_fail_stop', 'load_shed', 'config_fallback']
    assert a[0] == {'code': 'gen_fail_stop', 'severity': 'critical', 'since': 3,
                    'acked': False, 'text': 'generator failed to stop'}
    assert al.count_active() == 3


def _no_alloc(fn, n):
    assert_no_alloc(fn, n)


def test_steady_state_allocates_nothing():
    al = new()
    devs = [Dev('bms1', 'bms', {'temp1_c': 30.5, 'temp2_c': 31.0, 'temp3_c': None,
                                'temp4_c': 29.0}),
            Dev('mppt1', 'pv', {'batt_temp_c': 28.5}),
            Dev('meter', 'meter', online=False, misses=MISSES_OFFLINE + 2),
            Dev('genset', 'genset')]
    devs[-1].blk = bytearray(b'\x11\x11\x11\x11\x11\x11\x13' + b'\x11' * 33)   # fail to start: shutdown
    s = snap(batt_soc=25.0, batt_v=50.5, grid_ok=False)
    al.evaluate(s, devs, 0, 1)
    al.evaluate(s, devs, 20 * S, 2)      # batt_low, grid_lost, dev_offline.meter up
    al.set('gen_fail_start', True, 20 * S, 2)
    assert al.count_active() == 5 and al.is_active('gen_module_fail_start')
    al.drain_events()
    now = 30 * S
    ts = 3

    def cycles(n):
        for _ in range(n):
            al.evaluate(s, devs, now, ts)
            al.set('gen_fail_start', True, now, ts)
            al.set('gen_low_fuel', False, now, ts)
            al.count_active()
            al.drain_events()
    _no_alloc(cycles, 200)
    assert al.count_active() == 5 and al.drain_events() == ()

    quiet = new()
    calm = snap()
    online = devs[:2]

    def calm_cycles(n):
        for _ in range(n):
            quiet.evaluate(calm, online, now, ts)
    _no_alloc(calm_cycles, 200)
    assert quiet.count_active() == 0


def test_mppt_fault_from_0x3201_never_from_its_bit_1_alone():
    # EPEver "LS-B/VS-B/Tracer-B/Tracer-A/iTracer/eTracer Controller
    # Communication Instruction" V2.5, 0x3201 charging equipment status: D0
    # running, D1 "0 normal, 1 fault", D3-D2 charging status, D4 PV input
    # short, D6-D13 the circuits' faults, D15-D14 input voltage (2 higher, 3
    # error). Some firmware sets D1 with no fault (issue 13): a unit in boost
    # with D1 set (0x000B) raises nothing, however long; a PV input short
    # (D4, 0x0013) or a load short (D8) does, D1 or not.
    al = new()
    mppt = Dev('mppt1', 'pv', {'charge_status': 0x000B})
    for k in range(20):
        al.evaluate(snap(), [mppt], k * S, k)
    assert not al.is_active('mppt_fault')
    mppt.values['charge_status'] = 0x0013
    for k in range(20, 27):
        al.evaluate(snap(), [mppt], k * S, k)
    assert al.is_active('mppt_fault')
    mppt.values['charge_status'] = 0x000B
    for k in range(27, 60):
        al.evaluate(snap(), [mppt], k * S, k)
    assert not al.is_active('mppt_fault')
    mppt.values['charge_status'] = 0x0109                # boost, load short, D1 clear
    for k in range(60, 67):
        al.evaluate(snap(), [mppt], k * S, k)
    assert al.is_active('mppt_fault')
    # D15-D14 = 01 is "no input power connected" (night), not a fault.
    al = new()
    mppt = Dev('mppt1', 'pv', {'charge_status': 0x4002})
    for k in range(20):
        al.evaluate(snap(), [mppt], k * S, k)
    assert not al.is_active('mppt_fault')
def test_the_dse_modules_named_alarms_an_operator_acts_on():
    # GenComm page 154, 72xx/73xx MkII order (Victron gui-v2's DSE strings
    # 0x1200..; victronenergy/dbus-modbus-client dse.py alarm_base 39425):
    # 0 emergency stop, 1 low oil pressure, 2 high coolant temperature,
    # 4 under speed, 5 over speed, 12 charge alternator failure, 13 fail
    # to start, 22 low fuel level. A warning (2), shutdown (3) or trip (4)
    # raises; an indication (10) never does.
    al = new(('genset',))
    g = Dev('genset', 'genset')
    blk = bytearray(b'\x11' * 40)
    g.blk = blk
    al.evaluate(snap(), [g], 0, 1)
    assert events(al) == []
    blk[0] = 0x13           # alarm 1 (low oil pressure): shutdown
    blk[6] = 0x21           # alarm 12 (charge alternator failure): warning
    blk[11] = 0xA1          # alarm 22 (low fuel level): an active indication only
    al.evaluate(snap(), [g], S, 2)
    assert sorted(events(al)) == [('gen_charge_alt_fail', 'raise'),
                                  ('gen_low_oil_pressure', 'raise')]
    texts = [a['text'] for a in al.active()]
    assert 'genset: low oil pressure' in texts and 'genset: charge alternator failure' in texts
    g.blk = None            # unread: held
    al.evaluate(snap(), [g], 2 * S, 3)
    assert events(al) == [] and al.is_active('gen_low_oil_pressure')
    g.blk = bytearray(b'\x11' * 40)
    blk = g.blk
    blk[0] = 0x31           # emergency stop: shutdown; low oil pressure gone
    blk[2] = 0x14           # alarm 5 (over speed): electrical trip
    al.evaluate(snap(), [g], 3 * S, 4)
    assert sorted(events(al)) == [('gen_charge_alt_fail', 'clear'), ('gen_emergency_stop', 'raise'),
                                  ('gen_low_oil_pressure', 'clear'), ('gen_over_speed', 'raise')]


def test_a_seplos_hot_cell_raises_the_battery_temperature_alarm():
    # A Seplos V3 reports its hottest cell (PIA 0x100C, EIB 0x2108 on a stack
    # head: firmware/profiles/seplos_v3.py), not PACE's temp1..temp4.
    al = new(('bms1',))
    b = Dev('bms1', 'bms', {'cell_tmax_c': 47.5, 'cell_tmin_c': 30.0})
    al.evaluate(snap(), [b], 0, 1)
    al.evaluate(snap(), [b], 11 * S, 2)
    assert ('batt_overtemp', 'raise') in events(al)


def test_a_seplos_high_temperature_bit_raises_the_temperature_alarm():
    # Seplos V3 TB03 (events byte 2) bit 0: charge high-temperature alarm,
    # raised by the BMS itself whatever its reported temperatures.
    al = new(('bms1',))
    b = Dev('bms1', 'bms', {'cell_tmax_c': 30.0})
    b.blk = bytearray(10)
    al.evaluate(snap(), [b], 0, 1)
    al.evaluate(snap(), [b], 11 * S, 2)
    assert events(al) == []
    b.blk[2] = 0x01
    al.evaluate(snap(), [b], 12 * S, 3)
    al.evaluate(snap(), [b], 23 * S, 4)
    assert ('batt_overtemp', 'raise') in events(al)
