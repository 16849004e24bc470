#!/usr/bin/env python
"""pixelforest benchmarks: each measurement beside a baseline from the same run, as ratios.

Sections (all by default):

* ``features``: the full ilastik-default bank (49 channels per input channel in 2D)
  against scikit-image's ``multiscale_basic_features`` defaults (24 channels), in
  pixel throughput (Mpx/s), 2D (``ilastik-tests/inputdata/2d.h5``, 1024 x 1344) and
  3D (``isbi2012-em`` stack); synthetic images of the same size without ../shared/data.
  The pixelforest-default preset (31 channels) against the same, on the 2D image and on a
  256 x 256 crop of it, each also with a CPU hog beside both (one spinning process per core).
  ilastik-default against ilastik's SIMD filter library ``fastfilters2`` (its 7 features at
  the same 7 scales, 49 channels) on both sizes, where it is installed (``pip install
  fastfilters2``; optional, never a dependency; the row says why it was skipped).
* ``predict``: our compiled forest traversal against scikit-learn's
  ``predict_proba(n_jobs=-1)`` on the same 100-tree forest and features: a shallow forest
  (scattered bright/dark labels, ilastik-default features) on the whole 2D image, and a deep one
  as users' strokes give (pixelforest-default features) on a 512 x 672 view, where Treelite's
  compiled C (``tl2cgen``, built once and kept in the temporary directory) and YDF join where
  they are installed (``pip install treelite tl2cgen ydf``; optional, never dependencies).
* ``train``: the forest fit alone on a live loop's training set (20 and 40 hurried brush
  strokes on the 2D image, pixelforest-default features: deep trees), our trainer against
  scikit-learn's and against our trainer before issue 17 (``tests/_reference_trainer.py``: the
  same forest), with nodes per tree and out-of-bag errors; then end-to-end train + predict on
  the 2D image with the full bank.
* ``retrain``: after adding 1,000 labelled pixels, retrain + predict a 1024 x 1024 view
  from the interactive session's feature cache, against doing it from scratch.
* ``imagej``: numpy <-> ImagePlus of a 2048 x 2048 x 100 float32 stack, against a
  plain NumPy copy of the same bytes (needs Java).
* ``live`` (only when asked for: ``--section live``; needs Maven, Java, Xvfb): the Live Training
  panel in ImageJ's real GUI (tests/fiji/LiveGui.java draws strokes with java.awt.Robot), on the
  1024 x 1344 image with the default features and 100 trees: stroke released -> overlay of the
  visible view painted over 20 strokes (timestamps in Java), panel opened -> first overlay,
  the event thread's lateness, the worker's memory after 5 and 50 rounds, slice changes on a
  30 x 512 x 512 stack; beside the same rounds done with the Train + Apply commands.

``--quick`` shrinks every input (CI runs it); ``--section`` picks sections.
``--big`` runs the out-of-core benchmark instead: a generated uint16 HDF5 volume
(``--big-gb``, default 8) predicted block by block by a process whose memory is
limited with ``RLIMIT_DATA`` (``--limit-gb``, default 2); prints throughput, peak RSS
and the ratio of peak RSS to the volume size.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"


def timed(fn, repeat: int = 2):
    best = float("inf")
    out = None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def timed_turns(fns, repeat: int = 4):
    """Best times of functions run in turns after one untimed run of each; (time, output) each."""
    best = [float("inf")] * len(fns)
    outs = [fn() for fn in fns]
    for _ in range(repeat):
        for k, fn in enumerate(fns):
            outs[k] = None
            t = time.perf_counter()
            outs[k] = fn()
            best[k] = min(best[k], time.perf_counter() - t)
    return list(zip(best, outs, strict=True))


def timed_pair(baseline, ours, repeat: int = 4):
    """:func:`timed_turns` of two functions."""
    return timed_turns([baseline, ours], repeat)


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def image_2d(quick: bool) -> tuple[np.ndarray, str]:
    p = DATA / "ilastik-tests" / "inputdata" / "2d.h5"
    if p.exists():
        import h5py

        with h5py.File(p, "r") as f:
            img, src = f["data"][()], "ilastik-tests 2d.h5"
    else:
        rng = np.random.default_rng(0)
        from scipy import ndimage

        smooth = ndimage.gaussian_filter(rng.random((1024, 1344)), 4)
        img = ((smooth - 0.5) * 255 * 8 + 128).clip(0, 255).astype(np.uint8)
        src = "synthetic 1024x1344"
    if quick:
        img = img[:256, :320]
    return img, src


def stack_3d(quick: bool) -> tuple[np.ndarray, str]:
    p = DATA / "isbi2012-em" / "train-volume.tif"
    if p.exists():
        import tifffile

        vol, src = tifffile.imread(p), "isbi2012-em 30x512x512"
    else:
        rng = np.random.default_rng(1)
        vol, src = (rng.random((30, 512, 512)) * 255).astype(np.uint8), "synthetic 30x512x512"
    if quick:
        vol = vol[:20, :96, :96]
    return vol, src


def bank_for(ndim: int):
    """ilastik-default; in 3D without sigma 10 (it needs 36 slices, the EM stack has 30)."""
    from pixelforest.features import DEFAULT_SCALES, FeatureSpec

    return FeatureSpec.preset("ilastik-default", DEFAULT_SCALES if ndim == 2 else DEFAULT_SCALES[:-1])


def sparse_labels(img: np.ndarray, n_per_class: int = 500, seed: int = 0) -> np.ndarray:
    """Labels a user might draw: bright and dark pixels, sparsely."""
    rng = np.random.default_rng(seed)
    lab = np.zeros(img.shape, np.uint8)
    lo, hi = np.quantile(img, [0.3, 0.7])
    for k, sel in ((1, img >= hi), (2, img <= lo)):
        idx = np.flatnonzero(sel)
        lab.flat[rng.choice(idx, min(n_per_class, idx.size), replace=False)] = k
    return lab


class cpu_hog:
    """Another process busy on every core (``os.cpu_count()`` spinning children) while in the block."""

    def __enter__(self):
        import subprocess

        self.procs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(os.cpu_count() or 1)]
        time.sleep(0.5)  # (started and spinning)
        return self

    def __exit__(self, *exc):
        for p in self.procs:
            p.kill()
        for p in self.procs:
            p.wait()


def fastfilters2_bank():
    """ilastik's own SIMD filter library (``pip install fastfilters2``; optional, never a
    dependency): its 7 features at ilastik's 7 scales (49 channels, one (7, Y, X) array per
    scale, left planar: no interleaving into a pixel-major array as ours does). None, and why,
    when it is not installed."""
    try:
        import fastfilters2
    except ImportError as e:
        return None, f"fastfilters2 not installed ({e}); pip install fastfilters2"
    from pixelforest.features import DEFAULT_SCALES

    def bank(img):
        a = np.ascontiguousarray(img, np.float32)
        return [fastfilters2.compute_filters(a, s) for s in DEFAULT_SCALES]
    return bank, ""


def section_features(quick: bool):
    from skimage.feature import multiscale_basic_features

    import pixelforest as pf

    rows = []
    for img, src, ndim in [(*image_2d(quick), 2), (*stack_3d(quick), 3)]:
        n = img.size
        # one untimed run of each, then the best of 4 taken in turns: the first runs in a process
        # also pay for the machine mapping fresh memory, and turns share any slow spell fairly
        (tb, fb), (tp, fp) = timed_pair(lambda img=img: multiscale_basic_features(img, channel_axis=None),
                                        lambda img=img, ndim=ndim: pf.compute_features(img, bank_for(ndim)),
                                        repeat=4)
        rows.append((f"features {ndim}D ({src}{', sigma<=5' if ndim == 3 else ''})",
                     f"{n / tp / 1e6:.2f} Mpx/s ({fp.shape[-1]} ch)",
                     f"{n / tb / 1e6:.2f} Mpx/s ({fb.shape[-1]} ch)", tb / tp))
        if ndim != 2:
            continue
        # what a new user gets: the pixelforest-default preset (normalised, top-hats, hole filling),
        # on the whole image and on a 256 x 256 crop (a nucleus crop, the live view's visible part),
        # on a quiet machine and beside another process that keeps every core busy
        small = np.ascontiguousarray(img[:256, :256])
        for im, what, hog in ((img, f"{img.shape[0]}x{img.shape[1]}", False), (small, "256x256", False),
                              (img, f"{img.shape[0]}x{img.shape[1]}, CPU hog beside", True),
                              (small, "256x256, CPU hog beside", True)):
            m = im.size
            reps = 4 if m > 2**18 else 12
            with (cpu_hog() if hog else contextlib.nullcontext()):
                (tb, fb), (tp, fp) = timed_pair(lambda im=im: multiscale_basic_features(im, channel_axis=None),
                                                lambda im=im: pf.compute_features(im, "pixelforest-default"),
                                                repeat=reps)
            rows.append((f"features 2D pixelforest-default, {what}", f"{m / tp / 1e6:.2f} Mpx/s ({fp.shape[-1]} ch)",
                         f"{m / tb / 1e6:.2f} Mpx/s ({fb.shape[-1]} ch)", tb / tp))
        # the ilastik bank against ilastik's own filter library, where installed
        ff2, why = fastfilters2_bank()
        for im, what in ((img, f"{img.shape[0]}x{img.shape[1]}"), (small, "256x256")):
            label = f"features 2D ilastik-default vs fastfilters2, {what}"
            if ff2 is None:
                rows.append((label, "skipped", why[:34], None))
                continue
            m = im.size
            (tb, fb), (tp, fp) = timed_pair(lambda ff2=ff2, im=im: ff2(im),
                                            lambda im=im: pf.compute_features(im, "ilastik-default"),
                                            repeat=4 if m > 2**18 else 12)
            rows.append((label, f"{m / tp / 1e6:.2f} Mpx/s ({fp.shape[-1]} ch)",
                         f"{m / tb / 1e6:.2f} Mpx/s ({sum(f.shape[0] for f in fb)} ch)", tb / tp))
    return rows


def section_predict(quick: bool):
    from sklearn.ensemble import RandomForestClassifier

    import pixelforest as pf
    from pixelforest.fitting import mtry
    from pixelforest.forest import from_sklearn

    img, src = image_2d(quick)
    rows = []
    for name, features, lab, view in (("shallow", "ilastik-default", sparse_labels(img), np.s_[:, :]),
                                      ("deep", "pixelforest-default", stroke_labels(img), np.s_[:512, :672])):
        feats = pf.compute_features(img, features)
        X = np.ascontiguousarray(feats[view].reshape(-1, feats.shape[-1]))
        y = lab.ravel()
        rf = RandomForestClassifier(100, max_features=mtry(X.shape[1]), n_jobs=-1, random_state=0)
        rf.fit(feats.reshape(-1, feats.shape[-1])[y > 0], y[y > 0])
        forest = from_sklearn(rf)
        depths = leaf_depths(forest)
        h, w = feats[view].shape[:2]
        rows.append((f"predict {name} forest: 100 trees, {int((y > 0).sum())} labels, {forest.feature.shape[0] // 100} "
                     f"nodes/tree, leaf depth mean {depths.mean():.1f} max {depths.max()}", "", "", None))
        contenders, skipped = [("sklearn n_jobs=-1", rf.predict_proba)], []
        if name == "deep":
            more, skipped = compiled_contenders(rf)
            contenders += more
        timings = timed_turns([lambda forest=forest, X=X: forest.predict_proba(X)]
                              + [lambda fn=fn, X=X: fn(X) for _, fn in contenders],
                              repeat=4 if name == "shallow" else 3)
        tp, pp = timings[0]
        label = f"  {h}x{w} px x {X.shape[1]} features"
        for (who, _), (tb, pb) in zip(contenders, timings[1:], strict=True):
            rows.append((f"{label}, vs {who}", f"{X.shape[0] / tp / 1e6:.2f} Mpx/s",
                         f"{X.shape[0] / tb / 1e6:.2f} Mpx/s (max |dp| {np.abs(pb - pp).max():.0e})", tb / tp))
        rows += [(f"{label}, vs {who}", "", f"skipped: {why}", None) for who, why in skipped]
        if name == "deep":
            rows.append((f"  {h}x{w} view, time to predict", f"{tp:.3f} s", f"{timings[1][0]:.3f} s (sklearn)",
                         timings[1][0] / tp))
    return rows


def leaf_depths(forest) -> np.ndarray:
    """Depth of every leaf of a :class:`pixelforest.forest.Forest` (children follow their parents)."""
    from pixelforest.forest import LEAF

    depth = np.zeros(forest.feature.shape[0], np.int64)
    for i in np.flatnonzero(forest.left != LEAF):
        depth[forest.left[i]] = depth[forest.right[i]] = depth[i] + 1
    return depth[forest.left == LEAF]


def compiled_contenders(rf) -> tuple[list, list]:
    """Other compiled runtimes on the same forest: ``(name, predict_proba)`` of those installed,
    ``(name, why)`` of the others."""
    out, skipped = [], []
    try:
        import tl2cgen
        import treelite
    except ImportError as e:
        skipped.append(("treelite/tl2cgen", str(e)))
    else:
        model = treelite.sklearn.import_model(rf)
        key = hashlib.sha256(model.serialize_bytes()).hexdigest()[:16]
        lib = Path(tempfile.gettempdir()) / "pixelforest-bench" / f"tl2cgen-{tl2cgen.__version__}-{key}.so"
        if not lib.exists():  # gcc -O3 on the generated C takes minutes for deep forests: built once
            lib.parent.mkdir(parents=True, exist_ok=True)
            t = time.perf_counter()
            tl2cgen.export_lib(model, toolchain="gcc", libpath=lib, params={"parallel_comp": 4 * os.cpu_count()},
                               nthread=os.cpu_count())
            print(f"  (built {lib.name} in {time.perf_counter() - t:.0f} s)", flush=True)
        predictor = tl2cgen.Predictor(lib, nthread=os.cpu_count())
        out.append(("treelite/tl2cgen (compiled C)",
                    lambda X: predictor.predict(tl2cgen.DMatrix(X)).reshape(X.shape[0], -1)))
    try:
        import ydf
    except ImportError as e:
        skipped.append(("ydf", str(e)))
    else:
        model_ydf = ydf.from_sklearn(rf)

        def ydf_proba(X):
            p = model_ydf.predict({"features": X}, num_threads=os.cpu_count())
            return np.stack([1 - p, p], axis=1) if p.ndim == 1 else p

        out.append(("ydf", ydf_proba))
    return out, skipped


def stroke_labels(img: np.ndarray, n_strokes: int = 20, seed: int = 0) -> np.ndarray:
    """Labels a user draws in the live loop: brush strokes 60-160 px long and 5 px wide, started
    alternately in the foreground and the background (Otsu) at least 60 px from the border, each
    labelled whole with the class where it starts (so some run across the boundary)."""
    from skimage.draw import line
    from skimage.filters import threshold_otsu

    rng = np.random.default_rng(seed)
    fg = img > threshold_otsu(img)
    lab = np.zeros(img.shape, np.uint8)
    H, W = img.shape
    for r in range(n_strokes):
        cls = 1 + r % 2
        ys, xs = np.nonzero((fg if cls == 1 else ~fg)[60:-60, 60:-60])
        k = rng.integers(len(ys))
        y0, x0 = ys[k] + 60, xs[k] + 60
        ang, length = rng.uniform(0, np.pi), rng.integers(60, 160)
        y1 = int(np.clip(y0 + length * np.sin(ang), 0, H - 1))
        x1 = int(np.clip(x0 + length * np.cos(ang), 0, W - 1))
        rr, cc = line(y0, x0, y1, x1)
        for dy in range(-2, 3):
            for dx in range(-2, 3):
                lab[np.clip(rr + dy, 0, H - 1), np.clip(cc + dx, 0, W - 1)] = cls
    return lab


def section_train(quick: bool):
    from skimage.feature import multiscale_basic_features
    from sklearn.ensemble import RandomForestClassifier

    import pixelforest as pf
    from pixelforest.fitting import fit_forest

    sys.path.insert(0, str(ROOT / "tests"))
    import _reference_trainer  # the trainer before its speed-up (issue 17), kept for the tests

    from pixelforest.fitting import mtry

    img, src = image_2d(quick)
    feats = pf.compute_features(img, "pixelforest-default")
    rows = []
    # the forest fit alone, as the live loop retrains after each stroke, on 20 and on 40 hurried
    # strokes (run across edges: deep trees): our trainer against the one it replaced (the same
    # forest, bit for bit) and scikit-learn's (n_jobs=-1), all ilastik's 100-tree model with the
    # same mtry; one untimed run of each, then the best of 3 taken in turns
    for n_strokes in (6, 12) if quick else (20, 40):
        strokes = stroke_labels(img, n_strokes)
        X = feats[strokes > 0]
        y = strokes[strokes > 0]

        def reference(X=X, y=y):
            return _reference_trainer.train_forest(X, np.asarray(y, np.int64) - 1, 2, trees=100, mtry=mtry(X.shape[1]),
                                                   seed=0)

        (tb, (fb, oob_b)), (tr, (fr, oob_r)), (tp, (fp, oob_p)) = timed_turns(
            [lambda X=X, y=y: fit_forest(X, y, 2, seed=0, method="sklearn"), reference,
             lambda X=X, y=y: fit_forest(X, y, 2, seed=0, method="pixelforest")], repeat=3)
        same = oob_r == oob_p and all(np.array_equal(v, fr.arrays()[k]) for k, v in fp.arrays().items())
        rows += [(f"forest fit ({src}, {y.size} px in {n_strokes} strokes, {X.shape[1]} features)",
                  f"{tp:.3f} s", f"{tb:.3f} s (sklearn n_jobs=-1)", tb / tp),
                 ("  against the trainer before issue 17", f"{tp:.3f} s",
                  f"{tr:.3f} s ({'same forest' if same else 'FOREST DIFFERS'})", tr / tp),
                 ("  nodes per tree", f"{fp.feature.size / fp.n_trees:.0f}", f"{fb.feature.size / fb.n_trees:.0f}",
                  None),
                 ("  out-of-bag error", f"{oob_p:.4f}", f"{oob_b:.4f}", None)]
    # features="auto" against a plain training with the default preset (the bound: <= 3x),
    # on 20 strokes; best of 3 in turns
    n_strokes = 6 if quick else 20
    strokes = stroke_labels(img, n_strokes)
    (tplain, _), (tauto, auto) = timed_turns([lambda: pf.train(img, strokes, features="pixelforest-default", seed=0),
                                              lambda: pf.train(img, strokes, features="auto", seed=0)], repeat=3)
    from pixelforest.autotune import describe

    rows += [(f"train features=auto ({src}, {n_strokes} strokes; {describe(auto.training['auto'])})", f"{tauto:.2f} s",
              f"{tplain:.2f} s (pixelforest-default)", tplain / tauto)]
    lab = sparse_labels(img)

    def ours():
        clf = pf.train(img, lab, features="ilastik-default", seed=0)
        return clf.predict(img)

    def baseline():
        f = multiscale_basic_features(img, channel_axis=None)
        X = f.reshape(-1, f.shape[-1])
        y = lab.ravel()
        rf = RandomForestClassifier(100, n_jobs=-1, random_state=0).fit(X[y > 0], y[y > 0])
        return rf.predict_proba(X)

    tp, _ = timed(ours)
    tb, _ = timed(baseline)
    return rows + [(f"train + predict ({src}, {int((lab > 0).sum())} labels)", f"{tp:.2f} s",
                    f"{tb:.2f} s (skimage + sklearn)", tb / tp)]


def section_retrain(quick: bool):
    """Interactive loop: after adding 1,000 labelled pixels, retrain and predict a 1024 x 1024 view
    from the session's feature cache, against training and predicting from scratch."""
    import pixelforest as pf
    from pixelforest.interactive import Session

    img, src = image_2d(quick)
    lab = sparse_labels(img, 500, seed=0)
    more = sparse_labels(img, 500, seed=1)
    view = (slice(0, min(1024, img.shape[0])), slice(0, min(1024, img.shape[1])))
    s = Session(img, "ilastik-default", seed=0)
    s.add_labels(lab)
    s.train()
    s.predict(view=view)  # the first round fills the cache

    def again():
        s.add_labels(more)
        s.train()
        return s.predict(view=view)

    def scratch():
        clf = pf.train(img, np.maximum(lab, more), features="ilastik-default", seed=0)
        return clf.predict(img[view])

    def whole_cached():
        s.train()
        return s.predict()

    def whole_scratch():
        return pf.train(img, np.maximum(lab, more), features="ilastik-default", seed=0).predict(img)

    t_cached, _ = timed(again, repeat=1)
    t_scratch, _ = timed(scratch, repeat=1)
    t_whole, _ = timed(whole_cached, repeat=1)
    t_whole_scratch, _ = timed(whole_scratch, repeat=1)
    h, w = img.shape
    return [(f"retrain + predict {img[view].shape[0]}x{img[view].shape[1]} view after +1,000 labels",
             f"{t_cached:.2f} s", f"{t_scratch:.2f} s (from scratch)", t_scratch / t_cached),
            (f"train + predict {h}x{w}, {int((np.maximum(lab, more) > 0).sum())} labels, features cached",
             f"{t_whole:.2f} s", f"{t_whole_scratch:.2f} s (from scratch)", t_whole_scratch / t_whole)]


