"""pixelforest.worker.cache: what the worker keeps between requests (features per image, classifiers per file)."""

from __future__ import annotations

import os

import numpy as np
import pytest

import pixelforest as pf
from pixelforest.features import FeatureSpec
from pixelforest.worker import cache

MINIMAL = FeatureSpec.preset("minimal")


class Task:
    """What features_for uses of an Appose task: its outputs and progress."""

    def __init__(self):
        self.outputs, self.updates = {}, []

    def update(self, *args):
        self.updates.append(args)


@pytest.fixture
def state(monkeypatch):
    """A fresh cache for the test (the worker's is one per process)."""
    st = cache.State()
    monkeypatch.setattr(cache, "STATE", st)
    return st


@pytest.fixture
def img5(blobs2d):
    return blobs2d[None, None, :, :, None]


def test_image_key_is_the_pixels_shape_and_type(img5):
    key = cache.image_key(img5)
    assert cache.image_key(img5.copy()) == key and len(key) == 32
    assert cache.image_key(np.asfortranarray(img5)) == key  # the same pixels in another memory order
    other = img5.copy()
    other[0, 0, 5, 5, 0] += 1
    assert cache.image_key(other) != key
    assert cache.image_key(img5.astype(np.float64)) != key
    assert cache.image_key(img5.reshape(1, 1, 120, 96, 1)) != key


def test_features_computed_once_per_image(state, img5):
    first, again = Task(), Task()
    feats = cache.features_for(img5, MINIMAL, first)
    assert np.array_equal(feats, pf.compute_features(img5, MINIMAL, axes="tzyxc"))
    assert first.outputs["computed_cells"] == len(MINIMAL.cells()) and first.updates
    assert cache.features_for(img5.copy(), MINIMAL, again) is feats  # the same pixels: from the cache
    assert again.outputs["computed_cells"] == 0 and not again.updates
    assert list(state.sessions) == [cache.image_key(img5)]
    more = FeatureSpec.from_cells({"GaussianSmoothing": [0.3, 1.0, 5.0]})
    third = Task()
    assert np.array_equal(cache.features_for(img5, more, third)[0, 0], pf.compute_features(img5[0, 0, ..., 0], more))
    assert third.outputs["computed_cells"] == 1  # only the new scale


def test_features_too_large_for_the_budget_are_not_cached(state, img5, monkeypatch):
    need = img5[..., 0].size * MINIMAL.n_features(1, 2) * 4
    monkeypatch.setattr(cache, "FEATURE_CACHE_BYTES", need - 1)
    assert cache.features_for(img5, MINIMAL) is None and not state.sessions  # the caller works block by block
    monkeypatch.setattr(cache, "FEATURE_CACHE_BYTES", need)
    assert cache.features_for(img5, MINIMAL) is not None


def test_least_recently_used_images_evicted_beyond_the_budget(state, img5, monkeypatch):
    one = img5[..., 0].size * MINIMAL.n_features(1, 2) * 4
    monkeypatch.setattr(cache, "FEATURE_CACHE_BYTES", 2 * one)
    a, b, c = img5, img5 + 1, img5 + 2
    for im in (a, b):
        cache.features_for(im, MINIMAL)
    cache.features_for(a, MINIMAL)  # a used again: b is now the oldest
    cache.features_for(c, MINIMAL)
    assert list(state.sessions) == [cache.image_key(a), cache.image_key(c)]
    monkeypatch.setattr(cache, "FEATURE_CACHE_BYTES", 0)
    state.evict()
    assert list(state.sessions) == [cache.image_key(c)]  # the newest is kept whatever the budget
    state.forget(state.sessions[cache.image_key(c)])
    assert not state.sessions


def test_classifier_read_once_and_the_last_one_used_by_default(state, tmp_path, blobs2d, blobs_labels):
    with pytest.raises(ValueError, match="no classifier: train one"):
        cache.classifier_for({})
    with pytest.raises(ValueError, match="classifier file .*missing.pfc does not exist"):
        cache.classifier_for({"classifier": str(tmp_path / "missing.pfc")})
    clf = pf.train(blobs2d, blobs_labels, features="minimal", trees=3, seed=0)
    path = str(tmp_path / "m.pfc")
    pf.save(clf, path)
    first = cache.classifier_for({"classifier": path})
    assert first.class_names == clf.class_names and state.current == path
    assert cache.classifier_for({"classifier": path}) is first  # unchanged file: not read again
    assert cache.classifier_for({}) is first  # no file named: the last one used


def test_stamp_and_remember(state, tmp_path, blobs2d, blobs_labels):
    assert cache.stamp(tmp_path / "missing.pfc") is None
    p = tmp_path / "m.pfc"
    p.write_bytes(b"one")
    st = os.stat(p)
    s1 = cache.stamp(p)
    assert s1[0] == 3 and s1[-1] == "7692c3ad3540bb803c020b3aee66cd8887123234ea0c6e7143c0add73ff431ed"  # sha256
    p.write_bytes(b"two")
    os.utime(p, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert cache.stamp(p) != s1  # same size and time, other content
    clf = pf.train(blobs2d, blobs_labels, features="minimal", trees=3, seed=0)
    pf.save(clf, p)
    cache.remember(p, clf)
    assert cache.classifier_for({"classifier": str(p)}) is clf  # the classifier this worker wrote: not read back
