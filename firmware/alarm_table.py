# The alarm table, read once when the controller starts (firmware/alarms.py
# copies what it keeps and unloads this module).
# (code, severity (a name of alarms.SEVERITY_NAMES), latched, raise delay s, clear delay s, text); a delay of
# None takes alarms.delay_s from the config. The first six are evaluated
# by firmware/alarms.py from the snapshot (it knows them by index); the rest
# are set by the generator, dispatch and config code through Alarms.set().
TABLE = (
    ('batt_low', 'major', False, None, None, 'battery low'),
    ('batt_critical', 'critical', False, None, None, 'battery critically low'),
    ('batt_overtemp', 'major', False, None, 60, 'battery over temperature'),
    # The BMS has already decided; waiting would only hide it.
    ('bms_protect', 'critical', False, 0, None, 'BMS protection active'),
    # Long enough to ride out one bad poll cycle of every battery source.
    ('batt_data_lost', 'major', False, 30, 0, 'no battery data from any source'),
    # A weak grid flickers: it must stay back a minute before it counts.
    ('grid_lost', 'major', False, None, 60, 'grid lost'),
    ('gen_fail_start', 'critical', True, 0, 0, 'generator failed to start'),
    ('gen_unexpected_stop', 'major', True, 0, 0, 'generator stopped unexpectedly'),
    ('gen_fail_stop', 'critical', True, 0, 0, 'generator failed to stop'),
    # Fuel sloshes while the engine runs: a minute either way.
    ('gen_low_fuel', 'major', False, 60, 60, 'generator fuel low'),
    ('gen_service_due', 'warning', False, 0, 0, 'generator service due'),
    ('gen_max_run', 'major', True, 0, 0, 'generator hit its max run time'),
    ('load_shed', 'minor', False, 0, 0, 'loads shed'),
    ('config_fallback', 'warning', False, 0, 0, 'running on the last good config'),
    # A contactor or relay the board refused at start cannot act at all.
    ('actuator_fault', 'critical', False, 0, 0, 'an output pin could not be driven'),
    # A charger that refused its on/off coil is tried again every 10 s.
    ('lever_fault', 'major', False, 0, 0, 'a charger refused its on/off switch'),
    ('safe_mode', 'critical', False, 0, 0, 'safe mode: nothing is controlled'),
    # NTP gets its first answer in seconds when the network is up.
    ('clock_not_set', 'major', False, 600, 0, 'clock not set: no TOU, quiet hours, exercise, commands'),
    # A unit that answers, yet not for some of its values (three cycles).
    ('dev_data_missing', 'minor', False, 0, 0, 'a device answers but some of its values are missing'),
    ('net_down', 'major', False, 300, 30, 'network down: no MQTT'),
    # A PV charger's own fault bits (EPEver 0x3201): seen two cycles in a row.
    ('mppt_fault', 'major', False, 5, 30, 'a PV charger reports a fault'),
    # The DSE module's own named alarms an operator acts on, in GenComm's
    # order (firmware/alarms.py _DSE_NAMED): raised while the module shows
    # a warning, shutdown or electrical trip for them; the module latches.
    ('gen_emergency_stop', 'critical', False, 0, 0, 'genset: emergency stop'),
    ('gen_low_oil_pressure', 'critical', False, 0, 0, 'genset: low oil pressure'),
    ('gen_high_coolant_temp', 'critical', False, 0, 0, 'genset: high coolant temperature'),
    ('gen_under_speed', 'major', False, 0, 0, 'genset: under speed'),
    ('gen_over_speed', 'critical', False, 0, 0, 'genset: over speed'),
    ('gen_charge_alt_fail', 'major', False, 0, 0, 'genset: charge alternator failure'),
    ('gen_module_fail_start', 'critical', False, 0, 0, 'genset: fail to start'),
    ('gen_module_low_fuel', 'major', False, 0, 0, 'genset: low fuel level'),
)