def section_imagej(quick: bool):
    try:
        import pixelforest.imagej as pfij

        pfij.start()
    except Exception as e:  # no Java
        return [("imagej conversion", f"skipped: {e}", "", None)]
    shape = (10, 256, 256) if quick else (100, 2048, 2048)
    pfij.from_imageplus(pfij.to_imageplus(np.zeros((2, 8, 8), np.float32), "zyx"))  # warm up JPype
    rng = np.random.default_rng(0)
    stack = rng.random(shape, dtype=np.float32)
    t_copy, _ = timed(lambda: stack.copy())
    t_to, imp = timed(lambda: pfij.to_imageplus(stack, "zyx"))
    t_from, (back, _, _) = timed(lambda: pfij.from_imageplus(imp))
    assert np.array_equal(back, stack)
    gb = stack.nbytes / 1e9
    label = "x".join(str(s) for s in shape[::-1])
    return [(f"numpy -> ImagePlus {label} float32 ({gb:.2f} GB)", f"{t_to:.2f} s", f"{t_copy:.2f} s (np.copy)",
             t_copy / t_to),
            (f"ImagePlus -> numpy {label} float32", f"{t_from:.2f} s", f"{t_copy:.2f} s (np.copy)", t_copy / t_from)]


def _strokes(img: np.ndarray, n: int, seed: int, careful: bool = True) -> list[str]:
    """Strokes alternately of the background and of the objects (Otsu) as "CLASS X Y X Y".
    ``careful``: 20-120 px long in a random direction, stopping where the region ends (easy,
    shallow trees); else 60-160 px long whatever they cross, all of the class where they start
    (label noise at every crossing: deep trees, as hurried strokes give)."""
    from scipy import ndimage
    from skimage.filters import threshold_otsu

    fg = img > threshold_otsu(img)
    regions = {"1": ndimage.binary_erosion(~fg, iterations=3), "2": ndimage.binary_erosion(fg, iterations=3)}
    rng = np.random.default_rng(seed)
    H, W = img.shape
    out = []
    while len(out) < n:
        cls = "1" if len(out) % 2 == 0 else "2"
        ys, xs = np.nonzero(regions[cls][20:-20, 20:-20])
        k = rng.integers(len(ys))
        y0, x0 = ys[k] + 20, xs[k] + 20
        a = rng.uniform(0, 2 * np.pi)
        if careful:
            length = 0
            while length < 120:
                y, x = int(round(y0 + (length + 4) * np.sin(a))), int(round(x0 + (length + 4) * np.cos(a)))
                if not (0 <= y < H and 0 <= x < W and regions[cls][y, x]):
                    break
                length += 4
            if length < 20:
                continue
        else:
            length = rng.integers(60, 161)
        x1 = int(np.clip(round(x0 + length * np.cos(a)), 0, W - 1))
        y1 = int(np.clip(round(y0 + length * np.sin(a)), 0, H - 1))
        out.append(f"{cls} {x0} {y0} {x1} {y1}")
    return out


