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
from .classifier import Classifier, LabelImage, train_from_samples
from .features import FeatureSpec, values_per_channel, check_image_values, check_scales, compute_canonical, resolve_spec


class Session:
    """Interactive training on one image (any axes, like :func:`pixelforest.train`)."""

    def __init__(self, image, features="ilastik-default", *, axes=None, channel_axis=None, trees: int = 100,
                 seed=None, classes=None, colors=None):
        image = np.asarray(image)
        self.axes = _axes.resolve_axes(image.ndim, axes, channel_axis)
        check_image_values(image)
        self.image5 = np.ascontiguousarray(_axes.to_canonical(image, self.axes), dtype=np.float32)
        self.spec = resolve_spec(features)
        T, Z, Y, X, C = self.image5.shape
        check_scales(self.spec, (T, Z, Y, X))
        self.labels = np.zeros((T, Z, Y, X), np.uint8)
        self.trees, self.seed, self.classes, self.colors = trees, seed, classes, colors
        self._cells: dict = {}  # (feature id, scale, in 2D) -> (T, Z, Y, X, k) float32
        self._assembled = None  # (cell keys, their features side by side) of the last request
        self.classifier: Classifier | None = None

    # -- features -------------------------------------------------------------------

    def _cell_key(self, fid, si, spec):
        return fid, spec.scales[si], spec.in_2d_flags(self.image5.shape[1])[si], spec.normalize

    def missing(self, spec: FeatureSpec | None = None) -> list:
        """The (feature, scale index) cells of ``spec`` not computed yet."""
        spec = spec or self.spec
        return [(fid, si) for fid, si in spec.cells() if self._cell_key(fid, si, spec) not in self._cells]

    def cached_bytes(self) -> int:
        """Memory held by cached features (each underlying array once)."""
        bases = {}
        for a in self._cells.values():
            b = a.base if a.base is not None else a
            bases[id(b)] = b.nbytes
        return sum(bases.values())

    def features(self, spec: FeatureSpec | None = None) -> np.ndarray:
        """The image's features for ``spec`` (default: the session's), computing only missing cells."""
        spec = spec or self.spec
        missing = self.missing(spec)
        flags = spec.in_2d_flags(self.image5.shape[1])
        groups: dict = {}  # cells computed together: a scale's filters share their smoothing; all
        for fid, si in missing:  # reaches of hole filling (2D or 3D) share one component tree
            groups.setdefault(("holes", flags[si]) if fid == "HoleFilling" else ("scale", si), []).append((fid, si))
        C = self.image5.shape[-1]
        for cells in groups.values():
            sis = sorted({si for _, si in cells}, key=lambda si: spec.scales[si])
            sub = FeatureSpec.from_cells({fid: [spec.scales[si] for f, si in cells if f == fid] for fid, _ in cells},
                                         scales=[spec.scales[si] for si in sis],
                                         compute_in_2d=None if spec.compute_in_2d is None else [spec.compute_in_2d[si] for si in sis],
                                         structure_tensor=spec.structure_tensor)
            sub = replace(sub, normalize=spec.normalize)
            out = compute_canonical(self.image5, sub, check=False)
            k = 0
            for fid, sub_si in sub.cells():
                si = sis[sub_si]
                n = values_per_channel(fid, flags[si]) * C
                self._cells[self._cell_key(fid, si, spec)] = out[..., k:k + n]
                k += n
        keys = [self._cell_key(fid, si, spec) for fid, si in spec.cells()]
        if self._assembled is not None and self._assembled[0] == keys:
            return self._assembled[1]
        full = np.concatenate([self._cells[k] for k in keys], axis=-1)
        if spec != self.spec:  # another selection (e.g. suggested features): a copy, not kept
            return full
        # the session's own cells become views of the assembled array: no second copy is kept,
        # and asking again (retrain, predict) costs nothing
        k0 = 0
        for key in keys:
            n = self._cells[key].shape[-1]
            self._cells[key] = full[..., k0:k0 + n]
            k0 += n
        self._assembled = (keys, full)
        return full

    # -- labels and training ----------------------------------------------------------

    def add_labels(self, labels) -> None:
        """Paint labels (the image's non-channel shape; 0 = leave as is, k = class k)."""
        lab = np.asarray(labels)
        want = self.labels.shape
        lab5 = _axes.to_canonical(lab[..., None], self.axes.replace("c", "") + "c")[..., 0]
        if lab5.shape != want:
            raise ValueError(f"labels of shape {lab.shape} do not match the image's non-channel shape")
        self.labels[lab5 > 0] = lab5[lab5 > 0]

    def erase(self, mask) -> None:
        m = _axes.to_canonical(np.asarray(mask, bool)[..., None], self.axes.replace("c", "") + "c")[..., 0]
        self.labels[m] = 0

    def train(self, spec: FeatureSpec | None = None) -> Classifier:
        """Train on all labels so far from the cached features."""
        spec = spec or self.spec
        feats = self.features(spec)
        mask = self.labels > 0
        if not mask.any():
            raise ValueError("no labelled pixels yet: add labels first")
        T, Z, Y, X, C = self.image5.shape
        self.classifier = train_from_samples(
            feats[mask], self.labels[mask], spec, C, 3 if Z > 1 else 2, classes=self.classes, colors=self.colors,
            trees=self.trees, seed=self.seed, labels=[LabelImage.from_dense(self.labels, axes=self.axes)])
        return self.classifier

    def predict(self, source: str = "probabilities", view=None) -> np.ndarray:
        """Predict the image (or ``view``: slices over the image's non-channel axes) from the cache."""
        if self.classifier is None:
            raise ValueError("train first")
        feats = self.features(self.classifier.spec)
        if view is not None:
            sl = dict(zip(self.axes.replace("c", ""), view if isinstance(view, tuple) else (view,)))
            feats = feats[tuple(sl.get(a, slice(None)) for a in _axes.CANONICAL[:4])]
        from .classifier import normalize_source

        src = normalize_source(source)
        res = self.classifier._from_features(feats, src)
        return _axes.from_canonical(res, self.axes, channels=src in ("probabilities", "features"))
