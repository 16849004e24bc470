"""pixelforest.ilastik: a classifier from an ilastik project's stored forest, and loading either kind
of classifier file (.pfc or .ilp, told apart by their first bytes)."""

from __future__ import annotations

import shutil

import h5py
import numpy as np
import pytest
import tifffile

import pixelforest as pf
from pixelforest.classifier import default_color
from pixelforest.features import compute_features
from pixelforest.ilastik import classifier_from_project, load_classifier
from pixelforest.io.ilp import IlastikProject, IlpError, write_ilp
from pixelforest.io.pfc import ClassifierFileError

CHANNELS_NDIM = {"2d3c": (3, 2), "3d": (1, 3), "5t2d1c": (1, 2)}


@pytest.fixture
def trained(tmp_path, blobs2d, blobs_labels):
    """A small classifier, its training image as a TIFF, and both kinds of classifier file."""
    tifffile.imwrite(tmp_path / "blobs.tif", blobs2d)
    clf = pf.train(blobs2d, blobs_labels, features="minimal", trees=4, seed=0, image_names=["blobs.tif"])
    pf.save(clf, tmp_path / "m.pfc")
    write_ilp(clf, tmp_path / "p.ilp", raw_data=[str(tmp_path / "blobs.tif")])
    return clf, tmp_path


def _copy_project(ilastik_tests, tmp_path, case):
    """The project and its raw data, copied so that they can be changed."""
    (tmp_path / "inputdata").mkdir()
    shutil.copy(ilastik_tests / f"PixelClassification{case}.ilp", tmp_path / "p.ilp")
    shutil.copy(ilastik_tests / "inputdata" / f"{case}.h5", tmp_path / "inputdata" / f"{case}.h5")
    return tmp_path / "p.ilp"


# ------------------------------------------------------------------ synthetic files


def test_pfc_and_ilp_told_apart_by_content_not_name(trained):
    clf, d = trained
    shutil.copy(d / "m.pfc", d / "named.ilp")
    back = load_classifier(d / "named.ilp")  # a ZIP archive: a pixelforest classifier, whatever its name
    assert back.class_names == clf.class_names and back.source == "pixelforest"
    shutil.copy(d / "p.ilp", d / "named.pfc")
    with pytest.raises(IlpError, match="holds no trained forest"):  # HDF5: read as an ilastik project
        load_classifier(d / "named.pfc")
    (d / "text.pfc").write_text("not a classifier")
    with pytest.raises(ClassifierFileError, match="not a pixelforest classifier"):
        load_classifier(d / "text.pfc")
    with pytest.raises(FileNotFoundError):
        load_classifier(d / "missing.ilp")


def test_project_without_a_forest_says_how_to_retrain(trained):
    _, d = trained
    with pytest.raises(IlpError, match=r"p\.ilp: the project holds no trained forest .*"
                                       r"`pixelforest train --labels p\.ilp -o MODEL`"):
        load_classifier(d / "p.ilp")
    with IlastikProject(d / "p.ilp") as ilp, pytest.raises(IlpError, match="holds no trained forest"):
        classifier_from_project(ilp)


def test_damaged_project_is_an_ilp_error(trained):
    _, d = trained
    data = (d / "p.ilp").read_bytes()
    (d / "cut.ilp").write_bytes(data[: len(data) // 3])  # an HDF5 signature, then a truncated file
    with pytest.raises(IlpError, match=r"cut\.ilp: not a readable ilastik project \(HDF5 error: .*truncated"):
        load_classifier(d / "cut.ilp")
    with h5py.File(d / "other.h5", "w") as f:
        f["data"] = np.zeros((4, 4))
    with pytest.raises(IlpError, match="not an ilastik Pixel Classification project"):
        load_classifier(d / "other.h5")


# ------------------------------------------------------------------ ilastik's projects


@pytest.mark.parametrize("case", list(CHANNELS_NDIM))
def test_classifier_predicts_what_the_stored_forest_says(ilastik_tests, case, same_forest):
    path = ilastik_tests / f"PixelClassification{case}.ilp"
    clf = load_classifier(path)
    with IlastikProject(path) as ilp:
        stored = ilp.forest()
        raw, axes = ilp.raw_data(ilp.lanes()[0])
        assert clf.spec == ilp.feature_spec()
    assert clf.source == "ilastik project" and clf.training["from_ilastik_project"] == path.name
    assert clf.class_names == ["Label 1", "Label 2"] and clf.class_colors == [(255, 0, 0), (0, 255, 0)]
    assert (clf.n_channels, clf.ndim) == CHANNELS_NDIM[case]
    assert same_forest(clf.forest, stored)
    feats = compute_features(raw, clf.spec, axes=axes)
    want = stored.predict_proba(feats.reshape(-1, feats.shape[-1])).reshape(feats.shape[:-1] + (2,))
    assert np.array_equal(clf.predict(raw, axes=axes), want)


def test_forest_columns_placed_at_their_label_values(ilastik_tests, tmp_path):
    """known_labels [1, 3]: the forest's two columns are classes 1 and 3; class 2 (no labels) gets 0."""
    path = _copy_project(ilastik_tests, tmp_path, "2d3c")
    with IlastikProject(path) as ilp:
        stored = ilp.forest()
        raw, axes = ilp.raw_data(ilp.lanes()[0])
    with h5py.File(path, "r+") as f:
        f["PixelClassification/ClassifierForests/known_labels"][...] = [1, 3]
    clf = load_classifier(path)
    assert clf.class_names == ["Label 1", "Label 2", "Label 3"]
    assert clf.class_colors == [(255, 0, 0), (0, 255, 0), default_color(2)]
    feats = compute_features(raw, clf.spec, axes=axes)
    X = feats.reshape(-1, feats.shape[-1])
    p = clf.predict_proba_features(X)
    assert np.array_equal(p[:, [0, 2]], stored.predict_proba(X)) and np.all(p[:, 1] == 0)


def test_project_whose_forest_does_not_fit_refused(ilastik_tests, tmp_path):
    path = _copy_project(ilastik_tests, tmp_path, "2d3c")
    with h5py.File(path, "r+") as f:
        del f["PixelClassification/ClassifierForests/known_labels"]
        f["PixelClassification/ClassifierForests/known_labels"] = np.array([2], np.uint32)
    with pytest.raises(IlpError, match="known_labels lists 1 labels but the forest has 2 classes"):
        load_classifier(path)
    (tmp_path / "b").mkdir()
    path = _copy_project(ilastik_tests, tmp_path / "b", "2d3c")
    with h5py.File(path, "r+") as f:
        f["FeatureSelections/SelectionMatrix"][1, 1] = True  # one more cell: Laplacian of Gaussian at 0.7
    with pytest.raises(IlpError, match="stored forest uses 84 features but the feature selection gives 87 "
                                       "for 3-channel 2D data"):
        load_classifier(path)
