"""Fuzzing: damaged files never crash a reader with anything but a clear error, and the
feature bank accepts any valid shape, dtype and axis order."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import h5py
import numpy as np
import pytest
import tifffile
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import pixelforest as pf
from pixelforest.features import FeatureError
from pixelforest.io.ilp import IlastikProject, IlpError
from pixelforest.io.images import ImageReadError, read_image
from pixelforest.io.pfc import ClassifierFileError
from pixelforest.io.rois import RoiError, read_roi_file

SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
CLEAR = (ImageReadError, RoiError, IlpError, ClassifierFileError, FeatureError, FileNotFoundError)


def _seed_files(tmp: Path) -> dict[str, bytes]:
    rng = np.random.default_rng(0)
    out = {}
    b = io.BytesIO()
    tifffile.imwrite(b, rng.integers(0, 255, (3, 20, 24), dtype=np.uint8), imagej=True, metadata={"axes": "ZYX"})
    out["tif"] = b.getvalue()
    p = tmp / "seed.h5"
    with h5py.File(p, "w") as f:
        f["data"] = rng.random((12, 16), dtype=np.float32)
    out["h5"] = p.read_bytes()
    img = rng.random((40, 44)).astype(np.float32)
    lab = np.zeros(img.shape, np.uint8)
    lab[2:6, 2:8] = 1
    lab[30:34, 30:40] = 2
    pf.save(pf.train(img, lab, features="minimal", trees=3, seed=0), tmp / "seed.pfc")
    out["pfc"] = (tmp / "seed.pfc").read_bytes()
    import roifile

    r = roifile.ImagejRoi.frompoints([[1, 1], [10, 2], [6, 9]])
    r.roitype = roifile.ROI_TYPE.POLYGON
    out["roi"] = r.tobytes()
    return out


def _mutate(data: bytes, kind: str, pos: float, value: int) -> bytes:
    if kind == "truncate":
        return data[: int(pos * len(data))]
    if kind == "flip":
        i = min(len(data) - 1, int(pos * len(data)))
        return data[:i] + bytes([data[i] ^ (1 + value % 255)]) + data[i + 1:]
    return bytes((value * 7919 + k) % 256 for k in range(int(pos * 400)))  # random bytes


MUTATION = st.tuples(st.sampled_from(["truncate", "flip", "noise"]), st.floats(0, 1), st.integers(0, 10**6))


@pytest.fixture(scope="module")
def seeds(tmp_path_factory):
    return _seed_files(tmp_path_factory.mktemp("seeds"))


@pytest.mark.parametrize("kind", ["tif", "h5", "pfc", "roi", "ilp"])
@SETTINGS
@given(mutation=MUTATION)
def test_damaged_files_give_clear_errors(seeds, tmp_path, kind, mutation):
    if kind == "ilp":
        data = seeds["h5"]
        path = tmp_path / "x.ilp"
    else:
        data = seeds[kind]
        path = tmp_path / f"x.{kind}"
    path.write_bytes(_mutate(data, *mutation))
    try:
        if kind in ("tif", "h5"):
            arr, axes = read_image(path if kind == "tif" else f"{path}/data")
            assert arr.ndim == len(axes)
        elif kind == "pfc":
            clf = pf.load(path)
            assert clf.forest is not None
        elif kind == "roi":
            rois = read_roi_file(path)
            for r in rois:
                r.raster((32, 32))
        else:
            IlastikProject(path)
    except CLEAR:
        pass  # a clear, specific error


@SETTINGS
@given(
    shape=st.lists(st.integers(8, 24), min_size=2, max_size=3),
    dtype=st.sampled_from(["uint8", "uint16", "int16", "float32", "float64"]),
    channels=st.integers(0, 2),
    cells=st.dictionaries(st.sampled_from(["GaussianSmoothing", "LaplacianOfGaussian", "GaussianGradientMagnitude",
                                           "DifferenceOfGaussians", "StructureTensorEigenvalues",
                                           "HessianOfGaussianEigenvalues"]),
                          st.lists(st.sampled_from([0.7, 1.0, 1.6]), min_size=1, max_size=2, unique=True),
                          min_size=1, max_size=3),
)
def test_feature_bank_on_random_inputs(shape, dtype, channels, cells):
    rng = np.random.default_rng(len(shape) * 31 + channels)
    full = tuple(shape) + ((channels,) if channels else ())
    img = (rng.random(full) * 100).astype(dtype)
    spec = pf.FeatureSpec.from_cells(cells)
    axes = ("yx" if len(shape) == 2 else "zyx") + ("c" if channels else "")
    f = pf.compute_features(img, spec, axes=axes)
    n = spec.n_features(max(channels, 1), len(shape))
    assert f.shape == tuple(shape) + (n,) and f.dtype == np.float32 and np.isfinite(f).all()
    # the same image with the axes in another order gives the same features
    perm = np.random.default_rng(1).permutation(img.ndim)
    f2 = pf.compute_features(np.transpose(img, perm), spec, axes="".join(axes[i] for i in perm))
    spatial_order = [a for a in ("".join(axes[i] for i in perm)) if a != "c"]
    want = np.transpose(f, [axes.replace("c", "").index(a) for a in spatial_order] + [len(shape)])
    assert np.array_equal(f2, want)


def test_refused_before_allocation(monkeypatch, blobs2d, blobs_labels):
    import pixelforest.runtime as runtime

    clf = pf.train(blobs2d, blobs_labels, features="minimal", trees=3, seed=0)
    monkeypatch.setattr(runtime, "available_memory", lambda: 1024)
    with pytest.raises(MemoryError, match=r"needs .* GiB but only .* are available; predict it block by block"):
        clf.predict(blobs2d)
    with pytest.raises(MemoryError, match="features of a"):
        pf.compute_features(blobs2d, "minimal")


def test_damaged_zip_members(seeds, tmp_path):
    """A classifier archive whose manifest lies about an array's shape is refused."""
    src = tmp_path / "s.pfc"
    src.write_bytes(seeds["pfc"])
    import json

    with zipfile.ZipFile(src) as z:
        members = {i.filename: z.read(i) for i in z.infolist()}
    m = json.loads(members["manifest.json"])
    m["arrays"]["forest_threshold"]["shape"] = [1]
    members["manifest.json"] = json.dumps(m).encode()
    bad = tmp_path / "bad.pfc"
    with zipfile.ZipFile(bad, "w") as z:
        for k, v in members.items():
            z.writestr(k, v)
    with pytest.raises(ClassifierFileError, match="manifest says"):
        pf.load(bad)
