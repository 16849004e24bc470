"""features="auto": strokes as groups, folds that never split a stroke, the choice and its report."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import tifffile

import pixelforest as pf
from pixelforest import autotune


def _lab4(lab2d: np.ndarray) -> np.ndarray:
    return lab2d[None, None]


def test_strokes_are_connected_runs_of_one_class_within_a_time_point():
    lab = np.zeros((2, 3, 20, 20), np.uint8)
    lab[0, 0, 2, 2:10] = 1  # a stroke
    lab[0, 0, 3:8, 9] = 1  # touching it: the same stroke
    lab[0, 0, 8, 10] = 1  # diagonal neighbour of its end: still the same stroke
    lab[0, 0, 15, 2:10] = 1  # apart: another stroke
    lab[0, 0, 16, 2:10] = 2  # touching it but of the other class: a stroke of its own
    lab[0, 1, 2, 2:10] = 1  # the same place in the next slice: the same stroke (one structure)
    lab[1, 0, 2, 2:10] = 1  # and at the next time point
    g = autotune.stroke_groups(lab)
    assert (g > 0).sum() == (lab > 0).sum() and (g[lab == 0] == 0).all()
    assert len(np.unique(g[lab > 0])) == 4
    assert len(np.unique(g[0, 0, 2:9, :])) - 1 == 1  # the first three pieces are one stroke
    assert g[0, 1, 2, 2] == g[0, 0, 2, 2]  # and the same place in the next slice is too (held out together)
    assert g[1, 0, 2, 2] != g[0, 0, 2, 2]  # another time point is another stroke
    for s in np.unique(g[g > 0]):
        assert len(np.unique(lab[g == s])) == 1  # one class per stroke


def test_folds_hold_whole_strokes_and_every_class():
    rng = np.random.default_rng(0)
    lab = np.zeros((1, 1, 200, 200), np.uint8)
    for i in range(7):
        lab[0, 0, 10 + 25 * i, 5:5 + int(rng.integers(10, 80))] = 1 + i % 2
        lab[0, 0, 12 + 25 * i, 100:100 + int(rng.integers(10, 80))] = 2 - i % 2
    g = autotune.stroke_groups(lab)
    y, g = lab[lab > 0], g[g > 0]
    folds, why = autotune.assign_folds(g, y)
    assert why == "" and folds.shape == y.shape and set(np.unique(folds)) == {0, 1, 2}
    for s in np.unique(g):
        assert len(np.unique(folds[g == s])) == 1  # a stroke is never split
    for f in range(3):
        assert set(np.unique(y[folds != f])) == {1, 2}  # each fold's forest sees both classes
        assert set(np.unique(y[folds == f])) == {1, 2}  # and is scored on both


def test_one_stroke_of_a_class_keeps_the_default_and_says_why(blobs2d):
    lab = np.zeros(blobs2d.shape, np.uint8)
    lab[58:63, 36:45] = 1
    lab[19:22, 22:28] = 1
    lab[5:8, 50:70] = 2  # the only stroke of class 2
    clf = pf.train(blobs2d, lab, features="auto", trees=10, seed=0)
    rep = clf.training["auto"]
    assert rep["chosen"] == autotune.CANDIDATES[0] and "class 'Label 2' has 1 stroke" in rep["reason"]
    assert "kept pixelforest-default" in autotune.describe(rep)


def _scribbles(img: np.ndarray, seed: int) -> np.ndarray:
    """Six short strokes a class, inside and outside the bright objects."""
    rng = np.random.default_rng(seed)
    bright = img > np.percentile(img, 80)
    dark = img < np.percentile(img, 40)
    lab = np.zeros(img.shape, np.uint8)
    for k, where in ((1, bright), (2, dark)):
        ys, xs = np.nonzero(where)
        for i in rng.choice(ys.size, 6, replace=False):
            y, x = ys[i], xs[i]
            lab[y:y + 2, max(0, x - 3):x + 3][where[y:y + 2, max(0, x - 3):x + 3]] = k
    return lab


def test_auto_chooses_by_grouped_cross_validation_and_trains_the_chosen_preset(blobs2d):
    lab = _scribbles(blobs2d, 1)
    clf = pf.train(blobs2d, lab, features="auto", trees=20, seed=4)
    rep = clf.training["auto"]
    assert set(rep["cv_error"]) == set(autotune.CANDIDATES) and rep["folds"] == 3 \
        and rep["cv_trees"] == autotune.CV_TREES
    assert all(0.0 <= e <= 1.0 for e in rep["cv_error"].values())
    best = min(rep["cv_error"].values())
    assert rep["cv_error"][rep["chosen"]] <= best + autotune.TIE  # the best, or the default within a tie
    # the classifier is the chosen preset's, trained on the same labels with the same seed
    same = pf.train(blobs2d, lab, features=rep["chosen"], trees=20, seed=4)
    assert clf.spec == same.spec
    np.testing.assert_array_equal(clf.predict(blobs2d), same.predict(blobs2d))
    # the report is data in the classifier file, and it survives saving
    assert json.loads(json.dumps(rep)) == rep


def test_auto_errors_follow_the_labels_not_the_pixel_order(blobs2d):
    """The scores depend on the labels and the seed only: training twice gives the same report."""
    lab = _scribbles(blobs2d, 2)
    a = pf.train(blobs2d, lab, features="auto", trees=5, seed=1).training["auto"]
    b = pf.train(blobs2d, lab, features="auto", trees=5, seed=1).training["auto"]
    assert a == b


def test_auto_from_the_command_line(blobs2d, tmp_path):
    tifffile.imwrite(tmp_path / "img.tif", blobs2d)
    tifffile.imwrite(tmp_path / "lab.tif", _scribbles(blobs2d, 1))
    r = subprocess.run([sys.executable, "-m", "pixelforest.cli", "train", str(tmp_path / "img.tif"), "--labels",
                        str(tmp_path / "lab.tif"), "--features", "auto", "--trees", "10", "--seed", "0", "-o",
                        str(tmp_path / "m.pfc")], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    clf = pf.load(tmp_path / "m.pfc")
    rep = clf.training["auto"]
    assert f"features auto: chose {rep['chosen']} (balanced error over 3 folds" in r.stderr
    assert clf.spec == pf.FeatureSpec.preset(rep["chosen"])


def test_auto_fits_each_preset_to_a_small_image_and_a_thin_stack():
    """A 40 x 40 image: pixelforest-default without its scale 16 is compared with ilastik-default
    (both fitted as a new user's preset is); a 12-slice stack: the scales too deep for it computed in
    2D. The classifier is the chosen fitted preset's."""
    from pixelforest.features import fit_to_depth, fit_to_size

    rng = np.random.default_rng(0)
    img = rng.normal(size=(40, 40)).astype(np.float32)
    img[10:30, 10:30] += 3
    lab = np.zeros(img.shape, np.uint8)
    for y in (12, 18, 24):
        lab[y, 12:20] = 1
    for y in (2, 36):
        lab[y, 2:30] = 2
    lab[2:30, 36] = 2
    clf = pf.train(img, lab, features="auto", trees=5, seed=0)
    rep = clf.training["auto"]
    assert set(rep["cv_error"]) == set(autotune.CANDIDATES)
    want = fit_to_size(pf.FeatureSpec.preset(rep["chosen"]), (1, 1, 40, 40))[0]
    assert clf.spec == want
    if rep["chosen"] == "pixelforest-default":
        assert rep["fitted"] == "scale(s) 16 left out: too large for the images"
    vol = np.repeat(img[None], 12, axis=0) + rng.normal(0, 0.3, (12, 40, 40)).astype(np.float32)
    lab3 = np.zeros(vol.shape, np.uint8)
    lab3[2:5] = lab  # each stroke painted on three neighbouring slices: held out as one
    lab3[8] = lab
    clf3 = pf.train(vol, lab3, features="auto", trees=5, seed=0)
    rep3 = clf3.training["auto"]
    assert rep3["strokes"] == 2 * 6 and set(rep3["cv_error"]) == set(autotune.CANDIDATES)
    spec = fit_to_size(fit_to_depth(pf.FeatureSpec.preset(rep3["chosen"]), 12), (1, 12, 40, 40))[0]
    assert clf3.spec == spec and any(spec.compute_in_2d)


def test_auto_with_one_class_fails_before_comparing(blobs2d):
    lab = np.zeros(blobs2d.shape, np.uint8)
    lab[5:8, 50:70] = 1
    lab[88:91, 5:40] = 1
    with pytest.raises(ValueError, match="only one class is labelled"):
        pf.train(blobs2d, lab, features="auto", trees=5, seed=0)


def test_auto_is_not_a_feature_spec():
    with pytest.raises(ValueError, match="unknown features 'auto'"):
        pf.compute_features(np.zeros((32, 32), np.float32), "auto")
