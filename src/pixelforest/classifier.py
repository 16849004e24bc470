"""The trained pixel classifier: its stages, classes and labels, and what it predicts.

Labels follow ilastik: 0 = unlabelled, class k = label value k (k = 1..K). A classifier is a list
of :class:`Stage` (one for a plain pixel classifier; two or more with auto-context, as ilastik's
Autocontext workflow): each stage is a feature bank and the forest on its features, stage k > 0
filtering the image's channels plus stage k-1's probabilities. Training is
:mod:`pixelforest.training`; saving and loading, :mod:`pixelforest.io.pfc`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np

from . import axes as _axes
from . import blockwise
from .features import FeatureSpec, check_image_values, check_scales, compute_canonical, image_stats
from .forest import Forest
from .runtime import available_memory, check_memory, raise_if_interrupted

SOURCES = ("probabilities", "simple-segmentation", "uncertainty", "features")
#: ilastik's export source names, as in ``--export_source``
ILASTIK_SOURCES = {
    "probabilities": "Probabilities",
    "simple-segmentation": "Simple Segmentation",
    "uncertainty": "Uncertainty",
    "features": "Features",
}

#: ilastik's default label colours (Label 1 red, Label 2 green, ...)
DEFAULT_COLORS = [
    (255, 0, 0), (0, 255, 0), (255, 255, 0), (0, 0, 255), (255, 0, 255), (0, 255, 255),
    (255, 105, 180), (102, 205, 170), (255, 165, 0), (218, 112, 214), (192, 192, 192), (128, 0, 0),
]

Progress = Callable[[int, int], None]

#: auto-context stages a classifier may have (ilastik's Autocontext has 2)
MAX_STAGES = 4


def default_color(i: int) -> tuple[int, int, int]:
    """Class ``i``'s colour (0-based): ilastik's, then random but fixed."""
    if i < len(DEFAULT_COLORS):
        return DEFAULT_COLORS[i]
    rng = np.random.default_rng(i)
    return tuple(int(v) for v in rng.integers(32, 256, 3))


def normalize_source(source: str) -> str:
    """An export source name as in :data:`SOURCES` (any case, ``_`` or spaces for ``-``)."""
    s = str(source).strip().lower().replace("_", "-").replace(" ", "-")
    if s not in SOURCES:
        raise ValueError(f"unknown export source {source!r}; expected one of {list(SOURCES)}")
    return s


@dataclass
class LabelImage:
    """Sparse labels of one training image: flat indices into its (T, Z, Y, X) shape."""

    shape: tuple[int, int, int, int]
    index: np.ndarray  # int64 flat indices into shape
    value: np.ndarray  # uint8 class values
    name: str = ""  # the image's file (or title)
    axes: str = ""  # the image's axes as it was given (for .ilp export)

    @classmethod
    def from_dense(cls, labels5: np.ndarray, name: str = "", axes: str = "") -> "LabelImage":
        lab = labels5.reshape(labels5.shape[:4])
        idx = np.flatnonzero(lab)
        return cls(tuple(int(s) for s in lab.shape), idx.astype(np.int64), lab.reshape(-1)[idx].astype(np.uint8), name,
                   axes)

    def dense(self) -> np.ndarray:
        out = np.zeros(self.shape, dtype=np.uint8)
        out.reshape(-1)[self.index] = self.value
        return out


@dataclass
class Stage:
    """One stage of a classifier: a feature bank and the forest on its features (None: fewer than
    two classes labelled, every probability 0, as ilastik), with its training summary."""

    spec: FeatureSpec
    forest: Forest | None
    training: dict = field(default_factory=dict)


def stage_stats(stages: Sequence[Stage], n_classes: int, image5, memo: dict | None = None) -> list:
    """Normalisation statistics of every stage, first stage first: each stage's image channels
    as its spec says; the probabilities a stage adds as channels are used as they are (0..1).
    The image's statistics are computed once per normalisation mode (``memo``), not per stage."""
    memo = {} if memo is None else memo
    out = []
    for k, st in enumerate(stages):
        if st.spec.normalize not in memo:
            memo[st.spec.normalize] = image_stats(image5, st.spec)
        own = memo[st.spec.normalize]
        if k > 0 and own is not None:
            own = np.concatenate([own, np.tile([[0.0, 1.0]], (n_classes, 1))])
        out.append(own)
    return out


