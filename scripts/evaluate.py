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

The training loop, round by round (``--rounds N``): round 0 is the scribbles above; in each
later round a simulated user adds ``--strokes`` brush strokes (5) to the training images and
the default classifier is retrained (features computed once per image). Strategies with the
same stroke budget: ``guided`` (where pixelforest's *where to label next* points), ``peaks``
(the suggestion before issue 18: smoothed-uncertainty maxima), ``errors`` (the largest wrong
regions of the current prediction, what a user looking at the overlay does) and ``random``.
A stroke is the same for all of them (:func:`brush_stroke`). Each round is scored on two
disjoint sets of held-out images: ``tune`` (the suggestion's defaults were chosen looking at
these) and ``score`` (never looked at while choosing). Tables, ``loop.json`` and ``loop.png``
(IoU against strokes) go to ``--out``.

    python scripts/evaluate.py --rounds 5 [--strokes 5] [--seeds 3] [--quick] [--out evaluation-out]
"""

from __future__ import annotations

import argparse
import itertools
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
# ------------------------------------------------------------------ the loop, round by round

#: a stroke: a straight segment of up to this many pixels through the chosen point ...
STROKE_LENGTH = 31
#: ... painted with a brush this wide (ilastik's default brush is 3 px)
STROKE_WIDTH = 3


def brush_stroke(gt: np.ndarray, point, length: int = STROKE_LENGTH, width: int = STROKE_WIDTH):
    """A user's brush stroke through ``point`` inside the ground-truth class there.

    The longest straight segment (of 8 directions, up to ``length`` px, centred on the point as
    far as the class allows) that stays in the class at ``point``, painted ``width`` px wide and
    kept inside that class (a careful user does not paint over the border). Returns
    ``(window slices, stroke mask in the window, ground-truth value)``."""
    gt = np.asarray(gt)
    y, x = int(point[0]), int(point[1])
    h = length // 2 + width
    win = (slice(max(0, y - h), min(gt.shape[0], y + h + 1)), slice(max(0, x - h), min(gt.shape[1], x + h + 1)))
    region = gt[win] == gt[y, x]
    cy, cx = y - win[0].start, x - win[1].start
    best = None
    for a in np.arange(8) * np.pi / 8:
        dy, dx = np.sin(a), np.cos(a)
        ends = []
        for sgn in (1, -1):
            n = 0
            for t in range(1, length // 2 + 1):
                py, px = int(round(cy + sgn * t * dy)), int(round(cx + sgn * t * dx))
                if not (0 <= py < region.shape[0] and 0 <= px < region.shape[1]) or not region[py, px]:
                    break
                n = t
            ends.append(n)
        if best is None or sum(ends) > sum(best[1]):
            best = ((dy, dx), ends)
    (dy, dx), (n_plus, n_minus) = best
    line = np.zeros(region.shape, bool)
    for t in range(-n_minus, n_plus + 1):
        line[int(round(cy + t * dy)), int(round(cx + t * dx))] = True
    if width > 1:
        line = ndimage.binary_dilation(line, np.ones((width, width), bool))
    return win, line & region, gt[y, x]


def paint(labels: np.ndarray, gt_fg: np.ndarray, point) -> int:
    """Paint one stroke into ``labels`` (1 = foreground, 2 = background); returns its pixels."""
    win, mask, fg = brush_stroke(gt_fg, point)
    labels[win][mask] = 1 if fg else 2
    return int(mask.sum())


def points_random(state, k, rng):
    """``k`` places uniformly over all training pixels."""
    sizes = np.array([s["gt"].size for s in state])
    out = []
    for _ in range(k):
        i = int(rng.choice(len(state), p=sizes / sizes.sum()))
        out.append((i, tuple(int(rng.integers(n)) for n in state[i]["gt"].shape)))
    return out


def points_errors(state, k, rng):
    """The ``k`` largest connected wrong regions (prediction != ground truth) over all training
    images, largest first; each gets its stroke at its deepest pixel."""
    cands = []
    for i, s in enumerate(state):
        wrong = (s["prob"] > 0.5) != s["gt"]
        lab, n = ndimage.label(wrong)
        if not n:
            continue
        sizes = np.bincount(lab.ravel())[1:]
        depth = ndimage.distance_transform_edt(wrong)
        top = np.argsort(-sizes)[:k] + 1
        pos = ndimage.maximum_position(depth, lab, top)
        cands += [(int(sizes[j - 1]), i, tuple(int(v) for v in p)) for j, p in zip(top, pos, strict=True)]
    cands.sort(key=lambda c: -c[0])
    return [(i, p) for _, i, p in cands[:k]]


def _ranked(state, k, regions_of):
    cands = []
    for i, s in enumerate(state):
        for r in regions_of(s):
            cands.append((r.get("score", r["uncertainty"]), i, r["center"]))
    cands.sort(key=lambda c: -c[0])
    return [(i, p) for _, i, p in cands[:k]]


def _live_size(shape):
    return max(3, int(round(max(15, min(shape) / 12))))  # as LiveSession.suggest, stride 1


def points_guided(state, k, rng):
    """Where pixelforest's *where to label next* points (the live panel's suggestion on each
    training image, ranked together), ``k`` places."""
    from pixelforest.classifier import uncertainty_from_probabilities
    from pixelforest.postprocess import suggest_regions

    def regions(s):
        unc = uncertainty_from_probabilities(np.stack([s["prob"], 1 - s["prob"]], -1))
        return suggest_regions(unc, k=k, size=_live_size(s["gt"].shape), labels=s["labels"])

    return _ranked(state, k, regions)


def points_peaks(state, k, rng):
    """The suggestion before issue 18: maxima of the uncertainty smoothed over ``size // 2``,
    ``size`` apart, away from labels (kept here to compare against)."""
    from skimage.feature import peak_local_max

    def regions(s):
        size = _live_size(s["gt"].shape)
        unc = (1 - np.abs(2 * s["prob"] - 1)).astype(np.float32)
        u = ndimage.uniform_filter(unc, size=max(1, size // 2))
        u = np.where(ndimage.binary_dilation(s["labels"] > 0, iterations=max(1, size // 2)), 0.0, u)
        peaks = peak_local_max(u, min_distance=max(1, size), num_peaks=k, exclude_border=False, threshold_abs=1e-6)
        return [{"center": tuple(int(c) for c in pk), "uncertainty": float(u[tuple(pk)])} for pk in peaks]

    return _ranked(state, k, regions)


STRATEGIES = {"guided": points_guided, "peaks": points_peaks, "errors": points_errors, "random": points_random}
#: each strategy's random stream (with the seed), fixed so that a strategy run alone or with others is the same
STREAMS = {"peaks": 0, "errors": 1, "random": 2, "guided": 3}
STRATEGY_NAMES = {"guided": "(a) where to label next", "peaks": "(a0) uncertainty peaks (before)",
                  "errors": "(b) largest wrong regions", "random": "(c) random places"}


def _fg_prob(clf, sess) -> np.ndarray:
    f = sess.features(clf.spec)
    p = clf.predict_proba_features(f.reshape(-1, f.shape[-1]))
    return p[:, 0].reshape(f.shape[2:4])


def simulate_loop(train_items, eval_sets, *, features, rounds: int, k: int, seed: int, strategies,
                  objects_params=None, progress=None) -> dict:
    """One seed of the simulated loop for each strategy.

    ``train_items``: ``[(image, gt)]`` where the user paints; ``eval_sets``: ``{name: [(image,
    gt)]}`` scored after each round. Returns ``{strategy: [{"round", "strokes", "pixels",
    <set>: {"iou", "obj"}}]}``; round 0 (the scribbles) is shared by every strategy."""
    from pixelforest.interactive import Session, train_sessions
    from pixelforest.postprocess import segment_objects

    rng0 = np.random.default_rng(seed)
    tr = [Session(img, features, seed=seed) for img, _ in train_items]
    ev = {name: [(Session(img, features, seed=seed), gt) for img, gt in items] for name, items in eval_sets.items()}
    start = [simulate_labels(gt > 0, rng0) for _, gt in train_items]

    def score(clf):
        out = {}
        for name, items in ev.items():
            ious, objs = [], []
            for sess, gt in items:
                p = _fg_prob(clf, sess)
                ious.append(pixel_scores(p > 0.5, gt > 0)[0])
                if objects_params is not None:
                    objs.append(object_f1(segment_objects(p, objects_params), gt))
            out[name] = {"iou": float(np.mean(ious)), "obj": float(np.mean(objs)) if objs else None}
        return out

    def train(labels):
        for s, lab in zip(tr, labels, strict=True):
            s.labels[0, 0] = lab
        return train_sessions(tr, tr[0].spec, trees=100, seed=seed)

    clf0 = train(start)
    row0 = {"round": 0, "strokes": 0, "pixels": int(sum((lab > 0).sum() for lab in start)), **score(clf0)}
    prob0 = [_fg_prob(clf0, s) for s in tr]
    res = {}
    for name in strategies:
        rng = np.random.default_rng([seed, STREAMS[name]])  # a strategy's own stream, whatever else runs
        state = [{"gt": gt > 0, "labels": lab.copy(), "prob": p}
                 for (_, gt), lab, p in zip(train_items, start, prob0, strict=True)]
        rows = [row0]
        for r in range(1, rounds + 1):
            for i, pt in STRATEGIES[name](state, k, rng):
                paint(state[i]["labels"], state[i]["gt"], pt)
            clf = train([s["labels"] for s in state])
            for s, sess in zip(state, tr, strict=True):
                s["prob"] = _fg_prob(clf, sess)
            rows.append({"round": r, "strokes": r * k, "pixels": int(sum((s["labels"] > 0).sum() for s in state)),
                         **score(clf)})
            if progress:
                progress(name, r, rows[-1])
        res[name] = rows
    return res


def strokes_to_reach(rows, target: float, key: str = "iou", split: str = "score"):
    """Strokes at which a strategy's mean curve first reaches ``target`` (linear between rounds), or None."""
    xs = [r["strokes"] for r in rows]
    ys = [r[split][key] for r in rows]
    for j, (x, y) in enumerate(zip(xs, ys, strict=True)):
        if y >= target:
            if j == 0:
                return float(x)
            x0, y0 = xs[j - 1], ys[j - 1]
            return float(x0 + (x - x0) * (target - y0) / (y - y0))
    return None


