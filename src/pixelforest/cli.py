"""Command line: ``pixelforest train | predict | batch | objects | suggest | convert | export-ilp | info``.

Option names are a contract; ilastik's headless spellings (``--export_source``,
``--output_format``, ``--raw_data``, ``--output_filename_format``,
``--output_internal_path``) are accepted too, so ilastik scripts port by
changing the program name.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from ._version import __version__

EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


class CLIError(Exception):
    pass


def _progress_bar(desc: str, enabled: bool, unit: str = "block"):
    """A callback(done, total) that drives a tqdm bar (to stderr)."""
    state = {}

    def cb(done, total):
        if not enabled:
            return
        from tqdm import tqdm

        bar = state.get("bar")
        if bar is None or bar.total != total:  # a new run (the next file's blocks) gets a new bar
            if bar is not None:
                bar.close()
            bar = state["bar"] = tqdm(total=total, desc=desc, unit=unit, leave=False, file=sys.stderr)
        bar.n = done
        bar.refresh()
        if done >= total:
            bar.close()
            del state["bar"]

    return cb


# ------------------------------------------------------------------------ train


def cmd_train(args) -> int:
    from .io.pfc import save_classifier
    from .training import train

    imgs, labs, axes, names, spec, classes, colors = _training_inputs(args)
    t0 = time.time()
    if not args.quiet:
        what = ("the preset chosen on the labels (features auto)" if spec == "auto"
                else f"{spec.n_features(1, 2)} feature(s) per channel")
        print(f"training on {len(imgs)} image(s) with {what}...", file=sys.stderr)
    clf = train(imgs, labs, features=spec, trees=args.trees, seed=args.seed, axes=axes, classes=classes,
                colors=colors, image_names=names, stages=args.stages)
    save_classifier(clf, args.output)
    _print_trained(clf, args.output, time.time() - t0)
    return 0


def _training_inputs(args):
    """``(images, label images, axes, names, features, classes, colours)`` to train on: one ilastik
    project's (``--labels PROJECT.ilp``, optionally with other IMAGEs) or IMAGE and label files'."""
    labels = args.labels
    classes = args.classes.split(",") if args.classes else None
    if len(labels) == 1 and labels[0].lower().endswith(".ilp"):
        from .io.ilp import IlastikProject

        with IlastikProject(labels[0], allow_external=args.allow_external) as ilp:
            return _project_inputs(ilp, args, classes)
    if any(lab.lower().endswith(".ilp") for lab in labels):
        raise CLIError("--labels: give either one .ilp project or one label image per IMAGE, not both")
    return _file_inputs(args, classes)


def _read_images(paths, args):
    """The images at ``paths`` and their axes."""
    from .io.images import read_image

    read = [read_image(p, args.axes, allow_external=args.allow_external) for p in paths]
    return [r[0] for r in read], [r[1] for r in read]


def _project_inputs(ilp, args, classes):
    """Training inputs from an open ilastik project: its lanes' labels, on its own raw data or on
    the IMAGEs given (one per labelled lane); its features, class names and colours by default."""
    from .features import resolve_spec

    images = list(args.images or [])
    imgs, labs, axes, names = ilp.training_data()
    if images:
        if len(images) != len(imgs):
            raise CLIError(f"{len(images)} IMAGE(s) given but the project has {len(imgs)} labelled lane(s)")
        imgs, axes = _read_images(images, args)
        names = [str(p) for p in images]
    if not imgs:
        raise CLIError(f"{ilp.path}: the project has no labelled pixels in any lane")
    spec = (ilp.feature_spec() if args.features in (None, "from-ilp")
            else "auto" if args.features == "auto" else resolve_spec(args.features))
    return imgs, labs, axes, names, spec, classes or ilp.label_names() or None, ilp.label_colors() or None


def _file_inputs(args, classes):
    """Training inputs from IMAGE files and one label image per IMAGE; the features fit the
    thinnest image's depth."""
    from . import axes as _axes
    from .features import DEFAULT_FEATURES, resolve_spec
    from .io.images import read_image

    images = list(args.images or [])
    if args.features == "from-ilp":
        raise CLIError("--features from-ilp needs --labels PROJECT.ilp")
    if not images:
        raise CLIError("give the training IMAGE(s) (or --labels PROJECT.ilp to use the project's own data)")
    if len(images) != len(args.labels):
        raise CLIError(f"{len(images)} IMAGE(s) but {len(args.labels)} --labels; give one label image per image")
    imgs, axes = _read_images(images, args)
    depth = _axes.thinnest_depth(imgs, axes)
    spec = "auto" if args.features == "auto" else resolve_spec(args.features or DEFAULT_FEATURES, depth)
    labs = [read_image(p, allow_external=args.allow_external)[0] for p in args.labels]
    return imgs, labs, axes, [str(p) for p in images], spec, classes, None


