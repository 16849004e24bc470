"""The plugin's Python service, driven through Appose exactly as the plugin drives it
(a real worker process, images in shared memory), from Python's Appose client."""

from __future__ import annotations

import json
import sys
import threading

import numpy as np
import pytest

import pixelforest as pf

appose = pytest.importorskip("appose", reason="appose is not installed (pip install 'pixelforest[fiji]')")
from appose.service import Service  # noqa: E402

WORKER = "import appose.python_worker; appose.python_worker.main()"
SCRIPT = "import pixelforest.worker as _pfw\n_pfw.handle(task, request, params, image)\n"


@pytest.fixture(scope="module")
def service():
    svc = Service(".", None, sys.executable, "-c", WORKER)
    yield svc
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
    rois = json.dumps([{"name": "class:blob #1", "group": 0, "color": None, "kind": "area"},
                       {"name": "", "group": 0, "color": [0, 0, 255], "kind": "area"}])
    out = call(service, "train", {"roi_index": _nd(index), "rois": rois, "features": "minimal", "trees": 20,
                                  "seed": 0, "output": str(tmp_path / "m.pfc")}, img)
    assert "error" not in out, out
    assert out["classes"] == "blob,#0000ff" and out["n_features"] == 9
    res = call(service, "predict", {"classifier": str(tmp_path / "m.pfc"), "source": "probabilities"}, img)
    prob = res["result"].ndarray().copy()
    assert prob.shape == (1, 1, 2) + blobs2d.shape
    engine = pf.load(tmp_path / "m.pfc").predict(blobs2d)
    assert np.abs(np.moveaxis(prob[0, 0], 0, -1) - engine).max() <= 1e-6
    assert res["labels"].split("\n") == ["blob", "#0000ff"] and res["colors"].split(";")[1] == "0,0,255"
    # Apply after Train on the same image: every feature from the worker's cache
    assert out["computed_cells"] == len(pf.FeatureSpec.preset("minimal").cells()) and res["computed_cells"] == 0
    # another selection computes only the cells the first did not have
    spec = {"scales": [1.0, 2.0], "features": {"GaussianSmoothing": [1.0, 2.0], "LaplacianOfGaussian": [1.0]}}
    out = call(service, "train", {"roi_index": _nd(index), "rois": rois, "features": json.dumps(spec), "trees": 5}, img)
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
    clf.save(tmp_path / "one.pfc")
    out = call(service, "predict", {"classifier": str(tmp_path / "one.pfc")}, rgb)
    assert "has 3 channel(s) but the classifier expects 1" in out["error"]


def test_cancel(service, tmp_path):
    """Esc in ImageJ cancels the task: the worker stops at the next block and says so."""
    rng = np.random.default_rng(0)
    big = rng.random((1, 1, 1, 1024, 1024)).astype(np.float32)
    lab = np.zeros((1024, 1024), np.uint8)
    lab[:10, :10] = 1
    lab[-10:, -10:] = 2
    pf.train(big[0, 0, 0], lab, features="ilastik-default", trees=10).save(tmp_path / "m.pfc")
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
