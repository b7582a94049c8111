# Device profiles: one small data module per device family, loaded on first
# use so a site that has no Seplos pays nothing for its table.
#
# Each profile module defines:
#   KIND       'pv' | 'meter' | 'bms' | 'genset': how site.py reads it
#   SENTINEL   decode.SENT_*: how the device says "no data"
#   MAX_REGS   most registers the device answers in one read
#   MAX_GAP    most unused registers it is safe to read through when merging
#   ALIGN      requests must start on a multiple of this (Eastron: 2)
#   PAGE       requests must not cross a multiple of this (0 = no pages)
#   ANSWER_MS  typical delay before the device answers (for the planner)
#   GAP_MS     least quiet time the device needs between two frames to it
#   POINTS     (name, fc, addr, vtype, scale, lo, hi) per value, SI units
NAMES = ('epever_tracer', 'eastron_sdm630', 'eastron_sdm120', 'dse_gencomm',
         'pace_bms', 'seplos_v3')


def load(name):
    if name not in NAMES:
        raise ValueError('unknown profile ' + repr(name))
    mod = __import__('firmware.profiles.' + name, None, None, ('POINTS',))
    return mod