def _run_gui(work: Path, jar: Path, script: list[str]) -> tuple[dict, str]:
    """Runs tests/fiji/LiveGui.java on a script in ImageJ's GUI; RESULT lines by key, and the output."""
    import subprocess

    (work / "script.txt").write_text("\n".join(script))
    home = work / "home"
    home.mkdir(exist_ok=True)
    cmd = [str(ROOT / "tests" / "fiji" / "run-gui.sh"), f"-Dplugins.dir={work}", f"-Duser.home={home}",
           f"-Dpixelforest.python={sys.executable}", "-cp",
           os.pathsep.join([*(ROOT / "fiji-plugin" / "target" / "runtime" / "classpath.txt").read_text().split(),
                            str(jar)]),
           str(ROOT / "tests" / "fiji" / "LiveGui.java"), str(work / "script.txt"), str(work)]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=3600)
    if os.environ.get("PIXELFOREST_BENCH_LOG"):  # the GUI driver's whole output, for a closer look
        with open(os.environ["PIXELFOREST_BENCH_LOG"], "a") as f:
            f.write(r.stdout + r.stderr)
    res: dict = {}
    for line in r.stdout.splitlines():
        if line.startswith("RESULT "):
            key, _, rest = line[7:].partition(" ")
            res.setdefault(key, []).append(rest)
    return res, r.stdout + r.stderr


