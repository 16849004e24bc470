"""The training loop: suggest features, where to label next, fast retrain, objects."""

from __future__ import annotations

import csv

import numpy as np
import pytest
import tifffile
from scipy import ndimage

import pixelforest as pf
from pixelforest.cli import main
from pixelforest.features import FeatureSpec
from pixelforest.interactive import Session
from pixelforest.postprocess import ObjectParams, measure_objects, segment_objects, suggest_regions
from pixelforest.suggest import suggest_features


@pytest.fixture
def blobs(shared_data):
    d = shared_data("sparse-scribbles")
    return tifffile.imread(d / "blobs.tif").astype(np.float32), tifffile.imread(d / "annotations.tif")


@pytest.mark.parametrize("method", ["gini", "filter", "wrapper"])
def test_suggested_features_train_nearly_as_well(blobs, method):
    img, lab = blobs
    n = 3 if method == "wrapper" else 5  # the wrapper trains a forest per candidate and step
    res = suggest_features(img[None, None, ..., None], lab[None, None], FeatureSpec.preset("ilastik-default"), n=n,
                           method=method)
    assert len(res["spec"].cells()) == n and len(res["cells"]) == n
    assert res["oob_error"] <= res["oob_error_all"] + 0.02
    clf = pf.train(img, lab, features=res["spec"], seed=0)
    assert clf.n_features < 49


def test_suggested_from_the_default_keeps_its_normalisation(blobs):
    """Candidates from pixelforest-default (normalised image, top-hats among them): the suggested set
    is scored on, and trains with, the same normalised features."""
    img, lab = blobs
    cand = FeatureSpec.preset("pixelforest-default")
    res = suggest_features(img[None, None, ..., None], lab[None, None], cand, n=4, method="gini")
    spec = res["spec"]
    assert spec.normalize == "otsu" and spec.scales == cand.scales and len(spec.cells()) == 4
    assert set(spec.cells()) <= set(cand.cells())
    assert res["oob_error"] <= res["oob_error_all"] + 0.02
    clf = pf.train(img, lab, features=spec, seed=0)
    assert clf.spec.normalize == "otsu"


def test_suggest_automatic_and_cli(blobs, tmp_path, capsys):
    img, lab = blobs
    res = suggest_features(img[None, None, ..., None], lab[None, None], FeatureSpec.preset("ilastik-default"), n=0,
                           method="filter")
    assert 1 <= len(res["cells"]) < 37
    tifffile.imwrite(tmp_path / "i.tif", img)
    tifffile.imwrite(tmp_path / "l.tif", lab)
    assert main(["suggest", str(tmp_path / "i.tif"), "--labels", str(tmp_path / "l.tif"), "-n", "4", "--method",
                 "gini", "-o", str(tmp_path / "f.json"), "-q"]) == 0
    assert "OOB error with the 4 suggested cells" in capsys.readouterr().out
    assert main(["train", str(tmp_path / "i.tif"), "--labels", str(tmp_path / "l.tif"), "--features",
                 str(tmp_path / "f.json"), "-o", str(tmp_path / "m.pfc"), "-q"]) == 0


def test_where_to_label_next(blobs):
    img, lab = blobs
    clf = pf.train(img, lab, features="minimal", seed=0)
    unc = clf.predict(img, "uncertainty")
    near = ndimage.distance_transform_cdt(lab == 0, metric="chessboard")
    for method in ("drawn", "ranked"):
        regions = suggest_regions(unc, k=5, size=15, labels=lab, method=method)
        assert len(regions) == 5
        if method == "ranked":
            scores = [r["score"] for r in regions]
            assert scores == sorted(scores, reverse=True) and regions[0]["uncertainty"] > np.mean(unc)
        else:  # drawn where the forest is unsure
            assert np.mean([unc[r["center"]] for r in regions]) > 4 * np.mean(unc)
        for r in regions:
            assert near[r["center"]] > 1  # never on or beside what is already labelled
        centers = np.array([r["center"] for r in regions])
        gaps = np.hypot(*(centers[:, None] - centers[None]).transpose(2, 0, 1))
        assert gaps[np.triu_indices(5, 1)].min() >= 30  # spread out: 2 x size apart
        again = suggest_regions(unc, k=5, size=15, labels=lab, method=method)
        assert again == regions  # the same uncertainty and labels, the same places


