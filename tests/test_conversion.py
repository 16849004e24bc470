"""ilastik interoperability: TIFF <-> HDF5 like ilastik4ij, ilastik-style exports, .ilp out."""

from __future__ import annotations

import json
import shutil

import h5py
import numpy as np
import pytest
import tifffile

import pixelforest as pf
from pixelforest.cli import main
from pixelforest.conversion import convert_file
from pixelforest.io.hdf5 import ilastik4ij_chunks, read_hdf5
from pixelforest.io.ilp import IlastikProject, write_ilp
from pixelforest.io.images import read_image

ILASTIK4IJ_AXISTAGS = {"axes": [{"key": "t", "typeFlags": 8}, {"key": "z", "typeFlags": 2},
                                {"key": "y", "typeFlags": 2}, {"key": "x", "typeFlags": 2},
                                {"key": "c", "typeFlags": 1}]}
DTYPES = ["int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64", "float32", "float64"]
LAYOUTS = {"yx": (30, 40), "zyx": (5, 30, 40), "cyx": (3, 30, 40), "tyx": (2, 30, 40), "tzcyx": (2, 4, 2, 30, 40)}


def _data(shape, dtype, seed=0):
    rng = np.random.default_rng(seed)
    dt = np.dtype(dtype)
    if dt.kind == "f":
        return rng.normal(0, 100, shape).astype(dt)
    info = np.iinfo(dt)
    return rng.integers(info.min, info.max, size=shape, endpoint=True, dtype=dt)


def _write_tiff(path, arr, axes):
    ij = arr.dtype in (np.uint8, np.uint16, np.float32)
    order = "".join(a for a in "tzcyx" if a in axes)
    data = np.transpose(arr, [axes.index(a) for a in order])
    tifffile.imwrite(path, data, imagej=ij, metadata={"axes": order.upper()}, photometric="minisblack")
    return order


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("axes", list(LAYOUTS))
def test_tiff_hdf5_round_trip_every_dtype_and_layout(tmp_path, dtype, axes):
    arr = _data(LAYOUTS[axes], dtype)
    src = tmp_path / "in.tif"
    order = _write_tiff(src, arr, axes)
    row = convert_file(src, tmp_path / "in.h5", compression=3)
    with h5py.File(tmp_path / "in.h5", "r") as f:
        d = f["data"]
        assert d.dtype == np.dtype(dtype) and d.ndim == 5
        assert json.loads(d.attrs["axistags"]) == ILASTIK4IJ_AXISTAGS
        assert d.chunks == ilastik4ij_chunks(d.shape) and d.compression == "gzip" and d.compression_opts == 3
    assert row["shape"] == list(d.shape)
    back = convert_file(f"{tmp_path / 'in.h5'}/data", tmp_path / "back.tif")
    got, got_axes = read_image(tmp_path / "back.tif")
    from pixelforest import axes as A

    assert np.array_equal(A.to_canonical(got, got_axes), A.to_canonical(arr, axes)), (got_axes, back)
    assert order  # written with axes metadata


def test_ilastik4ij_chunk_rule():
    assert ilastik4ij_chunks((1, 1, 1024, 60, 3)) == (1, 1, 128, 60, 1)
    assert ilastik4ij_chunks((2, 40, 512, 20, 1)) == (1, 32, 32, 20, 1)


def test_rgb_split_into_channels(tmp_path):
    rgb = _data((20, 24, 3), "uint8")
    tifffile.imwrite(tmp_path / "rgb.tif", rgb, photometric="rgb")
    convert_file(tmp_path / "rgb.tif", tmp_path / "rgb.h5")
    with h5py.File(tmp_path / "rgb.h5", "r") as f:
        assert f["data"].shape == (1, 1, 20, 24, 3)
        assert np.array_equal(f["data"][0, 0], rgb)


