# The MQTT link to the operator, on umqtt.simple (lib/, pinned): connect with
# keepalive and a retained last will, retained "online" status, the command
# topic, publishing, and reconnecting with exponential backoff and jitter.
# Every socket operation has mqtt.timeout_s (see hw/mqtt_sock.py), so a
# broker that is killed, refuses, freezes or crawls never holds the control
# loop longer than that; a failure drops the link and the caller keeps what
# it could not send (store and forward, firmware/uplink/ring.py).
import os
import sys
from firmware.compat import const, ticks_ms, ticks_diff, ticks_add

_BACKOFF_MIN_MS = const(1000)
_BACKOFF_MAX_MS = const(60000)
# A message on a subscribed topic longer than this is read off the socket
# in _CHUNK pieces and thrown away: umqtt.simple would read it whole into
# one block, which the board's fragmented heap does not have (the link
# dropped on every try, and a retained one flapped it). Commands are
# small; commands.MAX_PAYLOAD is the same figure. Its first _CHUNK bytes
# are handed on first: a command's id comes first in its body, and the
# refusal can then go to it as a result.
MAX_PAYLOAD = const(1024)
_CHUNK = const(128)
_TOPIC_MAX = const(256)


def _client_class(simple):
    """umqtt.simple's MQTTClient with our own receive path (wait_msg):
    bounded reads, the retain flag passed on. The rest is the library's."""

    class Client(simple.MQTTClient):
        def _skip(self, n):
            # Read and drop n bytes in small pieces, reusing one buffer.
            buf = self._chunk
            while n > 0:
                k = self.sock.readinto(buf, min(n, _CHUNK))
                if not k:
                    raise OSError(-1)
                n -= k

        def _take(self, n):
            b = self.sock.read(n)
            if b is None or len(b) != n:
                raise OSError(-1)   # a short read: the stream is out of step
            return b

        def wait_msg(self):
            s = self.sock
            res = s.read(1)
            s.setblocking(True)
            if res is None:
                return None
            if res == b'':
                raise OSError(-1)
            op = res[0]
            if op == 0xD0:          # PINGRESP
                self._take(1)
                return None
            if op & 0xF0 != 0x30:
                return op           # the library's publish/subscribe read the rest
            sz = self._recv_len()
            b = self._take(2)
            tlen = b[0] << 8 | b[1]
            if tlen > sz - 2:
                raise OSError(-1)
            topic = None
            if tlen > _TOPIC_MAX:   # not one of ours
                self._skip(tlen)
            else:
                topic = self._take(tlen)
            sz -= tlen + 2
            pid = None
            if op & 6:
                b = self._take(2)
                pid = b[0] << 8 | b[1]
                sz -= 2
            msg = None
            if sz <= MAX_PAYLOAD:
                try:
                    msg = self._take(sz) if sz else b''
                except MemoryError:
                    # read() takes its block before it reads a byte: the
                    # stream is still in step, and the message goes the
                    # oversized way (the receiver is told by msg None).
                    pass
            if msg is None and topic is not None and sz:
                # The head in the reused chunk, handed on before the rest
                # is read off through the same chunk.
                n = self.sock.readinto(self._chunk, min(sz, _CHUNK))
                if not n:
                    raise OSError(-1)
                self.cb(topic, None, op & 1, sz, memoryview(self._chunk)[:n])
                self._skip(sz - n)
            else:
                if msg is None:
                    self._skip(sz)
                if topic is not None:
                    self.cb(topic, msg, op & 1, sz, None)
            if op & 6 == 2:         # QoS 1: acknowledged once filed (or dropped)
                ack = bytearray(b'\x40\x02\0\0')
                ack[2] = pid >> 8
                ack[3] = pid & 0xFF
                s.write(ack)
            # QoS 2 is never asked for (subscriptions are QoS 1)

    return Client


def _install_socket_shim(timeout_s):
    from firmware.hw import mqtt_sock
    mqtt_sock.timeout_s = timeout_s
    sys.modules['usocket'] = mqtt_sock    # what umqtt.simple 1.3.4 imports as socket
    import umqtt.simple as simple
    simple.socket = mqtt_sock             # in case it was imported before
    return simple, mqtt_sock


