# Runs in the MicroPython unix port from the repo root (host_tests/
# test_link.py starts it): firmware.uplink.link against a real broker for a while,
# publishing a numbered message every period and answering commands, and
# printing what happens: UP, DOWN <error>, CMD <payload>, PUB <seq> <ok>,
# SLOW <ms> for a loop turn (step and publish) of 50 ms or more, and at the
# end STALL <longest turn in ms>.
#   micropython host_tests/mpy_link.py HOST PORT SECONDS PERIOD_MS TIMEOUT_S [CA_FILE]
import sys
import time

sys.path.insert(0, '.')
sys.path.insert(0, 'lib')
from firmware.uplink.link import Link   # noqa: E402

host, port, secs, period, tmo = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), \
    int(sys.argv[4]), float(sys.argv[5])
ca = sys.argv[6] if len(sys.argv) > 6 else None     # TLS with this CA file
cfg = {'host': host, 'port': port, 'prefix': 'sites', 'user': None, 'password': None,
       'keepalive_s': 10, 'timeout_s': tmo, 'telemetry_s': 60, 'cmd_key': None,
       'tls': ca is not None, 'ca_file': ca}
link = None


def on_command(msg, retained=0, size=0, head=None):
    print('CMD', msg.decode())
    link.publish('cmd/result', b'{"status": "seen"}', False, 1)


link = Link(cfg, 'T1', on_command)
t_end = time.ticks_add(time.ticks_ms(), int(secs * 1000))
stall = 0
seq = 0
was_up = None
next_pub = time.ticks_ms()
while time.ticks_diff(t_end, time.ticks_ms()) > 0:
    t0 = time.ticks_ms()
    link.step()
    if time.ticks_diff(time.ticks_ms(), next_pub) >= 0:
        ok = link.publish('telemetry', '{"seq": %d}' % seq, False, 1)
        print('PUB', seq, 'ok' if ok else 'down')
        seq += 1
        next_pub = time.ticks_add(next_pub, period)
    d = time.ticks_diff(time.ticks_ms(), t0)
    if d > stall:
        stall = d
    if d >= 50:
        print('SLOW', d)
    if link.up != was_up:
        print('UP' if link.up else 'DOWN %s' % link.last_error)
        was_up = link.up
    time.sleep_ms(10)
print('STALL', stall)
print('CONNECTS', link.connects)
link.close()