@pytest.mark.parametrize("case,axes", [("2d", "yx"), ("3d", "zyx"), ("2d3c", "yxc"), ("5t2d1c", "tyxc")])
def test_ilastik_layout_matches_ilastik_files(ilastik_tests, tmp_path, case, axes):
    """--layout ilastik and predict exports write what ilastik's headless export wrote in ilastik-tests."""
    with h5py.File(ilastik_tests / "inputdata" / f"{case}_Probabilities.h5", "r") as f:
        ref = f["exported_data"]
        ref_tags, ref_dtype, ref_shape = json.loads(ref.attrs["axistags"]), ref.dtype, ref.shape
    out = tmp_path / "p.h5"
    assert main(["predict", str(ilastik_tests / f"PixelClassification{case}.ilp"),
                 f"{ilastik_tests / 'inputdata' / case}.h5/data", "--axes", axes, "-o", str(out), "-q"]) == 0
    with h5py.File(out, "r") as f:
        ours = f["exported_data"]
        assert ours.dtype == ref_dtype and ours.shape == ref_shape
        assert json.loads(ours.attrs["axistags"]) == ref_tags  # vigra's full axistags, same fields and flags
        assert tuple(ours.attrs["drange"]) == (0.0, 1.0) and ours.attrs["display_mode"] == "default"
    # raw data converted with the ilastik layout: the input's axes + c
    convert_file(f"{ilastik_tests / 'inputdata' / case}.h5/data", tmp_path / "raw.h5", layout="ilastik", axes=axes)
    with h5py.File(tmp_path / "raw.h5", "r") as f:
        keys = [a["key"] for a in json.loads(f["exported_data"].attrs["axistags"])["axes"]]
        assert "".join(keys) == (axes if "c" in axes else axes + "c")


def test_hdf5_import_rules(tmp_path):
    p = tmp_path / "g.h5"
    with h5py.File(p, "w") as f:
        f["a"] = np.zeros((10, 12, 3), np.uint8)  # last dim <= 4: yxc
        f["b"] = np.zeros((10, 12, 7), np.uint8)  # else zyx
        f["c"] = np.zeros((4, 10, 12, 2), np.uint8)
        f["d"] = np.zeros((2, 4, 10, 12, 2), np.uint8)
    assert [read_hdf5(p, k)[1] for k in "abcd"] == ["yxc", "zyx", "zyxc", "tzyxc"]


def test_predict_exports_zarr_and_export_dtype(tmp_path, blobs2d, blobs_labels):
    tifffile.imwrite(tmp_path / "img.tif", blobs2d)
    clf = pf.train(blobs2d, blobs_labels, features="minimal", seed=0, trees=10)
    pf.save(clf, tmp_path / "m.pfc")
    assert main(["predict", str(tmp_path / "m.pfc"), str(tmp_path / "img.tif"), "--output_format", "zarr",
                 "--export_dtype", "uint8", "--export_drange", "(0,255)", "-o", str(tmp_path) + "/", "-q"]) == 0
    arr, axes = read_image(tmp_path / "img_Probabilities.zarr")
    assert axes == "yxc" and arr.dtype == np.uint8
    assert np.array_equal(arr, np.rint(clf.predict(blobs2d).astype(np.float64) * 255).astype(np.uint8))
    import zarr

    z = zarr.open_group(str(tmp_path / "img_Probabilities.zarr"), mode="r")["exported_data"]
    assert list(z.attrs["drange"]) == [0.0, 255.0] and "axistags" in z.attrs


def test_convert_folders_from_one_command(shared_data, tmp_path, capsys):
    em, nuclei = shared_data("isbi2012-em"), shared_data("dsb2018-nuclei")
    assert main(["convert", str(em), str(nuclei / "images"), "-o", str(tmp_path / "h5"), "-q"]) == 0
    out = capsys.readouterr().out
    n_inputs = len(list(em.glob("*.tif"))) + len(list((nuclei / "images").glob("*.tif")))
    assert f"converted {n_inputs}, skipped 0, failed 0 of {n_inputs} file(s)" in out
    with h5py.File(tmp_path / "h5" / "train-volume.h5", "r") as f:
        assert f["data"].shape == (1, 30, 512, 512, 1)
        assert np.array_equal(f["data"][0, :, :, :, 0], tifffile.imread(em / "train-volume.tif"))
    # again: everything already converted is skipped
    assert main(["convert", str(em), str(nuclei / "images"), "-o", str(tmp_path / "h5"), "-q"]) == 0
    assert f"converted 0, skipped {n_inputs}" in capsys.readouterr().out


def test_convert_reports_failures_and_leaves_no_partial_file(tmp_path, capsys):
    good = tmp_path / "good.tif"
    tifffile.imwrite(good, np.zeros((10, 10), np.uint8))
    bad = tmp_path / "bad.tif"
    bad.write_bytes(good.read_bytes()[:50])
    assert main(["convert", str(good), str(bad), "-o", str(tmp_path / "out"), "-q"]) == 1
    assert "bad.tif: cannot read image" in capsys.readouterr().err
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["good.h5"]


