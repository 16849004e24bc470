"""ilastik's export conventions for results, in one place.

A result is computed as a 5D ``(T, Z, Y, X, K)`` array; it is exported in the input's axes with
``c`` (the K result channels) appended if missing (:func:`to_output_layout`), chunked as
:func:`export_chunks` says, with vigra ``axistags``, ``display_mode`` and the value range
``drange`` as attributes (:func:`set_export_attrs`). ``drange`` is the pipeline's range
(:func:`pipeline_drange`) unless ilastik's ``--export_dtype`` / ``--export_drange`` rescale it
(:func:`export_dtype`).
"""

from __future__ import annotations

import json

import numpy as np

from .. import axes as _axes

#: the value range of results whose range is known before they are computed
KNOWN_DRANGE = {"probabilities": (0.0, 1.0), "uncertainty": (0.0, 1.0)}


def axistags_json(axes: str) -> str:
    """vigra axistags JSON as ilastik writes on exported data."""
    flags = {"t": 8, "z": 2, "y": 2, "x": 2, "c": 1}
    return json.dumps(
        {"axes": [{"key": a, "typeFlags": flags[a], "resolution": 0, "description": ""} for a in axes]},
        indent=2,
    )


def export_chunks(shape, axes: str) -> tuple[int, ...]:
    """Chunks of an exported array: 1 along t and c, 64 (3D) or 256 (2D) along the spatial axes."""
    return tuple(1 if a in "tc" else min(n, 64 if "z" in axes else 256) for n, a in zip(shape, axes, strict=True))


def output_shape(shape5, out_axes: str) -> tuple[int, ...]:
    """The shape of a ``(T, Z, Y, X, K)`` result exported in ``out_axes``."""
    return tuple(int(shape5[_axes.CANONICAL.index(a)]) for a in out_axes)


def to_output_layout(res5: np.ndarray, out_axes: str) -> np.ndarray:
    """(T, Z, Y, X, K) -> the input's axes with c (the result channels) in place."""
    present = [a for a in _axes.CANONICAL if a in out_axes]
    r = res5.reshape(tuple(n for a, n in zip(_axes.CANONICAL, res5.shape, strict=True) if a in out_axes))
    return np.transpose(r, [present.index(a) for a in out_axes])


def set_export_attrs(ds, axes: str, drange=None, display_mode: str = "default", zarr: bool = False) -> None:
    """The attributes ilastik puts on an exported dataset (HDF5) or array (``zarr``): ``axistags``,
    ``display_mode`` and ``drange`` (in the data's dtype for HDF5, as floats for Zarr's JSON)."""
    ds.attrs["axistags"] = axistags_json(axes)
    ds.attrs["display_mode"] = display_mode
    if drange is not None:
        ds.attrs["drange"] = [float(v) for v in drange] if zarr else np.asarray(drange, dtype=ds.dtype)


def known_drange(source: str, n_classes: int) -> tuple[float, float] | None:
    """The value range of a result known before it is computed (None for features)."""
    if source == "simple-segmentation":
        return (0.0, float(n_classes))
    return KNOWN_DRANGE.get(source)


def pipeline_drange(res: np.ndarray, src: str, n_classes: int) -> tuple[float, float]:
    """The value range of a result before export (ilastik's pipeline_result_drange)."""
    known = known_drange(src, n_classes)
    if known is not None:
        return known
    return (float(res.min()), float(res.max())) if res.size else (0.0, 1.0)


def export_dtype(res: np.ndarray, dtype=None, export_drange=None, in_drange=None):
    """ilastik's --export_dtype / --export_drange: rescale ``in_drange`` linearly to
    ``export_drange`` (default: the full range of an integer dtype) and cast, rounding and clipping
    for integer types. Returns ``(array, drange)``."""
    if dtype is None and export_drange is None:
        return res, in_drange
    dt = np.dtype(dtype) if dtype is not None else res.dtype
    a, b = in_drange
    c, d = export_range(dt, export_drange, in_drange)
    scale = (d - c) / (b - a) if b != a else 0.0
    out = (res.astype(np.float64) - a) * scale + c
    if dt.kind in "iu":
        info = np.iinfo(dt)
        out = np.clip(np.rint(out), info.min, info.max)
    return out.astype(dt), (c, d)


def export_range(dt, export_drange, in_drange) -> tuple[float, float]:
    """The exported value range: ``export_drange``, else an integer dtype's full range, else ``in_drange``."""
    dt = np.dtype(dt)
    if export_drange is None:
        export_drange = (np.iinfo(dt).min, np.iinfo(dt).max) if dt.kind in "iu" else in_drange
    c, d = export_drange
    return float(c), float(d)
