#!/usr/bin/env bash
# The README's first command: the firmware in the MicroPython unix port
# against an emulated cabinet and a local broker. Sets the host up first.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh
exec .venv/bin/python tools/demo.py "$@"
