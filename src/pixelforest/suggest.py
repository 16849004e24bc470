"""Suggest features, with ilastik's three methods.

Every (feature, scale) cell of a candidate bank is a candidate:

* ``gini``: Gini importance in a 100-tree forest trained on all candidates (a cell's
  importance is the sum over its channels);
* ``filter`` (ilastik's default): greedy mutual information, each step adding the cell
  with the best relevance to the labels minus its mean redundancy with the cells already
  chosen (features discretised into 16 quantile bins);
* ``wrapper``: forward selection scored by the cross-validated accuracy of a small forest
  plus ``c * (1 - |S| / n)`` with ``c = 0.1``, as in ilastik's dialog.

``n = 0`` stops automatically after 3 steps without improvement. The out-of-bag error of
a 100-tree forest on the chosen cells is reported beside the error on all candidates.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from .features import FEATURE_IDS, FeatureSpec, compute_canonical
from .fitting import mtry


def _cell_columns(spec: FeatureSpec, n_channels: int, z_size: int):
    return [((col.fid, col.si), list(range(col.start, col.stop)))
            for col in spec.columns(n_channels, 2 if z_size <= 1 else 3)]


def _oob(X, y, seed):
    from sklearn.ensemble import RandomForestClassifier

    rf = RandomForestClassifier(100, max_features=mtry(X.shape[1]), oob_score=True, n_jobs=-1, random_state=seed)
    rf.fit(X, y)
    return rf, 1.0 - float(rf.oob_score_)


def _discretize(X, bins=16):
    qs = np.quantile(X, np.linspace(0, 1, bins + 1)[1:-1], axis=0)
    return np.stack([np.searchsorted(qs[:, j], X[:, j]) for j in range(X.shape[1])], axis=1)


def _mi(a, b):
    """Mutual information of two discrete vectors (nats)."""
    ja = np.unique(a, return_inverse=True)[1]
    jb = np.unique(b, return_inverse=True)[1]
    joint = np.zeros((ja.max() + 1, jb.max() + 1))
    np.add.at(joint, (ja, jb), 1)
    joint /= joint.sum()
    pa, pb = joint.sum(1, keepdims=True), joint.sum(0, keepdims=True)
    nz = joint > 0
    return float((joint[nz] * np.log(joint[nz] / (pa @ pb)[nz])).sum())


def _select_filter(X, y, cols, n, auto):
    """Greedy mutual information (JMI): relevance I(f; y) minus mean redundancy with the chosen."""
    D = _discretize(X)
    rep = [c[0] if len(c) == 1 else max(c, key=lambda j: _mi(D[:, j], y)) for _, c in cols]  # one channel per cell
    rel = [_mi(D[:, j], y) for j in rep]
    chosen, best_gain, stale = [], -np.inf, 0
    while len(chosen) < (len(cols) if auto else n):
        scores = []
        for i, j in enumerate(rep):
            if i in chosen:
                scores.append(-np.inf)
                continue
            red = np.mean([_mi(D[:, j], D[:, rep[k]]) for k in chosen]) if chosen else 0.0
            scores.append(rel[i] - red)
        i = int(np.argmax(scores))
        if auto:
            stale = stale + 1 if scores[i] <= best_gain else 0
            best_gain = max(best_gain, scores[i])
            if stale >= 3:
                break
        chosen.append(i)
    return chosen, [float(rel[i]) for i in chosen]


def _select_wrapper(X, y, cols, n, auto, seed, c_penalty=0.1):
    """Forward selection: 3-fold cross-validated accuracy of a small forest + c * (1 - |S| / N)."""
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.model_selection import cross_val_score

    chosen, best, stale, scores_out = [], -np.inf, 0, []
    folds = max(2, min(3, int(np.bincount(y).max())))
    # joblib's threads cost tens of ms a fit (dispatch, polling): more than a small forest on a few
    # thousand pixels takes to fit alone, which the wrapper does hundreds of times (the forests are
    # the same either way: one random_state)
    jobs = 1 if len(y) <= 5000 else -1
    while len(chosen) < (len(cols) if auto else n):
        trial = []
        for i in range(len(cols)):
            if i in chosen:
                trial.append(-np.inf)
                continue
            keep = [j for k in chosen + [i] for j in cols[k][1]]
            rf = RandomForestClassifier(10, max_features=mtry(len(keep)), random_state=seed, n_jobs=jobs)
            acc = cross_val_score(rf, X[:, keep], y, cv=folds).mean()
            trial.append(acc + c_penalty * (1 - (len(chosen) + 1) / len(cols)))
        i = int(np.argmax(trial))
        if auto:
            stale = stale + 1 if trial[i] <= best else 0
            if stale >= 3:
                break
        best = max(best, trial[i])
        chosen.append(i)
        scores_out.append(float(trial[i]))
    return chosen, scores_out


def suggest_features(img5: np.ndarray, labels4: np.ndarray, candidates: FeatureSpec, *, n: int = 7, seed: int = 0,
                     method: str = "filter", progress=None) -> dict:
    """Best ``n`` (feature, scale) cells (``n=0``: automatic, stop after 3 steps without improvement).

    method: ``gini`` (importance in a 100-tree forest on all candidates), ``filter`` (greedy mutual
    information, ilastik's default) or ``wrapper`` (forward selection with a size penalty).
    """
    if method not in ("gini", "filter", "wrapper"):
        raise ValueError(f"method must be gini, filter or wrapper, got {method!r}")
    mask = labels4 > 0
    y = labels4[mask]
    if np.unique(y).size < 2:
        raise ValueError("suggesting features needs labelled pixels of at least two classes")
    if progress:
        progress(0, 3)
    feats = compute_canonical(img5, candidates)
    X = feats[mask]
    if progress:
        progress(1, 3)
    rf, oob_all = _oob(X, y, seed)
    cols = _cell_columns(candidates, img5.shape[-1], img5.shape[1])
    auto = int(n) <= 0
    n = max(1, min(int(n), len(cols))) if not auto else len(cols)
    if method == "gini":
        scores = [float(rf.feature_importances_[c].sum()) for _, c in cols]
        order = sorted(range(len(cols)), key=lambda i: -scores[i])
        if auto:  # keep cells until 95 % of the total importance
            cum = np.cumsum([scores[i] for i in order])
            order = order[:int(np.searchsorted(cum, 0.95 * cum[-1])) + 1]
        chosen = order[:n]
        chosen_scores = [scores[i] for i in chosen]
    elif method == "filter":
        chosen, chosen_scores = _select_filter(X, y, cols, n, auto)
    else:
        chosen, chosen_scores = _select_wrapper(X, y, cols, n, auto, seed)
    cells = {cols[i][0] for i in chosen}
    rows = tuple(tuple((fid, si) in cells for si in range(len(candidates.scales))) for fid in FEATURE_IDS)
    spec = replace(candidates, selection=rows)  # its scales, 2D flags, structure-tensor rule and normalisation
    keep = [j for i in chosen for j in cols[i][1]]
    if progress:
        progress(2, 3)
    _, oob = _oob(X[:, keep], y, seed)
    if progress:
        progress(3, 3)
    return {"spec": spec, "oob_error": oob, "oob_error_all": oob_all, "method": method,
            "cells": [[cols[i][0][0], candidates.scales[cols[i][0][1]], s]
                      for i, s in zip(chosen, chosen_scores, strict=True)]}
