"""The Python service behind the Fiji plugin (an Appose worker).

The plugin starts one long-lived worker (``python -c "import
appose.python_worker; appose.python_worker.main()"``) and sends each request
as a small script::

    import pixelforest.worker as _pfw
    _pfw.handle(task, request, params, image)

``image`` is an Appose ``NDArray`` in shared memory, laid out as ImageJ
stores it: ``(T, Z, C, Y, X)`` (RGB split into 3 channels). Results go back
the same way, in ``task.outputs``. Classifiers and computed features stay
cached in this process between calls. Errors the user can fix come back as
``outputs["error"]`` (a readable message); cancellation (Esc in ImageJ) as
``outputs["cancelled"]``.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
import traceback
from collections import OrderedDict
from pathlib import Path

import numpy as np

from . import __version__
from .classifier import Classifier, normalize_source
from .features import DEFAULT_FEATURES, FeatureSpec, NonFiniteError, resolve_spec
from .live import Cancelled  # one cancellation for the commands and the live rounds

#: budget for cached features (bytes): the plugin's Options > Memory
FEATURE_CACHE_BYTES = int(os.environ.get("PIXELFOREST_WORKER_MEMORY_MB", "2048")) * 2**20


class _State:
    def __init__(self):
        self.classifiers: dict[str, Classifier] = {}
        self.stamps: dict[str, tuple | None] = {}  # classifier file -> its stamp when loaded (see _stamp)
        self.current: str | None = None
        # image key -> interactive Session: the image's features cached per (feature, scale) cell,
        # so Apply after Train, or a changed feature selection, computes only what is missing
        self.sessions: OrderedDict = OrderedDict()
        self.pending: list = []  # NDArrays handed to the plugin, freed on the next request
        self.live: dict = {}  # Live Training panels: session id -> pixelforest.live.LiveSession

    def session(self, key, img5, spec):
        from .interactive import Session

        if key not in self.sessions:
            self.sessions[key] = Session(img5, spec, axes="tzyxc")
        self.sessions.move_to_end(key)
        return self.sessions[key]

    def evict(self):
        """Drop the least recently used images' features beyond the memory budget (keeping the newest)."""
        while len(self.sessions) > 1 and sum(s.cached_bytes() for s in self.sessions.values()) > FEATURE_CACHE_BYTES:
            self.sessions.popitem(last=False)


STATE = _State()

#: the process that started this worker (ImageJ/Fiji): its requests are the only ones this worker
#: serves (Appose talks over this process's stdin/stdout pipes, nothing else listens)
PARENT_PID = os.getppid()
_watch_started = False


def _watch_parent(interval: float = 1.0) -> None:
    """Exit when the parent has gone (ImageJ killed or crashed mid-task), leaving no orphan behind.

    Without a parent, stdin closes and Appose ends its loop, but a task that is running would
    go on to its end; this daemon thread stops the process within ``interval`` seconds instead."""
    global _watch_started
    if _watch_started:
        return
    _watch_started = True
    import faulthandler
    import signal
    import threading

    if hasattr(signal, "SIGUSR1"):  # `kill -USR1 PID`: every thread's stack to stderr (ImageJ's debug log)
        faulthandler.register(signal.SIGUSR1, file=sys.stderr, all_threads=True)

    def run():
        while True:
            time.sleep(interval)
            if os.getppid() != PARENT_PID:
                _release_pending()
                os._exit(0)

    threading.Thread(target=run, name="pixelforest-parent-watch", daemon=True).start()
    threading.Thread(target=_warm_up, name="pixelforest-warm-up", daemon=True).start()


