# The site picture: packs combined, fallbacks, grid health, genset state and
# the DC balance that derives the load where no load meter exists.
from firmware import profiles, poller, site
from helpers import FakeBus, close


class D:
    """A decoded device as site.update sees it."""
    def __init__(self, name, profile, values, online=True, role=None):
        p = profiles.load(profile)
        self.name = name
        self.kind = p.KIND
        self.role = role
        self.online = online
        self.values = {}
        for pt in p.POINTS:
            self.values[pt[0]] = None
        self.values.update(values)
        self.values['online'] = online


def snap(devs, ts=100):
    s = site.new(devs)
    return site.update(s, devs, ts)


MPPT = {'pv_w': 2000.0, 'charge_w': 1900.0, 'batt_v': 52.0, 'soc': 70, 'batt_net_a': 5.0}
GRID = {'power_w': 1000.0, 'v_l1': 231.0, 'hz': 50.0}
GEN_OFF = {'engine_state': 0, 'fuel_pct': 80, 'hz': 0.0, 'rpm': 0, 'power_w': 0}


def test_fields_present_and_ts():
    s = snap([])
    for f in site.FIELDS:
        assert f in s
    assert s['ts'] == 100 and s['dev'] == {}


def test_packs_combine_as_the_field_does():
    devs = [D('b1', 'pace_bms', {'voltage_v': 52.0, 'current_a': 10.0, 'soc': 80,
                                 'full_ah': 100.0, 'protection': 0, 'warning': 0}),
            D('b2', 'pace_bms', {'voltage_v': 52.2, 'current_a': 12.0, 'soc': 60,
                                 'full_ah': 100.0, 'protection': 4, 'warning': 0})]
    s = snap(devs)
    assert close(s['batt_a'], 22.0)
    assert s['batt_soc'] == 60                       # weakest pack
    assert close(s['batt_ah'], 200.0)
    assert s['batt_protect'] is True and s['batt_warn'] is False
    assert close(s['batt_v'], 52.1)
    assert close(s['batt_w'], 52.1 * 22.0, 1e-6)
    assert s['batt_src'] == 'bms'


def test_offline_pack_is_left_out():
    devs = [D('b1', 'pace_bms', {'voltage_v': 52.0, 'current_a': 10.0, 'soc': 80}),
            D('b2', 'pace_bms', {}, online=False)]
    s = snap(devs)
    assert s['batt_soc'] == 80 and close(s['batt_a'], 10.0)


def test_battery_falls_back_to_the_charger_when_bms_silent():
    devs = [D('m', 'epever_tracer', MPPT), D('b1', 'pace_bms', {}, online=False)]
    s = snap(devs)
    assert s['batt_src'] == 'mppt'
    assert s['batt_v'] == 52.0 and s['batt_soc'] == 70 and s['batt_a'] == 5.0


def test_nothing_known_is_none():
    s = snap([D('b1', 'pace_bms', {}, online=False)])
    assert s['batt_v'] is None and s['batt_soc'] is None and s['batt_w'] is None
    assert s['load_w'] is None and s['grid_ok'] is None and s['gen_state'] is None


def test_grid_health():
    assert snap([D('g', 'eastron_sdm630', GRID, role='grid')])['grid_ok'] is True
    low = dict(GRID, v_l1=120.0)
    assert snap([D('g', 'eastron_sdm630', low, role='grid')])['grid_ok'] is False
    off_hz = dict(GRID, hz=0.0)
    assert snap([D('g', 'eastron_sdm630', off_hz, role='grid')])['grid_ok'] is False
    assert snap([D('g', 'eastron_sdm630', {}, online=False, role='grid')])['grid_ok'] is None


def test_gen_states():
    names = ['stopped', 'starting', 'warming', 'running', 'cooling', 'stopped', 'cooling']
    for code, name in enumerate(names):
        assert site.gen_state({'engine_state': code}, True) == name
    assert site.gen_state({'engine_state': 3}, False) == 'unknown'
    assert site.gen_state({'engine_state': None, 'rpm': 1500, 'hz': None}, True) == 'running'
    assert site.gen_state({'engine_state': None, 'rpm': 0, 'hz': 0.0}, True) == 'stopped'
    assert site.gen_state({'engine_state': None, 'rpm': None, 'hz': None}, True) == 'unknown'
    # A shutdown alarm (level 3) in the named-alarm nibbles is a fault.
    assert site.gen_state({'engine_state': 0, 'alarms1': 0x0300}, True) == 'fault'
    assert site.gen_state({'engine_state': 3, 'alarms0': 0x0002}, True) == 'running'


