# Console commands that look: the site, the devices, the alarms, the log.
# Loaded for one command at a time by firmware.console.cmdline.
import gc
import sys
from firmware.compat import ticks_ms, ticks_diff
from firmware.console.words import Usage, want, number


def run(con, name, args, text, now):
    globals()['c_' + name](con, args, text, now)


def _uptime(app):
    s = ticks_diff(ticks_ms(), app.t_start) // 1000
    return '%dd %02d:%02d:%02d' % (s // 86400, s // 3600 % 24, s // 60 % 60, s % 60)


def c_status(con, args, text, now):
    want(args, 0)
    app = con.app
    from firmware import display
    from firmware.generator import reason_text, STOP_NAMES
    from firmware.dispatch import SOURCE_NAMES, REASON_NAMES, TOU_NAMES
    g = app.gen
    d = app.decision
    gc.collect()
    print('site %s  up %s  heap free %d  ticks %d  cycle %d ms  fw %s' % (
        app.cfg['site_id'], _uptime(app), gc.mem_free(), app.poller.cycles, app.cycle_ms,
        app.version))
    print(display.line(app.snap, app.devices))
    if app.safe:
        print('SAFE MODE: %s. Nothing is polled or controlled: loads on, DSE %s, '
              'generator relay %s. Fix the cause, then reboot.' % (
                  app.safe, app.failsafe.dse or '-', 'run' if app.gen.out_run else 'off'))
    why = reason_text(g.reasons)
    print('generator: %s, mode %s%s%s%s' % (
        g.state_name, g.mode, ', start reasons: ' + why if why else '',
        ', last stop: ' + STOP_NAMES[g.stop_reason] if g.stop_reason else '',
        ', LOCKED OUT (gen reset)' if g.lockout else ''))
    from firmware.hw.actuators import DseKeys
    for a in app.actuators:
        if isinstance(a, DseKeys):
            print('dse keys: %d sent, %d failed; key flags %s%s' % (
                a.sent, a.failed, '-' if a.flags is None else
                'manual path' if a.manual_path() else 'telemetry path',
                ', %d reads failed' % a.flag_errors if a.flag_errors else ''))
    print('dispatch: source %s (%s), grid contactor %s%s%s' % (
        SOURCE_NAMES[d.source], REASON_NAMES[d.reason], 'closed' if d.grid_on else 'open',
        ', on battery' if d.on_battery else '',
        ', tariff ' + TOU_NAMES[d.tou] if d.tou else ''))
    dp = app.dispatch
    if dp.backup_s:
        print('reserve: %d %% (keeps %.1f h of outage: twice the longest of %d days)'
              % (dp.reserve_now, dp.backup_s / 3600, dp.outage_days))
    from firmware.hw.actuators import MpptCoils
    mp = [a for a in app.actuators if isinstance(a, MpptCoils)]
    # No charger here takes an amps limit: the BMS's limit is only shown.
    print('charging: mppt %s%s; bms charge limit %s, not passed to any charger' % (
        ('on' if d.pv_charge else 'OFF (bms forbids)') if mp else 'not switched',
        ', %d coil writes failed' % mp[0].failed if mp and mp[0].failed else '',
        '-' if d.charge_limit_a is None else '%d A' % d.charge_limit_a))
    sh = app.shedding
    shed = [n for n, s in zip(sh.names, sh.shed) if s]
    print('loads: %d, shed: %s' % (len(sh.names), ', '.join(shed) if shed else '-'))
    act = app.alarms.active()
    print('alarms: %d active%s' % (len(act), ': ' + ', '.join(
        [a['code'] + ('' if a['acked'] else '*') for a in act]) if act else ''))
    fc = app.forecast
    print('pv forecast: %s' % (
        'off (latitude, longitude)' if fc is None else
        'learning (needs a whole day of PV)' if not fc.n_scales else
        'no sun expected: charging runs stop at generator.stop_soc' if fc.target is None else
        'charging runs stop at %d %% (%.1f kWh of PV expected into the battery)'
        % (fc.target, fc.expected_wh / 1000)))
    up = app.uplink
    if up is None:
        print('link: MQTT disabled (mqtt.enabled false)')
    else:
        print('link: %s%s%s' % ('up' if up.link.up else 'down (%s)' % up.link.last_error,
                                ', %d records lost to flash errors' % up.spool_errors
                                if up.spool_errors else '',
                                ', %d uplink errors' % app.uplink_errors if app.uplink_errors else ''))
    n = app.net.status()
    print('net: %s %s%s (ups %d, failures %d%s)' % (
        n['kind'], n['state'], ' ' + n['ip'] if n['ip'] else '', n['ups'], n['failures'],
        ', last: ' + n['last_error'] if n['last_error'] else ''))
    from firmware import clock
    ts = app.snap['ts'] or clock.now()
    tm = clock.civil(ts)
    ntp = app.timesync
    print('clock: %s%04d-%02d-%02d %02d:%02d:%02d UTC, %s' % (
        '' if clock.valid else 'NOT SET, ', tm[0], tm[1], tm[2], tm[3], tm[4], tm[5],
        'no NTP (net.ntp_host)' if ntp is None else 'NTP %s: %d syncs, %d failures%s' % (
            ntp.host, ntp.syncs, ntp.failures,
            ', last: ' + ntp.last_error if ntp.last_error else '')))
    print('console: %s%s' % ('unlocked' if con.unlocked else 'locked',
                             '' if con.pin else ' (no console.pin set: changes are not protected)'))
    if app.warning:
        print('WARNING: ' + app.warning)


def c_devices(con, args, text, now):
    want(args, 0)
    from firmware.bus_errors import TIMEOUT, FRAME, EXCEPTION, LINK
    from firmware.poller import MISSES_OFFLINE
    ts = con.app.snap['ts'] or 0
    print('%-10s %-15s %-6s %4s %-7s %9s %7s %5s %5s %5s %5s  %s' % (
        'device', 'profile', 'bus', 'unit', 'state', 'last ok', 'ok', 'tmo', 'frame', 'exc',
        'link', 'last error'))
    for d in con.app.devices:
        age = '-' if d.last_ok is None else '%ds ago' % max(0, ts - d.last_ok)
        print('%-10s %-15s %-6s %4d %-7s %9s %7d %5d %5d %5d %5d  %s' % (
            d.name, d.profile_name, d.bus.name, d.unit, 'online' if d.online else 'OFFLINE', age,
            d.n_ok, d.n_err[TIMEOUT], d.n_err[FRAME], d.n_err[EXCEPTION], d.n_err[LINK],
            d.last_err or '-'))
        if d.limit:
            print('%-10s reads split: at most %d registers a read (it refused %d with exception 2)'
                  % ('', d.limit, d.refused))
        if d.online and d.missing:
            print('%-10s %d of %d requests without data for %d+ cycles: their values are missing'
                  % ('', d.missing, len(d.reqs), MISSES_OFFLINE))


def _device(app, name):
    for d in app.devices:
        if d.name == name:
            return d
    raise Usage('no device %r (devices: %s)' % (name[:20], ', '.join([d.name for d in app.devices])))


def c_read(con, args, text, now):
    want(args, 1)
    d = _device(con.app, args[0])
    print('%s (%s, unit %d, %s)' % (d.name, d.profile_name, d.unit,
                                    'online' if d.online else 'OFFLINE'))
    dp = {}
    for i in range(len(d.names)):
        dp[d.names[i]] = d.dp[i]
    for k in sorted(d.values):
        v = d.values[k]
        # Each value at the resolution its device measures.
        print('  %-22s %s' % (k, '--' if v is None else (
            '%.*f' % (dp.get(k, 3), v) if isinstance(v, float) else v)))


def c_raw(con, args, text, now):
    want(args, 5)
    buses = con.app.buses
    bus = buses.get(args[0])
    if bus is None:
        raise Usage('no bus %r (buses: %s)' % (args[0][:20], ', '.join(buses)))
    unit = number(args[1], 0, 247, 'UNIT')
    fc = number(args[2], 3, 4, 'FC (3 holding, 4 input)')
    addr = number(args[3], 0, 65535, 'ADDR')
    n = number(args[4], 1, 125, 'N')
    if addr + n > 65536:
        raise Usage('ADDR + N must not pass 65535')
    from firmware.bus_errors import BusError
    con.bus_turn_used = True
    try:
        data = bus.read(unit, fc, addr, n)
    except BusError as e:
        print('no answer: %s' % e)
        return
    for i in range(n):
        w = (data[2 * i] << 8) | data[2 * i + 1]
        print('  %5d  0x%04X  %6d  %6d' % (addr + i, w, w, w - 65536 if w & 0x8000 else w))


def c_alarms(con, args, text, now):
    want(args, 0)
    act = con.app.alarms.active()
    if not act:
        print('no active alarms')
    ts = con.app.snap['ts'] or 0
    for a in act:
        since = '-' if a['since'] is None else '%ds ago' % max(0, ts - a['since'])
        print('  %-22s %-8s %-9s %s  %s' % (a['code'], a['severity'],
                                            'acked' if a['acked'] else 'NOT ACKED', since, a['text']))


def c_log(con, args, text, now):
    want(args, 0, 1)
    n = number(args[0], 1, 200, 'N') if args else 10
    rows = con.app.elog.last(n)
    if not rows:
        print('no events')
    if con.app.elog.flash_errors:
        print('  (%d events could not be written to flash: they are missing after a reboot)'
              % con.app.elog.flash_errors)
    from firmware.clock import civil, from_unix
    for ts, t in rows:
        tm = civil(from_unix(ts))
        print('  %04d-%02d-%02d %02d:%02d:%02d  %s' % (tm[0], tm[1], tm[2], tm[3], tm[4], tm[5], t))


def c_counters(con, args, text, now):
    want(args, 0)
    from firmware.counters import ASSUMED_RATED_KW
    c = con.app.counters
    g = con.app.gen
    print('  pv        %10.2f kWh' % c.pv_kwh)
    print('  grid      %10.2f kWh' % c.grid_kwh)
    print('  generator %10.2f kWh' % c.gen_kwh)
    print('  load      %10.2f kWh' % c.load_kwh)
    print('  diesel    %10.2f l (%.1f kg CO2)%s' % (
        c.diesel_l, c.co2_kg, ' ESTIMATED: generator.rated_kw not set, %d kW assumed'
        % ASSUMED_RATED_KW if c.rated_assumed else ' (rating %g kW from the genset module)'
        % c.rated_kw if c.rated_src == 'module' else ''))
    print('  shed      %10.1f load-minutes' % c.shed_min)
    print('  gen run   %10.2f h, %d starts' % (g.run_s / 3600, g.starts))


def c_version(con, args, text, now):
    want(args, 0)
    impl = sys.implementation
    print('site controller %s' % con.app.version)
    print('MicroPython %s on %s' % ('.'.join([str(x) for x in impl.version[:3]]), sys.platform))
    try:
        from umodbus.version import __version__ as mb
    except ImportError:
        mb = '-'
    print('umodbus %s' % mb)


def c_watch(con, args, text, now):
    want(args, 0)
    con.watching = True
    print('watching: press Enter to stop')


def c_lock(con, args, text, now):
    con.unlocked = False
    print('locked')


def c_exit(con, args, text, now):
    con.end('session ended')
