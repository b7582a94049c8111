# One snapshot of the whole cabinet from the decoded devices: SI units, None
# where unknown. The snapshot dict is made once and updated in place each
# cycle, so building it allocates nothing but the floats it computes.
#
# Conventions: batt_a and batt_w are positive when the battery charges;
# load_w is the DC load, measured by a load meter or derived from the DC
# balance (load_derived True).

from firmware.compat import const

# PACE BMS Modbus protocol V1.3 (firmware/profiles/pace_bms.py), register 9
# warning flags: bit 0 cell over-voltage, 1 cell under-voltage, 2 pack
# over-voltage, 3 pack under-voltage, 8 charging high temperature; register
# 10 protection flags: bits 0, 2 over-voltage, 4 charging over-current, 7
# charger over-voltage, 8 charging over-temperature; register 11 status: bit
# 10 the charge MOSFET on. Only a low warning asks for charge (a generator
# start); the high ones, and a BMS that has opened its charge MOSFET, forbid it.
_W_LOW = const(0x000A)
_W_NO_CHARGE = const(0x0105)
_P_NO_CHARGE = const(0x0195)
_ST_CHG_MOS = const(0x0400)

# Seplos V3 event bits (firmware/profiles/seplos_v3.py `events`, one byte a
# table; Seplos's V3 protocol, as venus-os_dbus-serialbattery bms/seplosv3.py
# and BMS_BLE-HA plugins/seplos_bms.py read them): TB02 (byte 1) bits 0/1
# cell high alarm/over-voltage protection, 2/3 cell low/under-voltage,
# 4/5 pack high/over-voltage, 6/7 pack low/under-voltage; TB03 (byte 2) the
# same pairs for charge high, charge low, discharge high, discharge low
# temperature; TB04 (byte 3) bits 4/5 power (MOSFET) high temperature;
# TB05 (byte 4) bit 1 charge, bit 4 discharge over-current protection;
# TB06 (byte 6) bit 0 SOC low; TB15 (byte 9) hard faults.
_SEP_PROT_V = const(0xAA)
_SEP_PROT_T = const(0xAA)
_SEP_PROT_ENV = const(0x20)
_SEP_PROT_I = const(0x12)
_SEP_LOW = const(0x44)
_SEP_SOC_LOW = const(0x01)
_SEP_NO_CHG_V = const(0x22)
_SEP_NO_CHG_T = const(0x0A)
_SEP_NO_CHG_I = const(0x02)
SEP_HOT_T = const(0x33)       # TB03 charge/discharge high temperature (firmware/alarms.py)
SEP_HOT_ENV = const(0x30)     # TB04 power high temperature

# A telecom rectifier's efficiency, AC in to DC out, for the DC balance.
RECT_EFF = 0.95

_ALARM_KEYS = ('alarms0', 'alarms1', 'alarms2', 'alarms3', 'alarms4')

# GenComm's 4-bit named-alarm codes (page 154; the same codes DSE's own
# tables give): 0 disabled digital input, 1 not active, 2 warning, 3
# shutdown, 4 electrical trip, 5-7 reserved, 8-10 indications (8, 9
# inactive, 10 active), 11-14 reserved, 15 unimplemented. Only 2-4 are
# alarms; an indication is never a fault.
DSE_WARNING = const(2)
DSE_SHUTDOWN = const(3)
DSE_TRIP = const(4)

# A genset is running at or above this frequency, or above this speed,
# when nothing better tells (firmware/generator.py reads the same).
RUNNING_HZ = const(45)
RUNNING_RPM = const(300)

# DSE engine operating state (1408) -> gen_state.
_DSE_STATE = ('stopped', 'starting', 'warming', 'running', 'cooling',
              'stopped', 'cooling')

FIELDS = ('ts', 'pv_w', 'batt_v', 'batt_a', 'batt_w', 'batt_soc', 'batt_ah',
          'batt_protect', 'batt_warn', 'batt_src', 'load_w', 'load_derived',
          'grid_ok', 'grid_v', 'grid_w', 'gen_state', 'gen_w', 'gen_hz',
          'fuel_pct', 'batt_no_charge')

# Grid counted healthy within these limits (a weak grid sags and drifts).
GRID_V_MIN = 180.0
GRID_V_MAX = 270.0
GRID_HZ_MIN = 45.0
GRID_HZ_MAX = 65.0


def new(devices):
    snap = {}
    for f in FIELDS:
        snap[f] = None
    dev = {}
    for d in devices:
        dev[d.name] = d.values
    snap['dev'] = dev
    return snap


