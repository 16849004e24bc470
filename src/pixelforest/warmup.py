"""Compile pixelforest's kernels once, before the first command needs them.

``python -m pixelforest.warmup`` builds the compiled kernels (numba, cached on disk beside the
installed package, reused by every later process) in three processes at once: the filters of the
feature presets on a 2D image in one, on a 3D stack in another (its 3D scales and the 2D scales
of a thin stack go through other kernels than an all-2D bank), the forest's training and
prediction in the third. The set-up scripts
and the Fiji plugin's own environment set-up run it, so that a user's first command does not
wait for compilation. Run again, it only loads the cache (about 2 s).
"""

from __future__ import annotations

import subprocess
import sys
import time

import numpy as np

from .features import FeatureSpec, compute_canonical, compute_features, feature_names, resolve_spec
from .fitting import fit_forest

#: what each process compiles (each is a function of this module)
PARTS = ("features", "volumes", "forest")


def _features() -> None:
    """The filters of the presets, on a small 2D image, as training and prediction call them."""
    img = np.random.default_rng(0).random((64, 64), dtype=np.float32)
    for preset in ("pixelforest-default", "ilastik-default"):
        compute_features(img, preset)
    # Hole Filling's two polarities share the image's ranks, found by a kernel of their own
    compute_features(img, FeatureSpec.from_cells({"HoleFilling": [1.0]}))


def _volumes() -> None:
    """The filters of the presets on a small 3D stack as the command line fits them to its depth
    (3D scales plane by plane, the largest ones in 2D), one channel and two."""
    vol = np.random.default_rng(0).random((1, 16, 64, 64, 2), dtype=np.float32)
    for preset in ("minimal", "pixelforest-default"):
        spec = resolve_spec(preset, z_size=vol.shape[1])
        compute_canonical(vol, spec)
        compute_canonical(vol[..., :1], spec)


def _forest() -> None:
    """The forest's trainer and its prediction, on random features shaped like the default's."""
    rng = np.random.default_rng(0)
    n = len(feature_names("pixelforest-default"))
    X = rng.random((400, n), dtype=np.float32)
    y = np.repeat(np.arange(1, 3, dtype=np.uint8), 200)
    forest, _ = fit_forest(X, y, 2, trees=4, seed=0)
    forest.predict_proba(X)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] in PARTS:  # one part, in this process
        globals()["_" + argv[0]]()
        return 0
    t0 = time.monotonic()
    print("pixelforest: compiling its filters and forest (1-3 minutes the first time; then they load from the "
          "cache)...", flush=True)
    procs = [subprocess.Popen([sys.executable, "-m", "pixelforest.warmup", part]) for part in PARTS]
    try:
        codes = [p.wait() for p in procs]
    except BaseException:
        for p in procs:
            p.kill()
        raise
    if any(codes):
        print(f"pixelforest: compiling failed (exit status {max(codes)})", file=sys.stderr)
        return max(codes)
    print(f"pixelforest: compiled in {time.monotonic() - t0:.0f} s", flush=True)
    return 0


if __name__ == "__main__":  # pragma: no cover - a command
    sys.exit(main())
