"""The requests the Fiji plugin sends the worker: one definition of their names, parameters and outputs.

Each request is ``handle(task, request, params, image)``: ``request`` one of :data:`REQUESTS`,
``params`` a map of JSON values (strings, numbers, lists, maps, null) and Appose ``NDArray`` s in
shared memory, ``image`` the image the request works on (an ``NDArray`` laid out as ImageJ stores it,
``(T, Z, C, Y, X)``, RGB split into 3 channels) or none. The outputs come back in ``task.outputs``.
The plugin names the same requests and keys in ``Protocol.java`` (a test checks that they agree);
``docs/protocol.md`` is :func:`render_markdown` 's tables (:data:`REGENERATE` writes it).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..features import DEFAULT_FEATURES

#: what any request may answer instead of (or besides) its outputs
COMMON_OUTPUTS = {
    "error": "str: a readable message, in Fiji's words (the request failed)",
    "trace": "str: the Python traceback of an error (shown in ImageJ's debug mode)",
    "cancelled": "bool: true when the request was cancelled (Esc, or a newer round)",
}

#: the command that writes docs/protocol.md (from the repository's root)
REGENERATE = ("PYTHONPATH=src python -c \"from pixelforest.worker.protocol import render_markdown as r; "
              "print(r(), end='')\" > docs/protocol.md")

#: the inputs of every Appose task the plugin sends: the script below runs with them
TASK_INPUTS = ("request", "params", "image")
SCRIPT = "import pixelforest.worker as _pfw\n_pfw.handle(task, request, params, image)\n"

#: the keys of each ROI in the ``rois`` parameter, and of each row of batch's ``summary``
ROI_KEYS = ("name", "group", "kind", "color")
SUMMARY_KEYS = ("input", "status", "output", "error")

REQUIRED = object()  # a parameter's default when the plugin must send it


@dataclass(frozen=True)
class Param:
    """A request parameter: its key, JSON type and default (:data:`REQUIRED`: it must be sent)."""

    name: str
    type: str
    default: object = REQUIRED
    doc: str = ""

    @property
    def required(self) -> bool:
        """Whether the plugin must send it."""
        return self.default is REQUIRED


@dataclass(frozen=True)
class Request:
    """A request: what it does, whether it takes an image, its parameters and its outputs (key -> "type: meaning")."""

    doc: str
    params: tuple[Param, ...] = ()
    outputs: dict = field(default_factory=dict)
    image: bool = False

    def defaults(self) -> dict:
        """The parameters that have a default, with it."""
        return {p.name: p.default for p in self.params if not p.required}

    def missing(self, params: dict) -> list[str]:
        """The required parameters not in ``params``."""
        return [p.name for p in self.params if p.required and p.name not in params]


NDARRAY = "NDArray"
CLASSIFIER = Param("classifier", "str (path) | null", None, "a .pfc or trained .ilp; default: the last one used")
TITLE = Param("title", "str", "", "the image's title (in messages)")
SESSION = Param("session", "str", doc="the Live Training panel's id")
IMAGE_ID = Param("image", "str", doc="the image's id in the panel")
ROIS = (Param("roi_index", f"{NDARRAY} int32 (T, Z, Y, X)", doc="per pixel 1 + the index of the last ROI over it"),
        Param("rois", "list of {name: str, group: int, kind: 'area' | 'line' | 'point', color: [r, g, b] | null}",
              doc="each ROI's name, group and stroke colour, in index order"),
        Param("group_names", "map {group number (str): name}", {}, "ImageJ's group names"),
        Param("classes", "list[str]", [], "class names in label order; default: from the ROIs"))
LABELS = (Param("index", f"{NDARRAY} int64 (n,)", doc="labelled pixels: flat index into the (T, Z, Y, X) image"),
          Param("value", f"{NDARRAY} uint8 (n,)", doc="their class (1, 2, ...)"),
          Param("classes", "list[str]", doc="the panel's class names"),
          Param("colors", "list of [r, g, b]", doc="their colours"))
VIEW = (Param("t", "int", 0, "frame"), Param("z", "int", 0, "slice"),
        Param("region", "[y0, y1, x0, x1] | null", None, "the part of the plane to predict; null: all of it"),
        Param("stride", "int", 1, "predict every stride-th pixel (a zoomed-out canvas)"))
METHODS = "filter (mutual information), gini (forest importance) or wrapper (forward selection)"
FEATURES = "str (preset, 'auto', .json path or JSON text) | map (a feature spec)"
PREDICTION = {"prediction": f"{NDARRAY} uint8 (K + 1, h, w): K probabilities (0-255) and the segmentation",
              "version": "int: the round whose classifier predicted"}

REQUESTS: dict[str, Request] = {
    "ping": Request("the worker's version and process", (),
                    {"version": "str: pixelforest's version", "python": "str: the Python executable", "pid": "int"}),
    "train": Request("train a classifier on an image and its ROIs (Train Classifier)", (
        *ROIS, Param("features", FEATURES, DEFAULT_FEATURES), Param("trees", "int", 100),
        Param("seed", "int | null", None, "null: a new forest every time"),
        Param("stages", "int", 1, "2 or more: auto-context"),
        Param("output", "str (path) | null", None, "where to save the .pfc; null: kept unsaved"), TITLE),
        {"classifier": "str: its path, or a name for an unsaved one", "classes": "list[str]", "n_features": "int",
         "oob_error": "float | null: the out-of-bag error", "samples": "list[int]: labelled pixels per class",
         "computed_cells": "int: feature cells computed (0: all from the cache); absent when not cached",
         "features_choice": "str: what features='auto' chose (only then)"}, image=True),
    "load": Request("read a classifier (Apply Classifier checks it fits the image)", (CLASSIFIER,),
                    {"classifier": "str: its path", "classes": "list[str]", "n_features": "int",
                     "n_channels": "int", "ndim": "int: 2 or 3"}),
    "predict": Request("apply a classifier to an image (Apply Classifier)", (
        CLASSIFIER,
        Param("source", "str", "probabilities", "probabilities, simple segmentation, uncertainty, features"),
        Param("title", "str", "image", "the image's title (in messages)"),
        Param("block", "list[int] | null", None, "block shape for a blockwise prediction")),
        {"result": f"{NDARRAY} (T, Z, K, Y, X)", "labels": "list[str]: one per result channel", "classes": "list[str]",
         "colors": "list of [r, g, b]: one per class", "computed_cells": "int (see train)"}, image=True),
    "suggest": Request("the best feature cells for the ROIs (Suggest Features)", (
        *ROIS, Param("features", FEATURES, "ilastik-default", "the candidates"), Param("n", "int", 7),
        Param("method", "str", "filter", METHODS),
        Param("output", "str (path) | null", None, "where to save the chosen features (.json)"), TITLE),
        {"features": "map: the chosen feature spec", "oob_error": "float",
         "oob_error_all": "float: with every candidate",
         "cells": "list of [feature id: str, scale: float, score: float]"}, image=True),
    "export_hdf5": Request("write an image as ilastik4ij's HDF5 (Export HDF5)", (
        Param("path", "str (path)"), Param("dataset", "str", "data"), Param("compression", "int", 0, "gzip level 0-9")),
        {"path": "str", "shape": "list[int]: (T, Z, Y, X, C)"}, image=True),
    "import_hdf5": Request("read an HDF5 dataset as an ImageJ image (Import HDF5)", (
        Param("path", "str (path)"), Param("dataset", "str | null", None, "default: the file's only or first dataset"),
        Param("axes", "str | null", None, "the dataset's axis order, e.g. 'tzyxc'; default: guessed")),
        {"result": f"{NDARRAY} (T, Z, C, Y, X) in an ImageJ type", "axes": "str: the dataset's axes",
         "dataset": "str: the dataset read"}),
    "batch": Request("apply a classifier to files (Batch)", (
        CLASSIFIER, Param("inputs", "str", doc="a folder, a file, or a glob pattern"),
        Param("output_dir", "str (path) | null", None, "default: beside each input"),
        Param("source", "str", "probabilities"), Param("format", "str", "tiff", "tiff, hdf5, compressed-hdf5, npy")),
        {"summary": "list of {input, status, output?, error?} (strings)", "failed": "int: files that failed"}),
    "live_open": Request("open an image in a Live Training panel (features computed now, then kept)", (
        SESSION, IMAGE_ID, TITLE, Param("features", FEATURES, DEFAULT_FEATURES, "the session's, on its first image"),
        Param("trees", "int", 100), Param("seed", "int", 0)),
        {"n_features": "int", "computed_cells": "int", "spec": "map: the feature spec in use",
         "note": "str: scales left out for a small image (first image only), else empty"}, image=True),
    "live_labels": Request("an image's labels replace its previous ones (no training)",
                           (SESSION, IMAGE_ID, *LABELS), {}),
    "live_train": Request("a round: the image's labels, training on every image's, the view predicted", (
        SESSION, IMAGE_ID, *LABELS, *VIEW[:2],
        Param("region", "[y0, y1, x0, x1] | null", None, "the part of the plane to predict; null: no prediction"),
        VIEW[3]),
        {"version": "int: the round", "samples": "list[int]: labelled pixels per class", "oob_error": "float | null",
         "prediction": PREDICTION["prediction"] + " (only with a region)"}),
    "live_predict": Request("a region of a plane from the last round's classifier", (SESSION, IMAGE_ID, *VIEW),
                            PREDICTION),
    "live_suggest": Request("where to label next on a plane", (SESSION, IMAGE_ID, *VIEW[:2], Param("k", "int", 5)),
                            {"regions": "list of [y0, y1, x0, x1, uncertainty]: the most uncertain place first"}),
    "live_features": Request("change the session's features (only missing cells are computed)", (
        SESSION, Param("features", FEATURES)), {"spec": "map", "n_features": "int"}),
    "feature_presets": Request("what the Features dialog offers", (
        Param("session", "str | null", None, "a panel whose images limit the scales"),),
        {"ids": "list[str]: feature ids", "names": "list[str]: their names", "min_scale": "list[float]",
         "presets": "map {preset: feature spec}", "max_scale": "list[float | null]: only with a session's images",
         "plane_size": "int: the smallest image plane's side (only with max_scale)"}),
    "live_suggest_features": Request("suggest features from a panel's labels (the Features dialog)", (
        SESSION, IMAGE_ID, Param("candidates", FEATURES, "ilastik-default"), Param("n", "int", 7),
        Param("method", "str", "filter", METHODS)),
        {"features": "map: the chosen feature spec", "oob_error": "float", "oob_error_all": "float"}),
    "live_save": Request("save the last round's classifier and every image's labels (.pfc)", (
        SESSION, Param("path", "str (path)"),
        Param("classes", "list[str] | null", None, "renamed classes since the last round"),
        Param("colors", "list of [r, g, b] | null", None, "their colours")), {"path": "str"}),
    "live_resume": Request("resume a saved classifier on an image of the panel", (
        SESSION, IMAGE_ID, Param("path", "str (path)")),
        {"index": f"{NDARRAY} int64: labelled pixels", "value": f"{NDARRAY} uint8: their class",
         "labels_of": "str: the image the labels were saved from", "classes": "list[str]",
         "colors": "list of [r, g, b]", "spec": "map: the feature spec", "version": "int"}),
    "live_remove": Request("an image of the panel was closed", (SESSION, IMAGE_ID),
                           {"images": "int: images left in the session"}),
    "live_close": Request("end a panel's session", (SESSION,), {"sessions": "int: live sessions left"}),
    "live_info": Request("the worker's live sessions and memory (tests, benchmark)", (),
                         {"sessions": "list[str]", "cached_sessions": "int: images with cached features",
                          "rss_kb": "int: the worker's resident memory", "images": "list[int]: images per session"}),
}


def param_keys() -> set[str]:
    """Every parameter key of every request."""
    return {p.name for r in REQUESTS.values() for p in r.params}


def output_keys() -> set[str]:
    """Every output key of every request, and the common ones."""
    return {k for r in REQUESTS.values() for k in r.outputs} | set(COMMON_OUTPUTS)


def _default_text(p: Param) -> str:
    if p.required:
        return "required"
    return "null" if p.default is None else repr(p.default).replace("'", '"') if p.default != "" else '""'


def render_markdown() -> str:
    """``docs/protocol.md``: the requests, their parameters and outputs, as tables."""
    cell = lambda s: str(s).replace("|", "\\|")  # noqa: E731
    lines = ["# The worker protocol", "", "<!-- generated from src/pixelforest/worker/protocol.py (edit it, not this "
             f"file): {REGENERATE} -->", "",
             "The Fiji plugin talks to one long-lived Python worker through Appose: each request runs",
             "`pixelforest.worker.handle(task, request, params, image)` and its outputs come back in",
             "`task.outputs`. `image` is the image the request works on, in shared memory, laid out as",
             "ImageJ stores it: (T, Z, C, Y, X). Lists and maps travel as such (JSON); NDArrays in shared memory.",
             ("The Java side names the same requests and keys in `Protocol.java`; "
              "`tests/worker/test_protocol.py` checks"),
             "that both sides agree and that this file is current.", "", "Any request may answer:", ""]
    lines += [f"- `{k}`: {v}" for k, v in COMMON_OUTPUTS.items()]
    for name, r in REQUESTS.items():
        image = "It works on the image sent with it." if r.image else "It takes no image."
        lines += ["", f"## `{name}`", "", f"{r.doc[0].upper()}{r.doc[1:]}. {image}", ""]
        if r.params:
            lines += ["| parameter | type | default | meaning |", "|---|---|---|---|"]
            lines += [f"| `{p.name}` | {cell(p.type)} | {cell(_default_text(p))} | {cell(p.doc)} |" for p in r.params]
            lines.append("")
        if r.outputs:
            lines += ["| output | type: meaning |", "|---|---|"]
            lines += [f"| `{k}` | {cell(v)} |" for k, v in r.outputs.items()]
        else:
            lines.append("No outputs.")
    return "\n".join(lines) + "\n"
