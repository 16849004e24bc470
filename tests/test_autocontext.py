"""Auto-context (``stages=2``, as ilastik's Autocontext workflow): trained, saved, and applied alike by
every predict path: whole image, blocks, lazily read files, Dask, the CLI."""

from __future__ import annotations

import json
import zipfile

import h5py
import numpy as np
import pytest
import tifffile

import pixelforest as pf
from pixelforest.batch import predict_file
from pixelforest.cli import main
from pixelforest.features import compute_canonical, resolve_spec

SPEC = {"scales": [0.7, 1.6], "features": {"GaussianSmoothing": [0.7, 1.6], "HessianOfGaussianEigenvalues": [1.6]}}


@pytest.fixture
def two_stage(blobs2d, blobs_labels):
    return pf.train(blobs2d, blobs_labels, features="minimal", trees=10, seed=0, stages=2, classes=["blob", "bg"])


def test_second_stage_sees_image_and_first_stage_probabilities(blobs2d, blobs_labels, two_stage):
    clf = two_stage
    assert clf.stages == 2 and clf.context is not None and clf.context.stages == 1
    assert clf.n_inputs == 1 + 2 and clf.n_features == clf.spec.n_features(3, 2) == clf.forest.n_features
    assert clf.training["stages"] == 2 and len(clf.labels) == 1 and clf.context.labels == []
    # the first stage is exactly the one-stage classifier of the same labels and seed
    one = pf.train(blobs2d, blobs_labels, features="minimal", trees=10, seed=0, classes=["blob", "bg"])
    p1 = one.predict(blobs2d)
    assert np.array_equal(clf.context.predict(blobs2d), p1)
    # the second stage's features are the bank on [image, p1] (its forest sees exactly those)
    stacked = np.concatenate([blobs2d[..., None], p1], axis=-1)[None, None]
    feats = compute_canonical(stacked, clf.spec)[0, 0]
    expect = clf.forest.predict_proba(feats.reshape(-1, feats.shape[-1])).reshape(p1.shape)
    assert np.array_equal(clf.predict(blobs2d), expect)
    assert np.array_equal(clf.predict(blobs2d, "features"), feats)


def test_blockwise_lazy_and_saved_equal_whole(blobs2d, two_stage, tmp_path):
    clf = two_stage
    whole = clf.predict(blobs2d)
    for block in [(17, 23), (40, 50), (96, 7)]:
        assert np.array_equal(clf.predict(blobs2d, block_shape=block), whole), block
    pf.save(clf, tmp_path / "m.pfc")
    manifest = json.loads(zipfile.ZipFile(tmp_path / "m.pfc").read("manifest.json"))
    assert manifest["format_version"] == 2 and manifest["stages"] == 2
    assert "context_forest_roots" in manifest["arrays"] and manifest["context"]["context"] is None
    back = pf.load(tmp_path / "m.pfc")
    assert back.stages == 2 and np.array_equal(back.predict(blobs2d), whole)
    with h5py.File(tmp_path / "img.h5", "w") as f:
        f.create_dataset("data", data=blobs2d, chunks=(16, 16))
    predict_file(back, f"{tmp_path / 'img.h5'}/data", "probabilities", "hdf5", target=tmp_path / "o.h5",
                 block_shape=(30, 35))
    with h5py.File(tmp_path / "o.h5", "r") as f:
        assert np.array_equal(f["exported_data"][()], whole)
    # a one-stage classifier is still written as format version 1 (older pixelforest reads it)
    pf.save(pf.train(blobs2d, (blobs2d > 60).astype(np.uint8) + 1, features="minimal", trees=2), tmp_path / "one.pfc")
    assert json.loads(zipfile.ZipFile(tmp_path / "one.pfc").read("manifest.json"))["format_version"] == 1


def test_3d_normalised_three_stages_blockwise_and_dask(tmp_path):
    rng = np.random.default_rng(3)
    vol = rng.normal(size=(14, 40, 48)).astype(np.float32)
    vol[4:10, 10:30, 12:36] += 2.5
    lab = np.zeros(vol.shape, np.uint8)
    lab[6:8, 15:25, 20:30] = 1
    lab[0:2, 2:6, 2:40] = 2
    spec = resolve_spec(SPEC)
    from dataclasses import replace

    clf = pf.train(vol, lab, features=replace(spec, normalize="percentile"), trees=5, seed=1, stages=3)
    assert clf.stages == 3 and clf.total_halo() == 3 * spec.halo()
    whole = clf.predict(vol)
    assert np.array_equal(clf.predict(vol, block_shape=(5, 16, 20)), whole)
    pytest.importorskip("dask.array", reason="dask is not installed (pip install 'pixelforest[dask]')")
    with h5py.File(tmp_path / "v.h5", "w") as f:
        f.create_dataset("data", data=vol, chunks=True)
    predict_file(clf, f"{tmp_path / 'v.h5'}/data", "probabilities", "hdf5", target=tmp_path / "d.h5",
                 block_shape=(7, 20, 24), scheduler="threads")
    with h5py.File(tmp_path / "d.h5", "r") as f:
        assert np.array_equal(f["exported_data"][()], whole)


def test_cli_train_stages_info_predict(blobs2d, blobs_labels, tmp_path, capsys):
    img, lab, model = tmp_path / "cells.tif", tmp_path / "lab.tif", tmp_path / "m.pfc"
    tifffile.imwrite(img, blobs2d)
    tifffile.imwrite(lab, blobs_labels)
    assert main(["train", str(img), "--labels", str(lab), "--features", "minimal", "--trees", "10", "--seed", "0",
                 "--stages", "2", "-o", str(model), "-q"]) == 0
    assert "2 auto-context stages" in capsys.readouterr().out
    assert main(["info", str(model)]) == 0
    assert "auto-context: 2 stages" in capsys.readouterr().out
    assert main(["predict", str(model), str(img), "-q"]) == 0
    with h5py.File(tmp_path / "cells_Probabilities.h5", "r") as f:
        assert np.array_equal(f["exported_data"][()], pf.load(model).predict(blobs2d))
    # a Pixel Classification project holds one stage: exporting says so and writes nothing
    assert main(["export-ilp", str(model), "-o", str(tmp_path / "p.ilp")]) != 0
    assert "auto-context stages" in capsys.readouterr().err and not (tmp_path / "p.ilp").exists()
    with pytest.raises(SystemExit):
        main(["train", str(img), "--labels", str(lab), "--stages", "9", "-o", str(model)])


def test_bad_stages_refused(blobs2d, blobs_labels):
    for bad in (0, 5, 1.5, "2"):
        with pytest.raises(ValueError, match="stages must be an integer from 1 to 4"):
            pf.train(blobs2d, blobs_labels, features="minimal", trees=2, stages=bad)
