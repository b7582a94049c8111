# The control tick on the board's clock and number model: generator,
# dispatch (with a TOU window), shedding, alarms and counters, each given
# the time as the loop gives it (firmware.clock.now(), ticks_ms()), with the
# config's defaults (exercise every 14 days). Run in the 32-bit build
# (host_tests/test_portable_in_micropython.py), where Unix seconds would be
# heap ints, this must allocate nothing.
from firmware import config as C, clock, site
from firmware.generator import Generator
from firmware.dispatch import Dispatch
from firmware.shedding import Shedding
from firmware.alarms import Alarms
from firmware.counters import Counters
from firmware.compat import ticks_ms
from helpers import assert_no_alloc, example


def test_control_tick_allocates_nothing_on_the_boards_clock():
    raw = example()
    raw['dispatch'] = {'tou': [{'from': '22:00', 'to': '06:00', 'kind': 'offpeak'},
                               {'from': '17:00', 'to': '21:00', 'kind': 'peak'}]}
    raw['loads'] = [{'name': 'aircon', 'pin': 25}]
    raw['generator'] = {'quiet_hours': '23:00-05:00'}
    cfg = C.validate(raw)
    assert cfg['generator']['exercise_days'] == 14
    clock.set_unix(1796000000)          # 2026-12-01: a valid clock, TOU and exercise armed
    g = Generator(cfg['generator'], cfg['utc_offset_min'])
    g.last_exercise = clock.now() - 86400      # exercise not due: the tick stays in standby
    d = Dispatch(cfg['dispatch'], cfg['utc_offset_min'], [])
    sh = Shedding(cfg['loads'])
    al = Alarms(cfg['alarms'], [])
    co = Counters(cfg['generator'])
    snap = site.new([])
    snap.update(pv_w=1200.0, batt_v=52.4, batt_a=-8.0, batt_w=-420.0, batt_soc=64,
                load_w=1620.0, grid_ok=True, grid_v=231.0, grid_w=0.0, gen_state='stopped',
                gen_w=0.0, gen_hz=0.0, fuel_pct=70.0, batt_src='bms')
    state = {'last': ticks_ms()}

    def ticks(n):
        for _ in range(n):
            now = ticks_ms()
            ts = clock.now()
            gen = g.tick(now, ts, snap)
            dd = d.tick(ts, snap, gen.available)
            s = sh.tick(now, snap, dd.on_battery)
            co.tick(snap, 1000, False, s.n_shed)
            al.evaluate(snap, (), now, ts)
            state['last'] = now
    assert_no_alloc(ticks, 200)
    assert g.state_name == 'standby'
