# The hardware watchdog: fed by a healthy loop, it resets a hung board, and
# the next boot says why (machine.reset_cause() == WDT_RESET).
import json
import os
import signal
import time

from rigs import Cabinet, Firmware, board_pid


def test_a_hung_loop_is_reset_by_the_watchdog(tmp_path):
    cab = Cabinet(str(tmp_path))
    fw = None
    try:
        cfg = json.loads(json.dumps(cab.cfg))
        cfg.update(poll_s=0.5, watchdog_s=10)
        fw = Firmware(str(tmp_path), cfg)
        assert fw.wait_for("reset cause: pwron", 60), "\n".join(fw.lines[-30:])
        assert fw.wait_for("| CTL ", 20)
        # A healthy loop keeps it fed well past its timeout.
        time.sleep(12)
        assert not any("[host_run] watchdog" in l for l in fw.lines), "\n".join(fw.lines[-30:])
        # Hang the board: its process stops dead, as a CPU stuck in a loop.
        os.kill(board_pid(fw.p.pid), signal.SIGSTOP)
        t0 = time.time()
        assert fw.wait_for("[host_run] watchdog: no feed for 10000 ms: board reset", 30), \
            "\n".join(fw.lines[-30:])
        waited = time.time() - t0
        assert 9 <= waited <= 13, waited
        assert fw.wait_for("reset cause: wdt", 60), "\n".join(fw.lines[-30:])
        n = len(fw.lines)
        deadline = time.time() + 20
        while time.time() < deadline and not any("| CTL " in l for l in fw.lines[n:]):
            time.sleep(0.2)
        assert any("| CTL " in l for l in fw.lines[n:]), "\n".join(fw.lines[-30:])
    finally:
        if fw:
            fw.stop()
        cab.close()