def section_live(quick: bool):
    """The Live Training panel, measured in ImageJ's real GUI (see the module docstring)."""
    import re
    import shutil
    import subprocess
    import tempfile

    import tifffile

    for tool in ("mvn", "xvfb-run", "java"):
        if shutil.which(tool) is None:
            return [("live training", f"skipped: {tool} not found", "", None)]
    r = subprocess.run([str(ROOT / "scripts" / "build-plugin.sh")], capture_output=True, text=True)
    if r.returncode != 0:
        return [("live training", "skipped: the plugin did not build", r.stderr[-200:], None)]
    jar = next(p for p in (ROOT / "fiji-plugin" / "target").glob("Pixel_Forest-*.jar")
               if not p.name.startswith("original"))
    work = Path(tempfile.mkdtemp(prefix="pixelforest-live-"))
    (work / "plugins").mkdir()
    shutil.copy(jar, work / "plugins")
    img, src = image_2d(quick)
    img = np.squeeze(img)
    tifffile.imwrite(work / "image.tif", img, imagej=True)
    stack, stack_src = stack_3d(quick)
    if stack.shape[0] < 30 and not quick:
        stack = np.concatenate([stack] * int(np.ceil(30 / stack.shape[0])))[:30]
    tifffile.imwrite(work / "stack.tif", stack.astype(np.uint8) if stack.dtype != np.uint8 else stack, imagej=True,
                     metadata={"axes": "ZYX"})
    rows = []
    h, w = img.shape
    ints = lambda text: [int(v) for v in re.findall(r"-?\d+", text)]  # noqa: E731
    for careful in (True, False):
        strokes = _strokes(img, 52, seed=1, careful=careful)
        (work / "to5.txt").write_text("\n".join(strokes[2:6]))
        (work / "to21.txt").write_text("\n".join(strokes[6:22]))
        (work / "to50.txt").write_text("\n".join(strokes[22:51]))
        first = " ".join(strokes[0].split()[1:] + strokes[1].split()[1:])
        # the worker is started first and given time to load its kernels: "a warm worker"
        res, out = _run_gui(work, jar, [
            f"open {work / 'image.tif'}", "workerinfo", "sleep 8000", "tool freeline", "width 5",
            f"first-overlay {first}", "wait", "monitor start", f"timed-strokes {work / 'to5.txt'}", "workerinfo",
            f"timed-strokes {work / 'to21.txt'}", "monitor stop", f"timed-strokes {work / 'to50.txt'} 100",
            "workerinfo", "commands-round 3", "save live.pfc"])
        if "done" not in res:
            return [("live training", "failed", out[-300:].replace("\n", " "), None)]
        per_stroke = [ints(v)[1] for v in res["stroke"]][:20]
        round_ms = [ints(v)[2] for v in res["stroke"]][:20]
        full_ms = [ints(v)[3] for v in res["stroke"]][:20]
        med, p95 = float(np.median(per_stroke)), float(np.percentile(per_stroke, 95))
        commands = ints(res["commands_ms"][0])
        cmd_med = float(np.median(commands))
        rss = [ints(v)[-1] for v in res["workerinfo"]]  # before the panel, after 5 rounds, after 50
        first_ms, drawing_ms = ints(res["first_overlay_ms"][0])[:2]
        late = ints(res["edt_late_ms"][0])[:3]
        clf = __import__("pixelforest").load(work / "live.pfc")
        nodes = clf.forest.feature.size / clf.forest.n_trees
        kind = "careful strokes" if careful else "hurried strokes"
        rows += [
            (f"live, {kind}: forest after {len(strokes) - 1} strokes", f"{nodes:.0f} nodes/tree",
             f"{int(sum(clf.training['samples_per_class'].values())):,} labelled px", None),
            (f"live, {kind}: stroke -> overlay of the view, median of {len(per_stroke)}", f"{med:.0f} ms",
             f"{cmd_med:.0f} ms (Train + Apply commands)", cmd_med / med),
            (f"live, {kind}: stroke -> overlay, 95th percentile", f"{p95:.0f} ms",
             f"{max(commands):.0f} ms (slowest command round)", max(commands) / p95),
            (f"live, {kind}:   of it, the round (labels, training, view)", f"{np.median(round_ms):.0f} ms", "median",
             None),
            (f"live, {kind}: stroke -> view at the canvas's resolution", f"{np.median(full_ms):.0f} ms",
             f"95th percentile {np.percentile(full_ms, 95):.0f} ms", cmd_med / np.median(full_ms)),
            (f"live, {kind}: panel opened -> first overlay (2 strokes)", f"{first_ms} ms",
             f"{drawing_ms} ms of it drawing", None),
            (f"live, {kind}: event thread's longest delay (20 rounds)", f"{late[0]} ms",
             f"99th percentile {late[1]} ms, {late[2]} ticks", None),
            (f"live, {kind}: worker memory after 50 rounds / after 5", f"{rss[2] / 1024:.0f} MB",
             f"{rss[1] / 1024:.0f} MB", rss[2] / rss[1]),
        ]
    sx = _strokes(stack[0], 2, seed=2)
    slices = [5, 10, 15, 20, 25] if stack.shape[0] >= 26 else [2, stack.shape[0]]
    res, out = _run_gui(work, jar, [f"open {work / 'stack.tif'}", "live", "tool freeline", "width 5", "key 1",
                                    "stroke " + sx[0][2:], "key 2", "stroke " + sx[1][2:], "wait",
                                    *[f"slice {z}" for z in slices]])
    slice_ms = [ints(v)[0] for v in res.get("slice_ms", [])]
    rows.append((f"live: slice change -> overlay, {'x'.join(map(str, stack.shape[::-1]))} ({stack_src})",
                 f"{max(slice_ms) if slice_ms else -1} ms", f"median {np.median(slice_ms) if slice_ms else -1:.0f} ms",
                 None))
    shutil.rmtree(work, ignore_errors=True)
    return rows


