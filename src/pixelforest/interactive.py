"""The training loop users live in: label, train, look, label more.

A :class:`Session` keeps one image's features cached per (feature, scale) cell, so
adding strokes and retraining never recomputes features, and changing the feature
selection computes only the cells that are new. Prediction of a view (a region of
the image) reuses the same cache.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from . import axes as _axes
from .classifier import Classifier, LabelImage, normalize_source
from .features import (
    DEFAULT_FEATURES,
    DERIVED_FEATURES,
    HOLE_FEATURE_IDS,
    FeatureSpec,
    check_image_values,
    check_scales,
    compute_canonical,
    image_stats,
    resolve_spec,
)
from .training import train_from_samples


class Session:
    """Interactive training on one image (any axes, like :func:`pixelforest.train`)."""

    def __init__(self, image, features=DEFAULT_FEATURES, *, axes=None, channel_axis=None, trees: int = 100,
                 seed=None, classes=None, colors=None, name: str = ""):
        image = np.asarray(image)
        self.axes = _axes.resolve_axes(image.ndim, axes, channel_axis)
        check_image_values(image)
        self.image5 = np.ascontiguousarray(_axes.to_canonical(image, self.axes), dtype=np.float32)
        T, Z, Y, X, C = self.image5.shape
        self.spec = resolve_spec(features, Z)  # the default preset fitted to a thin stack, as train() does
        check_scales(self.spec, (T, Z, Y, X))
        self.labels = np.zeros((T, Z, Y, X), np.uint8)
        self.trees, self.seed, self.classes, self.colors = trees, seed, classes, colors
        self.name = name  # the image's title or file, kept with its labels in a saved classifier
        self._cells: dict = {}  # (feature id, scale, in 2D) -> (T, Z, Y, X, k) float32
        self._assembled = None  # (cell keys, their features side by side) of the last request
        self._image_stats: dict = {}  # normalisation mode -> the whole image's statistics
        self.classifier: Classifier | None = None

    def twin(self, name: str = "") -> "Session":
        """A session on the same pixels with labels of its own, sharing this one's computed
        features (two images with equal pixels, e.g. a duplicate, are labelled apart)."""
        other = object.__new__(Session)
        other.__dict__.update(self.__dict__)
        other.labels = np.zeros_like(self.labels)
        other._cells = dict(self._cells)  # the arrays are shared, never written in place
        other._image_stats = dict(self._image_stats)
        other.name, other.classifier = name, None
        return other

    # -- features -------------------------------------------------------------------

    def _cell_key(self, fid, si, spec):
        return fid, spec.scales[si], spec.in_2d_flags(self.image5.shape[1])[si], spec.normalize

    def missing(self, spec: FeatureSpec | None = None) -> list:
        """The (feature, scale index) cells of ``spec`` not computed yet (nor to be had from a
        computed one: Dark Hole Filling from Hole Filling at the same scale)."""
        spec = spec or self.spec
        return [(fid, si) for fid, si in spec.cells()
                if self._cell_key(fid, si, spec) not in self._cells and self._derived(fid, si, spec) is None]

    def _derived(self, fid, si, spec):
        """A cell that is a view of a computed one (``DERIVED_FEATURES``: Dark Hole Filling's
        columns are Hole Filling's dark ones), or None."""
        if fid not in DERIVED_FEATURES:
            return None
        source, cols = DERIVED_FEATURES[fid]
        cell = self._cells.get(self._cell_key(source, si, spec))
        return None if cell is None else cell[..., cols]

    def cached_bytes(self) -> int:
        """Memory held by cached features (each underlying array once)."""
        bases = {}
        for a in self._cells.values():
            b = a.base if a.base is not None else a
            bases[id(b)] = b.nbytes
        return sum(bases.values())

    def _stats(self, spec: FeatureSpec):
        """The whole image's normalisation statistics for ``spec``'s mode, computed once."""
        if spec.normalize not in self._image_stats:
            self._image_stats[spec.normalize] = image_stats(self.image5, spec)
        return self._image_stats[spec.normalize]

    def _keep(self, spec: FeatureSpec, keys: list, full: np.ndarray) -> np.ndarray:
        """The session's cells become views of ``full`` (its features side by side): no second
        copy is kept, and asking again (retrain, predict) costs nothing."""
        cols = spec.columns(self.image5.shape[-1], _axes.spatial_ndim(self.image5.shape[1]))
        for key, col in zip(keys, cols, strict=True):
            self._cells[key] = full[..., col.start:col.stop]
        self._assembled = (keys, full)
        return full

    def features(self, spec: FeatureSpec | None = None) -> np.ndarray:
        """The image's features for ``spec`` (default: the session's), computing only missing cells."""
        spec = spec or self.spec
        wanted = spec.cells()
        keys = [self._cell_key(fid, si, spec) for fid, si in wanted]
        for (fid, si), key in zip(wanted, keys, strict=True):  # views of computed cells, where they serve
            if key not in self._cells and (view := self._derived(fid, si, spec)) is not None:
                self._cells[key] = view
        missing = [cell for cell, key in zip(wanted, keys, strict=True) if key not in self._cells]
        if spec == self.spec and len(missing) == len(keys):  # nothing cached: the whole bank in one pass
            return self._keep(spec, keys, compute_canonical(self.image5, spec, check=False, stats=self._stats(spec)))
        flags = spec.in_2d_flags(self.image5.shape[1])
        groups: dict = {}  # cells computed together: a scale's filters share their smoothing; all
        for fid, si in missing:  # reaches of hole filling (2D or 3D) share one component tree
            groups.setdefault(("holes", flags[si]) if fid in HOLE_FEATURE_IDS else ("scale", si), []).append((fid, si))
        C = self.image5.shape[-1]
        for cells in groups.values():
            sis = sorted({si for _, si in cells}, key=lambda si: spec.scales[si])
            sub = FeatureSpec.from_cells({fid: [spec.scales[si] for f, si in cells if f == fid] for fid, _ in cells},
                                         scales=[spec.scales[si] for si in sis],
                                         compute_in_2d=None if spec.compute_in_2d is None
                                         else [spec.compute_in_2d[si] for si in sis],
                                         structure_tensor=spec.structure_tensor)
            sub = replace(sub, normalize=spec.normalize)
            out = compute_canonical(self.image5, sub, check=False, stats=self._stats(spec))
            for col in sub.columns(C, _axes.spatial_ndim(self.image5.shape[1])):
                self._cells[self._cell_key(col.fid, sis[col.si], spec)] = out[..., col.start:col.stop]
        if self._assembled is not None and self._assembled[0] == keys:
            return self._assembled[1]
        full = np.concatenate([self._cells[k] for k in keys], axis=-1)
        if spec != self.spec:  # another selection (e.g. suggested features): a copy, not kept
            return full
        return self._keep(spec, keys, full)

    # -- labels and training ----------------------------------------------------------

    def add_labels(self, labels) -> None:
        """Paint labels (the image's non-channel shape; 0 = leave as is, k = class k)."""
        lab = np.asarray(labels)
        want = self.labels.shape
        lab5 = _axes.to_canonical(lab[..., None], self.axes.replace("c", "") + "c")[..., 0]
        if lab5.shape != want:
            raise ValueError(f"labels of shape {lab.shape} do not match the image's non-channel shape")
        self.labels[lab5 > 0] = lab5[lab5 > 0]

    def set_labels(self, index, value) -> None:
        """Replace every label by sparse ones: flat indices into the (T, Z, Y, X) label image and
        their class values (1..255), as the Fiji panel sends them after each change."""
        index = np.asarray(index, np.int64).reshape(-1)
        value = np.asarray(value).reshape(-1)
        if index.shape != value.shape:
            raise ValueError(f"{index.size} label indices but {value.size} label values")
        if index.size and (index.min() < 0 or index.max() >= self.labels.size):
            raise ValueError(f"label index outside the image's {self.labels.size} pixels")
        if value.size and (value.min() < 1 or value.max() > 255):
            raise ValueError("label values must be classes 1..255")
        self.labels[...] = 0
        self.labels.reshape(-1)[index] = value

    def samples(self, spec: FeatureSpec | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Features and classes of the labelled pixels."""
        flat = self.labels.reshape(-1)
        idx = np.flatnonzero(flat)
        feats = self.features(spec or self.spec)
        return feats.reshape(-1, feats.shape[-1])[idx], flat[idx]

    def train(self, spec: FeatureSpec | None = None) -> Classifier:
        """Train on all labels so far from the cached features."""
        self.classifier = train_sessions([self], spec, classes=self.classes, colors=self.colors, trees=self.trees,
                                         seed=self.seed)
        return self.classifier

    def predict_plane(self, t: int = 0, z: int = 0, rows=None, cols=None, stride: int = 1,
                      classifier: Classifier | None = None) -> np.ndarray:
        """Probabilities ``(h, w, K)`` of a region of one (t, z) plane from the cache: ``rows`` and
        ``cols`` are ``(start, stop)`` (default: all), cut into cells of ``stride`` x ``stride``
        pixels from the region's corner, each predicted at its centre (or its last pixel, for a
        cell cut by the region's edge), as a canvas shows a zoomed-out image."""
        clf = classifier or self.classifier
        if clf is None:
            raise ValueError("train first")
        T, Z, Y, X, _ = self.image5.shape
        if not (0 <= t < T and 0 <= z < Z):
            raise ValueError(f"plane (t={t}, z={z}) is outside the image (T={T}, Z={Z})")
        stride = int(stride)
        if stride < 1:
            raise ValueError(f"stride must be >= 1, got {stride}")
        (y0, y1), (x0, x1) = rows or (0, Y), cols or (0, X)
        if not (0 <= y0 < y1 <= Y and 0 <= x0 < x1 <= X):
            raise ValueError(f"region rows {y0}..{y1}, columns {x0}..{x1} is outside the {Y} x {X} image")
        feats = self.features(clf.spec)[t, z]
        if stride == 1:
            f = feats[y0:y1, x0:x1]
        else:
            ys = np.minimum(np.arange(y0, y1, stride) + stride // 2, y1 - 1)
            xs = np.minimum(np.arange(x0, x1, stride) + stride // 2, x1 - 1)
            f = feats[ys[:, None], xs[None, :]]
        p = clf.predict_proba_features(np.ascontiguousarray(f).reshape(-1, f.shape[-1]))
        return p.reshape(f.shape[:2] + (clf.n_classes,))

    def predict(self, source: str = "probabilities", view=None) -> np.ndarray:
        """Predict the image (or ``view``: slices over the image's non-channel axes) from the cache."""
        if self.classifier is None:
            raise ValueError("train first")
        feats = self.features(self.classifier.spec)
        if view is not None:
            sl = dict(zip(self.axes.replace("c", ""), view if isinstance(view, tuple) else (view,), strict=False))
            feats = feats[tuple(sl.get(a, slice(None)) for a in _axes.CANONICAL[:4])]
        src = normalize_source(source)
        res = self.classifier.from_features(feats, src)
        return _axes.from_canonical(res, self.axes, channels=src in ("probabilities", "features"))


def train_sessions(sessions, spec: FeatureSpec | None = None, *, classes=None, colors=None, trees: int = 100,
                   seed=None) -> Classifier:
    """One classifier from the labels of several sessions (one per image, same channels and
    dimensionality), each from its own feature cache; the labels of every image are kept with it."""
    spec = spec or sessions[0].spec
    Xs, ys = [], []
    for s in sessions:
        if s.image5.shape[-1] != sessions[0].image5.shape[-1]:
            raise ValueError(f"images with {s.image5.shape[-1]} and {sessions[0].image5.shape[-1]} channels "
                             f"cannot train one classifier")
        if (s.image5.shape[1] > 1) != (sessions[0].image5.shape[1] > 1):
            raise ValueError("2D images and 3D stacks cannot train one classifier")
        if s.labels.any():
            X, y = s.samples(spec)
            Xs.append(X)
            ys.append(y)
    if not Xs:
        raise ValueError("no labelled pixels yet: add labels first")
    T, Z, Y, X, C = sessions[0].image5.shape
    return train_from_samples(
        np.concatenate(Xs), np.concatenate(ys), spec, C, _axes.spatial_ndim(Z), classes=classes, colors=colors,
        trees=trees, seed=seed, n_images=len(sessions),
        labels=[LabelImage.from_dense(s.labels, s.name, s.axes) for s in sessions])
