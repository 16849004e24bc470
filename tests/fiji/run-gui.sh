#!/usr/bin/env bash
# Runs java (arguments as given) on a virtual 1600 x 1000 screen with a small window manager (twm),
# so that windows have focus and position as on a desktop: tests/fiji/run-gui.sh -cp ... Main.java ARGS
# (twm in the C locale: in a UTF-8 one it wants a fontset that X's base fonts do not have, and exits)
set -euo pipefail
rc="$(mktemp)"
trap 'rm -f "$rc"' EXIT
printf 'RandomPlacement\nUsePPosition "on"\nNoGrabServer\nDecorateTransients\n' > "$rc"
xvfb-run -a -n "${PIXELFOREST_XVFB_FROM:-99}" -s "-screen 0 1600x1000x24" bash -c 'if command -v twm >/dev/null; then LC_ALL=C twm -f "$0" >/dev/null 2>&1 & sleep 0.5; fi; java "$@"' "$rc" "$@"
