"""Training a pixel classifier: from images and sparse labels to a :class:`~pixelforest.classifier.Classifier`.

Labels follow ilastik: 0 = unlabelled, class k = label value k (k = 1..K). The training set is
the labelled pixels' features, computed only around the labels; the forest is fitted with
ilastik's defaults (:mod:`pixelforest.fitting`). ``features="auto"`` chooses the preset on the
labels (:mod:`pixelforest.autotune`); ``stages=2`` or more trains auto-context stages, each on
the image's features plus the previous stage's probabilities.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from . import autotune, blockwise
from . import axes as _axes
from .classifier import MAX_STAGES, Classifier, LabelImage, Stage, default_color, stage_features, stage_stats
from .features import (
    DEFAULT_FEATURES,
    FeatureSpec,
    check_image_values,
    check_scales,
    fit_to_depth,
    fit_to_size,
    resolve_spec,
)
from .fitting import fit_forest, mtry


def canonical_labels(labels, image_axes: str, image5_shape, name: str) -> np.ndarray:
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


def extract_samples(image5: np.ndarray, lab4: np.ndarray, spec: FeatureSpec, context: Classifier | None = None):
    """Features and labels of the labelled pixels, computing features only around them.

    With ``context`` (auto-context: the classifier of the stages so far), the features are
    ``spec`` on the image's channels plus the context classifier's probabilities."""
    T, Z, Y, X, C = image5.shape
    stages = (context.stage_list if context is not None else []) + [Stage(spec, None)]
    n_classes = context.n_classes if context is not None else 0
    box = _labelled_box(lab4)
    stats = stage_stats(stages, n_classes, image5)
    outer, inner = blockwise.grow(box, sum(st.spec.halo() for st in stages), (T, Z, Y, X))
    feats = stage_features(stages, np.asarray(image5[outer]), inner, stats, Z)
    lab = lab4[box]
    mask = lab > 0
    return feats[mask], lab[mask]


@dataclass
class TrainingSet:
    """The training images in canonical axes: those with labels, as (image5, lab4) pairs, and
    every image's labels as kept with the classifier."""

    labelled: list[tuple[np.ndarray, np.ndarray]]
    label_images: list[LabelImage]
    n_channels: int
    ndim: int

    def samples(self, spec: FeatureSpec, context: Classifier | None = None) -> tuple[list, list]:
        """Each labelled image's features (as :func:`extract_samples`) and classes."""
        pairs = [extract_samples(image5, lab4, spec, context=context) for image5, lab4 in self.labelled]
        return [a for a, _ in pairs], [b for _, b in pairs]

    def stroke_groups(self) -> np.ndarray:
        """Stroke ids of the labelled pixels, in :meth:`samples`'s order, numbered across images."""
        groups, offset = [], 0
        for _, lab4 in self.labelled:
            g = autotune.stroke_groups(lab4[_labelled_box(lab4)])
            g = g[g > 0]
            groups.append(g + offset)
            offset = int(g.max()) + offset
        return np.concatenate(groups)


def _as_list(x):
    if isinstance(x, (list, tuple)):
        return list(x)
    return [x]


def training_set(imgs: list, labs: list, names: list[str], axes_list: list, channel_axis,
                 spec: FeatureSpec | None) -> TrainingSet:
    """Check the images and their labels (same channels and dimensionality, integer labels of the
    images' shapes, something labelled) and bring them to canonical axes."""
    label_images, labelled = [], []
    n_channels = ndim = None
    for img, lab, nm, img_axes in zip(imgs, labs, names, axes_list, strict=False):
        img = np.asarray(img)
        ax = _axes.resolve_axes(img.ndim, img_axes, channel_axis)
        check_image_values(img, nm)
        image5 = _axes.to_canonical(img, ax)
        T, Z, Y, X, C = image5.shape
        this_ndim = _axes.spatial_ndim(Z)
        if n_channels is None:
            n_channels, ndim = C, this_ndim
        elif C != n_channels:
            raise ValueError(f"{nm} has {C} channel(s) but the first training image has {n_channels}")
        elif this_ndim != ndim:
            raise ValueError(f"{nm} is {this_ndim}D but the first training image is {ndim}D; 2D and 3D cannot be mixed")
        lab4 = canonical_labels(lab, ax, image5.shape, nm)
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
        raise ValueError("the label images contain no labelled pixels (every value is 0); "
                         "label some pixels of each class")
    return TrainingSet(labelled, label_images, int(n_channels), int(ndim))


