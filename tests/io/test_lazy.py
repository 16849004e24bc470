"""pixelforest.io.lazy: LazyImage reads regions of TIFF / HDF5 / Zarr / .npy files as a full read would,
and BlockOutput writes blocks into place atomically (nothing left behind on failure)."""

from __future__ import annotations

import json
import pickle

import h5py
import numpy as np
import pytest
import tifffile

from pixelforest.axes import to_canonical
from pixelforest.blockwise import iter_blocks
from pixelforest.io.export import axistags_json
from pixelforest.io.guards import ExternalDataError
from pixelforest.io.images import ImageReadError, read_image
from pixelforest.io.lazy import BlockOutput, LazyImage

zarr = pytest.importorskip("zarr")

REGIONS = [
    (slice(None),) * 5,
    (slice(0, 1), slice(1, 3), slice(2, 7), slice(3, 11)),
    (slice(1, 2), slice(0, 1), slice(0, 1), slice(0, 1), slice(1, 2)),
    (slice(0, 2), slice(2, 3), slice(5, 9), slice(0, 12), slice(0, 1)),
]


def _fit(region, shape):
    """``region`` moved inside ``shape`` (a start past an axis's end moves to its last element)."""
    out = []
    for s, n in zip(region + (slice(None),) * (5 - len(region)), shape, strict=True):
        start, stop, _ = s.indices(n)
        start = min(start, n - 1)
        out.append(slice(start, max(stop, start + 1)))
    return tuple(out)


def _check_regions(lazy, full5):
    assert lazy.shape == full5.shape and lazy.ndim == 5
    for region in REGIONS:
        region = _fit(region, full5.shape)
        got = lazy[region]
        assert got.ndim == 5 and got.shape == full5[region].shape and got.size > 0
        assert np.array_equal(got, full5[region]), region
    assert np.array_equal(np.asarray(lazy), full5)
    assert np.array_equal(lazy[0:1, 0:1], full5[0:1, 0:1])  # fewer slices than axes: the rest whole


def _write(tmp_path, kind, arr, axes):
    if kind == "tiff":
        order = "".join(a for a in "tzcyx" if a in axes)
        tifffile.imwrite(tmp_path / "im.tif", np.transpose(arr, [axes.index(a) for a in order]), imagej=True,
                         metadata={"axes": order.upper()})
        return tmp_path / "im.tif", order
    if kind == "hdf5":
        with h5py.File(tmp_path / "im.h5", "w") as f:
            d = f.create_dataset("group/data", data=arr, chunks=tuple(min(n, 4) for n in arr.shape))
            d.attrs["axistags"] = axistags_json(axes)
        return f"{tmp_path / 'im.h5'}/group/data", axes
    g = zarr.open_group(str(tmp_path / "im.zarr"), mode="w")  # a group holding one array: no need to name it
    a = g.create_array("raw", shape=arr.shape, dtype=arr.dtype, chunks=tuple(min(n, 4) for n in arr.shape))
    a[...] = arr
    a.attrs["axistags"] = axistags_json(axes)
    return tmp_path / "im.zarr", axes


@pytest.mark.parametrize("kind", ["tiff", "hdf5", "zarr"])
@pytest.mark.parametrize("axes", ["tzyxc", "zyx", "cyx", "tyx"])
def test_lazy_reads_the_same_values_as_a_full_read(tmp_path, kind, axes):
    sizes = {"t": 2, "z": 3, "y": 9, "x": 12, "c": 2}
    shape = tuple(sizes[a] for a in axes)
    arr = (np.arange(np.prod(shape), dtype=np.uint16) * 3 + 1).reshape(shape)  # every value distinct
    spec, file_axes = _write(tmp_path, kind, arr, axes)
    lazy = LazyImage(spec)
    assert lazy.file_axes == file_axes and lazy.dtype == np.uint16
    full, full_axes = read_image(spec)  # the whole image at once
    assert np.array_equal(to_canonical(full, full_axes), to_canonical(arr, axes))
    _check_regions(lazy, to_canonical(arr, axes))
    # a LazyImage travels to other processes (Dask workers): it opens its file on every read
    again = pickle.loads(pickle.dumps(lazy))
    assert np.array_equal(again[REGIONS[1]], lazy[REGIONS[1]])
    assert repr(lazy).startswith("LazyImage(") and str(spec) in repr(lazy)


