# Seplos V3 BMS: FC04; the stack's head answers at unit 0 and is itself the
# master of the other packs, so only the head is polled.
from firmware.decode import U16, S16, SENT_NONE

KIND = 'bms'
SENTINEL = SENT_NONE
MAX_REGS = 32
MAX_GAP = 16
ALIGN = 1
PAGE = 0
ANSWER_MS = 30
GAP_MS = 0

POINTS = (
    ('voltage_v', 4, 0x1000, U16, 0.01, 0, 70),
    ('current_a', 4, 0x1001, S16, 0.01, -300, 300),
    ('soc', 4, 0x1005, U16, 0.1, 0, 100),
    ('max_dis_a', 4, 0x100F, U16, 1, 0, 1000),
    ('max_chg_a', 4, 0x1010, U16, 1, 0, 1000),
)
