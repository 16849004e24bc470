"""pixelforest.postprocess: thresholds, objects and their measurements on images whose answer is known by
construction, and where to label next (suggest_regions) on synthetic uncertainty."""

from __future__ import annotations

import csv

import numpy as np
import pytest
from scipy import ndimage

from pixelforest.io.tables import write_csv
from pixelforest.postprocess import ObjectParams, measure_objects, segment_objects, suggest_regions, threshold_value

# ----------------------------------------------------------------- thresholds


def test_threshold_value():
    assert threshold_value(np.zeros(3), 0.3) == 0.3
    bimodal = np.r_[np.full(100, 0.1), np.full(100, 0.9)]
    t = threshold_value(bimodal, "OTSU")
    assert 0.1 <= t < 0.9 and (bimodal > t).sum() == 100  # separates the two modes
    with pytest.raises(ValueError, match="a number or 'otsu'"):
        threshold_value(bimodal, "mean")
    for bad in (float("nan"), float("inf")):
        with pytest.raises(ValueError, match="finite"):
            threshold_value(bimodal, bad)


# ----------------------------------------------------------------- objects


def _squares():
    """Three separate squares of 16, 36 and 100 pixels at probability 0.9 (0.2 around)."""
    prob = np.full((40, 50), 0.2, np.float32)
    boxes = [(slice(2, 6), slice(3, 7)), (slice(10, 16), slice(30, 36)), (slice(25, 35), slice(5, 15))]
    for b in boxes:
        prob[b] = 0.9
    return prob, boxes


def test_segment_separate_objects_exactly():
    prob, boxes = _squares()
    lab = segment_objects(prob, ObjectParams(split="none"))
    assert lab.dtype == np.int32 and lab.max() == 3
    for i, b in enumerate(boxes, start=1):  # numbered in raster order
        want = np.zeros(prob.shape, bool)
        want[b] = True
        assert np.array_equal(lab == i, want)
    # the default split finds one seed per square: the same objects
    assert np.array_equal(segment_objects(prob), lab)


@pytest.mark.parametrize("min_size, max_size, kept", [(0, None, [16, 36, 100]), (20, None, [36, 100]),
                                                      (0, 50, [16, 36]), (17, 99, [36]), (101, None, [])])
def test_size_filter_keeps_consecutive_labels(min_size, max_size, kept):
    prob, _ = _squares()
    lab = segment_objects(prob, ObjectParams(split="none", min_size=min_size, max_size=max_size))
    assert lab.max() == len(kept)
    assert [int((lab == i).sum()) for i in range(1, len(kept) + 1)] == kept


def test_threshold_is_strict_and_holes_are_filled():
    prob = np.zeros((20, 20), np.float32)
    prob[5:15, 5:15] = 0.8
    prob[8:12, 8:12] = 0.1  # a hole of 16 pixels
    prob[0, 0] = 0.5  # exactly at the threshold: not an object
    filled = segment_objects(prob, ObjectParams(split="none"))
    assert filled.max() == 1 and (filled == 1).sum() == 100
    ring = segment_objects(prob, ObjectParams(split="none", fill_holes=False))
    assert ring.max() == 1 and (ring == 1).sum() == 84 and ring[10, 10] == 0
    assert segment_objects(prob, ObjectParams(split="none", threshold=0.85)).max() == 0


def test_smoothing_before_the_threshold():
    prob = np.zeros((21, 21), np.float32)
    prob[10, 10] = 1.0  # one pixel: after a Gaussian of sigma 1 its peak is 1 / (2 pi) ~ 0.16
    assert segment_objects(prob, ObjectParams(split="none")).max() == 1
    assert segment_objects(prob, ObjectParams(split="none", smooth=1.0)).max() == 0
    lab = segment_objects(prob, ObjectParams(split="none", smooth=1.0, threshold=0.09))
    assert lab.max() == 1 and lab[10, 10] == 1 and (lab == 1).sum() == 5  # the centre and its 4 neighbours


