"""Apply a classifier to image files: one file, or many with a summary.

Shared by ``pixelforest predict`` and the Fiji plugin's *Batch...* command.
Outputs follow ilastik's headless export: ``{dataset_dir}/{nickname}_{result_type}.<ext>``,
the input's axes with ``c`` appended, HDF5 dataset ``exported_data``; written
atomically, so an interrupted run leaves only complete files.
"""

from __future__ import annotations

import glob
import os
import time
from pathlib import Path

import numpy as np

from . import axes as _axes
from .classifier import ILASTIK_SOURCES, Classifier, normalize_source
from .daskpipe import compute_into, predict_graph
from .ilastik import load_classifier
from .io.atomic import tmp_for
from .io.export import export_dtype, export_range, known_drange, output_shape, pipeline_drange, to_output_layout
from .io.guards import check_output_not_input, check_unchanged, file_keys, fingerprint
from .io.images import OUTPUT_FORMATS, normalize_format, parse_source, read_image, write_result
from .io.lazy import BlockOutput, LazyImage
from .runtime import available_memory, die_with_parent, install_interrupt_handler, raise_if_interrupted

IMAGE_SUFFIXES = (".tif", ".tiff", ".h5", ".hdf5", ".npy", ".zarr")
DEFAULT_NAME = "{dataset_dir}/{nickname}_{result_type}"


def output_path(fmt_string: str, source_spec, result_type: str, fmt: str, out_dir=None) -> Path:
    """Expand ilastik's ``{dataset_dir}``, ``{nickname}``, ``{result_type}`` placeholders."""
    src = parse_source(source_spec)
    dataset_dir = str(Path(out_dir) if out_dir is not None else src.path.parent.resolve())
    try:
        name = fmt_string.format(dataset_dir=dataset_dir, nickname=src.nickname, result_type=result_type)
    except (KeyError, IndexError, ValueError) as e:
        raise ValueError(f"output filename format {fmt_string!r}: unknown placeholder {e}; "
                         f"use {{dataset_dir}}, {{nickname}}, {{result_type}}") from None
    p = Path(name)
    if p.suffix.lower() not in (".h5", ".hdf5", ".tif", ".tiff", ".npy", ".zarr"):
        p = p.with_name(p.name + OUTPUT_FORMATS[fmt])
    return p


def predict_file(clf: Classifier, spec, source: str = "probabilities", fmt: str = "hdf5", *, target=None,
                 fmt_string: str = DEFAULT_NAME, out_dir=None, dataset: str = "exported_data", axes=None,
                 block_shape=None, progress=None, dtype=None, export_drange=None, in_drange=None,
                 memory_bytes=None, scheduler: str | None = None, allow_external: bool | None = None) -> dict:
    """Predict one image file and write the result; returns what was written.

    HDF5 and Zarr outputs are computed block by block from a lazily read input
    straight into the output file (memory bounded by the block size), locally or
    through Dask (``scheduler``); TIFF and npy outputs are assembled in memory.
    An output that would replace the input is refused before any work; an input that
    changes while it is read fails (no output is written). ``allow_external``: follow
    external links, virtual datasets and external storage of an HDF5 input (refused by default).
    """
    src = normalize_source(source)
    fmt = normalize_format(fmt)
    result_type = ILASTIK_SOURCES[src]
    path = Path(target) if target else output_path(fmt_string, spec, result_type, fmt, out_dir)
    check_output_not_input(path, [spec])
    in_path = parse_source(spec).path
    before = fingerprint(in_path)
    if fmt in ("hdf5", "compressed-hdf5", "zarr"):
        rng = in_drange or known_drange(src, clf.n_classes)
        if rng is not None or dtype is None:
            return _predict_file_lazy(clf, spec, src, fmt, path, dataset, axes, block_shape, progress, dtype,
                                      export_drange, rng, memory_bytes, scheduler, allow_external,
                                      lambda: check_unchanged(in_path, before))
    if scheduler:
        raise ValueError(f"--scheduler needs an HDF5 or Zarr output (blocks are written as they arrive), not {fmt}")
    t0 = time.time()
    arr, ax = read_image(spec, axes, allow_external=allow_external)
    check_unchanged(in_path, before)
    res = clf.predict_canonical(_axes.to_canonical(arr, ax), src, block_shape=block_shape, progress=progress)
    out_axes = _axes.output_axes(ax)
    res = to_output_layout(res, out_axes)
    drange = in_drange or pipeline_drange(res, src, clf.n_classes)
    res, drange = export_dtype(res, dtype, export_drange, drange)
    write_result(res, out_axes, path, fmt, dataset=dataset, drange=drange)
    return {"input": str(spec), "output": str(path), "result_type": result_type, "dtype": str(res.dtype),
            "axes": out_axes, "shape": list(res.shape), "seconds": round(time.time() - t0, 3)}


