"""HDF5 the way ilastik's Fiji plugin (ilastik4ij) writes and reads it.

Export HDF5: always 5D ``tzyxc``; attribute ``axistags`` with only ``key`` and
``typeFlags`` (t = 8, spatial = 2, channel = 1); chunks 1 for t and c, and
``min(dim, 128)`` for y, x on 2D data or ``min(dim, 32)`` for z, y, x when
z > 1; deflate level 0-9 (default 0, none); dataset default ``data``; the file
must end in ``.h5``. Import HDF5: 2D-5D; axes from ``axistags`` if present,
otherwise ilastik4ij's guess (yx; yxc if the last dim <= 4 else zyx; zyxc;
tzyxc).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from .. import axes as _axes
from .images import H5Writer, ImageReadError, atomic_output, axes_from_axistags, guess_axes

ILASTIK4IJ_TYPES = {"int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64", "float32", "float64"}


def ilastik4ij_axistags() -> str:
    flags = {"t": 8, "z": 2, "y": 2, "x": 2, "c": 1}
    return json.dumps({"axes": [{"key": k, "typeFlags": flags[k]} for k in "tzyxc"]})


def ilastik4ij_chunks(shape_tzyxc) -> tuple[int, ...]:
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
    import h5py

    from .guards import ExternalDataError, check_chunks, check_hdf5_links

    path = Path(path)
    if not path.exists():
        raise ImageReadError(f"HDF5 file {path} does not exist")
    try:
        with h5py.File(path, "r") as f:
            check_hdf5_links(f, path, allow_external)
            names = []
            f.visititems(lambda n, o: names.append(n) if isinstance(o, h5py.Dataset) else None)
            if dataset is None:
                if len(names) != 1:
                    raise ImageReadError(f"{path}: choose a dataset, the file holds {names}")
                dataset = names[0]
            if dataset.strip("/") not in names:
                raise ImageReadError(f"{path}: no dataset {dataset!r}; datasets in the file: {names}")
            ds = f[dataset]
            if not 2 <= ds.ndim <= 5:
                raise ImageReadError(f"{path}/{dataset}: {ds.ndim}D data; Import HDF5 reads 2D to 5D")
            check_chunks(ds, path)
            arr = ds[()]
            tagged = axes_from_axistags(ds.attrs["axistags"]) if "axistags" in ds.attrs else None
    except (ImageReadError, ExternalDataError):
        raise
    except OSError as e:
        raise ImageReadError(f"{path}: not a readable HDF5 file ({e})") from None
    ax = axes or (tagged if tagged and len(tagged) == arr.ndim else guess_axes(arr.shape))
    return arr, _axes.check_axes(ax, arr.ndim, "HDF5 axes")


def only_dataset(path) -> str:
    """The name of the one dataset of an HDF5 file (an error naming them when there are several)."""
    import h5py

    with h5py.File(path, "r") as f:
        names = []
        f.visititems(lambda n, o: names.append(n) if isinstance(o, h5py.Dataset) else None)
    if len(names) != 1:
        raise ImageReadError(f"{path}: choose a dataset, the file holds {names}")
    return names[0]


def read_as_tzcyx(path, dataset: str | None = None, axes: str | None = None) -> tuple[np.ndarray, str, str]:
    """Import HDF5 for ImageJ: the data as (T, Z, C, Y, X), the axes the file had, and the dataset."""
    arr, ax = read_hdf5(path, dataset, axes)
    d5 = _axes.to_canonical(arr, ax)  # T, Z, Y, X, C
    return np.ascontiguousarray(np.moveaxis(d5, -1, 2)), ax, (dataset or only_dataset(path)).strip("/")