def test_where_to_label_next_prefers_wide_uncertain_areas_away_from_labels():
    unc = np.zeros((120, 200), np.float32)
    unc[20:22, 10:190] = 1.0  # a thin uncertain line (a boundary)
    unc[60:90, 20:50] = 0.8  # a wide uncertain area, less uncertain at its peak than the line
    unc[60:90, 140:170] = 0.8  # the same, with a stroke in it
    lab = np.zeros(unc.shape, np.uint8)
    lab[70:80, 152:154] = 2
    first, second, third = suggest_regions(unc, k=3, size=15, labels=lab, method="ranked")
    assert 60 <= first["center"][0] < 90 and 20 <= first["center"][1] < 50
    assert first["uncertainty"] == pytest.approx(0.8) and first["score"] == pytest.approx(0.8)
    assert third["score"] <= second["score"] < 0.5 * first["score"]
    assert suggest_regions(unc, k=3, size=15, method="ranked")[0]["center"] == first["center"]
    # nothing uncertain away from the labels: no suggestion
    assert suggest_regions(np.zeros((40, 40), np.float32), k=3, size=9) == []
    everywhere = np.ones((40, 40), np.uint8)
    assert suggest_regions(np.ones((40, 40), np.float32), k=3, size=9, labels=everywhere) == []


def test_where_to_label_next_in_3d_and_bad_input():
    unc = np.zeros((10, 40, 40), np.float32)
    unc[4:7, 20:30, 5:15] = 1.0
    (r,) = suggest_regions(unc, k=1, size=5)
    assert len(r["center"]) == 3 and len(r["box"]) == 3 and unc[r["center"]] == 1.0
    with pytest.raises(ValueError, match="size"):
        suggest_regions(unc, k=1, size=0)
    with pytest.raises(ValueError, match="k must"):
        suggest_regions(unc, k=-1)
    with pytest.raises(ValueError, match="labels of shape"):
        suggest_regions(unc, k=1, labels=np.zeros((40, 40), np.uint8))
    with pytest.raises(ValueError, match="2D or 3D"):
        suggest_regions(np.zeros(5, np.float32))
    with pytest.raises(ValueError, match="method must be"):
        suggest_regions(unc, method="best")


def test_session_retrains_from_cached_features(blobs):
    img, lab = blobs
    s = Session(img, "ilastik-default", seed=0)
    s.add_labels(lab)
    clf = s.train()
    assert np.array_equal(s.predict(), pf.train(img, lab, features="ilastik-default", seed=0).predict(img))
    cached = {k: id(v) for k, v in s._cells.items()}
    extra = np.zeros_like(lab)
    extra[100:110, 100:110] = 1
    s.add_labels(extra)
    s.train()
    assert {k: id(v) for k, v in s._cells.items()} == cached  # nothing recomputed
    view = s.predict(view=(slice(0, 64), slice(10, 74)))
    assert view.shape == (64, 64, 2) and np.array_equal(view, s.predict()[0:64, 10:74])
    s.train(FeatureSpec.preset("minimal"))  # cells the default bank already has come from the cache
    assert all(cached[k] == id(s._cells[k]) for k in cached)
    assert clf.training["n_samples"] < s.classifier.training["n_samples"]


def test_session_default_features_equal_the_whole_bank(blobs):
    """The session computes cells in groups (a scale's filters; all reaches of hole filling from
    one tree per polarity) and caches them per cell: the same features as the whole bank at once,
    and a selection with fewer reaches comes from the cache."""
    img, lab = blobs
    s = Session(img, "pixelforest-default", seed=0)
    assert np.array_equal(s.features()[0, 0], pf.compute_features(img, "pixelforest-default"))
    cached = {k: id(v) for k, v in s._cells.items()}
    fewer = FeatureSpec.from_cells({"GaussianSmoothing": [1.0], "DarkHoleFilling": [2.0, 8.0]}, normalize="otsu")
    assert s.missing(fewer) == []
    assert np.array_equal(s.features(fewer)[0, 0], pf.compute_features(img, fewer))
    assert {k: id(v) for k, v in s._cells.items()} == cached


