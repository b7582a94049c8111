# The technician's laptop on the board's serial port, for the console tests:
# tools/host_run.py with a pty as its terminal. The pty is put in raw mode,
# as the board's UART is: every byte arrives as sent (control characters
# included, no line discipline, no echo) and Ctrl-C is a byte, not a signal.
import fcntl
import json
import os
import signal
import subprocess
import sys
import termios
import threading
import time
import tty

from rigs import ROOT, PYPI_BOARD_HEAP


def _own_terminal():
    os.setsid()
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


class Terminal:
    HEAP = PYPI_BOARD_HEAP  # the board's, with the code in a ROMFS image

    def __init__(self, tmp, cfg, heap=None, raw=True, flash=None, micropython=None):
        path = os.path.join(tmp, "console-config.json")
        with open(path, "w") as f:
            json.dump(cfg, f)
        self.flash = flash or os.path.join(tmp, "flash")
        self.master, slave = os.openpty()
        if raw:
            tty.setraw(slave, termios.TCSANOW)
        cmd = [sys.executable, os.path.join(ROOT, "tools", "host_run.py"), "--config", path,
               "--dir", self.flash, "--heap", heap or self.HEAP]
        if micropython:
            cmd += ["--micropython", micropython]
        # Cooked: the pty becomes the controlling terminal, so Ctrl-C is
        # SIGINT to the foreground group, as at a technician's terminal.
        self.p = subprocess.Popen(cmd, stdin=slave, stdout=slave, stderr=slave,
                                  preexec_fn=None if raw else _own_terminal,
                                  start_new_session=raw)
        os.close(slave)
        self.out = bytearray()
        self.mark = 0
        self._lock = threading.Lock()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        while True:
            try:
                b = os.read(self.master, 65536)
            except OSError:
                return
            if not b:
                return
            with self._lock:
                self.out += b

    def text(self, since=0):
        with self._lock:
            return self.out[since:].decode("utf-8", "replace")

    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        # The board's UART takes bytes as they come; write in slices so a
        # long line is not one giant write.
        for i in range(0, len(data), 256):
            os.write(self.master, data[i:i + 256])

    def cmd(self, line, expect=None, timeout=15):
        """Type a line; wait for `expect` (or the next prompt) in what
        follows. Returns the output after the line was sent."""
        self.mark = len(self.out)
        self.send(line + "\r")
        return self.wait(expect or "> ", timeout)

    def wait(self, text, timeout=15, since=None):
        start = self.mark if since is None else since
        deadline = time.time() + timeout
        while time.time() < deadline:
            t = self.text(start)
            if text in t:
                return t
            if self.p.poll() is not None and self.p.returncode != 3:
                break
            time.sleep(0.05)
        raise AssertionError("%r not seen in %.0f s; output since:\n%s"
                             % (text, timeout, self.text(start)[-3000:]))

    def stop(self):
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
            try:
                self.p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.p.kill()
        try:
            os.close(self.master)
        except OSError:
            pass
