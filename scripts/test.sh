#!/usr/bin/env bash
# Run the test suite (sets up .venv first). Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup-system.sh
./scripts/setup-venv.sh
VENV="${PIXELFOREST_VENV:-.venv}"
# two pytest workers (PIXELFOREST_TEST_WORKERS=0: one process), each taking whole test files (an
# ImageJ file's JVM and images made once), the ImageJ files first (tests/conftest.py). The
# end-to-end tests marked slow (minutes: a Python environment made from the package index) are left
# out unless asked for: `./scripts/test.sh -m slow` runs them alone, `-m ""` everything; .ci/run
# runs them after the rest.
exec "$VENV/bin/python" -m pytest -q -n "${PIXELFOREST_TEST_WORKERS:-2}" --dist loadfile -m "not slow" "$@"