def train(images, labels, *, features=DEFAULT_FEATURES, trees: int = 100, seed=None, channel_axis=None,
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
        Default: ``pixelforest-default`` (as the CLI and the Fiji plugin), fitted to the thinnest
        stack. ``"auto"``: the preset is chosen on these labels by cross-validation grouped by stroke
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
    imgs, labs = _as_list(images), _as_list(labels)
    names, axes_list = _check_arguments(imgs, labs, trees, stages, image_names, axes)
    auto = isinstance(features, str) and features == "auto"
    by_name = isinstance(features, str) and features in ("auto", DEFAULT_FEATURES)  # fitted to the thinnest stack
    depth = _axes.thinnest_depth(imgs, axes_list, channel_axis) if by_name else None
    spec = None if auto else resolve_spec(features, depth)
    tset = training_set(imgs, labs, names, axes_list, channel_axis, spec)
    auto_report = None
    if auto:
        spec, Xs, ys, auto_report = _choose_features(tset, depth, classes, seed=seed, n_jobs=n_jobs)
    else:
        Xs, ys = tset.samples(spec)
    clf = None
    for stage in range(1, stages + 1):
        if stage > 1:  # auto-context: the previous stage's probabilities join the image's channels
            Xs, ys = tset.samples(spec, context=clf)
        clf = train_from_samples(np.concatenate(Xs), np.concatenate(ys), spec, tset.n_channels, tset.ndim,
                                 classes=classes, colors=colors, trees=trees, seed=seed, n_jobs=n_jobs,
                                 labels=tset.label_images if stage == stages else [], n_images=len(imgs),
                                 context=clf)
        clf.training["stages"] = stage
    if auto_report is not None:
        clf.training["auto"] = auto_report
    return clf


def _check_arguments(imgs: list, labs: list, trees, stages, image_names, axes) -> tuple[list[str], list]:
    """Refuse what :func:`train` cannot train from; the images' names and axes, one per image."""
    if len(imgs) != len(labs):
        raise ValueError(f"got {len(imgs)} image(s) but {len(labs)} label image(s); give one label image per image")
    if not imgs:
        raise ValueError("no training images given")
    if not isinstance(trees, (int, np.integer)) or trees < 1:
        raise ValueError(f"trees must be a positive integer, got {trees!r}")
    if not isinstance(stages, (int, np.integer)) or not 1 <= stages <= MAX_STAGES:
        raise ValueError(f"stages must be an integer from 1 to {MAX_STAGES} (2 = auto-context), got {stages!r}")
    names = list(image_names) if image_names is not None else [f"image {i}" for i in range(len(imgs))]
    if len(names) != len(imgs):
        raise ValueError(f"got {len(names)} image name(s) for {len(imgs)} images; give one name per image")
    axes_list = list(axes) if isinstance(axes, (list, tuple)) else [axes] * len(imgs)
    if len(axes_list) != len(imgs):
        raise ValueError(f"got {len(axes_list)} axes strings for {len(imgs)} images")
    return names, axes_list


def _candidate_spec(name: str, tset: TrainingSet, depth: int | None) -> tuple[FeatureSpec, list]:
    """A candidate preset fitted to the images as a new user's preset is (scales too deep for a thin
    stack computed in 2D, scales too large for a small image left out); the scales left out.
    Raises ValueError where it fits no image."""
    spec = FeatureSpec.preset(name)
    spec = fit_to_depth(spec, depth) if depth else spec
    left_out = []
    for image5, _ in tset.labelled:
        spec, drop = fit_to_size(spec, image5.shape[:4])
        left_out += drop
    return spec, left_out


def _choose_features(tset: TrainingSet, depth: int | None, classes, *, seed=None, n_jobs: int = -1):
    """``features="auto"``: each candidate preset's samples, and the one that
    :func:`pixelforest.autotune.choose` picks. A candidate is fitted to the images as a new user's
    preset is (:func:`_candidate_spec`; what was left out is said in the report).
    Returns (spec, Xs, ys, report)."""
    samples, fitted, skipped, ys = {}, {}, {}, None
    for name in autotune.CANDIDATES:
        try:
            spec, left_out = _candidate_spec(name, tset, depth)
        except ValueError as e:
            skipped[name] = str(e)
            continue
        if left_out:
            scales = ", ".join(f"{v:g}" for v in sorted(set(left_out)))
            fitted[name] = f"scale(s) {scales} left out: too large for the images"
        Xs, these_ys = tset.samples(spec)
        samples[name] = (spec, Xs)
        if ys is None:  # the labels' own errors before the other candidates' features are computed
            ys = these_ys
            y = np.concatenate(ys)
            if np.unique(y).size < 2 or (classes is not None and len(classes) < y.max()):
                return spec, Xs, ys, {"chosen": name, "reason": "fewer than two classes labelled"}
    if not samples:
        raise ValueError(f"features auto: no candidate preset fits these images: {next(iter(skipped.values()))}")
    n_classes = int(max(y.max(), len(classes) if classes else 0))
    names = list(classes) if classes else [f"Label {k}" for k in range(1, n_classes + 1)]
    name, report = autotune.choose({k: np.concatenate(v[1]) for k, v in samples.items()}, tset.stroke_groups(), y,
                                   n_classes, seed=seed, n_jobs=n_jobs, class_names=names)
    if skipped:
        report["skipped"] = skipped
    if name in fitted:
        report["fitted"] = fitted[name]
    spec, Xs = samples[name]
    return spec, Xs, ys, report


def _class_names(y: np.ndarray, classes: Sequence[str] | None) -> list[str]:
    """The class names (given, or ``Label k`` up to the largest label); refuses labels of a single
    class, warns of classes without labels."""
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
        warnings.warn(f"classes without labelled pixels get probability 0: {missing}", stacklevel=4)
    return classes


def train_from_samples(X: np.ndarray, y: np.ndarray, spec: FeatureSpec, n_channels: int, ndim: int, *,
                       classes: Sequence[str] | None = None, colors=None, trees: int = 100, seed=None,
                       n_jobs: int = -1, labels: Sequence[LabelImage] = (), n_images: int = 1,
                       context: Classifier | None = None) -> Classifier:
    """A Classifier from labelled feature vectors ``X`` (n, F) and their classes ``y`` (1..K);
    with ``context`` (auto-context), a further stage after the context classifier's stages."""
    classes = _class_names(y, classes)
    n_classes = len(classes)
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
                      earlier=context.stage_list if context is not None else ())
