# The board's network interface: nothing brings one up on the ESP32 but the
# firmware. Net brings up the configured one (WiFi station, Ethernet, a
# cellular modem over PPP, or on the host the PC's own network), watches it
# and brings it back after a drop, backing off 2 s .. 120 s with jitter
# while it fails. step() is called once a loop turn and never waits: every
# wait here is a deadline checked on the next turn.
#
# Config section `net`, as rows of firmware/config.py's _SCHEMA:
#   '@net\n'
#   'kind s "host" host,wlan,lan,ppp\n'
#   'ssid S null\n'                      # wlan
#   'password S null\n'                  # wlan key; ppp: PAP password (with user)
#   'phy s "LAN8720" LAN8720,IP101,RTL8201,W5500\n'
#   'mdc p null 0..48\n'                 # RMII PHYs: WT32-ETH01 and ESP32-POE use 23
#   'mdio p null 0..48\n'                # and 18
#   'power p null 0..48\n'               # PHY power/enable pin (WT32-ETH01 16, ESP32-POE 12)
#   'phy_addr i 0 0..31\n'               # WT32-ETH01 1, ESP32-POE 0, W5500 0
#   'spi i 2 1..2\n'                     # W5500: SPI host id
#   'sck p null 0..48\n'
#   'mosi p null 0..48\n'
#   'miso p null 0..48\n'
#   'cs p null 0..48\n'
#   'int p null 0..48\n'
#   'uart i 1 0..2\n'                    # ppp: the modem's UART
#   'tx p null 0..48\n'
#   'rx p null 0..48\n'
#   'baud i 115200 9600,19200,38400,57600,115200,230400,460800,921600\n'
#   'apn S null\n'
#   'user S null\n'                      # ppp: PAP user (null = no authentication)
#   'sim_pin S null\n'
#   'dns S null\n'                       # DNS server; null = the one DHCP/PPP gives
#   'connect_s i 30 2..600\n'            # an attempt not up by then fails and backs off
#   'ntp_host S "pool.ntp.org"\n'        # null = no time sync
#   'ntp_s i 21600 60..432000\n'         # time resync period (a ticks_ms deadline: < 6 days)
#   '@',
# Needed per kind (Net raises ValueError naming the key otherwise): wlan:
# ssid; lan: mdc and mdio (W5500: sck, mosi, miso, cs); ppp: tx, rx, apn.
#
# The board's API, from MicroPython v1.24..v1.28 ports/esp32:
# - network_wlan.c: WLAN(STA_IF); active(True) returns once the STA has
#   started; connect(ssid, key) returns at once; after it the port itself
#   reconnects forever on every disconnect (conf_wifi_sta_reconnects 0)
#   until disconnect(); isconnected() is "got an IP"; status() is STAT_* or
#   the IDF's last disconnect reason (201 no AP, 202 wrong password...), and
#   can show a reason left from an earlier attempt, so it only names a failure.
# - network_lan.c get_lan: LAN(id=None, *, mdc, mdio, reset, power,
#   phy_addr (required, 0..31), phy_type (required), spi, cs, int,
#   ref_clk_mode, ref_clk); SPI chips (PHY_W5500 ...) take spi/cs/int
#   instead of mdc/mdio (the SPI object only names the host: the driver
#   sets its own clock); one LAN object per board; isconnected() is
#   active and ETH_GOT_IP.
# - network_ppp.c: PPP(stream); active(True); connect(authmode=, username=,
#   password=) (v1.24/v1.25 names, kept by v1.26+ beside security/user/key;
#   AUTH_PAP is on the object in every version); isconnected();
#   active(False) closes the link. It takes the UART once the modem has
#   answered CONNECT: the AT dialog before that is ours.
# - ifconfig() on each interface gives (ip, mask, gw, dns); PPP's gives
#   (ip, gw, mask, dns): only [0] and [3] are read here.
import os
from firmware.compat import const, ticks_diff, ticks_add, ticks_ms

# Plain globals, not const(): read when used, so a test can shorten them.
BACKOFF_MIN_MS = 2000
BACKOFF_MAX_MS = 120000
_STABLE_MS = const(60000)   # up this long: a later failure backs off from the start again

