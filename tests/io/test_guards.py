"""pixelforest.io.guards: outputs that would replace an input, inputs that change while read, HDF5 files
that refer to data outside themselves, and compressed "chunk bombs"."""

from __future__ import annotations

import os

import h5py
import numpy as np
import pytest

from pixelforest.io.guards import (
    ALLOW_EXTERNAL_ENV,
    MAX_EXPANSION,
    SMALL_DATASET_BYTES,
    ExternalDataError,
    allow_external_default,
    check_chunks,
    check_hdf5_links,
    check_output_not_input,
    check_unchanged,
    file_keys,
    fingerprint,
    same_file,
)

# ----------------------------------------------------------------- same file


def test_same_file_through_names_and_links(tmp_path, monkeypatch):
    a = tmp_path / "a.tif"
    a.write_bytes(b"data")
    b = tmp_path / "b.tif"
    b.write_bytes(b"data")  # the same bytes, another file
    (tmp_path / "sub").mkdir()
    os.symlink(a, tmp_path / "sub" / "link.tif")
    os.link(a, tmp_path / "hard.tif")
    monkeypatch.chdir(tmp_path / "sub")
    assert same_file(a, a)
    assert same_file("../a.tif", a)  # relative and absolute
    assert same_file(tmp_path / "sub" / ".." / "a.tif", a)
    assert same_file("link.tif", a)  # a symbolic link to it
    assert same_file(tmp_path / "hard.tif", a)  # a hard link: another name, the same inode
    assert not same_file(a, b)
    assert same_file(tmp_path / "new.h5", tmp_path / "sub" / ".." / "new.h5")  # not there yet: by name
    assert not same_file(tmp_path / "new.h5", tmp_path / "other.h5")


def test_file_keys(tmp_path):
    p = tmp_path / "x.npy"
    assert file_keys(p) == [str(p.resolve())]  # not there: its name only
    p.write_bytes(b"1")
    st = os.stat(p)
    assert file_keys(p) == [str(p.resolve()), (st.st_dev, st.st_ino)]


def test_output_equal_to_an_input_refused(tmp_path):
    raw = tmp_path / "raw.h5"
    with h5py.File(raw, "w") as f:
        f["data"] = np.zeros((4, 4))
    tif = tmp_path / "im.tif"
    tif.write_bytes(b"II*\0")
    os.symlink(tif, tmp_path / "alias.tif")
    for output, inputs in [(raw, [f"{raw}/data"]), (tif, [raw, tif]), (tmp_path / "alias.tif", [tif]),
                           (tif, [tmp_path / "alias.tif"])]:
        with pytest.raises(ValueError, match="refusing to replace an input"):
            check_output_not_input(output, inputs)
    check_output_not_input(tmp_path / "out.h5", [f"{raw}/data", tif])  # another name: fine
    check_output_not_input(tmp_path / "raw_Probabilities.h5", [raw])


# ----------------------------------------------------------------- fingerprints


def test_fingerprint_and_check_unchanged(tmp_path):
    p = tmp_path / "in.npy"
    p.write_bytes(b"12345678")
    os.utime(p, ns=(10**18, 10**18))
    before = fingerprint(p)
    st = os.stat(p)
    assert before == (8, 10**18, st.st_ino)
    check_unchanged(p, before)  # nothing changed
    p.write_bytes(b"87654321")  # the same size, new contents and time
    os.utime(p, ns=(10**18 + 10**9, 10**18 + 10**9))
    with pytest.raises(ValueError, match="the input changed while it was being read"):
        check_unchanged(p, before)
    assert fingerprint(tmp_path / "missing") is None
    with pytest.raises(ValueError, match="the image changed"):
        check_unchanged(tmp_path / "missing", before, what="image")


def test_fingerprint_of_a_folder_follows_its_newest_entry(tmp_path):
    z = tmp_path / "im.zarr"
    (z / "raw").mkdir(parents=True)
    (z / "raw" / "c0").write_bytes(b"abc")
    (z / "zarr.json").write_bytes(b"{}")
    for f in (z, z / "raw", z / "raw" / "c0", z / "zarr.json"):
        os.utime(f, ns=(10**18, 10**18))
    before = fingerprint(z)
    assert before[:2] == (5, 10**18)  # total size of its files, newest time
    os.utime(z / "raw" / "c0", ns=(10**18 + 1, 10**18 + 1))  # a chunk rewritten deep inside
    assert fingerprint(z) != before
    with pytest.raises(ValueError, match="changed while it was being read"):
        check_unchanged(z, before)