def test_touching_balls_split_in_3d():
    zz, yy, xx = np.mgrid[0:30, 0:30, 0:50]
    prob = np.zeros(zz.shape, np.float32)
    for cx in (17, 32):  # two balls of radius 9 whose centres are 15 apart: they overlap
        prob[(zz - 15) ** 2 + (yy - 15) ** 2 + (xx - cx) ** 2 <= 81] = 0.9
    assert segment_objects(prob, ObjectParams(split="none")).max() == 1
    lab = segment_objects(prob, ObjectParams(split="distance", min_distance=5))
    assert lab.max() == 2 and lab[15, 15, 17] != lab[15, 15, 32]
    assert np.array_equal(lab > 0, prob > 0.5)  # split, nothing lost


def test_segment_refuses_bad_input():
    with pytest.raises(ValueError, match="2D or 3D"):
        segment_objects(np.zeros(10))
    with pytest.raises(ValueError, match="split must be"):
        segment_objects(np.ones((5, 5)), ObjectParams(split="watershed"))


# ----------------------------------------------------------------- measurements


def _two_rectangles():
    lab = np.zeros((10, 12), np.int32)
    lab[2:5, 1:5] = 1  # 3 x 4 = 12 pixels, centroid (3, 2.5)
    lab[6:8, 5:10] = 2  # 2 x 5 = 10 pixels, centroid (6.5, 7)
    return lab


def test_measurements_of_known_objects():
    lab = _two_rectangles()
    prob = np.where(lab == 1, 0.8, np.where(lab == 2, 0.6, 0.0))
    image = np.stack([lab * 10.0, np.full(lab.shape, 3.0)], -1)
    r1, r2 = measure_objects(lab, prob, image)
    assert r1 == {"label": 1, "area": 12.0, "pixels": 12, "centroid_y": 3.0, "centroid_x": 2.5, "bbox_y0": 2,
                  "bbox_y1": 5, "bbox_x0": 1, "bbox_x1": 5, "mean_probability": pytest.approx(0.8),
                  "mean_intensity_0": 10.0, "mean_intensity_1": 3.0, "unit": "pixel"}
    assert (r2["pixels"], r2["centroid_y"], r2["centroid_x"]) == (10, 6.5, 7.0)
    assert (r2["bbox_y0"], r2["bbox_y1"], r2["bbox_x0"], r2["bbox_x1"]) == (6, 8, 5, 10)
    assert r2["mean_intensity_0"] == 20.0 and r2["mean_probability"] == pytest.approx(0.6)
    # calibrated: pixel size (y, x) = (0.5, 2.0); a single-channel image is one intensity column
    c1, _ = measure_objects(lab, image=lab * 1.0, pixel_size=(0.5, 2.0), unit="um")
    assert (c1["area"], c1["pixels"], c1["centroid_y"], c1["centroid_x"], c1["unit"]) == (12.0, 12, 1.5, 5.0, "um")
    assert c1["bbox_y0"] == 2 and "mean_probability" not in c1 and c1["mean_intensity_0"] == 1.0
    assert "mean_intensity_1" not in c1
    assert measure_objects(np.zeros((4, 4), np.int32)) == []


def test_measurements_in_3d():
    lab = np.zeros((6, 8, 8), np.int32)
    lab[1:3, 2:6, 4:7] = 1  # 2 x 4 x 3 = 24 voxels, centroid (1.5, 3.5, 5)
    (r,) = measure_objects(lab, pixel_size=(2.0, 0.5, 0.5))
    assert r["volume"] == 24 * 0.5 and r["pixels"] == 24 and "area" not in r
    assert (r["centroid_z"], r["centroid_y"], r["centroid_x"]) == (3.0, 1.75, 2.5)
    assert (r["bbox_z0"], r["bbox_z1"]) == (1, 3)
    (iso,) = measure_objects(lab, pixel_size=0.5)  # one value: every axis
    assert iso["volume"] == 24 * 0.125 and iso["centroid_z"] == 0.75
    # a y,x pixel size for a stack is refused, not paired with z and y (it gave the volume without z)
    with pytest.raises(ValueError, match="pixel_size has 2 values for 3D labels: give z,y,x"):
        measure_objects(lab, pixel_size=(0.5, 0.5))
    with pytest.raises(ValueError, match="pixel_size has 4 values for 3D labels"):
        measure_objects(lab, pixel_size=(1, 2.0, 0.5, 0.5))
    with pytest.raises(ValueError, match="pixel_size must be positive numbers, got 1,0,1"):
        measure_objects(lab, pixel_size=(1, 0, 1))