def test_generator_meter_outranks_controller_figures():
    devs = [D('g', 'dse_gencomm', {'engine_state': 3, 'power_w': 4000, 'hz': 50.0}),
            D('gm', 'eastron_sdm630', {'power_w': 4100.0, 'hz': 49.9}, role='generator')]
    s = snap(devs)
    assert s['gen_w'] == 4100.0 and s['gen_hz'] == 49.9 and s['gen_state'] == 'running'


def test_load_derived_from_dc_balance():
    devs = [D('m', 'epever_tracer', MPPT),
            D('b', 'pace_bms', {'voltage_v': 50.0, 'current_a': 10.0, 'soc': 70}),
            D('g', 'eastron_sdm630', GRID, role='grid'),
            D('gen', 'dse_gencomm', GEN_OFF)]
    s = snap(devs)
    # charger 1900 W + rectifier 0.95 x 1000 W - battery charging 500 W
    assert close(s['load_w'], 1900.0 + 950.0 - 500.0)
    assert s['load_derived'] is True


def test_load_unknown_when_a_source_is_silent():
    devs = [D('m', 'epever_tracer', MPPT),
            D('b', 'pace_bms', {'voltage_v': 50.0, 'current_a': 10.0, 'soc': 70}),
            D('g', 'eastron_sdm630', {}, online=False, role='grid')]
    assert snap(devs)['load_w'] is None


def test_load_meter_is_measured_not_derived():
    devs = [D('b', 'pace_bms', {'voltage_v': 50.0, 'current_a': -30.0, 'soc': 70}),
            D('l', 'eastron_sdm120', {'power_w': 1480.0}, role='load')]
    s = snap(devs)
    assert s['load_w'] == 1480.0 and s['load_derived'] is False


def test_per_device_values_and_online_flags_ride_along():
    bus = FakeBus()
    d = poller.Device({'name': 'b', 'unit': 3}, profiles.load('pace_bms'), bus)
    s = site.new([d])
    bus.set(3, 3, 0, [100, 5200, 55])
    d.poll(0)
    site.update(s, [d], 1)
    assert s['dev']['b']['online'] is True and s['dev']['b']['soc'] == 55
    assert s['batt_soc'] == 55


# PACE BMS Modbus protocol V1.3 (PACE-BMS-Modbus-Protocol-for-RS485-V1.3,
# 2017-06-27, as tabulated by syssi/esphome-pace-bms): register 9 warning
# flags bit 0 cell over-voltage, 1 cell under-voltage, 2 pack over-voltage,
# 3 pack under-voltage, 8 charging high temperature, 15 SOC low; register 11
# status bit 10 the charge MOSFET on.
PACE_OK = {'voltage_v': 55.0, 'current_a': 2.0, 'soc': 99, 'protection': 0, 'status': 1 << 10}


def test_only_a_low_warning_asks_for_charge():
    for bits, asks in ((1 << 0, False), (1 << 2, False), (1 << 8, False), (1 << 15, False),
                       (1 << 1, True), (1 << 3, True), ((1 << 0) | (1 << 1), True)):
        s = snap([D('b1', 'pace_bms', dict(PACE_OK, warning=bits))])
        assert s['batt_warn'] is asks, bits


