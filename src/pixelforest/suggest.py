"""Suggest features (ilastik's Gini-importance method).

Every (feature, scale) cell of a candidate bank is a candidate. A 100-tree
forest is trained on all of them. The Gini importance of each cell is the sum
over its output channels, and the ``n`` best cells are kept. The out-of-bag
error of a forest on the chosen cells is reported beside the error on all of
them. (ilastik's filter and wrapper methods are issue 7.)
"""

from __future__ import annotations

import numpy as np

from .classifier import mtry
from .features import EIGEN_FEATURES, FEATURE_IDS, FeatureSpec, compute_canonical


def _cell_columns(spec: FeatureSpec, n_channels: int, z_size: int):
    flags = spec.in_2d_flags(z_size)
    cols, k = [], 0
    for fid, si in spec.cells():
        d = 2 if flags[si] else 3
        n = (d if fid in EIGEN_FEATURES else 1) * n_channels
        cols.append(((fid, si), list(range(k, k + n))))
        k += n
    return cols


def _oob(X, y, seed):
    from sklearn.ensemble import RandomForestClassifier

    rf = RandomForestClassifier(100, max_features=mtry(X.shape[1]), oob_score=True, n_jobs=-1, random_state=seed)
    rf.fit(X, y)
    return rf, 1.0 - float(rf.oob_score_)


def suggest_features(img5: np.ndarray, labels4: np.ndarray, candidates: FeatureSpec, *, n: int = 7, seed: int = 0,
                     progress=None) -> dict:
    """Best ``n`` (feature, scale) cells for labelled (T, Z, Y, X) pixels of a (T, Z, Y, X, C) image."""
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
    scores = [(float(rf.feature_importances_[c].sum()), cell) for cell, c in cols]
    n = max(1, min(int(n), len(cols)))
    best = sorted(scores, key=lambda s: -s[0])[:n]
    chosen = {cell for _, cell in best}
    rows = tuple(tuple((fid, si) in chosen for si in range(len(candidates.scales))) for fid in FEATURE_IDS)
    spec = FeatureSpec(candidates.scales, rows, candidates.compute_in_2d, candidates.structure_tensor)
    keep = [i for cell, c in cols if cell in chosen for i in c]
    if progress:
        progress(2, 3)
    _, oob = _oob(X[:, keep], y, seed)
    if progress:
        progress(3, 3)
    return {"spec": spec, "oob_error": oob, "oob_error_all": oob_all,
            "cells": [[fid, candidates.scales[si], score] for score, (fid, si) in best]}
