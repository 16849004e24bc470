"""The plugin's Python service, driven through Appose exactly as the plugin drives it
(a real worker process, images in shared memory), from Python's Appose client."""

from __future__ import annotations

import sys
import threading

import numpy as np
import pytest

import pixelforest as pf

appose = pytest.importorskip("appose", reason="appose is not installed (pip install 'pixelforest[fiji]')")
from appose.service import Service  # noqa: E402

WORKER = "import appose.python_worker; appose.python_worker.main()"
from pixelforest.worker.protocol import SCRIPT  # noqa: E402


@pytest.fixture(scope="module")
def service():
    svc = Service(".", None, sys.executable, "-c", WORKER)
    yield svc
    if svc._process is not None:  # started by the first task that used it (on this test worker)
        svc.close()


def _nd(arr: np.ndarray):
    nd = appose.NDArray(str(arr.dtype), list(arr.shape))
    nd.ndarray()[...] = arr
    return nd


def call(service, request, params=None, image=None, on_task=None):
    task = service.task(SCRIPT, {"request": request, "params": params or {}, "image": image})
    if on_task:
        on_task(task)
    task.wait_for()
    return task.outputs


def test_train_predict_through_the_service(service, blobs2d, tmp_path):
    img = _nd(blobs2d[None, None, None])  # (T, Z, C, Y, X) as the plugin sends it
    index = np.zeros((1, 1) + blobs2d.shape, np.int32)
    index[0, 0, 58:63, 36:45] = 1  # ROI 0: inside a blob
    index[0, 0, 5:8, 50:70] = 2  # ROI 1: background
    rois = [{"name": "class:blob #1", "group": 0, "color": None, "kind": "area"},
            {"name": "", "group": 0, "color": [0, 0, 255], "kind": "area"}]
    out = call(service, "train", {"roi_index": _nd(index), "rois": rois, "features": "minimal", "trees": 20,
                                  "seed": 0, "output": str(tmp_path / "m.pfc")}, img)
    assert "error" not in out, out
    assert out["classes"] == ["blob", "#0000ff"] and out["n_features"] == 9
    res = call(service, "predict", {"classifier": str(tmp_path / "m.pfc"), "source": "probabilities"}, img)
    prob = res["result"].ndarray().copy()
    assert prob.shape == (1, 1, 2) + blobs2d.shape
    engine = pf.load(tmp_path / "m.pfc").predict(blobs2d)
    assert np.abs(np.moveaxis(prob[0, 0], 0, -1) - engine).max() <= 1e-6
    assert res["labels"] == ["blob", "#0000ff"] and res["colors"][1] == [0, 0, 255]
    # Apply after Train on the same image: every feature from the worker's cache
    assert out["computed_cells"] == len(pf.FeatureSpec.preset("minimal").cells()) and res["computed_cells"] == 0
    # another selection computes only the cells the first did not have
    spec = {"scales": [1.0, 2.0], "features": {"GaussianSmoothing": [1.0, 2.0], "LaplacianOfGaussian": [1.0]}}
    out = call(service, "train", {"roi_index": _nd(index), "rois": rois, "features": spec, "trees": 5}, img)
    assert "error" not in out, out
    assert out["computed_cells"] == 1  # Gaussian Smoothing at 2.0; the others are minimal's


def test_readable_errors(service, blobs2d, tmp_path):
    img = _nd(blobs2d[None, None, None])
    out = call(service, "predict", {"classifier": str(tmp_path / "nope.pfc")}, img)
    assert out["error"] == f"classifier file {tmp_path / 'nope.pfc'} does not exist"
    out = call(service, "frobnicate")
    assert "unknown request 'frobnicate'" in out["error"]
    rgb = _nd(np.zeros((1, 1, 3) + blobs2d.shape, np.uint8))
    clf = pf.train(blobs2d, (np.arange(blobs2d.size).reshape(blobs2d.shape) % 50 == 0).astype(np.uint8) * 1
                   + (np.arange(blobs2d.size).reshape(blobs2d.shape) % 50 == 1) * 2, features="minimal", trees=5)
    pf.save(clf, tmp_path / "one.pfc")
    out = call(service, "predict", {"classifier": str(tmp_path / "one.pfc")}, rgb)
    assert out["error"].startswith("image has 3 channel(s) (an RGB image has 3) but the classifier was trained on "
                                   "images of 1")