def mean_rows(per_seed: list) -> dict:
    """Average the rows of several seeds (same rounds) per strategy; keeps the spread (min, max)."""
    out = {}
    for name in per_seed[0]:
        rows = []
        for j, r in enumerate(per_seed[0][name]):
            row = {"round": r["round"], "strokes": r["strokes"],
                   "pixels": float(np.mean([s[name][j]["pixels"] for s in per_seed]))}
            for split in r:
                if isinstance(r[split], dict):
                    row[split] = {}
                    for key in ("iou", "obj"):
                        vals = [s[name][j][split][key] for s in per_seed]
                        if vals[0] is None:
                            row[split][key] = None
                        else:
                            row[split][key] = float(np.mean(vals))
                            row[split][key + "_range"] = [float(min(vals)), float(max(vals))]
            rows.append(row)
        out[name] = rows
    return out


def loop_splits(name: str, data: Path, quick: bool):
    """Where the user paints, and the two held-out sets (tune / score) for one dataset."""
    import tifffile

    if name == "dsb2018-nuclei":
        items, train_idx, _, _ = load_dsb(data, False)
        tune, score = [i for i in range(len(items)) if i % 4 == 2], [i for i in range(len(items)) if i % 4 in (1, 3)]
        desc = "paint on 10 images (every 4th), tune on 10 (i % 4 == 2), score on 20 (i % 4 in 1, 3)"
        if quick:
            train_idx, tune, score = train_idx[:3], tune[:2], score[:3]
    else:
        vol = tifffile.imread(data / "isbi2012-em" / "train-volume.tif").astype(np.float32)
        mem = tifffile.imread(data / "isbi2012-em" / "train-membranes.tif")
        fg = (mem > 0) if mem.max() <= 1 else (mem < 128)
        items = [(vol[i], fg[i].astype(np.int32)) for i in range(vol.shape[0])]
        train_idx, tune, score = list(range(5)), [5, 7, 9, 11, 13], list(range(15, 30, 2))
        desc = "paint on slices 0-4, tune on slices 5-13 (odd), score on slices 15-29 (odd)"
        if quick:
            items = [(a[:256, :256], b[:256, :256]) for a, b in items]
            train_idx, tune, score = train_idx[:2], tune[:2], score[:2]
    if quick:
        desc += " (quick: fewer images)"
    return ([items[i] for i in train_idx], {"tune": [items[i] for i in tune], "score": [items[i] for i in score]},
            desc, name == "dsb2018-nuclei")