class Link:
    def __init__(self, mcfg, site_id, on_command=None):
        self.cfg = mcfg
        self.base = '%s/%s' % (mcfg['prefix'], site_id)
        self.t_status = self.base + '/status'
        self.t_cmd = self.base + '/cmd'
        self.t_ha = None            # Home Assistant's generator switch, when enabled
        self.on_ha = None
        self.client_id = 'sc-' + site_id
        self.on_command = on_command
        self.up = False
        self.client = None
        self.backoff_ms = _BACKOFF_MIN_MS
        self.next_try = None        # ticks_ms of the next connection attempt
        self.last_tx = None         # ticks_ms of the last packet we sent
        self.connects = 0
        self.failures = 0
        self.last_error = None
        self.sent = 0
        self._simple = None
        self._client = None         # _client_class(), once umqtt.simple is loaded
        self._net = None            # firmware.hw.mqtt_sock, once installed

    def topic(self, suffix):
        return self.base + '/' + suffix

    # --- connection ------------------------------------------------------
    def _connect(self, now):
        if self._simple is None:
            self._simple, self._net = _install_socket_shim(self.cfg['timeout_s'])
            self._client = _client_class(self._simple)
        self._net.begin()
        m = self.cfg
        if m['tls'] and self._net.tls is None:
            with open(m['ca_file'], 'rb') as f:
                self._net.tls = (self._net.tls_context(f.read()), m['host'])
        # The arguments every umqtt.simple since 1.3 takes alike: TLS is
        # the socket shim's (hw/mqtt_sock.py), whatever version is loaded.
        c = self._client(self.client_id, m['host'], m['port'], m['user'],
                         m['password'] or '', m['keepalive_s'])
        c._chunk = bytearray(_CHUNK)
        c.set_last_will(self.t_status, b'offline', retain=True, qos=1)
        c.set_callback(self._on_msg)
        self.client = c
        c.connect()
        c.publish(self.t_status, b'online', retain=True, qos=1)
        c.subscribe(self.t_cmd, qos=1)
        if self.t_ha is not None:
            c.subscribe(self.t_ha, qos=1)
        self.up = True
        self.connects += 1
        self.backoff_ms = _BACKOFF_MIN_MS
        self.last_tx = now

    def _drop(self, err, now):
        self.up = False
        self.failures += 1
        self.last_error = repr(err)
        c = self.client
        self.client = None
        if c is not None and c.sock is not None:
            try:
                c.sock.close()
            except Exception:
                pass
        # Exponential backoff with jitter, so a hundred sites do not all
        # come back to the broker in the same second.
        jitter = (os.urandom(1)[0] * self.backoff_ms) >> 9      # 0..50 %
        self.next_try = ticks_add(now, self.backoff_ms + jitter)
        self.backoff_ms = min(self.backoff_ms * 2, _BACKOFF_MAX_MS)

    def _on_msg(self, topic, msg, retained=0, size=0, head=None):
        # msg is None when it was longer than MAX_PAYLOAD and dropped unread;
        # head is then its first bytes (valid during the call only).
        if self.on_command is not None and topic == self.t_cmd.encode():
            self.on_command(msg, retained, size, head)
        elif self.on_ha is not None and topic == self.t_ha.encode():
            if msg is not None:
                self.on_ha(msg, retained)

    # --- the loop's calls ------------------------------------------------
    def step(self, now=None):
        """Connect when due, take incoming commands, keep the link alive.
        Never raises; never blocks longer than about mqtt.timeout_s."""
        if now is None:
            now = ticks_ms()
        if not self.up:
            if self.next_try is not None and ticks_diff(now, self.next_try) < 0:
                return False
            try:
                self._connect(now)
            except Exception as e:      # OSError, MQTTException, a bad answer
                self._drop(e, now)
                return False
            return True
        try:
            self._net.begin()
            for _ in range(8):          # a few commands a step, never a flood
                if self.client.check_msg() is None:
                    break
            ka = self.cfg['keepalive_s'] * 1000
            if ticks_diff(now, self.last_tx) >= ka // 2:
                self.client.ping()
                self.last_tx = now
        except Exception as e:
            self._drop(e, now)
            return False
        return True

    def publish(self, suffix, payload, retain=False, qos=0):
        """True when handed to the broker (QoS 1: acknowledged by it)."""
        return self.publish_to(self.base + '/' + suffix, payload, retain, qos)

    def publish_to(self, topic, payload, retain=False, qos=0):
        """publish() to a topic outside the site's own (Home Assistant's)."""
        if not self.up:
            return False
        now = ticks_ms()
        try:
            # umqtt.simple sizes the packet with len(): of a str that counts
            # characters, and a non-ASCII one sends a packet shorter than it
            # says, which the broker drops the connection for. Bytes count.
            if isinstance(payload, str):
                payload = payload.encode()
            if isinstance(topic, str):
                topic = topic.encode()
            self._net.begin()
            self.client.publish(topic, payload, retain, qos)
        except Exception as e:
            self._drop(e, now)
            return False
        self.last_tx = now
        self.sent += 1
        return True

    def close(self):
        """A clean stop: the broker publishes no last will for it, so say
        offline ourselves first."""
        if self.up:
            try:
                self._net.begin()
                self.client.publish(self.t_status, b'offline', True, 1)
                self.client.disconnect()
            except Exception:
                pass
        self.up = False
