"""pixelforest's compiled random-forest trainer: the model is ilastik's (and scikit-learn's)."""

from __future__ import annotations

import numba
import numpy as np
import pytest
from sklearn.datasets import make_classification, make_moons
from sklearn.ensemble import RandomForestClassifier

from pixelforest import _trainer
from pixelforest.fitting import fit_forest, mtry
from pixelforest.forest import LEAF


def _train(X, y, n_classes=None, trees=20, seed=0, method="pixelforest", **kw):
    """Our forest on classes 0..K-1 (``fit_forest`` takes them as 1..K)."""
    n_classes = n_classes or int(y.max()) + 1
    return fit_forest(np.asarray(X, np.float32), np.asarray(y) + 1, n_classes, trees=trees, seed=seed, method=method,
                      **kw)


def _bootstrap(seed, trees, n):
    """Each tree's bootstrap weights, drawn as the trainer draws them."""
    weights = np.zeros((trees, n), np.int64)
    for t, state in enumerate(_trainer.tree_states(seed, trees)):
        for _ in range(n):
            state, i = _trainer._below(np.uint64(state), n)
            weights[t, i] += 1
    return weights


def _leaves(forest, t, X):
    """Leaf reached by each row of ``X`` in tree ``t``, checking that nodes follow their parents."""
    node = np.full(X.shape[0], forest.roots[t])
    while True:
        inner = forest.left[node] != LEAF
        if not inner.any():
            return node
        n = node[inner]
        go_left = X[np.nonzero(inner)[0], forest.feature[n]] <= forest.threshold[n]
        child = np.where(go_left, forest.left[n], forest.right[n])
        assert (child > n).all()
        node[inner] = child


def _noisy_problem(n=600, n_features=8, seed=1):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, n_features)).astype(np.float32)
    X[:, 3] = np.round(X[:, 3])  # few distinct values: ties at thresholds
    y = ((X[:, 0] + X[:, 1] + 0.7 * rng.normal(size=n)) > 0).astype(int) + (X[:, 2] > 1)
    return X, y


def test_leaf_values_are_weighted_class_frequencies_and_thresholds_honour_le():
    X, y = _noisy_problem()
    X = np.concatenate([X, X[:40]])  # duplicated samples with conflicting labels
    y = np.concatenate([y, (y[:40] + 1) % 3])
    f, oob = _train(X, y, trees=12, seed=7)
    weights = _bootstrap(7, 12, X.shape[0])
    votes = np.zeros((X.shape[0], 3))
    for t in range(f.n_trees):
        leaf = _leaves(f, t, X)
        inbag = weights[t] > 0
        for node in np.unique(leaf[inbag]):
            at = inbag & (leaf == node)
            freq = np.bincount(y[at], weights=weights[t, at], minlength=3) / weights[t, at].sum()
            assert np.allclose(f.value[node], freq, atol=1e-6)
        # every leaf holds samples drawn: one leaf per distinct sample at most
        end = f.roots[t + 1] if t + 1 < f.n_trees else f.feature.size
        assert set(np.flatnonzero(f.left[f.roots[t]:end] == LEAF) + f.roots[t]) == set(leaf[inbag])
        votes[~inbag] += f.value[leaf[~inbag]]
    # fully grown: a leaf is pure unless its samples are identical
    for t in range(f.n_trees):
        leaf = _leaves(f, t, X)
        inbag = weights[t] > 0
        for node in np.unique(leaf[inbag]):
            at = inbag & (leaf == node)
            assert len(np.unique(y[at])) == 1 or len(np.unique(X[at], axis=0)) == 1
    seen = votes.sum(1) > 0
    assert oob == pytest.approx(np.mean(votes[seen].argmax(1) != y[seen]))


