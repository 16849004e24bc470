"""pixelforest.fitting: ilastik's (vigra's) forest defaults, by either trainer."""

from __future__ import annotations

import numpy as np
import pytest

from pixelforest.fitting import fit_forest, mtry

METHODS = ["pixelforest", "sklearn"]


def _problem(n=120, n_features=5, seed=0):
    """Classes 1 and 3 (2 has no samples), separated along feature 0 with some overlap."""
    rng = np.random.default_rng(seed)
    y = np.where(rng.random(n) < 0.5, 1, 3)
    X = rng.normal(size=(n, n_features)).astype(np.float32)
    X[:, 0] += 1.5 * (y == 3)
    return X, y


def test_mtry_is_vigras_rounded_square_root():
    # floor(sqrt(n) + 0.5), at least 1
    assert [mtry(n) for n in (0, 1, 2, 3, 6, 7, 12, 13, 100, 110, 111)] == [1, 1, 1, 2, 2, 3, 3, 4, 10, 10, 11]


@pytest.mark.parametrize("method", METHODS)
def test_same_seed_same_forest(method, same_forest):
    X, y = _problem()
    a, oob_a = fit_forest(X, y, 3, trees=8, seed=5, method=method, n_jobs=1)
    b, oob_b = fit_forest(X, y, 3, trees=8, seed=5, method=method, n_jobs=1)
    assert oob_a == oob_b
    assert same_forest(a, b)
    c, _ = fit_forest(X, y, 3, trees=8, seed=6, method=method, n_jobs=1)
    assert not np.array_equal(c.predict_proba(X), a.predict_proba(X))


@pytest.mark.parametrize("method", METHODS)
def test_columns_are_classes_one_to_n(method):
    """Column k - 1 is class k; a class without samples gets a column of zeros."""
    X, y = _problem()
    f, oob = fit_forest(X, y, 4, trees=10, seed=0, method=method, n_jobs=1)
    assert f.n_trees == 10 and f.n_classes == 4 and f.n_features == X.shape[1]
    p = f.predict_proba(X)
    assert p.shape == (X.shape[0], 4)
    assert np.all(p[:, [1, 3]] == 0) and np.allclose(p.sum(1), 1, atol=1e-5)
    # fully grown trees on their bootstrap: the training set is mostly fitted
    assert np.mean(p.argmax(1) + 1 == y) > 0.9
    assert 0.0 <= oob <= 1.0


@pytest.mark.parametrize("method", METHODS)
def test_separable_classes_have_no_oob_error(method):
    X = np.repeat(np.arange(10, dtype=np.float32), 6)[:, None]
    y = np.where(X[:, 0] < 5, 1, 2)
    f, oob = fit_forest(X, y, 2, trees=20, seed=1, method=method, n_jobs=1)
    assert oob == 0.0
    assert np.array_equal(f.predict_proba(np.array([[0], [4], [5], [9]], np.float32)),
                          [[1, 0], [1, 0], [0, 1], [0, 1]])


def test_unknown_method_refused():
    X, y = _problem()
    with pytest.raises(ValueError, match="unknown forest method 'vigra'; expected 'pixelforest' or 'sklearn'"):
        fit_forest(X, y, 3, method="vigra")
