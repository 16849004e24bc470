"""Training from sparse labels, outputs, block-wise prediction."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import pixelforest as pf
from pixelforest.classifier import segmentation_from_probabilities, uncertainty_from_probabilities
from pixelforest.features import FeatureSpec
from pixelforest.fitting import mtry


def test_train_predict_outputs(blobs2d, blobs_labels):
    clf = pf.train(blobs2d, blobs_labels, features="minimal", seed=0)
    assert clf.classes == ["Label 1", "Label 2"]
    assert clf.forest.n_trees == 100
    assert clf.training["mtry"] == mtry(clf.n_features) == int(np.floor(np.sqrt(clf.n_features) + 0.5))
    assert clf.training["n_samples"] == int((blobs_labels > 0).sum())
    assert 0.0 <= clf.oob_error <= 1.0
    p = clf.predict(blobs2d)
    assert p.shape == blobs2d.shape + (2,) and p.dtype == np.float32
    assert np.allclose(p.sum(-1), 1.0, atol=1e-5)
    assert np.allclose(np.round(p * 100), p * 100, atol=1e-4)  # 100 trees, pure leaves: multiples of 0.01
    seg = clf.predict(blobs2d, "simple-segmentation")
    assert seg.dtype == np.uint8 and seg.shape == blobs2d.shape
    assert np.array_equal(seg, p.argmax(-1) + 1)
    unc = clf.predict(blobs2d, "uncertainty")
    assert np.allclose(unc, 1 - np.abs(p[..., 0] - p[..., 1]), atol=1e-6)
    feats = clf.predict(blobs2d, "features")
    assert np.array_equal(feats, pf.compute_features(blobs2d, "minimal"))
    # the classifier learned the blobs: blob centres are class 1, corners class 2
    assert seg[60, 40] == 1 and seg[30, 90] == 1 and seg[2, 2] == 2


def test_seed_reproducible(blobs2d, blobs_labels):
    a = pf.train(blobs2d, blobs_labels, features="minimal", seed=3).predict(blobs2d)
    b = pf.train(blobs2d, blobs_labels, features="minimal", seed=3).predict(blobs2d)
    assert np.array_equal(a, b)


def test_uncertainty_and_segmentation_rules():
    p = np.array([[0.7, 0.2, 0.1], [0.4, 0.4, 0.2], [0.0, 0.0, 1.0]], np.float32)
    assert np.allclose(uncertainty_from_probabilities(p), [0.5, 1.0, 0.0])
    assert segmentation_from_probabilities(p).tolist() == [1, 1, 3]
    assert uncertainty_from_probabilities(p[:, :1]).tolist() == [0, 0, 0]


def test_several_images_of_different_sizes_and_three_classes(blobs2d, blobs_labels):
    small = blobs2d[10:70, 15:100].copy()
    lab_small = np.zeros(small.shape, np.uint8)
    lab_small[20:24, 5:12] = 3  # a third class, only labelled on the second image
    clf = pf.train([blobs2d, small], [blobs_labels, lab_small], features="minimal", seed=0,
                   classes=["blob", "background", "edge"])
    assert clf.classes == ["blob", "background", "edge"]
    assert clf.training["samples_per_class"]["edge"] == 28
    assert clf.predict(small).shape == small.shape + (3,)
    assert len(clf.labels) == 2 and clf.labels[1].value.tolist() == [3] * 28


def test_class_without_pixels_gets_zero(blobs2d, blobs_labels):
    with pytest.warns(UserWarning, match="without labelled pixels"):
        clf = pf.train(blobs2d, blobs_labels, features="minimal", classes=["a", "b", "c"], seed=0)
    p = clf.predict(blobs2d)
    assert p.shape[-1] == 3 and (p[..., 2] == 0).all()


def test_training_features_equal_whole_image(blobs2d, blobs_labels):
    # training crops to the labelled box + halo; the samples equal whole-image features
    from pixelforest import axes as A
    from pixelforest.training import extract_samples

    spec = FeatureSpec.preset("ilastik-default")
    img = np.pad(blobs2d, ((0, 0), (0, 60)), mode="reflect")
    lab = np.zeros(img.shape, np.uint8)
    lab[40:45, 50:60] = 1
    lab[47:50, 70:75] = 2
    X, y = extract_samples(A.to_canonical(img, "yx"), A.to_canonical(lab[..., None], "yxc")[..., 0], spec)
    whole = pf.compute_features(img, spec)
    assert np.array_equal(X, whole[lab > 0])
    assert np.array_equal(y, lab[lab > 0])


@pytest.mark.parametrize("block", [(17, 23), (40, 200), (3, 50)])
def test_blockwise_equals_whole_2d(blobs2d, blobs_labels, block):
    clf = pf.train(blobs2d, blobs_labels, features="ilastik-default", seed=0, trees=10)
    whole = clf.predict(blobs2d, block_shape=blobs2d.shape)
    assert np.array_equal(clf.predict(blobs2d, block_shape=block), whole)
    assert np.array_equal(clf.predict(blobs2d, "features", block_shape=block),
                          clf.predict(blobs2d, "features", block_shape=blobs2d.shape))


def test_blockwise_equals_whole_3d_and_time():
    rng = np.random.default_rng(5)
    vol = rng.normal(size=(24, 40, 44)).astype(np.float32)
    vol[8:16, 10:30, 10:30] += 3
    lab = np.zeros(vol.shape, np.uint8)
    lab[11:13, 15:20, 15:20] = 1
    lab[2:4, 2:6, 2:40] = 2
    spec = FeatureSpec.from_cells({"GaussianSmoothing": [0.3, 1.6], "HessianOfGaussianEigenvalues": [1.0],
                                   "StructureTensorEigenvalues": [3.5]})
    clf = pf.train(vol, lab, features=spec, seed=0, trees=10)
    assert clf.ndim == 3
    whole = clf.predict(vol, block_shape=vol.shape)
    assert np.array_equal(clf.predict(vol, block_shape=(7, 13, 19)), whole)
    # time series of 2D images: each frame on its own
    lab_t = lab[10:13].copy()
    lab_t[:, 2:4, 2:40] = 2
    clf2 = pf.train(vol[10:13], lab_t, features="minimal", axes="tyx", seed=0, trees=10)
    assert clf2.ndim == 2
    tw = clf2.predict(vol[:5], axes="tyx")
    assert np.array_equal(clf2.predict(vol[:5], axes="tyx", block_shape=(11, 9)), tw)
    assert np.array_equal(tw[4], clf2.predict(vol[4]))


def test_progress_and_cancel(blobs2d, blobs_labels):
    clf = pf.train(blobs2d, blobs_labels, features="minimal", seed=0, trees=5)
    seen = []
    clf.predict(blobs2d, block_shape=(32, 40), progress=lambda d, t: seen.append((d, t)))
    assert seen[-1] == (9, 9) and len(seen) == 9

    class Cancel(Exception):
        pass

    def cancel(d, t):
        if d == 2:
            raise Cancel

    with pytest.raises(Cancel):
        clf.predict(blobs2d, block_shape=(32, 40), progress=cancel)


# --------------------------------------------------------------- bad input


def test_one_class_or_no_labels(blobs2d, blobs_labels):
    with pytest.raises(ValueError, match="only one class is labelled"):
        pf.train(blobs2d, (blobs_labels == 1).astype(np.uint8), features="minimal")
    with pytest.raises(ValueError, match="no labelled pixels"):
        pf.train(blobs2d, np.zeros_like(blobs_labels), features="minimal")


def test_label_shape_mismatch(blobs2d, blobs_labels):
    with pytest.raises(ValueError, match=r"label image shape \(96, 119\) does not match .* \(96, 120\)"):
        pf.train(blobs2d, blobs_labels[:, :-1], features="minimal")
    with pytest.raises(ValueError, match="one label image per image"):
        pf.train([blobs2d, blobs2d], [blobs_labels], features="minimal")
    with pytest.raises(ValueError, match="must be integers"):
        pf.train(blobs2d, blobs_labels + 0.5, features="minimal")


def test_predict_refuses_mismatched_images(blobs2d, blobs_labels):
    clf = pf.train(blobs2d, blobs_labels, features="minimal", seed=0, trees=5)
    with pytest.raises(ValueError, match="has 3 channel\\(s\\) but the classifier expects 1"):
        clf.predict(np.stack([blobs2d] * 3, -1), channel_axis=-1)
    with pytest.raises(ValueError, match="is 3D .* trained on 2D"):
        clf.predict(np.stack([blobs2d] * 8))
    with pytest.raises(ValueError, match="unknown export source"):
        clf.predict(blobs2d, "labels")


def test_mixed_2d_3d_refused(blobs2d, blobs_labels):
    vol = np.stack([blobs2d] * 20)
    with pytest.raises(ValueError, match="2D and 3D cannot be mixed"):
        pf.train([blobs2d, vol], [blobs_labels, np.stack([blobs_labels] * 20)], features="minimal")


def test_float_labels_with_integer_values_accepted(blobs2d, blobs_labels):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        clf = pf.train(blobs2d, blobs_labels.astype(np.float32), features="minimal", seed=0, trees=5)
    assert clf.n_classes == 2


@pytest.mark.parametrize("normalize", ["otsu", "percentile"])
def test_normalised_features_blockwise_lazy_and_saved(blobs2d, blobs_labels, tmp_path, normalize):
    """Normalised features (pixelforest-default: each image scaled by its own Otsu class means):
    invariant to brightness, block-wise == whole, lazily read == in memory, kept in the classifier file."""
    from dataclasses import replace

    import h5py

    from pixelforest.batch import predict_file

    spec = replace(pf.FeatureSpec.preset("pixelforest-default"), normalize=normalize)
    clf = pf.train(blobs2d, blobs_labels, features=spec, seed=0, trees=10)
    assert clf.spec.normalize == normalize
    whole = clf.predict(blobs2d)
    assert np.array_equal(clf.predict(blobs2d, block_shape=(20, 30)), whole)
    # a brighter, offset copy of the image gives almost the same prediction: float32 rounding of the
    # rescaled pixels may move a feature across a split, so a tree here and there votes otherwise
    diff = np.abs(clf.predict(blobs2d * 3 + 50) - whole)
    assert diff.max() <= 0.2 and (diff > 0).mean() < 0.005
    pf.save(clf, tmp_path / "m.pfc")
    back = pf.load(tmp_path / "m.pfc")
    assert back.spec.normalize == normalize and np.array_equal(back.predict(blobs2d), whole)
    with h5py.File(tmp_path / "img.h5", "w") as f:
        f["data"] = blobs2d
    predict_file(back, f"{tmp_path / 'img.h5'}/data", "probabilities", "hdf5", target=tmp_path / "o.h5",
                 block_shape=(25, 40))
    with h5py.File(tmp_path / "o.h5", "r") as f:
        assert np.array_equal(f["exported_data"][()], whole)


def test_constant_image_refused_for_training_but_predicted(blobs2d, blobs_labels):
    with pytest.raises(ValueError, match=r"image 0 is constant \(every pixel is 7.0\)"):
        pf.train(np.full_like(blobs2d, 7.0), blobs_labels, features="minimal")
    clf = pf.train(blobs2d, blobs_labels, features="minimal", seed=0, trees=5)
    p = clf.predict(np.zeros_like(blobs2d))  # an empty tile in a batch is still predicted
    assert p.shape == blobs2d.shape + (2,) and np.isfinite(p).all()


def test_default_features_fit_a_thin_stack(tmp_path):
    """The default preset chosen by name trains on a stack thinner than its largest scales need in
    3D (those scales are then computed per slice, and the classifier keeps that); an explicit
    feature set keeps ilastik's rule and says which scale is too large."""
    from pixelforest.features import DEFAULT_FEATURES, FeatureError, FeatureSpec

    rng = np.random.default_rng(0)
    vol = rng.random((20, 70, 64)).astype(np.float32)
    vol[:, 20:40, 20:40] += 2
    lab = np.zeros(vol.shape, np.uint8)
    lab[:, 25:35, 25:35] = 1
    lab[:, 50:60, 5:15] = 2
    clf = pf.train(vol, lab, features=DEFAULT_FEATURES, seed=0, trees=5)
    flags = dict(zip(clf.spec.scales, clf.spec.compute_in_2d, strict=True))
    assert flags == {0.5: False, 1.0: False, 2.0: False, 4.0: False, 8.0: True, 16.0: True}  # 29, 57 > 20 slices
    p = clf.predict(vol)
    assert p.shape == vol.shape + (2,) and p[:, 30, 30, 0].min() > 0.5
    pf.save(clf, tmp_path / "m.pfc")
    assert pf.load(tmp_path / "m.pfc").spec.compute_in_2d == clf.spec.compute_in_2d
    with pytest.raises(FeatureError, match="scale 8.0 .* needs at least 29 pixels along z but the image has z=20"):
        pf.train(vol, lab, features=FeatureSpec.preset(DEFAULT_FEATURES), seed=0, trees=5)
    flat = pf.train(vol[0], lab[0], features=DEFAULT_FEATURES, seed=0, trees=5)  # 2D: nothing to fit
    assert flat.spec == FeatureSpec.preset(DEFAULT_FEATURES)