def _warm_up() -> None:
    """Loads the compiled kernels the first commands need (the default features in 2D, training,
    prediction) on a tiny image while the user is still choosing: a request that comes meanwhile
    waits for a kernel being loaded instead of loading it again, and later ones find them ready."""
    try:
        from .training import train

        rng = np.random.default_rng(0)
        img = rng.random((64, 64), dtype=np.float32)
        lab = np.zeros(img.shape, np.uint8)
        lab[10:14, 10:30], lab[40:44, 10:30] = 1, 2
        clf = train(img, lab, features=DEFAULT_FEATURES, trees=4, seed=0)
        clf.predict(img)
    except Exception:  # a warm-up only: any real problem is reported by the request that meets it
        pass


def _release_pending():
    """Frees the shared memory of results the plugin has read: unmapped here (Appose's dispose()
    only unlinks the name, and the mapping would stay in this process: a round's result each
    time), then unlinked."""
    for nd in STATE.pending:
        for free in (nd.shm.close, nd.shm.unlink):
            try:
                free()
            except Exception:  # already gone, or a view still open (then it goes with the view)
                pass
    STATE.pending.clear()


def _to_ndarray(arr: np.ndarray):
    """A new shared-memory Appose NDArray holding ``arr`` (freed on the next request)."""
    import appose

    nd = appose.NDArray(str(arr.dtype), list(arr.shape))
    nd.ndarray()[...] = arr
    STATE.pending.append(nd)
    return nd


def _image(image) -> np.ndarray:
    """(T, Z, C, Y, X) shared-memory array -> (T, Z, Y, X, C) numpy copy."""
    if image is None:
        raise ValueError("no image was sent to the worker")
    a = image.ndarray()
    if a.ndim != 5:
        raise ValueError(f"expected a (T, Z, C, Y, X) image, got shape {a.shape}")
    return np.ascontiguousarray(np.moveaxis(a, 2, -1))


def _image_key(img5: np.ndarray) -> str:
    h = hashlib.blake2b(digest_size=16)
    h.update(str(img5.shape).encode() + str(img5.dtype).encode())
    h.update(memoryview(np.ascontiguousarray(img5)).cast("B"))
    return h.hexdigest()


def _progress(task, what: str):
    def cb(done, total):
        if task is not None:
            task.update(f"{what} {done}/{total}", done, total)
            if getattr(task, "cancel_requested", False):
                raise Cancelled(what)

    return cb


def _features(img5: np.ndarray, spec: FeatureSpec, task=None) -> np.ndarray | None:
    """The image's features from the worker's cache (computing the missing cells), or None when they
    would not fit the cache budget (the caller then works block by block)."""
    n = spec.n_features(img5.shape[-1], 3 if img5.shape[1] > 1 else 2)
    if img5[..., 0].size * n * 4 > FEATURE_CACHE_BYTES:
        return None
    sess = STATE.session(_image_key(img5), img5, spec)
    missing = sess.missing(spec)
    if task is not None:
        task.outputs["computed_cells"] = len(missing)  # 0: every feature came from the cache
        if missing:
            task.update("computing features", 0, 1)
    sess.spec = spec  # the selection in use: its cells are kept side by side
    feats = sess.features(spec)
    STATE.evict()
    return feats


def _classifier(params) -> Classifier:
    from .ilastik import load_classifier

    path = params.get("classifier") or STATE.current
    if not path:
        raise ValueError("no classifier: train one (Train Classifier...) or give a classifier file")
    path = str(path)
    if path in STATE.classifiers and path in STATE.stamps and STATE.stamps[path] != _stamp(path):
        del STATE.classifiers[path]  # the file changed since it was loaded (replaced, retrained): reload it
    if path not in STATE.classifiers:
        if not Path(path).exists():
            raise ValueError(f"classifier file {path} does not exist")
        stamp = _stamp(path)
        STATE.classifiers[path] = load_classifier(path)
        STATE.stamps[path] = stamp
    STATE.current = path
    return STATE.classifiers[path]


#: classifier files up to this size are also compared by content (SHA-256) on every use
STAMP_HASH_BYTES = 64 * 2**20


