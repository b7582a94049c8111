# The year benchmark: the firmware's own Generator, Dispatch and Counters over
# a year of minutes, their decisions driving a site model (model.py), against
# baselines and a linear-programming lower bound (lp.py). CLI: __main__.py.