def _print_trained(clf, output, seconds: float) -> None:
    """The train command's summary line (and the automatic choices made, if any)."""
    t = clf.training
    if "auto" in t:
        from .autotune import describe

        print(describe(t["auto"]), file=sys.stderr)
    oob = "n/a" if t.get("oob_error") is None else f"{t['oob_error']:.4f}"
    print(f"saved {output}: {clf.n_classes} classes {clf.class_names}, {clf.n_features} features, "
          + (f"{clf.stages} auto-context stages, " if clf.stages > 1 else "") +
          f"{t['n_samples']} labelled pixels {t['samples_per_class']}, {t['trees']} trees, OOB error {oob} "
          f"({seconds:.1f} s)")


# ---------------------------------------------------------------------- predict


def cmd_predict(args) -> int:
    from .batch import DEFAULT_NAME, predict_file
    from .classifier import normalize_source
    from .ilastik import load_classifier
    from .io.images import normalize_format

    images = list(args.images or []) + list(args.raw_data or [])
    if not images:
        raise CLIError("no IMAGE given to predict")
    source = normalize_source(args.export_source)
    fmt = normalize_format(args.output_format)
    clf = load_classifier(args.model, allow_external=args.allow_external)
    out_dir = None
    out_file = None
    if args.output:
        o = Path(args.output)
        if o.is_dir() or args.output.endswith(("/", "\\")) or not o.suffix:
            out_dir = o
        elif len(images) > 1:
            raise CLIError(f"-o {args.output}: a single output file for {len(images)} inputs; give a folder instead")
        else:
            out_file = o
    failed = []
    for spec in images:
        try:
            r = predict_file(clf, spec, source, fmt, target=out_file,
                             fmt_string=args.output_filename_format or DEFAULT_NAME,
                             out_dir=out_dir, dataset=args.output_internal_path, axes=args.axes,
                             block_shape=args.block_shape, progress=_progress_bar(Path(str(spec)).name, not args.quiet),
                             dtype=args.export_dtype, export_drange=args.export_drange, in_drange=args.pipeline_drange,
                             allow_external=args.allow_external)
            print(f"{spec} -> {r['output']} ({r['result_type']}, {r['dtype']}, axes {r['axes']}, "
                  f"shape {tuple(r['shape'])}, {r['seconds']:.1f} s)")
        except KeyboardInterrupt:
            raise
        except Exception as e:  # any per-file error fails that input only
            from .batch import error_message
            from .runtime import raise_if_interrupted

            raise_if_interrupted()  # a Ctrl-C swallowed inside a compiled kernel surfaces as another error

            print(f"pixelforest predict: {spec}: {error_message(e)}", file=sys.stderr)
            failed.append(str(spec))
    if failed:
        print(f"pixelforest predict: {len(failed)} of {len(images)} input(s) failed: {', '.join(failed)}",
              file=sys.stderr)
        return EXIT_ERROR
    return 0


# ------------------------------------------------------------------------ batch


def cmd_batch(args) -> int:
    from .batch import DEFAULT_NAME, predict_files
    from .ilastik import load_classifier

    inputs = list(args.inputs or []) + list(args.raw_data or [])
    if not inputs:
        raise CLIError("no INPUTS given (files, folders or globs)")
    clf = load_classifier(args.model, allow_external=args.allow_external)
    t0 = time.time()
    rows = predict_files(
        clf, inputs, source=args.export_source, fmt=args.output_format, out_dir=args.output,
        fmt_string=args.output_filename_format or DEFAULT_NAME, skip_existing=not args.overwrite,
        progress=_progress_bar("files", not args.quiet, unit="file"), axes=args.axes, jobs=args.jobs,
        model_path=args.model, block_progress=_progress_bar("blocks", not args.quiet and args.jobs <= 1),
        dataset=args.output_internal_path, block_shape=args.block_shape,
        memory_bytes=int(args.memory * 2**20) if args.memory else None, scheduler=args.scheduler,
        dtype=args.export_dtype, export_drange=args.export_drange, in_drange=args.pipeline_drange,
        allow_external=args.allow_external)
    return _report(rows, ("status", "input", "output", "seconds"), "batch",
                   "batch: {done} done, {skipped} skipped, {failed} failed of {n} file(s)"
                   + f" in {time.time() - t0:.1f} s")


