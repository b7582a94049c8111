# The event log behind the console's `log`: generator transitions, load
# trips, alarms and every change made from the console or MQTT. The newest
# few sit in RAM; all go to a small flash file (rotated once, so flash
# holds at most two files' worth) that survives a reboot. A flash error
# costs the history, never the control loop.
import os

KEEP = 16           # events kept in RAM


class EventLog:
    def __init__(self, path='events.log', max_bytes=8192):
        self.path = path
        self.max_bytes = max_bytes
        self.ram = []               # (ts, text), oldest first
        self.flash_errors = 0

    def add(self, ts, text):
        # Unix seconds in RAM and on flash: the log outlives firmware versions.
        from firmware.clock import to_unix
        ts = to_unix(int(ts or 0))
        ram = self.ram
        if len(ram) >= KEEP:
            ram.pop(0)
        ram.append((ts, text))
        try:
            with open(self.path, 'a') as f:
                f.write('%d %s\n' % (ts, text.replace('\n', ' ')))
                size = f.tell()
            if size >= self.max_bytes:
                os.rename(self.path, self.path + '.1')
        except OSError:
            self.flash_errors += 1

    def last(self, n):
        """The last n events, oldest first: from flash when it can be read,
        else what RAM holds."""
        rows = []
        try:
            for p in (self.path + '.1', self.path):
                try:
                    f = open(p)
                except OSError:
                    continue
                with f:
                    for ln in f:
                        ts, _, text = ln.rstrip('\n').partition(' ')
                        try:
                            rows.append((int(ts), text))
                        except ValueError:
                            continue        # a line torn by a power cut
                        if len(rows) > n:
                            rows.pop(0)
        except OSError:
            rows = []
        if not rows:
            rows = self.ram[-n:]
        return rows
