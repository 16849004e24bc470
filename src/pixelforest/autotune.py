"""``features="auto"``: the feature preset chosen on the user's own labels.

Each candidate preset is scored by cross-validation on the labelled pixels, grouped by stroke: a
stroke (a connected run of one class's labels in one plane) is held out whole, so that its
neighbouring pixels, which look alike, are never split between the pixels a forest learns from
and the pixels it is scored on. A fold's forest is smaller than the final one
(:data:`CV_TREES` trees); the score is the balanced error (the mean over classes of the share
of held-out labelled pixels predicted wrong). The candidate with the lowest score wins; a tie
(within :data:`TIE`) goes to the earlier candidate, :data:`CANDIDATES`'s first being the default
preset. With fewer than two strokes of some class there is nothing to hold out: the default is
kept and the reason said.
"""

from __future__ import annotations

import numpy as np

from .fitting import fit_forest

#: presets compared, the default first (it wins ties)
CANDIDATES = ("pixelforest-default", "ilastik-default")
#: trees of each fold's forest (the error of a forest settles well before the final 100 trees)
CV_TREES = 32
#: folds at most (fewer when a class has fewer strokes)
FOLDS = 3
#: score differences below this are ties
TIE = 0.002


def stroke_groups(lab4: np.ndarray) -> np.ndarray:
    """Stroke ids of the labelled pixels of a (T, Z, Y, X) label image: one id per connected run of
    one class within a time point (touching in y, x and z, diagonals included), numbered from 1
    (0 = unlabelled). Labels painted on neighbouring slices of one structure are one stroke, so
    that they are held out together."""
    from scipy import ndimage

    structure = np.zeros((3, 3, 3, 3), bool)
    structure[1] = True  # time points apart
    groups = np.zeros(lab4.shape, np.int32)
    n = 0
    for k in np.unique(lab4[lab4 > 0]):
        comp, m = ndimage.label(lab4 == k, structure)
        groups[comp > 0] = comp[comp > 0] + n
        n += m
    return groups


def assign_folds(groups: np.ndarray, y: np.ndarray, class_names=None) -> tuple[np.ndarray | None, str]:
    """A fold for each sample: each class's strokes, largest first, go to the fold holding the
    fewest pixels of that class so far. Returns (folds, "") or (None, why not); ``class_names``
    (class k = name k - 1) name the classes in that reason."""
    ids, first, sizes = np.unique(groups, return_index=True, return_counts=True)
    cls = y[first]
    per_class = {int(k): int((cls == k).sum()) for k in np.unique(cls)}
    few = {k: n for k, n in per_class.items() if n < 2}
    if few:
        k, n = next(iter(few.items()))
        name = repr(class_names[k - 1]) if class_names and k <= len(class_names) else str(k)
        return None, f"class {name} has {n} stroke; two or more strokes of every class are needed to compare presets"
    k_folds = min(FOLDS, min(per_class.values()))
    fold_of = np.zeros(ids.size, np.int32)
    for k in per_class:
        load = np.zeros(k_folds, np.int64)
        sel = np.flatnonzero(cls == k)
        for i in sel[np.argsort(-sizes[sel], kind="stable")]:
            f = int(np.argmin(load))
            fold_of[i] = f
            load[f] += sizes[i]
    return fold_of[np.searchsorted(ids, groups)], ""


def cv_error(X: np.ndarray, y: np.ndarray, folds: np.ndarray, n_classes: int, *, seed=None, n_jobs: int = -1) -> float:
    """Balanced error of forests of :data:`CV_TREES` trees, each scored on the fold it did not see."""
    pred = np.zeros(y.size, y.dtype)
    for f in np.unique(folds):
        test = folds == f
        forest, _ = fit_forest(X[~test], y[~test], n_classes, trees=CV_TREES, seed=seed, n_jobs=n_jobs)
        pred[test] = np.argmax(forest.predict_proba(X[test]), axis=1) + 1
    return float(np.mean([np.mean(pred[y == k] != k) for k in np.unique(y)]))


def choose(samples: dict, groups: np.ndarray, y: np.ndarray, n_classes: int, *, seed=None,
           n_jobs: int = -1, class_names=None) -> tuple[str, dict]:
    """The preset to train with, from ``samples`` ({preset: features of the labelled pixels}, in
    :data:`CANDIDATES` order; the same pixels, in the same order, as ``groups`` and ``y``), and the
    report kept in the classifier: ``{"chosen", "cv_error": {preset: error}, "folds", "strokes",
    "cv_trees"}`` or, where nothing could be compared, ``{"chosen", "reason"}``."""
    names = list(samples)
    if len(names) == 1:
        return names[0], {"chosen": names[0], "reason": "the only candidate that fits the images"}
    folds, why = assign_folds(groups, y, class_names)
    if folds is None:
        return names[0], {"chosen": names[0], "reason": why}
    errors = {name: cv_error(X, y, folds, n_classes, seed=seed, n_jobs=n_jobs) for name, X in samples.items()}
    best = names[0]
    for name in names[1:]:
        if errors[name] < errors[best] - TIE:
            best = name
    return best, {"chosen": best, "cv_error": {k: round(v, 5) for k, v in errors.items()},
                  "folds": int(folds.max()) + 1, "strokes": int(np.unique(groups).size), "cv_trees": CV_TREES}


def describe(report: dict) -> str:
    """One line for a log: what was chosen and why."""
    if "reason" in report:
        return f"features auto: kept {report['chosen']} ({report['reason']})"
    errs = ", ".join(f"{k} {v:.4f}" for k, v in report["cv_error"].items())
    return (f"features auto: chose {report['chosen']} (balanced error over {report['folds']} folds of "
            f"{report['strokes']} strokes: {errs})")
