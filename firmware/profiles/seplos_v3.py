# Seplos V3 BMS: FC04; the stack's head answers at unit 0 and is itself the
# master of the other packs, so only the head is polled.
#
# POINTS: a pack's own block (PIA, 0x1000..0x1010) as the stack's sniffers
# and drivers decode it (iobroker seplos-v3-sniffer, mr-manuel
# venus-os_dbus-serialbattery bms/seplosv3.py): voltage 10 mV, current 10 mA
# (0.1 A on the 300 A and 400 A boards, Seplos's protocol note: the device
# key current_scale), remaining and full capacity 10 mAh, SOC and SOH 0.1 %,
# cycles, highest/lowest cell mV and temperature 0.1 K, current limits A.
# events: the alarm and protection bits (FC01, 80 coils, one byte a table,
# its first coil in bit 0): TB09 system state, TB02 voltage, TB03 cell
# temperature, TB04 environment and power temperature, TB05 and TB16
# current, TB06 capacity, TB07 FET, TB08 balance, TB15 hard fault; a pack's
# at 0x1240 (PIC), a stack's at 0x2200 (EIC). site.py reads them (its
# _SEP_* masks): in TB02 and TB03 an alarm's bit is followed by its
# protection's.
# STACK_POINTS, for a device with stack_head: the stack's summary (EIA
# 0x2000.., 32-bit values LOW word first, current 0.1 A; EIB 0x2100.., cell
# temperatures in 0.1 degC there) as a captured two-pack stack answers it
# (patman15/BMS_BLE-HA tests/test_seplos_bms.py, its plugins/seplos_bms.py).
from firmware.decode import U16, S16, U32R, S32R, UK, SENT_NONE, BLOCK

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
    ('current_a', 4, 0x1001, S16, 0.01, -1000, 1000),
    ('remain_ah', 4, 0x1002, U16, 0.01, 0, 655),
    ('full_ah', 4, 0x1003, U16, 0.01, 0, 655),
    ('soc', 4, 0x1005, U16, 0.1, 0, 100),
    ('soh', 4, 0x1006, U16, 0.1, 0, 100),
    ('cycles', 4, 0x1007, U16, 1, 0, 60000),
    ('cell_vmax', 4, 0x100A, U16, 0.001, 1.0, 4.5),
    ('cell_vmin', 4, 0x100B, U16, 0.001, 1.0, 4.5),
    ('cell_tmax_c', 4, 0x100C, UK, 0.1, -40, 120),
    ('cell_tmin_c', 4, 0x100D, UK, 0.1, -40, 120),
    ('max_dis_a', 4, 0x100F, U16, 1, 0, 1000),
    ('max_chg_a', 4, 0x1010, U16, 1, 0, 1000),
    ('events', 1, 0x1240, BLOCK | 80, 1, None, None),
)

STACK_POINTS = (
    ('voltage_v', 4, 0x2000, U32R, 0.01, 0, 70),
    ('current_a', 4, 0x2002, S32R, 0.1, -10000, 10000),
    ('remain_ah', 4, 0x2004, U32R, 0.01, 0, 100000),
    ('full_ah', 4, 0x2006, U32R, 0.01, 0, 100000),
    ('max_dis_a', 4, 0x2010, U32R, 0.1, 0, 10000),
    ('max_chg_a', 4, 0x2012, U32R, 0.1, 0, 10000),
    ('packs', 4, 0x2016, U16, 1, 0, 16),
    ('cycles', 4, 0x2017, U16, 1, 0, 60000),
    ('soc', 4, 0x2018, U16, 0.1, 0, 100),
    ('soh', 4, 0x2019, U16, 0.1, 0, 100),
    ('cell_vmax', 4, 0x2100, U16, 0.001, 1.0, 4.5),
    ('cell_vmin', 4, 0x2101, U16, 0.001, 1.0, 4.5),
    ('cell_tmax_c', 4, 0x2108, S16, 0.1, -40, 120),
    ('cell_tmin_c', 4, 0x2109, S16, 0.1, -40, 120),
    ('events', 1, 0x2200, BLOCK | 80, 1, None, None),
)
