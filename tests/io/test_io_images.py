"""Image readers (axes from the file) and ilastik-style result writers, read back for real."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest
import tifffile

from pixelforest import axes as A
from pixelforest.io.images import ImageReadError, guess_axes, parse_source, read_image, write_result


def test_axes_round_trip():
    rng = np.random.default_rng(0)
    for axes, shape in [("yx", (5, 6)), ("cyx", (2, 5, 6)), ("zyxc", (3, 5, 6, 2)), ("tczyx", (2, 3, 4, 5, 6)),
                        ("xy", (6, 5))]:
        a = rng.random(shape)
        c = A.to_canonical(a, axes)
        assert c.ndim == 5
        back = A.from_canonical(c[..., :1] if "c" not in axes else c, axes)
        keep = "".join(x for x in axes if x != "c")
        want = np.moveaxis(a, axes.index("c"), -1) if "c" in axes else a[..., None]
        assert np.array_equal(back, want), (axes, keep)


def test_axes_errors():
    with pytest.raises(ValueError, match="unknown axes"):
        A.check_axes("yxq", 3)
    with pytest.raises(ValueError, match="names 2 axes but the array has 3"):
        A.check_axes("yx", 3)
    with pytest.raises(ValueError, match="twice"):
        A.check_axes("yxx", 3)


def test_ilastik4ij_guessing_rules():
    assert guess_axes((10, 20)) == "yx"
    assert guess_axes((10, 20, 3)) == "yxc"
    assert guess_axes((10, 20, 5)) == "zyx"
    assert guess_axes((4, 10, 20, 2)) == "zyxc"
    assert guess_axes((2, 4, 10, 20, 2)) == "tzyxc"


def test_hdf5_with_and_without_axistags(tmp_path):
    p = tmp_path / "a.h5"
    data = np.arange(2 * 7 * 9, dtype=np.uint16).reshape(2, 7, 9)
    with h5py.File(p, "w") as f:
        f["plain"] = data
        d = f.create_dataset("tagged", data=data)
        d.attrs["axistags"] = json.dumps({"axes": [{"key": k, "typeFlags": 2} for k in "tyx"]})
    arr, ax = read_image(f"{p}/plain")
    assert ax == "zyx" and np.array_equal(arr, data)  # no axistags, last dim 9 > 4: zyx
    assert read_image(f"{p}/tagged")[1] == "tyx"
    assert read_image(f"{p}/plain", axes="tyx")[1] == "tyx"
    with pytest.raises(ImageReadError, match="name the dataset"):
        read_image(p)
    with pytest.raises(ImageReadError, match="no dataset 'nope'; datasets in the file"):
        read_image(f"{p}/nope")


def test_tiff_axes_from_imagej_metadata(tmp_path):
    p = tmp_path / "hyper.tif"
    data = np.zeros((3, 4, 2, 10, 12), np.uint16)  # TZCYX
    data[1, 2, 1, 5, 6] = 7
    tifffile.imwrite(p, data, imagej=True, metadata={"axes": "TZCYX"})
    arr, ax = read_image(p)
    assert ax == "tzcyx" and arr.shape == (3, 4, 2, 10, 12) and arr[1, 2, 1, 5, 6] == 7
    rgb = tmp_path / "rgb.tif"
    tifffile.imwrite(rgb, np.zeros((10, 12, 3), np.uint8), photometric="rgb")
    assert read_image(rgb)[1] == "yxc"


def test_damaged_and_missing_inputs(tmp_path):
    p = tmp_path / "bad.tif"
    tifffile.imwrite(p, np.zeros((50, 50), np.uint8))
    data = p.read_bytes()
    p.write_bytes(data[: len(data) // 3])
    with pytest.raises(ImageReadError, match="bad.tif: cannot read image"):
        read_image(p)
    with pytest.raises(ImageReadError, match="does not exist"):
        read_image(tmp_path / "nothing.tif")
    q = tmp_path / "x.png"
    q.write_bytes(b"png")
    with pytest.raises(ImageReadError, match="unsupported image format"):
        read_image(q)


def test_parse_source():
    s = parse_source("some/dir/file.h5/inner/data")
    assert str(s.path) == "some/dir/file.h5" and s.dataset == "inner/data" and s.nickname == "file"


@pytest.mark.parametrize("fmt", ["hdf5", "compressed-hdf5", "tiff", "npy"])
def test_write_result_formats(tmp_path, fmt):
    rng = np.random.default_rng(1)
    res = rng.random((3, 20, 22, 2)).astype(np.float32)  # tyxc
    out = write_result(res, "tyxc", tmp_path / f"r.{fmt}", fmt, drange=(0.0, 1.0))
    if fmt.endswith("hdf5"):
        with h5py.File(out, "r") as f:
            d = f["exported_data"]
            assert np.array_equal(d[()], res)
            assert json.loads(d.attrs["axistags"])["axes"][0] == {"key": "t", "typeFlags": 8, "resolution": 0,
                                                                  "description": ""}
            assert [a["key"] for a in json.loads(d.attrs["axistags"])["axes"]] == list("tyxc")
            assert tuple(d.attrs["drange"]) == (0.0, 1.0)
            assert d.compression == ("gzip" if fmt == "compressed-hdf5" else None)
            if fmt == "compressed-hdf5":
                assert d.compression_opts == 1 and d.chunks[0] == 1 and d.chunks[-1] == 1
    elif fmt == "tiff":
        arr, ax = read_image(out)
        assert ax == "tcyx"
        assert np.array_equal(np.moveaxis(arr, 1, -1), res)
    else:
        assert np.array_equal(np.load(out), res)
    assert [p.name for p in tmp_path.iterdir()] == [out.name]  # no temp files left
