# forget(): code used now and then goes back to the heap. A package goes
# with every submodule it loaded (the console is a package: its session
# ends with one forget), and the parent package no longer holds it; a
# module whose name only begins the same stays.
import sys
from firmware.modules import forget


def loaded(prefix):
    return sorted(m for m in sys.modules if m == prefix or m.startswith(prefix + '.'))


def test_forget_unloads_a_package_with_its_submodules():
    import firmware.console.words      # noqa: F401
    import firmware.console.help       # noqa: F401
    assert 'firmware.console.words' in loaded('firmware.console')
    forget('firmware.console')
    assert loaded('firmware.console') == []
    import firmware
    assert 'console' not in firmware.__dict__


def test_forget_of_a_submodule_leaves_its_package_and_siblings():
    import firmware.console.words      # noqa: F401
    import firmware.console.help       # noqa: F401
    forget('firmware.console.help')
    assert loaded('firmware.console') == ['firmware.console', 'firmware.console.words']
    forget('firmware.console')


def test_a_name_that_only_begins_the_same_is_left():
    sys.modules['firmware.consolex'] = sys.modules['firmware.modules']
    try:
        import firmware.console.words      # noqa: F401
        forget('firmware.console')
        assert 'firmware.consolex' in sys.modules
    finally:
        sys.modules.pop('firmware.consolex', None)