@pytest.mark.parametrize("shape, default, given", [((9, 12), "yx", None), ((3, 9, 12), "zyx", None),
                                                     ((3, 9, 12), "zyx", "tyx"), ((9, 12, 2), "zyx", "yxc")])
def test_lazy_npy_with_and_without_named_axes(tmp_path, shape, default, given):
    arr = np.random.default_rng(0).random(shape).astype(np.float32)
    np.save(tmp_path / "im.npy", arr)
    lazy = LazyImage(tmp_path / "im.npy", axes=given)
    assert lazy.file_axes == (given or default) and lazy.file_shape == shape
    _check_regions(lazy, to_canonical(arr, given or default))


def test_lazy_axes_guessed_without_metadata(tmp_path):
    arr = np.arange(9 * 12 * 3, dtype=np.float32).reshape(9, 12, 3)
    with h5py.File(tmp_path / "im.h5", "w") as f:
        f["data"] = arr
    lazy = LazyImage(tmp_path / "im.h5")  # the only dataset: no need to name it
    assert lazy.file_axes == "yxc" and lazy.shape == (1, 1, 9, 12, 3)  # ilastik4ij's guess: 3 <= 4 channels
    _check_regions(lazy, to_canonical(arr, "yxc"))


def test_lazy_refuses_what_it_cannot_read(tmp_path):
    with pytest.raises(ImageReadError, match="does not exist"):
        LazyImage(tmp_path / "missing.npy")
    np.save(tmp_path / "c.npy", np.zeros((4, 4), np.complex64))
    with pytest.raises(ImageReadError, match="unsupported pixel type"):
        LazyImage(tmp_path / "c.npy")
    (tmp_path / "im.png").write_bytes(b"\x89PNG")
    with pytest.raises(ImageReadError, match="unsupported format"):
        LazyImage(tmp_path / "im.png")
    with h5py.File(tmp_path / "two.h5", "w") as f:
        f["a"] = np.zeros((4, 4))
        f["b"] = np.zeros((4, 4))
    with pytest.raises(ImageReadError, match="name the dataset"):
        LazyImage(tmp_path / "two.h5")
    with pytest.raises(ImageReadError, match="no dataset"):
        LazyImage(f"{tmp_path / 'two.h5'}/c")
    assert LazyImage(f"{tmp_path / 'two.h5'}/b").shape == (1, 1, 4, 4, 1)
    g = zarr.open_group(str(tmp_path / "two.zarr"), mode="w")
    for name in ("a", "b"):
        g.create_array(name, shape=(4, 4), dtype="f4")
    with pytest.raises(ImageReadError, match="name the array"):
        LazyImage(tmp_path / "two.zarr")
    np.save(tmp_path / "ok.npy", np.zeros((4, 4), np.float32))
    lazy = LazyImage(tmp_path / "ok.npy")
    with pytest.raises(TypeError, match="slices"):
        lazy[0, 1]
    with pytest.raises(ValueError, match="names 3 axes but the array has 2"):
        LazyImage(tmp_path / "ok.npy", axes="zyx")


def test_lazy_refuses_external_links_unless_allowed(tmp_path):
    with h5py.File(tmp_path / "secret.h5", "w") as f:
        f["data"] = np.arange(16.0).reshape(4, 4)
    with h5py.File(tmp_path / "link.h5", "w") as f:
        f["data"] = h5py.ExternalLink(str(tmp_path / "secret.h5"), "data")
    with pytest.raises(ExternalDataError, match="outside the file"):
        LazyImage(f"{tmp_path / 'link.h5'}/data", allow_external=False)
    lazy = LazyImage(f"{tmp_path / 'link.h5'}/data", allow_external=True)
    assert np.array_equal(np.asarray(lazy)[0, 0, ..., 0],
                          np.arange(16.0).reshape(4, 4))


# ----------------------------------------------------------------- BlockOutput


def _result(shape5):
    return np.arange(np.prod(shape5), dtype=np.float32).reshape(shape5) / 7