def test_separable_data_split_exactly_at_the_gap():
    x = np.repeat(np.arange(6, dtype=np.float32), 20)
    X = np.stack([x, np.zeros_like(x)], axis=1)  # feature 1 constant: never split on
    y = (x > 2).astype(int)
    f, oob = _train(X, y, trees=30)
    inner = f.left != LEAF
    assert (f.feature[inner] == 0).all()
    assert ((f.threshold[inner] >= 2) & (f.threshold[inner] < 3)).all()
    assert f.threshold.dtype == np.float32 and oob == 0.0
    p = f.predict_proba(np.array([[2, 0], [np.nextafter(np.float32(2), 3), 0], [3, 0]], np.float32))
    assert np.array_equal(p[[0, 2]], [[1, 0], [0, 1]])
    # values only just apart: the threshold still separates them
    a = np.float32(1.0)
    b = np.nextafter(a, np.float32(2))
    f, _ = _train(np.array([[a], [b]] * 10, np.float32), np.array([0, 1] * 10), trees=10)
    assert np.array_equal(f.predict_proba(np.array([[a], [b]], np.float32)), [[1, 0], [0, 1]])


def test_many_distinct_values_binned_but_training_set_fitted():
    X, y = make_moons(3000, noise=0.25, random_state=0)
    f, _ = _train(X, y, trees=10)
    assert (f.predict_proba(X.astype(np.float32)).argmax(1) == y).mean() > 0.99  # fully grown


def test_same_forest_whatever_the_threads():
    X, y = _noisy_problem(2000, 10)
    n = min(2, numba.config.NUMBA_NUM_THREADS)
    a, oob_a = _train(X, y, trees=16, seed=3, n_jobs=1)
    b, oob_b = _train(X, y, trees=16, seed=3, n_jobs=n)
    assert oob_a == oob_b
    for k, v in a.arrays().items():
        assert np.array_equal(v, b.arrays()[k]), k
    assert numba.get_num_threads() == numba.config.NUMBA_NUM_THREADS  # restored
    c, _ = _train(X, y, trees=16, seed=4)
    assert c.feature.size != a.feature.size or not np.array_equal(c.threshold, a.threshold)
    d, _ = _train(X, y, trees=16, seed=None)
    e, _ = _train(X, y, trees=16, seed=None)
    assert d.feature.size != e.feature.size or not np.array_equal(d.threshold, e.threshold)
    # a tree depends on (seed, its index) only
    first, _ = _train(X, y, trees=4, seed=3)
    end = a.roots[4]
    assert np.array_equal(first.threshold, a.threshold[:end])


def test_batches_of_trees_give_the_same_forest(monkeypatch):
    X, y = _noisy_problem(500)
    a, oob_a = _train(X, y, trees=9)
    monkeypatch.setattr(_trainer, "BATCH_BYTES", 1)  # a batch per thread count of trees
    b, oob_b = _train(X, y, trees=9)
    assert oob_a == oob_b
    for k, v in a.arrays().items():
        assert np.array_equal(v, b.arrays()[k]), k


@pytest.mark.parametrize("name", ["moons", "classification"])
def test_accuracy_and_oob_as_sklearn(name):
    if name == "moons":
        X, y = make_moons(4000, noise=0.3, random_state=1)
    else:
        X, y = make_classification(4000, n_features=20, n_informative=8, n_classes=3, random_state=1)
    X = X.astype(np.float32)
    train, test = slice(0, 2000), slice(2000, None)
    f, oob = _train(X[train], y[train], trees=100)
    rf = RandomForestClassifier(100, max_features=mtry(X.shape[1]), oob_score=True, random_state=0)
    rf.fit(X[train], y[train])
    ours = (f.predict_proba(X[test]).argmax(1) == y[test]).mean()
    theirs = rf.score(X[test], y[test])
    assert abs(ours - theirs) < 0.02, (ours, theirs)
    assert abs(oob - (1 - rf.oob_score_)) < 0.02, (oob, 1 - rf.oob_score_)


