"""Where an image is and what its axes are: image sources (``file.h5/dataset``) and the axis
rules of TIFF, HDF5 (vigra ``axistags``, ilastik4ij's guess) and Zarr files, shared by the
whole-image readers (:mod:`.images`), the lazy ones (:mod:`.lazy`) and :mod:`.hdf5`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from .. import axes as _axes

HDF5_SUFFIXES = (".h5", ".hdf5", ".hdf", ".ilp")
ZARR_SUFFIXES = (".zarr",)
TIFF_SUFFIXES = (".tif", ".tiff")


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
    """The axes a vigra ``axistags`` JSON names (None when it is not one over ``tzyxc``)."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    try:
        tags = json.loads(text)
        keys = "".join(a["key"] for a in tags["axes"]).lower()
    except (ValueError, KeyError, TypeError):
        return None
    return keys if set(keys) <= set(_axes.CANONICAL) and len(set(keys)) == len(keys) else None


def tiff_axes(series_axes: str) -> str:
    """tifffile's series axes (``TZCYX``, ``YXS``, ...) as axes over ``tzyxc``."""
    mapping = {"T": "t", "Z": "z", "C": "c", "S": "c", "Y": "y", "X": "x", "I": "z", "Q": "z"}
    out = []
    for a in series_axes:
        m = mapping.get(a)
        if m is None:
            raise ImageReadError(f"unsupported TIFF axis {a!r} in {series_axes!r}")
        out.append(m)
    # C and S both present (RGB with channels), or I and Z: refused
    if len(set(out)) != len(out):
        raise ImageReadError(f"TIFF axes {series_axes!r} map to duplicate axes {''.join(out)!r}")
    return "".join(out)
