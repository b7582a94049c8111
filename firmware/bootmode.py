# Safe mode: decided by boot.py before anything of the controller loads, so
# that a firmware or config that crashes the board at every start cannot
# keep it from a technician's console or the operator's MQTT.
#
# A reset counter on flash (RESETS) goes up at each start that was not a
# power-on and back to 0 once the controller has run healthy_s (10 min)
# without failing cycles (healthy()); a person's reboot (console or MQTT)
# starts it afresh (deliberate()). When it reaches safe_mode.boots, or
# safe_mode.pin is held low at boot, the board starts in safe mode: the
# console, the network and the MQTT link (status, alarms, config_set,
# reboot), every output in its fail-safe state, nothing polled or
# controlled. It stays there until a person reboots it.
import json

_MAX_GPIO = 48      # the highest GPIO of any supported board (ESP32-S3)

RESETS = 'resets'
DEFAULT_BOOTS = 4

safe = False        # decided by check() in boot.py; read by firmware.app
why = None


def _read(path):
    try:
        with open(path) as f:
            return int(f.read())
    except (OSError, ValueError):
        return 0


def _write(path, n):
    try:
        with open(path, 'w') as f:
            f.write(str(n))
    except OSError:
        pass        # a full or failing flash must not stop the boot


def _options(cfg_path):
    # safe_mode.boots and .pin from the raw config: the config may be the
    # very thing that crashes, so it is read here without the schema.
    try:
        with open(cfg_path) as f:
            sm = json.load(f).get('safe_mode', {})
        boots = sm.get('boots', DEFAULT_BOOTS)
        pin = sm.get('pin')
        return (boots if isinstance(boots, int) and boots >= 2 else DEFAULT_BOOTS,
                pin if isinstance(pin, int) and 0 <= pin <= _MAX_GPIO else None)
    except Exception:       # a file any way broken: the defaults
        return DEFAULT_BOOTS, None


def _held_low(pin):
    try:
        from machine import Pin
        return Pin(pin, Pin.IN, Pin.PULL_UP).value() == 0
    except Exception:       # a pin the board lacks: nothing held
        return False


def check(cfg_path='config.json', path=RESETS):
    """Count this start and decide whether it is in safe mode."""
    global safe, why
    import machine
    n = _read(path)
    n = 0 if machine.reset_cause() == machine.PWRON_RESET else n + 1
    _write(path, n)
    boots, pin = _options(cfg_path)
    if pin is not None and _held_low(pin):
        safe, why = True, 'GPIO %d held low at boot' % pin
    elif n >= boots:
        safe, why = True, '%d resets in a row before the controller ran healthy' % n
    return safe


def healthy(path=RESETS):
    """The controller ran healthy for healthy_s: the resets before it were
    not a boot loop."""
    _write(path, 0)


def deliberate(path=RESETS):
    """A person reboots the board: that reset is not the firmware's fault
    (check() counts it up to 0)."""
    _write(path, -1)
