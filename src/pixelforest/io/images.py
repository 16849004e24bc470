"""Reading images and writing results whole: TIFF, HDF5, Zarr and NumPy files.

Every reader returns the array and its axes over ``tzyxc``. Inputs are opened
read-only; every writer writes through :mod:`.atomic` (a temporary file beside the
target, renamed when complete), so an interrupted run never leaves a partial output.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .. import axes as _axes
from .atomic import atomic_output
from .export import export_chunks, set_export_attrs
from .guards import ExternalDataError
from .hdf5 import H5Writer, read_dataset
from .source import (
    HDF5_SUFFIXES,
    TIFF_SUFFIXES,
    ImageReadError,
    ImageSource,
    axes_from_axistags,
    guess_axes,
    parse_source,
    tiff_axes,
)

OUTPUT_FORMATS = {
    "hdf5": ".h5",
    "compressed-hdf5": ".h5",
    "tiff": ".tiff",
    "tif": ".tif",
    "multipage-tiff": ".tiff",
    "npy": ".npy",
    "zarr": ".zarr",
}


def read_image(spec, axes: str | None = None, allow_external: bool | None = None) -> tuple[np.ndarray, str]:
    """Read an image; returns ``(array, axes)``.

    ``axes`` overrides what the file says (like ilastik's ``--input_axes``). HDF5 files that refer
    to data outside themselves are refused unless ``allow_external``.
    """
    src = spec if isinstance(spec, ImageSource) else parse_source(spec)
    path = src.path
    if not path.exists():
        raise ImageReadError(f"image file {path} does not exist")
    suffix = path.suffix.lower()
    try:
        if suffix in HDF5_SUFFIXES:
            arr, ax = _read_hdf5(src, allow_external)
        elif suffix in TIFF_SUFFIXES:
            arr, ax = _read_tiff(path)
        elif suffix == ".zarr":
            arr, ax = _read_zarr(src)
        elif suffix == ".npy":
            arr = np.load(path, allow_pickle=False)
            ax = _axes.default_axes(arr.ndim) if arr.ndim in (2, 3) else guess_axes(arr.shape)
        else:
            raise ImageReadError(f"{path}: unsupported image format {suffix!r}; expected TIFF, HDF5 (.h5) or .npy")
    except (ImageReadError, ExternalDataError, MemoryError):
        raise
    except Exception as e:  # damaged/truncated files raise many different errors
        raise ImageReadError(f"{src}: cannot read image ({type(e).__name__}: {e})") from None
    if axes is not None:
        ax = _axes.check_axes(axes, arr.ndim, "input axes")
    if arr.dtype.kind not in "biuf":
        raise ImageReadError(f"{src}: unsupported pixel type {arr.dtype}; expected integers or real numbers")
    return arr, ax


def open_zarr_array(src: ImageSource):
    """The Zarr array of an image source: the folder's array, or the group's array ``src.dataset``
    (optional when the group holds one array)."""
    import zarr

    node = zarr.open(str(src.path), mode="r")
    if isinstance(node, zarr.Group):
        names = sorted(k for k, _ in node.arrays())
        name = src.dataset or (names[0] if len(names) == 1 else None)
        if name is None or name not in names:
            raise ImageReadError(f"{src.path}: name the array as {src.path}/<array>; arrays in the group: {names}")
        node = node[name]
    return node


def _read_zarr(src: ImageSource):
    node = open_zarr_array(src)
    arr = node[...]
    tags = node.attrs.get("axistags")
    ax = axes_from_axistags(tags) if tags else None
    return arr, ax if ax and len(ax) == arr.ndim else guess_axes(arr.shape)


def _read_hdf5(src: ImageSource, allow_external: bool | None = None):
    import h5py

    with h5py.File(src.path, "r") as f:
        arr, ax, _ = read_dataset(f, src.path, src.dataset, allow_external)
    return arr, ax if ax is not None and len(ax) == arr.ndim else guess_axes(arr.shape)


def _read_tiff(path: Path):
    import tifffile

    with tifffile.TiffFile(path) as tf:
        s = tf.series[0]
        arr = s.asarray()
        ax = tiff_axes(s.axes)
    return arr, ax


# ------------------------------------------------------------------ writing


def write_result(array: np.ndarray, axes: str, path, fmt: str = "hdf5", *, dataset: str = "exported_data",
                 drange=None, display_mode: str = "default", compression: int | None = None) -> Path:
    """Write a result array (axes over tzyxc) in ilastik's export conventions (see :mod:`.export`).

    HDF5: ``compressed-hdf5`` is gzip level 1 (ilastik's), ``compression`` a deflate level for
    ``hdf5``. Zarr: a group with the array ``dataset`` and the same attributes.
    """
    fmt = normalize_format(fmt)
    level = 1 if fmt == "compressed-hdf5" else int(compression or 0)
    if not 0 <= level <= 9:
        raise ValueError(f"compression must be a deflate level 0-9, got {compression}")
    if fmt == "zarr":
        def w(tmp):
            import zarr

            group = zarr.open_group(str(tmp), mode="w")
            z = group.create_array(dataset, shape=array.shape, dtype=array.dtype,
                                   chunks=export_chunks(array.shape, axes))
            z[...] = array
            set_export_attrs(z, axes, drange, display_mode, zarr=True)
    elif fmt in ("hdf5", "compressed-hdf5"):
        def w(tmp):
            with H5Writer(tmp) as f:
                kw = {"compression": "gzip", "compression_opts": level, "chunks": export_chunks(array.shape, axes)} \
                    if level else {}
                set_export_attrs(f.create_dataset(dataset, data=array, **kw), axes, drange, display_mode)
    elif fmt in ("tiff", "tif", "multipage-tiff"):
        def w(tmp):
            _write_tiff(tmp, array, axes)
    elif fmt == "npy":
        def w(tmp):
            with open(tmp, "wb") as f:
                np.lib.format.write_array(f, np.ascontiguousarray(array), allow_pickle=False)
    return atomic_output(path, w)


def _write_tiff(path, array, axes):
    import tifffile

    ij_axes = "TZCYX"
    present = [a for a in ij_axes if a.lower() in axes]
    data = np.transpose(array, [axes.index(a.lower()) for a in present])
    shape = [array.shape[axes.index(a.lower())] if a.lower() in axes else 1 for a in ij_axes]
    data = data.reshape(shape)
    if array.dtype in (np.uint8, np.uint16, np.float32):
        tifffile.imwrite(path, data, imagej=True, metadata={"axes": ij_axes}, photometric="minisblack")
    else:
        tifffile.imwrite(path, np.transpose(array, [axes.index(a.lower()) for a in present]),
                         metadata={"axes": "".join(present)}, photometric="minisblack")


def normalize_format(fmt: str) -> str:
    f = str(fmt).strip().lower().replace("_", "-").replace(" ", "-")
    aliases = {"h5": "hdf5", "compressed-h5": "compressed-hdf5", "tiff-sequence": "tiff",
               "multipage-tif": "multipage-tiff"}
    f = aliases.get(f, f)
    if f not in OUTPUT_FORMATS:
        raise ValueError(f"unknown output format {fmt!r}; expected one of {list(OUTPUT_FORMATS)}")
    return f


def write_label_tiff(path, labels: np.ndarray) -> Path:
    import tifffile

    return atomic_output(Path(path), lambda tmp: tifffile.imwrite(tmp, labels, photometric="minisblack"))
