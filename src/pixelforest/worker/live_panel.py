"""The requests of the Live Training panel: one panel is one ``pixelforest.live.LiveSession`` here.

Each ``req_NAME(task, params, image)`` answers the request ``NAME`` of :mod:`.protocol` (its
parameters filled with their defaults) with its outputs.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..features import (
    DEFAULT_FEATURES,
    FEATURE_IDS,
    FEATURE_NAMES,
    MIN_SCALE,
    PRESETS,
    FeatureSpec,
    largest_scale,
    resolve_spec,
)
from ..ilastik import load_classifier
from ..interactive import Session
from ..io.pfc import save_classifier
from ..live import Cancelled, LiveSession
from ..suggest import suggest_features
from .cache import STATE, image_key, remember
from .lifecycle import rss_kb
from .progress import cancelled, progress
from .shm import image_from, to_ndarray


def _live(params) -> LiveSession:
    sid = str(params["session"])
    if sid not in STATE.live:
        raise ValueError(f"no live session {sid!r}: it was closed (or the worker restarted); open the panel again")
    return STATE.live[sid]


def _region(params):
    t, z = int(params["t"]), int(params["z"])
    region = params["region"]  # [y0, y1, x0, x1]
    rows, cols = ((int(region[0]), int(region[1])), (int(region[2]), int(region[3]))) if region else (None, None)
    return t, z, rows, cols, int(params["stride"])


def _live_prediction(task, live, params) -> dict:
    t, z, rows, cols, stride = _region(params)
    out = live.predict(str(params["image"]), t, z, rows, cols, stride, cancelled=cancelled(task))
    return {"prediction": to_ndarray(out), "version": live.version}


def _image_session(sid, image_id, img5, live) -> tuple[str, Session]:
    """The cache key and the interactive Session of an image a live session opens: the cached one
    when its features were computed already (Apply, Train), a twin when another panel has it."""
    key = image_key(img5)
    sess = STATE.sessions.get(key)
    spec = live.spec_for(img5) if not live.images else next(iter(live.images.values())).spec
    if sess is None:
        sess = Session(img5, spec, axes="tzyxc", trees=live.trees, seed=live.seed)
    elif any(sess is s for other in STATE.live.values() for s in other.images.values()):
        sess = sess.twin()  # the same pixels in another window (a duplicate): its own labels, the same features
        key = f"{key}/{sid}/{image_id}"
    sess.spec = spec
    return key, sess


def req_live_open(task, params, image):
    """Start a live session (or add an image to one): the image's features are computed now and
    kept, so every later round only trains and predicts."""
    sid = str(params["session"])
    img5 = image_from(image)
    live = STATE.live.get(sid)
    if live is None:
        live = LiveSession(params["features"] or DEFAULT_FEATURES, trees=int(params["trees"]), seed=int(params["seed"]))
    key, sess = _image_session(sid, params["image"], img5, live)
    spec = sess.spec
    sess.name = str(params["title"])
    live.add_image(str(params["image"]), sess)
    STATE.live[sid] = live
    missing = sess.missing(spec)
    task.update(f"computing {len(missing)} feature cells" if missing else "features cached", 0, 1)
    feats = sess.features(spec)
    STATE.sessions[key] = sess
    STATE.evict()
    return {"n_features": int(feats.shape[-1]), "computed_cells": len(missing), "spec": spec.to_dict(),
            "note": live.note if len(live.images) == 1 else ""}


def _set_live_labels(live, params):
    live.set_classes(list(params["classes"]), [list(c) for c in params["colors"]])
    sess = live.image(str(params["image"]))
    sess.set_labels(params["index"].ndarray(), params["value"].ndarray())
    return sess


def req_live_labels(task, params, image):
    """An image's labels (sparse) replace its previous ones; no training (the next round trains)."""
    _set_live_labels(_live(params), params)
    return {}


def req_live_train(task, params, image):
    """A round: the image's labels (sparse) replace its previous ones, the forest is retrained on
    every image's labels, and the region the canvas shows is predicted."""
    live = _live(params)
    sess = _set_live_labels(live, params)
    if cancelled(task)():
        raise Cancelled("training")
    n = int(np.count_nonzero(sess.labels))
    task.update(f"training on {n:,} labelled pixels", 0, 2)
    clf = live.train()
    t = clf.training
    out = {"version": live.version, "samples": [int(t["samples_per_class"][c]) for c in clf.class_names],
           "oob_error": None if t.get("oob_error") is None else float(t["oob_error"])}
    if params["region"] is not None:
        task.update("predicting the view", 1, 2)
        out.update(_live_prediction(task, live, params))
    return out


def req_live_predict(task, params, image):
    """A region of a plane from the last round's classifier (slice changes, panning, zooming)."""
    return _live_prediction(task, _live(params), params)


