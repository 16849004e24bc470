"""Training sets from sparse labels, the random forest, and prediction outputs.

Labels follow ilastik: 0 = unlabelled, class k = label value k (k = 1..K).
The forest follows ilastik's defaults (vigra): 100 trees, mtry =
floor(sqrt(n_features) + 0.5), Gini, fully grown, bootstrap with replacement at
proportion 1.0; here grown by pixelforest's compiled trainer (or scikit-learn) and kept as
plain arrays.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np

from . import axes as _axes
from . import blockwise
from .features import (DEFAULT_FEATURES, FeatureSpec, check_image_values, check_scales, compute_canonical,
                       image_stats, resolve_spec)
from .forest import Forest, from_sklearn
from .runtime import check_memory

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
    if i < len(DEFAULT_COLORS):
        return DEFAULT_COLORS[i]
    rng = np.random.default_rng(i)
    return tuple(int(v) for v in rng.integers(32, 256, 3))


def mtry(n_features: int) -> int:
    """vigra's default number of features tried per split."""
    return max(1, int(math.floor(math.sqrt(n_features) + 0.5)))


def normalize_source(source: str) -> str:
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


def _as_list(x):
    if isinstance(x, (list, tuple)):
        return list(x)
    return [x]


def _canonical_labels(labels, image_axes: str, image5_shape, name: str) -> np.ndarray:
    """Label image (the image's non-channel axes, optional trailing c=1) -> (T, Z, Y, X) uint8."""
    lab = np.asarray(labels)
    lab_axes = image_axes.replace("c", "")
    want = tuple(image5_shape[_axes.CANONICAL.index(a)] for a in lab_axes)
    if lab.shape == want + (1,):
        lab = lab[..., 0]
    if lab.shape != want:
        raise ValueError(
            f"{name}: label image shape {lab.shape} does not match the image's non-channel shape {want} "
            f"(axes {lab_axes!r})"
        )
    if lab.dtype.kind == "f" and np.all(np.mod(lab, 1) == 0):
        lab = lab.astype(np.int64)
    if lab.dtype.kind not in "biu":
        raise ValueError(f"{name}: labels must be integers (0 = unlabelled, k = class k), got dtype {lab.dtype}")
    if lab.size and (lab.min() < 0 or lab.max() > 255):
        raise ValueError(f"{name}: label values must be in 0..255 (0 = unlabelled), got {lab.min()}..{lab.max()}")
    return _axes.to_canonical(lab.astype(np.uint8, copy=False), lab_axes)[..., 0]


def _labelled_box(lab4: np.ndarray):
    nz = np.nonzero(lab4)
    return tuple(slice(int(a.min()), int(a.max()) + 1) for a in nz)


def extract_samples(image5: np.ndarray, lab4: np.ndarray, spec: FeatureSpec, context: "Classifier | None" = None):
    """Features and labels of the labelled pixels, computing features only around them.

    With ``context`` (auto-context), the features are ``spec`` on the image's channels plus the
    context classifier's probabilities."""
    T, Z, Y, X, C = image5.shape
    box = _labelled_box(lab4)
    stats = _stage_stats(image5, spec, context)
    outer, inner = blockwise.grow(box, spec.halo() + (context.total_halo() if context else 0), (T, Z, Y, X))
    feats = _stage_features(spec, context, np.asarray(image5[outer]), inner, stats, Z)
    lab = lab4[box]
    mask = lab > 0
    return feats[mask], lab[mask]


def _stage_stats(image5, spec: FeatureSpec, context: "Classifier | None", memo: dict | None = None) -> list:
    """Normalisation statistics of every stage, first stage first: each stage's image channels
    as its spec says; the probabilities a stage adds as channels are used as they are (0..1).
    The image's statistics are computed once per normalisation mode (``memo``), not per stage."""
    memo = {} if memo is None else memo
    if spec.normalize not in memo:
        memo[spec.normalize] = image_stats(image5, spec)
    own = memo[spec.normalize]
    if context is None:
        return [own]
    if own is not None:
        own = np.concatenate([own, np.tile([[0.0, 1.0]], (context.n_classes, 1))])
    return _stage_stats(image5, context.spec, context.context, memo) + [own]


