"""Batch processing, out-of-core prediction and Dask."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
import tifffile

import pixelforest as pf
from pixelforest.batch import predict_file, predict_files
from pixelforest.cli import main
from pixelforest.features import FeatureSpec
from pixelforest.io.lazy import LazyImage

SPEC = FeatureSpec.from_cells({"GaussianSmoothing": [0.3, 1.6], "HessianOfGaussianEigenvalues": [1.0],
                               "StructureTensorEigenvalues": [3.5]})


@pytest.fixture(scope="module")
def volume():
    rng = np.random.default_rng(7)
    vol = rng.normal(size=(20, 70, 90)).astype(np.float32)
    vol[5:15, 20:50, 30:70] += 3
    lab = np.zeros(vol.shape, np.uint8)
    lab[8:10, 30:40, 40:50] = 1
    lab[1:3, 2:8, 2:80] = 2
    return vol, pf.train(vol, lab, features=SPEC, seed=0, trees=10)


def _h5(path, arr, axes=None):
    with h5py.File(path, "w") as f:
        d = f.create_dataset("data", data=arr, chunks=True)
        if axes:
            from pixelforest.io.export import axistags_json

            d.attrs["axistags"] = axistags_json(axes)
    return f"{path}/data"


def test_out_of_core_equals_whole(volume, tmp_path):
    vol, clf = volume
    src = _h5(tmp_path / "vol.h5", vol)
    whole = clf.predict(vol)
    for fmt, name in (("hdf5", "o.h5"), ("zarr", "o.zarr")):
        r = predict_file(clf, src, "probabilities", fmt, target=tmp_path / name, block_shape=(7, 23, 31))
        from pixelforest.io.images import read_image

        out, axes = read_image(tmp_path / name)
        assert axes == "zyxc" and r["shape"] == list(out.shape)
        assert np.array_equal(out, whole)
    # a TIFF read piecewise through tifffile's zarr store, a memory budget instead of a block shape
    tifffile.imwrite(tmp_path / "vol.tif", vol, imagej=True, metadata={"axes": "ZYX"})
    lazy = LazyImage(tmp_path / "vol.tif")
    assert lazy.shape == (1, 20, 70, 90, 1) \
        and np.array_equal(lazy[0:1, 3:5, 10:20, 5:9][0, ..., 0], vol[3:5, 10:20, 5:9])
    predict_file(clf, tmp_path / "vol.tif", "simple-segmentation", "hdf5", target=tmp_path / "seg.h5",
                 memory_bytes=2 * 2**20)
    with h5py.File(tmp_path / "seg.h5", "r") as f:
        assert np.array_equal(f["exported_data"][..., 0], clf.predict(vol, "simple-segmentation"))


def test_batch_folder_refuses_mismatched_inputs_and_resumes(volume, tmp_path, capsys):
    vol, clf = volume
    pf.save(clf, tmp_path / "m.pfc")
    ins = tmp_path / "in"
    ins.mkdir()
    _h5(ins / "a.h5", vol)
    _h5(ins / "b.h5", vol[:, ::-1].copy())
    _h5(ins / "c3.h5", np.stack([vol] * 3, -1), axes="zyxc")  # 3 channels: refused up front
    (ins / "broken.h5").write_bytes(b"not hdf5")
    rc = main(["batch", str(tmp_path / "m.pfc"), str(ins), "-o", str(tmp_path / "out"), "-q"])
    cap = capsys.readouterr()
    assert rc == 1
    assert "batch: 2 done, 0 skipped, 2 failed of 4 file(s)" in cap.out
    assert "c3.h5: refused: 3-channel 3D image" in cap.err and "expects 1-channel 3D images" in cap.err
    assert "broken.h5" in cap.err
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a_Probabilities.h5", "b_Probabilities.h5"]
    with h5py.File(tmp_path / "out" / "b_Probabilities.h5", "r") as f:
        assert np.array_equal(f["exported_data"][()], clf.predict(vol[:, ::-1].copy()))
    rc = main(["batch", str(tmp_path / "m.pfc"), "--raw_data", str(ins / "a.h5"), str(ins / "b.h5"),
               "-o", str(tmp_path / "out"), "-q"])
    assert rc == 0 and "0 done, 2 skipped" in capsys.readouterr().out


def test_interrupted_file_leaves_nothing_behind(volume, tmp_path):
    vol, clf = volume
    src = _h5(tmp_path / "vol.h5", vol)

    def interrupt(done, total):
        if done == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        predict_file(clf, src, "probabilities", "hdf5", target=tmp_path / "out.h5", block_shape=(5, 30, 30),
                     progress=interrupt)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["vol.h5"]
    rows = predict_files(clf, [src], out_dir=tmp_path, block_shape=(5, 30, 30))
    assert rows[0]["status"] == "done" and (tmp_path / "vol_Probabilities.h5").exists()


def test_parallel_files_equal_sequential(volume, tmp_path):
    vol, clf = volume
    pf.save(clf, tmp_path / "m.pfc")
    files = [_h5(tmp_path / f"v{i}.h5", np.roll(vol, 7 * i, axis=2)) for i in range(3)]
    rows = predict_files(clf, files, out_dir=tmp_path / "par", jobs=2, model_path=tmp_path / "m.pfc")
    assert [r["status"] for r in rows] == ["done"] * 3
    for i in range(3):
        with h5py.File(tmp_path / "par" / f"v{i}_Probabilities.h5", "r") as f:
            assert np.array_equal(f["exported_data"][()], clf.predict(np.roll(vol, 7 * i, axis=2)))


def test_dask_threads_and_distributed_cluster_equal_local(volume, tmp_path):
    pytest.importorskip("dask.array", reason="dask is not installed (pip install 'pixelforest[dask]')")
    distributed = pytest.importorskip("distributed", reason="dask.distributed is not installed")
    vol, clf = volume
    src = _h5(tmp_path / "vol.h5", vol)
    local = clf.predict(vol)
    predict_file(clf, src, "probabilities", "hdf5", target=tmp_path / "threads.h5", block_shape=(10, 40, 40),
                 scheduler="threads")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        predict_file(clf, src, "probabilities", "zarr", target=tmp_path / "cluster.zarr", block_shape=(10, 40, 40),
                     scheduler=cluster.scheduler_address)
    with h5py.File(tmp_path / "threads.h5", "r") as f:
        assert np.array_equal(f["exported_data"][()], local)
    from pixelforest.io.images import read_image

    assert np.array_equal(read_image(tmp_path / "cluster.zarr")[0], local)
