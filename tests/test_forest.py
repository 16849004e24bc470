"""The forest as plain arrays: same probabilities as scikit-learn and vigra."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.ensemble import RandomForestClassifier

from pixelforest.forest import Forest, concat, f32_threshold_le, f32_threshold_lt, from_sklearn, from_vigra_trees


def test_threshold_conversion_is_exact():
    rng = np.random.default_rng(0)
    t = rng.normal(size=2000) * 10.0 ** rng.integers(-3, 4, 2000)
    t = np.concatenate([t, t.astype(np.float32).astype(np.float64)])  # include exactly representable ones
    x = np.concatenate([t.astype(np.float32), np.nextafter(t.astype(np.float32), np.float32(np.inf)),
                        np.nextafter(t.astype(np.float32), np.float32(-np.inf))])
    le, lt = f32_threshold_le(t), f32_threshold_lt(t)
    for i in range(0, t.size, 7):
        assert np.array_equal(x <= le[i], x.astype(np.float64) <= t[i])
        assert np.array_equal(x <= lt[i], x.astype(np.float64) < t[i])


@pytest.mark.parametrize("n_classes", [2, 4])
def test_same_probabilities_as_sklearn(n_classes):
    rng = np.random.default_rng(1)
    X = rng.normal(size=(600, 12)).astype(np.float32)
    X[:, 3] = np.round(X[:, 3])  # ties on thresholds
    y = (X[:, 0] + X[:, 1] > 0).astype(int) + (X[:, 2] > 1) * 2
    y = y % n_classes
    X[::17] = X[1::17][: len(X[::17])]  # duplicated rows with possibly different labels
    rf = RandomForestClassifier(n_estimators=30, max_features=3, random_state=0, n_jobs=1).fit(X, y)
    f = from_sklearn(rf)
    Xt = rng.normal(size=(5000, 12)).astype(np.float32)
    Xt[:, 3] = np.round(Xt[:, 3])
    Xt[:200] = X[:200]
    assert np.abs(f.predict_proba(Xt) - rf.predict_proba(Xt)).max() <= 1e-6


def _vigra_tree():
    # root: x[1] < 0.5 -> leaf A (class 0), else node: x[0] < -1 -> leaf B (50/50), leaf C (class 1)
    topo = np.array([2, 2,
                     0, 0, 7, 9, 1,  # node at 2: split on column 1, params at 0
                     0x40000000, 2,  # leaf A at 7, params at 2
                     0, 5, 14, 16, 0,  # node at 9: split on column 0, params at 5
                     0x40000000, 7,  # leaf B at 14
                     0x40000000, 10], np.int32)  # leaf C at 16
    params = np.array([1.0, 0.5,  # root: weight, threshold
                       1.0, 1.0, 0.0,  # leaf A: weight, p0, p1
                       1.0, -1.0,  # node: weight, threshold
                       1.0, 0.5, 0.5,  # leaf B
                       1.0, 0.0, 1.0], np.float64)  # leaf C
    return topo, params


def test_vigra_tree_traversal():
    f = from_vigra_trees([_vigra_tree()])
    X = np.array([[0, 0.2], [0, 0.5], [-2, 0.9], [-1, 0.9], [5, 0.7]], np.float32)
    p = f.predict_proba(X)
    # 0.5 is not < 0.5: goes right; -1 is not < -1: goes to leaf C
    assert np.allclose(p, [[1, 0], [0, 1], [0.5, 0.5], [0, 1], [0, 1]])


def test_concat_is_mean_over_all_trees():
    a = from_vigra_trees([_vigra_tree()])
    t, p = _vigra_tree()
    p2 = p.copy()
    p2[3:5] = [0.0, 1.0]  # leaf A -> class 1
    b = from_vigra_trees([(t, p2), (t, p2)])
    both = concat([a, b])
    X = np.array([[0, 0.1]], np.float32)
    assert both.n_trees == 3
    assert np.allclose(both.predict_proba(X), [[1 / 3, 2 / 3]])


def test_invalid_forest_arrays_refused():
    f = from_vigra_trees([_vigra_tree()])
    arr = f.arrays()
    bad = dict(arr, left=arr["left"].copy())
    bad["left"][0] = 0  # cycle to itself
    with pytest.raises(ValueError, match="cycle|follow"):
        Forest.from_arrays(bad, f.n_features)
    bad = dict(arr, feature=arr["feature"].copy())
    bad["feature"][0] = 99
    with pytest.raises(ValueError, match="split feature out of range"):
        Forest.from_arrays(bad, f.n_features)
    with pytest.raises(ValueError, match="expected features of shape"):
        f.predict_proba(np.zeros((3, 5), np.float32))


def test_damaged_vigra_topology():
    t, p = _vigra_tree()
    t = t.copy()
    t[4] = 500
    with pytest.raises(ValueError, match="invalid child index"):
        from_vigra_trees([(t, p)])
