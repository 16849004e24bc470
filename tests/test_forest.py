"""The forest as plain arrays: same probabilities as scikit-learn and vigra."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numba
import numpy as np
import pytest
from sklearn.ensemble import RandomForestClassifier

from pixelforest.forest import LEAF, Forest, concat, f32_threshold_le, f32_threshold_lt, from_sklearn, from_vigra_trees


@numba.njit
def walk_each_sample(X, roots, feature, threshold, left, right, value):
    """The traversal before blocks (one sample through all trees at a time): the reference for
    bit-identical probabilities."""
    out = np.zeros((X.shape[0], value.shape[1]), np.float32)
    inv = 1.0 / roots.shape[0]
    for i in range(X.shape[0]):
        acc = np.zeros(value.shape[1])
        for t in range(roots.shape[0]):
            node = roots[t]
            while left[node] != -1:
                node = left[node] if X[i, feature[node]] <= threshold[node] else right[node]
            for c in range(value.shape[1]):
                acc[c] += value[node, c]
        for c in range(value.shape[1]):
            out[i, c] = acc[c] * inv
    return out


def reference(f: Forest, X: np.ndarray) -> np.ndarray:
    return walk_each_sample(np.ascontiguousarray(X, np.float32), f.roots, f.feature, f.threshold, f.left, f.right,
                            f.value)


def forests_and_data(seed: int = 0):
    """Shallow and deep sklearn forests, 2-12 classes, and vigra's breadth-first trees with their
    concatenation, each with data to predict (ties on thresholds, blocks of correlated rows)."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(3000, 10)).astype(np.float32)
    X[:, 3] = np.round(X[:, 3])
    for n_classes, depth, trees in ((2, 3, 10), (2, None, 40), (3, 6, 7), (5, None, 25), (12, None, 30)):
        y = np.floor((X[:, 0] + 0.5 * X[:, 1] * X[:, 2] + rng.normal(size=X.shape[0])) * 2) % n_classes
        rf = RandomForestClassifier(trees, max_depth=depth, max_features=3, random_state=seed).fit(X, y)
        Xt = np.cumsum(rng.normal(size=(20000, 10)), axis=0).astype(np.float32) / 40  # neighbours alike, as pixels
        Xt[:300] = X[:300]
        Xt[300:600, 3] = np.round(Xt[300:600, 3])
        yield f"{n_classes} classes, depth {depth}, {trees} trees", from_sklearn(rf), Xt
    small = RandomForestClassifier(5, random_state=0).fit(X[:, :2], X[:, 0] > 0)
    yield "vigra + sklearn", concat([from_vigra_trees([_vigra_tree()] * 3), from_sklearn(small)]), \
        rng.normal(size=(999, 2)).astype(np.float32)


def test_block_traversal_same_bits_as_walking_each_sample():
    for name, f, X in forests_and_data():
        ref = reference(f, X)
        assert np.array_equal(f.predict_proba(X), ref), name
        for n in (0, 1, 7, 300):  # a few samples: one block, one worker
            assert np.array_equal(f.predict_proba(X[:n]), ref[:n]), (name, n)
        assert np.array_equal(f.predict_proba(X[::-3]), ref[::-3]), name  # a strided view


def test_traversal_without_avx512_same_bits(tmp_path):
    """The portable split (what runs where compiled code cannot use AVX-512), in a process that
    compiles for a generic x86-64 / the host without extra features."""
    script = (
        "import numpy as np, sys\n"
        "sys.path.insert(0, %r)\n"
        "import pixelforest.forest as pf_forest\n"
        "from test_forest import forests_and_data, reference\n"
        "assert not pf_forest.AVX512\n"
        "for name, f, X in forests_and_data(1):\n"
        "    ref = reference(f, X)\n"
        "    assert np.array_equal(f.predict_proba(X), ref), name\n"
        "    assert np.array_equal(f.predict_proba(X[:7]), ref[:7]), name\n"
        "print('ok')\n" % str(Path(__file__).parent))
    env = dict(os.environ, NUMBA_CPU_NAME="generic", NUMBA_CPU_FEATURES="", NUMBA_CACHE_DIR=str(tmp_path))
    r = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr[-3000:]


def test_deep_chain_and_nan():
    """A tree that is one long chain (the deepest a tree of its size can be) and NaN features
    (never ``<=``: to the right, as before)."""
    n = 3000  # splits x[0] <= 0, x[0] <= 1, ...: node 2i splits, 2i + 1 is its left leaf
    feature = np.zeros(2 * n + 1, np.int32)
    threshold = np.zeros(2 * n + 1, np.float32)
    threshold[0:2 * n:2] = np.arange(n)
    left = np.full(2 * n + 1, LEAF, np.int32)
    right = np.full(2 * n + 1, LEAF, np.int32)
    left[0:2 * n:2] = np.arange(1, 2 * n, 2)
    right[0:2 * n:2] = np.arange(2, 2 * n + 1, 2)
    value = np.zeros((2 * n + 1, 2), np.float32)
    value[1::2, 0] = np.linspace(0, 1, n)
    value[1::2, 1] = 1 - value[1::2, 0]
    value[-1] = [0.25, 0.75]
    chain = {"roots": np.array([0]), "feature": feature, "threshold": threshold, "left": left, "right": right,
             "value": value}
    f = concat([Forest.from_arrays(chain, 1), Forest.from_arrays(chain, 1)])
    X = np.linspace(-5, n + 5, 20001, dtype=np.float32)[:, None]
    X[::97] = np.nan
    ref = reference(f, X)
    assert np.array_equal(f.predict_proba(X), ref)
    assert np.array_equal(ref[::97], np.tile([[0.25, 0.75]], (ref[::97].shape[0], 1)).astype(np.float32))


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
    bad = dict(arr, right=arr["right"].copy())
    bad["right"][0] = arr["left"][0]  # both children the same node
    with pytest.raises(ValueError, match="two parents"):
        Forest.from_arrays(bad, f.n_features)
    with pytest.raises(ValueError, match="two parents"):  # two trees sharing one root
        Forest.from_arrays(dict(arr, roots=np.array([0, 0])), f.n_features)
    with pytest.raises(ValueError, match="expected features of shape"):
        f.predict_proba(np.zeros((3, 5), np.float32))


def test_damaged_vigra_topology():
    t, p = _vigra_tree()
    t = t.copy()
    t[4] = 500
    with pytest.raises(ValueError, match="invalid child index"):
        from_vigra_trees([(t, p)])
