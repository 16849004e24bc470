"""pixelforest.live: a Live Training round (labels in, retrain, a region of a plane out) gives what
the classifier of that round predicts."""

from __future__ import annotations

import numpy as np
import pytest

import pixelforest as pf
from pixelforest import live
from pixelforest.features import FeatureSpec
from pixelforest.interactive import Session
from pixelforest.live import Cancelled, LiveSession

CLASSES, COLORS = ["fg", "bg"], [(255, 0, 0), (0, 0, 255)]


def _round(img, lab, key="a", name="a.tif", trees=5):
    """A live session on one image, its labels sent as the panel sends them, trained once."""
    ls = LiveSession("minimal", trees=trees, seed=0)
    s = Session(img, ls.spec_for(np.asarray(img)[None, None, ..., None]), name=name)
    ls.add_image(key, s)
    ls.set_classes(CLASSES, COLORS)
    idx = np.flatnonzero(lab)
    s.set_labels(idx, lab.reshape(-1)[idx])
    ls.train()
    return ls


def test_a_round_predicts_what_its_classifier_predicts(blobs2d, blobs_labels, same_forest):
    ls = _round(blobs2d, blobs_labels)
    clf = ls.classifier
    assert ls.version == 1 and clf.classes == CLASSES and clf.class_colors == COLORS
    ref = pf.train(blobs2d, blobs_labels, features="minimal", classes=CLASSES, colors=COLORS, trees=5, seed=0)
    assert same_forest(clf.forest, ref.forest)
    out = ls.predict("a")
    p = clf.predict(blobs2d)
    assert out.shape == (3,) + blobs2d.shape and out.dtype == np.uint8
    assert np.array_equal(out[:2], np.rint(np.moveaxis(p, -1, 0) * 255))  # probabilities scaled to 0..255
    assert np.array_equal(out[2], clf.predict(blobs2d, "simple-segmentation"))  # unquantised argmax + 1


def test_regions_strides_and_chunks_give_the_same_pixels(blobs2d, blobs_labels, monkeypatch):
    ls = _round(blobs2d, blobs_labels)
    whole = ls.predict("a")
    region = ls.predict("a", rows=(10, 70), cols=(5, 101), stride=3)
    s = ls.image("a")
    p = s.predict_plane(0, 0, (10, 70), (5, 101), 3, ls.classifier)
    assert region.shape == (3, 20, 32)
    assert np.array_equal(region[2], p.argmax(-1) + 1)
    ys = np.minimum(np.arange(10, 70, 3) + 1, 69)
    xs = np.minimum(np.arange(5, 101, 3) + 1, 100)
    assert np.array_equal(region, whole[:, ys[:, None], xs[None, :]])
    monkeypatch.setattr(live, "CHUNK_PIXELS", 50)  # a chunk of rows every 50 pixels: many chunks, same result
    assert np.array_equal(ls.predict("a"), whole)
    assert np.array_equal(ls.predict("a", rows=(10, 70), cols=(5, 101), stride=3), region)


def test_cancelled_between_chunks(blobs2d, blobs_labels, monkeypatch):
    ls = _round(blobs2d, blobs_labels)
    monkeypatch.setattr(live, "CHUNK_PIXELS", 120 * 10)  # ten rows a chunk
    asked = []

    def cancelled():
        asked.append(1)
        return len(asked) > 3

    with pytest.raises(Cancelled):
        ls.predict("a", cancelled=cancelled)
    assert len(asked) == 4  # three chunks predicted, the fourth not
    assert ls.predict("a", cancelled=lambda: False).shape == (3,) + blobs2d.shape


def test_rounds_need_two_classes_and_a_trained_classifier(blobs2d, blobs_labels):
    ls = LiveSession("minimal", trees=3)
    ls.add_image("a", Session(blobs2d, "minimal", name="a.tif"))
    with pytest.raises(ValueError, match="train first"):
        ls.predict("a")
    ls.image("a").set_labels([0, 1], [2, 2])
    with pytest.raises(ValueError, match="label at least two classes to train"):
        ls.train()
    with pytest.raises(ValueError, match="image 'b' is not part of this live session; add it first"):
        ls.image("b")
    with pytest.raises(ValueError, match="a live session needs at least one class"):
        ls.set_classes([], [])
    with pytest.raises(ValueError, match="2 class names but 1 colours"):
        ls.set_classes(["a", "b"], [(0, 0, 0)])


