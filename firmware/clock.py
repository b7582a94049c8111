# Wall-clock time in Unix seconds on every port: the ESP32 counts from 2000.
import time

_EPOCH_OFFSET = 946684800 if time.gmtime(0)[0] == 2000 else 0


def unix_time():
    return time.time() + _EPOCH_OFFSET