def _read_back(path, fmt, dataset="exported_data"):
    if fmt == "zarr":
        a = zarr.open_group(str(path), mode="r")[dataset]
        return a[...], dict(a.attrs)
    with h5py.File(path, "r") as f:
        d = f[dataset]
        return d[()], {k: d.attrs[k] for k in d.attrs}


@pytest.mark.parametrize("fmt, name", [("hdf5", "out.h5"), ("zarr", "out.zarr")])
@pytest.mark.parametrize("in_axes", ["zyx", "yxc", "xyt", "tczyx"])
def test_block_output_writes_the_export_layout(tmp_path, fmt, name, in_axes):
    sizes = {"t": 2, "z": 3, "y": 10, "x": 13}
    shape5 = tuple(sizes[a] if a in in_axes else 1 for a in "tzyx") + (3,)
    want5 = _result(shape5)
    target = tmp_path / "sub" / name  # the folder is made
    out = BlockOutput(target, in_axes, shape5, np.float32, fmt=fmt, drange=(0.0, 1.0))
    for sl in iter_blocks(shape5[:4], (1, 2, 4, 5)):
        out[sl] = want5[sl]
        assert not target.exists()  # only the temporary file, until complete
    assert out.close() == target
    assert [p.name for p in target.parent.iterdir()] == [name]  # the temporary file became the target
    got, attrs = _read_back(target, fmt)
    out_axes = in_axes if "c" in in_axes else in_axes + "c"
    assert [a["key"] for a in json.loads(attrs["axistags"])["axes"]] == list(out_axes)
    assert list(np.asarray(attrs["drange"], float)) == [0.0, 1.0]
    assert np.array_equal(to_canonical(got, out_axes), want5)


def test_block_output_replaces_an_existing_result(tmp_path):
    for fmt, name in (("hdf5", "o.h5"), ("zarr", "o.zarr")):
        target = tmp_path / name
        for value in (1, 2):
            out = BlockOutput(target, "yx", (1, 1, 4, 5, 1), np.uint8, fmt=fmt, compression=4 if fmt == "hdf5" else 0)
            out[(slice(0, 1), slice(0, 1), slice(0, 4), slice(0, 5))] = np.full((1, 1, 4, 5, 1), value, np.uint8)
            out.close()
        got, _ = _read_back(target, fmt)
        assert got.shape == (4, 5, 1) and (got == 2).all()
    with h5py.File(tmp_path / "o.h5", "r") as f:
        assert f["exported_data"].compression == "gzip"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["o.h5", "o.zarr"]


@pytest.mark.parametrize("fmt, name", [("hdf5", "out.h5"), ("zarr", "out.zarr")])
def test_block_output_leaves_nothing_on_failure(tmp_path, fmt, name):
    (tmp_path / "keep.txt").write_text("x")
    target = tmp_path / name
    out = BlockOutput(target, "zyx", (1, 2, 6, 6, 2), np.float32, fmt=fmt)
    out[(slice(0, 1), slice(0, 1), slice(0, 6), slice(0, 6))] = np.ones((1, 1, 6, 6, 2), np.float32)
    with pytest.raises((ValueError, TypeError)):  # a block of the wrong shape
        out[(slice(0, 1), slice(1, 2), slice(0, 6), slice(0, 6))] = np.ones((1, 1, 5, 6, 2), np.float32)
    out.abort()
    assert [p.name for p in tmp_path.iterdir()] == ["keep.txt"]
    # a failure while creating it (a dtype no format holds) leaves nothing either
    with pytest.raises((ValueError, TypeError)):
        BlockOutput(target, "yx", (1, 1, 4, 4, 1), np.dtype(object), fmt=fmt)
    assert [p.name for p in tmp_path.iterdir()] == ["keep.txt"]
    # an existing result is kept when the new one fails
    done = BlockOutput(target, "yx", (1, 1, 4, 4, 1), np.uint8, fmt=fmt)
    done[(slice(0, 1), slice(0, 1), slice(0, 4), slice(0, 4))] = np.full((1, 1, 4, 4, 1), 7, np.uint8)
    done.close()
    failed = BlockOutput(target, "yx", (1, 1, 4, 4, 1), np.uint8, fmt=fmt)
    failed.abort()
    got, _ = _read_back(target, fmt)
    assert (got == 7).all() and sorted(p.name for p in tmp_path.iterdir()) == ["keep.txt", name]
