"""pixelforest.daskpipe: the block-wise prediction as a Dask graph gives Classifier.predict's result."""

from __future__ import annotations

import sys

import h5py
import numpy as np
import pytest

import pixelforest as pf
from pixelforest.axes import to_canonical
from pixelforest.daskpipe import compute_into, predict_graph
from pixelforest.io.lazy import BlockOutput, LazyImage

pytest.importorskip("dask.array", reason="dask is not installed (pip install 'pixelforest[dask]')")

SPEC = {"GaussianSmoothing": [0.7, 2.0], "HessianOfGaussianEigenvalues": [1.0]}


@pytest.fixture(scope="module")
def clf2d():
    rng = np.random.default_rng(3)
    yy, xx = np.mgrid[0:50, 0:60]
    img = (rng.normal(0, 0.3, (50, 60)) + ((yy - 25) ** 2 + (xx - 30) ** 2 < 12 ** 2)).astype(np.float32)
    lab = np.zeros(img.shape, np.uint8)
    lab[22:28, 27:33] = 1
    lab[2:6, 2:20] = 2
    return img, pf.train(img, lab, features=pf.FeatureSpec.from_cells(SPEC), trees=8, seed=0)


@pytest.mark.parametrize("source", ["probabilities", "simple-segmentation", "uncertainty"])
@pytest.mark.parametrize("block", [(1, 17, 23), (1, 50, 60), (1, 8, 60)])
def test_graph_equals_predict(clf2d, source, block):
    img, clf = clf2d
    want = clf.predict(img, source)
    img5 = to_canonical(img, "yx")
    g = predict_graph(clf, img5, source, block_shape=block[1:])
    assert g.shape == img5.shape[:4] + (want.shape[-1] if want.ndim == 3 else 1,)
    got = g.compute(scheduler="synchronous")
    assert got.dtype == want.dtype
    assert np.array_equal(got[0, 0] if want.ndim == 3 else got[0, 0, ..., 0], want)


def test_compute_into_an_array_and_a_block_output(clf2d, tmp_path):
    img, clf = clf2d
    want = clf.predict(img)
    img5 = to_canonical(img, "yx")
    g = predict_graph(clf, img5, block_shape=(13, 17))
    calls = []
    out = np.full(g.shape, -1.0, np.float32)
    compute_into(g, out, scheduler="threads", progress=lambda done, total: calls.append((done, total)))
    assert np.array_equal(out[0, 0], want)
    n = int(np.prod(g.numblocks))
    assert n == 4 * 4 and calls[-1] == (n, n) and [d for d, _ in calls] == sorted(d for d, _ in calls)
    # from a file read lazily by each task, into a file written block by block
    np.save(tmp_path / "img.npy", img)
    lazy = LazyImage(tmp_path / "img.npy")
    g = predict_graph(clf, lazy, "simple-segmentation", block_shape=(20, 25))
    bo = BlockOutput(tmp_path / "seg.h5", "yx", g.shape, np.uint8)
    compute_into(g, bo, scheduler="synchronous")
    bo.close()
    with h5py.File(tmp_path / "seg.h5", "r") as f:
        assert np.array_equal(f["exported_data"][..., 0], clf.predict(img, "simple-segmentation"))


def test_graph_in_3d_with_time(tmp_path):
    rng = np.random.default_rng(1)
    vol = rng.normal(size=(2, 12, 20, 22)).astype(np.float32)  # t z y x
    vol[:, 4:8, 5:15, 5:15] += 2
    lab = np.zeros(vol.shape, np.uint8)
    lab[0, 5:7, 8:12, 8:12] = 1
    lab[1, 0:2, 0:4, 0:20] = 2
    clf = pf.train(vol, lab, axes="tzyx", features=pf.FeatureSpec.from_cells({"GaussianSmoothing": [1.0]}), trees=5,
                   seed=0)
    want = clf.predict(vol, axes="tzyx")
    g = predict_graph(clf, to_canonical(vol, "tzyx"), block_shape=(5, 7, 9))
    assert np.array_equal(g.compute(scheduler="synchronous"), want)


def test_graph_checks_the_image(clf2d):
    img, clf = clf2d
    with pytest.raises(ValueError, match="2 channel"):
        predict_graph(clf, to_canonical(np.stack([img, img], -1), "yxc"))
    with pytest.raises(ValueError, match="3D"):
        predict_graph(clf, to_canonical(np.stack([img] * 3), "zyx"))


def test_without_dask_a_clear_import_error(clf2d, monkeypatch):
    img, clf = clf2d
    monkeypatch.setitem(sys.modules, "dask.array", None)  # as if dask were not installed
    with pytest.raises(ImportError, match=r"pip install 'pixelforest\[dask\]'"):
        predict_graph(clf, to_canonical(img, "yx"))
