#!/usr/bin/env bash
# Create .venv and install CrossBoard with its test extra (idempotent).
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
find_links=()
[ -d /opt/wheels ] && find_links=(--find-links /opt/wheels)
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q "${find_links[@]}" -e ".[test]"