def _stamp(path) -> tuple | None:
    """What identifies a classifier file's version: size, modification time, inode, and for files up
    to :data:`STAMP_HASH_BYTES` the SHA-256 of the content."""
    import hashlib

    from .io.guards import fingerprint

    fp = fingerprint(path)
    if fp is None:
        return None
    digest = None
    if fp[0] <= STAMP_HASH_BYTES and Path(path).is_file():
        h = hashlib.sha256()
        try:
            with open(path, "rb") as f:
                for chunk in iter(lambda: f.read(2**20), b""):
                    h.update(chunk)
        except OSError:
            return None
        digest = h.hexdigest()
    return fp + (digest,)


def _remember(path, clf) -> None:
    """A classifier this worker wrote to ``path`` (its file's stamp, so a later change is seen)."""
    STATE.classifiers[str(path)] = clf
    STATE.stamps[str(path)] = _stamp(path)


# --------------------------------------------------------------- requests


def req_ping(task, params, image):
    import sys

    return {"version": __version__, "python": sys.executable, "pid": os.getpid()}


def _roi_labels(params) -> tuple[np.ndarray, list[str], list]:
    """Labels from ROIs rasterised by ImageJ: ``roi_index`` (T, Z, Y, X) int32 holds, per pixel,
    1 + the index of the last ROI covering it; ``rois`` (JSON) their name, group and colour.
    Classes follow the same rules as everywhere (group > class: name > colour)."""
    from .io.rois import LabelRoi, assign_classes

    index = params["roi_index"].ndarray()
    meta = json.loads(params["rois"])
    if not meta:
        raise ValueError("no ROIs: add ROIs of at least two classes to the ROI Manager or the Overlay")
    group_names = {int(k): v for k, v in json.loads(params.get("group_names") or "{}").items()}
    classes = [c.strip() for c in str(params.get("classes") or "").split(",") if c.strip()] or None
    lrois = [LabelRoi(m.get("name") or "", m.get("kind", "area"), None, group=int(m.get("group", 0)),
                      color=tuple(m["color"]) if m.get("color") else None) for m in meta]
    values, names, colors = assign_classes(lrois, classes, group_names)
    lut = np.zeros(len(lrois) + 1, np.uint8)
    lut[1:] = values
    return lut[index], names, colors


def req_train(task, params, image):
    from .classifier import LabelImage
    from .io.pfc import save_classifier
    from .training import train, train_from_samples

    img5 = _image(image)
    T, Z, Y, X, C = img5.shape
    labels, names, colors = _roi_labels(params)
    if labels.shape != (T, Z, Y, X):
        raise ValueError(f"ROI index image shape {labels.shape} does not match the image {(T, Z, Y, X)}")
    if not labels.any():
        raise ValueError("the ROIs cover no pixel of the image")
    auto = params.get("features") == "auto"
    spec = "auto" if auto else resolve_spec(params.get("features") or DEFAULT_FEATURES, Z)
    trees, seed = int(params.get("trees", 100)), params.get("seed")
    seed = None if seed in (None, "", -1) else int(seed)
    stages = int(params.get("stages", 1))
    feats = _features(img5, spec, task) if stages == 1 and not auto else None
    task.update("choosing the features on the labels (auto), then training" if auto else "training the forest"
                if stages == 1 else f"training {stages} auto-context stages", 0, 1)
    if feats is None:  # too big to cache, auto-context or auto: features only around the labels
        clf = train(img5, labels, features=spec, trees=trees, seed=seed, axes="tzyxc", classes=names, colors=colors,
                    image_names=[str(params.get("title", ""))], stages=stages)
    else:
        mask = labels > 0
        clf = train_from_samples(feats[mask], labels[mask], spec, C, 3 if Z > 1 else 2, classes=names,
                                 colors=colors, trees=trees, seed=seed,
                                 labels=[LabelImage.from_dense(labels, str(params.get("title", "")))])
    out = params.get("output")
    key = str(out) if out else f"(unsaved classifier {time.strftime('%H:%M:%S')})"
    if out:
        save_classifier(clf, out)
        _remember(key, clf)
    else:
        STATE.classifiers[key] = clf
    STATE.current = key
    t = clf.training
    out = {"classifier": key, "classes": ",".join(clf.class_names), "n_features": clf.n_features,
           "oob_error": -1.0 if t.get("oob_error") is None else float(t["oob_error"]),
           "samples": json.dumps(t["samples_per_class"])}
    if "auto" in t:
        from .autotune import describe

        out["features_choice"] = describe(t["auto"])
    return out


