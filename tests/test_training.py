"""pixelforest.training: label images to canonical axes, the training set, and a classifier from samples."""

from __future__ import annotations

import numpy as np
import pytest

import pixelforest as pf
from pixelforest.classifier import default_color
from pixelforest.features import FeatureSpec, compute_features
from pixelforest.training import TrainingSet, canonical_labels, train_from_samples, training_set

MINIMAL = FeatureSpec.preset("minimal")


# ----------------------------------------------------------------- canonical_labels


def test_canonical_labels_in_the_images_axes_become_tzyx():
    lab = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)  # t, y, x
    out = canonical_labels(lab, "tyxc", (2, 1, 3, 4, 5), "img")
    assert out.shape == (2, 1, 3, 4) and out.dtype == np.uint8
    assert np.array_equal(out[:, 0], lab)
    # axes in another order: labels follow the image's (non-channel) axes
    xy = canonical_labels(lab[0].T, "xy", (1, 1, 3, 4, 1), "img")
    assert np.array_equal(xy[0, 0], lab[0])
    # a trailing channel of one is accepted
    assert np.array_equal(canonical_labels(lab[0][..., None], "yx", (1, 1, 3, 4, 1), "img")[0, 0], lab[0])


def test_canonical_labels_accepts_integral_floats_and_refuses_the_rest():
    lab = np.array([[0, 1], [2, 255]])
    assert canonical_labels(lab.astype(np.float64), "yx", (1, 1, 2, 2, 1), "a")[0, 0].tolist() == [[0, 1], [2, 255]]
    with pytest.raises(ValueError, match="a: labels must be integers"):
        canonical_labels(lab + 0.5, "yx", (1, 1, 2, 2, 1), "a")
    with pytest.raises(ValueError, match=r"b: label values must be in 0\.\.255 .*got -1\.\.2"):
        canonical_labels(np.array([[0, -1], [2, 1]]), "yx", (1, 1, 2, 2, 1), "b")
    with pytest.raises(ValueError, match=r"label values must be in 0\.\.255 .*got 0\.\.256"):
        canonical_labels(np.array([[0, 256], [2, 1]]), "yx", (1, 1, 2, 2, 1), "b")
    with pytest.raises(ValueError, match=r"c: label image shape \(2, 3\) does not match .* \(2, 2\) \(axes 'yx'\)"):
        canonical_labels(np.zeros((2, 3)), "yxc", (1, 1, 2, 2, 3), "c")
    with pytest.raises(ValueError, match="must be integers"):
        canonical_labels(np.zeros((2, 2), bool).astype(object), "yx", (1, 1, 2, 2, 1), "d")


# ----------------------------------------------------------------- the training set


def test_training_set_keeps_labelled_images_and_every_images_labels(blobs2d, blobs_labels):
    empty = np.zeros_like(blobs_labels)
    tset = training_set([blobs2d, blobs2d], [blobs_labels, empty], ["a", "b"], ["yx", "yx"], None, MINIMAL)
    assert isinstance(tset, TrainingSet)
    assert tset.n_channels == 1 and tset.ndim == 2
    assert len(tset.labelled) == 1  # the image without labels trains nothing ...
    image5, lab4 = tset.labelled[0]
    assert image5.shape == (1, 1) + blobs2d.shape + (1,) and np.array_equal(lab4[0, 0], blobs_labels)
    assert [li.name for li in tset.label_images] == ["a", "b"]  # ... but its (empty) labels are kept
    assert tset.label_images[1].index.size == 0
    assert np.array_equal(tset.label_images[0].dense()[0, 0], blobs_labels)


def test_training_set_samples_are_the_labelled_pixels_features(blobs2d, blobs_labels):
    small = blobs2d[:50, :60].copy()
    lab_small = np.zeros(small.shape, np.uint8)
    lab_small[30:33, 10:14] = 2
    lab_small[40:42, 50:55] = 1
    tset = training_set([blobs2d, small], [blobs_labels, lab_small], ["a", "b"], [None, None], None, MINIMAL)
    Xs, ys = tset.samples(MINIMAL)
    for X, y, img, lab in zip(Xs, ys, [blobs2d, small], [blobs_labels, lab_small], strict=True):
        assert np.array_equal(y, lab[lab > 0])  # row-major order of the labelled pixels
        assert np.array_equal(X, compute_features(img, MINIMAL)[lab > 0])


def test_stroke_groups_are_numbered_across_images(blobs2d, blobs_labels):
    lab_b = np.zeros_like(blobs_labels)
    lab_b[5:7, 5:7] = 1
    lab_b[5:7, 20:22] = 1  # a second stroke of class 1
    lab_b[50:52, 5:7] = 2
    tset = training_set([blobs2d, blobs2d], [blobs_labels, lab_b], ["a", "b"], [None, None], None, MINIMAL)
    groups = tset.stroke_groups()
    n_a = int((blobs_labels > 0).sum())
    assert groups.shape == (n_a + 12,)
    assert sorted(set(groups[:n_a].tolist())) == [1, 2, 3, 4]  # blobs_labels: two strokes per class
    assert sorted(set(groups[n_a:].tolist())) == [5, 6, 7]
    # one id per stroke: the pixels of each of image b's 2 x 2 squares share theirs
    lab = lab_b[lab_b > 0]
    assert len(set(groups[n_a:][lab == 2].tolist())) == 1 and len(set(groups[n_a:][lab == 1].tolist())) == 2


