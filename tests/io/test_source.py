"""pixelforest.io.source: image sources (``file.h5/dataset``) and the axis rules of TIFF and HDF5."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pixelforest.io.source import ImageReadError, ImageSource, axes_from_axistags, guess_axes, parse_source, tiff_axes


def test_parse_source_splits_a_container_and_its_dataset(tmp_path):
    assert parse_source("plain.tif") == ImageSource(Path("plain.tif"))
    s = parse_source("run/img.h5/inner/data")
    assert s == ImageSource(Path("run/img.h5"), "inner/data")
    assert str(s) == "run/img.h5/inner/data" and s.nickname == "img"
    assert parse_source("A.HDF5/raw") == ImageSource(Path("A.HDF5"), "raw")  # suffixes in any case
    assert parse_source("p.ilp/Input Data/x") == ImageSource(Path("p.ilp"), "Input Data/x")
    assert parse_source("v.zarr/0/") == ImageSource(Path("v.zarr"), "0")
    assert parse_source("img.h5/") == ImageSource(Path("img.h5"), None)  # no dataset: find_dataset's rule
    assert str(parse_source("img.h5")) == "img.h5"


def test_an_existing_path_is_taken_whole(tmp_path):
    odd = tmp_path / "x.h5" / "y.tif"  # a folder named like an HDF5 file, with an image in it
    odd.parent.mkdir()
    odd.write_bytes(b"")
    assert parse_source(odd) == ImageSource(odd)
    assert parse_source(str(tmp_path / "x.h5")) == ImageSource(tmp_path / "x.h5")


def test_axes_from_vigra_axistags():
    tags = {"axes": [{"key": k, "typeFlags": 2} for k in "zyxc"]}
    assert axes_from_axistags(json.dumps(tags)) == "zyxc"
    assert axes_from_axistags(json.dumps(tags).encode()) == "zyxc"
    assert axes_from_axistags(json.dumps({"axes": [{"key": k} for k in "TYX"]})) == "tyx"
    assert axes_from_axistags(json.dumps({"axes": [{"key": k} for k in "qyx"]})) is None  # not over tzyxc
    assert axes_from_axistags(json.dumps({"axes": [{"key": k} for k in "yxy"]})) is None  # an axis twice
    assert axes_from_axistags("not json") is None
    assert axes_from_axistags(json.dumps({"keys": "yx"})) is None
    assert axes_from_axistags(json.dumps({"axes": [{"name": "y"}]})) is None


def test_guess_axes_refuses_what_ilastik4ij_cannot_guess():
    for shape in [(5,), (1, 2, 3, 4, 5, 6)]:
        with pytest.raises(ImageReadError, match=f"cannot guess the axes of a {len(shape)}D dataset"):
            guess_axes(shape)


def test_tiff_axes():
    assert tiff_axes("TZCYX") == "tzcyx"
    assert tiff_axes("YXS") == "yxc"  # RGB samples are channels
    assert tiff_axes("IYX") == "zyx" and tiff_axes("QYX") == "zyx"  # image series and unknown: z
    with pytest.raises(ImageReadError, match="unsupported TIFF axis 'R' in 'RYX'"):
        tiff_axes("RYX")
    with pytest.raises(ImageReadError, match="TIFF axes 'CYXS' map to duplicate axes 'cyxc'"):
        tiff_axes("CYXS")
