"""pixelforest.interactive: a Session's retrains and predictions from its feature cache equal
training and predicting from scratch."""

from __future__ import annotations

import numpy as np
import pytest

import pixelforest as pf
from pixelforest.features import FeatureSpec
from pixelforest.interactive import Session, train_sessions

MINIMAL = FeatureSpec.preset("minimal")


def test_retrains_give_the_forest_train_gives_on_the_same_labels(blobs2d, blobs_labels, same_forest):
    first, second = np.where(blobs_labels == 1, 1, 0), np.where(blobs_labels == 2, 2, 0)  # painted one by one
    s = Session(blobs2d, "minimal", trees=6, seed=4)
    s.add_labels(first)
    s.add_labels(np.zeros_like(first))  # zeros leave the labels as they are
    with pytest.raises(ValueError, match="only one class is labelled"):
        s.train()
    s.add_labels(second)
    assert np.array_equal(s.labels[0, 0], blobs_labels)
    clf = s.train()
    ref = pf.train(blobs2d, blobs_labels, features="minimal", trees=6, seed=4)
    assert s.classifier is clf and same_forest(clf.forest, ref.forest)
    assert clf.training["n_samples"] == ref.training["n_samples"] == int((blobs_labels > 0).sum())
    assert np.array_equal(s.predict(), ref.predict(blobs2d))
    seg = s.predict("simple-segmentation", view=(slice(10, 40), slice(20, 90)))
    assert np.array_equal(seg, ref.predict(blobs2d, "simple-segmentation")[10:40, 20:90])
    # another selection for one retrain: the same as training with it
    spec = FeatureSpec.from_cells({"GaussianSmoothing": [1.0, 3.5]})
    assert same_forest(s.train(spec).forest, pf.train(blobs2d, blobs_labels, features=spec, trees=6, seed=4).forest)


def test_set_labels_replaces_every_label(blobs2d, blobs_labels):
    s = Session(blobs2d, "minimal")
    s.add_labels(blobs_labels)
    s.set_labels([0, 5, 130], [2, 1, 2])
    assert np.flatnonzero(s.labels).tolist() == [0, 5, 130] and s.labels.reshape(-1)[[0, 5, 130]].tolist() == [2, 1, 2]
    with pytest.raises(ValueError, match="2 label indices but 1 label values"):
        s.set_labels([0, 1], [1])
    with pytest.raises(ValueError, match=f"label index outside the image's {blobs2d.size} pixels"):
        s.set_labels([blobs2d.size], [1])
    with pytest.raises(ValueError, match="label values must be classes 1..255"):
        s.set_labels([3], [0])
    with pytest.raises(ValueError, match="do not match the image's non-channel shape"):
        s.add_labels(blobs_labels[:, :-1])
    assert np.flatnonzero(s.labels).tolist() == [0, 5, 130]  # refused changes left the labels as they were


def test_channels_follow_the_images_axes(blobs2d, blobs_labels, same_forest):
    img = np.stack([blobs2d, blobs2d[::-1]])  # c, y, x
    s = Session(img, "minimal", axes="cyx", trees=5, seed=0)
    s.add_labels(blobs_labels)
    clf = s.train()
    assert clf.n_channels == 2
    ref = pf.train(img, blobs_labels, features="minimal", axes="cyx", trees=5, seed=0)
    assert same_forest(clf.forest, ref.forest)
    assert np.array_equal(s.predict(), ref.predict(img, axes="cyx"))


