"""pixelforest.suggest: feature suggestion (gini, filter, wrapper) on a synthetic image whose best
feature is known by construction."""

from __future__ import annotations

import numpy as np
import pytest

from pixelforest.features import FeatureSpec
from pixelforest.suggest import suggest_features

#: three candidate cells; only the wide smoothing separates the classes
CANDIDATES = FeatureSpec.from_cells({"GaussianSmoothing": [0.3, 3.5], "GaussianGradientMagnitude": [0.7]})


@pytest.fixture(scope="module")
def noisy_halves():
    """Two halves whose means differ by 0.8 under noise of sd 1: pixel values overlap heavily, the mean
    over a wide Gaussian (sigma 3.5, ~150 pixels) does not. Labels stay > 10 px from the step."""
    rng = np.random.default_rng(0)
    img = rng.normal(0, 1, (48, 64)).astype(np.float32)
    img[:, 32:] += 0.8
    lab = np.zeros(img.shape, np.uint8)
    lab[4:44:2, 4:20:2] = 1
    lab[5:45:2, 45:61:2] = 2
    return img[None, None, ..., None], lab[None, None]


@pytest.mark.parametrize("method", ["gini", "filter", "wrapper"])
def test_each_method_finds_the_separating_cell(noisy_halves, method):
    img5, lab4 = noisy_halves
    calls = []
    res = suggest_features(img5, lab4, CANDIDATES, n=1, method=method, seed=0,
                           progress=lambda d, t: calls.append((d, t)))
    assert res["method"] == method
    assert [c[:2] for c in res["cells"]] == [["GaussianSmoothing", 3.5]]
    assert res["spec"].cells() == [("GaussianSmoothing", CANDIDATES.scales.index(3.5))]
    assert res["spec"].scales == CANDIDATES.scales  # the candidates' scales, one cell selected
    assert res["oob_error"] < 0.1 and res["oob_error"] <= res["oob_error_all"] + 0.02
    assert calls == [(0, 3), (1, 3), (2, 3), (3, 3)]


def test_more_cells_and_automatic(noisy_halves):
    img5, lab4 = noisy_halves
    res = suggest_features(img5, lab4, CANDIDATES, n=10, method="gini", seed=0)  # capped at the 3 candidates
    assert len(res["cells"]) == 3 and sorted(res["spec"].cells()) == sorted(CANDIDATES.cells())
    scores = [c[2] for c in res["cells"]]
    assert scores == sorted(scores, reverse=True)  # gini: the most important first
    auto = suggest_features(img5, lab4, CANDIDATES, n=0, method="gini", seed=0)
    assert 1 <= len(auto["cells"]) <= 3 and auto["cells"][0][:2] == ["GaussianSmoothing", 3.5]


def test_refuses_bad_requests(noisy_halves):
    img5, lab4 = noisy_halves
    with pytest.raises(ValueError, match="gini, filter or wrapper"):
        suggest_features(img5, lab4, CANDIDATES, method="boruta")
    one_class = np.where(lab4 == 2, 0, lab4).astype(np.uint8)
    with pytest.raises(ValueError, match="at least two classes"):
        suggest_features(img5, one_class, CANDIDATES)
