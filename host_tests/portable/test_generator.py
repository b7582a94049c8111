# The generator state machine, table-driven on a simulated clock: each start
# reason and delay, crank retries to lockout, min run, quiet hours, exercise,
# unexpected stop, mode changes mid-sequence, and persistence.
from firmware import generator as G, gen_reasons as R
from firmware.hw import actuators as A
from gen_sim import Sim, T0
from helpers import assert_no_alloc, raises


def test_low_soc_starts_after_the_delay_with_the_dse_key():
    s = Sim(obey=True)
    s.step(5, batt_soc=25)
    assert s.g.state_name == 'start_delay' and s.sent == []
    s.step(56)
    assert s.g.state_name in ('cranking', 'warmup')
    assert s.sent == [A.KEY_TELE_START]
    assert s.g.run_reasons == R.R_SOC


def test_a_reason_that_clears_during_its_delay_starts_nothing():
    s = Sim()
    s.step(30, batt_soc=25)
    s.step(1, batt_soc=35)
    s.step(100)
    assert s.g.state_name == 'standby' and s.sent == []


def test_healthy_grid_inhibits_battery_reasons():
    s = Sim()
    s.step(200, batt_soc=10, batt_v=44.0, grid_ok=True)
    assert s.g.state_name == 'standby' and s.sent == []


def test_voltage_and_load_reasons():
    s = Sim(obey=True)
    s.step(61, batt_v=45.5)
    assert s.g.run_reasons == R.R_VOLT
    s = Sim(obey=True, start_load_w=3000)
    s.step(61, load_w=3500.0)
    assert s.g.run_reasons == R.R_LOAD and s.g.cfg['stop_load_w'] == 2400.0


def test_grid_loss_start_and_grid_return_ends_the_run_without_a_restart_loop():
    s = Sim(obey=True, grid_loss_start_s=120)
    s.step(119, grid_ok=False)
    assert s.g.state_name == 'start_delay' and s.sent == []
    s.step(2)
    assert s.g.run_reasons == R.R_GRID
    assert s.run_until('running')
    s.step(10, grid_ok=True)
    assert s.g.state_name in ('cooldown', 'stopping', 'standby')
    assert s.g.stop_reason == G.S_GRID_BACK
    s.step(600)
    assert s.g.state_name == 'standby' and s.sent.count(A.KEY_TELE_START) == 1


def test_bms_protection_starts_at_once():
    s = Sim(obey=True)
    s.step(1, batt_protect=True)
    assert s.g.state_name in ('cranking', 'warmup') and s.g.run_reasons == R.R_BMS


def test_a_protection_that_forbids_charge_starts_nothing():
    # A cell over-voltage protection at full charge (PACE protection flag
    # bit 0, firmware/site.py sets batt_no_charge): charging would push the
    # cells further over.
    s = Sim(obey=True)
    s.step(5, batt_protect=True, batt_no_charge=True)
    assert s.g.state_name == 'standby' and s.sent == []
    s.step(1, batt_protect=True, batt_no_charge=False)     # an under-voltage one
    assert s.g.state_name in ('cranking', 'warmup') and s.g.run_reasons == R.R_BMS


def test_bms_cell_low_warning_starts_with_a_minimum_run():
    s = Sim(obey=True, bms_min_run_s=3600, min_run_s=60)
    s.step(1, batt_warn=True)
    assert s.run_until('running')
    s.step(10, batt_warn=False)
    s.step(3000)
    assert s.g.state_name == 'running'         # held by the reason's own min run
    s.step(700)
    assert s.g.state_name in ('cooldown', 'stopping', 'standby')


def test_min_run_then_cooldown_then_cancel_key():
    s = Sim(obey=False, min_run_s=1800, cooldown_s=120, warmup_s=60)
    s.step(61, batt_soc=25)
    assert s.sent == [A.KEY_TELE_START]
    s.step(2, gen_state='running')
    assert s.g.state_name == 'warmup'
    s.step(60)
    assert s.g.state_name == 'running' and s.g.available
    s.step(10, batt_soc=95)
    assert s.g.state_name == 'running'         # stop_soc reached, min run not
    s.step(1700)
    assert s.g.state_name == 'running'
    assert s.run_until('cooldown', 200)
    assert 1795 <= s.g._run_ms_now(s.now) // 1000 <= 1802
    assert s.sent[-1] == A.KEY_TELE_CANCEL
    assert s.g.stop_reason == G.S_CLEARED and not s.g.available
    s.step(120, gen_state='cooling')
    assert s.g.state_name == 'stopping'
    s.step(300)
    assert s.g.state_name == 'stopping'        # the module still cooling down
    s.step(5, gen_state='stopped')
    assert s.g.state_name == 'standby'


