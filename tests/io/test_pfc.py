"""The saved classifier: identical after save/load; damaged, foreign and unsafe files refused."""

from __future__ import annotations

import io
import json
import zipfile

import numpy as np
import pytest

import pixelforest as pf
from pixelforest.io.pfc import FORMAT_VERSION, ClassifierFileError


@pytest.fixture
def trained(blobs2d, blobs_labels):
    return pf.train(blobs2d, blobs_labels, features="minimal", seed=0, trees=20, classes=["blob", "bg"],
                    colors=[(10, 20, 30), (200, 100, 0)])


@pytest.fixture
def saved(trained, tmp_path):
    p = tmp_path / "model.pfc"
    pf.save(trained, p)
    return p


def test_round_trip_identical(trained, saved, blobs2d):
    back = pf.load(saved)
    assert back.classes == ["blob", "bg"]
    assert back.class_colors == [(10, 20, 30), (200, 100, 0)]
    assert back.spec == trained.spec
    assert back.training["oob_error"] == trained.training["oob_error"]
    assert np.array_equal(back.predict(blobs2d), trained.predict(blobs2d))
    for a, b in zip(back.labels, trained.labels, strict=True):
        assert np.array_equal(a.dense(), b.dense())
    assert back.feature_names == trained.feature_names


def test_file_is_data_only(saved):
    with zipfile.ZipFile(saved) as z:
        names = z.namelist()
        m = json.loads(z.read("manifest.json"))
        assert m["format"] == "pixelforest-classifier" and m["format_version"] == 1  # one stage: version 1
        for n in names:
            assert n == "manifest.json" or (n.startswith("arrays/") and n.endswith(".npy"))
            if n.endswith(".npy"):
                a = np.lib.format.read_array(io.BytesIO(z.read(n)), allow_pickle=False)
                assert a.dtype.kind in "biuf"
    assert b"pickle" not in saved.read_bytes().lower()


def test_truncated_file(saved, tmp_path):
    data = saved.read_bytes()
    for cut in (len(data) // 2, len(data) - 30, 100):
        p = tmp_path / f"cut{cut}.pfc"
        p.write_bytes(data[:cut])
        with pytest.raises(ClassifierFileError, match=f"{p.name}: .*(damaged|truncated)"):
            pf.load(p)


def test_bit_flip_detected(saved, tmp_path):
    data = bytearray(saved.read_bytes())
    with zipfile.ZipFile(saved) as z:
        info = z.getinfo("arrays/forest_threshold.npy")
    # flip a byte inside the compressed data of the thresholds member
    pos = info.header_offset + 30 + len(info.filename) + len(info.extra) + info.compress_size // 2
    data[pos] ^= 0x40
    p = tmp_path / "flipped.pfc"
    p.write_bytes(bytes(data))
    with pytest.raises(ClassifierFileError, match="flipped.pfc: .*(damaged|checksum|CRC)"):
        pf.load(p)


def test_foreign_files(tmp_path, blobs2d):
    txt = tmp_path / "notes.pfc"
    txt.write_text("hello")
    with pytest.raises(ClassifierFileError, match="not a pixelforest classifier"):
        pf.load(txt)
    z = tmp_path / "other.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr("readme.txt", "x")
    with pytest.raises(ClassifierFileError, match="no manifest.json"):
        pf.load(z)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        pf.load(tmp_path / "missing.pfc")


def _rewrite(src, dst, edit_manifest=None, replace=None):
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for item in zin.infolist():
            data = zin.read(item)
            if item.filename == "manifest.json" and edit_manifest:
                m = json.loads(data)
                edit_manifest(m)
                data = json.dumps(m).encode()
            if replace and item.filename in replace:
                data = replace[item.filename]
            zout.writestr(item.filename, data)


def test_newer_version_refused(saved, tmp_path):
    p = tmp_path / "future.pfc"
    _rewrite(saved, p, lambda m: m.update(format_version=FORMAT_VERSION + 1))
    with pytest.raises(ClassifierFileError, match="newer than this pixelforest supports"):
        pf.load(p)


def test_lowest_version_that_holds_the_classifier(blobs2d, blobs_labels, tmp_path):
    """pixelforest's own features need format version 3 (top-hats), 4 (hole filling) or 5 (dark
    hole filling, so the default), which an older pixelforest refuses by name rather than misreading; ilastik's
    features alone stay version 1."""
    tophats = {"features": {"GaussianSmoothing": [1.0], "TopHat": [1.0, 2.0]}}
    holes = {"features": {"GaussianSmoothing": [1.0], "HoleFilling": [1.0], "TopHat": [2.0]}}
    dark = {"features": {"GaussianSmoothing": [1.0], "DarkHoleFilling": [1.0, 2.0]}}
    for features, version in (("minimal", 1), (tophats, 3), (holes, 4), (dark, 5), ("pixelforest-default", 5)):
        clf = pf.train(blobs2d, blobs_labels, features=features, seed=0, trees=3)
        pf.save(clf, tmp_path / "m.pfc")
        with zipfile.ZipFile(tmp_path / "m.pfc") as z:
            assert json.loads(z.read("manifest.json"))["format_version"] == version
        assert np.array_equal(pf.load(tmp_path / "m.pfc").predict(blobs2d), clf.predict(blobs2d))
    assert FORMAT_VERSION == 5


def test_pickled_array_refused(saved, tmp_path):
    import hashlib

    buf = io.BytesIO()
    np.lib.format.write_array(buf, np.array([{"evil": 1}], dtype=object), allow_pickle=True)
    blob = buf.getvalue()
    p = tmp_path / "pickled.pfc"

    def edit(m):
        m["arrays"]["forest_value"] = {"dtype": "object", "shape": [1], "sha256": hashlib.sha256(blob).hexdigest()}

    _rewrite(saved, p, edit, {"arrays/forest_value.npy": blob})
    with pytest.raises(ClassifierFileError, match="disallowed"):
        pf.load(p)

    # even with a dtype that claims to be numeric, the pickle inside is never unpickled
    p2 = tmp_path / "pickled2.pfc"

    def edit2(m):
        m["arrays"]["forest_value"]["sha256"] = hashlib.sha256(blob).hexdigest()

    _rewrite(saved, p2, edit2, {"arrays/forest_value.npy": blob})
    with pytest.raises(ClassifierFileError, match="not a plain numeric array"):
        pf.load(p2)


def test_inconsistent_forest_refused(saved, tmp_path):
    p = tmp_path / "wrongfeat.pfc"
    _rewrite(saved, p, lambda m: m["forest"].update(n_features=3))
    with pytest.raises(ClassifierFileError, match="invalid forest|features"):
        pf.load(p)


def test_atomic_save_leaves_nothing_on_failure(trained, tmp_path, monkeypatch):
    target = tmp_path / "model.pfc"
    import pixelforest.io.pfc as project

    def boom(a):
        raise RuntimeError("disk full")

    monkeypatch.setattr(project, "_npy_bytes", boom)
    with pytest.raises(RuntimeError):
        pf.save(trained, target)
    assert list(tmp_path.iterdir()) == []
    monkeypatch.undo()
    pf.save(trained, target)
    assert [p.name for p in tmp_path.iterdir()] == ["model.pfc"]


def test_save_into_missing_folder(trained, tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        pf.save(trained, tmp_path / "nope" / "m.pfc")
