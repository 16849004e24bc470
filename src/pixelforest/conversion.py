"""TIFF <-> HDF5 conversion, exactly as ilastik's Fiji plugin (ilastik4ij) does it.

``ilastik4ij`` layout (default): 5D ``tzyxc``, ``axistags`` with key/typeFlags only,
ilastik4ij's chunking, deflate 0-9, dataset ``data`` (see :mod:`pixelforest.io.hdf5`).
``ilastik`` layout (ilastik's headless export): the input's axes with ``c``
appended, dataset ``exported_data``, vigra ``axistags`` with every field,
``drange`` and ``display_mode``. HDF5 -> TIFF uses ilastik4ij's Import HDF5
axis rules and writes an ImageJ hyperstack.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from . import axes as _axes
from .batch import error_message, expand_inputs
from .io.guards import check_output_not_input
from .io.hdf5 import read_hdf5, write_ilastik4ij
from .io.images import read_image, write_result
from .io.source import HDF5_SUFFIXES, parse_source
from .runtime import raise_if_interrupted

LAYOUTS = ("ilastik4ij", "ilastik")


def convert_file(src, dst, *, layout: str = "ilastik4ij", dataset: str | None = None, compression: int = 0,
                 axes: str | None = None, allow_external: bool | None = None) -> dict:
    """Convert one image; returns a summary row. An output that would replace the input is
    refused; HDF5 inputs referring to other files are refused unless ``allow_external``."""
    check_output_not_input(dst, [src])
    if layout not in LAYOUTS:
        raise ValueError(f"unknown layout {layout!r}; expected one of {list(LAYOUTS)}")
    dst = Path(dst)
    source = parse_source(src)
    t0 = time.time()
    if dst.suffix.lower() in (".tif", ".tiff"):
        if source.path.suffix.lower() not in HDF5_SUFFIXES:
            raise ValueError(f"{src}: converting to TIFF needs an HDF5 input")
        arr, ax = read_hdf5(source.path, source.dataset or dataset, axes, allow_external)
        write_result(arr, ax, dst, "tiff")
        return _row(src, dst, arr, ax, t0)
    if dst.suffix.lower() != ".h5":
        raise ValueError(f"{dst}: the output must be a .h5 file (or .tif/.tiff for HDF5 -> TIFF)")
    arr, ax = read_image(source, axes, allow_external)
    if layout == "ilastik4ij":
        d5 = _axes.to_canonical(arr, ax)
        write_ilastik4ij(np.ascontiguousarray(d5), dst, dataset=dataset or "data", compression=compression)
        return _row(src, dst, d5, "tzyxc", t0)
    out_axes = _axes.output_axes(ax)
    data = arr if "c" in ax else arr[..., None]
    drange = (data.min(), data.max()) if data.size else None
    write_result(data, out_axes, dst, "hdf5", dataset=dataset or "exported_data", drange=drange,
                 compression=compression)
    return _row(src, dst, data, out_axes, t0)


def _row(src, dst, arr, axes, t0) -> dict:
    return {"input": str(src), "output": str(dst), "shape": list(arr.shape), "axes": axes, "dtype": str(arr.dtype),
            "status": "done", "seconds": round(time.time() - t0, 3)}


def target_for(src, output: Path, single: bool, to_tiff: bool) -> Path:
    if single and output.suffix.lower() in (".h5", ".tif", ".tiff"):
        return output
    return output / (parse_source(src).nickname + (".tif" if to_tiff else ".h5"))


def convert(inputs, output, *, layout: str = "ilastik4ij", dataset: str | None = None, compression: int = 0,
            axes: str | None = None, to_tiff: bool = False, skip_existing: bool = True, progress=None,
            allow_external: bool | None = None) -> list[dict]:
    """Convert files, folders and globs; already converted outputs are skipped; one failure
    does not stop the others."""
    files = expand_inputs(inputs)
    if not files:
        raise ValueError(f"no input images found in {list(inputs) if not isinstance(inputs, str) else inputs!r}")
    output = Path(output)
    single = len(files) == 1
    if not single and output.suffix.lower() in (".h5", ".tif", ".tiff"):
        raise ValueError(f"{output}: {len(files)} inputs need an output folder, not one file")
    rows = []
    for i, f in enumerate(files):
        target = target_for(f, output, single, to_tiff or (single and output.suffix.lower() in (".tif", ".tiff")))
        if skip_existing and target.exists():
            rows.append({"input": f, "output": str(target), "status": "skipped (exists)"})
        else:
            try:
                rows.append(convert_file(f, target, layout=layout, dataset=dataset, compression=compression, axes=axes,
                                         allow_external=allow_external))
            except Exception as e:  # any per-file error fails that file only
                raise_if_interrupted()  # a Ctrl-C swallowed inside compiled code surfaces as another error
                rows.append({"input": f, "output": str(target), "status": "failed", "error": error_message(e)})
        if progress:
            progress(i + 1, len(files))
    return rows