def test_training_set_refuses_images_that_do_not_go_together(blobs2d, blobs_labels):
    rgb = np.stack([blobs2d] * 3, -1)
    with pytest.raises(ValueError, match="b has 3 channel\\(s\\) but the first training image has 1"):
        training_set([blobs2d, rgb], [blobs_labels, blobs_labels], ["a", "b"], ["yx", "yxc"], None, MINIMAL)
    with pytest.raises(ValueError, match="no labelled pixels"):
        training_set([blobs2d], [np.zeros_like(blobs_labels)], ["a"], [None], None, MINIMAL)


# ----------------------------------------------------------------- train_from_samples


def _samples(n=40, seed=0):
    """Feature vectors as wide as the minimal preset's on one channel (9), two classes."""
    rng = np.random.default_rng(seed)
    y = np.repeat([1, 2], n // 2)
    X = (rng.normal(size=(n, MINIMAL.n_features(1, 2))) + y[:, None]).astype(np.float32)
    return X, y


def test_train_from_samples_records_its_training(same_forest):
    X, y = _samples()
    clf = train_from_samples(X, y, MINIMAL, 1, 2, trees=7, seed=3, n_images=2)
    assert clf.classes == ["Label 1", "Label 2"]
    assert clf.n_channels == 1 and clf.ndim == 2 and clf.stages == 1 and clf.forest.n_trees == 7
    t = clf.training
    assert t["n_samples"] == 40 and t["samples_per_class"] == {"Label 1": 20, "Label 2": 20}
    assert t["trees"] == 7 and t["seed"] == 3 and t["n_images"] == 2 and t["mtry"] == 3  # floor(sqrt(9) + .5)
    assert 0.0 <= t["oob_error"] <= 1.0
    again = train_from_samples(X, y, MINIMAL, 1, 2, trees=7, seed=3)
    assert same_forest(clf.forest, again.forest)


def test_train_from_samples_class_names_and_colours():
    X, y = _samples()
    with pytest.warns(UserWarning, match=r"classes without labelled pixels get probability 0: \['c'\]"):
        clf = train_from_samples(X, y, MINIMAL, 1, 2, classes=["a", "b", "c"], colors=[(1, 2, 3), None], trees=3,
                                 seed=0)
    assert clf.classes == ["a", "b", "c"]
    assert clf.class_colors == [(1, 2, 3), default_color(1), default_color(2)]
    assert np.all(clf.predict_proba_features(X)[:, 2] == 0)
    with pytest.raises(ValueError, match="labels use class values up to 2 but only 1 class names were given"):
        train_from_samples(X, y, MINIMAL, 1, 2, classes=["a"])
    with pytest.raises(ValueError, match=r"only one class is labelled \('Label 2', label value 2\)"):
        train_from_samples(X, np.full_like(y, 2), MINIMAL, 1, 2)


def test_train_from_samples_with_context_adds_a_stage():
    X, y = _samples()
    first = train_from_samples(X, y, MINIMAL, 1, 2, trees=3, seed=0)
    second = train_from_samples(X, y, MINIMAL, 1, 2, trees=3, seed=0, context=first)
    assert second.stages == 2
    assert second.stage_list[0].forest is first.forest


# ----------------------------------------------------------------- train


def test_train_is_train_from_samples_on_the_training_sets_samples(blobs2d, blobs_labels, same_forest):
    clf = pf.train(blobs2d, blobs_labels, features=MINIMAL, trees=6, seed=11, image_names=["blobs.tif"])
    tset = training_set([blobs2d], [blobs_labels], ["blobs.tif"], [None], None, MINIMAL)
    Xs, ys = tset.samples(MINIMAL)
    ref = train_from_samples(np.concatenate(Xs), np.concatenate(ys), MINIMAL, 1, 2, trees=6, seed=11)
    assert same_forest(clf.forest, ref.forest)
    assert clf.training["oob_error"] == ref.training["oob_error"] and clf.training["stages"] == 1
    assert [li.name for li in clf.labels] == ["blobs.tif"]


def test_train_refuses_bad_arguments(blobs2d, blobs_labels):
    with pytest.raises(ValueError, match="no training images given"):
        pf.train([], [])
    with pytest.raises(ValueError, match="trees must be a positive integer, got 0"):
        pf.train(blobs2d, blobs_labels, trees=0)
    with pytest.raises(ValueError, match="trees must be a positive integer, got 2.5"):
        pf.train(blobs2d, blobs_labels, trees=2.5)
    with pytest.raises(ValueError, match="stages must be an integer from 1 to"):
        pf.train(blobs2d, blobs_labels, stages=0)
    with pytest.raises(ValueError, match="got 3 axes strings for 1 images"):
        pf.train(blobs2d, blobs_labels, axes=["yx", "yx", "yx"])


def test_fewer_image_names_than_images_drop_no_image(blobs2d, blobs_labels):
    other = np.zeros_like(blobs_labels)
    other[40:50, 100:110] = 1
    other[70:75, 60:70] = 2
    total = int((blobs_labels > 0).sum() + (other > 0).sum())
    try:
        clf = pf.train([blobs2d, blobs2d], [blobs_labels, other], features=MINIMAL, trees=3, seed=0,
                       image_names=["a.tif"])
    except ValueError as e:  # refusing the names, as train refuses an axes list of the wrong length, is right too
        assert "name" in str(e)
        return
    assert clf.training["n_samples"] == total and len(clf.labels) == 2