BIG_CHILD = r"""
import json, resource, sys, time
limit = int(sys.argv[1])
resource.setrlimit(resource.RLIMIT_DATA, (limit, limit))
import pixelforest as pf
from pixelforest.batch import predict_file
clf = pf.load(sys.argv[2])
t = time.perf_counter()
r = predict_file(clf, sys.argv[3], "simple-segmentation", "hdf5", target=sys.argv[4], memory_bytes=limit // 6)
dt = time.perf_counter() - t
print(json.dumps({"seconds": dt, "peak_rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
                  "shape": r["shape"]}))
"""


def section_big(big_gb: float, limit_gb: float, workdir: Path):
    """Out-of-core: a generated uint16 HDF5 volume several times larger than the memory the
    prediction may use, predicted block by block. The limit is RLIMIT_DATA on the predicting
    process (its writable memory: heap and anonymous mappings); RLIMIT_AS would also count the
    address space that malloc arenas and thread stacks reserve without using."""
    import json
    import subprocess

    import h5py

    import pixelforest as pf

    workdir.mkdir(parents=True, exist_ok=True)
    Y = X = 2048
    Z = int(np.ceil(big_gb * 2**30 / (Y * X * 2)))  # GiB, like the limit
    vol = workdir / "big.h5"
    rng = np.random.default_rng(0)
    if not vol.exists() or h5py.File(vol, "r")["data"].shape != (Z, Y, X):
        yy, xx = np.mgrid[0:Y, 0:X]
        base = (1000 + 800 * (np.sin(yy / 37.0) * np.cos(xx / 53.0) > 0.3)).astype(np.uint16)
        with h5py.File(vol, "w") as f:
            d = f.create_dataset("data", shape=(Z, Y, X), dtype=np.uint16, chunks=(16, 256, 256))
            for z in range(0, Z, 16):
                n = min(16, Z - z)
                d[z:z + n] = base + rng.integers(0, 200, (n, Y, X), dtype=np.uint16)
    with h5py.File(vol, "r") as f:
        sub = f["data"][:32, :256, :256].astype(np.float32)
    lab = np.zeros(sub.shape, np.uint8)
    lab[(sub > 1900) & (rng.random(sub.shape) < 0.01)] = 1
    lab[(sub < 1150) & (rng.random(sub.shape) < 0.01)] = 2
    model = workdir / "big.pfc"
    pf.save(pf.train(sub, lab, features="minimal", trees=50, seed=0), model)
    limit = int(limit_gb * 2**30)
    out = workdir / "big_seg.h5"
    r = subprocess.run([sys.executable, "-c", BIG_CHILD, str(limit), str(model), f"{vol}/data", str(out)],
                       capture_output=True, text=True)
    if r.returncode != 0:
        return [("out-of-core predict", f"failed: {r.stderr.strip().splitlines()[-1:]}", "", None)]
    res = json.loads(r.stdout.strip().splitlines()[-1])
    nbytes = Z * Y * X * 2
    voxels = Z * Y * X
    out.unlink(missing_ok=True)
    return [(f"out-of-core {X}x{Y}x{Z} uint16 ({nbytes / 2**30:.1f} GiB) under RLIMIT_DATA {limit_gb:g} GiB",
             f"{voxels / res['seconds'] / 1e6:.2f} Mvox/s", f"volume {nbytes / limit:.1f}x the limit", None),
            ("  peak RSS / volume size", f"{res['peak_rss'] / 2**30:.2f} GiB", f"{nbytes / 2**30:.2f} GiB",
             res["peak_rss"] / nbytes)]