def dse_alarm(blk, i):
    """The 4-bit code of named alarm i (0-based, GenComm order) in the
    named-alarm registers' bytes `blk`: 0 when the module does not have it."""
    k = i >> 1
    if blk is None or k >= len(blk):
        return 0
    b = blk[k]
    return b >> 4 if not i & 1 else b & 0xF


def _worse(top, lv):
    # An alarm code counts only as a warning (2), shutdown (3) or trip (4).
    if lv < DSE_WARNING or lv > DSE_TRIP:
        return top
    return DSE_SHUTDOWN if lv >= DSE_SHUTDOWN else max(top, DSE_WARNING)


def _dse_alarm_level(v, blk):
    """Worst alarm in the named alarms: DSE_SHUTDOWN for a shutdown or an
    electrical trip, DSE_WARNING for a warning, 0 for none. The whole block
    when it was read, else the first five registers (alarms0..alarms4)."""
    top = 0
    if blk is not None:
        for b in blk:
            top = _worse(_worse(top, b >> 4), b & 0xF)
        return top
    for key in _ALARM_KEYS:
        w = v.get(key)
        if w is None:
            continue
        for s in (0, 4, 8, 12):
            top = _worse(top, (w >> s) & 0xF)
    return top


def gen_state(v, online, blk=None):
    """What the genset reports: stopped, starting, warming, running, cooling,
    fault or unknown. Falls back to speed and frequency when the module
    does not implement the operating-state register. `blk`: the bytes of
    its named-alarm registers (the poller's Device.blk), when read."""
    if not online:
        return 'unknown'
    if _dse_alarm_level(v, blk) >= DSE_SHUTDOWN:
        return 'fault'
    st = v.get('engine_state')
    if st is not None and st < len(_DSE_STATE):
        return _DSE_STATE[st]
    rpm = v.get('rpm')
    hz = v.get('hz')
    if rpm is None and hz is None:
        return 'unknown'
    if (rpm is not None and rpm > RUNNING_RPM) or (hz is not None and hz >= RUNNING_HZ):
        return 'running'
    return 'stopped'


def _add(a, b):
    if b is None:
        return a
    return b if a is None else a + b


