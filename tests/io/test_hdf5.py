"""pixelforest.io.hdf5: the rule that finds an HDF5 image's dataset, safe HDF5 writing, ilastik4ij's files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import h5py
import numpy as np
import pytest

from pixelforest.io.hdf5 import H5Writer, find_dataset, ilastik4ij_axistags, read_as_tzcyx, read_hdf5, write_ilastik4ij
from pixelforest.io.source import ImageReadError

SRC = Path(__file__).resolve().parents[2] / "src"


def _file(path, **datasets):
    with h5py.File(path, "w") as f:
        for name, data in datasets.items():
            f[name] = data
    return path


def _find(path, dataset=None):
    with h5py.File(path, "r") as f:
        return find_dataset(f, path, dataset)


def test_find_dataset_takes_the_one_image_whatever_else_the_file_holds(tmp_path):
    p = tmp_path / "a.h5"
    with h5py.File(p, "w") as f:
        f["meta/scale"] = np.ones(3)  # 1D: not an image
        f["meta/n"] = 4  # a scalar
        f.create_group("empty")
        f["deep/in/here/raw"] = np.zeros((4, 5), np.uint8)
        f["deep/in/here/raw"].attrs["axistags"] = "{}"
    assert _find(p) == "deep/in/here/raw"
    assert _find(p, "/meta/scale") == "meta/scale" and _find(p, "meta/n") == "meta/n"  # named: taken as named


def test_find_dataset_without_a_single_image_asks_for_a_name(tmp_path):
    two = _file(tmp_path / "two.h5", a=np.zeros((2, 2)), b=np.zeros((3, 3, 3)))
    with pytest.raises(ImageReadError, match=r"two.h5: name the dataset as .*two.h5/<dataset>; it holds \['a', 'b'\]"):
        _find(two)
    assert _find(two, "b") == "b"
    none = _file(tmp_path / "none.h5", v=np.zeros(5))
    with pytest.raises(ImageReadError, match="it holds no image dataset"):
        _find(none)
    with pytest.raises(ImageReadError, match=r"no dataset 'w'; datasets in the file: \['v'\]"):
        _find(none, "w")
    with h5py.File(none, "a") as f:
        f.create_group("g")
    with pytest.raises(ImageReadError, match="no dataset 'g'"):  # a group is not a dataset
        _find(none, "g")
    with pytest.raises(ImageReadError, match="no dataset '/'"):
        _find(none, "/")


def test_read_hdf5_axes_from_tags_guess_or_caller(tmp_path):
    data = np.arange(2 * 6 * 7, dtype=np.uint16).reshape(2, 6, 7)
    p = tmp_path / "r.h5"
    with h5py.File(p, "w") as f:
        f["tagged"] = data
        f["tagged"].attrs["axistags"] = json.dumps({"axes": [{"key": k} for k in "tyx"]})
        f["wrong"] = data
        f["wrong"].attrs["axistags"] = json.dumps({"axes": [{"key": k} for k in "yx"]})  # 2 axes for 3D data
        f["plain"] = data
        f["line"] = np.zeros(4)
    arr, axes = read_hdf5(p, "tagged")
    assert axes == "tyx" and np.array_equal(arr, data)
    assert read_hdf5(p, "wrong")[1] == "zyx"  # tags that do not fit the data: ilastik4ij's guess (last dim 7 > 4)
    assert read_hdf5(p, "plain")[1] == "zyx" and read_hdf5(p, "plain", axes="cyx")[1] == "cyx"
    with pytest.raises(ImageReadError, match="1D data; Import HDF5 reads 2D to 5D"):
        read_hdf5(p, "line")
    with pytest.raises(ImageReadError, match="does not exist"):
        read_hdf5(tmp_path / "missing.h5")
    (tmp_path / "text.h5").write_text("not HDF5")
    with pytest.raises(ImageReadError, match="not a readable HDF5 file"):
        read_hdf5(tmp_path / "text.h5")


def test_read_as_tzcyx(tmp_path):
    data = np.random.default_rng(0).random((3, 5, 6, 2)).astype(np.float32)  # z, y, x, c
    p = _file(tmp_path / "v.h5", data=data)
    arr, axes, name = read_as_tzcyx(p)
    assert (axes, name) == ("zyxc", "data") and arr.shape == (1, 3, 2, 5, 6) and arr.flags.c_contiguous
    assert np.array_equal(arr[0], np.moveaxis(data, -1, 1))


def test_write_ilastik4ij_and_read_back(tmp_path):
    img5 = np.arange(2 * 1 * 150 * 40 * 3, dtype=np.uint16).reshape(2, 1, 150, 40, 3)
    p = write_ilastik4ij(img5, tmp_path / "x.h5", dataset="exported", compression=4)
    with h5py.File(p, "r") as f:
        ds = f["exported"]
        assert ds.chunks == (1, 1, 128, 40, 1) and ds.compression == "gzip" and ds.compression_opts == 4
        assert json.loads(ds.attrs["axistags"]) == json.loads(ilastik4ij_axistags())
        assert [a["key"] for a in json.loads(ds.attrs["axistags"])["axes"]] == list("tzyxc")
    arr, axes = read_hdf5(p)
    assert axes == "tzyxc" and np.array_equal(arr, img5)
    with h5py.File(write_ilastik4ij(img5, tmp_path / "y.h5"), "r") as f:
        assert f["data"].compression is None  # level 0 (the default): not compressed
    assert sorted(q.name for q in tmp_path.iterdir()) == ["x.h5", "y.h5"]


@pytest.mark.parametrize("kwargs,message", [
    ({"path": "x.hdf5"}, "the file name must end in .h5"),
    ({"compression": 10}, "compression must be a deflate level 0-9, got 10"),
    ({"dtype": "float16"}, "dtype float16 is not one ilastik4ij writes"),
    ({"shape": (4, 5)}, r"expected a \(T, Z, Y, X, C\) array, got shape \(4, 5\)"),
])
def test_write_ilastik4ij_refuses(tmp_path, kwargs, message):
    img = np.zeros(kwargs.get("shape", (1, 1, 4, 5, 1)), kwargs.get("dtype", "uint8"))
    with pytest.raises(ValueError, match=message):
        write_ilastik4ij(img, tmp_path / kwargs.get("path", "x.h5"), compression=kwargs.get("compression", 0))
    assert list(tmp_path.iterdir()) == []


def test_h5writer_writes_a_readable_file(tmp_path):
    with H5Writer(tmp_path / "w.h5") as f:
        f["a/b"] = np.arange(6).reshape(2, 3)
    with h5py.File(tmp_path / "w.h5", "r") as f:
        assert f["a/b"][()].tolist() == [[0, 1, 2], [3, 4, 5]]


FULL_DISK = textwrap.dedent("""
    import errno, os, resource, signal, sys
    import numpy as np
    from pixelforest.io.hdf5 import GuardedFile, write_ilastik4ij
    folder = sys.argv[1]
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (64 * 1024, 64 * 1024))  # writes past 64 KiB fail, as on a full disk
    g = GuardedFile(os.path.join(folder, "g.bin"))
    assert g.write(b"x" * 100_000) == 100_000 and g.error.errno == errno.EFBIG and g.tell() == 100_000
    assert g.write(b"y" * 10) == 10 and g.tell() == 100_010  # later writes skipped, the position kept
    g.close()
    try:
        g.check()
    except OSError as e:
        assert e.errno == errno.EFBIG and e.filename == g.path.as_posix(), e
    else:
        sys.exit("check() raised nothing")
    os.remove(g.path)
    try:
        write_ilastik4ij(np.ones((1, 1, 300, 300, 1), np.float64), os.path.join(folder, "big.h5"))
    except OSError as e:
        print("OSError", e.errno, e)
    else:
        sys.exit("a write past the limit raised nothing")
""")


def test_a_full_disk_is_an_oserror_and_leaves_nothing(tmp_path):
    """A write error inside HDF5 (the file size limit standing in for a full disk) comes back as an
    OSError naming the target, in a process that goes on (no native crash), with no file left."""
    env = dict(os.environ, PYTHONPATH=str(SRC))
    r = subprocess.run([sys.executable, "-c", FULL_DISK, str(tmp_path)], capture_output=True, text=True, env=env,
                       timeout=120)
    assert r.returncode == 0, r.stderr[-3000:]
    assert r.stdout.startswith("OSError") and f"cannot write {tmp_path / 'big.h5'}" in r.stdout, r.stdout
    assert list(tmp_path.iterdir()) == []
