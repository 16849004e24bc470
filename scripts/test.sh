#!/usr/bin/env bash
# Run the test suite (sets up .venv first). Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup-system.sh
./scripts/setup-venv.sh
VENV="${PIXELFOREST_VENV:-.venv}"
exec "$VENV/bin/python" -m pytest -q "$@"