def test_accuracy_as_sklearn_on_real_em(shared_data):
    import tifffile

    import pixelforest as pf

    root = shared_data("isbi2012-em")
    img = tifffile.imread(root / "train-volume.tif")[0, :256, :256]
    gt = tifffile.imread(root / "train-membranes.tif")[0, :256, :256] < 128
    feats = pf.compute_features(img, "pixelforest-default")
    rng = np.random.default_rng(0)
    idx = rng.permutation(img.size)
    X, y = feats.reshape(-1, feats.shape[-1]), gt.ravel().astype(int)
    train, test = idx[:4000], idx[4000:]
    scores = []
    for method in ("pixelforest", "sklearn"):
        f, oob = _train(X[train], y[train], trees=100, method=method)
        scores.append(((f.predict_proba(X[test]).argmax(1) == y[test]).mean(), oob))
    (ours, oob), (theirs, oob_sk) = scores
    assert abs(ours - theirs) < 0.01 and abs(oob - oob_sk) < 0.02, scores


def test_degenerate_training_sets():
    # two samples
    f, _ = _train([[0.0], [1.0]], np.array([0, 1]), trees=20)
    assert f.value.shape[1] == 2 and np.isfinite(f.value).all()
    assert np.array_equal(f.predict_proba(np.array([[0.0], [1.0]], np.float32)).argmax(1) <= 1, [True, True])
    # constant features: every tree is one leaf of the bootstrap's class frequencies
    X = np.ones((50, 4), np.float32)
    y = np.arange(50) % 3
    f, oob = _train(X, y, trees=8, seed=2)
    assert (f.left == LEAF).all() and f.n_trees == 8
    weights = _bootstrap(2, 8, 50)
    for t in range(8):
        assert np.allclose(f.value[t], np.bincount(y, weights=weights[t], minlength=3) / 50, atol=1e-6)
    # one class present among several columns: the others stay 0
    f, oob = _train(np.random.default_rng(0).normal(size=(30, 3)), np.zeros(30, int), n_classes=4)
    assert (f.left == LEAF).all() and np.array_equal(np.unique(f.value, axis=0), [[1, 0, 0, 0]])
    assert oob == 0.0
    # twelve classes, some without samples
    rng = np.random.default_rng(1)
    X = rng.normal(size=(600, 6)).astype(np.float32)
    y = np.digitize(X[:, 0], np.quantile(X[:, 0], np.linspace(0, 1, 11)[1:-1])) * 1  # classes 0..9
    f, _ = _train(X, y, n_classes=12, trees=30)
    assert f.value.shape[1] == 12 and (f.value[:, 10:] == 0).all()
    assert (f.predict_proba(X).argmax(1) == y).mean() > 0.99
    # duplicated samples with conflicting labels: impure leaves, averaged over trees
    X = np.repeat(np.array([[0.0, 1.0], [1.0, 0.0]], np.float32), 100, axis=0)
    y = np.concatenate([np.arange(100) % 10 < 3, np.arange(100) % 10 < 8]).astype(int)
    f, oob = _train(X, y, trees=100)
    p = f.predict_proba(np.array([[0.0, 1.0], [1.0, 0.0]], np.float32))
    assert np.allclose(p[:, 1], [0.3, 0.8], atol=0.03)
    assert oob == pytest.approx(0.25, abs=0.03)


def test_refuses_bad_input():
    with pytest.raises(ValueError, match="NaN"):
        _train(np.array([[0.0], [np.nan]]), np.array([0, 1]))
    with pytest.raises(ValueError, match="method"):
        _train(np.zeros((2, 1)), np.array([0, 1]), method="vigra")


