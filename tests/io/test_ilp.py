"""Reading ilastik projects, and fidelity with ilastik's own stored forests (real data)."""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest

import pixelforest as pf
from pixelforest.io.ilp import IlastikProject, IlpError, parse_block_slice

ROOT = Path(__file__).resolve().parents[2]

# labelled pixels per project = the forests' training row count stored by ilastik
N_LABELS = {"2d": 466, "2d3c": 412, "3d": 32, "5t2d1c": 154}
AXES = {"2d": "yx", "2d3c": "yxc", "3d": "zyx", "5t2d1c": "tyxc"}


def _conformance():
    spec = importlib.util.spec_from_file_location("conformance", ROOT / "scripts" / "conformance.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_parse_block_slice():
    assert parse_block_slice("[281:457,412:504,0:1]") == (slice(281, 457), slice(412, 504), slice(0, 1))
    with pytest.raises(IlpError):
        parse_block_slice("281:457")


@pytest.mark.parametrize("case", list(N_LABELS))
def test_read_project(ilastik_tests, case):
    with IlastikProject(ilastik_tests / f"PixelClassification{case}.ilp") as ilp:
        assert ilp.version == "1.2.2rc4"
        assert ilp.structure_tensor_rule == "vigra"
        assert ilp.label_names() == ["Label 1", "Label 2"]
        assert ilp.label_colors() == [(255, 0, 0), (0, 255, 0)]
        lanes = ilp.lanes()
        assert len(lanes) == 1 and lanes[0].nickname == case
        assert Path(lanes[0].resolved.rsplit("/", 1)[0]).resolve() \
            == (ilastik_tests / "inputdata" / f"{case}.h5").resolve()
        raw, axes = ilp.raw_data(lanes[0])
        assert axes == AXES[case]
        lab = ilp.labels(lanes[0], raw.shape, axes)
        assert lab.shape == tuple(raw.shape[axes.index(a)] for a in axes.replace("c", ""))
        assert int((lab > 0).sum()) == N_LABELS[case]
        assert set(np.unique(lab)) == {0, 1, 2}
        forest = ilp.forest()
        assert forest.n_trees == 100 and forest.n_classes == 2


def test_label_block_placement(ilastik_tests):
    with IlastikProject(ilastik_tests / "PixelClassification2d.ilp") as ilp:
        lane = ilp.lanes()[0]
        lab = ilp.labels(lane, (1024, 1344), "yx")
    with h5py.File(ilastik_tests / "PixelClassification2d.ilp", "r") as f:
        block = f["PixelClassification/LabelSets/labels000/block0000"]
        sl = parse_block_slice(block.attrs["blockSlice"])
        data = block[()][..., 0]
    region = lab[sl[0], sl[1]]
    assert np.array_equal(region[data > 0], data[data > 0])
    assert lab[839, 600] == 1 and lab[396, 913] == 1  # the two single-pixel blocks


@pytest.mark.parametrize("case", list(N_LABELS))
def test_stored_forest_is_exact(ilastik_tests, case):
    """ilastik's stored forest on our features reproduces ilastik's exported probabilities."""
    r = _conformance().stored_forest(ilastik_tests, case)
    assert r["argmax"] >= 0.9999, r
    assert r["mean_dp"] <= 1e-4, r


@pytest.mark.parametrize("case", ["2d", "5t2d1c"])
def test_retrained_from_project_labels(ilastik_tests, case):
    """Forests retrained from the project's labels agree with ilastik's output as well as two random
    forests do: the mean over five seeds (single forests of 154 labels vary by about 0.02)."""
    r, _ = _conformance().retrained_mean(ilastik_tests, case)
    assert r["n_labels"] == N_LABELS[case]
    assert r["iou"] >= 0.97, r
    assert r["mean_dp"] <= 0.03, r


def test_project_relocated_with_its_data(ilastik_tests, tmp_path):
    """Raw-data paths resolve relative to the .ilp, wherever the project is moved."""
    shutil.copy(ilastik_tests / "PixelClassification2d3c.ilp", tmp_path / "moved.ilp")
    (tmp_path / "inputdata").mkdir()
    shutil.copy(ilastik_tests / "inputdata" / "2d3c.h5", tmp_path / "inputdata" / "2d3c.h5")
    with IlastikProject(tmp_path / "moved.ilp") as ilp:
        imgs, labs, axes, names = ilp.training_data()
    assert Path(names[0].rsplit("/", 1)[0]).resolve() == (tmp_path / "inputdata" / "2d3c.h5").resolve()
    assert imgs[0].shape == (73, 187, 3) and axes == ["yxc"]


def test_missing_raw_data_error(ilastik_tests, tmp_path):
    shutil.copy(ilastik_tests / "PixelClassification3d.ilp", tmp_path / "alone.ilp")
    with IlastikProject(tmp_path / "alone.ilp") as ilp:
        with pytest.raises(IlpError, match=r"raw data of lane 0 \('inputdata/3d.h5/data'.*does not exist"):
            ilp.training_data()


def test_not_a_project(tmp_path):
    p = tmp_path / "x.ilp"
    with h5py.File(p, "w") as f:
        f["data"] = np.zeros(3)
    with pytest.raises(IlpError, match="not an ilastik Pixel Classification project"):
        IlastikProject(p)
    q = tmp_path / "y.ilp"
    q.write_bytes(b"\x89HDF\r\n\x1a\n" + b"\0" * 20)
    with pytest.raises(IlpError, match="not a readable ilastik project"):
        IlastikProject(q)


def test_load_ilp_as_classifier_and_predict_other_image(ilastik_tests):
    clf = pf.load(ilastik_tests / "PixelClassification2d.ilp")
    assert clf.source == "ilastik project" and clf.n_features == 28
    with h5py.File(ilastik_tests / "inputdata" / "2d.h5", "r") as f:
        crop = f["data"][100:300, 200:500]
    p = clf.predict(crop)
    assert p.shape == (200, 300, 2)
    with pytest.raises(ValueError, match="expects 1"):
        clf.predict(np.stack([crop] * 3, -1), channel_axis=-1)


def test_project_internal_lane(ilastik_tests, tmp_path):
    """A lane whose raw data are copied into the project file (ilastik's 'Copy Into Project File')."""
    p = tmp_path / "internal.ilp"
    shutil.copy(ilastik_tests / "PixelClassification2d3c.ilp", p)
    with h5py.File(ilastik_tests / "inputdata" / "2d3c.h5", "r") as f:
        raw = f["data"][()]
    with h5py.File(p, "r+") as f:
        info = f["Input Data/infos/lane0000/Raw Data"]
        did = info["datasetId"][()].decode()
        del info["location"]
        info["location"] = b"ProjectInternal"
        f.create_dataset(f"Input Data/local_data/{did}", data=raw)
    with IlastikProject(p) as ilp:
        imgs, labs, axes, _ = ilp.training_data()
    assert np.array_equal(imgs[0], raw) and axes == ["yxc"] and int((labs[0] > 0).sum()) == N_LABELS["2d3c"]