def req_load(task, params, image):
    clf = _classifier(params)
    return {"classifier": STATE.current, "classes": ",".join(clf.class_names), "n_features": clf.n_features,
            "n_channels": clf.n_channels, "ndim": clf.ndim}


def _fits(clf: Classifier, img5: np.ndarray, title: str) -> None:
    """The image has the classifier's channels and dimensionality, or an error in Fiji's words."""
    C, Z = img5.shape[-1], img5.shape[1]
    if C != clf.n_channels:
        raise ValueError(f"{title} has {C} channel(s) (an RGB image has 3) but the classifier was trained on images of "
                         f"{clf.n_channels}: apply it to images like the ones it was trained on, or train one on these")
    if (3 if Z > 1 else 2) != clf.ndim:
        raise ValueError(f"{title} is a z-stack of {Z} slices but the classifier was trained on 2D images (for a time "
                         f"series, set the stack's frames with Image > Properties...)" if Z > 1 else
                         f"{title} is 2D but the classifier was trained on z-stacks")


def req_predict(task, params, image):
    clf = _classifier(params)
    src = normalize_source(params.get("source", "probabilities"))
    img5 = _image(image)
    _fits(clf, img5, str(params.get("title", "image")))
    # cached features serve a one-stage classifier; auto-context stages compute their own
    feats = _features(img5, clf.spec, task) if clf.context is None else None
    if feats is None:
        res5 = clf.predict_canonical(img5, src, block_shape=params.get("block"), progress=_progress(task, "predicting"))
    else:
        task.update("predicting", 0, 1)
        res5 = clf.from_features(feats, src)
    out = np.ascontiguousarray(np.moveaxis(res5, -1, 2))  # (T, Z, K, Y, X), ImageJ's order
    names = {"probabilities": clf.class_names, "features": clf.feature_names}.get(src, [src])
    return {"result": _to_ndarray(out), "labels": "\n".join(names), "classes": ",".join(clf.class_names),
            "colors": ";".join(",".join(str(int(v)) for v in c) for c in clf.class_colors)}


def req_suggest(task, params, image):
    from .suggest import suggest_features

    img5 = _image(image)
    labels, names, _ = _roi_labels(params)
    spec = resolve_spec(params.get("features") or "ilastik-default")
    res = suggest_features(img5, labels, spec, n=int(params.get("n", 7)), method=str(params.get("method", "filter")),
                           progress=_progress(task, "suggesting"))
    out = params.get("output")
    if out:
        Path(out).write_text(res["spec"].to_json(), encoding="utf-8")
    return {"features": res["spec"].to_json(), "oob_error": float(res["oob_error"]),
            "oob_error_all": float(res["oob_error_all"]), "cells": [list(map(str, c)) for c in res["cells"]]}


def req_export_hdf5(task, params, image):
    from .io.hdf5 import write_ilastik4ij

    img5 = _image(image)  # (T, Z, Y, X, C)
    path = write_ilastik4ij(img5, params["path"], dataset=params.get("dataset", "data"),
                            compression=int(params.get("compression", 0)))
    return {"path": str(path), "shape": json.dumps(list(img5.shape))}


