"""The cabinet emulator: the site's Modbus devices over a physical model.

    model.py      sun, load, battery, grid, rectifier; genset.py the diesel
                  genset and its DSE-like controller
    devices/      one module a device family: what each unit answers
    registers.py  values into registers: the inverse of firmware/decode.py, for
                  the points of the firmware's own profiles and the rest
    servers.py    the pymodbus servers of the buses (TCP or a pty,
                  pty_link.py), pacing and faults
    traffic.py    the log of requests and writes the units received
    control.py    the Emulator: config, the JSON control channel, lifecycle

tools/cabinet_emulator.py is its command line (options and the control
protocol are in its docstring).
"""
