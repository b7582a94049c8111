# The site picture as one compact line for the serial port, e.g.
# 12:00:04 PV 2140W | BAT 52.8V +10.2A 535W 64% bms | LOAD 1610W~ | GRID ok 0W 231V | GEN running 4.1kW 50.0Hz fuel 78% | off: -
import time


def _n(v, fmt, none='--'):
    return none if v is None else fmt % v


def line(snap, devices, app=None):
    t = time.gmtime(int(snap['ts'] or 0) % 86400)
    off = [d.name for d in devices if not d.online]
    grid = snap['grid_ok']
    gstate = snap['gen_state']
    gw = snap['gen_w']
    return ('%02d:%02d:%02d PV %s | BAT %s %s %s %s %s | LOAD %s%s | GRID %s %s %s | GEN %s %s %s fuel %s | off: %s' % (
        t[3], t[4], t[5],
        _n(snap['pv_w'], '%.0fW'),
        _n(snap['batt_v'], '%.1fV'), _n(snap['batt_a'], '%+.1fA'),
        _n(snap['batt_w'], '%+.0fW'), _n(snap['batt_soc'], '%.0f%%'),
        snap['batt_src'] or '-',
        _n(snap['load_w'], '%.0fW'), '~' if snap['load_derived'] else '',
        '--' if grid is None else ('ok' if grid else 'LOST'),
        _n(snap['grid_w'], '%.0fW'), _n(snap['grid_v'], '%.0fV'),
        gstate or '--',
        '--' if gw is None else ('%.1fkW' % (gw / 1000)),
        _n(snap['gen_hz'], '%.1fHz'), _n(snap['fuel_pct'], '%.0f%%'),
        ','.join(off) if off else '-')) + (_control(app) if app is not None else '')


def _control(app):
    if app.safe:
        fs = app.failsafe
        return ' | SAFE MODE: %s | outputs fail-safe%s | ALM %d' % (
            app.safe, ', DSE ' + fs.dse if fs.dse else '', app.alarms.count_active())
    from firmware.generator import reason_text
    from firmware.dispatch import SOURCE_NAMES
    g = app.gen
    why = reason_text(g.reasons)
    shed = [n for n, s in zip(app.shedding.names, app.shedding.shed) if s]
    return ' | CTL %s%s %s src %s | SHED %s | ALM %d' % (
        g.state_name, '(' + why + ')' if why else '', g.mode,
        SOURCE_NAMES[app.decision.source], ','.join(shed) if shed else '-',
        app.alarms.count_active())
