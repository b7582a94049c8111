# Eastron SDM630 three-phase meter: FC04, float32 high word first, two
# registers a value at even addresses; at most 80 registers a read. Total kWh
# (342) is import plus export, so it is not polled: 72 and 74 carry it.
from firmware.decode import F32, SENT_NONE

KIND = 'meter'
SENTINEL = SENT_NONE
MAX_REGS = 80
MAX_GAP = 80
ALIGN = 2
PAGE = 0
ANSWER_MS = 30
GAP_MS = 0

# The floats' resolution in decimals, as the meter's own display shows them
# (V 0.1, A 0.001, kW 0.001 i.e. W 1, PF 0.001, Hz 0.01, kWh 0.01): a float32
# carries more digits than the meter measures. Points not named: W, VA, VAr.
DECIMALS = {'v_l1': 1, 'v_l2': 1, 'v_l3': 1, 'a_l1': 3, 'a_l2': 3, 'a_l3': 3,
            'pf': 3, 'hz': 2, 'import_kwh': 2, 'export_kwh': 2}
DECIMALS_ELSE = 0

POINTS = (
    ('v_l1', 4, 0, F32, 1, 0, 500),
    ('v_l2', 4, 2, F32, 1, 0, 500),
    ('v_l3', 4, 4, F32, 1, 0, 500),
    ('a_l1', 4, 6, F32, 1, -1000, 1000),
    ('a_l2', 4, 8, F32, 1, -1000, 1000),
    ('a_l3', 4, 10, F32, 1, -1000, 1000),
    ('w_l1', 4, 12, F32, 1, -250000, 250000),
    ('w_l2', 4, 14, F32, 1, -250000, 250000),
    ('w_l3', 4, 16, F32, 1, -250000, 250000),
    ('power_w', 4, 52, F32, 1, -750000, 750000),
    ('va', 4, 56, F32, 1, 0, 750000),           # total system volt amps
    ('var', 4, 60, F32, 1, -750000, 750000),    # total system VAr
    ('pf', 4, 62, F32, 1, -1, 1),               # total system power factor
    ('hz', 4, 70, F32, 1, 0, 100),
    ('import_kwh', 4, 72, F32, 1, 0, None),
    ('export_kwh', 4, 74, F32, 1, 0, None),
)