def test_session_dark_hole_filling_from_cached_hole_filling(blobs, monkeypatch):
    """A session that computed Hole Filling (a resumed 36-channel classifier, say) gives Dark Hole
    Filling at the same scales from it, without computing hole filling again; at another scale it
    computes it."""
    import pixelforest.interactive as interactive

    img, lab = blobs
    both = FeatureSpec.from_cells({"GaussianSmoothing": [1.0], "HoleFilling": [2.0, 8.0]}, normalize="otsu")
    s = Session(img, both, seed=0)
    s.features()
    dark = FeatureSpec.from_cells({"GaussianSmoothing": [1.0], "DarkHoleFilling": [2.0, 8.0]}, normalize="otsu")
    assert s.missing(dark) == []
    computed = []
    real = interactive.compute_canonical
    monkeypatch.setattr(interactive, "compute_canonical", lambda *a, **k: computed.append(a[1]) or real(*a, **k))
    assert np.array_equal(s.features(dark)[0, 0], pf.compute_features(img, dark))
    assert computed == []
    other = FeatureSpec.from_cells({"DarkHoleFilling": [2.0, 4.0]}, normalize="otsu")
    assert s.missing(other) == [("DarkHoleFilling", 1)]
    assert np.array_equal(s.features(other)[0, 0], pf.compute_features(img, other))
    assert [c.cells() for c in computed] == [[("DarkHoleFilling", 0)]]
    two = np.stack([img, img[::-1]], -1)  # two channels: each one's dark column
    s2 = Session(two, both, channel_axis=-1, seed=0)
    s2.features()
    assert np.array_equal(s2.features(dark)[0, 0], pf.compute_features(two, dark, channel_axis=-1))


def test_watershed_splits_touching_objects_and_measures():
    yy, xx = np.mgrid[0:80, 0:120]
    prob = np.zeros((80, 120), np.float32)
    for cy, cx in [(40, 45), (40, 72)]:  # two touching disks
        prob[(yy - cy) ** 2 + (xx - cx) ** 2 < 15 ** 2] = 0.9
    prob[5:8, 5:8] = 0.9  # a speck
    lab_none = segment_objects(prob, ObjectParams(split="none"))
    assert lab_none.max() == 2  # the disks are one object without the split
    lab = segment_objects(prob, ObjectParams(split="distance", min_size=20, min_distance=8))
    assert lab.max() == 2
    rows = measure_objects(lab, prob, np.stack([prob, 2 * prob], -1), pixel_size=(0.5, 0.5), unit="um")
    assert [r["label"] for r in rows] == [1, 2]
    assert abs(rows[0]["area"] - rows[0]["pixels"] * 0.25) < 1e-9 and rows[0]["unit"] == "um"
    assert rows[0]["mean_probability"] == pytest.approx(0.9) and rows[0]["mean_intensity_1"] == pytest.approx(1.8)
    assert segment_objects(prob, ObjectParams(threshold="otsu", split="maxima")).max() >= 2


def test_objects_cli_on_real_probabilities(blobs, tmp_path, capsys):
    img, lab = blobs
    clf = pf.train(img, lab, features="ilastik-default", seed=0, classes=["background", "blob"])
    tifffile.imwrite(tmp_path / "p.tif", np.moveaxis(clf.predict(img), -1, 0), imagej=True, metadata={"axes": "CYX"})
    tifffile.imwrite(tmp_path / "img.tif", img)
    assert main(["objects", str(tmp_path / "p.tif"), "--channel", "1", "--image", str(tmp_path / "img.tif"),
                 "--min-size", "20", "--pixel-size", "0.5,0.5", "--unit", "um", "-o", str(tmp_path / "objects.csv"),
                 "--labels-out", str(tmp_path / "labels.tif")]) == 0
    rows = list(csv.DictReader(open(tmp_path / "objects.csv")))
    assert 40 <= len(rows) <= 90  # blobs.tif has about 60 blobs
    labels = tifffile.imread(tmp_path / "labels.tif")
    assert labels.max() == len(rows)
    assert float(rows[0]["area"]) == pytest.approx(int(rows[0]["pixels"]) * 0.25)
    # a pixel size the labels cannot use is refused before any work, naming the option
    assert main(["objects", str(tmp_path / "p.tif"), "--channel", "1", "--pixel-size", "0.5,0",
                 "-o", str(tmp_path / "bad.csv")]) != 0
    assert "--pixel-size: pixel_size must be positive numbers, got 0.5,0" in capsys.readouterr().err
    assert not (tmp_path / "bad.csv").exists()