def req_import_hdf5(task, params, image):
    from .io.hdf5 import read_as_tzcyx

    from .imagej.imageplus import _as_imagej_dtype

    arr, axes, dataset = read_as_tzcyx(params["path"], params.get("dataset") or None, params.get("axes") or None)
    return {"result": _to_ndarray(_as_imagej_dtype(arr, str(params["path"]))), "axes": axes, "dataset": dataset}


def req_batch(task, params, image):
    from .batch import predict_files

    clf = _classifier(params)
    out_dir = params.get("output_dir") or None
    source, fmt = params.get("source", "probabilities"), params.get("format", "tiff")
    _check_writable(_batch_folders(params["inputs"], source, fmt, out_dir))
    summary = predict_files(clf, params["inputs"], source=source, fmt=fmt, out_dir=out_dir,
                            progress=_progress(task, "batch"))
    return {"summary": [{k: str(v) for k, v in s.items()} for s in summary],
            "failed": sum(1 for s in summary if s["status"] == "failed")}


def _batch_folders(inputs, source, fmt, out_dir) -> list[Path]:
    """The folders a batch writes into: the output folder, or each input's own (ilastik's default)."""
    from .batch import DEFAULT_NAME, ILASTIK_SOURCES, expand_inputs, normalize_format, output_path

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


# ------------------------------------------------------- Live Training (one panel = one session)


def _live(params):
    sid = str(params["session"])
    if sid not in STATE.live:
        raise ValueError(f"no live session {sid!r}: it was closed (or the worker restarted); open the panel again")
    return STATE.live[sid]


def _cancelled(task):
    return lambda: bool(getattr(task, "cancel_requested", False))


def _region(params):
    t, z = int(params.get("t", 0)), int(params.get("z", 0))
    region = params.get("region")  # [y0, y1, x0, x1]
    rows, cols = ((int(region[0]), int(region[1])), (int(region[2]), int(region[3]))) if region else (None, None)
    return t, z, rows, cols, int(params.get("stride", 1))


def _live_prediction(task, live, params) -> dict:
    t, z, rows, cols, stride = _region(params)
    out = live.predict(str(params["image"]), t, z, rows, cols, stride, cancelled=_cancelled(task))
    return {"prediction": _to_ndarray(out), "version": live.version}


def req_live_open(task, params, image):
    """Start a live session (or add an image to one): the image's features are computed now and
    kept, so every later round only trains and predicts."""
    from .interactive import Session
    from .live import LiveSession

    sid = str(params["session"])
    img5 = _image(image)
    live = STATE.live.get(sid)
    if live is None:
        live = LiveSession(params.get("features") or DEFAULT_FEATURES, trees=int(params.get("trees", 100)),
                           seed=int(params.get("seed", 0)))
    key = _image_key(img5)
    sess = STATE.sessions.get(key)  # features already computed for this image (Apply, Train) are reused
    spec = live.spec_for(img5) if not live.images else next(iter(live.images.values())).spec
    if sess is None:
        sess = Session(img5, spec, axes="tzyxc", trees=live.trees, seed=live.seed)
    elif any(sess is s for other in STATE.live.values() for s in other.images.values()):
        sess = sess.twin()  # the same pixels in another window (a duplicate): its own labels, the same features
        key = f"{key}/{params['session']}/{params['image']}"
    sess.name = str(params.get("title", ""))
    sess.spec = spec
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
    if _cancelled(task)():
        raise Cancelled("training")
    n = int(np.count_nonzero(sess.labels))
    task.update(f"training on {n:,} labelled pixels", 0, 2)
    clf = live.train()
    t = clf.training
    out = {"version": live.version, "samples": [int(t["samples_per_class"][c]) for c in clf.class_names],
           "oob_error": -1.0 if t.get("oob_error") is None else float(t["oob_error"])}
    if params.get("region") is not None:
        task.update("predicting the view", 1, 2)
        out.update(_live_prediction(task, live, params))
    return out


def req_live_predict(task, params, image):
    """A region of a plane from the last round's classifier (slice changes, panning, zooming)."""
    return _live_prediction(task, _live(params), params)


