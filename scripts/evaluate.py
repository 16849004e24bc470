#!/usr/bin/env python
"""Accuracy against ground truth: pixelforest vs Otsu vs scikit-image's baseline.

For each dataset a careful user's sparse labels are simulated from the ground truth: in
a few places (40-px windows), a 3-px brush stroke (ilastik's default brush) along the
objects' centre line and a thin band of background 2-3 px outside them, at most 2 % of
the pixels.
Classifiers are trained on the labels of some images and evaluated on held-out images:

* ``dsb2018-nuclei``: 40 fluorescence images; train on 10 (every 4th), test on the other 30.
* ``isbi2012-em``: 30 EM slices, membranes as foreground; train on slices 0-4, test on 15-29.

Methods on the same labels: pixelforest with its default features, with
``ilastik-default`` (exact ilastik bank) and with auto-context (2 stages); Otsu thresholding (polarity chosen from the
labels); scikit-image ``multiscale_basic_features`` + a 100-tree random forest.
Printed per dataset: mean foreground IoU and F1 over test images, and (nuclei) object
F1 at IoU 0.5 after the same watershed post-processing for every method.

    python scripts/evaluate.py [--quick] [--seeds 3] [--data ../shared/data]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from scipy import ndimage

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"


# ------------------------------------------------------------------ labels


def simulate_labels(gt_fg: np.ndarray, rng, max_fraction: float = 0.02, window: int = 40,
                    n_windows: int = 10) -> np.ndarray:
    """A careful user's scribbles: in a few places, a 3-px brush stroke along the objects' centre
    line (1) and a thin band of background 2-3 px outside them (2); at most ``max_fraction`` of pixels."""
    from skimage.morphology import skeletonize

    lab = np.zeros(gt_fg.shape, np.uint8)
    skel = skeletonize(gt_fg)
    stroke = ndimage.binary_dilation(skel) & gt_fg  # a 3-px brush (ilastik's default size) along the centre line
    dist_out = ndimage.distance_transform_edt(~gt_fg)
    band = (dist_out >= 2) & (dist_out < 3.5)
    ys, xs = np.nonzero(skel)
    if ys.size == 0:
        return lab
    budget = int(max_fraction * gt_fg.size)
    h = window // 2
    for k in rng.permutation(ys.size)[:n_windows]:
        win = (slice(max(0, ys[k] - h), ys[k] + h), slice(max(0, xs[k] - h), xs[k] + h))
        lab[win][stroke[win]] = 1
        lab[win][band[win] & (lab[win] == 0)] = 2
        if (lab > 0).sum() >= budget:
            break
    if (lab > 0).sum() > budget:  # thin out evenly to the budget
        idx = np.flatnonzero(lab)
        lab.flat[rng.choice(idx, idx.size - budget, replace=False)] = 0
    return lab


# ------------------------------------------------------------------ data


def load_dsb(data: Path, quick: bool):
    import tifffile

    imgs = sorted((data / "dsb2018-nuclei" / "images").glob("*.tif"))
    out = [(tifffile.imread(p).astype(np.float32), tifffile.imread(data / "dsb2018-nuclei" / "labels" / p.name))
           for p in imgs]
    train_idx = list(range(0, len(out), 4))
    test_idx = [i for i in range(len(out)) if i not in train_idx]
    if quick:
        train_idx, test_idx = train_idx[:3], test_idx[:4]
    return out, train_idx, test_idx, True


def load_isbi(data: Path, quick: bool):
    import tifffile

    vol = tifffile.imread(data / "isbi2012-em" / "train-volume.tif").astype(np.float32)
    mem = tifffile.imread(data / "isbi2012-em" / "train-membranes.tif")
    fg = (mem > 0) if mem.max() <= 1 else (mem < 128)  # membranes
    out = [(vol[i], fg[i].astype(np.int32)) for i in range(vol.shape[0])]
    train_idx, test_idx = list(range(5)), list(range(15, 30))
    if quick:
        out = [(a[:256, :256], b[:256, :256]) for a, b in out]
        train_idx, test_idx = train_idx[:2], test_idx[:3]
    return out, train_idx, test_idx, False


# ------------------------------------------------------------------ methods


def fg_prob_pixelforest(features, stages: int = 1):
    import pixelforest as pf

    def fit(train, seed):
        clf = pf.train([a for a, _ in train], [lab for _, lab in train], features=features, seed=seed, stages=stages)
        return lambda img: clf.predict(img)[..., 0]

    return fit


def fg_prob_skimage(train, seed):
    from functools import partial

    from skimage.feature import multiscale_basic_features
    from sklearn.ensemble import RandomForestClassifier

    feat = partial(multiscale_basic_features, channel_axis=None)
    X = np.concatenate([feat(a)[lab > 0] for a, lab in train])
    y = np.concatenate([lab[lab > 0] for _, lab in train])
    rf = RandomForestClassifier(100, n_jobs=-1, random_state=seed).fit(X, y)
    return lambda img: rf.predict_proba(feat(img).reshape(-1, X.shape[1]))[:, 0].reshape(img.shape)


def fg_prob_otsu(train, seed):
    from skimage.filters import threshold_otsu

    # polarity from the labels: are labelled objects brighter than the labelled background?
    fg_mean = np.mean(np.concatenate([a[lab == 1] for a, lab in train]))
    bg_mean = np.mean(np.concatenate([a[lab == 2] for a, lab in train]))
    bright = fg_mean > bg_mean

    def predict(img):
        t = threshold_otsu(img)
        return ((img > t) if bright else (img < t)).astype(np.float32)

    return predict


# ------------------------------------------------------------------ scores


def pixel_scores(pred: np.ndarray, gt: np.ndarray) -> tuple[float, float]:
    tp = np.logical_and(pred, gt).sum()
    fp = np.logical_and(pred, ~gt).sum()
    fn = np.logical_and(~pred, gt).sum()
    iou = tp / (tp + fp + fn) if tp + fp + fn else 1.0
    f1 = 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 1.0
    return float(iou), float(f1)


def object_f1(pred_lab: np.ndarray, gt_lab: np.ndarray, thr: float = 0.5) -> float:
    n_p, n_g = int(pred_lab.max()), int(gt_lab.max())
    if n_p == 0 and n_g == 0:
        return 1.0
    if n_p == 0 or n_g == 0:
        return 0.0
    cont = np.zeros((n_p + 1, n_g + 1), np.int64)
    np.add.at(cont, (pred_lab.ravel(), gt_lab.ravel()), 1)
    inter = cont[1:, 1:]
    area_p = cont[1:, :].sum(1)[:, None]
    area_g = cont[:, 1:].sum(0)[None, :]
    iou = inter / (area_p + area_g - inter)
    tp = int((iou > thr).sum())  # IoU > 0.5 matches are unique
    return 2 * tp / (n_p + n_g)


def evaluate(name, loader, data, quick, seeds, methods, objects_params):
    from pixelforest.postprocess import segment_objects

    items, train_idx, test_idx, has_instances = loader(data, quick)
    rows = {m: {"iou": [], "f1": [], "obj": []} for m in methods}
    frac = []
    for seed in range(seeds):
        rng = np.random.default_rng(seed)
        train = []
        for i in train_idx:
            img, gt = items[i]
            lab = simulate_labels(gt > 0, rng)
            frac.append((lab > 0).mean())
            train.append((img, lab))
        for m, make in methods.items():
            predict = make(train, seed)
            for i in test_idx:
                img, gt = items[i]
                p = predict(img)
                iou, f1 = pixel_scores(p > 0.5, gt > 0)
                rows[m]["iou"].append(iou)
                rows[m]["f1"].append(f1)
                if has_instances:
                    rows[m]["obj"].append(object_f1(segment_objects(p, objects_params), gt))
    print(f"\n{name}: train on {len(train_idx)} image(s), test on {len(test_idx)}, {seeds} label seed(s); "
          f"labels cover {100 * np.mean(frac):.2f}% of training pixels (max {100 * np.max(frac):.2f}%)")
    print(f"  {'method':34s} {'fg IoU':>8s} {'F1':>8s} {'object F1':>10s}")
    out = {}
    for m, r in rows.items():
        obj = f"{np.mean(r['obj']):.3f}" if r["obj"] else "n/a"
        print(f"  {m:34s} {np.mean(r['iou']):8.3f} {np.mean(r['f1']):8.3f} {obj:>10s}", flush=True)
        out[m] = float(np.mean(r["iou"]))
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="few images, small crops (CI)")
    ap.add_argument("--seeds", type=int, default=3, help="label seeds (default 3)")
    ap.add_argument("--data", type=Path, default=DATA)
    args = ap.parse_args(argv)
    if not (args.data / "dsb2018-nuclei").is_dir():
        print(f"evaluate: {args.data} has no dsb2018-nuclei / isbi2012-em (they live in ../shared/data)")
        return 2
    from pixelforest.features import DEFAULT_FEATURES
    from pixelforest.postprocess import ObjectParams

    methods = {
        f"pixelforest (default: {DEFAULT_FEATURES})": fg_prob_pixelforest(DEFAULT_FEATURES),
        "pixelforest (ilastik-default)": fg_prob_pixelforest("ilastik-default"),
        f"pixelforest ({DEFAULT_FEATURES}, 2 stages)": fg_prob_pixelforest(DEFAULT_FEATURES, stages=2),
        "pixelforest (features auto)": fg_prob_pixelforest("auto"),
        "Otsu threshold": fg_prob_otsu,
        "skimage multiscale_basic_features + RF": fg_prob_skimage,
    }
    if DEFAULT_FEATURES == "ilastik-default":
        methods.pop("pixelforest (ilastik-default)")
    t0 = time.time()
    seeds = 1 if args.quick else args.seeds
    params = ObjectParams(threshold=0.5, min_size=10, split="distance", min_distance=4)
    res = {"dsb2018-nuclei": evaluate("dsb2018-nuclei", load_dsb, args.data, args.quick, seeds, methods, params),
           "isbi2012-em": evaluate("isbi2012-em (membranes)", load_isbi, args.data, args.quick, seeds, methods, params)}
    default = next(iter(methods))
    print("\nmargin of the default over the best baseline (fg IoU):")
    for ds, r in res.items():
        base = max(v for k, v in r.items() if not k.startswith("pixelforest"))
        print(f"  {ds:16s} {r[default] - base:+.3f}")
    print(f"({time.time() - t0:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
