"""The requests of the plugin's commands: Train, Apply, Suggest Features, Batch, HDF5 import and export.

Each ``req_NAME(task, params, image)`` answers the request ``NAME`` of :mod:`.protocol` (its
parameters filled with their defaults) with its outputs.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import numpy as np

from .._version import __version__
from ..autotune import describe
from ..axes import as_imagej_dtype, spatial_ndim
from ..batch import DEFAULT_NAME, ILASTIK_SOURCES, expand_inputs, normalize_format, output_path, predict_files
from ..classifier import Classifier, LabelImage, normalize_source
from ..features import DEFAULT_FEATURES, resolve_spec
from ..io.hdf5 import read_as_tzcyx, write_ilastik4ij
from ..io.pfc import save_classifier
from ..io.rois import LabelRoi, assign_classes
from ..suggest import suggest_features
from ..training import train, train_from_samples
from .cache import STATE, classifier_for, features_for, remember
from .progress import progress
from .shm import image_from, to_ndarray


def req_ping(task, params, image):
    return {"version": __version__, "python": sys.executable, "pid": os.getpid()}


def roi_labels(params) -> tuple[np.ndarray, list[str], list]:
    """Labels from ROIs rasterised by ImageJ: ``roi_index`` (T, Z, Y, X) int32 holds, per pixel,
    1 + the index of the last ROI covering it; ``rois`` their name, group and colour.
    Classes follow the same rules as everywhere (group > class: name > colour)."""
    index = params["roi_index"].ndarray()
    meta = params["rois"]
    if not meta:
        raise ValueError("no ROIs: add ROIs of at least two classes to the ROI Manager or the Overlay")
    group_names = {int(k): v for k, v in (params["group_names"] or {}).items()}
    classes = [str(c).strip() for c in params["classes"] or [] if str(c).strip()] or None
    lrois = [LabelRoi(m.get("name") or "", m.get("kind", "area"), None, group=int(m.get("group", 0)),
                      color=tuple(m["color"]) if m.get("color") else None) for m in meta]
    values, names, colors = assign_classes(lrois, classes, group_names)
    lut = np.zeros(len(lrois) + 1, np.uint8)
    lut[1:] = values
    return lut[index], names, colors


def _train_classifier(task, params, img5, labels, names, colors) -> Classifier:
    """The forest on the labels: from the cached features of the whole image when they fit, else
    (auto-context, features="auto", an image too large to cache) from features around the labels."""
    T, Z, Y, X, C = img5.shape
    auto = params["features"] == "auto"
    spec = "auto" if auto else resolve_spec(params["features"] or DEFAULT_FEATURES, Z)
    trees, seed, stages = int(params["trees"]), params["seed"], int(params["stages"])
    seed = None if seed is None else int(seed)
    feats = features_for(img5, spec, task) if stages == 1 and not auto else None
    task.update("choosing the features on the labels (auto), then training" if auto else "training the forest"
                if stages == 1 else f"training {stages} auto-context stages", 0, 1)
    title = str(params["title"])
    if feats is None:
        return train(img5, labels, features=spec, trees=trees, seed=seed, axes="tzyxc", classes=names, colors=colors,
                     image_names=[title], stages=stages)
    mask = labels > 0
    return train_from_samples(feats[mask], labels[mask], spec, C, spatial_ndim(Z), classes=names, colors=colors,
                              trees=trees, seed=seed, labels=[LabelImage.from_dense(labels, title)])


def req_train(task, params, image):
    img5 = image_from(image)
    labels, names, colors = roi_labels(params)
    if labels.shape != img5.shape[:4]:
        raise ValueError(f"ROI index image shape {labels.shape} does not match the image {img5.shape[:4]}")
    if not labels.any():
        raise ValueError("the ROIs cover no pixel of the image")
    clf = _train_classifier(task, params, img5, labels, names, colors)
    out = params["output"]
    key = str(out) if out else f"(unsaved classifier {time.strftime('%H:%M:%S')})"
    if out:
        save_classifier(clf, out)
        remember(key, clf)
    else:
        STATE.classifiers[key] = clf
    STATE.current = key
    t = clf.training
    res = {"classifier": key, "classes": list(clf.class_names), "n_features": clf.n_features,
           "oob_error": None if t.get("oob_error") is None else float(t["oob_error"]),
           "samples": [int(t["samples_per_class"][c]) for c in clf.class_names]}
    if "auto" in t:
        res["features_choice"] = describe(t["auto"])
    return res


def req_load(task, params, image):
    clf = classifier_for(params)
    return {"classifier": STATE.current, "classes": list(clf.class_names), "n_features": clf.n_features,
            "n_channels": clf.n_channels, "ndim": clf.ndim}


def _fits(clf: Classifier, img5: np.ndarray, title: str) -> None:
    """The image has the classifier's channels and dimensionality, or an error in Fiji's words."""
    C, Z = img5.shape[-1], img5.shape[1]
    if C != clf.n_channels:
        raise ValueError(f"{title} has {C} channel(s) (an RGB image has 3) but the classifier was trained on images of "
                         f"{clf.n_channels}: apply it to images like the ones it was trained on, or train one on these")
    if spatial_ndim(Z) != clf.ndim:
        raise ValueError(f"{title} is a z-stack of {Z} slices but the classifier was trained on 2D images (for a time "
                         f"series, set the stack's frames with Image > Properties...)" if Z > 1 else
                         f"{title} is 2D but the classifier was trained on z-stacks")


def req_predict(task, params, image):
    clf = classifier_for(params)
    src = normalize_source(params["source"])
    img5 = image_from(image)
    _fits(clf, img5, str(params["title"]))
    # cached features serve a one-stage classifier; auto-context stages compute their own
    feats = features_for(img5, clf.spec, task) if clf.stages == 1 else None
    if feats is None:
        res5 = clf.predict_canonical(img5, src, block_shape=params["block"], progress=progress(task, "predicting"))
    else:
        task.update("predicting", 0, 1)
        res5 = clf.from_features(feats, src)
    out = np.ascontiguousarray(np.moveaxis(res5, -1, 2))  # (T, Z, K, Y, X), ImageJ's order
    names = {"probabilities": clf.class_names, "features": clf.feature_names}.get(src, [src])
    return {"result": to_ndarray(out), "labels": list(names), "classes": list(clf.class_names),
            "colors": [[int(v) for v in c] for c in clf.class_colors]}


def req_suggest(task, params, image):
    img5 = image_from(image)
    labels, _, _ = roi_labels(params)
    spec = resolve_spec(params["features"] or "ilastik-default")
    res = suggest_features(img5, labels, spec, n=int(params["n"]), method=str(params["method"]),
                           progress=progress(task, "suggesting"))
    if params["output"]:
        Path(params["output"]).write_text(res["spec"].to_json(), encoding="utf-8")
    return {"features": res["spec"].to_dict(), "oob_error": float(res["oob_error"]),
            "oob_error_all": float(res["oob_error_all"]),
            "cells": [[str(f), float(s), float(score)] for f, s, score in res["cells"]]}


def req_export_hdf5(task, params, image):
    img5 = image_from(image)  # (T, Z, Y, X, C)
    path = write_ilastik4ij(img5, params["path"], dataset=params["dataset"], compression=int(params["compression"]))
    return {"path": str(path), "shape": [int(n) for n in img5.shape]}


def req_import_hdf5(task, params, image):
    arr, axes, dataset = read_as_tzcyx(params["path"], params["dataset"] or None, params["axes"] or None)
    return {"result": to_ndarray(as_imagej_dtype(arr, str(params["path"]))), "axes": axes, "dataset": dataset}


def req_batch(task, params, image):
    clf = classifier_for(params)
    out_dir = params["output_dir"] or None
    source, fmt = params["source"], params["format"]
    _check_writable(_batch_folders(params["inputs"], source, fmt, out_dir))
    summary = predict_files(clf, params["inputs"], source=source, fmt=fmt, out_dir=out_dir,
                            progress=progress(task, "batch"))
    return {"summary": [{k: str(v) for k, v in s.items()} for s in summary],
            "failed": sum(1 for s in summary if s["status"] == "failed")}


def _batch_folders(inputs, source, fmt, out_dir) -> list[Path]:
    """The folders a batch writes into: the output folder, or each input's own (ilastik's default)."""
    src, fmt = normalize_source(source), normalize_format(fmt)
    return [output_path(DEFAULT_NAME, f, ILASTIK_SOURCES[src], fmt, out_dir).parent for f in expand_inputs(inputs)]


def _check_writable(folders) -> None:
    """Refuse, before any work, folders that cannot be written (the nearest existing one is asked)."""
    for d in sorted({Path(f) for f in folders}):
        p = d
        while not p.exists() and p.parent != p:
            p = p.parent
        if not os.access(p, os.W_OK):
            raise ValueError(f"cannot write results to {d} (read-only or no permission): choose an output folder")


HANDLERS = {"ping": req_ping, "train": req_train, "load": req_load, "predict": req_predict, "suggest": req_suggest,
            "export_hdf5": req_export_hdf5, "import_hdf5": req_import_hdf5, "batch": req_batch}
