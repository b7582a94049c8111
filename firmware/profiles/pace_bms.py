# PACE BMS, Modbus protocol V1.3 (48 V lithium packs): FC03, one unit a pack;
# the pack needs 100 ms of quiet between frames.
from firmware.decode import U16, S16, SENT_NONE

KIND = 'bms'
SENTINEL = SENT_NONE
MAX_REGS = 40
MAX_GAP = 8
ALIGN = 1
PAGE = 0
ANSWER_MS = 50
GAP_MS = 100

POINTS = (
    ('current_a', 3, 0, S16, 0.01, -300, 300),
    ('voltage_v', 3, 1, U16, 0.01, 0, 70),
    ('soc', 3, 2, U16, 1, 0, 100),
    ('soh', 3, 3, U16, 1, 0, 100),
    ('remain_ah', 3, 4, U16, 0.01, 0, 650),
    ('full_ah', 3, 5, U16, 0.01, 0, 650),
    ('design_ah', 3, 6, U16, 0.01, 0, 650),
    ('cycles', 3, 7, U16, 1, 0, 60000),
    ('warning', 3, 9, U16, 1, None, None),
    ('protection', 3, 10, U16, 1, None, None),
    ('status', 3, 11, U16, 1, None, None),
    ('balance', 3, 12, U16, 1, None, None),
) + tuple(('cell%02d_v' % (i + 1), 3, 15 + i, U16, 0.001, 1.0, 4.5)
          for i in range(16)) + (
    ('temp1_c', 3, 31, S16, 0.1, -40, 120),
    ('temp2_c', 3, 32, S16, 0.1, -40, 120),
    ('temp3_c', 3, 33, S16, 0.1, -40, 120),
    ('temp4_c', 3, 34, S16, 0.1, -40, 120),
    ('mos_temp_c', 3, 35, S16, 0.1, -40, 150),
    ('env_temp_c', 3, 36, S16, 0.1, -40, 120),
)