def test_several_images_train_one_classifier(blobs2d, blobs_labels):
    ls = _round(blobs2d, blobs_labels)
    other = np.ascontiguousarray(blobs2d[::-1])
    b = Session(other, FeatureSpec.preset("ilastik-default"), name="b.tif")
    ls.add_image("b", b)
    assert b.spec == ls.image("a").spec  # the images share the first one's features
    lab_b = np.zeros(other.shape, np.uint8)
    lab_b[40:44, 60:66] = 2
    idx = np.flatnonzero(lab_b)
    b.set_labels(idx, lab_b.reshape(-1)[idx])
    assert [v.tolist() for v in ls.labels_of("b")] == [idx.tolist(), [2] * 24]
    clf = ls.train()
    assert ls.version == 2 and clf.training["n_samples"] == int((blobs_labels > 0).sum()) + 24
    ref = pf.train([blobs2d, other], [blobs_labels, lab_b], features="minimal", classes=CLASSES, colors=COLORS,
                   trees=5, seed=0)
    assert np.array_equal(ls.predict("b")[2], ref.predict(other, "simple-segmentation"))
    assert ls.remove_image("b") is b and ls.remove_image("b") is None
    assert ls.train().training["n_samples"] == int((blobs_labels > 0).sum())  # its labels no longer train
    rgb = Session(np.stack([blobs2d] * 3, -1), "minimal", axes="yxc", name="rgb.tif")
    with pytest.raises(ValueError, match=r"rgb.tif has 3 channel\(s\) but a.tif has 1"):
        ls.add_image("c", rgb)
    with pytest.raises(ValueError, match="vol.tif and a.tif: 2D images and 3D stacks cannot share a classifier"):
        ls.add_image("d", Session(np.stack([blobs2d] * 14), "minimal", name="vol.tif"))


def test_features_fitted_to_a_small_first_image():
    ls = LiveSession("minimal")
    small = np.zeros((1, 1, 12, 40, 1), np.float32)
    spec = ls.spec_for(small)
    assert 3.5 not in spec.scales and ls.note == "scale(s) 3.5 left out: the image is too small for them"
    assert ls.spec_for(np.zeros((1, 1, 40, 40, 1), np.float32)) == FeatureSpec.preset("minimal") and ls.note == ""
    explicit = LiveSession(FeatureSpec.preset("minimal"))
    assert explicit.spec_for(np.zeros((1, 1, 40, 40, 1), np.float32)) == FeatureSpec.preset("minimal")


def test_set_features_recomputes_for_every_image_and_drops_the_classifier(blobs2d, blobs_labels):
    ls = _round(blobs2d, blobs_labels)
    seen = []
    spec = FeatureSpec.from_cells({"GaussianSmoothing": [1.0, 3.5]})
    assert ls.set_features(spec, progress=lambda i, n: seen.append((i, n))) == spec
    assert seen == [(1, 1)] and ls.classifier is None and ls.image("a").missing(spec) == []
    clf = ls.train()
    assert clf.spec == spec and clf.n_features == 2


def test_resume_takes_a_saved_classifiers_labels_and_forest(blobs2d, blobs_labels, tmp_path):
    pf.save(_round(blobs2d, blobs_labels).classifier, tmp_path / "m.pfc")
    clf = pf.load(tmp_path / "m.pfc")
    ls = LiveSession("ilastik-default")
    ls.add_image("x", Session(blobs2d, "minimal", name="renamed.tif"))
    idx, val = ls.resume("x", clf)
    assert np.array_equal(idx, np.flatnonzero(blobs_labels)) and np.array_equal(val, blobs_labels[blobs_labels > 0])
    assert ls.resumed_from == "a.tif" and ls.classes == CLASSES and ls.colors == COLORS and ls.version == 1
    assert ls.classifier is clf and ls.features == clf.spec
    out = ls.predict("x")  # the saved forest predicts until the next round
    assert np.array_equal(out[2], clf.predict(blobs2d, "simple-segmentation"))
    small = LiveSession("minimal")
    small.add_image("s", Session(blobs2d[:50], "minimal"))
    with pytest.raises(ValueError, match=r"holds no labels for an image of shape \(1, 50, 120\)"):
        small.resume("s", clf)
    two = pf.train(blobs2d, blobs_labels, features="minimal", trees=3, seed=0, stages=2)
    with pytest.raises(ValueError, match="this classifier has auto-context stages"):
        ls.resume("x", two)


def test_suggestions_are_away_from_the_labels(blobs2d, blobs_labels):
    ls = _round(blobs2d, blobs_labels)
    places = ls.suggest("a", k=4)
    assert 1 <= len(places) <= 4
    for place in places:
        (y0, y1), (x0, x1) = place["box"]
        assert 0 <= y0 < y1 <= 96 and 0 <= x0 < x1 <= 120 and 0.0 <= place["uncertainty"] <= 1.0
        cy, cx = place["center"]
        assert y0 <= cy < y1 and x0 <= cx < x1
        assert not blobs_labels[max(0, cy - 1):cy + 2, max(0, cx - 1):cx + 2].any()  # never on or beside a label


def test_suggestions_on_a_coarse_grid_still_see_thin_strokes(blobs2d, blobs_labels):
    """A large plane is looked at every few pixels: a stroke one pixel wide, which that grid would
    miss, still keeps the suggestions off it."""
    lab = blobs_labels.copy()
    lab[10:90, 61] = 2  # one pixel wide, between the grid's sampled columns (2, 6, ..., 58, 62)
    ls = _round(blobs2d, lab)
    places = ls.suggest("a", k=6, max_pixels=800)  # a grid of every 4th pixel
    assert places
    for place in places:
        cy, cx = place["center"]
        assert (cy - 2) % 4 == 0 and (cx - 2) % 4 == 0  # a pixel of the grid
        assert not lab[max(0, cy - 6):cy + 6, max(0, cx - 6):cx + 6].any()  # not in or beside a labelled cell
