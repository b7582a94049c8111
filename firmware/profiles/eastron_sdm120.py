# Eastron SDM120 single-phase meter: as the SDM630 but one phase and no
# total-power register (52); its phase power (12) is the total.
# The family's framing and limits are the SDM630's.
from firmware.decode import F32
from firmware.profiles.eastron_sdm630 import (KIND, SENTINEL, MAX_REGS, MAX_GAP, ALIGN,  # noqa: F401
                                              PAGE, ANSWER_MS, GAP_MS,
                                              DECIMALS, DECIMALS_ELSE)

POINTS = (
    ('v_l1', 4, 0, F32, 1, 0, 500),
    ('a_l1', 4, 6, F32, 1, -100, 100),
    ('power_w', 4, 12, F32, 1, -25000, 25000),
    ('va', 4, 18, F32, 1, 0, 25000),            # apparent power
    ('var', 4, 24, F32, 1, -25000, 25000),      # reactive power
    ('pf', 4, 30, F32, 1, -1, 1),               # power factor
    ('hz', 4, 70, F32, 1, 0, 100),
    ('import_kwh', 4, 72, F32, 1, 0, None),
    ('export_kwh', 4, 74, F32, 1, 0, None),
)
