"""Reading images and writing results: TIFF, HDF5 and NumPy files.

Every reader returns the array and its axes over ``tzyxc``. Inputs are opened
read-only; every writer writes to a temporary file beside the target and
renames it when complete, so an interrupted run never leaves a partial output.
"""

from __future__ import annotations

import errno
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .. import axes as _axes
from .guards import ExternalDataError

HDF5_SUFFIXES = (".h5", ".hdf5", ".hdf", ".ilp")
ZARR_SUFFIXES = (".zarr",)
TIFF_SUFFIXES = (".tif", ".tiff")
OUTPUT_FORMATS = {
    "hdf5": ".h5",
    "compressed-hdf5": ".h5",
    "tiff": ".tiff",
    "tif": ".tif",
    "multipage-tiff": ".tiff",
    "npy": ".npy",
    "zarr": ".zarr",
}


class ImageReadError(ValueError):
    """An input image that cannot be read (missing, damaged, wrong dataset)."""


@dataclass
class ImageSource:
    """Where an image is: a file and, for HDF5, a dataset inside it."""

    path: Path
    dataset: str | None = None

    @property
    def nickname(self) -> str:
        return self.path.stem

    def __str__(self) -> str:
        return f"{self.path}/{self.dataset}" if self.dataset else str(self.path)


def parse_source(spec) -> ImageSource:
    """``file.tif``, ``file.npy``, ``file.h5`` or ``file.h5/inner/dataset``."""
    s = str(spec)
    p = Path(s)
    if p.exists():
        return ImageSource(p)
    low = s.lower()
    for suf in HDF5_SUFFIXES + ZARR_SUFFIXES:
        marker = suf + "/"
        i = low.find(marker)
        if i >= 0:
            return ImageSource(Path(s[: i + len(suf)]), s[i + len(marker):].strip("/") or None)
    return ImageSource(p)


def guess_axes(shape) -> str:
    """ilastik4ij's Import HDF5 guessing rule for data without axistags."""
    n = len(shape)
    if n == 2:
        return "yx"
    if n == 3:
        return "yxc" if shape[-1] <= 4 else "zyx"
    if n == 4:
        return "zyxc"
    if n == 5:
        return "tzyxc"
    raise ImageReadError(f"cannot guess the axes of a {n}D dataset; expected 2 to 5 dimensions")


def axes_from_axistags(text) -> str | None:
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    try:
        tags = json.loads(text)
        keys = "".join(a["key"] for a in tags["axes"]).lower()
    except (ValueError, KeyError, TypeError):
        return None
    return keys if set(keys) <= set(_axes.CANONICAL) and len(set(keys)) == len(keys) else None


def _tiff_axes(series_axes: str, shape) -> str:
    mapping = {"T": "t", "Z": "z", "C": "c", "S": "c", "Y": "y", "X": "x", "I": "z", "Q": "z"}
    out = []
    for a in series_axes:
        m = mapping.get(a)
        if m is None:
            raise ImageReadError(f"unsupported TIFF axis {a!r} in {series_axes!r}")
        out.append(m)
    # merge duplicates: C and S both present (e.g. RGB with channels) or I and Z
    if len(set(out)) != len(out):
        raise ImageReadError(f"TIFF axes {series_axes!r} map to duplicate axes {''.join(out)!r}")
    return "".join(out)


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


def _read_zarr(src: ImageSource):
    import zarr

    node = zarr.open(str(src.path), mode="r")
    if isinstance(node, zarr.Group):
        names = sorted(k for k, v in node.arrays())
        name = src.dataset or (names[0] if len(names) == 1 else None)
        if name is None or name not in names:
            raise ImageReadError(f"{src.path}: name the array as {src.path}/<array>; arrays in the group: {names}")
        node = node[name]
    arr = node[...]
    tags = node.attrs.get("axistags")
    ax = axes_from_axistags(tags) if tags else None
    return arr, ax if ax and len(ax) == arr.ndim else guess_axes(arr.shape)


def _read_hdf5(src: ImageSource, allow_external: bool | None = None):
    import h5py

    from .guards import check_chunks, check_hdf5_links

    with h5py.File(src.path, "r") as f:
        check_hdf5_links(f, src.path, allow_external)
        name = src.dataset
        if name is None:
            found = []
            f.visititems(lambda n, o: found.append(n) if isinstance(o, h5py.Dataset) and o.ndim >= 2 else None)
            if len(found) != 1:
                raise ImageReadError(
                    f"{src.path}: name the dataset as {src.path}/<dataset>; "
                    + (f"it holds {found}" if found else "it holds no image dataset")
                )
            name = found[0]
        if name not in f or not isinstance(f[name], h5py.Dataset):
            have = []
            f.visititems(lambda n, o: have.append(n) if isinstance(o, h5py.Dataset) else None)
            raise ImageReadError(f"{src.path}: no dataset {name!r}; datasets in the file: {have}")
        ds = f[name]
        check_chunks(ds, src.path)
        arr = ds[()]
        ax = axes_from_axistags(ds.attrs["axistags"]) if "axistags" in ds.attrs else None
        if ax is None or len(ax) != arr.ndim:
            ax = guess_axes(arr.shape)
    return arr, ax


def _read_tiff(path: Path):
    import tifffile

    with tifffile.TiffFile(path) as tf:
        s = tf.series[0]
        arr = s.asarray()
        ax = _tiff_axes(s.axes, arr.shape)
    # drop singleton axes that tifffile adds for ImageJ files only when they are not y/x
    return arr, ax


