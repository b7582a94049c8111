# Host twin of the ESP32 port's `network` module (MicroPython v1.24..v1.28,
# ports/esp32: network_wlan.c, network_lan.c, network_ppp.c,
# network_common.c, modnetwork.h, modnetwork_globals.h), for the unix port:
# the same classes, signatures, constants and state rules, with the link
# itself scripted. Never deployed.
#
# The link follows the first word of the file named by the environment
# variable NET_TWIN, read again on every call that looks at the link:
#   up              the AP answers / the cable is in / the PPP peer is there
#   down            nothing (WLAN keeps "connecting", LAN has no link)
#   no_ap           WLAN: the scan finds no such SSID (status STAT_NO_AP_FOUND)
#   wrong_password  WLAN: the AP refuses the key (status STAT_WRONG_PASSWORD)
# A second word, if any, is the DNS server DHCP hands out. Without NET_TWIN
# the link is up; with NET_TWIN naming a missing file it is down.
# Addresses are all loopback, so nothing a test runs reaches another host.
import os

STA_IF = 0
AP_IF = 1

# modnetwork.h (v1.28): the internal MAC's PHYs, then the SPI chips from 100.
PHY_LAN8710 = 0
PHY_LAN8720 = 1
PHY_IP101 = 2
PHY_RTL8201 = 3
PHY_DP83848 = 4
PHY_KSZ8041 = 5
PHY_KSZ8081 = 6
PHY_LAN8670 = 7
PHY_GENERIC = 8
PHY_KSZ8851SNL = 100
PHY_DM9051 = 101
PHY_W5500 = 102
_SPI_PHYS = (PHY_KSZ8851SNL, PHY_DM9051, PHY_W5500)

ETH_INITIALIZED = 0
ETH_STARTED = 1
ETH_STOPPED = 2
ETH_CONNECTED = 3
ETH_DISCONNECTED = 4
ETH_GOT_IP = 5

# WLAN.status(): STAT_* of modnetwork.h, and the IDF's wifi_err_reason_t.
STAT_IDLE = 1000
STAT_CONNECTING = 1001
STAT_GOT_IP = 1010
STAT_BEACON_TIMEOUT = 200
STAT_NO_AP_FOUND = 201
STAT_WRONG_PASSWORD = 202
STAT_ASSOC_FAIL = 203
STAT_CONNECT_FAIL = 203
STAT_HANDSHAKE_TIMEOUT = 204
STAT_NO_AP_FOUND_W_COMPATIBLE_SECURITY = 210
STAT_NO_AP_FOUND_IN_AUTHMODE_THRESHOLD = 211
STAT_NO_AP_FOUND_IN_RSSI_THRESHOLD = 212

AUTH_OPEN = 0
AUTH_WEP = 1
AUTH_WPA_PSK = 2
AUTH_WPA2_PSK = 3
AUTH_WPA_WPA2_PSK = 4

MODE_11B = 1
MODE_11G = 2
MODE_11N = 4

_hostname = 'mpy-esp32'
_dns = '0.0.0.0'            # lwIP's dns_getserver(0): set by DHCP, PPP or ipconfig(dns=)


def _link():
    # (word, dns) as the test last wrote them.
    path = os.getenv('NET_TWIN')
    if path is None:
        return 'up', '127.0.0.1'
    try:
        with open(path) as f:
            w = f.read().split()
    except OSError:
        return 'down', None
    if not w:
        return 'down', None
    return w[0], (w[1] if len(w) > 1 else '127.0.0.1')


def hostname(name=None):
    global _hostname
    if name is None:
        return _hostname
    _hostname = name


def ipconfig(*args, **kw):
    """network.ipconfig('dns') / ipconfig(dns='a.b.c.d') (network_common.c
    esp_network_ipconfig): the resolver's server, shared by all interfaces."""
    global _dns
    if kw:
        for k in kw:
            if k == 'dns':
                _dns = kw[k]
            elif k != 'prefer':
                raise ValueError('unexpected key')
        return None
    if len(args) != 1:
        raise TypeError('can query only one param')
    if args[0] == 'dns':
        return _dns
    if args[0] == 'prefer':
        return 4
    raise ValueError('unexpected key')


def phy_mode(mode=None):
    return MODE_11B | MODE_11G | MODE_11N if mode is None else None


class _If:
    # What network_common.c gives every interface: ifconfig() and ipconfig().
    _ip = '127.0.0.2'

    def _up(self):
        return False

    def ifconfig(self, cfg=None):
        global _dns
        if cfg is not None:
            self._static = tuple(cfg)
            _dns = cfg[3]
            return None
        if getattr(self, '_static', None):
            return self._static
        if not self._up():
            return ('0.0.0.0', '0.0.0.0', '0.0.0.0', _dns)
        d = _link()[1] or '0.0.0.0'
        _dns = d
        return (self._ip, '255.0.0.0', '127.0.0.1', d)

    def ipconfig(self, *args, **kw):
        if kw:
            return None
        if len(args) != 1:
            raise TypeError('can query only one param')
        c = self.ifconfig()
        k = args[0]
        if k == 'addr4':
            return (c[0], c[1])
        if k == 'gw4':
            return c[2]
        if k == 'dhcp4':
            return not getattr(self, '_static', None)
        raise ValueError('unexpected key')


