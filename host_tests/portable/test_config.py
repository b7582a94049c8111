# Config validation: a valid config gets its defaults; a bad one is refused
# with the key's path named, and nothing half-valid comes back.
import json
from firmware import config as C
from helpers import raises

EXAMPLE = {
    "site_id": "BTS-0042", "poll_s": 2,
    "buses": {"rs485": {"kind": "uart", "uart": 2, "baud": 9600, "tx": 17, "rx": 16, "de": 4},
              "gw": {"kind": "rtu_tcp", "host": "127.0.0.1", "port": 5020}},
    "devices": [
        {"name": "mppt1", "profile": "epever_tracer", "bus": "gw", "unit": 1},
        {"name": "meter", "profile": "eastron_sdm630", "bus": "gw", "unit": 2, "role": "grid"},
        {"name": "bms1", "profile": "pace_bms", "bus": "gw", "unit": 3},
        {"name": "genset", "profile": "dse_gencomm", "bus": "gw", "unit": 10}],
    "mqtt": {"host": "127.0.0.1", "port": 1883, "prefix": "sites"}}


def ex():
    return json.loads(json.dumps(EXAMPLE))   # a deep copy on both ports


def refused(raw):
    return str(raises(C.ConfigError, C.validate, raw))


def test_example_is_valid_and_gets_defaults():
    cfg = C.validate(ex())
    assert cfg['site_id'] == 'BTS-0042'
    assert cfg['buses']['rs485']['parity'] == 'none'
    assert cfg['buses']['rs485']['timeout_ms'] == 300
    assert cfg['buses']['gw']['baud'] == 9600
    assert cfg['devices'][0]['poll_every'] == 1
    assert cfg['devices'][1]['role'] == 'grid'
    assert cfg['devices'][2]['role'] is None


def test_defaults_for_optional_sections():
    raw = ex()
    del raw['poll_s']
    del raw['mqtt']
    cfg = C.validate(raw)
    assert cfg['poll_s'] == 2
    assert cfg['mqtt'] == {'enabled': False, 'host': '127.0.0.1', 'port': 1883, 'prefix': 'sites', 'user': None,
                           'password': None, 'keepalive_s': 60, 'timeout_s': 5,
                           'telemetry_s': 60, 'cmd_key': None, 'tls': False, 'ca_file': None}


def test_meter_role_defaults_to_grid():
    raw = ex()
    del raw['devices'][1]['role']
    assert C.validate(raw)['devices'][1]['role'] == 'grid'


def test_missing_required_keys_named():
    raw = ex()
    del raw['site_id']
    assert refused(raw) == 'site_id: missing'
    raw = ex()
    del raw['devices'][2]['unit']
    assert refused(raw) == 'devices[2].unit: missing'
    raw = ex()
    del raw['buses']['gw']['host']
    assert refused(raw) == 'buses.gw.host: missing'


def test_wrong_types_named():
    raw = ex()
    raw['poll_s'] = '2'
    assert refused(raw) == 'poll_s: must be a number, got "2"'
    raw = ex()
    raw['devices'][0]['unit'] = True
    assert refused(raw) == 'devices[0].unit: must be an integer, got true'
    raw = ex()
    raw['devices'] = {}
    assert refused(raw) == 'devices: must be a list'


def test_ranges_and_choices_named():
    raw = ex()
    raw['devices'][2]['unit'] = 300
    assert refused(raw) == 'devices[2].unit: must be 0..247, got 300'
    raw = ex()
    raw['buses']['rs485']['baud'] = 9601
    assert refused(raw).startswith('buses.rs485.baud: must be one of 1200, 2400')
    raw = ex()
    raw['devices'][0]['profile'] = 'victron'
    assert refused(raw).startswith('devices[0].profile: must be one of epever_tracer')
    raw = ex()
    raw['buses']['gw']['kind'] = 'serial'
    assert refused(raw) == 'buses.gw.kind: must be one of uart, rtu_tcp, tcp, got "serial"'


def test_unknown_keys_refused_as_typos():
    raw = ex()
    raw['pol_s'] = 5
    assert refused(raw).startswith('pol_s: unknown key')
    raw = ex()
    raw['devices'][0]['adress'] = 5
    assert refused(raw).startswith('devices[0].adress: unknown key')


