# Deep Sea Electronics genset controller, GenComm (DSE 7320 class): FC03 and
# FC16 only; address = page * 256 + offset; the top codes of each type are
# sentinels. Not every model implements 1408, 1536, 1798 or 1808: site.py
# falls back to speed and frequency for the engine state.
from firmware.decode import U16, S32, U32, SENT_DSE

KIND = 'genset'
SENTINEL = SENT_DSE
MAX_REGS = 64
MAX_GAP = 16
ALIGN = 1
PAGE = 256      # unimplemented pages answer an exception: never cross one
ANSWER_MS = 30
GAP_MS = 0

# Control keys (page 16: key and complement to 4104/4105, availability
# flags at 4096..4103) are the key actuator's business: firmware/generator.py
# asks for a start or a stop, firmware/hw/actuators.py (DseKeys) picks the
# keys and writes them.

# Named alarms (page 154): 4 bits an alarm, 4 alarms a register; level 2
# warning, 3 shutdown, 4 electrical trip. 7320 class: 20 alarms.
ALARM_BASE = 39425      # alarms0..alarms4 below: the first 20 alarms (site.py reads them)

POINTS = (
    ('mode', 3, 772, U16, 1, 0, 7),
    ('fuel_pct', 3, 1027, U16, 1, 0, 100),
    ('batt_v', 3, 1029, U16, 0.1, 0, 40),
    ('rpm', 3, 1030, U16, 1, 0, 4000),
    ('hz', 3, 1031, U16, 0.1, 0, 100),
    ('v_l1', 3, 1032, U32, 0.1, 0, 500),
    ('engine_state', 3, 1408, U16, 1, 0, 15),
    ('power_w', 3, 1536, S32, 1, -2000000, 2000000),
    ('run_s', 3, 1798, U32, 1, 0, None),
    ('starts', 3, 1808, U32, 1, 0, None),
    ('alarms0', 3, ALARM_BASE, U16, 1, None, None),
    ('alarms1', 3, ALARM_BASE + 1, U16, 1, None, None),
    ('alarms2', 3, ALARM_BASE + 2, U16, 1, None, None),
    ('alarms3', 3, ALARM_BASE + 3, U16, 1, None, None),
    ('alarms4', 3, ALARM_BASE + 4, U16, 1, None, None),
)

