#!/usr/bin/env bash
# Create (or update) the project's virtual environment and install pixelforest into it.
# Uses only the package registry; reinstalls only when pyproject.toml changed.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${PIXELFOREST_VENV:-.venv}"
PY="${PYTHON:-python3}"
if ! command -v "$PY" >/dev/null 2>&1; then
  echo "setup: $PY not found; install Python >= 3.10 or set PYTHON=/path/to/python3" >&2
  exit 1
fi
if [ ! -x "$VENV/bin/python" ]; then
  echo "setup: creating virtual environment $VENV" >&2
  "$PY" -m venv "$VENV"
fi
stamp="$VENV/.pixelforest-installed"
want="$(sha256sum pyproject.toml | cut -d' ' -f1)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "setup: installing pixelforest and its dependencies into $VENV" >&2
  "$VENV/bin/python" -m pip install --quiet --upgrade pip
  "$VENV/bin/python" -m pip install --quiet -e ".[test]"
  echo "$want" > "$stamp"
fi
# the compiled kernels, built once here (in two processes) rather than in the first command;
# again only when pixelforest's sources changed (numba then rebuilds what changed)
kern="$(find src/pixelforest -name '*.py' | LC_ALL=C sort | xargs cat | sha256sum | cut -d' ' -f1)"
if [ "$(cat "$VENV/.pixelforest-compiled" 2>/dev/null)" != "$kern" ]; then
  "$VENV/bin/python" -m pixelforest.warmup >&2
  echo "$kern" > "$VENV/.pixelforest-compiled"
fi
