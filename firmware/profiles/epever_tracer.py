# EPEver Tracer AN/BN MPPT (PV charger). Real-time data are FC04 input
# registers; FC03 on 0x3xxx answers exception 2. 32-bit values LOW word first.
from firmware.decode import U16, S16, U32R, S32R, SENT_NONE

KIND = 'pv'
SENTINEL = SENT_NONE
MAX_REGS = 32
# The unit answers reads across the undocumented holes of 0x31xx/0x33xx
# (field tools read 0x3100 by 18+ registers), so short gaps may be bridged.
MAX_GAP = 10
ALIGN = 1
PAGE = 0
ANSWER_MS = 20
GAP_MS = 0

POINTS = (
    ('pv_v', 4, 0x3100, U16, 0.01, 0, 200),
    ('pv_a', 4, 0x3101, U16, 0.01, 0, 100),
    ('pv_w', 4, 0x3102, U32R, 0.01, 0, 10000),
    ('batt_v', 4, 0x3104, U16, 0.01, 0, 80),
    ('charge_a', 4, 0x3105, U16, 0.01, 0, 150),
    ('charge_w', 4, 0x3106, U32R, 0.01, 0, 10000),
    ('load_v', 4, 0x310C, U16, 0.01, 0, 80),
    ('load_a', 4, 0x310D, U16, 0.01, 0, 100),
    ('load_w', 4, 0x310E, U32R, 0.01, 0, 10000),
    ('batt_temp_c', 4, 0x3110, S16, 0.01, -40, 100),
    ('dev_temp_c', 4, 0x3111, S16, 0.01, -40, 120),
    ('soc', 4, 0x311A, U16, 1, 0, 100),
    ('remote_temp_c', 4, 0x311B, S16, 0.01, -40, 100),     # remote battery temperature sensor
    ('rated_v', 4, 0x311D, U16, 0.01, 0, 100),             # system rated voltage: 12/24/36/48 V
    ('batt_status', 4, 0x3200, U16, 1, None, None),
    ('charge_status', 4, 0x3201, U16, 1, None, None),
    ('discharge_status', 4, 0x3202, U16, 1, None, None),
    ('used_today_kwh', 4, 0x3304, U32R, 0.01, 0, None),   # consumed energy (load terminal)
    ('used_total_kwh', 4, 0x330A, U32R, 0.01, 0, None),
    ('energy_today_kwh', 4, 0x330C, U32R, 0.01, 0, None),
    ('energy_total_kwh', 4, 0x3312, U32R, 0.01, 0, None),
    ('batt_net_a', 4, 0x331B, S32R, 0.01, -200, 200),
)
