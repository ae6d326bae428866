#!/usr/bin/env bash
# Set up (virtualenv, dependencies, Debian's Chromium for the browser tests) and run every test.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
if ! command -v chromium >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ]; then
        apt-get update -q && apt-get install -y -q chromium
    else
        sudo apt-get update -q && sudo apt-get install -y -q chromium
    fi
fi
.venv/bin/python -m pytest -q "$@"
