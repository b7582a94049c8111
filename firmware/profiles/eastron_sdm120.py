# Eastron SDM120 single-phase meter: as the SDM630 but one phase and no
# total-power register (52); its phase power (12) is the total.
from firmware.decode import F32, SENT_NONE

KIND = 'meter'
SENTINEL = SENT_NONE
MAX_REGS = 80
MAX_GAP = 80
ALIGN = 2
PAGE = 0
ANSWER_MS = 30
GAP_MS = 0

POINTS = (
    ('v_l1', 4, 0, F32, 1, 0, 500),
    ('a_l1', 4, 6, F32, 1, -100, 100),
    ('power_w', 4, 12, F32, 1, -25000, 25000),
    ('hz', 4, 70, F32, 1, 0, 100),
    ('import_kwh', 4, 72, F32, 1, 0, None),
    ('export_kwh', 4, 74, F32, 1, 0, None),
)
