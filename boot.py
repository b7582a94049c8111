# Runs first on the board. Kept tiny: all logic lives in firmware/.
import gc
gc.collect()