def test_cancel(tmp_path):
    """Esc in ImageJ cancels the task: the worker stops at the next block and says so."""
    rng = np.random.default_rng(0)
    big = rng.random((1, 1, 1, 1024, 1024)).astype(np.float32)
    lab = np.zeros((1024, 1024), np.uint8)
    lab[:10, :10] = 1
    lab[-10:, -10:] = 2
    pf.save(pf.train(big[0, 0, 0], lab, features="ilastik-default", trees=10), tmp_path / "m.pfc")
    # a worker with too little memory to cache features: it predicts block by block
    svc = Service(".", {"PIXELFOREST_WORKER_MEMORY_MB": "1"}, sys.executable, "-c", WORKER)
    try:
        seen = threading.Event()

        def on_task(task):
            def listen(ev):
                if ev.response_type.name == "UPDATE" and "predicting" in (ev.message or "") and not seen.is_set():
                    seen.set()
                    task.cancel()

            task.listen(listen)

        out = call(svc, "predict", {"classifier": str(tmp_path / "m.pfc"), "block": [128, 128]}, _nd(big), on_task)
        assert out.get("cancelled") is True
    finally:
        svc.close()


def test_live_session_through_the_service(service, blobs2d, tmp_path):
    """The Live Training panel's requests: open (features once), rounds of labels -> train -> the
    view's prediction, the segmentation equal to the engine's from the same labels and seed, a
    saved classifier that resumes with its labels, and close freeing the session."""
    img = _nd(blobs2d[None, None, None])
    common = {"session": "s1", "image": "img1"}
    out = call(service, "live_open", {**common, "features": "minimal", "trees": 20, "seed": 3, "title": "blobs"}, img)
    assert "error" not in out, out
    assert out["n_features"] == 9
    lab = np.zeros(blobs2d.shape, np.uint8)
    lab[58:63, 36:45] = 1
    lab[5:8, 50:70] = 2
    idx = np.flatnonzero(lab)
    colors = [[255, 0, 0], [0, 255, 0]]
    Y, X = blobs2d.shape
    out = call(service, "live_train", {**common, "index": _nd(idx.astype(np.int64)), "value": _nd(lab.flat[idx]),
                                       "classes": ["blob", "background"], "colors": colors,
                                       "t": 0, "z": 0, "region": [0, Y, 0, X], "stride": 1})
    assert "error" not in out, out
    assert out["version"] == 1 and out["samples"] == [45, 60]
    pred = out["prediction"].ndarray().copy()
    assert pred.shape == (3, Y, X)
    engine = pf.train(blobs2d, lab, features="minimal", trees=20, seed=3, classes=["blob", "background"])
    assert np.array_equal(pred[2], engine.predict(blobs2d, "simple-segmentation"))
    prob = engine.predict(blobs2d)
    assert np.abs(pred[:2].astype(float) / 255 - np.moveaxis(prob, -1, 0)).max() <= 0.5 / 255 + 1e-6
    # a zoomed-out view: the centre of each 2 x 2 cell of a region (the last pixel of a cut cell)
    out = call(service, "live_predict", {**common, "t": 0, "z": 0, "region": [10, 51, 20, 81], "stride": 2})
    view = out["prediction"].ndarray().copy()
    rows, cols = np.minimum(np.arange(10, 51, 2) + 1, 50), np.minimum(np.arange(20, 81, 2) + 1, 80)
    assert view.shape == (3, 21, 31)
    assert np.array_equal(view[2], engine.predict(blobs2d, "simple-segmentation")[rows[:, None], cols[None, :]])
    out = call(service, "live_suggest", {**common, "t": 0, "z": 0, "k": 3})
    assert 1 <= len(out["regions"]) <= 3 and all(len(r) == 5 for r in out["regions"])
    out = call(service, "live_save", {**common, "path": str(tmp_path / "live.pfc")})
    assert "error" not in out, out
    saved = pf.load(tmp_path / "live.pfc")
    assert np.array_equal(saved.labels[0].dense()[0, 0], lab) and saved.labels[0].name == "blobs"
    # a new session on the same image resumes the saved labels and classifier (features from the cache)
    out = call(service, "live_open", {"session": "s2", "image": "img1", "features": "minimal", "title": "blobs"}, img)
    assert out["computed_cells"] == 0
    out = call(service, "live_resume", {"session": "s2", "image": "img1", "path": str(tmp_path / "live.pfc")})
    assert out["classes"] == ["blob", "background"] and out["colors"] == colors
    assert np.array_equal(out["index"].ndarray(), idx) and np.array_equal(out["value"].ndarray(), lab.flat[idx])
    out = call(service, "live_predict", {"session": "s2", "image": "img1", "region": [0, Y, 0, X]})
    assert np.array_equal(out["prediction"].ndarray()[2], pred[2])
    assert call(service, "live_info")["sessions"] == ["s1", "s2"]
    call(service, "live_close", {"session": "s1"})
    call(service, "live_close", {"session": "s2"})
    info = call(service, "live_info")
    assert info["sessions"] == [] and info["cached_sessions"] == 0
    out = call(service, "live_predict", {**common, "region": [0, Y, 0, X]})
    assert "no live session 's1'" in out["error"]


