"""What the worker keeps between requests: images' features, classifiers read or trained, live sessions."""

from __future__ import annotations

import hashlib
import os
from collections import OrderedDict
from pathlib import Path

import numpy as np

from ..axes import spatial_ndim
from ..classifier import Classifier
from ..features import FeatureSpec
from ..ilastik import load_classifier
from ..interactive import Session
from ..io.guards import file_sha256, fingerprint

#: budget for cached features (bytes): the plugin's Options > Memory
FEATURE_CACHE_BYTES = int(os.environ.get("PIXELFOREST_WORKER_MEMORY_MB", "2048")) * 2**20

#: classifier files up to this size are also compared by content (SHA-256) on every use
STAMP_HASH_BYTES = 64 * 2**20


class State:
    """The worker's caches (one per process: :data:`STATE`)."""

    def __init__(self):
        self.classifiers: dict[str, Classifier] = {}
        self.stamps: dict[str, tuple | None] = {}  # classifier file -> its stamp when loaded (see stamp)
        self.current: str | None = None
        # image key -> interactive Session: the image's features cached per (feature, scale) cell,
        # so Apply after Train, or a changed feature selection, computes only what is missing
        self.sessions: OrderedDict = OrderedDict()
        self.live: dict = {}  # Live Training panels: session id -> pixelforest.live.LiveSession

    def session(self, key, img5, spec):
        """The image's cached features (a new entry when the image is new), made the most recent."""
        if key not in self.sessions:
            self.sessions[key] = Session(img5, spec, axes="tzyxc")
        self.sessions.move_to_end(key)
        return self.sessions[key]

    def evict(self):
        """Drop the least recently used images' features beyond the memory budget (keeping the newest)."""
        while len(self.sessions) > 1 and sum(s.cached_bytes() for s in self.sessions.values()) > FEATURE_CACHE_BYTES:
            self.sessions.popitem(last=False)

    def forget(self, sess) -> None:
        """Drop an image's cached features (a live session's image that was closed)."""
        for key in [k for k, v in self.sessions.items() if v is sess]:
            del self.sessions[key]


STATE = State()


def image_key(img5: np.ndarray) -> str:
    """A digest of an image's shape, type and pixels: the same pixels find the same cached features."""
    h = hashlib.blake2b(digest_size=16)
    h.update(str(img5.shape).encode() + str(img5.dtype).encode())
    h.update(memoryview(np.ascontiguousarray(img5)).cast("B"))
    return h.hexdigest()


def features_for(img5: np.ndarray, spec: FeatureSpec, task=None) -> np.ndarray | None:
    """The image's features from the worker's cache (computing the missing cells), or None when they
    would not fit the cache budget (the caller then works block by block)."""
    n = spec.n_features(img5.shape[-1], spatial_ndim(img5.shape[1]))
    if img5[..., 0].size * n * 4 > FEATURE_CACHE_BYTES:
        return None
    sess = STATE.session(image_key(img5), img5, spec)
    missing = sess.missing(spec)
    if task is not None:
        task.outputs["computed_cells"] = len(missing)  # 0: every feature came from the cache
        if missing:
            task.update("computing features", 0, 1)
    sess.spec = spec  # the selection in use: its cells are kept side by side
    feats = sess.features(spec)
    STATE.evict()
    return feats


def classifier_for(params) -> Classifier:
    """The classifier a request names (``params["classifier"]``, else the last one used), read once and
    read again when its file changed."""
    path = params.get("classifier") or STATE.current
    if not path:
        raise ValueError("no classifier: train one (Train Classifier...) or give a classifier file")
    path = str(path)
    loaded = path in STATE.classifiers
    now = stamp(path) if not loaded or path in STATE.stamps else None  # read (and hashed) once a request
    if loaded and path in STATE.stamps and STATE.stamps[path] != now:
        del STATE.classifiers[path]  # the file changed since it was loaded (replaced, retrained): reload it
    if path not in STATE.classifiers:
        if not Path(path).exists():
            raise ValueError(f"classifier file {path} does not exist")
        STATE.classifiers[path] = load_classifier(path)
        STATE.stamps[path] = now
    STATE.current = path
    return STATE.classifiers[path]


def stamp(path) -> tuple | None:
    """What identifies a classifier file's version: size, modification time, inode, and for files up
    to :data:`STAMP_HASH_BYTES` the SHA-256 of the content."""
    fp = fingerprint(path)
    if fp is None:
        return None
    digest = None
    if fp[0] <= STAMP_HASH_BYTES and Path(path).is_file():
        try:
            digest = file_sha256(path)
        except OSError:
            return None
    return fp + (digest,)


def remember(path, clf) -> None:
    """A classifier this worker wrote to ``path`` (its file's stamp, so a later change is seen)."""
    STATE.classifiers[str(path)] = clf
    STATE.stamps[str(path)] = stamp(path)