def test_relay_crank_retries_to_lockout_and_reset():
    s = Sim(control='relay', relay_pin=5, crank_attempts=3, crank_s=8, crank_rest_s=15)
    s.step(61, batt_soc=25)
    assert s.g.state_name == 'cranking' and s.g.out_crank and s.g.out_run
    states = []
    for _ in range(80):
        s.step()
        states.append(s.g.state_name)
    assert states.count('crank_rest') == 30        # two rests of 15 s
    assert s.g.state_name == 'lockout' and s.g.stop_reason == G.S_FAIL_START
    assert not s.g.out_crank and not s.g.out_run
    s.step(3600)
    assert s.g.state_name == 'lockout'             # only a reset clears it
    s.g.reset()
    s.step(1)       # the low-SOC reason still holds: it tries again
    assert s.g.state_name == 'cranking' and s.g.attempt == 1


def test_relay_crank_succeeds_on_the_second_attempt():
    s = Sim(control='relay', relay_pin=5, crank_s=8, crank_rest_s=15, warmup_s=30)
    s.step(61, batt_soc=25)
    s.step(8 + 15 + 2)
    assert s.g.state_name == 'cranking' and s.g.attempt == 2
    s.step(1, gen_state='running')
    assert s.g.state_name == 'warmup' and not s.g.out_crank and s.g.out_run
    s.step(31)
    assert s.g.state_name == 'running'


def test_dse_failure_to_start_locks_out():
    s = Sim()
    s.step(61, batt_soc=25)
    s.step(5, gen_state='starting')
    s.step(1, gen_state='fault')
    assert s.g.state_name == 'lockout' and s.sent[-1] == A.KEY_TELE_CANCEL


def test_running_confirmed_by_feedback_not_by_the_command():
    s = Sim()
    s.step(61, batt_soc=25)
    limit = 3 * (8 + 15) + 30
    s.step(limit - 2, gen_state='starting')
    assert s.g.state_name == 'cranking' and not s.g.available
    s.step(5)
    assert s.g.state_name == 'lockout'


def test_unexpected_stop_is_a_fault_and_repeats_lock_out():
    s = Sim(obey=True, warmup_s=10)
    s.step(61, batt_soc=25)
    assert s.run_until('running')
    s.step(4, gen_state='stopped')
    assert s.g.state_name == 'running'             # a blip is not a stop
    s.step(2)
    assert s.g.state_name == 'fault' and s.g.stop_reason == G.S_UNEXPECTED
    for _ in range(2):
        s.step(61)
        assert s.run_until('running', 200)
        s.step(6, gen_state='stopped')
    assert s.g.state_name == 'lockout'


def test_quiet_hours_block_starts_unless_the_battery_is_at_its_floor():
    night = T0 + 13 * 3600      # 23:00 UTC
    s = Sim(ts=night, quiet_hours='22:00-06:00', quiet_override_soc=15)
    s.step(200, batt_soc=25)
    assert s.g.state_name == 'standby'
    s.step(61, batt_soc=14)
    assert s.g.state_name == 'cranking'


def test_quiet_hours_respect_the_utc_offset():
    s = Sim(ts=T0 + 10 * 3600, quiet_hours='22:00-06:00')   # 20:00 UTC
    s.g.utc_offset_s = 3 * 3600                             # 23:00 local
    s.step(200, batt_soc=25)
    assert s.g.state_name == 'standby'


def test_exercise_run_when_due_at_the_exercise_hour():
    s = Sim(obey=True, exercise_days=7, exercise_hour=10, exercise_s=900, min_run_s=60)
    s.g.last_exercise = T0 - 8 * 86400
    s.step(2)
    assert s.g.run_reasons == R.R_EXERCISE
    assert s.run_until('running')
    s.step(800)
    assert s.g.state_name == 'running'
    s.step(200)
    assert s.g.state_name in ('cooldown', 'stopping', 'standby')
    assert T0 < s.g.last_exercise <= s.ts
    s.step(3600)
    assert s.sent.count(A.KEY_TELE_START) == 1