class _WlanState:
    def __init__(self, if_id):
        self.if_id = if_id
        self.active = False
        self.requested = False      # connect() called and not disconnect()ed
        self.ssid = None
        self.key = None
        self.reconnects = -1


_wlan = {}


class WLAN(_If):
    IF_STA = STA_IF
    IF_AP = AP_IF
    SEC_OPEN = 0
    SEC_WEP = 1
    SEC_WPA = 2
    SEC_WPA2 = 3
    SEC_WPA_WPA2 = 4
    PM_NONE = 0
    PM_PERFORMANCE = 1
    PM_POWERSAVE = 2

    def __init__(self, interface_id=STA_IF):
        # network_wlan_make_new: one object per interface; the twin shares
        # one state per interface among its instances.
        if interface_id not in (STA_IF, AP_IF):
            raise ValueError('invalid WLAN interface identifier')
        if interface_id not in _wlan:
            _wlan[interface_id] = _WlanState(interface_id)
        self._s = _wlan[interface_id]
        self._ip = '127.0.0.2' if interface_id == STA_IF else '127.0.0.4'

    def active(self, is_active=None):
        if is_active is not None:
            self._s.active = bool(is_active)
            if not is_active:
                self._s.requested = False
        return self._s.active

    def connect(self, ssid=None, key=None, *, bssid=None):
        if self._s.if_id != STA_IF or not self._s.active:
            raise OSError('Wifi Not Started')       # ESP_ERR_WIFI_NOT_STARTED
        if bssid is not None and len(bssid) != 6:
            raise ValueError
        if ssid is not None:
            self._s.ssid = ssid
        if key is not None:
            self._s.key = key
        self._s.requested = True

    def disconnect(self):
        if not self._s.active:
            raise OSError('Wifi Not Started')
        self._s.requested = False

    def _up(self):
        s = self._s
        return s.if_id == STA_IF and s.active and s.requested and _link()[0] == 'up'

    def isconnected(self):
        return self._up()

    def status(self, param=None):
        s = self._s
        if param is None:
            if s.if_id != STA_IF:
                return None
            if self._up():
                return STAT_GOT_IP
            if not s.active or not s.requested:
                return STAT_IDLE
            w = _link()[0]
            if w == 'no_ap':
                return STAT_NO_AP_FOUND
            if w == 'wrong_password':
                return STAT_WRONG_PASSWORD
            return STAT_CONNECTING
        if param == 'rssi':
            if s.if_id != STA_IF:
                raise OSError('STA required')
            if not self._up():
                raise OSError('Wifi Not Connected')
            return -61
        if param == 'stations':
            if s.if_id != AP_IF:
                raise OSError('AP required')
            return []
        raise ValueError('unknown status param')

    def scan(self):
        if not self._s.active:
            raise OSError('STA must be active')
        if _link()[0] in ('up', 'wrong_password') and self._s.ssid:
            return [(self._s.ssid.encode(), b'\x02\x00\x00\x00\x00\x01', 6, -61, 3, False)]
        return []

    def config(self, *args, **kw):
        s = self._s
        if kw:
            if args:
                raise TypeError('either pos or kw args are allowed')
            for k in kw:
                if k in ('ssid', 'essid'):
                    s.ssid = kw[k]
                elif k in ('key', 'password'):
                    s.key = kw[k]
                elif k == 'reconnects':
                    s.reconnects = kw[k]
                elif k in ('hostname', 'dhcp_hostname'):
                    hostname(kw[k])
                elif k not in ('mac', 'hidden', 'security', 'authmode', 'channel',
                               'max_clients', 'txpower', 'protocol', 'pm'):
                    raise ValueError('unknown config param')
            return None
        if len(args) != 1:
            raise TypeError('can query only one param')
        k = args[0]
        if k == 'mac':
            return b'\x24\x0a\xc4\x00\x00' + bytes([s.if_id])
        if k in ('ssid', 'essid'):
            return s.ssid or ''
        if k == 'reconnects':
            return s.reconnects
        if k in ('hostname', 'dhcp_hostname'):
            return hostname()
        if k == 'ifname':
            return 'sta' if s.if_id == STA_IF else 'ap'
        raise ValueError('unknown config param')