def _stroke_case(n_strokes, careful, size=192, seed=0):
    """pixelforest-default features (31) of a blobby image, and brush strokes 5 px wide: careful
    ones keep inside their class (shallow trees); hurried ones run across edges, labelled whole
    with the class where they start (deep trees, as the live loop's)."""
    from scipy import ndimage
    from skimage.draw import line

    import pixelforest as pf

    rng = np.random.default_rng(seed)
    img = ndimage.gaussian_filter(rng.random((size, size)), 5)
    img = ((img - img.mean()) / img.std() * 40 + 128 + rng.normal(0, 8, img.shape)).clip(0, 255).astype(np.uint8)
    fg = img > 128
    lab = np.zeros(img.shape, np.uint8)
    for k in range(n_strokes):
        cls = 1 + k % 2
        ys, xs = np.nonzero((fg if cls == 1 else ~fg)[20:-20, 20:-20])
        i = rng.integers(ys.size)
        y0, x0 = ys[i] + 20, xs[i] + 20
        ang, length = rng.uniform(0, np.pi), rng.integers(40, 120)
        rr, cc = line(y0, x0, int(np.clip(y0 + length * np.sin(ang), 0, size - 1)),
                      int(np.clip(x0 + length * np.cos(ang), 0, size - 1)))
        for dy in range(-2, 3):
            for dx in range(-2, 3):
                r, c = np.clip(rr + dy, 0, size - 1), np.clip(cc + dx, 0, size - 1)
                if careful:
                    keep = fg[r, c] == (cls == 1)
                    r, c = r[keep], c[keep]
                lab[r, c] = cls
    X = pf.compute_features(img, "pixelforest-default")[lab > 0]
    return X, lab[lab > 0].astype(np.int64) - 1


def test_same_forests_as_the_reference(monkeypatch):
    """The trainer grows exactly the forests of the trainer it replaced (tests/_reference_trainer.py,
    kept unchanged): same arrays, bit for bit, and the same out-of-bag error."""
    import _reference_trainer as ref

    def same(X, y, n_classes, trees, mtry=None, seed=0, n_jobs=-1, ref_jobs=-1):
        X = np.asarray(X, np.float32)
        mtry = mtry or max(1, int(np.sqrt(X.shape[1])))
        a, oob_a = _trainer.train_forest(X, y, n_classes, trees=trees, mtry=mtry, seed=seed, n_jobs=n_jobs)
        b, oob_b = ref.train_forest(X, y, n_classes, trees=trees, mtry=mtry, seed=seed, n_jobs=ref_jobs)
        assert oob_a == oob_b, (oob_a, oob_b)
        for k, v in b.arrays().items():
            w = a.arrays()[k]
            assert w.dtype == v.dtype and np.array_equal(w, v), k
        return a

    # deep trees: hurried strokes across edges, on the default's 31 features of a real-looking image
    X, y = _stroke_case(14, careful=False)
    f = same(X, y, 2, trees=12)
    assert f.feature.size / f.n_trees > 300 and X.shape[1] == 31, (f.feature.size / f.n_trees, X.shape)
    same(X, y, 2, trees=6, n_jobs=1)  # one thread against all
    same(X[:, :13], y, 2, trees=5, mtry=13)  # every feature drawn; not a multiple of 8 features
    same(X, y, 2, trees=5, mtry=1)
    # shallow trees: careful strokes
    X, y = _stroke_case(10, careful=True, seed=1)
    f = same(X, y, 2, trees=12)
    assert f.feature.size / f.n_trees < 80
    # 3 and 12 classes (some without samples), ties and few distinct values, duplicated samples
    X, y = _noisy_problem(1500, 12)
    same(X, y, 3, trees=10)
    same(np.concatenate([X, X[:300]]), np.concatenate([y, (y[:300] + 1) % 3]), 5, trees=8, seed=5)
    rng = np.random.default_rng(2)
    X = rng.normal(size=(700, 9)).astype(np.float32)
    same(X, np.digitize(X[:, 0] + 0.3 * X[:, 1], np.linspace(-2, 2, 10)), 12, trees=8, seed=9)
    # small and odd sample counts; constant features
    for n in (1, 2, 3, 7, 31, 257):
        same(rng.normal(size=(n, 5)), rng.integers(0, 2, n), 2, trees=7, seed=n)
    same(np.ones((40, 4)), np.arange(40) % 3, 3, trees=5)
    Xc = rng.normal(size=(300, 6)).astype(np.float32)
    Xc[:, [0, 2, 5]] = 1.0
    same(Xc, (Xc[:, 1] > 0).astype(int), 2, trees=6, mtry=2)
    # several batches of trees
    monkeypatch.setattr(_trainer, "BATCH_BYTES", 1)
    same(*_noisy_problem(500), 3, trees=9)
