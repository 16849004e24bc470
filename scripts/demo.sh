#!/usr/bin/env bash
# End-to-end demo on an image that ships with scikit-image: draws labels, trains,
# predicts, writes probabilities / segmentation / uncertainty to demo-output/.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup-venv.sh
VENV="${PIXELFOREST_VENV:-.venv}"
exec "$VENV/bin/python" scripts/demo.py "$@"