class _Converting:
    """A block writer that converts each block's dtype on the way (export dtype/drange)."""

    def __init__(self, out, convert):
        self.out, self.convert = out, convert

    def __setitem__(self, sl, block):
        self.out[sl] = self.convert(block)


def _predict_file_lazy(clf, spec, src, fmt, path, dataset, axes, block_shape, progress, dtype, export_drange, rng,
                       memory_bytes, scheduler, allow_external=None, check_input=None) -> dict:
    t0 = time.time()
    img = LazyImage(spec, axes, allow_external=allow_external)
    shape5, rdtype = clf.result_shape(img.shape, src)
    out_dtype = np.dtype(dtype) if dtype is not None else rdtype
    drange = rng
    if dtype is not None or export_drange is not None:
        drange = export_range(out_dtype, export_drange, rng)
    memory_bytes = memory_bytes or min(available_memory() // 4, 1 << 30)
    writer = BlockOutput(path, img.file_axes, shape5, out_dtype, fmt="zarr" if fmt == "zarr" else "hdf5",
                         dataset=dataset, drange=drange, compression=1 if fmt == "compressed-hdf5" else 0)
    sink = writer if (dtype is None and export_drange is None) else _Converting(
        writer, lambda b: export_dtype(b, dtype, export_drange, rng)[0])
    try:
        if scheduler:
            compute_into(predict_graph(clf, img, src, block_shape, memory_bytes), sink, scheduler, progress)
        else:
            clf.predict_canonical(img, src, block_shape=block_shape, progress=progress, out=sink,
                                  memory_bytes=memory_bytes)
        if check_input is not None:
            check_input()
        writer.close()
    except BaseException:
        writer.abort()
        raise
    shape = list(output_shape(shape5, writer.out_axes))
    return {"input": str(spec), "output": str(path), "result_type": ILASTIK_SOURCES[src], "dtype": str(out_dtype),
            "axes": writer.out_axes, "shape": shape, "seconds": round(time.time() - t0, 3)}


def expand_inputs(inputs) -> list[str]:
    """Files, folders (their images, sorted) and globs (sorted), as ilastik's --raw_data."""
    if isinstance(inputs, (str, Path)):
        inputs = [p for p in str(inputs).split(";") if p.strip()]
    out: list[str] = []
    for item in inputs:
        s = str(item).strip()
        p = Path(s)
        if p.is_dir():
            out.extend(str(q) for q in sorted(p.iterdir()) if q.suffix.lower() in IMAGE_SUFFIXES)
        elif any(ch in s for ch in "*?["):
            out.extend(sorted(glob.glob(s)))
        else:
            out.append(s)
    return out


def check_inputs(clf: Classifier, files, axes=None, allow_external: bool | None = None) -> dict[str, str]:
    """Inputs the classifier cannot take, refused before any work: ``{file: reason}``."""
    bad = {}
    for f in files:
        try:
            img = LazyImage(f, axes, allow_external=allow_external)
        except Exception as e:  # any error of a hostile or damaged file refuses that file only
            raise_if_interrupted()  # a Ctrl-C swallowed inside a compiled kernel surfaces as another error
            bad[f] = error_message(e)
            continue
        T, Z, Y, X, C = img.shape
        ndim = _axes.spatial_ndim(Z)
        if C != clf.n_channels or ndim != clf.ndim:
            bad[f] = (f"{C}-channel {ndim}D image (axes {img.file_axes}, shape {img.file_shape}), but the "
                      f"classifier expects {clf.n_channels}-channel {clf.ndim}D images")
    return bad


def error_message(e: BaseException) -> str:
    """A one-line message for a per-file error of any type."""
    text = str(e).strip().splitlines()
    text = text[0] if text else ""
    if isinstance(e, (ValueError, OSError)) and text:
        return text
    if isinstance(e, MemoryError):
        return f"out of memory ({text or 'MemoryError'}); try a smaller --memory or --block-shape"
    return f"{type(e).__name__}: {text}" if text else type(e).__name__


def _worker_init(parent: int | None = None) -> None:
    """A --jobs worker: dies with its parent (``parent``: its pid, so that a parent gone while the
    worker was still starting is noticed too); Ctrl-C is the parent's to handle (it stops the workers)."""
    import signal

    die_with_parent(parent)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    install_interrupt_handler(signal.SIGTERM)


def _one(model, f, kw):
    """Predict one file in a worker process (the model is loaded there)."""
    clf = load_classifier(model, allow_external=kw.get("allow_external")) if isinstance(model, (str, Path)) else model
    r = predict_file(clf, f, **kw)
    r["status"] = "done"
    return r


def check_targets(targets: dict) -> None:
    """Refuse, before any work, outputs that would replace an input or that two inputs share."""
    inputs: dict = {}
    for f in targets:
        for k in file_keys(parse_source(f).path):
            inputs.setdefault(k, f)
    seen: dict = {}
    for f, t in targets.items():
        for k in file_keys(t):
            if k in inputs:
                raise ValueError(f"the output of {f} would be {t}, which is the input {inputs[k]}: refusing to "
                                 f"replace an input; change --output-filename-format or the output folder")
        key = str(Path(t).resolve()) if Path(t).parent.exists() else str(Path(t).absolute())
        if key in seen:
            raise ValueError(f"{seen[key]} and {f} would both be written to {t}; change --output-filename-format "
                             f"(e.g. add {{dataset_dir}} folders) so that every input has its own output")
        seen[key] = f


def _stop_pool(ex, targets) -> None:
    """Stop a process pool now (Ctrl-C): cancel what has not started, end the workers (SIGTERM: they
    remove their temporary files; SIGKILL after 1 s), then remove any temporary file left."""
    import signal

    procs = list((getattr(ex, "_processes", None) or {}).values())
    ex.shutdown(wait=False, cancel_futures=True)
    for p in procs:
        try:
            os.kill(p.pid, signal.SIGTERM)
        except (OSError, TypeError):
            pass
    deadline = time.time() + 1.0
    for p in procs:
        p.join(max(0.0, deadline - time.time()))
    for p in procs:
        if p.is_alive():
            p.kill()
            p.join(0.5)
    for t in targets:
        tmp_for(Path(t))  # removes temporary files of processes that are gone


def predict_files(clf: Classifier, inputs, *, source: str = "probabilities", fmt: str = "hdf5", out_dir=None,
                  fmt_string: str = DEFAULT_NAME, skip_existing: bool = True, progress=None, axes=None,
                  jobs: int = 1, model_path=None, block_progress=None, **predict_kw) -> list[dict]:
    """Predict many files (files, folders, globs). Inputs that do not fit the classifier are
    refused up front; a file that fails is reported and the others still complete; finished
    outputs are skipped (resume after an interruption); ``jobs`` > 1 runs files in parallel
    processes (``model_path`` is loaded in each)."""
    files = expand_inputs(inputs)
    if not files:
        raise ValueError(f"no input images found in {inputs!r}")
    src, fmt = normalize_source(source), normalize_format(fmt)
    allow_external = predict_kw.get("allow_external")
    targets = {f: output_path(fmt_string, f, ILASTIK_SOURCES[src], fmt, out_dir) for f in files}
    check_targets(targets)
    bad = check_inputs(clf, files, axes, allow_external)
    summary, todo = [], []
    for f in files:
        target = targets[f]
        if f in bad:
            summary.append({"input": f, "output": "", "status": "failed", "error": f"refused: {bad[f]}"})
        elif skip_existing and target.exists():
            summary.append({"input": f, "output": str(target), "status": "skipped (exists)"})
        else:
            todo.append((f, target))
    kw = dict(source=src, fmt=fmt, axes=axes, **predict_kw)
    done = 0

    def record(f, fn):
        nonlocal done
        try:
            summary.append(fn())
        except Exception as e:  # any per-file error fails that file only
            raise_if_interrupted()  # a Ctrl-C swallowed inside a compiled kernel surfaces as another error
            summary.append({"input": f, "output": "", "status": "failed", "error": error_message(e)})
        done += 1
        if progress:
            progress(done, len(todo))

    if jobs > 1 and len(todo) > 1:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        ex = ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context("spawn"),
                                 initializer=_worker_init, initargs=(os.getpid(),))
        try:
            futures = [(f, ex.submit(_one, model_path or clf, f, dict(kw, target=t))) for f, t in todo]
            for f, fut in futures:
                record(f, fut.result)
        except BaseException:
            _stop_pool(ex, [t for _, t in todo])
            raise
        ex.shutdown(wait=True)
    else:
        for f, t in todo:
            record(f, lambda f=f, t=t: _one(clf, f, dict(kw, target=t, progress=block_progress)))
    order = {f: i for i, f in enumerate(files)}
    return sorted(summary, key=lambda r: order.get(r["input"], 0))
