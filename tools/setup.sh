#!/usr/bin/env bash
# Idempotent host setup: Debian packages, the .venv with pinned tools, and lib/
# (the board's third-party MicroPython libraries, fetched and digest-checked).
# Safe to run again; each step is skipped when already done.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ] || need_apt+=(mosquitto)
command -v socat >/dev/null 2>&1 || need_apt+=(socat)
if [ ${#need_apt[@]} -gt 0 ]; then
    echo "setup: installing ${need_apt[*]} from Debian" >&2
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

stamp=.venv/.requirements.sha256
want=$(sha256sum tools/requirements.txt | cut -d' ' -f1)
if [ ! -x .venv/bin/python ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    echo "setup: installing tools/requirements.txt into .venv" >&2
    # An existing .venv (a worktree's may be a symlink, which venv will not
    # recreate) only takes the requirements.
    [ -x .venv/bin/python ] || python3 -m venv .venv
    .venv/bin/pip install -q --disable-pip-version-check -r tools/requirements.txt
    echo "$want" > "$stamp"
fi

.venv/bin/python tools/fetch_libs.py
.venv/bin/python tools/check_api.py --setup >/dev/null      # the API check's ESP32 stubs (pinned)
