#!/usr/bin/env bash
# Set up and launch the app on the bundled demo data (http://localhost:8501).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/crossboard app "$@"
