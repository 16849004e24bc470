"""HDF5 files: finding the image dataset, writing safely, and ilastik4ij's conventions.

:func:`find_dataset` is the one rule that picks the dataset of an HDF5 image (every reader of
pixelforest uses it); :class:`H5Writer` writes through :class:`GuardedFile`, so a full disk is an
``OSError``, never a native crash.

ilastik's Fiji plugin (ilastik4ij) writes and reads HDF5 this way. Export HDF5: always 5D
``tzyxc``; attribute ``axistags`` with only ``key`` and ``typeFlags`` (t = 8, spatial = 2,
channel = 1); chunks 1 for t and c, and ``min(dim, 128)`` for y, x on 2D data or
``min(dim, 32)`` for z, y, x when z > 1; deflate level 0-9 (default 0, none); dataset default
``data``; the file must end in ``.h5``. Import HDF5: 2D-5D; axes from ``axistags`` if present,
otherwise ilastik4ij's guess (yx; yxc if the last dim <= 4 else zyx; zyxc; tzyxc).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from .. import axes as _axes
from .atomic import atomic_output
from .guards import ExternalDataError, check_chunks, check_hdf5_links
from .source import ImageReadError, axes_from_axistags, guess_axes


def find_dataset(f, path, dataset: str | None = None) -> str:
    """The name of the image dataset of the open HDF5 file ``f`` (``path``: its name in errors).

    ``dataset`` names it (a leading ``/`` is optional); without it the file must hold exactly one
    dataset of two or more dimensions (an image), whatever else it holds.
    """
    import h5py

    if dataset is None:
        found = []
        f.visititems(lambda n, o: found.append(n) if isinstance(o, h5py.Dataset) and o.ndim >= 2 else None)
        if len(found) != 1:
            raise ImageReadError(f"{path}: name the dataset as {path}/<dataset>; "
                                 + (f"it holds {found}" if found else "it holds no image dataset"))
        return found[0]
    name = dataset.strip("/") or "/"
    if name not in f or not isinstance(f[name], h5py.Dataset):
        have = []
        f.visititems(lambda n, o: have.append(n) if isinstance(o, h5py.Dataset) else None)
        raise ImageReadError(f"{path}: no dataset {dataset!r}; datasets in the file: {have}")
    return name


class GuardedFile:
    """A file HDF5 writes through (h5py's file-object driver) that never lets a failed write reach
    the HDF5 library: the first ``OSError`` (e.g. "No space left on device") is kept in ``error``
    and later writes are skipped, so h5py can still close the file cleanly. (Given the error
    itself, HDF5 fails to close the file, and h5py crashes the process later while freeing it.)
    Callers check :meth:`check` after writing and closing, then remove the file."""

    def __init__(self, path):
        self.path = Path(path)
        self.f = open(self.path, "w+b", buffering=0)
        self.error: OSError | None = None

    def write(self, b) -> int:
        mv = memoryview(b).cast("B")
        n = len(mv)
        done = 0
        if self.error is None:
            try:
                while done < n:
                    k = self.f.write(mv[done:])
                    if not k:
                        raise OSError(28, "No space left on device")
                    done += k
                return n
            except OSError as e:
                self.error = e
        self.f.seek(n - done, 1)
        return n

    def read(self, n=-1):
        return self.f.read(n)

    def readinto(self, b):
        return self.f.readinto(b)

    def seek(self, offset, whence=0):
        return self.f.seek(offset, whence)

    def tell(self):
        return self.f.tell()

    def truncate(self, size=None):
        try:
            return self.f.truncate(size)
        except OSError as e:
            self.error = self.error or e
            return size

    def flush(self):
        pass

    def close(self):
        if not self.f.closed:
            if self.error is None:
                try:
                    os.fsync(self.f.fileno())
                except OSError as e:
                    self.error = e
            self.f.close()

    def check(self) -> None:
        """Raise the first write error (an OSError with its errno, naming the file written; the
        atomic writers of :mod:`.atomic` name the target instead)."""
        if self.error is not None:
            e = self.error
            raise OSError(e.errno, e.strerror or str(e), str(self.path)) from None


class H5Writer:
    """``with H5Writer(tmp) as f:`` an ``h5py.File`` opened for writing through a
    :class:`GuardedFile`: closing never crashes natively, and a write error is raised
    (as ``OSError``) when the block ends or at :meth:`close`."""

    def __init__(self, path):
        import h5py

        self.guard = GuardedFile(path)
        try:
            self.file = h5py.File(self.guard, "w")
        except BaseException:
            self.guard.close()
            raise

    def check(self) -> None:
        self.guard.check()

    def close(self, check: bool = True) -> None:
        try:
            if self.file.id.valid:
                self.file.close()
        except Exception as e:  # an error the guard did not catch: keep it
            if self.guard.error is None and isinstance(e, OSError):
                self.guard.error = e
        finally:
            self.guard.close()
        if check:
            self.check()

    def __enter__(self):
        return self.file

    def __exit__(self, exc_type, exc, tb):
        self.close(check=exc_type is None)
        return False


ILASTIK4IJ_TYPES = {"int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64", "float32", "float64"}


def ilastik4ij_axistags() -> str:
    """ilastik4ij's axistags: ``tzyxc`` with only key and typeFlags."""
    flags = {"t": 8, "z": 2, "y": 2, "x": 2, "c": 1}
    return json.dumps({"axes": [{"key": k, "typeFlags": flags[k]} for k in "tzyxc"]})


def ilastik4ij_chunks(shape_tzyxc) -> tuple[int, ...]:
    """ilastik4ij's chunks of a (T, Z, Y, X, C) dataset (not pixelforest's export chunks)."""
    T, Z, Y, X, C = shape_tzyxc
    if Z > 1:
        return (1, min(Z, 32), min(Y, 32), min(X, 32), 1)
    return (1, 1, min(Y, 128), min(X, 128), 1)


def write_ilastik4ij(img5: np.ndarray, path, *, dataset: str = "data", compression: int = 0) -> Path:
    """Write a (T, Z, Y, X, C) array as ilastik4ij's Export HDF5 does (atomically)."""

    path = Path(path)
    if path.suffix.lower() != ".h5":
        raise ValueError(f"{path}: the file name must end in .h5 (as ilastik4ij requires)")
    if not 0 <= int(compression) <= 9:
        raise ValueError(f"compression must be a deflate level 0-9, got {compression}")
    if str(img5.dtype) not in ILASTIK4IJ_TYPES:
        raise ValueError(f"dtype {img5.dtype} is not one ilastik4ij writes ({sorted(ILASTIK4IJ_TYPES)})")
    if img5.ndim != 5:
        raise ValueError(f"expected a (T, Z, Y, X, C) array, got shape {img5.shape}")

    def w(tmp):
        with H5Writer(tmp) as f:
            kw = {"compression": "gzip", "compression_opts": int(compression)} if compression else {}
            ds = f.create_dataset(dataset, data=img5, chunks=ilastik4ij_chunks(img5.shape), **kw)
            ds.attrs["axistags"] = ilastik4ij_axistags()

    return atomic_output(path, w)


def read_hdf5(path, dataset: str | None = None, axes: str | None = None,
              allow_external: bool | None = None) -> tuple[np.ndarray, str]:
    """Read a dataset with ilastik4ij's Import HDF5 axis rules; returns ``(array, axes)``.
    External links, virtual datasets and external storage are refused unless ``allow_external``."""
    arr, ax, _ = _read_hdf5(path, dataset, axes, allow_external)
    return arr, ax


def read_dataset(f, path, dataset: str | None, allow_external: bool | None, import_hdf5: bool = False):
    """One dataset of an open HDF5 file, read with every check first: links outside the file
    (unless ``allow_external``), :func:`find_dataset`'s rule, with ``import_hdf5`` Import HDF5's
    2D-5D, the chunks; returns ``(array, axes from its axistags or None, dataset name)``."""
    check_hdf5_links(f, path, allow_external)
    name = find_dataset(f, path, dataset)
    ds = f[name]
    if import_hdf5 and not 2 <= ds.ndim <= 5:
        raise ImageReadError(f"{path}/{name}: {ds.ndim}D data; Import HDF5 reads 2D to 5D")
    check_chunks(ds, path)
    arr = ds[()]
    return arr, axes_from_axistags(ds.attrs["axistags"]) if "axistags" in ds.attrs else None, name


def _read_hdf5(path, dataset, axes, allow_external=None) -> tuple[np.ndarray, str, str]:
    """:func:`read_hdf5`, and the name of the dataset read."""
    import h5py

    path = Path(path)
    if not path.exists():
        raise ImageReadError(f"HDF5 file {path} does not exist")
    try:
        with h5py.File(path, "r") as f:
            arr, tagged, name = read_dataset(f, path, dataset, allow_external, import_hdf5=True)
    except (ImageReadError, ExternalDataError):
        raise
    except OSError as e:
        raise ImageReadError(f"{path}: not a readable HDF5 file ({e})") from None
    ax = axes or (tagged if tagged and len(tagged) == arr.ndim else guess_axes(arr.shape))
    return arr, _axes.check_axes(ax, arr.ndim, "HDF5 axes"), name


def read_as_tzcyx(path, dataset: str | None = None, axes: str | None = None) -> tuple[np.ndarray, str, str]:
    """Import HDF5 for ImageJ: the data as (T, Z, C, Y, X), the axes the file had, and the dataset."""
    arr, ax, name = _read_hdf5(path, dataset, axes)
    d5 = _axes.to_canonical(arr, ax)  # T, Z, Y, X, C
    return np.ascontiguousarray(np.moveaxis(d5, -1, 2)), ax, name
