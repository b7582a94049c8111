"""Client side of the cabinet emulator: start it, talk to its control channel.

Stdlib only, so any host test (or script) can import it without pymodbus:

    from emulator_client import EmulatorClient, start_emulator, stop_emulator

    proc, ready = start_emulator("tools/configs/example.json",
                                 port_overrides={"gw": 0}, speed=0, seed=1)
    with EmulatorClient(ready["control"]["host"], ready["control"]["port"]) as emu:
        emu.grid(False)
        print(emu.state()["grid_ok"])
    stop_emulator(proc)

The control channel is JSON lines over TCP: one request object per line, one
reply object per line. Every reply has "ok"; a failed command has
"ok": false and "error". EmulatorClient raises EmulatorError for those.
"""

import json
import os
import select
import socket
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
EMULATOR = os.path.join(HERE, "cabinet_emulator.py")


class EmulatorError(Exception):
    """The emulator refused a control command (its "error" text is the message)."""


class EmulatorClient:
    """One control-channel connection. Each method is one command."""

    def __init__(self, host="127.0.0.1", port=0, timeout=5.0):
        self._sock = socket.create_connection((host, port), timeout=timeout)
        self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._rfile = self._sock.makefile("rb")

    def close(self):
        try:
            self._rfile.close()
        finally:
            self._sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def call(self, cmd, **args):
        """Send {"cmd": cmd, **args}; return the reply dict (raises EmulatorError)."""
        req = dict(args, cmd=cmd)
        self._sock.sendall(json.dumps(req).encode() + b"\n")
        line = self._rfile.readline()
        if not line:
            raise EmulatorError("control channel closed by the emulator")
        reply = json.loads(line)
        if not reply.get("ok"):
            raise EmulatorError(reply.get("error", "unknown error"))
        return reply

    # -- one method a command ------------------------------------------------

    def ping(self):
        return self.call("ping")

    def state(self):
        """The whole model state (see the emulator's docstring for the keys)."""
        return self.call("state")["state"]

    def set(self, key, value, device=None):
        """Set a model parameter, or a device's parameter when device is given."""
        args = {"key": key, "value": value}
        if device is not None:
            args["device"] = device
        return self.call("set", **args)

    def grid(self, ok):
        return self.call("grid", ok=bool(ok))

    def silent(self, device, on=True):
        return self.call("silent", device=device, on=bool(on))

    def garbage(self, device, on=True, mode=None):
        args = {"device": device, "on": bool(on)}
        if mode is not None:
            args["mode"] = mode
        return self.call("garbage", **args)

    def contact(self, run, crank):
        """Relay wiring: the run (fuel) and crank (starter) contacts."""
        return self.call("contact", run=bool(run), crank=bool(crank))

    def gen_fail(self, on=True):
        return self.call("gen_fail", on=bool(on))

    def writes(self, device=None, clear=False):
        """List of Modbus writes received, oldest first."""
        args = {"clear": bool(clear)}
        if device is not None:
            args["device"] = device
        return self.call("writes", **args)["writes"]

    def requests(self, device=None, clear=False, limit=None):
        """{device: {"count", "by_fc", "recent": [...]}} of requests received
        (recent: the last `limit` entries, all kept ones when None)."""
        args = {"clear": bool(clear)}
        if device is not None:
            args["device"] = device
        if limit is not None:
            args["limit"] = int(limit)
        return self.call("requests", **args)["requests"]

    def override(self, device, address, value, fc=None):
        """Force one raw register (value None clears the override)."""
        args = {"device": device, "address": address, "value": value}
        if fc is not None:
            args["fc"] = fc
        return self.call("override", **args)

    def pace(self, baud, bus=None):
        """Turn line pacing on (baud) or off (None) for one bus or all."""
        return self.call("pace", bus=bus, baud=baud)["baud_pace"]

    def advance(self, seconds):
        """Integrate the model forward by `seconds` of model time at once."""
        return self.call("advance", seconds=seconds)

    def shutdown(self):
        return self.call("shutdown")


