# When the App writes its state to flash. Kept apart from firmware.store,
# which the App loads only to read or write the file and then unloads.
from firmware.compat import ticks_diff


class Persist:
    """When to write state to flash: at once on a change worth keeping,
    else every persist_s, so a quiet site costs one write per period
    instead of one per tick. A burst of changes is written at most once
    per min_gap_s; the last of them is never lost, only delayed."""

    def __init__(self, persist_s, min_gap_s=5):
        self.period_ms = persist_s * 1000
        self.gap_ms = min_gap_s * 1000
        self.writes = 0
        self._last = None      # ticks_ms of the last write; None before the first due()
        self._pending = False  # a change not written yet

    def due(self, now_ms, changed=False):
        if changed:
            self._pending = True
        if self._last is None:
            # Boot: the state was just loaded, so the period starts now.
            self._last = now_ms
            return self._pending
        age = ticks_diff(now_ms, self._last)
        return age >= self.period_ms or (self._pending and age >= self.gap_ms)

    def wrote(self, now_ms):
        self._last = now_ms
        self._pending = False
        self.writes += 1
