#!/usr/bin/env bash
# Create .venv and install CrossBoard with its test extra (idempotent: skipped when .venv already holds
# an install of this pyproject.toml, so a second launch starts at once).
set -euo pipefail
cd "$(dirname "$0")/.."
stamp=.venv/.crossboard-installed
wanted="$(sha256sum pyproject.toml | cut -d' ' -f1)"
if [ -x .venv/bin/crossboard ] && [ "$(cat "$stamp" 2>/dev/null)" = "$wanted" ]; then
    exit 0
fi
python3 -m venv .venv
find_links=()
[ -d /opt/wheels ] && find_links=(--find-links /opt/wheels)
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q "${find_links[@]}" -e ".[test]"
echo "$wanted" > "$stamp"