def stage_features(stages: Sequence[Stage], data: np.ndarray, region, stats: list, z_size: int) -> np.ndarray:
    """The last stage's features over ``region`` (slices of the in-memory ``data``, a (T, Z, Y, X, C)
    piece of the image holding enough margin around ``region`` for every stage's filters).

    Each stage's probabilities, over the region the next stage filters (its region grown by its
    halo), become extra channels of the next stage. Growing is clipped to ``data``, which happens
    exactly where ``data`` meets the image border, so pieces give the whole image's values."""
    shape = data.shape[:4]
    regions = [region]  # where each stage's features are needed, last stage first
    for st in reversed(stages[1:]):
        regions.append(blockwise.grow(regions[-1], st.spec.halo(), shape)[0])
    regions.reverse()
    proba = None
    for k, st in enumerate(stages):
        outer, inner = blockwise.grow(regions[k], st.spec.halo(), shape)
        src = data[outer]
        if proba is not None:  # the previous stage's probabilities over ``outer``
            src = np.concatenate([np.asarray(src, np.float32), proba], axis=-1)
        feats = compute_canonical(src, st.spec, check=False, z_size=z_size, stats=stats[k])[inner]
        if k + 1 < len(stages):
            proba = st.forest.predict_proba(feats.reshape(-1, feats.shape[-1]))
            proba = proba.reshape(feats.shape[:-1] + (proba.shape[-1],))
    return feats


def segmentation_from_probabilities(p: np.ndarray) -> np.ndarray:
    """Simple segmentation: argmax + 1 as uint8 (ilastik)."""
    return (np.argmax(p, axis=-1) + 1).astype(np.uint8)


def uncertainty_from_probabilities(p: np.ndarray) -> np.ndarray:
    """ilastik's uncertainty: 1 - (p_max - p_second); 0 for a single class."""
    if p.shape[-1] < 2:
        return np.zeros(p.shape[:-1], np.float32)
    top2 = np.partition(p, p.shape[-1] - 2, axis=-1)[..., -2:]
    return (1.0 - (top2[..., 1] - top2[..., 0])).astype(np.float32)


