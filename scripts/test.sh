#!/usr/bin/env bash
# Run the test suite (sets up .venv first). Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup-system.sh
./scripts/setup-venv.sh
VENV="${PIXELFOREST_VENV:-.venv}"
# two pytest workers: the ImageJ tests (one JVM and display at a time) run in one, in order, while
# the other takes the Python tests and the slow environment set-up (PIXELFOREST_TEST_WORKERS=0: one process)
exec "$VENV/bin/python" -m pytest -q -n "${PIXELFOREST_TEST_WORKERS:-2}" --dist loadgroup "$@"