def _structure(path):
    out = {}
    skip = ("PixelClassification/ClassifierForests", "PixelClassification/ClassifierFactory",
            "PixelClassification/Bookmarks", "Prediction Export/ExportDtype")

    def visit(name, obj):
        if name.startswith(skip):
            return
        if isinstance(obj, h5py.Dataset):
            lane_free = name.replace("lane0000", "laneN")
            if "LabelSets" in name:
                lane_free = "/".join(name.split("/")[:2]) + "/labelsN/blockN"
            out[lane_free] = (obj.dtype.kind, tuple(sorted(obj.attrs.keys())))
    with h5py.File(path, "r") as f:
        f.visititems(visit)
    return out


@pytest.mark.parametrize("case", ["2d", "2d3c", "5t2d1c"])
def test_written_ilp_matches_ilastik_projects(ilastik_tests, tmp_path, case):
    """Structural diff against ilastik's own projects, and a read-back with our reader."""
    work = tmp_path / "proj"
    shutil.copytree(ilastik_tests, work, ignore=shutil.ignore_patterns("*Probabilities*", "*Segmentation*"))
    with IlastikProject(work / f"PixelClassification{case}.ilp") as ilp:
        imgs, labs, axes, names = ilp.training_data()
        spec = ilp.feature_spec()
        classes = ilp.label_names()
    clf = pf.train(imgs, labs, features=spec, axes=axes, classes=classes, image_names=names, seed=0, trees=5)
    out = work / f"ours_{case}.ilp"
    write_ilp(clf, out)
    ref = _structure(work / f"PixelClassification{case}.ilp")
    ours = _structure(out)
    missing = {k: v for k, v in ref.items() if k not in ours}
    assert not missing, missing
    for k, v in ref.items():
        assert ours[k] == v, (k, ours[k], v)
    with IlastikProject(out) as back:
        assert back.label_names() == classes
        assert back.feature_spec().cells() == spec.cells()
        imgs2, labs2, axes2, _ = back.training_data()
    assert axes2 == axes
    for a, b in zip(labs, labs2, strict=True):
        assert np.array_equal(a, b)
    for a, b in zip(imgs, imgs2, strict=True):
        assert np.array_equal(a, b)


def test_written_ilp_keeps_ilastiks_features_only(ilastik_tests, tmp_path, capsys):
    """A classifier with pixelforest's own features (the default's top-hats and hole filling) exports the cells ilastik
    has, says which it left out, and the project reads back with ilastik's six feature ids."""
    import h5py

    from pixelforest.cli import main

    work = tmp_path / "proj"
    shutil.copytree(ilastik_tests, work, ignore=shutil.ignore_patterns("*Probabilities*", "*Segmentation*"))
    with IlastikProject(work / "PixelClassification2d.ilp") as ilp:
        imgs, labs, axes, names = ilp.training_data()
    clf = pf.train(imgs, labs, features="pixelforest-default", axes=axes, image_names=names, seed=0, trees=5)
    model = tmp_path / "m.pfc"
    pf.save(clf, model)
    out = work / "ours.ilp"
    assert main(["export-ilp", str(model), "-o", str(out)]) == 0
    said = capsys.readouterr().out
    assert "left out, as ilastik has no such feature: Dark Hole Filling (σ=1)" in said and "Top-Hat (σ=16)" in said
    with h5py.File(out, "r") as f:
        assert [i.decode() for i in f["FeatureSelections/FeatureIds"][()]] == list(pf.features.ILASTIK_FEATURE_IDS)
        assert f["FeatureSelections/SelectionMatrix"].shape == (6, 6)
    with IlastikProject(out) as back:
        assert back.feature_spec().cells() == [c for c in clf.spec.cells() if c[0] in pf.features.ILASTIK_FEATURE_IDS]
    with pytest.warns(UserWarning, match="ilastik has no Dark Hole Filling .*Top-Hat"):
        write_ilp(clf, work / "again.ilp")
    only = pf.train(imgs, labs, features={"features": {"TopHat": [1.0]}}, axes=axes, image_names=names, seed=0, trees=5)
    with pytest.raises(ValueError, match="uses only features ilastik does not have"):
        write_ilp(only, work / "none.ilp")
