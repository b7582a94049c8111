# One day of the controller's flash writes at default settings, on LittleFS
# (the board's filesystem, os.VfsLfs2) over a counting block device with the
# ESP32's 4 KB erase blocks; run in the unix port by tools/bench_flash.py.
#   micropython flash_day.py BLOCKS SAVES EVENTS SEQ_BLOCKS
# Prints: ERASES <total> MAXBLOCK <most erases of one block> USED <blocks>
import os
import sys

BLOCK = 4096


class CountingFlash:
    def __init__(self, n):
        self.data = bytearray(n * BLOCK)
        self.erases = bytearray(n)      # per block, this day (< 256)
        self.total = 0

    def readblocks(self, block, buf, off=0):
        a = block * BLOCK + off
        d = self.data
        for i in range(len(buf)):
            buf[i] = d[a + i]

    def writeblocks(self, block, buf, off=0):
        a = block * BLOCK + off
        d = self.data
        for i in range(len(buf)):
            d[a + i] = buf[i]

    def ioctl(self, op, arg):
        if op == 4:
            return len(self.data) // BLOCK
        if op == 5:
            return BLOCK
        if op == 6:
            self.erases[arg] += 1
            self.total += 1
            return 0
        return 0


n_blocks, saves, events, seqs = [int(a) for a in sys.argv[1:5]]
sys.path.insert(0, '.')
from firmware import store, config as C                # noqa: E402
from firmware.generator import Generator               # noqa: E402
from firmware.counters import Counters                 # noqa: E402
from firmware.eventlog import EventLog                 # noqa: E402

cfg = C.validate({'site_id': 'BTS-0042', 'buses': {'gw': {'kind': 'rtu_tcp', 'host': 'x'}},
                  'devices': []})
g = Generator(cfg['generator'], 0)
c = Counters(cfg['generator'])
dev = CountingFlash(n_blocks)
os.VfsLfs2.mkfs(dev)
os.mount(os.VfsLfs2(dev), '/f')
os.chdir('/f')
# A config, a last known good and a day-old log, as on a site.
for name in ('config.json', 'config.lkg.json'):
    with open(name, 'w') as f:
        f.write('x' * 1500)
log = EventLog()
for i in range(100):
    log.add(i, 'alarm batt_low raise (major) %d' % i)
os.mkdir('spool')
dev.erases = bytearray(n_blocks)
dev.total = 0
for i in range(saves):
    g.run_s = i * 600           # the values change, as they do
    store.save('state.json', {'gen': g.to_dict(), 'counters': c.to_dict()})
for i in range(events):
    log.add(i, 'gen running -> cooldown (soc_high) %d' % i)
for i in range(seqs):           # as uplink._reserve: a temp file, then a rename
    with open('spool/seq.tmp', 'w') as f:
        f.write('%d' % (i * 256))
    os.rename('spool/seq.tmp', 'spool/seq')
used = sum(1 for b in dev.erases if b)
print('ERASES %d MAXBLOCK %d USED %d' % (dev.total, max(dev.erases), used))