# ---------------------------------------------------------------------- objects


def cmd_objects(args) -> int:
    from . import axes as _axes
    from .io.images import read_image, write_result
    from .io.tables import write_csv
    from .postprocess import ObjectParams, measure_objects, pixel_sizes, segment_objects

    arr, ax = read_image(args.probabilities, args.axes)
    p5 = _axes.to_canonical(arr, ax)
    K = p5.shape[-1]
    ch = args.channel
    if not 0 <= ch < K:
        raise CLIError(f"--channel {ch}: the probability image has channels 0..{K - 1}")
    image5 = None
    if args.image:
        img, iax = read_image(args.image)
        image5 = _axes.to_canonical(img, iax)
        if image5.shape[:4] != p5.shape[:4]:
            raise CLIError(f"--image {args.image}: shape {img.shape} does not match the probabilities {arr.shape}")
    params = ObjectParams(smooth=args.smooth, threshold="otsu" if args.threshold == "otsu" else float(args.threshold),
                          fill_holes=not args.keep_holes, min_size=args.min_size, max_size=args.max_size,
                          split=args.split, min_distance=args.min_distance)
    rows, labels_all, offset = [], np.zeros(p5.shape[:4], np.int32), 0
    Z = p5.shape[1]
    try:
        pixel_sizes(args.pixel_size, _axes.spatial_ndim(Z))
    except ValueError as e:
        raise CLIError(f"--pixel-size: {e}") from None
    for t in range(p5.shape[0]):
        prob = p5[t, :, :, :, ch] if Z > 1 else p5[t, 0, :, :, ch]
        lab = segment_objects(prob, params)
        img = None if image5 is None else (image5[t] if Z > 1 else image5[t, 0])
        for r in measure_objects(lab, prob, img, pixel_size=args.pixel_size, unit=args.unit):
            rows.append({"t": t, **r, "label": r["label"] + offset})
        labels_all[t] = (np.where(lab > 0, lab + offset, 0)).reshape(labels_all[t].shape)
        offset += int(lab.max())
    write_csv(rows, args.output)
    if args.labels_out:
        out_axes = "".join(a for a in ax if a != "c")
        lab_out = _axes.from_canonical(labels_all[..., None], out_axes, channels=False)
        fmt = "tiff" if str(args.labels_out).lower().endswith((".tif", ".tiff")) else "hdf5"
        write_result(lab_out, out_axes, args.labels_out, fmt, dataset="labels")
    print(f"{len(rows)} objects -> {args.output}" + (f", labels -> {args.labels_out}" if args.labels_out else ""))
    return 0


def cmd_suggest(args) -> int:
    from . import axes as _axes
    from .features import resolve_spec
    from .io.images import read_image
    from .suggest import suggest_features
    from .training import canonical_labels

    img, ax = read_image(args.image, args.axes)
    lab, _ = read_image(args.labels)
    image5 = _axes.to_canonical(img, ax)
    lab4 = canonical_labels(lab, ax, image5.shape, str(args.labels))
    res = suggest_features(image5, lab4, resolve_spec(args.features), n=args.number, method=args.method,
                           progress=_progress_bar("suggesting", not args.quiet, unit="step"))
    for fid, scale, score in res["cells"]:
        print(f"  {fid} sigma={scale}: {score:.4f}")
    print(f"OOB error with the {len(res['cells'])} suggested cells: {res['oob_error']:.4f} "
          f"(all {len(resolve_spec(args.features).cells())} candidates: {res['oob_error_all']:.4f})")
    if args.output:
        from pathlib import Path as _P

        _P(args.output).write_text(res["spec"].to_json(), encoding="utf-8")
        print(f"wrote {args.output} (train with --features {args.output})")
    return 0