def test_live_on_a_small_image_leaves_out_the_scales_it_cannot_hold(service):
    """A 40 x 48 image with the default preset: the panel opens on the scales the image can hold
    (and says which were left out) and trains; the same scales chosen explicitly keep ilastik's rule."""
    rng = np.random.default_rng(0)
    small = (rng.random((40, 48)) * 50 + np.linspace(0, 100, 48)).astype(np.float32)
    img = _nd(small[None, None, None])
    out = call(service, "live_open", {"session": "small", "image": "i", "title": "small"}, img)
    assert "error" not in out, out
    assert out["note"] == "scale(s) 16 left out: the image is too small for them"
    assert 16 not in out["spec"]["scales"] and 8 in out["spec"]["scales"]
    lab = np.zeros(small.shape, np.uint8)
    lab[5:8, 2:20], lab[30:33, 28:46] = 1, 2
    idx = np.flatnonzero(lab)
    out = call(service, "live_train", {"session": "small", "image": "i", "index": _nd(idx.astype(np.int64)),
                                       "value": _nd(lab.flat[idx]), "classes": ["a", "b"],
                                       "colors": [[255, 0, 0], [0, 255, 0]], "region": [0, 40, 0, 48]})
    assert "error" not in out and out["prediction"].ndarray().shape == (3, 40, 48), out
    # the Features dialog learns the largest scale of each feature this image holds, by the same rule
    info = call(service, "feature_presets", {"session": "small"})
    assert info["plane_size"] == 40
    from pixelforest.features import FeatureSpec, check_scales

    for fid, top in zip(info["ids"], info["max_scale"], strict=True):
        if top is None:
            assert fid in ("HoleFilling", "DarkHoleFilling")
            continue
        spec = FeatureSpec.from_dict({"scales": [top], "features": {fid: [top]}})
        check_scales(spec, (1, 1, 40, 48))  # the largest offered scale is accepted
        over = FeatureSpec.from_dict({"scales": [top + 0.01], "features": {fid: [top + 0.01]}})
        with pytest.raises(ValueError, match="too large for this image"):
            check_scales(over, (1, 1, 40, 48))  # and a little more is not
    assert "max_scale" not in call(service, "feature_presets", {})  # no session: nothing to fit
    from pixelforest.features import largest_scale, scale_min_size

    for size in range(3, 400):  # where 3.5 * (size - 1) / 3.5 rounds up, one step less
        top = largest_scale("GaussianSmoothing", size)
        assert scale_min_size(top) <= size < scale_min_size(top + 1e-9), size
    call(service, "live_close", {"session": "small"})
    explicit = FeatureSpec.preset("pixelforest-default").to_dict()
    out = call(service, "live_open", {"session": "small2", "image": "i", "features": explicit}, img)
    assert "scale 16.0 of" in out["error"] and "too large for this image" in out["error"]
    call(service, "live_close", {"session": "small2"})


def test_live_resume_takes_the_labels_of_the_image_of_that_name(blobs2d, blobs_labels):
    """A classifier saved from two images of one size resumes on each the labels of that image;
    on a third, differently named image of that size it says which images it holds, instead of
    taking the first one's labels."""
    from pixelforest.interactive import Session
    from pixelforest.live import LiveSession

    live = LiveSession("minimal", trees=5, seed=0)
    other = np.flipud(blobs_labels).copy()
    for key, lab in (("a", blobs_labels), ("b", other)):
        s = Session(blobs2d, "minimal", name=f"{key}.tif")
        live.add_image(key, s)
        idx = np.flatnonzero(lab)
        s.set_labels(idx, lab.flat[idx])
    live.set_classes(["x", "y"], [[255, 0, 0], [0, 0, 255]])
    clf = live.train()
    again = LiveSession("minimal")
    again.add_image("b", Session(blobs2d, "minimal", name="b.tif"))
    idx, val = again.resume("b", clf)
    assert np.array_equal(idx, np.flatnonzero(other)) and again.resumed_from == "b.tif"
    third = LiveSession("minimal")
    third.add_image("c", Session(blobs2d, "minimal", name="c.tif"))
    with pytest.raises(ValueError, match="labels of 2 images of this size \\('a.tif', 'b.tif'\\) and none is named "
                                         "'c.tif'"):
        third.resume("c", clf)


def test_nan_pixels_get_a_message_in_fijis_words(service, blobs2d):
    """A 32-bit image with NaN holes: the worker names the image and the ImageJ command that fixes it."""
    holes = blobs2d.copy()
    holes[10:12, 10:12] = np.nan
    out = call(service, "live_open", {"session": "nan", "image": "i", "features": "minimal", "title": "holes.tif"},
               _nd(holes[None, None, None]))
    assert out["error"].startswith("holes.tif has NaN or infinite pixel values") and "Remove NaNs" in out["error"], out
