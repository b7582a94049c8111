# Config validation: a valid config gets its defaults; a bad one is refused
# with the key's path named, and nothing half-valid comes back.
from firmware import config as C
from helpers import example, raises


def ex():
    # The example config with its broker named and mqtt.enabled left to the
    # schema, which turns the link on: the tests below count on a link
    # (test_mqtt_link_is_on_when_a_broker_is_named, the watchdog's bound).
    raw = example()
    del raw['mqtt']['enabled']
    return raw


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
                           'telemetry_s': 60, 'dev_s': 300, 'spool_tel_kb': 64, 'spool_ev_kb': 32,
                           'cmd_key': None, 'tls': False, 'ca_file': None, 'ha_discovery': False,
                           'ha_prefix': 'homeassistant', 'ha_commands': False}


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
    assert raw == ex()


def test_bad_json_text():
    e = raises(C.ConfigError, C.loads, '{"site_id": ')
    assert str(e).startswith('(file): not valid JSON')
    e = raises(C.ConfigError, C.loads, '[1, 2]')
    assert str(e) == '(top): must be a JSON object'


def _write(path, chunks):
    with open(path, 'wb') as f:
        for c in chunks:
            f.write(c)
    return path


def test_files_the_heap_cannot_take_are_refused_with_their_reason():
    # Found by an outside campaign: these made the firmware exit with
    # MemoryError, or idle with an empty reason and never try the last
    # known good. Each is now a ConfigError that names what is wrong.
    big = _write('/tmp/sc_big.json', [b' ' * 1024] * 1024)                 # 1 MB of spaces
    e = raises(C.ConfigError, C.load, big)
    assert str(e) == '(file): 1048576 bytes: at most %d' % C.MAX_BYTES
    deep = _write('/tmp/sc_deep.json', [b'[' * 3000, b']' * 3000])
    assert 'nested deeper than 8 levels' in str(raises(C.ConfigError, C.load, deep))
    e = raises(C.ConfigError, C.loads, '{"a": ' * 1000 + '1' + '}' * 1000)
    assert 'nested deeper' in str(e)
    bad = _write('/tmp/sc_latin1.json', [b'{"site_id": "BTS-\xe9"}'])        # a Latin-1 byte
    assert 'not UTF-8' in str(raises(C.ConfigError, C.load, bad))
    utf16 = _write('/tmp/sc_utf16.json', [b'\xff\xfe{\x00}\x00'])
    assert 'not UTF-8' in str(raises(C.ConfigError, C.load, utf16))
    # A bracket inside a string is text, not nesting: the example with a
    # site_id full of them is refused for its name, not its depth.
    e = raises(C.ConfigError, C.loads, '{"site_id": "[[[[[[[[[[\\"{{{{{{{{{"}')
    assert str(e).startswith('site_id: use 1..32 letters'), str(e)
    import os
    for p in (big, deep, bad, utf16):
        os.remove(p)


def test_too_many_devices_are_refused():
    raw = ex()
    d = raw['devices'][0]
    raw['devices'] = []
    for i in range(C.MAX_DEVICES + 1):
        x = dict(d)
        x['name'] = 'dev%d' % i
        x['unit'] = 1 + i
        raw['devices'].append(x)
    assert refused(raw) == 'devices: 17 devices: at most 16 (the board\'s heap)'


def test_a_wildcard_in_a_topic_we_publish_to_is_refused():
    for k in ('prefix', 'ha_prefix'):
        for w in ('sites/#', 'a+b'):
            raw = ex()
            raw['mqtt'][k] = w
            assert refused(raw) == 'mqtt.%s: no MQTT wildcard (# or +) in a topic we publish to' % k


def test_a_pin_used_twice_is_refused_input_or_output():
    raw = ex()
    raw['loads'] = [{'name': 'aircon', 'pin': 25}]
    raw['safe_mode'] = {'pin': 25}
    assert refused(raw) == 'safe_mode.pin: GPIO 25 is already loads[0].pin'


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