# ---------------------------------------------------------------------- convert


def cmd_convert(args) -> int:
    from .conversion import convert

    rows = convert(args.inputs, args.output, layout=args.layout, dataset=args.dataset, compression=args.compression,
                   axes=args.axes, to_tiff=args.to_tiff, skip_existing=not args.overwrite,
                   progress=_progress_bar("converting", not args.quiet, unit="file"),
                   allow_external=args.allow_external)
    return _report(rows, ("status", "input", "output", "axes", "shape", "dtype"), "convert",
                   "converted {done}, skipped {skipped}, failed {failed} of {n} file(s)")


def _report(rows, cols, command: str, summary: str) -> int:
    """The summary table of a many-file command, a count line, each failure on stderr; the exit status."""
    _print_table(rows, cols)
    failed = [r for r in rows if r["status"] == "failed"]
    print(summary.format(done=sum(r["status"] == "done" for r in rows), failed=len(failed), n=len(rows),
                         skipped=sum(r["status"].startswith("skipped") for r in rows)))
    for r in failed:
        print(f"pixelforest {command}: {r['input']}: {r['error']}", file=sys.stderr)
    return EXIT_ERROR if failed else 0


def _print_table(rows, cols):
    cells = [[str(r.get(c, "")) for c in cols] for r in rows]
    widths = [max([len(c)] + [len(row[i]) for row in cells]) for i, c in enumerate(cols)]
    print("  ".join(c.ljust(w) for c, w in zip(cols, widths, strict=True)))
    for row in cells:
        print("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)))


def cmd_export_ilp(args) -> int:
    import warnings

    from .ilastik import load_classifier
    from .io.ilp import ilastik_cells, write_ilp

    clf = load_classifier(args.model)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # said below
        path = write_ilp(clf, args.output, raw_data=args.raw_data)
    kept, dropped = ilastik_cells(clf.spec)
    print(f"wrote {path}: {len(clf.labels)} lane(s), classes {clf.class_names}, {len(kept)} feature cells "
          f"(ilastik retrains on load)"
          + (f"; left out, as ilastik has no such feature: {', '.join(dropped)}" if dropped else ""))
    return 0


# ------------------------------------------------------------------------- info


def cmd_info(args) -> int:
    from .ilastik import load_classifier

    if str(args.model).lower().endswith(".ilp"):
        from .io.ilp import IlastikProject

        with IlastikProject(args.model, allow_external=args.allow_external) as ilp:
            if ilp.forest() is None:  # a project ilastik retrains on load
                spec = ilp.feature_spec()
                print(f"ilastik project: {args.model} (ilastik {ilp.version}, no trained forest: "
                      f"ilastik retrains on load)")
                print(f"classes: {', '.join(ilp.label_names())}")
                print(f"features: {len(spec.cells())} (feature, scale) cells; scales {list(spec.scales)}")
                for lane in ilp.lanes():
                    print(f"lane {lane.index}: {lane.nickname} <- {lane.file_path} ({lane.location}, axes {lane.axes})")
                return 0
    clf = load_classifier(args.model, allow_external=args.allow_external)
    t = clf.training
    print(f"classifier: {args.model} ({clf.source})")
    print(f"classes ({clf.n_classes}): "
          + ", ".join(f"{n} {tuple(c)}" for n, c in zip(clf.class_names, clf.class_colors, strict=True)))
    print(f"input: {clf.n_channels} channel(s), {clf.ndim}D")
    cells = clf.spec.cells()
    print(f"features: {clf.n_features} channels from {len(cells)} (feature, scale) cells; "
          f"scales {list(clf.spec.scales)}; structure tensor rule {clf.spec.structure_tensor}; "
          f"intensity normalisation {clf.spec.normalize}")
    if args.verbose:
        for i, n in enumerate(clf.feature_names):
            print(f"  [{i}] {n}")
    if clf.forest is not None:
        print(f"forest: {clf.forest.n_trees} trees, {clf.forest.feature.shape[0]} nodes")
    if clf.stages > 1:
        print(f"auto-context: {clf.stages} stages; each stage after the first also filters the previous stage's "
              f"{clf.n_classes} probability maps ({clf.n_inputs} input channels)")
    if "n_samples" in t:
        print(f"training: {t['n_samples']} labelled pixels {t.get('samples_per_class')} on {t.get('n_images')} "
              f"image(s), mtry {t.get('mtry')}, seed {t.get('seed')}")
    oob = t.get("oob_error")
    print(f"out-of-bag error: {'n/a' if oob is None else f'{oob:.4f}'}")
    for k in ("from_ilastik_project", "ilastik_version"):
        if k in t:
            print(f"{k.replace('_', ' ')}: {t[k]}")
    return 0


# ------------------------------------------------------------------------ parser


def _drange(text):
    try:
        lo, hi = (float(v) for v in text.strip("()[] ").split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"a range looks like 0,255, got {text!r}") from None
    return (lo, hi)


def _block_shape(text):
    try:
        vals = tuple(int(v) for v in text.replace("x", ",").split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"block shape must look like 512,512 or 64,256,256, got {text!r}") from None
    if len(vals) not in (2, 3) or min(vals) < 1:
        raise argparse.ArgumentTypeError(f"block shape must be 2 or 3 positive sizes, got {text!r}")
    return vals


def _export_options(p) -> None:
    """The export options predict and batch share (ilastik's spellings accepted)."""
    p.add_argument("--export-source", "--export_source", dest="export_source", default="probabilities",
                   help="probabilities | simple-segmentation | uncertainty | features (ilastik names accepted)")
    p.add_argument("--output-format", "--output_format", dest="output_format", default="hdf5",
                   help="hdf5 | compressed-hdf5 | tiff | multipage-tiff | npy (default hdf5)")
    p.add_argument("--output-filename-format", "--output_filename_format", dest="output_filename_format",
                   help="output path with {dataset_dir}, {nickname}, {result_type} "
                        "(default {dataset_dir}/{nickname}_{result_type}.<ext>)")
    p.add_argument("--output-internal-path", "--output_internal_path", dest="output_internal_path",
                   default="exported_data", help="HDF5 dataset name (default exported_data)")
    p.add_argument("--axes", "--input_axes", dest="axes", help="axes of the images (default: from the file)")
    p.add_argument("--block-shape", dest="block_shape", type=_block_shape,
                   help="block size y,x or z,y,x (default: from a memory budget)")
    p.add_argument("--export-dtype", "--export_dtype", dest="export_dtype",
                   choices=["uint8", "uint16", "uint32", "int8", "int16", "int32", "float32", "float64"],
                   help="convert the result, rescaling its range (e.g. probabilities to uint8 0..255)")
    p.add_argument("--export-drange", "--export_drange", dest="export_drange", type=_drange,
                   help="output value range, e.g. 0,255 (default: the dtype's full range)")
    p.add_argument("--pipeline-result-drange", "--pipeline_result_drange", dest="pipeline_drange", type=_drange,
                   help="value range of the result before export (default 0,1 for probabilities)")
    _allow_external(p)


def _allow_external(p) -> None:
    p.add_argument("--allow-external", action="store_true", default=None,
                   help="follow external links, virtual datasets and external raw storage in HDF5 inputs and "
                        ".ilp projects (refused by default: they read files other than the ones named)")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="pixelforest", description="ilastik-style pixel classification")
    p.add_argument("--version", action="version", version=f"pixelforest {__version__}")
    sub = p.add_subparsers(dest="command", required=True)

    t = sub.add_parser("train", help="train a classifier from sparse label images or an ilastik project")
    t.add_argument("images", nargs="*", metavar="IMAGE", help="training images (TIFF, HDF5 file.h5/dataset, .npy)")
    t.add_argument("--labels", nargs="+", required=True, metavar="LABELS",
                   help="one label image per IMAGE (0 = unlabelled, k = class k), or one ilastik .ilp project")
    t.add_argument("--features", default=None,
                   help="pixelforest-default (default: smoothing and Hessian eigenvalues, sigma 0.5-16, top-hats "
                        "of half-width 1-16 and dark hole filling of reach 4-64, on per-image normalised intensities), "
                        "ilastik-default (exactly ilastik), minimal, auto (the preset that cross-validation on "
                        "the labels, grouped by stroke, finds best), a feature .json file, or from-ilp")
    t.add_argument("--classes", help="class names, comma separated (class k = label k)")
    t.add_argument("--trees", type=int, default=100, help="number of trees (default 100, as ilastik)")
    t.add_argument("--seed", type=int, default=None, help="random seed for a reproducible forest")
    t.add_argument("--stages", type=int, default=1, choices=range(1, 5), metavar="N",
                   help="auto-context stages (default 1; 2 = ilastik's Autocontext: a second forest on the features "
                        "of the image plus the first forest's probabilities)")
    t.add_argument("--axes", "--input_axes", dest="axes",
                   help="axes of the images, e.g. yxc or tzyx (default: from the file)")
    t.add_argument("-o", "--output", required=True, metavar="MODEL", help="classifier file to write (.pfc)")
    t.add_argument("-q", "--quiet", action="store_true")
    _allow_external(t)
    t.set_defaults(func=cmd_train)

    r = sub.add_parser("predict", help="apply a classifier (or an ilastik project's forest) to images")
    r.add_argument("model", metavar="MODEL", help="classifier file (.pfc) or ilastik project (.ilp)")
    r.add_argument("images", nargs="*", metavar="IMAGE")
    r.add_argument("--raw_data", "--raw-data", nargs="+", dest="raw_data", metavar="IMAGE",
                   help="images (ilastik spelling)")
    _export_options(r)
    r.add_argument("-o", "--output", help="output file (one input) or folder (replaces {dataset_dir})")
    r.add_argument("-q", "--quiet", action="store_true")
    r.set_defaults(func=cmd_predict)

    b = sub.add_parser("batch", help="apply a classifier to many files (folders, globs), resumable, out of core")
    b.add_argument("model", metavar="MODEL", help="classifier file (.pfc) or ilastik project (.ilp)")
    b.add_argument("inputs", nargs="*", metavar="INPUT", help="files, folders or globs")
    b.add_argument("--raw_data", "--raw-data", nargs="+", dest="raw_data", metavar="INPUT",
                   help="inputs (ilastik spelling)")
    _export_options(b)
    b.add_argument("-o", "--output", help="output folder (replaces {dataset_dir})")
    b.add_argument("--jobs", type=int, default=1, help="files predicted in parallel processes (default 1)")
    b.add_argument("--scheduler", help="run the block-wise pipeline on Dask: threads, processes or tcp://HOST:PORT")
    b.add_argument("--memory", type=float,
                   help="memory for one block in MB (default: a quarter of the available, <= 1 GB)")
    b.add_argument("--overwrite", action="store_true", help="predict again even when the output exists")
    b.add_argument("-q", "--quiet", action="store_true")
    b.set_defaults(func=cmd_batch)

    o = sub.add_parser("objects", help="objects from a probability map: threshold, watershed, measure (CSV)")
    o.add_argument("probabilities", help="probability image (HDF5 file.h5/dataset, TIFF, ...)")
    o.add_argument("-o", "--output", required=True, help="object table (.csv)")
    o.add_argument("--channel", type=int, default=0, help="probability channel of the objects' class (default 0)")
    o.add_argument("--image", help="raw image, for mean intensities per channel")
    o.add_argument("--smooth", type=float, default=0.0, help="Gaussian sigma before thresholding")
    o.add_argument("--threshold", default="0.5", help="probability threshold or 'otsu' (default 0.5)")
    o.add_argument("--keep-holes", action="store_true", help="do not fill holes")
    o.add_argument("--min-size", type=int, default=0, help="drop objects smaller than this (pixels/voxels)")
    o.add_argument("--max-size", type=int, default=None)
    o.add_argument("--split", choices=["none", "distance", "maxima"], default="distance",
                   help="watershed split of touching objects: seeds from the distance transform (default) or "
                        "probability maxima")
    o.add_argument("--min-distance", type=int, default=3, help="minimum seed distance (pixels)")
    o.add_argument("--pixel-size", type=lambda t: [float(v) for v in t.split(",")], help="z,y,x or y,x pixel size")
    o.add_argument("--unit", default="pixel")
    o.add_argument("--axes", help="axes of the probability image (default: from the file)")
    o.add_argument("--labels-out", help="also write the instance label image (.tif or .h5)")
    o.set_defaults(func=cmd_objects)

    g = sub.add_parser("suggest", help="suggest features for labelled pixels (ilastik's methods)")
    g.add_argument("image")
    g.add_argument("--labels", required=True, help="label image (0 = unlabelled, k = class k)")
    g.add_argument("--features", default="ilastik-default", help="candidate bank (default ilastik-default)")
    g.add_argument("--method", choices=["gini", "filter", "wrapper"], default="filter",
                   help="gini importance, filter (greedy mutual information, ilastik's default) or wrapper")
    g.add_argument("-n", "--number", type=int, default=7, help="number of (feature, scale) cells; 0 = automatic")
    g.add_argument("--axes")
    g.add_argument("-o", "--output", help="feature .json to train with")
    g.add_argument("-q", "--quiet", action="store_true")
    g.set_defaults(func=cmd_suggest)

    c = sub.add_parser("convert", help="TIFF -> HDF5 as ilastik's Fiji plugin writes it (or HDF5 -> TIFF)")
    c.add_argument("inputs", nargs="+", metavar="INPUT", help="files, folders or globs")
    c.add_argument("-o", "--output", required=True, help="OUTPUT.h5 (one input), OUTPUT.tif (HDF5 -> TIFF) or a folder")
    c.add_argument("--dataset", help="dataset name (default data; exported_data with --layout ilastik)")
    c.add_argument("--compression", type=int, default=0, choices=range(10), metavar="0-9",
                   help="deflate level (default 0, as ilastik4ij)")
    c.add_argument("--layout", choices=["ilastik4ij", "ilastik"], default="ilastik4ij",
                   help="ilastik4ij: 5D tzyxc (default); ilastik: the input's axes + c, as ilastik's headless export")
    c.add_argument("--axes", help="axes of the inputs when the files do not say (e.g. zyx, tyxc)")
    c.add_argument("--to-tiff", action="store_true", help="HDF5 -> TIFF (ImageJ hyperstack) into the output folder")
    c.add_argument("--overwrite", action="store_true", help="convert again even when the output exists")
    _allow_external(c)
    c.add_argument("-q", "--quiet", action="store_true")
    c.set_defaults(func=cmd_convert)

    e = sub.add_parser("export-ilp", help="write an ilastik Pixel Classification project from a classifier")
    e.add_argument("model", metavar="MODEL")
    e.add_argument("-o", "--output", required=True, help="project.ilp")
    e.add_argument("--raw-data", "--raw_data", dest="raw_data", nargs="+",
                   help="raw data of each labelled image (default: the files it was trained on)")
    e.set_defaults(func=cmd_export_ilp)

    i = sub.add_parser("info", help="describe a classifier or ilastik project")
    i.add_argument("model", metavar="MODEL")
    i.add_argument("-v", "--verbose", action="store_true", help="list every feature channel")
    _allow_external(i)
    i.set_defaults(func=cmd_info)
    return p


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    import signal
    import threading

    from .runtime import INTERRUPTED, install_interrupt_handler

    previous = signal.getsignal(signal.SIGINT)
    ours = threading.current_thread() is threading.main_thread() and previous is signal.default_int_handler
    if ours:
        install_interrupt_handler(signal.SIGINT)
    try:
        return _run(args)
    finally:
        if ours:
            signal.signal(signal.SIGINT, previous)
            INTERRUPTED.clear()


def _run(args) -> int:
    from .runtime import INTERRUPTED, one_line

    try:
        try:
            return args.func(args)
        except Exception:
            if INTERRUPTED.is_set():  # a Ctrl-C swallowed inside a compiled kernel surfaced as another error
                raise KeyboardInterrupt from None
            raise
    except KeyboardInterrupt:
        print("pixelforest: interrupted; no partial output was left", file=sys.stderr)
        return EXIT_INTERRUPTED
    except CLIError as e:
        print(f"pixelforest {args.command}: error: {e}", file=sys.stderr)
        return EXIT_USAGE
    except MemoryError as e:
        print(f"pixelforest {args.command}: error: out of memory ({str(e) or 'the request was too large'})",
              file=sys.stderr)
        return EXIT_ERROR
    except (ValueError, OSError, TypeError) as e:
        print(f"pixelforest {args.command}: error: {one_line(e)}", file=sys.stderr)
        return EXIT_ERROR
    except Exception as e:  # a bug or an unforeseen input: still one line, naming the error
        print(f"pixelforest {args.command}: error: {type(e).__name__}: {one_line(e)}", file=sys.stderr)
        return EXIT_ERROR


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