class PinFollower:
    """The board twin's pin file (tools/board_twin/machine.py writes a line
    "<pin> <level>" for each output change), followed in a thread:
    on_change(pin, level) for each new line. How a test or the demo wires
    the firmware's outputs to the emulated cabinet."""

    def __init__(self, path, on_change, period_s=0.05):
        self.path = path
        self.on_change = on_change
        self.period_s = period_s
        open(path, "w").close()
        self.stop = threading.Event()
        self.t = threading.Thread(target=self._run, daemon=True)
        self.t.start()

    def _run(self):
        seen = 0
        while not self.stop.is_set():
            with open(self.path) as f:
                lines = f.read().splitlines()
            for line in lines[seen:]:
                pin, level = (int(x) for x in line.split())
                self.on_change(pin, level)
            seen = len(lines)
            time.sleep(self.period_s)

    def log(self):
        """The file's words so far: pin, level, pin, level, ..."""
        with open(self.path) as f:
            return f.read().split()

    def close(self):
        self.stop.set()
        self.t.join(2)


def _build_args(config_path, port_overrides, speed, start_hour, control_port,
                pty, baud_pace, seed, sets, extra_args):
    args = [EMULATOR, "--config", str(config_path)]
    for bus, port in (port_overrides or {}).items():
        args += ["--port-override", "%s=%s" % (bus, port)]
    if speed is not None:
        args += ["--speed", str(speed)]
    if start_hour is not None:
        args += ["--start-hour", str(start_hour)]
    args += ["--control-port", str(control_port)]
    for bus in pty or ():
        args += ["--pty", bus]
    if baud_pace is not None:
        if isinstance(baud_pace, dict):
            for bus, baud in baud_pace.items():
                args += ["--baud-pace", "%s=%s" % (bus, baud)]
        else:
            args += ["--baud-pace", str(baud_pace)]
    if seed is not None:
        args += ["--seed", str(seed)]
    for key, value in (sets or {}).items():
        args += ["--set", "%s=%s" % (key, json.dumps(value))]
    return args + list(extra_args or ())


def start_emulator(config_path, port_overrides=None, speed=None, start_hour=None,
                   control_port=0, pty=(), baud_pace=None, seed=None, sets=None,
                   extra_args=(), timeout=15.0, python=None, env=None):
    """Start the emulator as a subprocess; return (Popen, ready_info).

    ready_info is the emulator's ready line, parsed. Raises RuntimeError with
    the emulator's stderr if it exits or prints nothing within `timeout`.
    The Popen carries `stderr_path` (a temp file holding the emulator's log).
    """
    args = _build_args(config_path, port_overrides, speed, start_hour,
                       control_port, pty, baud_pace, seed, sets, extra_args)
    errf = tempfile.NamedTemporaryFile(prefix="cabinet-emu-", suffix=".log",
                                       delete=False)
    proc = subprocess.Popen([python or sys.executable] + args,
                            stdout=subprocess.PIPE, stderr=errf, env=env)
    proc.stderr_path = errf.name
    errf.close()
    deadline = time.monotonic() + timeout
    buf = b""
    fd = proc.stdout.fileno()
    while b"\n" not in buf:
        left = deadline - time.monotonic()
        if left <= 0:
            _fail(proc, "emulator printed no ready line in %.1f s" % timeout)
        ready, _, _ = select.select([fd], [], [], min(left, 0.2))
        chunk = os.read(fd, 4096) if ready else None
        if chunk == b"" or (chunk is None and proc.poll() is not None):
            _fail(proc, "emulator exited before it was ready")
        buf += chunk or b""
    line = buf.split(b"\n", 1)[0]
    try:
        info = json.loads(line)
    except ValueError:
        _fail(proc, "emulator's first line is not JSON: %r" % (line,))
    if not info.get("ready"):
        _fail(proc, "emulator not ready: %r" % (info,))
    return proc, info


def stop_emulator(proc, timeout=5.0, keep_log=False):
    """SIGTERM the emulator, wait, SIGKILL if it hangs; return its exit code.

    Its log (proc.stderr_path) is deleted after a clean exit (rc 0) unless
    keep_log; after any other exit it stays for a post-mortem.
    """
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=timeout)
    if proc.stdout:
        proc.stdout.close()
    if proc.returncode == 0 and not keep_log:
        try:
            os.unlink(proc.stderr_path)
        except (OSError, AttributeError):
            pass
    return proc.returncode


def _fail(proc, why):
    stop_emulator(proc, keep_log=True)
    log = _read_log(proc)  # the message carries the log; the file goes
    try:
        os.unlink(proc.stderr_path)
    except OSError:
        pass
    raise RuntimeError("%s (rc=%s); stderr:\n%s" % (why, proc.returncode, log))


def _read_log(proc):
    try:
        with open(proc.stderr_path, "r", errors="replace") as f:
            return f.read()[-8000:]
    except OSError:
        return "(no log)"