# ------------------------------------------------------------------ writing


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
        """Raise the first write error (as a clear OSError naming the file)."""
        if self.error is not None:
            e = self.error
            raise OSError(e.errno, f"cannot write {self.path}: {e.strerror or e}") from None


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


def _tmp_for(path: Path) -> Path:
    """A temporary name beside ``path``; stale ones left by killed processes are removed first."""
    for stale in path.parent.glob(f".{path.name}.tmp-*") if path.parent.exists() else ():
        try:
            pid = int(stale.name.rsplit("-", 1)[1])
        except ValueError:
            continue
        if pid != os.getpid() and not _alive(pid):
            import shutil

            shutil.rmtree(stale, ignore_errors=True) if stale.is_dir() else stale.unlink(missing_ok=True)
    return path.with_name(f".{path.name}.tmp-{os.getpid()}")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def atomic_output(path: Path, write) -> Path:
    """Run ``write(tmp_path)`` then rename to ``path``; remove the temp file on any failure."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _tmp_for(path)
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException as e:
        full = isinstance(e, Exception) and _disk_full(path.parent)
        # a short write reported by a writer (tifffile: "N requested and M written")
        short = isinstance(e, (ValueError, OSError)) and "requested and" in str(e) and "written" in str(e)
        tmp.unlink(missing_ok=True)
        if short and not full:
            raise OSError(errno.EFBIG, f"cannot write {path}: the disk is full or the file size limit is reached "
                                       f"({e})") from None
        if full or isinstance(e, OSError) and e.errno in (errno.ENOSPC, errno.EFBIG, errno.EDQUOT):
            reason = "No space left on device" if full else (e.strerror or str(e))
            raise OSError(errno.ENOSPC if full else e.errno, f"cannot write {path}: {reason}") from None
        raise
    return path


def _disk_full(folder: Path) -> bool:
    """Whether the file system of ``folder`` has (almost) no space left."""
    import shutil

    try:
        return shutil.disk_usage(folder).free < 2**20
    except OSError:
        return False


def axistags_json(axes: str) -> str:
    """vigra axistags JSON as ilastik writes on exported data."""
    flags = {"t": 8, "z": 2, "y": 2, "x": 2, "c": 1}
    return json.dumps(
        {"axes": [{"key": a, "typeFlags": flags[a], "resolution": 0, "description": ""} for a in axes]},
        indent=2,
    )


def write_result(array: np.ndarray, axes: str, path, fmt: str = "hdf5", *, dataset: str = "exported_data",
                 drange=None, display_mode: str = "default", compression: int | None = None) -> Path:
    """Write a result array (axes over tzyxc) in ilastik's export conventions.

    HDF5: ``compressed-hdf5`` is gzip level 1 (ilastik's), ``compression`` a deflate level for
    ``hdf5``. Zarr: a group with the array ``dataset`` and the same attributes.
    """
    fmt = normalize_format(fmt)
    path = Path(path)
    level = 1 if fmt == "compressed-hdf5" else int(compression or 0)
    if not 0 <= level <= 9:
        raise ValueError(f"compression must be a deflate level 0-9, got {compression}")
    attrs = {"axistags": axistags_json(axes), "display_mode": display_mode}
    if fmt == "zarr":
        return _write_zarr(array, axes, path, dataset, attrs, drange)
    if fmt in ("hdf5", "compressed-hdf5"):
        def w(tmp):
            with H5Writer(tmp) as f:
                kw = {"compression": "gzip", "compression_opts": level, "chunks": _chunks(array.shape, axes)} if level else {}
                ds = f.create_dataset(dataset, data=array, **kw)
                ds.attrs["axistags"] = attrs["axistags"]
                if drange is not None:
                    ds.attrs["drange"] = np.asarray(drange, dtype=array.dtype)
                ds.attrs["display_mode"] = display_mode
    elif fmt in ("tiff", "tif", "multipage-tiff"):
        def w(tmp):
            _write_tiff(tmp, array, axes)
    elif fmt == "npy":
        def w(tmp):
            with open(tmp, "wb") as f:
                np.lib.format.write_array(f, np.ascontiguousarray(array), allow_pickle=False)
    return atomic_output(path, w)


def _write_zarr(array, axes, path: Path, dataset: str, attrs: dict, drange) -> Path:
    import shutil

    import zarr

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _tmp_for(path)
    try:
        group = zarr.open_group(str(tmp), mode="w")
        z = group.create_array(dataset, shape=array.shape, dtype=array.dtype, chunks=_chunks(array.shape, axes))
        z[...] = array
        z.attrs.update(attrs)
        if drange is not None:
            z.attrs["drange"] = [float(v) for v in drange]
        if path.exists():
            shutil.rmtree(path)
        os.replace(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return path


def _chunks(shape, axes):
    return tuple(1 if a in "tc" else min(n, 64 if "z" in axes else 256) for n, a in zip(shape, axes))


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
    aliases = {"h5": "hdf5", "compressed-h5": "compressed-hdf5", "tiff-sequence": "tiff", "multipage-tif": "multipage-tiff"}
    f = aliases.get(f, f)
    if f not in OUTPUT_FORMATS:
        raise ValueError(f"unknown output format {fmt!r}; expected one of {list(OUTPUT_FORMATS)}")
    return f


def write_label_tiff(path, labels: np.ndarray) -> Path:
    import tifffile

    return atomic_output(Path(path), lambda tmp: tifffile.imwrite(tmp, labels, photometric="minisblack"))