# The modem dialog's steps: flags of a step.
_PLAIN = const(0)
_ESCAPE = const(1)          # '+++' with a guard time: out of a data call left open
_ANY = const(2)             # any final result will do (ATH on an idle modem)
_SIMQ = const(3)            # AT+CPIN?: READY skips the PIN, SIM PIN sends it
_PIN = const(4)             # the PIN: sent once, never again after a refusal
_FAILS = (b'ERROR', b'NO CARRIER', b'BUSY', b'NO DIALTONE', b'NO ANSWER', b'+CME ERROR')


def _short(e):
    s = str(e) or type(e).__name__
    return s[:40]


class Net:
    def __init__(self, ncfg):
        c = ncfg
        self.cfg = c
        self.kind = k = c['kind']
        need = {'wlan': ('ssid',), 'ppp': ('tx', 'rx', 'apn'),
                'lan': ('sck', 'mosi', 'miso', 'cs', 'int') if c['phy'] == 'W5500' else ('mdc', 'mdio')
                }.get(k, ())
        for key in need:
            if c[key] is None:
                raise ValueError('net.%s: needed for kind %s' % (key, k))
        if k not in ('host', 'wlan', 'lan', 'ppp'):
            raise ValueError('net.kind: %s' % k)
        self.up = False
        self.state = 'down'
        self.ip = None
        self.dns = None
        self.since_ms = ticks_ms()
        self.ups = 0
        self.failures = 0
        self.last_error = None
        self.backoff_ms = BACKOFF_MIN_MS    # the next failure's wait (before jitter)
        self._t = 0                 # deadline of the attempt, or end of the backoff
        self._mod = None            # the `network` module, imported on first use
        self._nic = None            # WLAN, LAN, or PPP once dialled
        # The same object as _nic, for the calls only its kind has: one
        # attribute per kind, so the board API check (tools/check_api.py)
        # sees each call on its own class.
        self._wlan = None           # wlan: connect, disconnect, status('rssi')
        self._ppp = None            # ppp: connect with PAP
        self._uart = None           # ppp: the modem
        self._steps = None          # ppp: the dialog under way, else None
        self._dialled = False       # ppp: a data call was made (it may still be open)
        self._silent = False        # ppp: the last dialog got no answer at all
        self._pin_refused = False
        if k == 'host':
            # The PC's network: always there, resolved by the PC's resolver.
            self._got_up(self.since_ms, '127.0.0.1', c['dns'])

    # --- the loop's side ---------------------------------------------------
    def step(self, now):
        """Once a loop turn: advance the interface's state. Returns self.up."""
        st = self.state
        try:
            if st == 'up':
                if self.kind != 'host' and not self._nic.isconnected():
                    self._lost(now)
            elif st == 'connecting':
                self._connecting(now)
            elif st == 'backoff':
                if self.kind == 'lan' and self._nic is not None and self._nic.isconnected():
                    self._got_up(now)       # the cable came back: DHCP needs nobody
                elif ticks_diff(now, self._t) >= 0:
                    self._start(now)
            elif st == 'down':
                self._start(now)
        except Exception as e:      # the driver's OSError, RuntimeError, ValueError
            self._fail(now, _short(e))
        return self.up

    def status(self):
        """A small dict for the console and MQTT."""
        d = {'kind': self.kind, 'state': self.state, 'ip': self.ip, 'ups': self.ups,
             'failures': self.failures, 'last_error': self.last_error}
        if self.kind == 'wlan' and self.up:
            try:
                d['rssi'] = self._wlan.status('rssi')
            except Exception:
                d['rssi'] = None
        return d

    def close(self):
        """Take the interface down and keep it down."""
        n = self._nic
        try:
            if self.kind == 'wlan' and n is not None:
                self._wlan.disconnect()
                n.active(False)
            elif n is not None:
                n.active(False)
        except Exception:
            pass
        self.up = False
        self.ip = None
        self._steps = None
        self._set('off', ticks_ms())

    # --- states ------------------------------------------------------------
    def _set(self, st, now):
        if st != self.state:
            self.state = st
            self.since_ms = now

    def _start(self, now):
        c = self.cfg
        k = self.kind
        self._t = ticks_add(now, c['connect_s'] * 1000)
        self._set('connecting', now)
        if self._mod is None:
            self._make()
        if k == 'wlan':
            w = self._wlan
            w.active(True)
            w.connect(c['ssid'], c['password'])
        elif k == 'lan':
            self._nic.active(True)
        else:
            self._dial(now)

    def _connecting(self, now):
        n = self._nic
        if self._steps is not None:
            self._dialog(now)
        elif n.isconnected():
            self._got_up(now)
            return
        if ticks_diff(now, self._t) >= 0:
            self._fail(now, self._why())

    def _why(self):
        # What a timed-out attempt ran into, as the driver tells it.
        m, n = self._mod, self._nic
        if self._steps is not None:
            return 'modem: no answer to ' + self._said()
        try:
            s = n.status()
        except Exception:
            return 'timeout'
        if self.kind == 'wlan':
            if s == m.STAT_NO_AP_FOUND:
                return 'no AP'
            if s == m.STAT_WRONG_PASSWORD:
                return 'wrong password'
        elif self.kind == 'lan':
            if s == m.ETH_CONNECTED:
                return 'no DHCP'
            return 'no link'
        return 'timeout'

    def _got_up(self, now, ip=None, dns=None):
        if ip is None:
            cfg = self._nic.ifconfig()
            ip = cfg[0]
            dns = cfg[3] if cfg[3] and cfg[3] != '0.0.0.0' else None
        self.ip = ip
        self.dns = self.cfg['dns'] or dns
        self.up = True
        self.ups += 1
        self._set('up', now)

    def _lost(self, now):
        self.up = False
        self.ip = None
        self.last_error = 'link lost'
        if ticks_diff(now, self.since_ms) >= _STABLE_MS:
            self.backoff_ms = BACKOFF_MIN_MS
        if self.kind == 'ppp':
            # The call is gone: PPP down, the modem dialled again later.
            self._ppp_down()
            self._wait(now)
        else:
            # The driver finds the AP or the link again by itself; give it
            # connect_s before backing off.
            self._t = ticks_add(now, self.cfg['connect_s'] * 1000)
            self._set('connecting', now)

    def _fail(self, now, why):
        self.up = False
        self.ip = None
        self.failures += 1
        self.last_error = why
        n = self._nic
        try:
            if self.kind == 'wlan' and n is not None:
                self._wlan.disconnect()     # or the port retries on its own, forever
            elif self.kind == 'ppp':
                self._steps = None
                self._ppp_down()
        except Exception:
            pass
        self._wait(now)

    def _wait(self, now):
        b = self.backoff_ms
        r = os.urandom(2)
        # 0.75 .. 1.25 of the backoff: boards that lost the network together
        # do not all come back in the same second.
        self._t = ticks_add(now, b - b // 4 + (r[0] << 8 | r[1]) % (b // 2 + 1))
        self.backoff_ms = min(b * 2, BACKOFF_MAX_MS)
        self._set('backoff', now)

    # --- the interfaces ----------------------------------------------------
    def _make(self):
        import network
        c = self.cfg
        k = self.kind
        if k == 'wlan':
            self._nic = self._wlan = network.WLAN(network.STA_IF)
        elif k == 'lan':
            from machine import Pin
            phy = getattr(network, 'PHY_' + c['phy'])
            if c['phy'] == 'W5500':
                from machine import SPI
                spi = SPI(c['spi'], sck=Pin(c['sck']), mosi=Pin(c['mosi']),
                          miso=Pin(c['miso']))
                i = c['int']
                self._nic = network.LAN(spi=spi, cs=Pin(c['cs']),
                                        int=None if i is None else Pin(i),
                                        phy_type=phy, phy_addr=c['phy_addr'])
            else:
                p = c['power']
                self._nic = network.LAN(mdc=Pin(c['mdc']), mdio=Pin(c['mdio']),
                                        power=None if p is None else Pin(p),
                                        phy_type=phy, phy_addr=c['phy_addr'])
        else:
            from machine import UART
            self._uart = UART(c['uart'], c['baud'], tx=c['tx'], rx=c['rx'])
        self._mod = network

    # --- ppp: the modem's AT dialog, then PPP ------------------------------
    def _dial(self, now):
        c = self.cfg
        s = []
        if self._dialled or self._silent:
            # A data call may still be open (ours, or from before a reset):
            # escape to command mode and hang up first.
            s.append((b'+++', 1200, 1, _ESCAPE))
            s.append((b'ATH', 3000, 1, _ANY))
        s.append((b'AT', 1000, 3, _PLAIN))
        s.append((b'ATE0', 1000, 2, _PLAIN))
        s.append((b'AT+CPIN?', 5000, 2, _SIMQ))
        s.append((b'AT+CPIN=' + (c['sim_pin'] or '').encode(), 10000, 1, _PIN))
        s.append((b'AT+CGDCONT=1,"IP","' + c['apn'].encode() + b'"', 3000, 2, _PLAIN))
        s.append((b'ATD*99#', 30000, 1, _PLAIN))   # ends with CONNECT
        self._steps = s
        self._rx = bytearray(32)
        self._ln = bytearray()
        self._sim = b''
        self._answered = False
        for _ in range(8):          # drop what the modem said before we asked
            if not self._uart.any():
                break
            self._uart.read()
        self._si = -1
        self._next(now, 1)

    def _next(self, now, skip):
        self._si += skip
        self._try = 0
        if self._si >= len(self._steps):
            self._steps = None
            self._ppp_up()
        else:
            self._send(now)

    def _send(self, now):
        cmd, tmo, _, flag = self._steps[self._si]
        if flag == _PIN and self._pin_refused:
            # Another wrong PIN would bring the SIM closer to its PUK lock.
            raise OSError('sim pin refused')
        self._try += 1
        self._t_step = ticks_add(now, tmo)
        self._ln = bytearray()
        self._uart.write(cmd if flag == _ESCAPE else cmd + b'\r')

    def _dialog(self, now):
        u = self._uart
        while self._steps is not None and u.any():
            n = u.readinto(self._rx)
            if not n:
                break
            for i in range(n):
                ch = self._rx[i]
                if ch == 13 or ch == 10:
                    if self._ln:
                        self._answered = True
                        self._line(bytes(self._ln), now)
                        self._ln = bytearray()
                        if self._steps is None:
                            return      # CONNECT: the rest is PPP's
                elif len(self._ln) < 80:
                    self._ln.append(ch)
        if self._steps is None or ticks_diff(now, self._t_step) < 0:
            return
        cmd, _, tries, flag = self._steps[self._si]
        if flag == _ESCAPE or flag == _ANY:
            self._next(now, 1)
        elif self._try < tries:
            self._send(now)
        else:
            self._silent = not self._answered
            raise OSError('modem: no answer to ' + self._said())

    def _line(self, ln, now):
        cmd, _, _, flag = self._steps[self._si]
        if ln.startswith(b'+CPIN:'):
            self._sim = ln
            return
        if flag == _ESCAPE:
            return
        if ln == b'OK' or ln.startswith(b'CONNECT'):
            if cmd.startswith(b'ATD') and ln == b'OK':
                return          # not the answer a dial waits for
            if flag == _SIMQ:
                if b'READY' in self._sim:
                    self._next(now, 2)          # no PIN wanted
                elif b'SIM PIN' in self._sim and self.cfg['sim_pin']:
                    self._next(now, 1)
                else:
                    raise OSError(('sim: ' + self._sim[7:].decode()) if self._sim else 'sim?')
                return
            self._next(now, 1)
            return
        failed = False
        for f in _FAILS:
            failed = failed or ln.startswith(f)
        if failed:
            if flag == _ANY:
                self._next(now, 1)
                return
            if flag == _PIN:
                self._pin_refused = True
                raise OSError('sim pin refused')
            raise OSError('modem: %s: %s' % (self._said()[:16], ln.decode()[:16]))
        # Anything else is an echo or an unsolicited line (RDY, SMS Ready).

    def _said(self):
        # The step's command as errors show it: never the SIM's PIN (the
        # error goes to the console and MQTT).
        cmd = self._steps[self._si][0]
        return 'AT+CPIN=***' if cmd.startswith(b'AT+CPIN=') else cmd.decode()

    def _ppp_up(self):
        m = self._mod
        self._dialled = True
        p = self._ppp
        if p is None:
            p = self._nic = self._ppp = m.PPP(self._uart)
        p.active(True)
        c = self.cfg
        if c['user']:
            p.connect(authmode=p.AUTH_PAP, username=c['user'], password=c['password'] or '')
        else:
            p.connect()

    def _ppp_down(self):
        if self._nic is not None:
            try:
                self._nic.active(False)
            except Exception:
                pass