def same(a, b):
    # Equal and of the same type all the way down: a default of 46.0 must
    # not come back as 46, nor 30 as 30.0 or None as a string.
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return sorted(a) == sorted(b) and all(same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    return a == b


def test_section_defaults_and_their_types():
    raw = ex()
    raw['loads'] = [{'name': 'a', 'pin': 5}]
    cfg = C.validate(raw)
    assert same(cfg['generator'], {
        'control': 'dse', 'device': 'genset', 'relay_pin': None, 'run_pin': None, 'mode': 'auto',
        'start_soc': 30, 'stop_soc': 90, 'start_v': 46.0, 'stop_v': 53.0, 'start_load_w': None,
        'stop_load_w': None, 'start_delay_s': 60, 'min_run_s': 1800, 'warmup_s': 60, 'cooldown_s': 120,
        'crank_attempts': 3, 'crank_s': 8, 'crank_rest_s': 15, 'stop_timeout_s': 60, 'quiet_hours': None,
        'quiet_override_soc': 15, 'exercise_days': 14, 'exercise_s': 900, 'exercise_hour': 10,
        'service_hours': 250, 'max_run_s': 14400, 'stop_taper_c': 0.02, 'stop_taper_s': 600,
        'max_charge_s': 10800, 'pv_stop_s': 900, 'bms_warn_start': True, 'bms_min_run_s': 3600,
        'grid_loss_start_s': None, 'fuel_prevent_pct': 10, 'fuel_stop_pct': 5, 'on_comm_loss': 'keep',
        'rated_kw': None, 'pv_stop_min_soc': 50, 'outage_start_soc': 20, 'outage_stop_soc': 50, 'fuel_f0': 0.08415, 'fuel_f1': 0.246, 'quiet': None}), cfg['generator']
    assert same(cfg['loads'][0], {
        'name': 'a', 'pin': 5, 'priority': 1, 'critical': False, 'active_high': True, 'shed_v': 46.0,
        'restore_v': 50.0, 'shed_soc': 20, 'restore_soc': 40, 'backup_s': None, 'min_off_s': 300})
    assert same(cfg['alarms'], {'batt_low_soc': 30, 'batt_crit_soc': 15, 'batt_low_v': 46.5,
                                'batt_crit_v': 45.0, 'batt_temp_c': 45, 'delay_s': 10})
    assert same(cfg['console'], {'enabled': True, 'pin': None, 'timeout_s': 300})
    assert same(cfg['dispatch'], {'reserve_soc': 40, 'grid_charge_soc': 80, 'outage_days': 7, 'tou': [],
                                  'grid_pin': None, 'grid_pin_active_high': True,
                                  'grid_charge_pin': None, 'grid_charge_pin_active_high': True,
                                  'pv_charge_coil': True})
    assert same(cfg['buses']['rs485'], {'uart': 2, 'baud': 9600, 'bits': 8, 'parity': 'none', 'stop': 1,
                                        'tx': 17, 'rx': 16, 'de': 4, 'timeout_ms': 300, 'kind': 'uart'})
    assert same(cfg['buses']['gw'], {'host': '127.0.0.1', 'port': 5020, 'baud': 9600, 'timeout_ms': 500,
                                     'kind': 'rtu_tcp'})
    assert same(cfg['devices'][0], {'name': 'mppt1', 'profile': 'epever_tracer', 'bus': 'gw', 'unit': 1,
                                    'role': None, 'enabled': True, 'poll_every': 1,
                                    'current_scale': None, 'stack_head': False})


def test_unknown_key_lists_every_key_in_schema_order():
    for where, want in (
            ((), 'pol_s: unknown key (allowed: site_id, board, poll_s, utc_offset_min, latitude, longitude, persist_s, watchdog_s, buses, '
                  'devices, mqtt, generator, dispatch, loads, alarms, console, safe_mode, net)'),
            (('buses', 'rs485'), 'buses.rs485.pol_s: unknown key (allowed: uart, baud, bits, parity, '
                                 'stop, tx, rx, de, timeout_ms, kind)'),
            (('buses', 'gw'), 'buses.gw.pol_s: unknown key (allowed: host, port, baud, timeout_ms, kind)'),
            (('dispatch',), 'dispatch.pol_s: unknown key (allowed: reserve_soc, grid_charge_soc, outage_days, grid_pin, '
                                         'grid_pin_active_high, grid_charge_pin, '
                                         'grid_charge_pin_active_high, pv_charge_coil, tou)'),
            (('generator',), 'generator.pol_s: unknown key (allowed: control, device, relay_pin, run_pin, '
                             'mode, start_soc, stop_soc, start_v, stop_v, start_load_w, stop_load_w, '
                             'start_delay_s, min_run_s, warmup_s, cooldown_s, crank_attempts, crank_s, '
                             'crank_rest_s, stop_timeout_s, quiet_hours, quiet_override_soc, exercise_days, '
                             'exercise_s, exercise_hour, service_hours, max_run_s, stop_taper_c, '
                             'stop_taper_s, max_charge_s, pv_stop_s, bms_warn_start, bms_min_run_s, '
                             'grid_loss_start_s, fuel_prevent_pct, fuel_stop_pct, on_comm_loss, rated_kw, pv_stop_min_soc, outage_start_soc, outage_stop_soc, '
                             'fuel_f0, fuel_f1)')):
        raw = ex()
        d = raw
        for k in where:
            d = d.setdefault(k, {})
        d['pol_s'] = 5
        assert refused(raw) == want, refused(raw)


def test_type_range_and_choice_messages():
    for sec, key, v, msg in (
            ('mqtt', 'user', 5, 'mqtt.user: must be a string or null, got 5'),
            ('mqtt', 'tls', 1, 'mqtt.tls: must be true or false, got 1'),
            ('mqtt', 'port', 1.0, 'mqtt.port: must be an integer, got 1.0'),
            ('alarms', 'batt_low_v', True, 'alarms.batt_low_v: must be a number, got true'),
            ('generator', 'relay_pin', 'x', 'generator.relay_pin: must be a pin number or null, got "x"'),
            ('generator', 'start_v', 'x', 'generator.start_v: must be a number or null, got "x"'),
            ('generator', 'grid_loss_start_s', 1.5,
             'generator.grid_loss_start_s: must be an integer or null, got 1.5'),
            ('mqtt', 'timeout_s', 0.1, 'mqtt.timeout_s: must be 0.5..60, got 0.1'),
            ('generator', 'stop_taper_c', 2, 'generator.stop_taper_c: must be 0..1, got 2'),
            ('generator', 'mode', 'on', 'generator.mode: must be one of auto, manual, off, got "on"'),
            ('mqtt', 'host', '', 'mqtt.host: must not be empty'),
            ('mqtt', 'user', '', 'mqtt.user: must not be empty')):
        raw = ex()
        raw.setdefault(sec, {})[key] = v
        assert refused(raw) == msg, refused(raw)
    raw = ex()
    raw['utc_offset_min'] = -721
    assert refused(raw) == 'utc_offset_min: must be -720..840, got -721'
    raw = ex()
    raw['devices'][1]['role'] = None
    assert refused(raw) == 'devices[1].role: must be a string, got null'
    raw = ex()
    raw['buses']['rs485']['baud'] = 9601
    assert refused(raw) == ('buses.rs485.baud: must be one of 1200, 2400, 4800, 9600, 19200, 38400, '
                            '57600, 115200, got 9601')
    raw = ex()
    raw['buses']['rs485']['de'] = None
    assert C.validate(raw)['buses']['rs485']['de'] is None


def test_console_pin():
    for pin, msg in (('12a4', 'console.pin: must be 4..12 digits'),
                     ('123', 'console.pin: must be 4..12 digits'),
                     (1234, 'console.pin: must be a string or null, got 1234'),
                     ('', 'console.pin: must not be empty')):
        raw = ex()
        raw['console'] = {'pin': pin}
        assert refused(raw) == msg, (pin, refused(raw))
    raw = ex()
    raw['console'] = {'pin': '4321', 'timeout_s': 60}
    assert C.validate(raw)['console'] == {'enabled': True, 'pin': '4321', 'timeout_s': 60}
    raw['console']['timeout_s'] = 5
    assert refused(raw) == 'console.timeout_s: must be 30..3600, got 5'


def test_mqtt_link_is_on_when_a_broker_is_named():
    # A new user gave a host and no `enabled`, and took the silence for a
    # broken broker: a host named means a link wanted.
    raw = ex()
    assert C.validate(raw)['mqtt']['enabled'] is True
    raw['mqtt']['enabled'] = False
    assert C.validate(raw)['mqtt']['enabled'] is False
    raw['mqtt'] = {'port': 1883}
    assert C.validate(raw)['mqtt']['enabled'] is False
    raw['mqtt'] = {'enabled': True}
    assert C.validate(raw)['mqtt']['enabled'] is True


def test_tls_needs_the_brokers_ca():
    raw = ex()
    raw['mqtt']['tls'] = True
    assert refused(raw).startswith('mqtt.ca_file: TLS needs the CA')
    raw['mqtt']['ca_file'] = 'ca.pem'
    assert C.validate(raw)['mqtt']['tls'] is True


def with_pins(board=None, **where):
    raw = ex()
    if board:
        raw['board'] = board
    for key, pin in where.items():
        if key == 'load':
            raw['loads'] = [{'name': 'aircon', 'pin': pin}]
        elif key.startswith('grid'):
            raw.setdefault('dispatch', {})[key] = pin
        elif key in ('tx', 'rx', 'de'):
            raw['buses']['rs485'][key] = pin
        else:
            raw.setdefault('generator', {'control': 'relay', 'relay_pin': 5})[key] = pin
    return raw


def test_pins_the_board_cannot_drive_are_refused_by_key():
    # Espressif ESP32 datasheet s. 2.2: GPIO 6-11 are the SPI flash, 34-39
    # input only; WROVER modules wire 16/17 to the PSRAM; the ESP32-S3
    # datasheet s. 2.3: 26-37 are flash and octal PSRAM, 22-25 do not exist.
    assert C.validate(ex())['board'] == 'esp32'
    for raw, msg in (
            (with_pins(load=7), 'loads[0].pin: GPIO 7 is not usable on esp32 (flash, PSRAM or no such pin)'),
            (with_pins(load=35), 'loads[0].pin: GPIO 35 is input only on esp32'),
            (with_pins(de=36), 'buses.rs485.de: GPIO 36 is input only on esp32'),
            (with_pins(tx=40), 'buses.rs485.tx: GPIO 40 is not usable on esp32 (flash, PSRAM or no such pin)'),
            (with_pins('esp32-wrover', load=25), 'buses.rs485.tx: GPIO 17 is not usable on esp32-wrover '
                                                 '(flash, PSRAM or no such pin)'),
            (with_pins(relay_pin=24), 'generator.relay_pin: GPIO 24 is not usable on esp32 '
                                      '(flash, PSRAM or no such pin)'),
            (with_pins(run_pin=5), 'generator.run_pin: GPIO 5 is already generator.relay_pin'),
            (with_pins(load=4), 'loads[0].pin: GPIO 4 is already buses.rs485.de'),
            (with_pins(grid_pin=36), 'dispatch.grid_pin: GPIO 36 is input only on esp32'),
            (with_pins(grid_pin=25, grid_charge_pin=25),
             'dispatch.grid_charge_pin: GPIO 25 is already dispatch.grid_pin'),
            (with_pins(grid_pin=17), 'dispatch.grid_pin: GPIO 17 is already buses.rs485.tx')):
        assert refused(raw) == msg, refused(raw)
    raw = with_pins('esp32s3', load=33, tx=43, rx=44, de=2)
    assert refused(raw) == 'loads[0].pin: GPIO 33 is not usable on esp32s3 (flash, PSRAM or no such pin)'
    # What each board can do: an input-only pin as RX, S3 pins above 39.
    C.validate(with_pins(rx=34, load=25))
    C.validate(with_pins('esp32s3', load=40, tx=43, rx=44, de=2))
    raw = ex()
    raw['board'] = 'esp8266'
    assert refused(raw) == 'board: must be one of esp32, esp32-wrover, esp32s3, got "esp8266"'


def test_watchdog_is_above_the_longest_bounded_loop_turn():
    raw = ex()
    cfg = C.validate(raw)
    # gw: 4 devices x 500 ms, its connect 500 ms, a key write 500 ms; MQTT
    # 2 x 5 s + DNS 4 s; flash 2 s.
    assert C.longest_turn_ms(cfg) == 4 * 500 + 500 + 500 + 10000 + 4000 + 2000
    assert cfg['watchdog_s'] == 38
    raw['watchdog_s'] = 23
    assert refused(raw) == ('watchdog_s: must be at least 24 s: a loop turn of this config may '
                            'take 19.0 s (bus timeouts, mqtt.timeout_s, DNS, flash)')
    raw['watchdog_s'] = 24
    assert C.validate(raw)['watchdog_s'] == 24
    raw['mqtt']['enabled'] = False
    del raw['watchdog_s']
    assert C.validate(raw)['watchdog_s'] == 30


def test_net_section_by_kind():
    cfg = C.validate(ex())
    assert cfg['net']['kind'] == 'host' and cfg['net']['ntp_host'] is None
    raw = ex()
    raw['net'] = {'kind': 'wlan', 'ssid': 'site-ap', 'password': 'secret'}
    n = C.validate(raw)['net']
    assert n['ntp_host'] == 'pool.ntp.org' and n['ntp_s'] == 21600
    raw['net'] = {'kind': 'wlan'}
    assert refused(raw) == 'net.ssid: needed for kind wlan'
    raw['net'] = {'kind': 'lan', 'mdc': 23, 'mdio': 18, 'power': 12, 'phy_addr': 1}
    assert C.validate(raw)['net']['phy'] == 'LAN8720'
    raw['net'] = {'kind': 'lan', 'phy': 'W5500', 'sck': 18, 'mosi': 23, 'miso': 19}
    assert refused(raw) == 'net.cs: needed for kind lan (W5500)'
    raw['net'] = {'kind': 'ppp', 'tx': 27, 'rx': 26}
    assert refused(raw) == 'net.apn: needed for kind ppp'
    raw['net'] = {'kind': 'ppp', 'tx': 27, 'rx': 26, 'apn': 'internet', 'ntp_host': None}
    assert C.validate(raw)['net']['ntp_host'] is None
    # Its pins are checked with the rest: GPIO 4 is the RS485 DE pin.
    raw['net'] = {'kind': 'lan', 'mdc': 4, 'mdio': 18}
    assert refused(raw) == 'net.mdc: GPIO 4 is already buses.rs485.de'
    raw['net'] = {'kind': 'ppp', 'tx': 35, 'rx': 34, 'apn': 'internet'}
    assert refused(raw) == 'net.tx: GPIO 35 is input only on esp32'
    # An output on a pin another part reads (the RS485 receive line, 16).
    raw['net'] = {'kind': 'lan', 'mdc': 23, 'mdio': 18, 'power': 16}
    assert refused(raw) == 'net.power: GPIO 16 is already buses.rs485.rx'


def test_seplos_current_scale_and_stack_head():
    # Seplos's protocol note: current in 0.1 A on the 300 A and 400 A boards
    # (0.01 A on the others): the board's unit is a device key, checked here.
    raw = ex()
    raw['devices'][2]['profile'] = 'seplos_v3'
    raw['devices'][2]['current_scale'] = 0.1
    d = C.validate(raw)['devices'][2]
    assert d['current_scale'] == 0.1 and d['stack_head'] is False
    raw['devices'][2]['current_scale'] = 0.05
    assert refused(raw) == 'devices[2].current_scale: must be one of 0.01, 0.1, got 0.05'
    raw['devices'][2]['current_scale'] = 0.1
    raw['devices'][2]['stack_head'] = True
    assert refused(raw) == ("devices[2].current_scale: a stack head's summary is always in"
                            " 0.1 A: current_scale is for a single pack")
    del raw['devices'][2]['current_scale']
    assert C.validate(raw)['devices'][2]['stack_head'] is True
    raw = ex()
    raw['devices'][2]['current_scale'] = 0.1        # a PACE pack
    assert refused(raw) == 'devices[2].current_scale: only a seplos_v3 takes current_scale, "pace_bms" does not'
    raw = ex()
    raw['devices'][3]['stack_head'] = True          # the genset
    assert refused(raw) == 'devices[3].stack_head: only a seplos_v3 takes stack_head, "dse_gencomm" does not'
