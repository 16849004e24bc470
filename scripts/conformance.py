#!/usr/bin/env python
"""Fidelity against ilastik: the four Pixel Classification test projects.

For each project in ``../shared/data/ilastik-tests`` (2d, 2d3c, 3d, 5t2d1c)
the raw data are predicted two ways and compared with ilastik's own exported
probabilities (``inputdata/<case>_Probabilities.h5``):

1. ``stored``: ilastik's stored forest applied to pixelforest's features. Any
   difference left is ours (features or forest traversal); targets: argmax
   agreement >= 99.99 %, mean |dp| <= 1e-4.
2. ``retrained``: a pixelforest forest trained from the project's labels and
   feature selection (seeds 0-4). Targets on 2d and 5t2d1c, for the mean over
   the five seeds (one forest is one random draw: on 5t2d1c's 154 labelled
   pixels single seeds range from 0.966 to 0.990): foreground IoU >= 0.97 and
   mean |dp| <= 0.03; on 2d3c and 3d (412 and 32 labelled pixels) the figures
   are shown beside the spread between two seeds.

Foreground is class 1 ("Label 1"). Usage::

    python scripts/conformance.py [--data DIR] [--cases 2d,3d] [--no-retrain]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "ilastik-tests"
CASES = ("2d", "2d3c", "3d", "5t2d1c")
RETRAIN_TARGETS = {"2d": (0.97, 0.03), "5t2d1c": (0.97, 0.03)}
#: the seeds whose mean meets the retrained targets
RETRAIN_SEEDS = (0, 1, 2, 3, 4)
STORED_TARGETS = (0.9999, 1e-4)


def reference(data_dir: Path, case: str) -> np.ndarray:
    import h5py

    with h5py.File(data_dir / "inputdata" / f"{case}_Probabilities.h5", "r") as f:
        return f["exported_data"][()]


def compare(p: np.ndarray, ref: np.ndarray) -> dict:
    if p.shape != ref.shape:
        raise AssertionError(f"shape {p.shape} != ilastik's {ref.shape}")
    a, b = p.argmax(-1), ref.argmax(-1)
    fa, fb = a == 0, b == 0
    union = np.logical_or(fa, fb).sum()
    return {
        "argmax": float((a == b).mean()),
        "iou": float(np.logical_and(fa, fb).sum() / union) if union else 1.0,
        "mean_dp": float(np.abs(p - ref).mean()),
    }


def project_input(data_dir: Path, case: str):
    """The project's lane-0 raw data and axes, as the project resolves them."""
    from pixelforest.io.ilp import IlastikProject

    with IlastikProject(data_dir / f"PixelClassification{case}.ilp") as ilp:
        lane = ilp.lanes()[0]
        return ilp.raw_data(lane)


def stored_forest(data_dir: Path, case: str) -> dict:
    import pixelforest as pf

    clf = pf.load(data_dir / f"PixelClassification{case}.ilp")
    raw, axes = project_input(data_dir, case)
    p = clf.predict(raw, axes=axes)
    return compare(p, reference(data_dir, case))


def retrained(data_dir: Path, case: str, seed: int) -> dict:
    import pixelforest as pf
    from pixelforest.io.ilp import IlastikProject

    with IlastikProject(data_dir / f"PixelClassification{case}.ilp") as ilp:
        imgs, labs, axes, names = ilp.training_data()
        spec = ilp.feature_spec()
    clf = pf.train(imgs, labs, features=spec, axes=axes, seed=seed)
    raw, ax = project_input(data_dir, case)
    p = clf.predict(raw, axes=ax)
    out = compare(p, reference(data_dir, case))
    out["_p"] = p
    out["n_labels"] = int(sum((lab > 0).sum() for lab in labs))
    return out


def retrained_mean(data_dir: Path, case: str, seeds=RETRAIN_SEEDS) -> tuple[dict, list[dict]]:
    """Foreground IoU and mean |dp| over forests retrained with ``seeds``, and each forest's figures."""
    runs = [retrained(data_dir, case, seed) for seed in seeds]
    return {"iou": float(np.mean([r["iou"] for r in runs])), "mean_dp": float(np.mean([r["mean_dp"] for r in runs])),
            "n_labels": runs[0]["n_labels"]}, runs


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--cases", default=",".join(CASES))
    ap.add_argument("--no-retrain", action="store_true")
    args = ap.parse_args(argv)
    if not (args.data / "inputdata").is_dir():
        print(f"conformance: data folder {args.data} not found (it lives in ../shared/data/ilastik-tests)")
        return 2
    ok = True
    print(f"{'case':8} {'mode':22} {'argmax agree':>13} {'fg IoU':>8} {'mean |dp|':>10}  verdict")
    for case in args.cases.split(","):
        t0 = time.time()
        r = stored_forest(args.data, case)
        good = r["argmax"] >= STORED_TARGETS[0] and r["mean_dp"] <= STORED_TARGETS[1]
        ok &= good
        print(f"{case:8} {'stored ilastik forest':22} {r['argmax']*100:12.4f}% {r['iou']:8.4f} {r['mean_dp']:10.2e}  "
              f"{'PASS' if good else 'FAIL'} ({time.time() - t0:.1f} s)")
        if args.no_retrain:
            continue
        mean, runs = retrained_mean(args.data, case)
        r0, r1 = runs[0], runs[1]
        spread = compare(r0["_p"], r1["_p"])
        target = RETRAIN_TARGETS.get(case)
        for seed, r in zip(RETRAIN_SEEDS, runs, strict=True):
            print(f"{case:8} {f'retrained (seed {seed})':22} {r['argmax']*100:12.4f}% {r['iou']:8.4f} "
                  f"{r['mean_dp']:10.2e}")
        if target:
            good = mean["iou"] >= target[0] and mean["mean_dp"] <= target[1]
            ok &= good
            verdict = "PASS" if good else "FAIL"
        else:
            verdict = (f"info ({r0['n_labels']} labelled px; seed 0 vs 1: IoU {spread['iou']:.4f}, "
                       f"mean |dp| {spread['mean_dp']:.4f})")
        print(f"{case:8} {f'retrained (mean of {len(runs)})':22} {'':13} {mean['iou']:8.4f} {mean['mean_dp']:10.2e}  "
              f"{verdict}")
    print("conformance:", "PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
