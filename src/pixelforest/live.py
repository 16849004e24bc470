"""The engine behind the Live Training panel: label, retrain, look, for one or several images.

A :class:`LiveSession` holds, per image, an :class:`~pixelforest.interactive.Session` (the
image's features, computed once, and its labels), the classes, and the classifier of the last
round. Each round replaces one image's labels, retrains on the labels of every image from the
cached features, and predicts what the canvas shows: one plane, one region, sampled at the
canvas's resolution. Predictions are returned as 8-bit probabilities plus the segmentation
(argmax + 1 of the unquantised probabilities, so it is exactly the classifier's).
"""

from __future__ import annotations

from typing import Callable

import numpy as np
from scipy import ndimage

from .classifier import Classifier, segmentation_from_probabilities, uncertainty_from_probabilities
from .features import FeatureSpec, fit_to_size, resolve_spec
from .interactive import Session, train_sessions
from .postprocess import suggest_regions

#: pixels predicted between two checks for cancellation
CHUNK_PIXELS = 1 << 15


class Cancelled(Exception):
    """A round no longer needed (newer labels came, or the user cancelled)."""


class LiveSession:
    """The images, classes and classifier of one Live Training panel."""

    def __init__(self, features, *, trees: int = 100, seed=0):
        self.features = features
        self.trees, self.seed = int(trees), seed
        self.images: dict[str, Session] = {}
        self.classes: list[str] = []
        self.colors: list[tuple[int, int, int]] = []
        self.classifier: Classifier | None = None
        self.version = 0  # rounds trained
        self.note = ""  # what the features of the first image left out (a small image)
        self.resumed_from = ""  # the name of the image whose saved labels were resumed

    def spec_for(self, img5: np.ndarray) -> FeatureSpec:
        """The session's features for its first image. A preset chosen by name leaves out the scales
        the image is too small for (said in :attr:`note`); an explicit choice keeps ilastik's rule."""
        spec = resolve_spec(self.features, img5.shape[1])
        self.note = ""
        if isinstance(self.features, str):
            spec, dropped = fit_to_size(spec, img5.shape[:4])
            if dropped:
                self.note = (f"scale(s) {', '.join(f'{s:g}' for s in dropped)} left out: the image is too small "
                             f"for them")
        return spec

    def add_image(self, key: str, session: Session) -> None:
        first = next(iter(self.images.values()), None)
        if first is not None:
            if session.image5.shape[-1] != first.image5.shape[-1]:
                raise ValueError(f"{session.name} has {session.image5.shape[-1]} channel(s) but {first.name} has "
                                 f"{first.image5.shape[-1]}: one classifier needs images with the same channels")
            if (session.image5.shape[1] > 1) != (first.image5.shape[1] > 1):
                raise ValueError(f"{session.name} and {first.name}: 2D images and 3D stacks cannot share a classifier")
            session.spec = first.spec
        self.images[key] = session

    def remove_image(self, key: str) -> Session | None:
        """Leave an image out (its window closed): its labels no longer train, its features go."""
        return self.images.pop(key, None)

    def image(self, key: str) -> Session:
        try:
            return self.images[key]
        except KeyError:
            raise ValueError(f"image {key!r} is not part of this live session; add it first") from None

    def set_classes(self, names, colors) -> None:
        names = [str(n) for n in names]
        if not names:
            raise ValueError("a live session needs at least one class")
        if len(colors) != len(names):
            raise ValueError(f"{len(names)} class names but {len(colors)} colours")
        self.classes = names
        self.colors = [tuple(int(v) for v in c) for c in colors]

    def set_features(self, features, progress: Callable | None = None) -> FeatureSpec:
        """Choose the features (computing only the cells not cached yet); the next round uses them."""
        spec = None
        for i, s in enumerate(self.images.values()):
            spec = resolve_spec(features, s.image5.shape[1])
            s.spec = spec
            s.features(spec)
            if progress is not None:
                progress(i + 1, len(self.images))
        self.features = features
        self.classifier = None
        return spec

    def train(self) -> Classifier:
        """Retrain on the labels of every image; at least two classes must have labels."""
        present = set()
        for s in self.images.values():
            present.update(int(v) for v in np.unique(s.labels[s.labels > 0]))
        if len(present) < 2:
            raise ValueError("label at least two classes to train")
        first = next(iter(self.images.values()))
        self.classifier = train_sessions(list(self.images.values()), first.spec, classes=self.classes,
                                         colors=self.colors, trees=self.trees, seed=self.seed)
        self.version += 1
        return self.classifier

    def predict(self, key: str, t: int = 0, z: int = 0, rows=None, cols=None, stride: int = 1,
                cancelled: Callable[[], bool] | None = None) -> np.ndarray:
        """A region of one plane as ``(K + 1, h, w)`` uint8: K probabilities scaled to 0..255, then
        the segmentation (class 1..K). Checks ``cancelled`` between chunks of rows."""
        if self.classifier is None:
            raise ValueError("train first")
        s = self.image(key)
        Y, X = s.image5.shape[2:4]
        (y0, y1), (x0, x1) = rows or (0, Y), cols or (0, X)
        K = self.classifier.n_classes
        out_rows = []
        step = max(stride, (CHUNK_PIXELS // max(1, (x1 - x0) // stride)) * stride)
        for r0 in range(y0, y1, step):
            if cancelled is not None and cancelled():
                raise Cancelled("prediction")
            p = s.predict_plane(t, z, (r0, min(y1, r0 + step)), (x0, x1), stride, self.classifier)
            out_rows.append(p)
        p = np.concatenate(out_rows, axis=0)
        out = np.empty((K + 1,) + p.shape[:2], np.uint8)
        np.rint(np.moveaxis(p, -1, 0) * 255, out=out[:K], casting="unsafe")
        out[K] = segmentation_from_probabilities(p)
        return out

    def suggest(self, key: str, t: int = 0, z: int = 0, k: int = 5, max_pixels: int = 1 << 18) -> list[dict]:
        """Where to label next on one plane (:func:`~pixelforest.postprocess.suggest_regions`: drawn
        where the forest is unsure, away from the labels, spread out), ``k`` places, each
        ``{"box": ((y0, y1), (x0, x1)), "center": (y, x), "uncertainty": u}`` in image pixels, the
        most uncertain box first. Large planes are looked at every few pixels (a cell of that grid holding
        any labelled pixel counts as labelled)."""
        s = self.image(key)
        Y, X = s.image5.shape[2:4]
        stride = max(1, int(np.ceil(np.sqrt(Y * X / max_pixels))))
        p = s.predict_plane(t, z, stride=stride, classifier=self.classifier)
        unc = uncertainty_from_probabilities(p)
        ys = np.minimum(np.arange(0, Y, stride) + stride // 2, Y - 1)  # the pixels predict_plane looked at
        xs = np.minimum(np.arange(0, X, stride) + stride // 2, X - 1)
        lab = s.labels[t, z] > 0
        if stride > 1:  # a cell of the coarse grid is labelled when any of its pixels is (thin strokes count)
            lab = ndimage.maximum_filter(lab, size=stride, mode="constant")
        lab = lab[ys[:, None], xs[None, :]]
        size = max(3, int(round(max(15, min(Y, X) / 12) / stride)))
        out = []
        for r in suggest_regions(unc, k=k, size=size, labels=lab):
            (a, b), (c, d) = r["box"]
            cy, cx = r["center"]
            out.append({"box": ((a * stride, min(Y, b * stride)), (c * stride, min(X, d * stride))),
                        "center": (int(ys[cy]), int(xs[cx])), "uncertainty": r["uncertainty"]})
        return out

    def labels_of(self, key: str) -> tuple[np.ndarray, np.ndarray]:
        """One image's labels as flat indices into (T, Z, Y, X) and class values."""
        flat = self.image(key).labels.reshape(-1)
        idx = np.flatnonzero(flat)
        return idx.astype(np.int64), flat[idx]

    def resume(self, key: str, clf: Classifier) -> tuple[np.ndarray, np.ndarray]:
        """Take a saved classifier's classes, features and labels for image ``key`` (the saved label
        image of the same shape and, when several, the same name); its forest predicts until the
        next round. Returns the labels as :meth:`labels_of` does."""
        if clf.stages > 1:
            raise ValueError("live training trains one stage; this classifier has auto-context stages "
                             "(apply it with Apply Classifier... instead)")
        s = self.image(key)
        shape = s.labels.shape
        fits = [li for li in clf.labels if tuple(li.shape) == shape]
        if not fits:
            raise ValueError(f"the classifier holds no labels for an image of shape "
                             f"{shape[1:] if shape[0] == 1 else shape} (T, Z, Y, X); open it on the image it was "
                             f"trained on")
        li = next((li for li in fits if li.name == s.name), None)
        if li is None and len(fits) > 1:
            raise ValueError(f"the classifier holds labels of {len(fits)} images of this size "
                             f"({', '.join(repr(f.name) for f in fits)}) and none is named {s.name!r}: "
                             f"open it on one of those images")
        li = li or fits[0]  # one image of this size, renamed since (or its title changed)
        self.resumed_from = li.name
        if clf.n_channels != s.image5.shape[-1]:
            raise ValueError(f"the classifier expects {clf.n_channels} channel(s); {s.name} has {s.image5.shape[-1]}")
        s.spec = clf.spec
        s.features(clf.spec)
        self.features = clf.spec
        self.set_classes(clf.class_names, clf.class_colors)
        s.set_labels(li.index, li.value)
        self.classifier = clf
        self.version += 1
        return self.labels_of(key)