def req_live_suggest(task, params, image):
    """Where to label next on a plane: [[y0, y1, x0, x1, uncertainty], ...], most worth a stroke first."""
    live = _live(params)
    t, z, _, _, _ = _region(params)
    regions = live.suggest(str(params["image"]), t, z, int(params.get("k", 5)))
    return {"regions": [[*r["box"][0], *r["box"][1], round(r["uncertainty"], 4)] for r in regions]}


def req_live_features(task, params, image):
    """Change the session's features (only cells not cached yet are computed)."""
    live = _live(params)
    spec = live.set_features(params["features"], _progress(task, "computing features"))
    return {"spec": spec.to_dict(), "n_features": int(next(iter(live.images.values())).features(spec).shape[-1])}


def req_live_suggest_features(task, params, image):
    """Suggest features from the session's labels and cached candidates (Suggest Features)."""
    from .suggest import suggest_features

    live = _live(params)
    sess = live.image(str(params["image"]))
    if not sess.labels.any():
        raise ValueError("label some pixels of at least two classes first")
    res = suggest_features(sess.image5, sess.labels, resolve_spec(params.get("candidates") or "ilastik-default"),
                           n=int(params.get("n", 7)), method=str(params.get("method", "filter")),
                           progress=_progress(task, "suggesting features"))
    return {"features": res["spec"].to_dict(), "oob_error": float(res["oob_error"]),
            "oob_error_all": float(res["oob_error_all"])}


def req_feature_presets(task, params, image):
    """The feature ids, their names, minimum scales and (for a live session's images) maximum
    scales, and each preset, for the Features dialog."""
    from .features import FEATURE_IDS, FEATURE_NAMES, MIN_SCALE, PRESETS, largest_scale

    out = {"ids": list(FEATURE_IDS), "names": [FEATURE_NAMES[f] for f in FEATURE_IDS],
           "min_scale": [MIN_SCALE[f] for f in FEATURE_IDS],
           "presets": {name: FeatureSpec.preset(name).to_dict() for name in PRESETS}}
    live = STATE.live.get(str(params.get("session"))) if params.get("session") is not None else None
    if live is not None and live.images:  # the smallest image's plane decides (2D scales are taken in y and x)
        size = min(min(s.image5.shape[2:4]) for s in live.images.values())
        out["max_scale"] = [largest_scale(f, size) for f in FEATURE_IDS]
        out["plane_size"] = size
    return out


def req_live_save(task, params, image):
    """Save the last round's classifier, with every image's labels, as a .pfc."""
    from .io.pfc import save_classifier

    live = _live(params)
    if live.classifier is None:
        raise ValueError("nothing to save yet: label two classes and train first")
    path = str(params["path"])
    if params.get("classes"):  # renamed or recoloured since the last round
        live.set_classes(list(params["classes"]), [list(c) for c in params["colors"]])
        if len(live.classes) == live.classifier.n_classes:
            live.classifier.class_names, live.classifier.class_colors = list(live.classes), list(live.colors)
    save_classifier(live.classifier, path)
    _remember(path, live.classifier)
    STATE.current = path
    return {"path": path}


def req_live_resume(task, params, image):
    """Resume a saved classifier on an image of the session: its classes, features and labels."""
    from .ilastik import load_classifier

    live = _live(params)
    path = str(params["path"])
    if not Path(path).is_file():
        raise ValueError(f"classifier file {path} does not exist")
    clf = load_classifier(path)
    index, value = live.resume(str(params["image"]), clf)
    return {"index": _to_ndarray(index), "value": _to_ndarray(value), "labels_of": live.resumed_from,
            "classes": list(clf.class_names),
            "colors": [list(c) for c in clf.class_colors], "spec": clf.spec.to_dict(), "version": live.version}


def _forget(sess) -> None:
    for key in [k for k, v in STATE.sessions.items() if v is sess]:
        del STATE.sessions[key]