def test_exercise_not_due_waits():
    s = Sim(exercise_days=7, exercise_hour=10)
    s.g.last_exercise = T0 - 2 * 86400
    s.step(100)
    assert s.g.state_name == 'standby'


def test_manual_start_and_stop_and_manual_mode_ignores_auto_reasons():
    s = Sim(obey=True, min_run_s=1800)
    assert s.g.start() is None and s.g.mode == 'manual'
    s.step(2)
    assert s.g.run_reasons == R.R_MANUAL
    assert s.run_until('running')
    s.g.stop()
    s.step(1)
    assert s.g.state_name == 'cooldown' and s.g.stop_reason == G.S_MANUAL
    s.step(300, batt_soc=10)
    assert s.g.state_name == 'standby'             # manual: low SOC does not start it


def test_mode_off_mid_sequence():
    s = Sim(control='relay', relay_pin=5)
    s.step(61, batt_soc=25)
    assert s.g.state_name == 'cranking'
    s.g.set_mode('off')
    s.step(1)
    assert s.g.state_name == 'off' and not s.g.out_crank and not s.g.out_run
    s.step(300)
    assert s.g.state_name == 'off'
    s = Sim(obey=True)
    s.step(61, batt_soc=25)
    assert s.run_until('running')
    s.g.set_mode('off')
    s.step(1)
    assert s.g.state_name == 'cooldown' and s.g.stop_reason == G.S_MODE
    s.step(200)
    assert s.g.state_name == 'off'
    s = Sim()
    s.step(30, batt_soc=25)
    assert s.g.state_name == 'start_delay'
    s.g.set_mode('off')
    s.step(1)
    assert s.g.state_name == 'off'


def test_mode_auto_after_manual_run_stops_when_no_reason():
    s = Sim(obey=True, min_run_s=60)
    s.g.start()
    assert s.run_until('running')
    s.g.set_mode('auto')
    s.step(61)
    assert s.g.state_name in ('cooldown', 'stopping', 'standby')


def test_max_run_cuts_the_run_and_holds_off_a_restart():
    s = Sim(obey=True, max_run_s=3600, min_run_s=60)
    s.step(61, batt_soc=25)
    assert s.run_until('running')
    n = 0
    while s.g.stop_reason != G.S_MAX_RUN and n < 3600:
        s.step()
        n += 1
    # The flag is up in the tick of the cut (the latched alarm holds it).
    assert s.g.max_run_cut and s.g.state_name == 'cooldown'
    s.step(3600 - n)
    assert not s.g.max_run_cut and s.g.stop_reason == G.S_MAX_RUN
    s.step(600)
    assert s.g.state_name == 'standby'
    assert s.sent.count(A.KEY_TELE_START) == 1
    s.step(1800)
    assert s.sent.count(A.KEY_TELE_START) == 2     # still low after the rest


def test_max_run_alarm_is_raised_once_and_cleared_by_its_ack():
    # App._alarms reads the generator's flag and writes nothing back.
    from firmware.app import App
    from firmware.alarms import Alarms

    class Part:
        pass
    app = Part()
    s = Sim(obey=True, max_run_s=3600, min_run_s=60)
    app.gen = s.g
    app.alarms = Alarms({'batt_low_soc': 20, 'batt_crit_soc': 10, 'batt_low_v': 40.0,
                         'batt_crit_v': 39.0, 'batt_temp_c': 60, 'delay_s': 10}, [])
    app.devices = []
    app.shedding = Part()
    app.shedding.n_shed = 0
    app.warning = None
    app.actuator_faults = []
    app.actuators = []
    app.net = Part()
    app.net.up = True

    def step(n, **kw):
        for _ in range(n):
            s.step(1, **kw)
            App._alarms(app, s.now, s.ts, s.snap)
    step(61, batt_soc=25)
    for _ in range(3700):
        step(1)
        if s.g.stop_reason == G.S_MAX_RUN:
            break
    al = app.alarms
    assert al.is_active('gen_max_run')
    raised = [e for e in al.drain_events() if e['code'] == 'gen_max_run']
    assert [e['event'] for e in raised] == ['raise']
    step(600)
    assert al.is_active('gen_max_run')             # latched: waits for its ack
    assert al.ack('gen_max_run', s.ts) == 1
    assert not al.is_active('gen_max_run')         # the cause is gone: the ack clears it
    step(10)
    assert not al.is_active('gen_max_run')