def test_measurements_of_labels_with_a_gap():
    lab = np.zeros((6, 6), np.int32)
    lab[0:2, 0:2] = 1
    lab[3:6, 3:6] = 3
    rows = measure_objects(lab)
    assert [(r["label"], r["pixels"]) for r in rows] == [(1, 4), (3, 9)]


def test_write_csv(tmp_path):
    rows = measure_objects(_two_rectangles(), pixel_size=(1.0, 1.0), unit="um")
    write_csv(rows, tmp_path / "objects.csv")
    with open(tmp_path / "objects.csv", newline="", encoding="utf-8") as f:
        back = list(csv.DictReader(f))
    assert [r["label"] for r in back] == ["1", "2"] and back[0]["area"] == "12.0" and back[1]["unit"] == "um"
    assert list(back[0]) == list(rows[0])
    write_csv([], tmp_path / "none.csv")
    assert (tmp_path / "none.csv").read_text().strip() == "label"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["none.csv", "objects.csv"]  # no temporary file left


# ----------------------------------------------------------------- where to label next


def test_suggest_regions_known_answer():
    unc = np.zeros((60, 80), np.float32)
    unc[30:45, 50:65] = 0.9  # an uncertain square of exactly one box
    (r,) = suggest_regions(unc, k=3, size=15, method="ranked")  # nothing else is uncertain: one suggestion
    assert r["center"] == (37, 57) and r["box"] == ((30, 45), (50, 65))
    assert r["uncertainty"] == pytest.approx(0.9) and r["score"] == pytest.approx(0.9)


def test_suggest_regions_rims_between_strokes_after_wide_areas():
    """Scribbles along both sides of a boundary leave the boundary uncertain: once no wide area away
    from the labels is uncertain, the rim between the strokes is suggested (it used to be never)."""
    unc = np.zeros((80, 120), np.float32)
    unc[38:41, 10:110] = 1.0  # the rim between two strokes
    lab = np.zeros(unc.shape, np.uint8)
    lab[33:36, 10:110] = 1  # inside the object, 3 px from the rim
    lab[43:46, 10:110] = 2  # background, 3 px from the rim
    (first, *_) = suggest_regions(unc, k=3, size=15, labels=lab, method="ranked")
    assert 36 <= first["center"][0] <= 42 and 0 < first["score"] <= 0.3  # on the rim (the box covers it)
    near = ndimage.distance_transform_cdt(lab == 0, metric="chessboard")
    assert near[first["center"]] > 1
    unc[5:25, 60:80] = 0.6  # a wide uncertain area away from the labels comes first
    assert 5 <= suggest_regions(unc, k=1, size=15, labels=lab, method="ranked")[0]["center"][0] < 25
    assert suggest_regions(unc * 0, k=3, size=15, labels=lab, method="ranked") == []
    assert suggest_regions(unc * 0, k=3, size=15, labels=lab) == []


