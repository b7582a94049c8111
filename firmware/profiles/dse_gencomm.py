# Deep Sea Electronics genset controller, GenComm (DSE 7320 class): FC03 and
# FC16 only; address = page * 256 + offset; the top codes of each type are
# sentinels. Not every model implements 1408, 1536, 1558, 1798, 1800 or 1808:
# site.py falls back to speed and frequency for the engine state.
# Addresses as victronenergy/dbus-modbus-client dse.py reads them from
# GenComm (page 3 identity, page 4 basic instrumentation, page 6 derived,
# page 7 accumulated).
from firmware.decode import U16, S16, S32, U32, SENT_DSE, BLOCK

KIND = 'genset'
SENTINEL = SENT_DSE
MAX_REGS = 64
MAX_GAP = 24     # within a page the module answers its holes (0xFFFF): 1536..1558 in one read
ALIGN = 1
PAGE = 256      # unimplemented pages answer an exception: never cross one
ANSWER_MS = 30
GAP_MS = 0

# Control keys (page 16: key and complement to 4104/4105, availability
# flags at 4096..4103) are the key actuator's business: firmware/generator.py
# asks for a start or a stop, firmware/hw/actuators.py (DseKeys) picks the
# keys and writes them.

# Named alarms (page 154): 4 bits an alarm, 4 alarms a register, the first
# alarm in the top nibble; the 72xx/73xx/61xx/74xx MkII family has 80 alarms
# in 20 registers from 39425 (dbus-modbus-client dse.py: alarm_base 39425,
# alarm_count 20). One block point reads them all into one bytearray (the
# poller's `blk`); alarms0..alarms4, the first five registers, stay values as
# they always were (dev/<name> publishes them).
ALARM_BASE = 39425
ALARM_REGS = 20

POINTS = (
    ('model', 3, 769, U16, 1, None, None),       # with 768 (maker, 1 = DSE)
    ('mode', 3, 772, U16, 1, 0, 7),
    ('oil_kpa', 3, 1024, U16, 1, 0, 2000),
    ('coolant_c', 3, 1025, S16, 1, -50, 250),
    ('oil_c', 3, 1026, S16, 1, -50, 250),
    ('fuel_pct', 3, 1027, U16, 1, 0, 100),
    ('batt_v', 3, 1029, U16, 0.1, 0, 40),
    ('rpm', 3, 1030, U16, 1, 0, 4000),
    ('hz', 3, 1031, U16, 0.1, 0, 100),
    ('v_l1', 3, 1032, U32, 0.1, 0, 500),
    ('v_l2', 3, 1034, U32, 0.1, 0, 500),
    ('v_l3', 3, 1036, U32, 0.1, 0, 500),
    ('a_l1', 3, 1044, U32, 0.1, 0, 10000),
    ('a_l2', 3, 1046, U32, 0.1, 0, 10000),
    ('a_l3', 3, 1048, U32, 0.1, 0, 10000),
    ('w_l1', 3, 1052, S32, 1, -2000000, 2000000),
    ('w_l2', 3, 1054, S32, 1, -2000000, 2000000),
    ('w_l3', 3, 1056, S32, 1, -2000000, 2000000),
    ('engine_state', 3, 1408, U16, 1, 0, 15),
    ('power_w', 3, 1536, S32, 1, -2000000, 2000000),
    ('load_pct', 3, 1558, S16, 0.1, -200, 300),  # of the set's full power
    ('run_s', 3, 1798, U32, 1, 0, None),
    ('kwh', 3, 1800, U32, 0.1, 0, None),
    ('starts', 3, 1808, U32, 1, 0, None),
    ('alarms', 3, ALARM_BASE, BLOCK | ALARM_REGS, 1, None, None),
    ('alarms0', 3, ALARM_BASE, U16, 1, None, None),
    ('alarms1', 3, ALARM_BASE + 1, U16, 1, None, None),
    ('alarms2', 3, ALARM_BASE + 2, U16, 1, None, None),
    ('alarms3', 3, ALARM_BASE + 3, U16, 1, None, None),
    ('alarms4', 3, ALARM_BASE + 4, U16, 1, None, None),
)
