# python tools/yearsim --scenario tools/yearsim/scenarios/offgrid_bts.json --out DIR
import os
import sys

_HERE = os.path.dirname(os.path.abspath(__file__))
for _p in (os.path.dirname(os.path.dirname(_HERE)), os.path.dirname(_HERE)):
    if _p not in sys.path:
        sys.path.insert(0, _p)
if sys.path[0] == _HERE:      # run as a directory: the package is found from tools/
    sys.path.pop(0)

from yearsim.cli import main  # noqa: E402

sys.exit(main())