def test_predict_plane_samples_a_region_at_its_cells_centres(blobs2d, blobs_labels):
    s = Session(blobs2d, "minimal", trees=5, seed=0)
    with pytest.raises(ValueError, match="train first"):
        s.predict_plane()
    s.add_labels(blobs_labels)
    clf = s.train()
    whole = clf.predict(blobs2d)
    assert np.array_equal(s.predict_plane(), whole)
    assert np.array_equal(s.predict_plane(rows=(10, 50), cols=(7, 100)), whole[10:50, 7:100])
    # cells of 4 x 4 from the region's corner, each at its centre; the last (cut) cells at the region's edge
    p = s.predict_plane(rows=(10, 50), cols=(7, 100), stride=4)
    ys = np.minimum(np.arange(10, 50, 4) + 2, 49)
    xs = np.minimum(np.arange(7, 100, 4) + 2, 99)
    assert p.shape == (10, 24, 2) and xs[-1] == 99
    assert np.array_equal(p, whole[ys[:, None], xs[None, :]])
    with pytest.raises(ValueError, match=r"plane \(t=0, z=1\) is outside the image \(T=1, Z=1\)"):
        s.predict_plane(z=1)
    with pytest.raises(ValueError, match="stride must be >= 1, got 0"):
        s.predict_plane(stride=0)
    with pytest.raises(ValueError, match="region rows 0..97, columns 0..120 is outside the 96 x 120 image"):
        s.predict_plane(rows=(0, 97))


def test_feature_cache_computes_only_missing_cells(blobs2d):
    s = Session(blobs2d, "minimal")
    assert sorted(s.missing()) == sorted(MINIMAL.cells()) and s.cached_bytes() == 0
    feats = s.features()
    assert np.array_equal(feats[0, 0], pf.compute_features(blobs2d, MINIMAL))
    assert s.missing() == [] and s.cached_bytes() == feats.nbytes  # the cells are views of one array
    more = FeatureSpec.from_cells({"GaussianSmoothing": [0.3, 1.0, 5.0]})
    assert s.missing(more) == [("GaussianSmoothing", 2)]  # only the new scale
    assert np.array_equal(s.features(more)[0, 0], pf.compute_features(blobs2d, more))
    assert s.missing(more) == []


def test_twin_shares_features_but_not_labels(blobs2d, blobs_labels):
    s = Session(blobs2d, "minimal", trees=5, seed=0, name="a.tif")
    s.add_labels(blobs_labels)
    s.train()
    t = s.twin("b.tif")
    assert t.name == "b.tif" and t.classifier is None and not t.labels.any() and s.labels.any()
    assert t.missing() == [] and np.shares_memory(t.features(), s.features())
    t.set_labels([0], [1])
    assert s.labels.reshape(-1)[0] == blobs_labels.reshape(-1)[0]


def test_train_sessions_is_train_on_several_images(blobs2d, blobs_labels, same_forest):
    small = np.ascontiguousarray(blobs2d[10:70, 15:100])
    lab_small = np.zeros(small.shape, np.uint8)
    lab_small[20:24, 5:12] = 2
    lab_small[48:52, 24:36] = 1
    a, b = Session(blobs2d, "minimal", name="a.tif"), Session(small, "minimal", name="b.tif")
    a.add_labels(blobs_labels)
    b.add_labels(lab_small)
    empty = Session(blobs2d, "minimal", name="c.tif")
    clf = train_sessions([a, b, empty], classes=["x", "y"], trees=5, seed=2)
    ref = pf.train([blobs2d, small], [blobs_labels, lab_small], features="minimal", classes=["x", "y"], trees=5,
                   seed=2)
    assert same_forest(clf.forest, ref.forest) and clf.classes == ["x", "y"]
    assert [li.name for li in clf.labels] == ["a.tif", "b.tif", "c.tif"] and clf.training["n_images"] == 3
    assert np.array_equal(clf.labels[1].dense()[0, 0], lab_small)


def test_train_sessions_refuses_what_one_classifier_cannot_hold(blobs2d, blobs_labels):
    a = Session(blobs2d, "minimal")
    with pytest.raises(ValueError, match="no labelled pixels yet: add labels first"):
        train_sessions([a])
    a.add_labels(blobs_labels)
    rgb = Session(np.stack([blobs2d] * 3, -1), "minimal", axes="yxc")
    with pytest.raises(ValueError, match="images with 3 and 1 channels cannot train one classifier"):
        train_sessions([a, rgb])
    vol = Session(np.stack([blobs2d] * 14), "minimal")
    with pytest.raises(ValueError, match="2D images and 3D stacks cannot train one classifier"):
        train_sessions([a, vol])