def test_cross_checks():
    raw = ex()
    raw['devices'][0]['bus'] = 'nope'
    assert refused(raw) == 'devices[0].bus: no bus named "nope" (buses: rs485, gw)' or \
        refused(raw) == 'devices[0].bus: no bus named "nope" (buses: gw, rs485)'
    raw = ex()
    raw['devices'][3]['name'] = 'bms1'
    assert refused(raw) == 'devices[3].name: duplicate device name "bms1"'
    raw = ex()
    raw['devices'][3]['unit'] = 3
    assert refused(raw) == 'devices[3].unit: unit 3 already used on bus "gw"'
    raw = ex()
    raw['devices'][2]['role'] = 'grid'
    assert refused(raw) == 'devices[2].role: only meters take a role, "pace_bms" is not a meter'
    raw = ex()
    raw['devices'][2]['unit'] = 0
    assert refused(raw) == 'devices[2].unit: must be 1..247 (0 is broadcast), got 0'
    raw = ex()
    raw['devices'][2]['profile'] = 'seplos_v3'
    raw['devices'][2]['unit'] = 0
    assert C.validate(raw)['devices'][2]['unit'] == 0


def test_bad_names():
    raw = ex()
    raw['site_id'] = 'BTS 42/x'
    assert refused(raw).startswith('site_id: use 1..32 letters')
    raw = ex()
    raw['devices'][0]['name'] = ''
    assert refused(raw) == 'devices[0].name: must not be empty'


def test_input_is_not_modified():
    raw = ex()
    C.validate(raw)
    assert raw == EXAMPLE


def test_bad_json_text():
    e = raises(C.ConfigError, C.loads, '{"site_id": ')
    assert str(e).startswith('(file): not valid JSON')
    e = raises(C.ConfigError, C.loads, '[1, 2]')
    assert str(e) == '(top): must be a JSON object'


def test_missing_file():
    e = raises(C.ConfigError, C.load, '/nonexistent/config.json')
    assert 'not found' in str(e)


def test_generator_section_defaults_and_device():
    cfg = C.validate(ex())
    g = cfg['generator']
    assert g['control'] == 'dse' and g['device'] == 'genset'
    assert g['start_soc'] == 30 and g['stop_soc'] == 90 and g['on_comm_loss'] == 'keep'
    assert g['quiet'] is None
    raw = ex()
    raw['generator'] = {'start_load_w': 3000}
    assert C.validate(raw)['generator']['stop_load_w'] == 2400.0


def test_generator_section_refusals():
    for gen, msg in (
            ({'stop_soc': 20}, 'generator.stop_soc: must be above start_soc (30), got 20'),
            ({'start_v': 48, 'stop_v': 47}, 'generator.stop_v: must be above start_v (48), got 47'),
            ({'control': 'relay'}, 'generator.relay_pin: control "relay" needs the start relay pin'),
            ({'device': 'bms1'}, 'generator.device: no dse_gencomm device named "bms1"'),
            ({'quiet_hours': '22-06'}, 'generator.quiet_hours: must be "HH:MM-HH:MM", got "22-06"'),
            ({'quiet_hours': '25:00-06:00'},
             'generator.quiet_hours: must be a time of day 00:00..23:59, got "25:00"'),
            ({'on_comm_loss': 'panic'},
             'generator.on_comm_loss: must be one of keep, stop, start, got "panic"'),
            ({'fuel_stop_pct': 20}, 'generator.fuel_stop_pct: must not be above fuel_prevent_pct (10)'),
            ({'strat_soc': 20}, None)):
        raw = ex()
        raw['generator'] = gen
        got = refused(raw)
        if msg is None:
            assert got.startswith('generator.strat_soc: unknown key')
        else:
            assert got == msg, got


def test_quiet_hours_parsed_to_minutes():
    raw = ex()
    raw['generator'] = {'quiet_hours': '22:30-06:00'}
    assert C.validate(raw)['generator']['quiet'] == (22 * 60 + 30, 360)


def test_dispatch_tou_and_loads():
    raw = ex()
    raw['dispatch'] = {'reserve_soc': 35, 'tou': [
        {'from': '22:00', 'to': '06:00', 'kind': 'offpeak', 'price': 0.08}]}
    raw['loads'] = [{'name': 'aircon', 'pin': 25, 'priority': 1},
                    {'name': 'core', 'pin': 26, 'critical': True}]
    cfg = C.validate(raw)
    assert cfg['dispatch']['tou'][0]['from_min'] == 1320
    assert cfg['loads'][1]['critical'] is True and cfg['loads'][0]['min_off_s'] == 300
    raw['dispatch']['tou'][0]['kind'] = 'night'
    assert refused(raw).startswith('dispatch.tou[0].kind: must be one of offpeak')
    raw = ex()
    raw['loads'] = [{'name': 'a', 'pin': 25}, {'name': 'a', 'pin': 26}]
    assert refused(raw) == 'loads[1].name: duplicate load name "a"'
    raw = ex()
    raw['loads'] = [{'name': 'a', 'pin': 25, 'shed_v': 48, 'restore_v': 47}]
    assert refused(raw) == 'loads[0].restore_v: must be above shed_v (48), got 47'
    raw = ex()
    raw['loads'] = [{'name': 'a'}]
    assert refused(raw) == 'loads[0].pin: missing'
