#!/usr/bin/env bash
# Runs every test. Does the host setup first when it is missing (CI and new
# machines start bare); setup is idempotent and quick when already done.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh
# Three at a time (pytest-xdist): most tests wait on a firmware in the unix
# port, a broker or the emulator, so 3 workers keep 2 cores busy; the whole
# suite takes ~5 min instead of ~14.
exec .venv/bin/python -m pytest host_tests -n 3 "$@"