def loop_table(name: str, desc: str, mean: dict, seeds: int, objects: bool) -> str:
    lines = [f"{name}: {desc}; {seeds} seed(s); mean over seeds (fg IoU range over seeds in brackets)", "",
             "| strategy | round | strokes | labelled px | fg IoU (tune) | fg IoU (score) |"
             + (" object F1 (tune) | object F1 (score) |" if objects else ""),
             "|---|---|---|---|---|---|" + ("---|---|" if objects else "")]
    for s, rows in mean.items():
        for r in rows:
            if r["round"] == 0 and s != next(iter(mean)):
                continue
            lab = STRATEGY_NAMES[s] if r["round"] else "round 0 (scribbles, all strategies)"
            rng = r["score"]["iou_range"]
            line = (f"| {lab} | {r['round']} | {r['strokes']} | {r['pixels']:.0f} | {r['tune']['iou']:.3f} | "
                    f"{r['score']['iou']:.3f} [{rng[0]:.3f}-{rng[1]:.3f}] |")
            if objects:
                line += f" {r['tune']['obj']:.3f} | {r['score']['obj']:.3f} |"
            lines.append(line)
    return "\n".join(lines)


def loop_verdict(mean: dict, rounds: int) -> list[str]:
    """Does ``guided`` reach random's last-round IoU in at most half the strokes (each split)?"""
    out = []
    if "random" not in mean:
        return out
    for split in ("tune", "score"):
        target = mean["random"][rounds][split]["iou"]
        budget = mean["random"][rounds]["strokes"]
        parts = []
        for s in mean:
            if s == "random":
                continue
            n = strokes_to_reach(mean[s], target, split=split)
            parts.append(f"{s} {'never (within ' + str(budget) + ')' if n is None else f'{n:.1f}'}")
        out.append(f"  {split}: random reaches {target:.3f} at {budget} strokes; strokes to reach it: "
                   + ", ".join(parts) + f"; target <= {budget / 2:g}")
    return out


