# Runs in the MicroPython unix port (host_tests/test_net.py starts it, with
# MICROPYPATH=tools/board_twin:<repo>): the board's network shell against
# the test's DNS and NTP servers and the `network` twin. Each command prints
# what happened and one 'RESULT <json>' line at the end.
#   dns SERVER TIMEOUT_MS BOARD HOST [@SLEEP_MS] [HOST ...]
#   sntp HOST PORT DNS_SERVER|- TIMEOUT_MS
#   net CONFIG_FILE SECONDS STOP_FILE BACKOFF_MIN_MS BACKOFF_MAX_MS
# (the config in a file: the unix port dies on an argument of 256 bytes or more)
#   board_path DNS_SERVER NTP_PORT
import sys
import json
import time
from firmware.hw import dns

cmd = sys.argv[1]
args = sys.argv[2:]


def err(e):
    return '%s %s' % (type(e).__name__, e)


def do_dns(server, timeout_ms, board, hosts):
    dns.BOARD = board == '1'
    server = None if server == '-' else server
    out = []
    for h in hosts:
        if h[0] == '@':
            time.sleep_ms(int(h[1:]))
            continue
        t0 = time.ticks_ms()
        r = {'host': h}
        try:
            a = dns.resolve(h, 80, server, timeout_ms)
            r['addr'] = list(a) if isinstance(a, (bytes, bytearray)) else a
            ip = dns.cached(h)
            r['ip'] = ip
            # What the unix port's getaddrinfo gives for that IP literal.
            r['same'] = a == dns.sockaddr(ip, 80)
        except OSError as e:
            r['err'] = err(e)
        r['ms'] = time.ticks_diff(time.ticks_ms(), t0)
        out.append(r)
    print('RESULT ' + json.dumps(out))


def run_sntp(s, server):
    # Poll as the loop would (every 10 ms here), timing each poll() call.
    t0 = time.ticks_ms()
    s.start(t0, server)
    worst = 0
    polls = 0
    r = {}
    while True:
        u = time.ticks_us()
        try:
            t = s.poll(time.ticks_ms())
        except OSError as e:
            r['err'] = err(e)
            t = None
        d = time.ticks_diff(time.ticks_us(), u)
        worst = max(worst, d)
        polls += 1
        if t is not None:
            r['unix'] = t
            break
        if 'err' in r:
            break
        time.sleep_ms(10)
    r['ms'] = time.ticks_diff(time.ticks_ms(), t0)
    r['max_poll_us'] = worst
    r['polls'] = polls
    r['busy'] = s.busy
    return r


def do_sntp(host, port, server, timeout_ms):
    from firmware.hw.sntp import Sntp
    s = Sntp(host, port, timeout_ms)
    r = run_sntp(s, None if server == '-' else server)
    print('RESULT ' + json.dumps(r))


def do_net(cfg, secs, stop_file, bmin, bmax):
    from firmware.hw import net
    net.BACKOFF_MIN_MS = bmin
    net.BACKOFF_MAX_MS = bmax
    if cfg['kind'] != 'host':
        # The twins stand for the board's C modules, which cost an import
        # nothing: compiling their source is not the step's time.
        import network
        import machine
    n = net.Net(cfg)
    t0 = time.ticks_ms()
    worst = 0
    last = None
    steps = 0
    while time.ticks_diff(time.ticks_ms(), t0) < secs * 1000:
        u = time.ticks_us()
        n.step(time.ticks_ms())
        d = time.ticks_diff(time.ticks_us(), u)
        worst = max(worst, d)
        steps += 1
        if n.state != last:
            last = n.state
            wait = time.ticks_diff(n._t, time.ticks_ms()) if last == 'backoff' else 0
            print('S ' + json.dumps({'t': time.ticks_diff(time.ticks_ms(), t0), 'state': last,
                                     'err': n.last_error, 'ups': n.ups, 'fails': n.failures,
                                     'ip': n.ip, 'dns': n.dns, 'wait': wait}))
        try:
            open(stop_file).close()
            break
        except OSError:
            pass
        time.sleep_ms(20)
    st = n.status()
    up = n.up
    n.close()
    print('RESULT ' + json.dumps({'status': st, 'max_step_us': worst, 'steps': steps,
                                  'closed': [n.state, n.up, n.step(time.ticks_ms()),
                                             n._nic is not None and n._nic.isconnected()],
                                  'network': 'network' in sys.modules,
                                  'dns': n.dns, 'up': up,
                                  'ppp_auth': getattr(n._nic, 'auth', None)}))


class _Spy:
    # The socket module as our modules see it, recording getaddrinfo's hosts
    # (the unix port's builtin module cannot be patched in place).
    def __init__(self, real, calls):
        for k in dir(real):
            if not k.startswith('__'):
                setattr(self, k, getattr(real, k))
        g = real.getaddrinfo

        def getaddrinfo(host, port, *a):
            calls.append(host)
            return g(host, port, *a)
        self.getaddrinfo = getaddrinfo


def do_board_path(server, ntp_port):
    import socket
    from firmware.hw import sntp, net
    calls = []
    spy = _Spy(socket, calls)
    dns.socket = spy
    sntp.socket = spy
    dns.BOARD = True
    r = {}
    a = dns.resolve('broker.test', 1883, server, 1000)
    r['resolved'] = a == dns.sockaddr('127.0.0.1', 1883)
    try:
        dns.resolve('other.test', 1883, None, 1000)
        r['no_server'] = 'resolved'
    except OSError as e:
        r['no_server'] = err(e)
    dns._cache.clear()
    s = sntp.Sntp('ntp.test', ntp_port, 2000)
    r['sntp'] = run_sntp(s, server)
    s = sntp.Sntp('ntp.test', ntp_port, 2000)
    r['sntp_no_server'] = run_sntp(s, None)     # cached: asks no resolver
    dns._cache.clear()
    s = sntp.Sntp('ntp.test', ntp_port, 2000)
    r['sntp_uncached_no_server'] = run_sntp(s, None)
    n = net.Net({'kind': 'wlan', 'ssid': 's', 'password': 'p', 'phy': 'LAN8720',
                 'mdc': None, 'mdio': None, 'power': None, 'phy_addr': 0, 'spi': 2,
                 'sck': None, 'mosi': None, 'miso': None, 'cs': None, 'int': None,
                 'uart': 1, 'tx': None, 'rx': None, 'baud': 115200, 'apn': None,
                 'user': None, 'sim_pin': None, 'dns': server, 'connect_s': 5,
                 'ntp_host': 'ntp.test', 'ntp_s': 21600})
    for _ in range(5):
        n.step(time.ticks_ms())
    r['net_up'] = n.up
    r['calls'] = calls
    print('RESULT ' + json.dumps(r))


if cmd == 'dns':
    do_dns(args[0], int(args[1]), args[2], args[3:])
elif cmd == 'sntp':
    do_sntp(args[0], int(args[1]), args[2], int(args[3]))
elif cmd == 'net':
    with open(args[0]) as f:
        c = json.load(f)
    do_net(c, float(args[1]), args[2], int(args[3]), int(args[4]))
elif cmd == 'board_path':
    do_board_path(args[0], int(args[1]))
else:
    raise SystemExit('unknown command ' + cmd)
