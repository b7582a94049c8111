# Loading code only while it is needed: on the board a module's code and
# tables are heap, so the parts used now and then (start-up, the console,
# remote commands, the state store) are unloaded after use.
import sys


def forget(name):
    """Unload a module, and a package with every submodule it loaded, so
    that their code and tables go back to the heap (once nothing else
    holds them)."""
    n = len(name)
    for m in [m for m in sys.modules if m == name or (m.startswith(name) and m[n] == '.')]:
        sys.modules.pop(m, None)
        pkg, _, attr = m.rpartition('.')
        p = sys.modules.get(pkg)
        if p is not None and attr in p.__dict__:
            delattr(p, attr)