def test_fuel_prevents_and_stops():
    s = Sim(fuel_prevent_pct=10, fuel_stop_pct=5)
    s.step(200, batt_soc=25, fuel_pct=8)
    assert s.g.state_name == 'standby' and s.g.low_fuel
    assert s.g.start() == 'fuel below fuel_prevent_pct'
    s = Sim(obey=True)
    s.step(61, batt_soc=25)
    assert s.run_until('running')
    s.step(1, fuel_pct=4)
    assert s.g.stop_reason == G.S_FUEL
    s.step(2)
    assert s.g.state_name in ('stopping', 'standby')   # no cool-down wait


def test_charge_taper_stop_and_max_charge_cap():
    s = Sim(obey=True, stop_taper_c=0.02, stop_taper_s=600, min_run_s=60, warmup_s=30)
    s.step(61, batt_soc=25, batt_ah=300.0, batt_a=50.0)
    assert s.run_until('running')
    s.step(100, batt_a=5.0)                        # under 0.02 C = 6 A
    assert s.g.state_name == 'running'
    s.step(600)
    assert s.g.stop_reason == G.S_TAPER
    s = Sim(obey=True, max_charge_s=3600, min_run_s=60)
    s.step(61, batt_soc=25, batt_ah=300.0, batt_a=50.0)
    assert s.run_until('running')
    s.step(3600)
    assert s.g.stop_reason == G.S_MAX_CHARGE


def test_stop_when_pv_carries_load_and_charging():
    s = Sim(obey=True, pv_stop_s=900, min_run_s=60)
    s.step(61, batt_soc=25)
    assert s.run_until('running')
    s.step(899, pv_w=3000.0, load_w=1800.0, batt_a=20.0)
    assert s.g.state_name == 'running'
    s.step(2)
    assert s.g.stop_reason == G.S_PV


def test_a_charging_run_stops_where_the_pv_forecast_says():
    # The app sets pv_stop_soc from firmware/pv_forecast.py: a run for the
    # battery's charge stops there ('pv_expected'), before stop_soc (90).
    s = Sim(obey=True, min_run_s=60)
    s.step(61, batt_soc=25)
    assert s.run_until('running')
    s.g.pv_stop_soc = 70
    s.step(5, batt_soc=65)
    assert s.g.state_name == 'running'
    s.step(2, batt_soc=70)
    assert s.g.stop_reason == G.S_PV_AHEAD and G.STOP_NAMES[G.S_PV_AHEAD] == 'pv_expected'


def test_the_pv_forecast_never_stops_a_manual_run():
    s = Sim(obey=True)
    s.g.start()
    assert s.run_until('running')
    s.g.pv_stop_soc = 50
    s.step(5, batt_soc=80)
    assert s.g.state_name == 'running'


def test_comm_loss_policies():
    s = Sim(on_comm_loss='start')
    s.step(61, batt_soc=None, batt_v=None)
    assert s.g.state_name == 'cranking' and s.g.run_reasons == R.R_COMM
    s = Sim(obey=True, on_comm_loss='stop')
    s.step(61, batt_soc=25)
    assert s.run_until('running')
    s.step(1, batt_soc=None, batt_v=None)
    assert s.g.stop_reason == G.S_COMM
    s = Sim(obey=True, on_comm_loss='keep')
    s.step(61, batt_soc=25)
    assert s.run_until('running')
    s.step(3000, batt_soc=None, batt_v=None)
    assert s.g.state_name == 'running'


def test_fallback_voltage_keeps_the_reason_alive():
    # The BMS is silent but the charger still gives a voltage: no comm loss.
    s = Sim(on_comm_loss='start')
    s.step(61, batt_soc=None, batt_v=45.0)
    assert s.g.run_reasons == R.R_VOLT


def test_run_hours_and_starts_from_real_feedback():
    s = Sim()
    s.step(10, gen_state='running')            # started at the set by hand
    assert s.g.starts == 1 and s.g.run_s == 9 and s.g.external
    assert s.g.state_name == 'standby'
    s.step(5, gen_state='stopped')
    s.step(3, gen_state='running')
    assert s.g.starts == 2
    s.snap['dev'] = {'genset': {'online': True, 'run_s': 90000, 'starts': 40}}
    s.step(1)
    assert s.g.run_s == 90000 and s.g.starts == 40   # resynced to the genset


