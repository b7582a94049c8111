# A real mosquitto on a free loopback port, for the demo and the tests:
# stopped by its pid; frozen with SIGSTOP and thawed with SIGCONT where a
# test says. (No service manager on the host: it is started by hand.)
import getpass
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def binary():
    for path in ("/usr/sbin/mosquitto", "/usr/bin/mosquitto"):
        if os.path.exists(path):
            return path
    raise AssertionError("mosquitto not installed: run tools/setup.sh")


class Broker:
    """With tls=(cafile, certfile, keyfile) it also listens for TLS on
    tls_port."""

    def __init__(self, port=None, tls=None):
        self.port = port or free_port()
        self.dir = tempfile.mkdtemp(prefix="mosq-")
        self.conf = os.path.join(self.dir, "mosquitto.conf")
        # Run as whoever runs the tests: as root mosquitto would switch to its
        # own user, who cannot read the test's key files.
        conf = "user %s\nper_listener_settings false\nallow_anonymous true\n" % getpass.getuser()
        conf += "persistence false\n"
        conf += "listener %d 127.0.0.1\n" % self.port
        self.tls_port = None
        if tls:
            self.tls_port = free_port()
            conf += ("listener %d 127.0.0.1\ncafile %s\ncertfile %s\nkeyfile %s\n"
                     % ((self.tls_port,) + tuple(tls)))
        with open(self.conf, "w") as f:
            f.write(conf)
        self.proc = None
        self.start()

    def start(self):
        self.proc = subprocess.Popen([binary(), "-c", self.conf],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 10
        while time.time() < deadline:
            assert self.proc.poll() is None, "mosquitto exited at start"
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                if self.tls_port:
                    socket.create_connection(("127.0.0.1", self.tls_port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise AssertionError("mosquitto did not listen on %d" % self.port)

    def freeze(self):
        self.proc.send_signal(signal.SIGSTOP)

    def thaw(self):
        self.proc.send_signal(signal.SIGCONT)

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)
            self.proc.kill()
            self.proc.wait(timeout=5)

    def stop(self):
        self.kill()
        shutil.rmtree(self.dir, ignore_errors=True)