def req_live_remove(task, params, image):
    """An image of the session was closed: its labels no longer train and its features are freed."""
    live = _live(params)
    sess = live.remove_image(str(params["image"]))
    if sess is not None:
        _forget(sess)
    return {"images": len(live.images)}


def req_live_close(task, params, image):
    """End a live session: its images' features are freed (unless Apply still uses them)."""
    live = STATE.live.pop(str(params["session"]), None)
    if live is not None:
        for sess in live.images.values():
            _forget(sess)
    return {"sessions": len(STATE.live)}


def req_live_info(task, params, image):
    """The worker's live sessions and memory (tests, benchmark)."""
    return {"sessions": sorted(STATE.live), "cached_sessions": len(STATE.sessions), "rss_kb": _rss_kb(),
            "images": [len(live.images) for _, live in sorted(STATE.live.items())]}


def _rss_kb() -> int:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    import resource

    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


HANDLERS = {
    "ping": req_ping,
    "train": req_train,
    "load": req_load,
    "predict": req_predict,
    "suggest": req_suggest,
    "export_hdf5": req_export_hdf5,
    "import_hdf5": req_import_hdf5,
    "batch": req_batch,
    "live_open": req_live_open,
    "live_labels": req_live_labels,
    "live_train": req_live_train,
    "live_predict": req_live_predict,
    "live_suggest": req_live_suggest,
    "live_features": req_live_features,
    "feature_presets": req_feature_presets,
    "live_suggest_features": req_live_suggest_features,
    "live_save": req_live_save,
    "live_resume": req_live_resume,
    "live_remove": req_live_remove,
    "live_close": req_live_close,
    "live_info": req_live_info,
}


def _one_line(e: BaseException) -> str:
    lines = [ln for ln in str(e).strip().splitlines() if ln.strip()]
    return lines[0] if lines else type(e).__name__


def handle(task, request: str, params: dict | None = None, image=None) -> None:
    """Entry point of every plugin request; fills ``task.outputs``."""
    _watch_parent()
    _release_pending()
    params = dict(params or {})
    fn = HANDLERS.get(request)
    if fn is None:
        task.outputs["error"] = f"unknown request {request!r}; this pixelforest ({__version__}) knows {sorted(HANDLERS)}"
        return
    try:
        task.outputs.update(fn(task, params, image))
    except Cancelled:
        task.outputs["cancelled"] = True
    except KeyError as e:
        where = traceback.extract_tb(e.__traceback__)[-1].filename
        if Path(where).name == "worker.py":  # a parameter the request needs
            task.outputs["error"] = f"the plugin sent no {e} for {request!r}: plugin and pixelforest versions differ?"
        else:  # a key missing from a file (a damaged or hostile one)
            task.outputs["error"] = f"KeyError: {_one_line(e)} is missing (a damaged or unexpected file?)"
        task.outputs["trace"] = traceback.format_exc()
    except NonFiniteError:  # in Fiji's words: what to do in ImageJ
        title = str(params.get("title") or "The image")
        task.outputs["error"] = (f"{title} has NaN or infinite pixel values, which no filter can use: replace them "
                                 f"first (e.g. Process > Noise > Remove NaNs..., or Process > Math > Set... on a "
                                 f"selection), then try again")
        task.outputs["trace"] = traceback.format_exc()
    except (ValueError, OSError, TypeError, MemoryError) as e:  # the user's to fix: a readable message
        task.outputs["error"] = str(e) if not isinstance(e, MemoryError) else \
            f"out of memory ({str(e) or 'the request was too large'})"
        task.outputs["trace"] = traceback.format_exc()
    except Exception as e:  # anything else a hostile file provokes: still a message, never a raw traceback
        task.outputs["error"] = f"{type(e).__name__}: {_one_line(e)}"
        task.outputs["trace"] = traceback.format_exc()
