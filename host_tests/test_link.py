# firmware.uplink.link in the MicroPython unix port against a real mosquitto, with
# paho-mqtt as the operator: retained status and last will, commands in,
# and a broker that freezes, dies and comes back never stalling the loop
# for longer than mqtt.timeout_s. On both interpreters, but TLS: the
# board's number model (micropython-esp32like) has no ssl module.
import os
import queue
import subprocess
import threading
import time

import paho.mqtt.client as mqtt

from broker import Broker
from rigs import ROOT, on_both


class Operator:
    """A paho client subscribed to the site's topics."""

    def __init__(self, port):
        self.msgs = queue.Queue()
        self.c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="noc-test")
        self.c.on_message = lambda c, u, m: self.msgs.put((m.topic, m.payload.decode(), m.retain))
        self.c.connect("127.0.0.1", port)
        self.c.subscribe("sites/T1/#", qos=1)
        self.c.loop_start()

    def wait(self, topic, payload=None, timeout=10):
        deadline = time.time() + timeout
        seen = []
        while time.time() < deadline:
            try:
                t, p, r = self.msgs.get(timeout=0.1)
            except queue.Empty:
                continue
            seen.append((t, p))
            if t == topic and (payload is None or p == payload):
                return p, r
        raise AssertionError("no %s %r; saw %r" % (topic, payload, seen[-10:]))

    def stop(self):
        self.c.loop_stop()
        self.c.disconnect()


class Fw:
    def __init__(self, micropython, port, secs, period_ms=200, timeout_s=1.0, ca=None,
                 host="127.0.0.1"):
        args = [micropython, "host_tests/mpy_link.py", host, str(port), str(secs),
                str(period_ms), str(timeout_s)] + ([ca] if ca else [])
        self.p = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, text=True)
        self.lines = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for l in self.p.stdout:
            self.lines.append(l.rstrip("\n"))

    def wait_line(self, prefix, timeout=10):
        deadline = time.time() + timeout
        while time.time() < deadline:
            for l in self.lines:
                if l.startswith(prefix):
                    return l
            time.sleep(0.05)
        raise AssertionError("no %r in %r" % (prefix, self.lines[-20:]))

    def finish(self, timeout=60):
        self.p.wait(timeout=timeout)
        time.sleep(0.2)
        return self.lines


@on_both
def test_status_retained_and_last_will(micropython, broker):
    op = Operator(broker.port)
    try:
        fw = Fw(micropython, broker.port, 30)
        fw.wait_line("UP")
        assert op.wait("sites/T1/status", "online")[0] == "online"
        op.wait("sites/T1/telemetry")
        fw.p.kill()                       # power cut: the broker speaks for us
        fw.p.wait()
        assert op.wait("sites/T1/status", "offline", timeout=30)[0] == "offline"
    finally:
        op.stop()
    # A late subscriber gets the retained status.
    late = Operator(broker.port)
    try:
        p, retained = late.wait("sites/T1/status")
        assert p == "offline" and retained
    finally:
        late.stop()


@on_both
def test_commands_arrive_and_get_answered(micropython, broker):
    op = Operator(broker.port)
    try:
        fw = Fw(micropython, broker.port, 6)
        fw.wait_line("UP")
        op.wait("sites/T1/status", "online")
        op.c.publish("sites/T1/cmd", '{"body": "{}", "sig": ""}', qos=1)
        assert fw.wait_line("CMD ") == 'CMD {"body": "{}", "sig": ""}'
        op.wait("sites/T1/cmd/result", '{"status": "seen"}')
        lines = fw.finish()
        assert "CONNECTS 1" in lines
    finally:
        op.stop()


@on_both
def test_frozen_broker_never_stalls_the_loop_past_the_timeout(micropython, broker):
    fw = Fw(micropython, broker.port, 12, period_ms=200, timeout_s=1.0)
    fw.wait_line("UP")
    time.sleep(1)
    broker.freeze()                       # TCP stays open, nothing answers
    time.sleep(4)
    broker.thaw()
    lines = fw.finish()
    stall = int([l for l in lines if l.startswith("STALL")][0].split()[1])
    assert stall <= 1000 + 300, lines[-30:]        # mqtt.timeout_s plus scheduling
    assert any(l.startswith("DOWN") for l in lines)
    ups = [i for i, l in enumerate(lines) if l == "UP"]
    assert len(ups) >= 2, lines                     # came back after the thaw
    assert int([l for l in lines if l.startswith("CONNECTS")][0].split()[1]) >= 2


@on_both
def test_killed_and_restarted_broker(micropython, broker):
    fw = Fw(micropython, broker.port, 12, period_ms=200, timeout_s=1.0)
    fw.wait_line("UP")
    time.sleep(1)
    broker.kill()
    time.sleep(2)
    broker.start()                        # same port
    lines = fw.finish()
    stall = int([l for l in lines if l.startswith("STALL")][0].split()[1])
    assert stall <= 1300, lines[-30:]
    downs = [l for l in lines if l.startswith("DOWN")]
    assert downs, lines
    assert lines.count("UP") >= 2, lines
    pubs = [l for l in lines if l.startswith("PUB")]
    assert pubs[-1].endswith("ok"), pubs[-5:]       # publishing again at the end


def make_ca(d, name):
    """A CA and a broker certificate for localhost it signed, made here."""
    def run(*a):
        subprocess.run(a, cwd=d, check=True, capture_output=True)
    run("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
        "-nodes", "-keyout", name + "-ca.key", "-out", name + "-ca.crt", "-days", "2",
        "-subj", "/CN=%s test CA" % name)
    run("openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
        "-keyout", name + ".key", "-out", name + ".csr", "-subj", "/CN=localhost")
    with open(os.path.join(d, "san.ext"), "w") as f:
        f.write("subjectAltName=DNS:localhost\n")
    run("openssl", "x509", "-req", "-in", name + ".csr", "-CA", name + "-ca.crt",
        "-CAkey", name + "-ca.key", "-CAcreateserial", "-out", name + ".crt", "-days", "2",
        "-extfile", "san.ext")
    return [os.path.join(d, name + x) for x in ("-ca.crt", ".crt", ".key")]


def test_tls_with_the_sites_ca_and_refused_with_another(micropython, tmp_path):
    ca, cert, key = make_ca(str(tmp_path), "broker")
    other_ca = make_ca(str(tmp_path), "rogue")[0]
    b = Broker(tls=(ca, cert, key))
    op = Operator(b.port)                 # the operator on the plain listener
    try:
        fw = Fw(micropython, b.tls_port, 6, ca=ca, host="localhost")
        fw.wait_line("UP", timeout=15)
        assert op.wait("sites/T1/status", "online")[0] == "online"
        op.wait("sites/T1/telemetry")
        fw.finish()
        bad = Fw(micropython, b.tls_port, 4, ca=other_ca, host="localhost")
        lines = bad.finish()
        assert "UP" not in lines, lines
        assert any(l.startswith("DOWN") for l in lines), lines
    finally:
        op.stop()
        b.stop()