class Classifier:
    """A trained pixel classifier: its stages (feature spec + forest each), classes and labels.

    Built from the last stage's ``spec``, ``forest`` and ``training``; ``earlier`` are the stages
    before it (auto-context), first stage first."""

    def __init__(self, spec: FeatureSpec, forest: Forest | None, class_names: list[str],
                 class_colors: list[tuple[int, int, int]], n_channels: int, ndim: int, training: dict | None = None,
                 labels: Sequence[LabelImage] = (), source: str = "pixelforest", *, earlier: Sequence[Stage] = ()):
        #: the stages, first stage first: stage k > 0 filters the image plus stage k-1's probabilities
        self.stage_list: list[Stage] = list(earlier) + [Stage(spec, forest, {} if training is None else training)]
        self.class_names = list(class_names)
        self.class_colors = list(class_colors)
        self.n_channels = n_channels
        self.ndim = ndim
        self.labels: list[LabelImage] = list(labels)
        self.source = source

    # -- public properties ---------------------------------------------------

    @property
    def spec(self) -> FeatureSpec:
        """The last stage's features."""
        return self.stage_list[-1].spec

    @property
    def forest(self) -> Forest | None:
        """The last stage's forest."""
        return self.stage_list[-1].forest

    @property
    def training(self) -> dict:
        """The last stage's training summary."""
        return self.stage_list[-1].training

    @property
    def classes(self) -> list[str]:
        return list(self.class_names)

    @property
    def n_classes(self) -> int:
        return len(self.class_names)

    @property
    def stages(self) -> int:
        """1 for a plain pixel classifier; 2 or more with auto-context."""
        return len(self.stage_list)

    @property
    def context(self) -> "Classifier | None":
        """The classifier of the stages before the last (without labels), whose probabilities are
        extra input channels of the last stage; None for a one-stage classifier."""
        if len(self.stage_list) < 2:
            return None
        *earlier, last = self.stage_list[:-1]
        return Classifier(last.spec, last.forest, self.class_names, self.class_colors, self.n_channels, self.ndim,
                          last.training, earlier=earlier)

    def n_inputs_of(self, k: int) -> int:
        """Channels stage ``k``'s feature bank sees: the image's, plus the previous stage's probabilities."""
        k = k % len(self.stage_list)
        return self.n_channels + (self.n_classes if k > 0 else 0)

    def n_features_of(self, k: int) -> int:
        """Feature columns of stage ``k`` (its forest's inputs)."""
        return self.stage_list[k].spec.n_features(self.n_inputs_of(k), self.ndim)

    @property
    def n_inputs(self) -> int:
        """Channels the last stage's feature bank sees."""
        return self.n_inputs_of(-1)

    @property
    def n_features(self) -> int:
        return self.n_features_of(-1)

    @property
    def feature_names(self) -> list[str]:
        return self.spec.names(self.n_inputs, self.ndim)

    def total_halo(self) -> int:
        """Margin a block needs around it: every stage's filters."""
        return sum(st.spec.halo() for st in self.stage_list)

    def normalization_stats(self, image5) -> list:
        """Every stage's normalisation statistics of a whole (T, Z, Y, X, C) image, for :meth:`piece_features`."""
        return stage_stats(self.stage_list, self.n_classes, image5)

    def piece_features(self, data: np.ndarray, region, stats: list, z_size: int) -> np.ndarray:
        """Features (of the last stage) over ``region`` of ``data``, an in-memory (T, Z, Y, X, C) piece
        of an image with ``total_halo()`` of margin around ``region`` (less only at the image border);
        ``stats`` from :meth:`normalization_stats` of the whole image."""
        return stage_features(self.stage_list, data, region, stats, z_size)

    @property
    def oob_error(self):
        return self.training.get("oob_error")

    def __repr__(self) -> str:
        return (f"Classifier(classes={self.class_names}, features={self.n_features}, "
                f"channels={self.n_channels}, ndim={self.ndim}, trees={self.forest.n_trees if self.forest else 0}"
                + (f", stages={self.stages})" if self.stages > 1 else ")"))

    # -- prediction ----------------------------------------------------------

    def check_image(self, image5: np.ndarray, name: str = "image") -> None:
        """Refuse an image whose channels or dimensionality differ from the training images'."""
        T, Z, Y, X, C = image5.shape
        if C != self.n_channels:
            raise ValueError(
                f"{name} has {C} channel(s) but the classifier expects {self.n_channels}; "
                f"pass axes=/channel_axis= so the channel axis is recognised, or use a classifier trained on "
                f"{C}-channel images"
            )
        ndim = _axes.spatial_ndim(Z)
        if ndim != self.ndim:
            raise ValueError(
                f"{name} is {ndim}D (z={Z}) but the classifier was trained on {self.ndim}D images; "
                + ("name a time axis 't' instead of 'z' if the stack is a time series" if ndim == 3 else
                   "predict on a 3D stack")
            )

    def predict(self, image, source: str = "probabilities", *, channel_axis=None, axes=None,
                block_shape=None, progress: Progress | None = None) -> np.ndarray:
        """Predict an image.

        Parameters
        ----------
        image : array_like
            Image with the same channels and dimensionality as the training images.
        source : {"probabilities", "simple-segmentation", "uncertainty", "features"}
        channel_axis, axes : see :func:`pixelforest.compute_features`
        block_shape : tuple, optional
            ``(z, y, x)`` or ``(y, x)`` block size; default from a memory budget.
        progress : callable(done, total), optional
            Called after each block; raise from it to cancel.

        Returns
        -------
        np.ndarray
            ``probabilities``: float32, the image's non-channel axes + (n_classes,).
            ``simple-segmentation``: uint8 (argmax + 1), non-channel axes.
            ``uncertainty``: float32 ``1 - (p1 - p2)``, non-channel axes.
            ``features``: float32, non-channel axes + (n_features,).
        """
        image = np.asarray(image)
        ax = _axes.resolve_axes(image.ndim, axes, channel_axis)
        image5 = _axes.to_canonical(image, ax)
        out = self.predict_canonical(image5, source, block_shape=block_shape, progress=progress)
        src = normalize_source(source)
        return _axes.from_canonical(out, ax, channels=src in ("probabilities", "features"))

    def result_shape(self, shape5, source: str) -> tuple[tuple[int, ...], np.dtype]:
        """Shape (T, Z, Y, X, K) and dtype of a prediction of a (T, Z, Y, X, C) image."""
        src = normalize_source(source)
        K = {"probabilities": self.n_classes, "features": self.n_features}.get(src, 1)
        return tuple(shape5[:4]) + (K,), np.dtype(np.uint8 if src == "simple-segmentation" else np.float32)

    def predict_canonical(self, image5: np.ndarray, source: str = "probabilities", *, block_shape=None,
                          progress: Progress | None = None, out: np.ndarray | None = None,
                          memory_bytes: int | None = None) -> np.ndarray:
        """Predict a ``(T, Z, Y, X, C)`` array (or a lazily read image); result ``(T, Z, Y, X, K)``.

        ``out`` may be any block writer (e.g. :class:`pixelforest.io.lazy.BlockOutput`), so
        results larger than memory go straight to disk; ``memory_bytes`` bounds one block.
        """
        src = normalize_source(source)
        in_memory = isinstance(image5, np.ndarray)
        if in_memory:
            check_image_values(image5)
        self.check_image(image5)
        T, Z, Y, X, C = image5.shape
        for stage in self.stage_list:
            check_scales(stage.spec, (T, Z, Y, X))
        shape, dtype = self.result_shape(image5.shape, src)
        if out is None:
            check_memory(int(np.prod(shape)) * np.dtype(dtype).itemsize, f"the {src} result {shape}")
            out = np.empty(shape, dtype=dtype)
        halo = self.total_halo()
        block = self.block_for(block_shape, (T, Z, Y, X), halo, memory_bytes)
        stats = self.normalization_stats(image5)
        total = blockwise.n_blocks((T, Z, Y, X), block)
        for i, sl in enumerate(blockwise.iter_blocks((T, Z, Y, X), block)):
            raise_if_interrupted()
            outer, inner = blockwise.grow(sl, halo, (T, Z, Y, X))
            data = np.asarray(image5[outer])
            if not in_memory:  # a lazily read image: check each block as it arrives
                check_image_values(data, getattr(image5, "spec", "image"))
            out[sl] = self.from_features(self.piece_features(data, inner, stats, Z), src)
            if progress is not None:
                progress(i + 1, total)
        return out

    def block_for(self, block_shape, shape_tzyx, halo: int, budget_bytes: int | None = None) -> tuple[int, ...]:
        """The (1, bz, by, bx) block prediction goes by: ``block_shape`` ((y, x) or (z, y, x)) as given,
        or by default one whose features fit ``budget_bytes`` (default: a share of the memory free)."""
        if block_shape is None:
            n_feat = sum(self.n_features_of(k) for k in range(self.stages))
            if not budget_bytes:  # the default, within what this process may use (rlimits, cgroup, free memory)
                budget_bytes = max(min(blockwise.DEFAULT_BLOCK_BYTES, available_memory() // 4), 16 * 2**20)
            return blockwise.block_shape_for(shape_tzyx, n_feat, self.n_inputs, budget_bytes=budget_bytes, halo=halo)
        bs = tuple(int(b) for b in block_shape)
        if any(b < 1 for b in bs) or len(bs) not in (2, 3):
            raise ValueError(f"block_shape must be (y, x) or (z, y, x) positive sizes, got {block_shape}")
        if len(bs) == 2:
            bs = (1,) + bs
        return (1,) + bs

    def from_features(self, feats: np.ndarray, source: str) -> np.ndarray:
        """The output ``source`` (as :func:`normalize_source` gives it) from the last stage's features
        ``(..., F)``: ``(..., K)`` probabilities or features, ``(..., 1)`` segmentation or uncertainty."""
        if source == "features":
            return feats
        shp = feats.shape[:-1]
        p = self.predict_proba_features(feats.reshape(-1, feats.shape[-1]))
        if source == "probabilities":
            return p.reshape(shp + (self.n_classes,))
        if source == "simple-segmentation":
            return segmentation_from_probabilities(p).reshape(shp + (1,))
        return uncertainty_from_probabilities(p).reshape(shp + (1,))

    def predict_proba_features(self, X: np.ndarray) -> np.ndarray:
        """Probabilities ``(n, K)`` of feature vectors ``X`` ``(n, F)`` of the last stage."""
        if X.shape[-1] != self.n_features:
            raise ValueError(f"expected {self.n_features} features per pixel, got {X.shape[-1]}")
        if self.forest is None:  # fewer labelled classes than needed: no classifier, all zero (ilastik)
            return np.zeros((X.shape[0], self.n_classes), np.float32)
        return self.forest.predict_proba(X)