# ----------------------------------------------------------------- HDF5 outside the file


@pytest.fixture
def external_files(tmp_path):
    secret = tmp_path / "secret.h5"
    with h5py.File(secret, "w") as f:
        f["data"] = np.arange(12.0).reshape(3, 4)
    link = tmp_path / "link.h5"
    with h5py.File(link, "w") as f:
        f.create_group("deep/er")["data"] = h5py.ExternalLink(str(secret), "data")
    vds = tmp_path / "vds.h5"
    layout = h5py.VirtualLayout(shape=(3, 4), dtype=np.float64)
    layout[...] = h5py.VirtualSource(str(secret), "data", shape=(3, 4))
    with h5py.File(vds, "w") as f:
        f.create_virtual_dataset("data", layout)
    raw = tmp_path / "raw.bin"
    np.zeros((3, 4), np.float32).tofile(raw)
    ext = tmp_path / "ext.h5"
    with h5py.File(ext, "w") as f:
        f.create_dataset("data", shape=(3, 4), dtype=np.float32, external=[(str(raw), 0, 48)])
    return {"external link": link, "virtual dataset": vds, "external raw storage": ext}


def test_data_outside_the_file_refused_unless_allowed(external_files, monkeypatch):
    monkeypatch.delenv(ALLOW_EXTERNAL_ENV, raising=False)
    for kind, path in external_files.items():
        with h5py.File(path, "r") as f:
            with pytest.raises(ExternalDataError, match=f"outside the file.*{kind}"):
                check_hdf5_links(f, path)
            check_hdf5_links(f, path, allow_external=True)
            monkeypatch.setenv(ALLOW_EXTERNAL_ENV, "yes")
            check_hdf5_links(f, path)  # the environment allows it when the caller does not say
            with pytest.raises(ExternalDataError):
                check_hdf5_links(f, path, allow_external=False)  # the caller's word wins
            monkeypatch.delenv(ALLOW_EXTERNAL_ENV)
    assert issubclass(ExternalDataError, ValueError)


def test_links_inside_the_file_are_fine(tmp_path):
    p = tmp_path / "soft.h5"
    with h5py.File(p, "w") as f:
        f["a/data"] = np.zeros(3)
        f["b"] = h5py.SoftLink("/a/data")
        f["c"] = f["a"]  # a hard link to a group
    with h5py.File(p, "r") as f:
        check_hdf5_links(f, p, allow_external=False)


@pytest.mark.parametrize("value, allowed", [("1", True), ("true", True), (" YES ", True), ("0", False),
                                            ("no", False), ("", False)])
def test_allow_external_default(monkeypatch, value, allowed):
    monkeypatch.setenv(ALLOW_EXTERNAL_ENV, value)
    assert allow_external_default() is allowed


# ----------------------------------------------------------------- chunk bombs


def test_chunk_bomb_refused(tmp_path):
    p = tmp_path / "bomb.h5"
    with h5py.File(p, "w") as f:
        f.create_dataset("bomb", shape=(60000, 60000), dtype=np.float32, chunks=(1024, 1024), compression="gzip")
        f.create_dataset("plain", shape=(60000, 60000), dtype=np.float32, chunks=(1024, 1024))  # reads as zeros
        f.create_dataset("small", shape=(1000, 1000), dtype=np.float32, chunks=(100, 100), compression="gzip")
    size = p.stat().st_size
    assert 60000**2 * 4 > MAX_EXPANSION * size
    with h5py.File(p, "r") as f:
        with pytest.raises(ValueError, match="declares 13.4 GiB of compressed data"):
            check_chunks(f["bomb"], p)
        check_chunks(f["bomb"], p, file_size=60000**2 * 4 // MAX_EXPANSION + 1)  # plausible in a larger file
        check_chunks(f["plain"], p)  # uncompressed: what is not stored reads as the fill value
        assert 1000**2 * 4 <= SMALL_DATASET_BYTES
        check_chunks(f["small"], p, file_size=1)  # too small to matter
