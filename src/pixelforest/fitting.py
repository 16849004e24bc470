"""Fitting the random forest, with ilastik's defaults (vigra's).

100 trees, mtry = floor(sqrt(n_features) + 0.5), Gini, fully grown, bootstrap with replacement at
proportion 1.0; grown by pixelforest's compiled trainer (or scikit-learn) and kept as plain arrays
(:class:`~pixelforest.forest.Forest`). Training (:mod:`pixelforest.training`) and the choice of
features (:mod:`pixelforest.autotune`) both fit their forests here.
"""

from __future__ import annotations

import math
import warnings

import numpy as np

from .forest import Forest, from_sklearn


def mtry(n_features: int) -> int:
    """vigra's default number of features tried per split."""
    return max(1, int(math.floor(math.sqrt(n_features) + 0.5)))


def fit_forest(X: np.ndarray, y: np.ndarray, n_classes: int, *, trees: int = 100, seed=None,
               n_jobs: int = -1, method: str = "pixelforest") -> tuple[Forest, float | None]:
    """Fit ilastik-default random forest; returns the forest (columns = classes 1..n_classes) and OOB error.

    ``method``: ``"pixelforest"`` (the default) grows it with our compiled trainer
    (:mod:`pixelforest._trainer`: histogram splits on features binned once into <= 256 bins);
    ``"sklearn"`` with scikit-learn's ``RandomForestClassifier`` (exact sorted splits), same model.
    """
    if method == "pixelforest":
        from ._trainer import train_forest  # needs numba, loaded on first use

        return train_forest(X, np.asarray(y) - 1, n_classes, trees=trees, mtry=mtry(X.shape[1]), seed=seed,
                            n_jobs=n_jobs)
    if method != "sklearn":
        raise ValueError(f"unknown forest method {method!r}; expected 'pixelforest' or 'sklearn'")
    return _fit_sklearn(X, y, n_classes, trees=trees, seed=seed, n_jobs=n_jobs)


def _fit_sklearn(X: np.ndarray, y: np.ndarray, n_classes: int, *, trees: int, seed, n_jobs: int):
    """The same forest grown by scikit-learn, with its out-of-bag error."""
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
