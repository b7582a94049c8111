# Start-up config choice: the primary config when valid, else the last known
# good copy with a warning naming why, else a refusal (never half-valid).
import os
from firmware import app
from helpers import example, raises
import json

DIR = '/tmp'


def write(name, text):
    path = DIR + '/' + name
    with open(path, 'w') as f:
        f.write(text)
    return path


def cleanup(*paths):
    for p in paths:
        try:
            os.remove(p)
        except OSError:
            pass


def test_primary_config_used_when_valid():
    p = write('sc_cfg_a.json', json.dumps(example()))
    try:
        cfg, warning = app.load_config(p, DIR + '/sc_none.json')
        assert cfg['site_id'] == 'BTS-0042' and warning is None
    finally:
        cleanup(p)


def test_corrupt_config_falls_back_to_last_known_good():
    p = write('sc_cfg_b.json', '{"site_id": "BTS-0042", "buses": ')   # cut mid-write
    good = example()
    good['site_id'] = 'BTS-LKG'
    lkg = write('sc_lkg_b.json', json.dumps(good))
    try:
        cfg, warning = app.load_config(p, lkg)
        assert cfg['site_id'] == 'BTS-LKG'
        assert 'not valid JSON' in warning and 'sc_lkg_b.json' in warning
    finally:
        cleanup(p, lkg)


def test_every_file_the_board_cannot_read_falls_back_with_its_reason():
    # Not UTF-8, too large, nested past any config: each is refused with
    # its reason, and the last known good runs (an outside campaign saw
    # the first idle with an empty reason and the others exit).
    lkg = write('sc_lkg_d.json', json.dumps(example()))
    cases = ((b'{"site_id": "BTS-\xe9"}', 'not UTF-8'),
             (b' ' * 20000, 'bytes: at most'),
             (b'[' * 2000 + b']' * 2000, 'nested deeper'))
    try:
        for data, why in cases:
            p = DIR + '/sc_cfg_d.json'
            with open(p, 'wb') as f:
                f.write(data)
            cfg, warning = app.load_config(p, lkg)
            assert cfg['site_id'] == 'BTS-0042' and why in warning, warning
            assert 'config.json refused' in warning and 'sc_lkg_d.json' in warning
    finally:
        cleanup(lkg, DIR + '/sc_cfg_d.json')


def test_no_valid_config_is_refused_with_the_primary_reason():
    p = write('sc_cfg_c.json', '{"site_id": "X", "buses": {}, "devices": []}')
    try:
        # ConfigError is a ValueError; the schema module is reloaded per call.
        e = raises(ValueError, app.load_config, p, DIR + '/sc_none.json')
        assert str(e) == 'buses: must be an object of named buses'
    finally:
        cleanup(p)


def test_names_interned_at_start_follow_the_config():
    # What start-up imports once so that its names are interned while the
    # heap is in one piece: only what this config loads later.
    from firmware import startup
    try:
        n = len(startup.BUILD_MODULES)
        base = startup.later_modules({})
        assert tuple(base[:n]) == startup.BUILD_MODULES and 'firmware.console.input' in base
        for m in ('firmware.uplink.uplink', 'umqtt.simple', 'firmware.hw.dns', 'firmware.hw.sntp',
                  'firmware.hw.sock_uart', 'firmware.hw.mbtcp', 'firmware.safemode'):
            assert m not in base
        mq = startup.later_modules({'mqtt': {'enabled': True}})
        for m in ('firmware.uplink.uplink', 'firmware.uplink.remote', 'firmware.cfgedit',
                  'firmware.hw.mqtt_sock', 'umqtt.simple', 'firmware.hw.dns'):
            assert m in mq
        assert 'firmware.uplink.ha' not in mq
        assert 'firmware.uplink.uplink' in startup.later_modules({'mqtt': {'host': 'broker'}})
        ha = startup.later_modules({'mqtt': {'enabled': True, 'ha_discovery': True}})
        assert 'firmware.uplink.ha' in ha
        net = startup.later_modules({'net': {'kind': 'wlan'},
                                     'buses': {'gw': {'kind': 'rtu_tcp'}, 't': {'kind': 'tcp'}}})
        for m in ('firmware.hw.sntp', 'firmware.hw.timesync', 'firmware.hw.dns',
                  'firmware.hw.sock_uart', 'firmware.hw.mbtcp'):
            assert m in net
        lit = startup.later_modules({'buses': {'gw': {'kind': 'rtu_tcp', 'host': '10.0.0.5'}}})
        assert 'firmware.hw.sock_uart' in lit and 'firmware.hw.dns' not in lit
        assert 'firmware.hw.dns' in startup.later_modules(
            {'buses': {'gw': {'kind': 'rtu_tcp', 'host': 'gw.site.lan'}}})
        assert 'firmware.hw.sntp' not in startup.later_modules({'net': {'kind': 'wlan',
                                                                        'ntp_host': None}})
        quiet = startup.later_modules({'console': {'enabled': False}, 'mqtt': 'garbage'})
        assert tuple(quiet) == startup.BUILD_MODULES + ('firmware.hw.net_host',)
        assert 'firmware.hw.net' in net and 'firmware.hw.net_host' not in net
    finally:
        app.forget('firmware.startup')