class _Lan(_If):
    _ip = '127.0.0.3'

    def __init__(self, phy_type, phy_addr):
        self.phy_type = phy_type
        self.phy_addr = phy_addr
        self._active = False

    def active(self, state=None):
        if state is not None:
            self._active = bool(state)
        return self._active

    def _up(self):
        return self._active and _link()[0] == 'up'

    def isconnected(self):
        return self._up()

    def status(self):
        if not self._active:
            return ETH_INITIALIZED
        return ETH_GOT_IP if _link()[0] == 'up' else ETH_DISCONNECTED

    def config(self, *args, **kw):
        if kw:
            return None
        if len(args) != 1:
            raise TypeError('can query only one param')
        if args[0] == 'mac':
            return b'\x24\x0a\xc4\x00\x01\x00'
        if args[0] == 'ifname':
            return 'eth'
        raise ValueError('unknown config param')


_lan = None


def LAN(id=None, *, mdc=None, mdio=None, reset=None, power=None, phy_addr, phy_type,
        spi=None, cs=None, int=None, ref_clk_mode=-1, ref_clk=None):
    """network_lan.c get_lan: the board's one Ethernet interface; phy_addr
    and phy_type are required keywords; SPI chips take spi/cs/int."""
    global _lan
    if _lan is not None:
        return _lan         # get_lan: once initialized, the same object whatever the args
    if id is not None and id != 0:
        raise ValueError('invalid LAN interface identifier')
    if not 0 <= phy_addr <= 0x1f:
        raise ValueError('invalid phy address')
    if phy_type not in (PHY_LAN8710, PHY_LAN8720, PHY_IP101, PHY_RTL8201, PHY_DP83848,
                        PHY_KSZ8041, PHY_KSZ8081, PHY_LAN8670, PHY_GENERIC) + _SPI_PHYS:
        raise ValueError('invalid phy type')
    if phy_type in _SPI_PHYS:
        if spi is None or cs is None:
            raise ValueError('SPI PHY needs spi and cs')
    elif mdc is None or mdio is None:
        raise OSError('esp_eth_driver_install failed')
    _lan = _Lan(phy_type, phy_addr)
    return _lan


class PPP(_If):
    """network_ppp.c (v1.26+ layout, with the v1.24 names it keeps): PPP
    over a stream, the UART the modem has said CONNECT on. The twin sends
    an LCP Configure-Request frame on connect() and is connected once a
    frame (0x7E-delimited) comes back from the peer, while NET_TWIN is not
    'down'."""
    SEC_NONE = 0
    SEC_PAP = 1
    SEC_CHAP = 2
    AUTH_NONE = 0
    AUTH_PAP = 1
    AUTH_CHAP = 2
    _ip = '127.0.0.5'

    def __init__(self, stream):
        if not (hasattr(stream, 'read') and hasattr(stream, 'write')):
            raise TypeError('stream operation not supported')
        self._stream = stream
        self._state = 0     # STATE_INACTIVE, ACTIVE, ERROR, CONNECTING, CONNECTED
        self._flags = 0     # frame delimiters seen from the peer
        self.auth = None

    def active(self, state=None):
        if state is not None:
            if state:
                if self._state < 1:
                    self._state = 1
            elif self._state >= 1:
                self._state = 0
                self._flags = 0
        return self._state >= 1

    def connect(self, *, security=-1, user=None, key=None, authmode=0, username=None,
                password=None):
        if security == -1:
            security = authmode
        if user is None:
            user = username
        if key is None:
            key = password
        if self._state == 0:
            self._state = 1
        if self._state in (3, 4):
            raise OSError(114)      # MP_EALREADY
        if security not in (0, 1, 2):
            raise ValueError('invalid auth')
        if security != 0 and not (isinstance(user, str) and isinstance(key, str)):
            raise TypeError("can't convert to str")
        self.auth = (security, user, key)      # what the test can check
        self._state = 3
        self._flags = 0
        # LCP Configure-Request, id 1, magic number option (HDLC-like framing).
        self._stream.write(b'\x7e\xff\x7d\x23\xc0\x21\x7d\x21\x7d\x21\x7d\x20\x7d\x2a'
                           b'\x7d\x25\x7d\x26\x12\x34\x56\x78\x00\x00\x7e')

    def disconnect(self):
        if self._state in (3, 4):
            self._state = 1

    def poll(self):
        # The peer's bytes: the twin counts frame flags.
        while True:
            b = self._stream.read(64)
            if not b:
                return 0
            self._flags += b.count(b'\x7e')

    def _up(self):
        if self._state < 3:
            return False
        if self._state == 3:
            self.poll()
            if self._flags >= 2 and _link()[0] != 'down':
                self._state = 4
        elif _link()[0] == 'down':
            self._state = 2         # the peer stopped answering LCP echoes
            return False
        return self._state == 4

    def isconnected(self):
        return self._up()

    def status(self):
        return -5 if self._state == 2 else self._state      # -PPPERR_CONNECT

    def config(self, *args, **kw):
        if kw:
            if 'stream' in kw:
                self._stream = kw['stream']
            return None
        if len(args) != 1:
            raise TypeError('can query only one param')
        if args[0] == 'stream':
            return self._stream
        if args[0] == 'ifname':
            return 'ppp1'
        raise ValueError('unknown config param')