@pytest.mark.parametrize("method", ["drawn", "ranked"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_suggest_regions_avoid_labels_and_spread_out(seed, method):
    rng = np.random.default_rng(seed)
    unc = rng.random((120, 150)).astype(np.float32)
    unc[40:70, 60:100] += 1.0  # the most uncertain area, with strokes in it
    lab = np.zeros(unc.shape, np.uint8)
    lab[50:53, 70:90] = 1
    lab[rng.integers(0, 120, 6), rng.integers(0, 150, 6)] = 2  # scattered single pixels
    size = 11
    regions = suggest_regions(unc, k=8, size=size, labels=lab, method=method, seed=seed)
    assert 1 <= len(regions) <= 8
    scores = [r["score"] for r in regions]
    assert min(scores) > 0 and (method == "drawn" or scores == sorted(scores, reverse=True))
    near = ndimage.distance_transform_cdt(lab == 0, metric="chessboard")
    for r in regions:
        assert near[r["center"]] > 1  # never on or beside a labelled pixel
        assert all(b - a <= size for a, b in r["box"])
        assert all(a <= c < b for c, (a, b) in zip(r["center"], r["box"], strict=True))
    centers = np.array([r["center"] for r in regions], float)
    d = np.hypot(*(centers[:, None] - centers[None]).transpose(2, 0, 1))
    assert len(regions) < 2 or d[np.triu_indices(len(regions), 1)].min() >= 2 * size  # spread apart
    assert suggest_regions(unc, k=8, size=size, labels=lab, method=method, seed=seed) == regions  # repeatable


def test_suggest_regions_uncertainty_is_the_mean_around_the_centre():
    unc = np.random.default_rng(5).random((50, 50)).astype(np.float32)
    for r in suggest_regions(unc, k=4, size=7) + suggest_regions(unc, k=4, size=7, method="ranked"):
        (y0, y1), (x0, x1) = r["box"]
        if y1 - y0 == 7 and x1 - x0 == 7:  # away from the border: the whole box
            assert r["uncertainty"] == pytest.approx(float(unc[y0:y1, x0:x1].mean()), rel=1e-5)


def test_suggest_regions_nan_counts_as_certain():
    unc = np.full((30, 30), np.nan, np.float32)
    unc[10:15, 10:15] = 1.0
    (r,) = suggest_regions(unc, k=2, size=5, method="ranked")
    assert r["center"] == (12, 12)
    (r,) = suggest_regions(unc, k=2, size=5)  # drawn: in the square (and nothing left 2 x size from it)
    assert unc[r["center"]] == 1.0


def test_suggest_regions_drawn_in_proportion_to_uncertainty_cubed():
    """Drawn places: a pixel's chance is its uncertainty ** DRAW_POWER (3), so of two equal areas,
    one twice as uncertain as the other, the first gets 8 of 9 draws; a seed repeats a draw."""
    from pixelforest.postprocess import DRAW_POWER, suggestion_weights

    assert DRAW_POWER == 3
    unc = np.zeros((40, 100), np.float32)
    unc[10:20, 10:20] = 1.0
    unc[10:20, 70:80] = 0.5
    lab = np.zeros(unc.shape, np.uint8)
    lab[15, 79] = 1  # its pixel and those beside it are never drawn
    w = suggestion_weights(unc, lab)
    assert w[15, 78] == 0 and w[15, 77] == pytest.approx(0.125) and w[12, 12] == 1.0
    firsts = [suggest_regions(unc, k=1, size=5, labels=lab, seed=s)[0]["center"] for s in range(2000)]
    share = np.mean([x < 50 for _, x in firsts])
    assert 0.86 < share < 0.92  # 8/9 = 0.889 (binomial sd 0.007)
    assert all(w[c] > 0 for c in firsts)
    assert len(set(firsts)) > 100  # spread over both squares' pixels, not one spot
    assert suggest_regions(unc, k=2, size=5, seed=7) == suggest_regions(unc, k=2, size=5, seed=7)



def test_suggest_regions_drawn_on_any_scale_of_uncertainty():
    """An uncertainty on another scale (e.g. an 8-bit image, 0-255) draws as the same one on 0-1:
    the most uncertain square is taken as often."""
    unc = np.full((60, 120), 0.02, np.float32)
    unc[20:30, 80:90] = 1.0
    firsts = [suggest_regions(unc, k=1, size=5, seed=s)[0]["center"] for s in range(200)]
    assert firsts == [suggest_regions(unc * 255, k=1, size=5, seed=s)[0]["center"] for s in range(200)]
    assert np.mean([80 <= x < 90 for _, x in firsts]) > 0.9


def _drawn_by_running_sums(unc, k, size, labels, seed):
    """The drawn places as first written: a running sum over every pixel for each draw, and the
    spacing cleared over the whole image (slow, plain: what the block sums must give)."""
    from pixelforest.postprocess import suggestion_weights

    w = suggestion_weights(unc, labels)
    rng = np.random.default_rng(seed)
    grid = np.ogrid[tuple(slice(0, n) for n in unc.shape)]
    centres = []
    for _ in range(k):
        cum = np.cumsum(w.ravel())
        if cum[-1] <= 1e-12:
            break
        j = min(int(np.searchsorted(cum, rng.random() * cum[-1], side="right")), w.size - 1)
        c = np.unravel_index(j, unc.shape)
        centres.append(tuple(int(v) for v in c))
        w[sum((g - v) ** 2 for g, v in zip(grid, c, strict=True)) < (2 * size) ** 2] = 0.0
    return sorted(centres)


@pytest.mark.parametrize("shape", [(130, 170), (9, 40, 50)])
def test_suggest_regions_drawn_block_sums_give_the_running_sums_places(shape, monkeypatch):
    """A draw costs the blocks' sums and one block's (clearing a place re-adds only its blocks), not
    a running sum over every pixel; the places are those the running sums give for the same seed
    (small blocks here, so that draws and clearings cross many of them), in 2D and 3D."""
    from pixelforest import postprocess

    monkeypatch.setattr(postprocess._Draw, "BLOCK", 64)
    rng = np.random.default_rng(len(shape))
    unc = ndimage.gaussian_filter(rng.random(shape), 2).astype(np.float32)
    unc[unc < np.quantile(unc, 0.3)] = 0.0  # certain areas: blocks with no weight at all
    lab = np.zeros(shape, np.uint8)
    lab[rng.random(shape) < 0.01] = 1
    for seed in range(15):
        got = suggest_regions(unc, k=9, size=4, labels=lab, seed=seed)
        assert sorted(r["center"] for r in got) == _drawn_by_running_sums(unc, 9, 4, lab, seed)


def test_suggest_regions_helpers_match_the_whole_image_filters():
    """The box mean at a centre is ``uniform_filter(mode="nearest")`` there (odd and even boxes, at
    the edges too), and "beside a label" is chessboard distance <= 1, in 2D and 3D."""
    from pixelforest.postprocess import _box_mean, _near_labels

    rng = np.random.default_rng(3)
    unc = rng.random((23, 31)).astype(np.float32)
    for size in (1, 4, 5, 12, 40):  # (40: a box larger than the image)
        mean = ndimage.uniform_filter(unc, size=size, mode="nearest")
        for c in [(0, 0), (22, 30), (0, 17), (11, 15), (21, 1)]:
            assert _box_mean(unc, c, size) == pytest.approx(float(mean[c]), rel=1e-5)
    for shape in [(40, 60), (7, 20, 30)]:
        lab = (rng.random(shape) < 0.02).astype(np.uint8) * 3
        lab[(0,) * len(shape)] = 1  # a corner
        near = ndimage.distance_transform_cdt(lab == 0, metric="chessboard") <= 1
        assert np.array_equal(_near_labels(lab), near)


def test_suggest_regions_drawn_on_any_memory_layout():
    """A transposed or Fortran-ordered uncertainty (and labels) gives the places of the same
    uncertainty in C order: the spacing holds (places once drawn are not drawn again nearby)."""
    rng = np.random.default_rng(8)
    unc = ndimage.gaussian_filter(rng.random((90, 140)), 2).astype(np.float32)
    lab = np.zeros(unc.shape, np.uint8)
    lab[rng.random(unc.shape) < 0.01] = 2
    for seed in range(5):
        want = suggest_regions(unc, k=6, size=6, labels=lab, seed=seed)
        assert suggest_regions(np.asfortranarray(unc), k=6, size=6, labels=np.asfortranarray(lab), seed=seed) == want
        flipped = suggest_regions(np.ascontiguousarray(unc.T).T, k=6, size=6, labels=lab, seed=seed)
        assert flipped == want
    small = np.zeros((200, 100), np.float32)
    small[100:104, 50:54] = 1.0  # one uncertain spot: one place, whatever the layout
    assert len(suggest_regions(np.asfortranarray(small), k=4, size=10)) == 1