def req_live_suggest(task, params, image):
    """Where to label next on a plane: [[y0, y1, x0, x1, uncertainty], ...], the most uncertain first."""
    live = _live(params)
    t, z = int(params["t"]), int(params["z"])
    regions = live.suggest(str(params["image"]), t, z, int(params["k"]))
    return {"regions": [[*r["box"][0], *r["box"][1], round(r["uncertainty"], 4)] for r in regions]}


def req_live_features(task, params, image):
    """Change the session's features (only cells not cached yet are computed)."""
    live = _live(params)
    spec = live.set_features(params["features"], progress(task, "computing features"))
    return {"spec": spec.to_dict(), "n_features": int(next(iter(live.images.values())).features(spec).shape[-1])}


def req_live_suggest_features(task, params, image):
    """Suggest features from the session's labels and cached candidates (Suggest Features)."""
    live = _live(params)
    sess = live.image(str(params["image"]))
    if not sess.labels.any():
        raise ValueError("label some pixels of at least two classes first")
    res = suggest_features(sess.image5, sess.labels, resolve_spec(params["candidates"] or "ilastik-default"),
                           n=int(params["n"]), method=str(params["method"]),
                           progress=progress(task, "suggesting features"))
    return {"features": res["spec"].to_dict(), "oob_error": float(res["oob_error"]),
            "oob_error_all": float(res["oob_error_all"])}


def req_feature_presets(task, params, image):
    """The feature ids, their names, minimum scales and (for a live session's images) maximum
    scales, and each preset, for the Features dialog."""
    out = {"ids": list(FEATURE_IDS), "names": [FEATURE_NAMES[f] for f in FEATURE_IDS],
           "min_scale": [MIN_SCALE[f] for f in FEATURE_IDS],
           "presets": {name: FeatureSpec.preset(name).to_dict() for name in PRESETS}}
    live = STATE.live.get(str(params["session"])) if params["session"] is not None else None
    if live is not None and live.images:  # the smallest image's plane decides (2D scales are taken in y and x)
        size = min(min(s.image5.shape[2:4]) for s in live.images.values())
        out["max_scale"] = [largest_scale(f, size) for f in FEATURE_IDS]
        out["plane_size"] = size
    return out


def req_live_save(task, params, image):
    """Save the last round's classifier, with every image's labels, as a .pfc."""
    live = _live(params)
    if live.classifier is None:
        raise ValueError("nothing to save yet: label two classes and train first")
    path = str(params["path"])
    if params["classes"]:  # renamed or recoloured since the last round
        live.set_classes(list(params["classes"]), [list(c) for c in params["colors"]])
        if len(live.classes) == live.classifier.n_classes:
            live.classifier.class_names, live.classifier.class_colors = list(live.classes), list(live.colors)
    save_classifier(live.classifier, path)
    remember(path, live.classifier)
    STATE.current = path
    return {"path": path}


def req_live_resume(task, params, image):
    """Resume a saved classifier on an image of the session: its classes, features and labels."""
    live = _live(params)
    path = str(params["path"])
    if not Path(path).is_file():
        raise ValueError(f"classifier file {path} does not exist")
    clf = load_classifier(path)
    index, value = live.resume(str(params["image"]), clf)
    return {"index": to_ndarray(index), "value": to_ndarray(value), "labels_of": live.resumed_from,
            "classes": list(clf.class_names),
            "colors": [list(c) for c in clf.class_colors], "spec": clf.spec.to_dict(), "version": live.version}


def req_live_remove(task, params, image):
    """An image of the session was closed: its labels no longer train and its features are freed."""
    live = _live(params)
    sess = live.remove_image(str(params["image"]))
    if sess is not None:
        STATE.forget(sess)
    return {"images": len(live.images)}


def req_live_close(task, params, image):
    """End a live session: its images' features are freed (unless Apply still uses them)."""
    live = STATE.live.pop(str(params["session"]), None)
    if live is not None:
        for sess in live.images.values():
            STATE.forget(sess)
    return {"sessions": len(STATE.live)}


def req_live_info(task, params, image):
    """The worker's live sessions and memory (tests, benchmark)."""
    return {"sessions": sorted(STATE.live), "cached_sessions": len(STATE.sessions), "rss_kb": rss_kb(),
            "images": [len(live.images) for _, live in sorted(STATE.live.items())]}


HANDLERS = {"live_open": req_live_open, "live_labels": req_live_labels, "live_train": req_live_train,
            "live_predict": req_live_predict, "live_suggest": req_live_suggest, "live_features": req_live_features,
            "feature_presets": req_feature_presets, "live_suggest_features": req_live_suggest_features,
            "live_save": req_live_save, "live_resume": req_live_resume, "live_remove": req_live_remove,
            "live_close": req_live_close, "live_info": req_live_info}