def test_service_due_from_run_hours():
    s = Sim(service_hours=250)
    s.snap['dev'] = {'genset': {'online': True, 'run_s': 3600000, 'starts': 400}}
    s.step(1)
    assert s.g.service_base_s == 3600000 and not s.g.service_due   # first sight: serviced
    s.snap['dev'] = {}
    s.g.service_base_s = 0
    s.g.run_s = 249 * 3600
    assert not s.g.service_due
    s.g.run_s = 250 * 3600
    assert s.g.service_due
    s.g.service_done()
    assert not s.g.service_due


def test_state_survives_a_reboot():
    s = Sim(control='relay', relay_pin=5, crank_attempts=1)
    s.step(61, batt_soc=25)
    s.step(10)
    assert s.g.state_name == 'lockout'
    s.g.run_s = 1234
    d = s.g.to_dict()
    s2 = Sim(control='relay', relay_pin=5)
    s2.g.from_dict(d)
    assert s2.g.state_name == 'lockout' and s2.g.run_s == 1234
    s2.step(100, batt_soc=10)
    assert s2.g.state_name == 'lockout'


def test_a_run_resumes_after_reboot_only_if_still_running():
    s = Sim(obey=True)
    s.step(61, batt_soc=25)
    assert s.run_until('running')
    d = s.g.to_dict()
    s2 = Sim()
    s2.g.from_dict(d)
    s2.step(1, gen_state='running', batt_soc=25)
    assert s2.g.state_name == 'running'
    s3 = Sim()
    s3.g.from_dict(d)
    s3.step(1, gen_state='stopped', batt_soc=95)
    assert s3.g.state_name == 'standby'
    # Found stopped with its reason still holding: it starts again.
    s4 = Sim()
    s4.g.from_dict(d)
    s4.step(1, gen_state='stopped', batt_soc=60)
    assert s4.g.state_name == 'cranking'


def test_key_flags_select_the_manual_mode_path():
    s = Sim(obey=True, min_run_s=60)
    # flags: 35700 stop, 35701 auto, 35702 manual, 35705 start; no telemetry keys
    s.module.flags = [0b1110010000000000, 0, 0, 0, 0, 0, 0, 0]
    s.step(61, batt_soc=25)
    assert s.sent == [A.KEY_MANUAL, A.KEY_START]
    assert s.run_until('running')
    s.step(61, batt_soc=95)
    assert s.sent[-2:] == [A.KEY_STOP_MODE, A.KEY_AUTO]


def test_dse_keys_resend_only_a_refused_key_and_count_what_they_send():
    s = Sim(obey=True, min_run_s=60)
    s.step(1)
    assert s.keys.flags is None and s.keys.flag_errors == 1    # no key flags: counted
    s.step(59)
    assert s.keys.flag_errors == 1
    s.module.flags = [0b1110010000000000, 0, 0, 0, 0, 0, 0, 0]
    s.step(1)                                   # read again after FLAGS_RETRY_MS
    assert s.keys.flags is not None and s.keys.flag_errors == 1 and s.keys.manual_path()
    s.module.refuse = [A.KEY_START]
    s.step(61, batt_soc=25)
    assert s.sent == [A.KEY_MANUAL]             # the start key refused: sent next tick
    s.step(1)
    assert s.sent == [A.KEY_MANUAL, A.KEY_START]        # the manual key not again
    assert (s.keys.sent, s.keys.failed) == (2, 1)
    assert s.run_until('running') and not s.g.intents


def test_stop_cause_is_a_query():
    s = Sim(obey=True, min_run_s=60, warmup_s=30, stop_taper_c=0.02, stop_taper_s=600,
            pv_stop_s=900, exercise_s=900)
    s.step(61, batt_soc=25, batt_ah=300.0, batt_a=50.0)
    assert s.run_until('running')
    s.step(900)
    g = s.g
    g.exercise = True                           # an exercise run past its time
    g.reasons |= R.R_EXERCISE
    s.set(batt_a=5.0, pv_w=3000.0, load_w=1800.0)   # tapering, PV carrying

    def state():
        return (g.exercise, g.reasons, g._t_taper, g._t_pv, g._t_rest, g._taper_ah,
                g.state, g.stop_reason)
    before = state()
    assert g._stop_cause(s.snap, s.now) == g._stop_cause(s.snap, s.now) == G.S_NONE
    assert state() == before
    s.step(1)                                   # the tick moves the run's clocks
    assert not g.exercise and g._t_taper is not None and g._t_pv is not None