def _stage_features(spec: FeatureSpec, context: "Classifier | None", data: np.ndarray, region, stats: list,
                    z_size: int) -> np.ndarray:
    """A stage's features over ``region`` (slices of the in-memory ``data``, a (T, Z, Y, X, C) piece
    of the image holding enough margin around ``region`` for every stage's filters).

    With a context stage, its probabilities over ``region`` grown by this stage's halo become extra
    channels. Growing is clipped to ``data``, which happens exactly where ``data`` meets the image
    border, so pieces give the whole image's values."""
    outer, inner = blockwise.grow(region, spec.halo(), data.shape[:4])
    src = data[outer]
    if context is not None:
        p = context._stage_proba(data, outer, stats[:-1], z_size)
        src = np.concatenate([np.asarray(src, np.float32), p], axis=-1)
    return compute_canonical(src, spec, check=False, z_size=z_size, stats=stats[-1])[inner]


@dataclass
class Classifier:
    """A trained pixel classifier: feature spec, classes and the forest."""

    spec: FeatureSpec
    forest: Forest | None
    class_names: list[str]
    class_colors: list[tuple[int, int, int]]
    n_channels: int
    ndim: int
    training: dict = field(default_factory=dict)
    labels: list[LabelImage] = field(default_factory=list)
    source: str = "pixelforest"
    #: auto-context: the previous stage, whose probabilities are extra input channels of this one
    context: "Classifier | None" = None

    # -- public properties ---------------------------------------------------

    @property
    def classes(self) -> list[str]:
        return list(self.class_names)

    @property
    def n_classes(self) -> int:
        return len(self.class_names)

    @property
    def stages(self) -> int:
        """1 for a plain pixel classifier; 2 or more with auto-context."""
        return len(self._stage_list())

    @property
    def n_inputs(self) -> int:
        """Channels the feature bank sees: the image's, plus the previous stage's probabilities."""
        return self.n_channels + (self.context.n_classes if self.context is not None else 0)

    @property
    def n_features(self) -> int:
        return self.spec.n_features(self.n_inputs, self.ndim)

    @property
    def feature_names(self) -> list[str]:
        return self.spec.names(self.n_inputs, self.ndim)

    def total_halo(self) -> int:
        """Margin a block needs around it: every stage's filters."""
        return sum(st.spec.halo() for st in self._stage_list())

    def _stats_chain(self, image5) -> list:
        return _stage_stats(image5, self.spec, self.context)

    def piece_features(self, data: np.ndarray, region, stats: list, z_size: int) -> np.ndarray:
        """Features (of the last stage) over ``region`` of ``data``, an in-memory (T, Z, Y, X, C) piece
        of an image with ``total_halo()`` of margin around ``region`` (less only at the image border);
        ``stats`` from ``_stats_chain`` of the whole image."""
        return _stage_features(self.spec, self.context, data, region, stats, z_size)

    def _stage_proba(self, data, region, stats: list, z_size: int) -> np.ndarray:
        f = self.piece_features(data, region, stats, z_size)
        return self.predict_proba_features(f.reshape(-1, f.shape[-1])).reshape(f.shape[:-1] + (self.n_classes,))

    @property
    def oob_error(self):
        return self.training.get("oob_error")

    def __repr__(self) -> str:
        return (f"Classifier(classes={self.class_names}, features={self.n_features}, "
                f"channels={self.n_channels}, ndim={self.ndim}, trees={self.forest.n_trees if self.forest else 0}"
                + (f", stages={self.stages})" if self.stages > 1 else ")"))

    # -- prediction ----------------------------------------------------------

    def check_image(self, image5: np.ndarray, name: str = "image") -> None:
        T, Z, Y, X, C = image5.shape
        if C != self.n_channels:
            raise ValueError(
                f"{name} has {C} channel(s) but the classifier expects {self.n_channels}; "
                f"pass axes=/channel_axis= so the channel axis is recognised, or use a classifier trained on "
                f"{C}-channel images"
            )
        ndim = 3 if Z > 1 else 2
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
        for stage in self._stage_list():
            check_scales(stage.spec, (T, Z, Y, X))
        shape, dtype = self.result_shape(image5.shape, src)
        if out is None:
            check_memory(int(np.prod(shape)) * np.dtype(dtype).itemsize, f"the {src} result {shape}")
            out = np.empty(shape, dtype=dtype)
        halo = self.total_halo()
        block = self._block(block_shape, (T, Z, Y, X), halo, memory_bytes)
        stats = self._stats_chain(image5)
        total = blockwise.n_blocks((T, Z, Y, X), block)
        from .runtime import raise_if_interrupted

        for i, sl in enumerate(blockwise.iter_blocks((T, Z, Y, X), block)):
            raise_if_interrupted()
            outer, inner = blockwise.grow(sl, halo, (T, Z, Y, X))
            data = np.asarray(image5[outer])
            if not in_memory:  # a lazily read image: check each block as it arrives
                check_image_values(data, getattr(image5, "spec", "image"))
            out[sl] = self._from_features(self.piece_features(data, inner, stats, Z), src)
            if progress is not None:
                progress(i + 1, total)
        return out

    def _block(self, block_shape, shape, halo, budget_bytes=None):
        if block_shape is None:
            n_feat = sum(st.n_features for st in self._stage_list())
            if not budget_bytes:  # the default, within what this process may use (rlimits, cgroup, free memory)
                from .runtime import available_memory

                budget_bytes = max(min(blockwise.DEFAULT_BLOCK_BYTES, available_memory() // 4), 16 * 2**20)
            return blockwise.block_shape_for(shape, n_feat, self.n_inputs, budget_bytes=budget_bytes, halo=halo)
        bs = tuple(int(b) for b in block_shape)
        if any(b < 1 for b in bs) or len(bs) not in (2, 3):
            raise ValueError(f"block_shape must be (y, x) or (z, y, x) positive sizes, got {block_shape}")
        if len(bs) == 2:
            bs = (1,) + bs
        return (1,) + bs

    def _stage_list(self) -> list["Classifier"]:
        return (self.context._stage_list() if self.context is not None else []) + [self]

    def _from_features(self, feats: np.ndarray, src: str) -> np.ndarray:
        if src == "features":
            return feats
        shp = feats.shape[:-1]
        p = self.predict_proba_features(feats.reshape(-1, feats.shape[-1]))
        if src == "probabilities":
            return p.reshape(shp + (self.n_classes,))
        if src == "simple-segmentation":
            return segmentation_from_probabilities(p).reshape(shp + (1,))
        return uncertainty_from_probabilities(p).reshape(shp + (1,))

    def predict_proba_features(self, X: np.ndarray) -> np.ndarray:
        if X.shape[-1] != self.n_features:
            raise ValueError(f"expected {self.n_features} features per pixel, got {X.shape[-1]}")
        if self.forest is None:  # fewer labelled classes than needed: no classifier, all zero (ilastik)
            return np.zeros((X.shape[0], self.n_classes), np.float32)
        return self.forest.predict_proba(X)

    def predict_imageplus(self, imp, source: str = "probabilities", **kw):
        """Predict an ImageJ ImagePlus; returns an ImagePlus (see :mod:`pixelforest.imagej`)."""
        from .imagej import predict_imageplus

        return predict_imageplus(self, imp, source, **kw)

    # -- persistence ---------------------------------------------------------

    def save(self, path) -> None:
        """Save as a data-only classifier file (see :mod:`pixelforest.io.pfc`)."""
        from .io.pfc import save_classifier

        save_classifier(self, path)


def segmentation_from_probabilities(p: np.ndarray) -> np.ndarray:
    """Simple segmentation: argmax + 1 as uint8 (ilastik)."""
    return (np.argmax(p, axis=-1) + 1).astype(np.uint8)


def uncertainty_from_probabilities(p: np.ndarray) -> np.ndarray:
    """ilastik's uncertainty: 1 - (p_max - p_second); 0 for a single class."""
    if p.shape[-1] < 2:
        return np.zeros(p.shape[:-1], np.float32)
    top2 = np.partition(p, p.shape[-1] - 2, axis=-1)[..., -2:]
    return (1.0 - (top2[..., 1] - top2[..., 0])).astype(np.float32)


def train(images, labels, *, features="ilastik-default", trees: int = 100, seed=None, channel_axis=None,
          axes=None, classes: Sequence[str] | None = None, colors=None, n_jobs: int = -1,
          image_names: Sequence[str] | None = None, stages: int = 1) -> Classifier:
    """Train a pixel classifier from sparse label images.

    Parameters
    ----------
    images : array or list of arrays
        Training images (different sizes allowed; same channels and dimensionality).
    labels : array or list of arrays
        One label image per image, shape = the image's non-channel shape;
        0 = unlabelled, k = class k.
    features : FeatureSpec, preset name, dict, .json path or ``"auto"``
        ``"auto"``: the preset is chosen on these labels by cross-validation grouped by stroke
        (:mod:`pixelforest.autotune`); what was chosen, and each candidate's error, are kept in
        ``classifier.training["auto"]``.
    trees : int
        Number of trees (ilastik: 100).
    seed : int, optional
        Random seed for a reproducible forest.
    channel_axis, axes : see :func:`pixelforest.compute_features`; ``axes`` may be a list (one per image)
    classes : list of str, optional
        Class names; default ``Label 1``, ``Label 2``... up to the largest label.
    colors : list of (r, g, b), optional
    stages : int
        1 (default): one forest on the image's features. 2 or more: auto-context, as ilastik's
        Autocontext workflow: each further stage is a forest on the same features of the image
        plus the previous stage's probability maps (filtered by the same feature bank), trained
        on the same labels. Saved in the classifier and applied by every predict path.

    Returns
    -------
    Classifier
    """
    imgs = _as_list(images)
    labs = _as_list(labels)
    if len(imgs) != len(labs):
        raise ValueError(f"got {len(imgs)} image(s) but {len(labs)} label image(s); give one label image per image")
    if not imgs:
        raise ValueError("no training images given")
    if not isinstance(trees, (int, np.integer)) or trees < 1:
        raise ValueError(f"trees must be a positive integer, got {trees!r}")
    if not isinstance(stages, (int, np.integer)) or not 1 <= stages <= MAX_STAGES:
        raise ValueError(f"stages must be an integer from 1 to {MAX_STAGES} (2 = auto-context), got {stages!r}")
    names = list(image_names) if image_names is not None else [f"image {i}" for i in range(len(imgs))]
    axes_list = list(axes) if isinstance(axes, (list, tuple)) else [axes] * len(imgs)
    if len(axes_list) != len(imgs):
        raise ValueError(f"got {len(axes_list)} axes strings for {len(imgs)} images")
    auto = isinstance(features, str) and features == "auto"
    depth = None
    if auto or (isinstance(features, str) and features == DEFAULT_FEATURES):  # fitted to the thinnest stack
        depth = min(_axes.to_canonical(np.asarray(im), _axes.resolve_axes(np.ndim(im), a, channel_axis)).shape[1]
                    for im, a in zip(imgs, axes_list))
    spec = None if auto else resolve_spec(features, depth)
    label_images, labelled = [], []
    n_channels = ndim = None
    for img, lab, nm, img_axes in zip(imgs, labs, names, axes_list):
        img = np.asarray(img)
        ax = _axes.resolve_axes(img.ndim, img_axes, channel_axis)
        check_image_values(img, nm)
        image5 = _axes.to_canonical(img, ax)
        T, Z, Y, X, C = image5.shape
        this_ndim = 3 if Z > 1 else 2
        if n_channels is None:
            n_channels, ndim = C, this_ndim
        elif C != n_channels:
            raise ValueError(f"{nm} has {C} channel(s) but the first training image has {n_channels}")
        elif this_ndim != ndim:
            raise ValueError(f"{nm} is {this_ndim}D but the first training image is {ndim}D; 2D and 3D cannot be mixed")
        lab4 = _canonical_labels(lab, ax, image5.shape, nm)
        if img.size and img.min() == img.max():
            raise ValueError(f"{nm} is constant (every pixel is {img.flat[0]}): it carries nothing to learn from; "
                             f"check that the right image or channel was given")
        li = LabelImage.from_dense(lab4, nm, ax)
        label_images.append(li)
        if li.index.size == 0:
            continue
        if spec is not None:
            check_scales(spec, (T, Z, Y, X))
        labelled.append((image5, lab4))
    if not labelled:
        raise ValueError("the label images contain no labelled pixels (every value is 0); label some pixels of each class")
    auto_report = None
    if auto:
        spec, Xs, ys, auto_report = _choose_features(labelled, depth, classes, seed=seed, n_jobs=n_jobs)
    else:
        samples = [extract_samples(image5, lab4, spec) for image5, lab4 in labelled]
        Xs, ys = [a for a, _ in samples], [b for _, b in samples]
    clf = None
    for stage in range(1, stages + 1):
        if stage > 1:  # auto-context: the previous stage's probabilities join the image's channels
            samples = [extract_samples(image5, lab4, spec, context=clf) for image5, lab4 in labelled]
            Xs, ys = [a for a, _ in samples], [b for _, b in samples]
        prev = clf
        clf = train_from_samples(np.concatenate(Xs), np.concatenate(ys), spec, int(n_channels), int(ndim),
                                 classes=classes, colors=colors, trees=trees, seed=seed, n_jobs=n_jobs,
                                 labels=label_images if stage == stages else [], n_images=len(imgs),
                                 context=prev)
        clf.training["stages"] = stage
    if auto_report is not None:
        clf.training["auto"] = auto_report
    return clf


def _choose_features(labelled: list, depth: int | None, classes, *, seed=None, n_jobs: int = -1):
    """``features="auto"``: each candidate preset's samples, and the one that
    :func:`pixelforest.autotune.choose` picks. A candidate is fitted to the images as a new user's
    preset is (scales too deep for a thin stack computed in 2D, scales too large for a small image
    left out: said in the report). Returns (spec, Xs, ys, report)."""
    from . import autotune
    from .features import FeatureSpec, fit_to_depth, fit_to_size

    samples, fitted, skipped, ys = {}, {}, {}, None
    for name in autotune.CANDIDATES:
        spec = FeatureSpec.preset(name)
        spec = fit_to_depth(spec, depth) if depth else spec
        left_out = []
        try:
            for image5, _ in labelled:
                spec, drop = fit_to_size(spec, image5.shape[:4])
                left_out += drop
        except ValueError as e:
            skipped[name] = str(e)
            continue
        if left_out:
            fitted[name] = f"scale(s) {', '.join(f'{v:g}' for v in sorted(set(left_out)))} left out: too large for the images"
        pairs = [extract_samples(image5, lab4, spec) for image5, lab4 in labelled]
        samples[name] = (spec, [a for a, _ in pairs])
        if ys is None:  # the labels' own errors before the other candidates' features are computed
            ys = [b for _, b in pairs]
            y = np.concatenate(ys)
            if np.unique(y).size < 2 or (classes is not None and len(classes) < y.max()):
                return spec, samples[name][1], ys, {"chosen": name, "reason": "fewer than two classes labelled"}
    if not samples:
        raise ValueError(f"features auto: no candidate preset fits these images: {next(iter(skipped.values()))}")
    groups, offset = [], 0
    for _, lab4 in labelled:  # the labelled pixels in extract_samples's order
        g = autotune.stroke_groups(lab4[_labelled_box(lab4)])
        g = g[g > 0]
        groups.append(g + offset)
        offset = int(g.max()) + offset
    n_classes = int(max(y.max(), len(classes) if classes else 0))
    names = list(classes) if classes else [f"Label {k}" for k in range(1, n_classes + 1)]
    name, report = autotune.choose({k: np.concatenate(v[1]) for k, v in samples.items()}, np.concatenate(groups), y,
                                   n_classes, seed=seed, n_jobs=n_jobs, class_names=names)
    if skipped:
        report["skipped"] = skipped
    if name in fitted:
        report["fitted"] = fitted[name]
    spec, Xs = samples[name]
    return spec, Xs, ys, report


def train_from_samples(X: np.ndarray, y: np.ndarray, spec: FeatureSpec, n_channels: int, ndim: int, *,
                       classes: Sequence[str] | None = None, colors=None, trees: int = 100, seed=None,
                       n_jobs: int = -1, labels: Sequence[LabelImage] = (), n_images: int = 1,
                       context: Classifier | None = None) -> Classifier:
    """A Classifier from labelled feature vectors ``X`` (n, F) and their classes ``y`` (1..K)."""
    present = np.unique(y)
    n_classes = int(max(present.max(), len(classes) if classes else 0))
    if classes is not None:
        classes = [str(c) for c in classes]
        if len(classes) < present.max():
            raise ValueError(
                f"labels use class values up to {present.max()} but only {len(classes)} class names were given"
            )
    else:
        classes = [f"Label {k}" for k in range(1, n_classes + 1)]
    if len(present) < 2:
        raise ValueError(
            f"only one class is labelled ({classes[present[0] - 1]!r}, label value {present[0]}); "
            f"a classifier needs labelled pixels of at least two classes"
        )
    missing = [classes[k - 1] for k in range(1, n_classes + 1) if k not in present]
    if missing:
        warnings.warn(f"classes without labelled pixels get probability 0: {missing}", stacklevel=3)
    forest, oob = fit_forest(X, y, n_classes, trees=trees, seed=seed, n_jobs=n_jobs)
    cols = [default_color(i) if c is None else tuple(int(v) for v in c) for i, c in enumerate(colors or [])]
    cols += [default_color(i) for i in range(len(cols), n_classes)]
    training = {
        "n_samples": int(y.size),
        "samples_per_class": {classes[k - 1]: int((y == k).sum()) for k in range(1, n_classes + 1)},
        "oob_error": oob,
        "trees": int(trees),
        "mtry": mtry(X.shape[1]),
        "seed": seed,
        "n_images": int(n_images),
    }
    return Classifier(spec, forest, classes, cols[:n_classes], n_channels, ndim, training, list(labels),
                      context=context)


def fit_forest(X: np.ndarray, y: np.ndarray, n_classes: int, *, trees: int = 100, seed=None,
               n_jobs: int = -1, method: str = "pixelforest") -> tuple[Forest, float | None]:
    """Fit ilastik-default random forest; returns the forest (columns = classes 1..n_classes) and OOB error.

    ``method``: ``"pixelforest"`` (the default) grows it with our compiled trainer
    (:mod:`pixelforest._trainer`: histogram splits on features binned once into <= 256 bins);
    ``"sklearn"`` with scikit-learn's ``RandomForestClassifier`` (exact sorted splits), same model.
    """
    if method == "pixelforest":
        from ._trainer import train_forest

        return train_forest(X, np.asarray(y) - 1, n_classes, trees=trees, mtry=mtry(X.shape[1]), seed=seed,
                            n_jobs=n_jobs)
    if method != "sklearn":
        raise ValueError(f"unknown forest method {method!r}; expected 'pixelforest' or 'sklearn'")
    from sklearn.ensemble import RandomForestClassifier

    rf = RandomForestClassifier(
        n_estimators=trees,
        criterion="gini",
        max_features=mtry(X.shape[1]),
        max_depth=None,
        min_samples_split=2,
        min_samples_leaf=1,
        bootstrap=True,
        oob_score=True,
        n_jobs=n_jobs,
        random_state=seed,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # OOB warnings for tiny training sets
        rf.fit(X, y)
    oob = None
    if hasattr(rf, "oob_decision_function_"):
        dec = rf.oob_decision_function_
        ok = np.isfinite(dec).all(axis=1) & (dec.sum(axis=1) > 0)
        if ok.any():
            pred = rf.classes_[np.argmax(dec[ok], axis=1)]
            oob = float(np.mean(pred != y[ok]))
    f = from_sklearn(rf)
    # expand to all classes 1..n_classes (classes without samples get 0)
    value = np.zeros((f.value.shape[0], n_classes), np.float32)
    value[:, rf.classes_.astype(int) - 1] = f.value
    f.value = value
    return f, oob