def update(snap, devices, ts):
    """Fill `snap` from the devices' current values."""
    pv_w = None
    pv_out = None        # what the chargers put on the DC bus
    pv_missing = False
    bms_v = None
    bms_n = 0
    bms_a = None
    bms_soc = None
    bms_ah = None
    protect = None
    warn = None
    no_chg = None
    mppt_v = mppt_a = mppt_soc = None
    grid_w = None
    grid_v = None
    grid_hz = None
    grid_seen = False
    grid_missing = False
    gen_meter_w = None
    gen_meter_hz = None
    load_w = None
    load_seen = False
    gen_seen = False
    gen_missing = False
    gstate = None
    gen_w = None
    gen_hz = None
    fuel = None
    for d in devices:
        v = d.values
        on = d.online
        k = d.kind
        if k == 'pv':
            if not on:
                pv_missing = True
                continue
            pv_w = _add(pv_w, v['pv_w'])
            out = v['charge_w'] if v['charge_w'] is not None else v['pv_w']
            if out is None:
                pv_missing = True
            pv_out = _add(pv_out, out)
            if mppt_v is None:
                mppt_v = v['batt_v']
                mppt_soc = v['soc']
            mppt_a = _add(mppt_a, v['batt_net_a'])
        elif k == 'bms':
            if not on:
                continue
            if v['voltage_v'] is not None:
                bms_v = _add(bms_v, v['voltage_v'])
                bms_n += 1
            bms_a = _add(bms_a, v['current_a'])
            s = v['soc']
            if s is not None and (bms_soc is None or s < bms_soc):
                bms_soc = s
            bms_ah = _add(bms_ah, v.get('full_ah'))
            p = v.get('protection')
            if p is not None:
                protect = bool(p) or bool(protect)
            w = v.get('warning')
            if w is not None:
                warn = bool(w & _W_LOW) or bool(warn)
            # Which of the pack's words forbid charge: PACE's flags, a
            # Seplos's stated charge limit of 0 A.
            nc = None
            if w is not None:
                nc = bool(w & _W_NO_CHARGE)
            if p is not None and p & _P_NO_CHARGE:
                nc = True
            st = v.get('status')
            if st is not None and not st & _ST_CHG_MOS:
                nc = True
            ev = getattr(d, 'blk', None)
            if ev is not None:      # a Seplos's event bits
                protect = bool(ev[1] & _SEP_PROT_V or ev[2] & _SEP_PROT_T or ev[3] & _SEP_PROT_ENV
                               or ev[4] & _SEP_PROT_I or ev[9]) or bool(protect)
                warn = bool(ev[1] & _SEP_LOW or ev[6] & _SEP_SOC_LOW) or bool(warn)
                nc = bool(ev[1] & _SEP_NO_CHG_V or ev[2] & _SEP_NO_CHG_T or ev[4] & _SEP_NO_CHG_I)
            mc = v.get('max_chg_a')
            if mc is not None:
                nc = nc or mc == 0
            if nc is not None:
                no_chg = nc or bool(no_chg)
        elif k == 'meter':
            role = d.role or 'grid'
            if role == 'grid':
                grid_seen = True
                if not on:
                    grid_missing = True
                    continue
                grid_w = _add(grid_w, v['power_w'])
                if grid_v is None:
                    grid_v = v['v_l1']
                    grid_hz = v['hz']
            elif role == 'generator':
                if on:
                    gen_meter_w = _add(gen_meter_w, v['power_w'])
                    if gen_meter_hz is None:
                        gen_meter_hz = v['hz']
            elif role == 'load':
                load_seen = True
                if on and v['power_w'] is not None:
                    load_w = _add(load_w, v['power_w'])
        elif k == 'genset':
            gen_seen = True
            if gstate is None:
                gstate = gen_state(v, on, getattr(d, 'blk', None))
                if on:
                    gen_w = v['power_w']
                    gen_hz = v['hz']
                    fuel = v['fuel_pct']
                else:
                    gen_missing = True

    snap['ts'] = ts
    snap['pv_w'] = pv_w

    # Battery: the BMS is the reference; the charger's view is the fallback
    # when every BMS is silent.
    if bms_n or bms_a is not None or bms_soc is not None:
        snap['batt_v'] = bms_v / bms_n if bms_n else mppt_v
        snap['batt_a'] = bms_a
        snap['batt_soc'] = bms_soc
        snap['batt_src'] = 'bms'
    elif mppt_v is not None:
        snap['batt_v'] = mppt_v
        snap['batt_a'] = mppt_a
        snap['batt_soc'] = mppt_soc
        snap['batt_src'] = 'mppt'
    else:
        snap['batt_v'] = snap['batt_a'] = snap['batt_soc'] = snap['batt_src'] = None
    bv = snap['batt_v']
    ba = snap['batt_a']
    snap['batt_w'] = bv * ba if bv is not None and ba is not None else None
    snap['batt_ah'] = bms_ah
    snap['batt_protect'] = protect
    snap['batt_warn'] = warn            # a warning that asks for charge
    snap['batt_no_charge'] = no_chg     # the BMS forbids charging now

    # Grid: healthy when the grid meter sees voltage and frequency in range.
    snap['grid_w'] = grid_w
    snap['grid_v'] = grid_v
    if not grid_seen or grid_missing or grid_v is None:
        snap['grid_ok'] = None
    else:
        snap['grid_ok'] = (GRID_V_MIN <= grid_v <= GRID_V_MAX
                           and grid_hz is not None
                           and GRID_HZ_MIN <= grid_hz <= GRID_HZ_MAX)

    # Generator: a generator meter outranks the controller's own figures.
    snap['gen_state'] = gstate if gen_seen else None
    snap['gen_w'] = gen_meter_w if gen_meter_w is not None else gen_w
    snap['gen_hz'] = gen_meter_hz if gen_meter_hz is not None else gen_hz
    snap['fuel_pct'] = fuel

    # Load: measured when a load meter answers, else the DC balance. Every
    # configured source must be known for the balance to mean anything.
    if load_seen and load_w is not None:
        snap['load_w'] = load_w
        snap['load_derived'] = False
    else:
        bw = snap['batt_w']
        gw = snap['gen_w']
        if snap['gen_state'] in ('stopped', 'fault') and gw is None:
            gw = 0.0
        if (bw is None or pv_missing or (grid_seen and (grid_missing or grid_w is None))
                or (gen_seen and (gen_missing or gw is None))):
            snap['load_w'] = None
        else:
            dc_in = (pv_out or 0.0) + RECT_EFF * ((grid_w or 0.0) + (gw or 0.0))
            load = dc_in - bw
            snap['load_w'] = load if load > 0 else 0.0
        snap['load_derived'] = True
    return snap