# ------------------------------------------------------------------ the plot

COLORS = {"guided": (214, 39, 40), "peaks": (255, 160, 60), "errors": (31, 119, 180), "random": (90, 90, 90)}
_DIGITS = {"0": "111101101101111", "1": "010110010010111", "2": "111001111100111", "3": "111001111001111",
           "4": "101101111001001", "5": "111100111001111", "6": "111100111101111", "7": "111001001001001",
           "8": "111101111101111", "9": "111101111001111", ".": "000000000000010", "-": "000000111000000"}


def _png_bytes(rgb: np.ndarray) -> bytes:
    import struct
    import zlib

    h, w, _ = rgb.shape
    raw = b"".join(b"\x00" + rgb[y].astype(np.uint8).tobytes() for y in range(h))

    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xFFFFFFFF)

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))


def _text(img, y, x, s, color=(0, 0, 0), scale=2):
    for ch in s:
        g = _DIGITS.get(ch)
        if g is not None:
            for j, bit in enumerate(g):
                if bit == "1":
                    r, c = divmod(j, 3)
                    img[y + r * scale:y + (r + 1) * scale, x + c * scale:x + (c + 1) * scale] = color
        x += 4 * scale


def _line(img, p0, p1, color, width=2):
    n = int(max(abs(p1[0] - p0[0]), abs(p1[1] - p0[1]))) + 1
    for t in np.linspace(0, 1, n):
        y, x = int(round(p0[0] + t * (p1[0] - p0[0]))), int(round(p0[1] + t * (p1[1] - p0[1])))
        img[max(0, y - width // 2):y + (width + 1) // 2, max(0, x - width // 2):x + (width + 1) // 2] = color


def plot_loop(results: dict, path: Path, split: str = "score") -> str:
    """IoU against strokes, one panel per dataset, one line per strategy (mean over seeds; the
    ``split`` images). With matplotlib when installed, else a small PNG drawn here (tick labels
    only: colours are said in the returned caption)."""
    shown = [s for s in COLORS if any(s in mean for mean in results.values())]
    caption = ("fg IoU (" + split + " images) against added strokes, mean over seeds; " +
               ", ".join(f"{STRATEGY_NAMES[s]}: rgb{COLORS[s]}" for s in shown))
    from pixelforest.io.atomic import atomic_output

    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        plt = None
    if plt is not None:
        fig, axs = plt.subplots(1, len(results), figsize=(5 * len(results), 3.6))
        for ax, (ds, mean) in zip(np.atleast_1d(axs), results.items(), strict=True):
            for s, rows in mean.items():
                ax.plot([r["strokes"] for r in rows], [r[split]["iou"] for r in rows], "o-",
                        color=np.array(COLORS[s]) / 255, label=STRATEGY_NAMES[s])
            ax.set_title(ds)
            ax.set_xlabel("strokes added")
            ax.set_ylabel(f"fg IoU ({split})")
            ax.grid(alpha=0.3)
        np.atleast_1d(axs)[0].legend(fontsize=8)
        fig.tight_layout()
        atomic_output(path, lambda tmp: fig.savefig(tmp, format="png", dpi=80))
        plt.close(fig)
        return caption
    W, H, m = 360, 260, (14, 24, 44, 56)  # panel size; margins top, right, bottom, left
    img = np.full((H, W * len(results), 3), 255, np.uint8)
    for pi, mean in enumerate(results.values()):
        x0 = pi * W
        xs = [r["strokes"] for r in next(iter(mean.values()))]
        ys = [r[split]["iou"] for rows in mean.values() for r in rows]
        lo, hi = np.floor(min(ys) * 50) / 50, np.ceil(max(ys) * 50) / 50
        hi = max(hi, lo + 0.02)

        xmax = max(xs[-1], 1)

        def X(v, x0=x0, xmax=xmax):
            return x0 + m[3] + (W - m[1] - m[3]) * v / xmax

        def Y(v, lo=lo, hi=hi):
            return m[0] + (H - m[0] - m[2]) * (hi - v) / (hi - lo)

        _line(img, (Y(lo), X(0)), (Y(lo), X(xs[-1])), (0, 0, 0), 1)
        _line(img, (Y(lo), X(0)), (Y(hi), X(0)), (0, 0, 0), 1)
        for v in xs:
            _line(img, (Y(lo), X(v)), (Y(lo) + 4, X(v)), (0, 0, 0), 1)
            _text(img, int(Y(lo)) + 8, int(X(v)) - 4 * len(str(v)), str(v))
        step = 0.01 if hi - lo <= 0.06 else 0.02 if hi - lo <= 0.12 else 0.05
        for v in np.arange(np.ceil(lo / step) * step, hi + 1e-9, step):
            _line(img, (Y(v), X(0) - 4), (Y(v), X(0)), (0, 0, 0), 1)
            _line(img, (Y(v), X(0) + 1), (Y(v), X(xs[-1])), (225, 225, 225), 1)
            _text(img, int(Y(v)) - 5, x0 + 4, f"{v:.2f}")
        for s, rows in mean.items():
            pts = [(Y(r[split]["iou"]), X(r["strokes"])) for r in rows]
            for a, b in itertools.pairwise(pts):
                _line(img, a, b, COLORS[s], 2)
            for p in pts:
                img[int(p[0]) - 2:int(p[0]) + 3, int(p[1]) - 2:int(p[1]) + 3] = COLORS[s]
        for j, s in enumerate(mean):  # legend swatches, in the strategies' order
            img[H - 14:H - 6, x0 + m[3] + 40 * j:x0 + m[3] + 40 * j + 30] = COLORS[s]
    atomic_output(path, lambda tmp: Path(tmp).write_bytes(_png_bytes(img)))
    return caption


def run_loop(args) -> int:
    import json
    import tempfile

    from pixelforest.features import DEFAULT_FEATURES
    from pixelforest.postprocess import ObjectParams

    out = args.out or Path(tempfile.gettempdir()) / "pixelforest-evaluation"
    strategies = [s.strip() for s in args.strategies.split(",") if s.strip() and s.strip() != "none"]
    bad = [s for s in strategies if s not in STRATEGIES]
    if bad or not (strategies or args.keep):
        print(f"evaluate: --strategies must be a comma-separated list of {', '.join(STRATEGIES)}, "
              f"got {args.strategies!r}")
        return 2
    rounds = 2 if args.quick else args.rounds
    seeds = 1 if args.quick else args.seeds
    params = ObjectParams(threshold=0.5, min_size=10, split="distance", min_distance=4)
    t0 = time.time()
    results, report = {}, []
    kept: dict = {}
    for path in args.keep:  # strategies of earlier runs with the same settings, not run again now
        try:
            old = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            print(f"evaluate: --keep {path}: not a loop.json of an earlier run ({e})")
            return 2
        if (old["rounds"], old["strokes"], old["seeds"], old.get("quick", False)) != (rounds, args.strokes, seeds,
                                                                                    args.quick):
            print(f"evaluate: --keep {path}: that run used other --rounds/--strokes/--seeds/--quick")
            return 2
        for ds, res in old["results"].items():
            if ds in kept and abs(next(iter(kept[ds].values()))[0]["score"]["iou"]
                                  - next(iter(res.values()))[0]["score"]["iou"]) > 1e-9:
                print(f"evaluate: --keep {path}: round 0 of {ds} differs from another run's (other data or code)")
                return 2
            kept.setdefault(ds, {}).update(res)
    for ds in args.datasets.split(","):
        train_items, eval_sets, desc, objects = loop_splits(ds, args.data, args.quick)
        per_seed = []
        for seed in range(seeds if strategies else 0):
            def progress(name, r, row, seed=seed, ds=ds):
                print(f"  [{ds} seed {seed}] {name:7s} round {r}: fg IoU tune {row['tune']['iou']:.3f} "
                      f"score {row['score']['iou']:.3f} ({time.time() - t0:.0f} s)", flush=True)

            per_seed.append(simulate_loop(train_items, eval_sets, features=DEFAULT_FEATURES, rounds=rounds,
                                          k=args.strokes, seed=seed, strategies=strategies,
                                          objects_params=params if objects else None, progress=progress))
        mean = mean_rows(per_seed) if per_seed else {}
        if not mean and ds not in kept:
            continue
        if ds in kept and mean:
            r0 = next(iter(kept[ds].values()))[0]
            if abs(r0["score"]["iou"] - next(iter(mean.values()))[0]["score"]["iou"]) > 1e-9:
                print(f"evaluate: --keep: round 0 of {ds} differs from the earlier run's (other data or code)")
                return 2
        if ds in kept:
            mean = {s: mean.get(s, kept[ds].get(s)) for s in STRATEGIES if s in mean or s in kept[ds]}
        results[ds] = mean
        table = loop_table(ds, desc, mean, seeds, objects)
        verdict = loop_verdict(mean, rounds)
        print("\n" + table + "\n" + "\n".join(verdict) + "\n", flush=True)
        report += [table, "", *verdict, ""]
    caption = plot_loop(results, out / "loop.png")
    report.append(f"plot: loop.png ({caption})")
    report.append(f"{args.strokes} strokes a round, {rounds} rounds, {seeds} seed(s), a stroke = up to "
                  f"{STROKE_LENGTH} px long, {STROKE_WIDTH} px wide, in one ground-truth class; "
                  f"features {DEFAULT_FEATURES}, computed once per image; {time.time() - t0:.0f} s")
    from pixelforest.io.atomic import atomic_output

    atomic_output(out / "loop.md", lambda tmp: Path(tmp).write_text("\n".join(report) + "\n", encoding="utf-8"))
    atomic_output(out / "loop.json", lambda tmp: Path(tmp).write_text(
        json.dumps({"rounds": rounds, "strokes": args.strokes, "seeds": seeds, "quick": args.quick, "results": results},
                   indent=1),
        encoding="utf-8"))
    print(f"wrote {out / 'loop.md'}, {out / 'loop.json'}, {out / 'loop.png'} ({time.time() - t0:.0f} s)")
    return 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="few images, small crops (CI)")
    ap.add_argument("--seeds", type=int, default=3, help="label seeds (default 3)")
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--rounds", type=int, default=0,
                    help="simulate the training loop for this many rounds after the scribbles (0: one round, "
                         "the method comparison)")
    ap.add_argument("--strokes", type=int, default=5, help="strokes a simulated user adds per round (default 5)")
    ap.add_argument("--strategies", default="guided,peaks,errors,random",
                    help="where the strokes go, comma-separated: guided, peaks, errors, random")
    ap.add_argument("--datasets", default="dsb2018-nuclei,isbi2012-em", help="comma-separated")
    ap.add_argument("--out", type=Path, default=None,
                    help="folder for the loop's tables, JSON and plot (default: pixelforest-evaluation in the "
                         "system's temporary folder)")
    ap.add_argument("--keep", action="append", default=[], metavar="LOOP_JSON",
                    help="add the strategies of an earlier run's loop.json (same rounds, strokes, seeds) that are "
                         "not run now, e.g. to rerun only --strategies guided; --strategies none only merges")
    args = ap.parse_args(argv)
    if not (args.data / "dsb2018-nuclei").is_dir():
        print(f"evaluate: {args.data} has no dsb2018-nuclei / isbi2012-em (they live in ../shared/data)")
        return 2
    if args.rounds < 0 or args.strokes < 1 or args.seeds < 1:
        print("evaluate: --rounds must be >= 0, --strokes and --seeds >= 1")
        return 2
    bad = [d for d in args.datasets.split(",") if d not in ("dsb2018-nuclei", "isbi2012-em")]
    if bad:
        print(f"evaluate: --datasets must be dsb2018-nuclei and/or isbi2012-em, got {', '.join(bad)}")
        return 2
    if args.rounds:
        return run_loop(args)
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
