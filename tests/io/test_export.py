"""pixelforest.io.export: ilastik's export layout, chunks, attributes and value ranges."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest

from pixelforest.io.export import (
    axistags_json,
    export_chunks,
    export_dtype,
    export_range,
    known_drange,
    output_shape,
    pipeline_drange,
    set_export_attrs,
    to_output_layout,
)

# ilastik's exports of its test projects: their axes (the input's, with c appended)
ILASTIK_EXPORTS = {"2d": "yxc", "2d3c": "yxc", "3d": "zyxc", "5t2d1c": "tyxc"}


@pytest.mark.parametrize("case", list(ILASTIK_EXPORTS))
def test_axistags_are_ilastiks_text(ilastik_tests, case):
    with h5py.File(ilastik_tests / "inputdata" / f"{case}_Probabilities.h5", "r") as f:
        ref = f["exported_data"].attrs["axistags"]
    assert axistags_json(ILASTIK_EXPORTS[case]) == ref  # the very text, indentation included


def test_axistags_flags():
    tags = json.loads(axistags_json("tzyxc"))["axes"]
    assert [(a["key"], a["typeFlags"], a["resolution"], a["description"]) for a in tags] == [
        ("t", 8, 0, ""), ("z", 2, 0, ""), ("y", 2, 0, ""), ("x", 2, 0, ""), ("c", 1, 0, "")]


def test_export_chunks_rule():
    assert export_chunks((1000, 300, 3), "yxc") == (256, 256, 1)
    assert export_chunks((100, 30, 2), "yxc") == (100, 30, 1)  # no larger than the data
    assert export_chunks((5, 700, 90, 2), "tyxc") == (1, 256, 90, 1)
    assert export_chunks((50, 600, 100, 4), "zyxc") == (50, 64, 64, 1)  # 3D: 64 along z, y and x
    assert export_chunks((3, 2, 200, 100, 300), "tczyx") == (1, 1, 64, 64, 64)


def test_output_layout_is_the_inputs_axes_with_c():
    res5 = np.arange(2 * 3 * 4 * 2).reshape(2, 1, 3, 4, 2)  # T, Z, Y, X, K
    for axes in ("tyxc", "ctyx", "xytc", "tcyx"):
        out = to_output_layout(res5, axes)
        assert out.shape == output_shape(res5.shape, axes)
        t, y, x, k = (axes.index(a) for a in "tyxc")
        assert np.array_equal(np.transpose(out, (t, y, x, k)), res5[:, 0])
    assert output_shape((2, 1, 3, 4, 5), "yxc") == (3, 4, 5)
    assert output_shape((1, 7, 3, 4, 2), "czyx") == (2, 7, 3, 4)


def test_export_attributes_hdf5_and_zarr(tmp_path):
    with h5py.File(tmp_path / "o.h5", "w") as f:
        ds = f.create_dataset("exported_data", data=np.zeros((4, 5, 3), np.uint8))
        set_export_attrs(ds, "yxc", drange=(0, 2))
        assert ds.attrs["axistags"] == axistags_json("yxc") and ds.attrs["display_mode"] == "default"
        assert ds.attrs["drange"].dtype == np.uint8 and ds.attrs["drange"].tolist() == [0, 2]  # the data's dtype
        features = f.create_dataset("f", data=np.zeros((4, 5), np.float32))
        set_export_attrs(features, "yx", display_mode="grayscale")
        assert "drange" not in features.attrs and features.attrs["display_mode"] == "grayscale"

    class ZarrArray:  # the two things set_export_attrs uses of a zarr array
        def __init__(self):
            self.dtype, self.attrs = np.dtype(np.float32), {}

    z = ZarrArray()
    set_export_attrs(z, "zyxc", drange=(np.float32(0), np.float32(1)), zarr=True)
    assert z.attrs["drange"] == [0.0, 1.0] and all(type(v) is float for v in z.attrs["drange"])
    json.dumps(z.attrs)  # JSON-serialisable, as Zarr needs


def test_pipeline_drange():
    res = np.array([[0.25, 3.5], [-1.0, 2.0]], np.float32)
    assert known_drange("probabilities", 3) == (0.0, 1.0) and known_drange("uncertainty", 3) == (0.0, 1.0)
    assert known_drange("simple-segmentation", 3) == (0.0, 3.0)  # ilastik: 0..number of classes
    assert known_drange("features", 3) is None
    assert pipeline_drange(res, "probabilities", 3) == (0.0, 1.0)  # known: not the data's range
    assert pipeline_drange(res, "features", 3) == (-1.0, 3.5)
    assert pipeline_drange(res[:0], "features", 3) == (0.0, 1.0)


def test_export_dtype_rescales_linearly_as_ilastik():
    p = np.array([0.0, 0.25, 0.5, 0.998, 1.0], np.float32)
    same, dr = export_dtype(p, in_drange=(0.0, 1.0))
    assert same is p and dr == (0.0, 1.0)  # nothing asked: unchanged
    u8, dr = export_dtype(p, "uint8", in_drange=(0.0, 1.0))  # to the dtype's full range, rounded
    assert u8.dtype == np.uint8 and u8.tolist() == [0, 64, 128, 254, 255] and dr == (0.0, 255.0)
    u16, dr = export_dtype(p, "uint16", export_drange=(0, 100), in_drange=(0.0, 1.0))
    assert u16.dtype == np.uint16 and u16.tolist() == [0, 25, 50, 100, 100] and dr == (0.0, 100.0)
    i8, dr = export_dtype(np.array([0, 1, 2], np.uint8), "int8", in_drange=(0.0, 2.0))
    assert i8.tolist() == [-128, 0, 127] and dr == (-128.0, 127.0)
    clipped, _ = export_dtype(np.array([-1.0, 2.0], np.float32), "uint8", in_drange=(0.0, 1.0))
    assert clipped.tolist() == [0, 255]  # out of the input range: clipped to the type's
    f, dr = export_dtype(p, export_drange=(-1, 1), in_drange=(0.0, 1.0))  # float data keep their dtype
    assert f.dtype == np.float32 and np.allclose(f, 2 * p - 1) and dr == (-1.0, 1.0)
    flat, _ = export_dtype(np.array([3.0, 3.0]), "uint8", in_drange=(3.0, 3.0))
    assert flat.tolist() == [0, 0]  # an empty input range maps to the start of the output's
    assert export_range("float32", None, (0.0, 5.0)) == (0.0, 5.0)
    assert export_range("int16", None, (0.0, 5.0)) == (-32768.0, 32767.0)
