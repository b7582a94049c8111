"""The emulated device families, by the firmware's profile name."""
from emulator.devices.dse_gencomm import DseGencomm
from emulator.devices.eastron_sdm import EastronSDM, EastronSDM120
from emulator.devices.epever_tracer import EpeverTracer
from emulator.devices.pace_bms import PaceBMS
from emulator.devices.seplos_v3 import SeplosV3

PROFILES = {c.PROFILE: c for c in (EpeverTracer, EastronSDM, EastronSDM120, PaceBMS,
                                   SeplosV3, DseGencomm)}
