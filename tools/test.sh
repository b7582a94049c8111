#!/usr/bin/env bash
# Runs every test. Does the host setup first when it is missing (CI and new
# machines start bare); setup is idempotent and quick when already done.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh
exec .venv/bin/python -m pytest host_tests "$@"