def test_high_warnings_a_closed_charge_mosfet_and_a_zero_limit_forbid_charge():
    ok = snap([D('b1', 'pace_bms', dict(PACE_OK, warning=0))])
    assert ok['batt_no_charge'] is False
    for bits in (1 << 0, 1 << 2, 1 << 8):
        s = snap([D('b1', 'pace_bms', dict(PACE_OK, warning=bits))])
        assert s['batt_no_charge'] is True, bits
    low = snap([D('b1', 'pace_bms', dict(PACE_OK, warning=1 << 1))])
    assert low['batt_no_charge'] is False           # a low cell wants charge
    mos = snap([D('b1', 'pace_bms', dict(PACE_OK, warning=0, status=0))])
    assert mos['batt_no_charge'] is True
    prot = snap([D('b1', 'pace_bms', dict(PACE_OK, warning=0, protection=1))])
    assert prot['batt_no_charge'] is True
    # One pack of two forbidding is enough: they share the bus bar.
    two = snap([D('b1', 'pace_bms', dict(PACE_OK, warning=0)),
                D('b2', 'pace_bms', dict(PACE_OK, warning=1))])
    assert two['batt_no_charge'] is True
    sep = snap([D('s', 'seplos_v3', {'voltage_v': 53.0, 'current_a': 0.0, 'soc': 99,
                                     'max_chg_a': 0, 'max_dis_a': 100})])
    assert sep['batt_no_charge'] is True
    sep = snap([D('s', 'seplos_v3', {'voltage_v': 53.0, 'current_a': 0.0, 'soc': 90,
                                     'max_chg_a': 50, 'max_dis_a': 100})])
    assert sep['batt_no_charge'] is False
    assert snap([D('b1', 'pace_bms', {}, online=False)])['batt_no_charge'] is None


# GenComm's named-alarm codes, 4 bits an alarm (DSE GenComm page 154; the
# same levels victronenergy/dbus-modbus-client dse.py maps: 2 warning, 3
# shutdown, 4 electrical trip; 8-10 are indications, 15 unimplemented).
def _blk(codes, n=20):
    """Page 154's 20 registers as bytes: every alarm 1 (not active) but
    those in `codes` ({index: code})."""
    b = bytearray(b'\x11' * (2 * n))
    for i, c in codes.items():
        k = i >> 1
        b[k] = (b[k] & 0x0F) | (c << 4) if not i & 1 else (b[k] & 0xF0) | c
    return b


def test_dse_indications_are_never_a_fault():
    run = {'engine_state': 3}
    for code in (0, 1, 5, 7, 8, 9, 10, 11, 14, 15):
        # In the whole block (an 80-alarm 73xx MkII) and in the first five words.
        assert site.gen_state(run, True, _blk({60: code, 3: code})) == 'running', code
        assert site.gen_state(dict(run, alarms1=code << 8), True) == 'running', code
    # A warning is no fault either; a shutdown or an electrical trip is.
    assert site.gen_state(run, True, _blk({1: 2})) == 'running'
    assert site.gen_state(run, True, _blk({1: 3})) == 'fault'
    assert site.gen_state(run, True, _blk({79: 4})) == 'fault'     # alarm 80: past the old 20
    assert site.gen_state(dict(run, alarms4=0x0004), True) == 'fault'


def test_an_indication_does_not_stop_the_generator_logic():
    # A 7320 with inputs set up as indications (code 10 = active indication
    # everywhere): the site still sees it running, and a DSE start that the
    # module runs is confirmed, not locked out as a failure to start.
    from firmware import generator as G
    from gen_sim import gcfg
    class Gen(D):
        blk = _blk({i: 10 for i in range(80)})
    g = Gen('genset', 'dse_gencomm', {'engine_state': 3, 'hz': 50.0, 'rpm': 1500})
    s = snap([g])
    assert s['gen_state'] == 'running' and G.running_feedback(s) is True
    gen = G.Generator(gcfg(), 0)
    gen.manual = True
    gen.mode = 'manual'
    gen.tick(0, 1000, dict(s, gen_state='stopped'))
    assert gen.state_name == 'cranking'
    gen.tick(1000, 1001, s)
    assert gen.state_name == 'warmup'


def test_one_running_threshold_for_the_site_and_the_generator():
    # "Running" from the frequency alone: the same edge (site.RUNNING_HZ) in
    # site.gen_state and generator.running_feedback; 42 Hz (a set still
    # running up) was running for the one and unknown for the other.
    from firmware import generator as G
    for hz in (0.0, 9.0, 40.5, 42.0, 44.9, 45.0, 50.0):
        st = site.gen_state({'engine_state': None, 'rpm': None, 'hz': hz}, True)
        fb = G.running_feedback({'gen_state': None, 'gen_hz': hz})
        assert (st == 'running') == (fb is True), hz
        assert (st == 'running') == (hz >= site.RUNNING_HZ), hz
    assert site.RUNNING_HZ == 45
