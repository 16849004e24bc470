"""Images larger than memory: lazy readers and block writers in the canonical tzyxc view.

:class:`LazyImage` reads only the region asked for, from an HDF5 dataset, a Zarr
array, a TIFF (through tifffile's Zarr store, so tiled and multi-page files are
read piecewise) or a memory-mapped ``.npy``. It opens its file on every read, so
it can be sent to other processes (Dask workers). :class:`BlockOutput` writes
result blocks into an HDF5 dataset or Zarr array in the export layout (input axes
with c). With these, :meth:`pixelforest.Classifier.predict_canonical` runs on any
volume with memory bounded by the block size.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .. import axes as _axes
from .atomic import PendingOutput
from .export import export_chunks, output_shape, set_export_attrs, to_output_layout
from .guards import check_chunks, check_hdf5_links
from .hdf5 import H5Writer, find_dataset
from .images import open_zarr_array
from .source import (
    HDF5_SUFFIXES,
    TIFF_SUFFIXES,
    ImageReadError,
    axes_from_axistags,
    guess_axes,
    parse_source,
    tiff_axes,
)


class LazyImage:
    """A file-backed image seen as a 5D ``(T, Z, Y, X, C)`` array; ``[...]`` reads a region."""

    def __init__(self, spec, axes: str | None = None, allow_external: bool | None = None):
        self.source = parse_source(spec)
        self.spec = str(spec)
        self.allow_external = allow_external
        shape, dtype, file_axes = self._probe()
        self.file_axes = _axes.check_axes(axes, len(shape), "input axes") if axes else file_axes
        self.file_shape = tuple(int(s) for s in shape)
        self.dtype = np.dtype(dtype)
        if self.dtype.kind not in "biuf":
            raise ImageReadError(f"{self.source.path}: unsupported pixel type {self.dtype}; expected integers or "
                                 f"real numbers")
        self.shape = tuple(self.file_shape[self.file_axes.index(a)] if a in self.file_axes else 1
                           for a in _axes.CANONICAL)
        self.ndim = 5

    # -- file access ---------------------------------------------------------------

    def _open(self, probe: bool = False):
        """``(handle to close or None, array-like)`` of the file; ``probe``: check it first (links, chunks)."""
        p = self.source.path
        suffix = p.suffix.lower()
        if not p.exists():
            raise ImageReadError(f"image file {p} does not exist")
        if suffix in HDF5_SUFFIXES:
            return self._open_hdf5(probe)
        if suffix == ".zarr":
            return None, open_zarr_array(self.source)
        if suffix in TIFF_SUFFIXES:
            import tifffile
            import zarr

            tf = tifffile.TiffFile(p)
            store = tf.series[0].aszarr()
            z = zarr.open(store, mode="r")
            if isinstance(z, zarr.Group):  # pyramidal: level 0
                z = z["0"]
            return tf, z
        if suffix == ".npy":
            return None, np.load(p, mmap_mode="r", allow_pickle=False)
        raise ImageReadError(f"{p}: unsupported format {suffix!r} for lazy reading (TIFF, HDF5, Zarr, .npy)")

    def _open_hdf5(self, probe: bool):
        import h5py

        p = self.source.path
        f = h5py.File(p, "r")
        try:
            if probe:
                check_hdf5_links(f, p, self.allow_external)
            ds = f[find_dataset(f, p, self.source.dataset)]
            if probe:
                check_chunks(ds, p)
        except BaseException:
            f.close()
            raise
        return f, ds

    def _probe(self):
        handle, arr = self._open(probe=True)
        try:
            shape, dtype = arr.shape, arr.dtype
            p = self.source.path
            suffix = p.suffix.lower()
            ax = None
            if suffix in HDF5_SUFFIXES and "axistags" in arr.attrs:
                ax = axes_from_axistags(arr.attrs["axistags"])
            elif suffix == ".zarr" and arr.attrs.get("axistags"):
                ax = axes_from_axistags(arr.attrs["axistags"])
            elif suffix in TIFF_SUFFIXES:
                ax = tiff_axes(handle.series[0].axes)
            elif suffix == ".npy":
                ax = _axes.default_axes(len(shape)) if len(shape) in (2, 3) else None
            if ax is None or len(ax) != len(shape):
                ax = guess_axes(shape)
            return shape, dtype, ax
        finally:
            if handle is not None:
                handle.close()

    def __getitem__(self, sl) -> np.ndarray:
        """Read a region given as 5D canonical slices; returns a (T, Z, Y, X, C) array."""
        sl = (tuple(sl) if isinstance(sl, tuple) else (sl,))
        sl = sl + (slice(None),) * (5 - len(sl))
        if not all(isinstance(s, slice) for s in sl):
            raise TypeError("LazyImage regions are read with slices over (T, Z, Y, X, C), e.g. img[0:1, 3:5]")
        file_sl = tuple(sl[_axes.CANONICAL.index(a)] for a in self.file_axes)
        handle, arr = self._open()
        try:
            block = np.asarray(arr[file_sl])
        finally:
            if handle is not None:
                handle.close()
        return _axes.to_canonical(block, self.file_axes)

    def __array__(self, dtype=None, copy=None):
        a = self[(slice(None),) * 5]
        return a.astype(dtype) if dtype is not None else a

    def __repr__(self):
        return f"LazyImage({self.spec!r}, axes={self.file_axes!r}, shape={self.file_shape}, dtype={self.dtype})"


class BlockOutput:
    """Result blocks written into an HDF5 dataset or Zarr array in the export layout.

    Created on a temporary path (:class:`.atomic.PendingOutput`); :meth:`close` renames it into
    place when complete, :meth:`abort` removes it, so no partial output is ever left behind.
    """

    def __init__(self, path, in_axes: str, shape5, dtype, fmt: str = "hdf5", dataset: str = "exported_data",
                 drange=None, compression: int = 0):
        self.fmt = fmt
        self.out_axes = _axes.output_axes(in_axes)
        self.shape5 = tuple(int(s) for s in shape5)  # (T, Z, Y, X, K)
        shape = output_shape(self.shape5, self.out_axes)
        chunks = export_chunks(shape, self.out_axes)
        self._pending = PendingOutput(path)
        self.path, self.tmp = self._pending.path, self._pending.tmp
        self._writer = None
        try:
            if fmt == "zarr":
                import zarr

                group = zarr.open_group(str(self.tmp), mode="w")
                self.ds = group.create_array(dataset, shape=shape, dtype=dtype, chunks=chunks)
            else:
                self._writer = H5Writer(self.tmp)
                kw = {"compression": "gzip", "compression_opts": compression} if compression else {}
                self.ds = self._writer.file.create_dataset(dataset, shape=shape, dtype=dtype, chunks=chunks, **kw)
            set_export_attrs(self.ds, self.out_axes, drange, zarr=fmt == "zarr")
        except BaseException as e:
            self._fail(e)
        self.shape = self.shape5
        self.ndim = 5

    def __setitem__(self, sl, block: np.ndarray):
        """Write a (T, Z, Y, X, K) block at canonical slices ``sl`` (spatial slices only)."""
        sl = tuple(sl) + (slice(None),) * (5 - len(sl))
        try:
            self.ds[tuple(sl[_axes.CANONICAL.index(a)] for a in self.out_axes)] = to_output_layout(block, self.out_axes)
            if self._writer is not None:
                self._writer.check()  # a full disk: stop at the first failed write
        except OSError as e:
            self._raise(e)

    def close(self) -> Path:
        """Finish the file and rename it into place."""
        try:
            if self._writer is not None:
                self._writer.close()
            return self._pending.commit()
        except OSError as e:
            self._raise(e)

    def abort(self) -> None:
        """Remove the temporary output (the target is left as it was)."""
        if self._writer is not None:
            try:
                self._writer.close(check=False)
            except Exception:
                pass
        if self.fmt == "zarr":
            _zarr_settle()  # a failed write leaves zarr's other chunk writes running: let them end first
        self._pending.discard()

    def _raise(self, e: OSError):
        """Raise a write error naming the output (the temporary file stays until :meth:`abort`)."""
        raise (self._pending.failure(e) or e) from None

    def _fail(self, e: BaseException):
        self.abort()
        raise (self._pending.failure(e) or e) from None


def _zarr_settle(timeout: float = 3.0) -> None:
    """Wait (at most ``timeout`` s) until zarr's I/O loop has no task left running: when one chunk
    write fails (a full disk), zarr raises at once while the others go on in its loop thread, and
    would write into a folder being removed."""
    import asyncio
    import time

    try:
        from zarr.core.sync import loop as _loops
    except ImportError:  # pragma: no cover - another zarr
        return
    lp = _loops[0] if _loops else None
    if lp is None:
        return
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            pending = [t for t in asyncio.all_tasks(lp) if not t.done()]
        except RuntimeError:  # the task set changed while it was read: look again
            pending = [None]
        if not pending:
            return
        time.sleep(0.02)
