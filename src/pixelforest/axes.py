"""One canonical axis model inside the engine: ``tzyxc``.

Readers and the public API accept arrays in any order of the axes ``t``, ``z``,
``y``, ``x`` and ``c``; everything in between works on 5D ``(T, Z, Y, X, C)``
arrays. Time points are independent images (features never mix them); ``z`` is
a spatial axis (3D features when ``Z > 1`` unless a scale is computed in 2D).
"""

from __future__ import annotations

import numpy as np

CANONICAL = "tzyxc"


def default_axes(ndim: int, channel_axis: int | None = None) -> str:
    """Axes of an array when the caller did not name them.

    2D arrays are ``yx`` and 3D arrays ``zyx``; with ``channel_axis`` given, one
    more dimension is the channel axis at that position. Anything else is
    ambiguous and must be named with ``axes=``.
    """
    n_spatial = ndim - (1 if channel_axis is not None else 0)
    spatial = {1: None, 2: "yx", 3: "zyx"}.get(n_spatial)
    if spatial is None:
        raise ValueError(
            f"cannot guess the axes of a {ndim}D array; pass axes= "
            f"(a string over 'tzyxc' such as 'tyx', 'zyxc' or 'tzyxc')"
        )
    if channel_axis is None:
        return spatial
    pos = channel_axis if channel_axis >= 0 else ndim + channel_axis
    if not 0 <= pos < ndim:
        raise ValueError(f"channel_axis={channel_axis} is out of range for a {ndim}D array")
    return spatial[:pos] + "c" + spatial[pos:]


def check_axes(axes: str, ndim: int, name: str = "axes") -> str:
    """Validate an axes string for an array of ``ndim`` dimensions."""
    if not isinstance(axes, str):
        raise TypeError(f"{name} must be a string over 'tzyxc', got {type(axes).__name__}")
    axes = axes.lower()
    bad = set(axes) - set(CANONICAL)
    if bad:
        raise ValueError(f"{name}={axes!r} has unknown axes {sorted(bad)}; expected letters from 'tzyxc'")
    if len(set(axes)) != len(axes):
        raise ValueError(f"{name}={axes!r} names an axis twice")
    if len(axes) != ndim:
        raise ValueError(f"{name}={axes!r} names {len(axes)} axes but the array has {ndim} dimensions")
    if "y" not in axes or "x" not in axes:
        raise ValueError(f"{name}={axes!r} must contain both 'y' and 'x'")
    return axes


def resolve_axes(ndim: int, axes: str | None = None, channel_axis: int | None = None) -> str:
    if axes is not None and channel_axis is not None:
        axes = check_axes(axes, ndim)
        pos = channel_axis if channel_axis >= 0 else ndim + channel_axis
        if "c" not in axes or axes.index("c") != pos:
            raise ValueError(f"axes={axes!r} and channel_axis={channel_axis} disagree")
        return axes
    if axes is not None:
        return check_axes(axes, ndim)
    return default_axes(ndim, channel_axis)


def spatial_ndim(z_size: int) -> int:
    """2 for an image of one z slice, 3 for a stack: how features are computed and a classifier applies."""
    return 3 if z_size > 1 else 2


def thinnest_depth(images, axes_list, channel_axis=None) -> int:
    """The depth (z) of the thinnest of ``images`` (each with its axes, or None to guess them), to which
    a preset chosen by name is fitted."""
    return min(to_canonical(np.asarray(im), resolve_axes(np.ndim(im), a, channel_axis)).shape[1]
               for im, a in zip(images, axes_list, strict=True))


def to_canonical(array: np.ndarray, axes: str) -> np.ndarray:
    """View of ``array`` (axes ``axes``) as a 5D ``tzyxc`` array (no copy)."""
    present = [a for a in CANONICAL if a in axes]
    view = np.transpose(array, [axes.index(a) for a in present])
    shape = tuple(array.shape[axes.index(a)] if a in axes else 1 for a in CANONICAL)
    return view.reshape(shape)


def from_canonical(result: np.ndarray, axes: str, channels: bool = True) -> np.ndarray:
    """Bring a ``(T, Z, Y, X, K)`` result back to the input's non-channel axes.

    The result keeps the input's non-channel axes in the input's order with the
    K result channels last (``channels=True``), or drops K when it is 1
    (``channels=False``).
    """
    keep = [a for a in axes if a != "c"]
    spatial = [i for i in range(4) if CANONICAL[i] not in keep]
    out = result
    if spatial:
        out = out.reshape(tuple(s for i, s in enumerate(out.shape) if i not in spatial))
    # after dropping absent axes, positions of kept axes are in canonical order
    kept_canonical = [a for a in CANONICAL[:4] if a in keep]
    perm = [kept_canonical.index(a) for a in keep] + [len(kept_canonical)]
    out = np.transpose(out, perm)
    if not channels:
        if out.shape[-1] != 1:
            raise ValueError("cannot drop a result channel axis of size > 1")
        out = out[..., 0]
    return out


def output_axes(axes: str) -> str:
    """Axes of an exported result: the input's axes with ``c`` appended if missing."""
    return axes if "c" in axes else axes + "c"


def as_imagej_dtype(a: np.ndarray, name: str) -> np.ndarray:
    """``a`` in one of ImageJ's pixel types (uint8, uint16, float32), converted only when exact; ``name`` for errors."""
    if a.dtype in (np.uint8, np.uint16, np.float32):
        return a
    if a.dtype == bool:
        return a.astype(np.uint8)
    if a.dtype.kind in "iu":
        lo, hi = (int(a.min()), int(a.max())) if a.size else (0, 0)
        if lo >= 0 and hi <= 255:
            return a.astype(np.uint8)
        if lo >= 0 and hi <= 65535:
            return a.astype(np.uint16)
        if -(2**24) <= lo and hi <= 2**24:
            return a.astype(np.float32)
        raise ValueError(f"{name}: integer values {lo}..{hi} do not fit ImageJ's 8/16/32-bit types exactly")
    if a.dtype.kind == "f":
        return a.astype(np.float32)
    raise TypeError(f"{name}: dtype {a.dtype} cannot become an ImagePlus")