def test_tick_allocates_nothing_once_warm():
    s = Sim(obey=True)
    s.step(61, batt_soc=25)
    assert s.run_until('running')
    s.step(5)
    g = s.g
    clock = [s.now]

    def ticks(n):
        for _ in range(n):
            clock[0] += 1000
            g.tick(clock[0], s.ts, s.snap)
    assert_no_alloc(ticks, 100)
    assert g.state_name == 'running'


def test_bad_saved_state_changes_nothing():
    s = Sim()
    s.g.run_s = 500
    e = raises(ValueError, s.g.from_dict, {'run_s': 'lots', 'starts': 3, 'state': 'lockout'})
    assert e is not None
    assert s.g.run_s == 500 and s.g.starts == 0 and s.g.state_name == 'standby'


def test_in_a_grid_outage_the_battery_carries_to_outage_start_soc():
    # A grid site's outage most likely ends before the battery does: a SOC
    # start waits for outage_start_soc (20), not start_soc (30). Without a
    # grid (grid_ok None: no meter) start_soc stands.
    s = Sim(obey=True)
    s.step(120, batt_soc=25, grid_ok=False)
    assert s.g.state_name == 'standby' and s.sent == []
    s.step(61, batt_soc=19, grid_ok=False)
    assert s.g.run_reasons == R.R_SOC and s.sent == [A.KEY_TELE_START]
    s = Sim(obey=True)
    s.step(61, batt_soc=25)
    assert s.g.run_reasons == R.R_SOC
    s = Sim(obey=True, outage_start_soc=None)
    s.step(61, batt_soc=25, grid_ok=False)
    assert s.g.run_reasons == R.R_SOC


def test_in_a_grid_outage_a_charging_run_stops_at_outage_stop_soc():
    # Diesel charging past what carries the site to the next start does
    # what the returning grid does at its own price ('grid_expected').
    s = Sim(obey=True, min_run_s=60)
    s.step(61, batt_soc=19, grid_ok=False)
    assert s.run_until('running')
    s.step(120, batt_soc=49, grid_ok=False)
    assert s.g.state_name == 'running'
    s.step(2, batt_soc=50, grid_ok=False)
    assert s.g.stop_reason == G.S_GRID_DUE and G.STOP_NAMES[G.S_GRID_DUE] == 'grid_expected'
    # Off grid the same run charges on to stop_soc.
    s = Sim(obey=True, min_run_s=60)
    s.step(61, batt_soc=25)
    assert s.run_until('running')
    s.step(120, batt_soc=60)
    assert s.g.state_name == 'running'


def test_an_outage_run_always_leaves_ten_points_above_start_soc():
    # start_soc 45 with the default outage_stop_soc 50: a stop at 50 would
    # start again five points later. The run charges to 55.
    s = Sim(obey=True, min_run_s=60, start_soc=45, outage_start_soc=None)
    s.step(61, batt_soc=40, grid_ok=False)
    assert s.run_until('running')
    s.step(120, batt_soc=52, grid_ok=False)
    assert s.g.state_name == 'running'
    s.step(2, batt_soc=55, grid_ok=False)
    assert s.g.stop_reason == G.S_GRID_DUE


def test_an_expected_source_never_cuts_the_minimum_run():
    # A SOC that jumps past the stop (a BMS recalibrating) after a minute
    # of running: the forecast's or the outage's stop waits for min_run_s.
    for snap in ({'grid_ok': False}, {}):
        s = Sim(obey=True, min_run_s=600)
        s.step(61, batt_soc=15, **snap)
        assert s.run_until('running')
        s.g.pv_stop_soc = 70
        s.step(60, batt_soc=80)
        assert s.g.state_name == 'running', snap
        s.step(600)
        assert s.g.stop_reason in (G.S_GRID_DUE, G.S_PV_AHEAD), snap