SECTIONS = {"features": section_features, "predict": section_predict, "train": section_train,
            "retrain": section_retrain, "imagej": section_imagej}
#: sections run only when named with --section (they take minutes and need more than Python)
OPTIONAL_SECTIONS = {"live": section_live}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small inputs (CI)")
    ap.add_argument("--section", action="append", choices=[*SECTIONS, *OPTIONAL_SECTIONS],
                    help="run only these sections (live: only when named)")
    ap.add_argument("--big", action="store_true", help="only the out-of-core benchmark (a generated volume on disk)")
    ap.add_argument("--big-gb", type=float, default=8.0, help="size of the generated uint16 volume in GiB (default 8)")
    ap.add_argument("--limit-gb", type=float, default=2.0,
                    help="memory limit (RLIMIT_DATA) of the predicting process in GiB (default 2)")
    ap.add_argument("--big-dir", type=Path, default=Path(os.environ.get("TMPDIR", "/tmp")) / "pixelforest-big",
                    help="where the volume is generated (kept for reruns)")
    args = ap.parse_args(argv)
    if args.big:
        print(f"pixelforest out-of-core benchmark: {os.cpu_count()} cores")
        for label, ours, base, ratio in section_big(args.big_gb, args.limit_gb, args.big_dir):
            r = "" if ratio is None else f"{ratio:6.3f}"
            print(f"{label:72s} {ours:>16s} {base:>26s} {r:>7s}", flush=True)
        return 0
    print(f"pixelforest benchmark{' (quick)' if args.quick else ''}: {os.cpu_count()} cores, "
          f"python {sys.version.split()[0]}")
    print(f"{'measurement':60s} {'pixelforest':>24s} {'baseline':>34s} {'ratio':>7s}")
    for name in args.section or list(SECTIONS):
        for label, ours, base, ratio in {**SECTIONS, **OPTIONAL_SECTIONS}[name](args.quick):
            r = "" if ratio is None else f"{ratio:6.2f}x"
            print(f"{label:60s} {ours:>24s} {base:>34s} {r:>7s}", flush=True)
    print(f"peak RSS {peak_rss_mb():.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
