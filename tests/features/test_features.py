"""The feature bank against closed-form results, ilastik's naming and its rules."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

import pixelforest as pf
from pixelforest.features import (
    DEFAULT_SCALES,
    DERIVED_FEATURES,
    FEATURE_IDS,
    OWN_FEATURE_IDS,
    FeatureError,
    FeatureSpec,
    kernel,
    presmooth_sigma,
)


def single(fid: str, scale: float, **kw) -> FeatureSpec:
    return FeatureSpec.from_cells({fid: [scale]}, **kw)


def interior(a, m=20):
    """Pixels at least m away from every border (a: spatial axes only)."""
    return a[(slice(m, -m),) * a.ndim]


# ------------------------------------------------------------------ kernels


@pytest.mark.parametrize("sigma", [0.3, 0.7, 1.0, 2.5])
def test_kernel_moments(sigma):
    x = None
    for order in (0, 1, 2):
        k = kernel(sigma, order)
        r = (k.size - 1) // 2
        x = np.arange(-r, r + 1)
        assert r == max(1, math.floor(2 * sigma + 0.5))
        if order == 0:
            assert k.sum() == pytest.approx(1.0)
            assert np.allclose(k, k[::-1])
        elif order == 1:
            assert k.sum() == pytest.approx(0.0, abs=1e-12)
            assert np.sum(k * -x) == pytest.approx(1.0)
        else:
            assert k.sum() == pytest.approx(0.0, abs=1e-12)
            assert np.sum(k * x * x) / 2 == pytest.approx(1.0)


def test_presmoothing_sigma():
    assert presmooth_sigma(0.7) == 0.7
    assert presmooth_sigma(1.0) == 1.0
    assert presmooth_sigma(1.6) == pytest.approx(math.sqrt(1.6**2 - 1))
    assert presmooth_sigma(10.0) == pytest.approx(math.sqrt(99))


# ---------------------------------------------------------- closed forms


@pytest.mark.parametrize("scale", [0.7, 1.0, 1.6, 3.5])
@pytest.mark.parametrize("slope", [0.5, 3.0])
def test_gradient_magnitude_of_ramp_is_slope(scale, slope):
    yy, xx = np.mgrid[0:80, 0:90].astype(np.float32)
    img = slope * (0.6 * xx + 0.8 * yy)  # |grad| = slope
    g = pf.compute_features(img, single("GaussianGradientMagnitude", scale))[..., 0]
    assert np.allclose(interior(g), slope, rtol=1e-4)


def test_gradient_magnitude_of_ramp_3d():
    zz, yy, xx = np.mgrid[0:40, 0:40, 0:40].astype(np.float32)
    img = 2 * zz + 1 * yy - 2 * xx  # |grad| = 3
    g = pf.compute_features(img, single("GaussianGradientMagnitude", 1.6))[..., 0]
    assert np.allclose(interior(g, 15), 3.0, rtol=1e-4)


@pytest.mark.parametrize("scale", [0.7, 1.0, 3.5])
def test_hessian_eigenvalues_of_quadratic(scale):
    yy, xx = np.mgrid[-40:41, -45:46].astype(np.float64)
    a, b = 0.5, -0.25
    img = (a * xx**2 + b * yy**2).astype(np.float32)  # Hessian diag(2b, 2a) everywhere
    ev = pf.compute_features(img, single("HessianOfGaussianEigenvalues", scale))
    assert ev.shape[-1] == 2
    assert np.allclose(interior(ev[..., 0]), 2 * a, atol=2e-3)  # descending order
    assert np.allclose(interior(ev[..., 1]), 2 * b, atol=2e-3)
    log = pf.compute_features(img, single("LaplacianOfGaussian", scale))[..., 0]
    assert np.allclose(interior(log), 2 * a + 2 * b, atol=2e-3)


def test_hessian_eigenvalues_of_quadratic_3d():
    zz, yy, xx = np.mgrid[-20:21, -20:21, -20:21].astype(np.float64)
    img = (0.3 * xx**2 - 0.2 * yy**2 + 0.1 * zz**2 + 0.05 * xx * yy).astype(np.float32)
    ev = pf.compute_features(img, single("HessianOfGaussianEigenvalues", 1.0))
    want = np.sort(np.linalg.eigvalsh(np.array([[0.2, 0, 0], [0, -0.4, 0.05], [0, 0.05, 0.6]])))[::-1]
    got = np.stack([interior(ev[..., k], 10).ravel() for k in range(3)], axis=-1)
    assert np.allclose(got, want, atol=2e-3)


@pytest.mark.parametrize("scale", [1.6, 3.5])
def test_laplacian_of_gaussian_blob(scale):
    s0 = 4.0
    yy, xx = np.mgrid[-50:51, -50:51].astype(np.float64)
    img = np.exp(-(xx**2 + yy**2) / (2 * s0**2)).astype(np.float32)
    log = pf.compute_features(img, single("LaplacianOfGaussian", scale))[..., 0]
    # pre-smoothing + filter at 1.0 gives an effective scale s for s > 1
    var = s0**2 + scale**2
    expected_center = -2 * s0**2 / var**2
    # ilastik's filter stage truncates the sigma=1 derivative kernel at radius 2 (window 2),
    # which costs a few percent against the continuous closed form
    assert log[50, 50] == pytest.approx(expected_center, rel=0.05)
    # and the response changes sign at the radius where the smoothed blob's Laplacian does
    r0 = math.sqrt(2 * var)
    assert log[50, 50 + int(r0) - 1] < 0 < log[50, 50 + int(r0) + 2]


def test_smoothing_and_dog_of_constant():
    img = np.full((40, 50), 7.0, np.float32)
    spec = FeatureSpec.from_cells({"GaussianSmoothing": [0.3, 5.0], "DifferenceOfGaussians": [1.6]})
    f = pf.compute_features(img, spec)
    assert np.allclose(f[..., :2], 7.0, atol=1e-5)
    assert np.allclose(f[..., 2], 0.0, atol=1e-5)


@pytest.mark.parametrize("rule", ["fastfilters", "vigra"])
def test_structure_tensor_of_ramp(rule):
    yy, xx = np.mgrid[0:60, 0:70].astype(np.float32)
    img = 2.0 * xx
    ev = pf.compute_features(img, single("StructureTensorEigenvalues", 1.6, structure_tensor=rule))
    assert np.allclose(interior(ev[..., 0]), 4.0, rtol=1e-4)
    assert np.allclose(interior(ev[..., 1]), 0.0, atol=1e-4)


def test_mirror_border_without_edge_repeat():
    # one-pixel impulse at the border: mirroring (not repeating) keeps the kernel's shape
    img = np.zeros((21, 21), np.float32)
    img[10, 0] = 1.0
    f = pf.compute_features(img, single("GaussianSmoothing", 0.7))[..., 0]
    # symmetric about the border column: value at x=1 equals value the mirror would put at x=-1
    assert f[10, 1] > 0 and f[10, 0] > f[10, 1]
    assert f.sum() < 1.0 + 1e-6  # no mass created by repeating the edge pixel


# ----------------------------------------------------------- channel layout


def test_ilastik_default_channel_counts():
    spec = FeatureSpec.preset("ilastik-default")
    assert spec.n_features(1, 2) == 49
    assert spec.n_features(1, 3) == 7 + 3 * 6 + 2 * 6 * 3
    assert spec.n_features(3, 2) == 3 * 49
    assert len(spec.cells()) == 7 + 5 * 6
    f = pf.compute_features(np.random.default_rng(0).random((48, 50)).astype(np.float32))
    assert f.shape == (48, 50, 49) and f.dtype == np.float32


def test_names_order_and_format():
    names = pf.feature_names("ilastik-default", n_channels=1, ndim=2)
    assert names[0] == "Gaussian Smoothing (σ=0.3) in 2D"
    assert names[7] == "Laplacian of Gaussian (σ=0.7) in 2D"
    st = [n for n in names if n.startswith("Structure Tensor")]
    assert st[:2] == ["Structure Tensor Eigenvalues (σ=0.7) in 2D [0]",
                      "Structure Tensor Eigenvalues (σ=0.7) in 2D [1]"]
    names3 = pf.feature_names("minimal", n_channels=2, ndim=3)
    assert names3[:2] == ["Gaussian Smoothing (σ=0.3) in 3D [0]", "Gaussian Smoothing (σ=0.3) in 3D [1]"]
    hog = [n for n in names3 if n.startswith("Hessian")]
    assert len(hog) == 6 and hog[-1].endswith("in 3D [5]")


def test_multichannel_order_is_feature_scale_channel_eigen():
    rng = np.random.default_rng(1)
    img = rng.random((40, 44, 2)).astype(np.float32)
    spec = FeatureSpec.from_cells({"GaussianSmoothing": [1.0], "HessianOfGaussianEigenvalues": [0.7, 1.6]})
    both = pf.compute_features(img, spec, channel_axis=-1)
    c0 = pf.compute_features(img[..., 0], spec)
    c1 = pf.compute_features(img[..., 1], spec)
    # GS(1.0)[c0], GS(1.0)[c1], HoG(0.7)[c0 e0, c0 e1, c1 e0, c1 e1], HoG(1.6)[...]
    want = np.stack([c0[..., 0], c1[..., 0], c0[..., 1], c0[..., 2], c1[..., 1], c1[..., 2],
                     c0[..., 3], c0[..., 4], c1[..., 3], c1[..., 4]], axis=-1)
    assert np.array_equal(both, want)


def test_column_layout_is_the_one_of_names_and_of_the_output():
    """FeatureSpec.columns: each cell's columns, channel after channel, in the order of the names
    and of the computed features (a cell computed alone gives its columns of the whole bank)."""
    spec = FeatureSpec.from_cells({"GaussianSmoothing": [1.0], "StructureTensorEigenvalues": [0.7],
                                   "HessianOfGaussianEigenvalues": [0.7, 1.6], "TopHat": [1.0]})
    for n_channels, ndim in ((1, 2), (2, 2), (3, 3)):
        cols = spec.columns(n_channels, ndim)
        assert [(c.fid, c.si) for c in cols] == spec.cells()
        assert cols[0].start == 0 and all(a.stop == b.start for a, b in zip(cols[:-1], cols[1:], strict=True))
        assert cols[-1].stop == spec.n_features(n_channels, ndim) == len(spec.names(n_channels, ndim))
        for c in cols:
            assert c.per_channel == (3 if ndim == 3 and c.fid.endswith("Eigenvalues") else
                                     2 if c.fid.endswith("Eigenvalues") or c.fid == "TopHat" else 1)
            assert [c.channel_start(k) for k in range(n_channels)] == list(range(c.start, c.stop, c.per_channel))
            assert all(n.startswith(f"{pf.features.FEATURE_NAMES[c.fid]} (σ={spec.scales[c.si]}) in {ndim}D")
                       for n in spec.names(n_channels, ndim)[c.start:c.stop])
    img = np.random.default_rng(2).random((40, 44, 2)).astype(np.float32)
    whole = pf.compute_features(img, spec, channel_axis=-1)
    for c in spec.columns(2, 2):
        alone = pf.compute_features(img, FeatureSpec.from_cells({c.fid: [spec.scales[c.si]]}), channel_axis=-1)
        assert np.array_equal(whole[..., c.start:c.stop], alone)


def test_axes_orders_agree():
    rng = np.random.default_rng(2)
    img = rng.random((3, 30, 32)).astype(np.float32)  # cyx
    a = pf.compute_features(img, "minimal", axes="cyx")
    b = pf.compute_features(np.moveaxis(img, 0, -1), "minimal", channel_axis=-1)
    assert np.array_equal(a, b)
    t = pf.compute_features(np.stack([img[0], img[1]]), "minimal", axes="tyx")
    assert np.array_equal(t[1], pf.compute_features(img[1], "minimal"))


def test_compute_in_2d_runs_per_slice():
    rng = np.random.default_rng(3)
    vol = rng.random((5, 30, 31)).astype(np.float32)
    spec = FeatureSpec.from_cells({"GaussianSmoothing": [1.0], "StructureTensorEigenvalues": [1.6]},
                                  compute_in_2d=[True, True])
    f = pf.compute_features(vol, spec)
    assert f.shape == (5, 30, 31, 3)  # 2 eigenvalues per scale in 2D
    spec2d = FeatureSpec.from_cells({"GaussianSmoothing": [1.0], "StructureTensorEigenvalues": [1.6]})
    for z in range(5):
        assert np.array_equal(f[z], pf.compute_features(vol[z], spec2d))
    assert spec.names(1, 3)[0] == "Gaussian Smoothing (σ=1.0) in 2D"
    f3 = pf.compute_features(vol, spec.with_compute_in_2d([False, True]))
    assert f3.shape[-1] == 3 and not np.array_equal(f3[..., 0], f[..., 0])


def _plane_by_plane(image, spec, **kw):
    return pf.compute_features(image, spec, fused=False, **kw)


SMALL = (0.3, 0.7, 1.0, 1.6)


@pytest.mark.parametrize("case", [
    # (shape, axes, spec): several blocks of rows (64 per block), borders, channels, time, subsets
    ((300, 217), "yx", "ilastik-default"),
    ((150, 96, 2), "yxc", "ilastik-default"),
    ((3, 90, 70), "tyx", "pixelforest-default"),
    ((700, 650), "yx", "pixelforest-default"),  # hole filling in 4 tiles, more than the threads
    ((9, 12), "yx", FeatureSpec.preset("ilastik-default", scales=SMALL)),
    ((5, 300), "yx", FeatureSpec.preset("ilastik-default", scales=(0.3, 0.7, 1.0))),
    ((130, 80), "yx", FeatureSpec.from_cells({"StructureTensorEigenvalues": [0.7, 3.5]}, structure_tensor="vigra")),
    ((130, 80), "yx", FeatureSpec.from_cells({"DifferenceOfGaussians": [1.6], "LaplacianOfGaussian": [0.7]})),
    ((70, 66), "yx", FeatureSpec.from_cells({"GaussianGradientMagnitude": [1.0], "GaussianSmoothing": [5.0]})),
    ((4, 40, 50), "zyx", FeatureSpec.from_cells({"HessianOfGaussianEigenvalues": [1.0, 1.6]},
                                                  compute_in_2d=[True, True])),
])
def test_row_fused_bank_equals_plane_by_plane(case):
    """The row-fused 2D bank (pixelforest.features._kernels.bank2d) gives bit for bit the plane-by-plane bank's
    output (the one the 3D scales use), whatever the image's size, channels and selected cells."""
    shape, axes, spec = case
    rng = np.random.default_rng(len(shape) * 100 + shape[0])
    img = (rng.random(shape) * 200).astype(np.float32)
    img[..., :3] = 0  # flat and zero patches: signed zeros and degenerate eigenvalues
    fused = pf.compute_features(img, spec, axes=axes)
    ref = _plane_by_plane(img, spec, axes=axes)
    assert fused.shape == ref.shape and fused.dtype == np.float32
    assert np.array_equal(fused, ref)
    assert np.array_equal(np.signbit(fused), np.signbit(ref))


# ------------------------------------------------------------ validation


def test_invalid_scale_for_feature():
    with pytest.raises(FeatureError, match="Laplacian of Gaussian at scale 0.3 is invalid"):
        FeatureSpec.from_cells({"LaplacianOfGaussian": [0.3]})
    with pytest.raises(FeatureError, match="positive"):
        FeatureSpec.from_cells({"GaussianSmoothing": [-1.0]})
    with pytest.raises(FeatureError, match="no feature selected"):
        FeatureSpec((1.0,), ((False,),) * 6)


def test_scale_too_large_for_image():
    img = np.zeros((30, 200), np.float32)
    with pytest.raises(FeatureError, match=r"scale 10.0 .* needs at least 36 pixels along y .* y=30"):
        pf.compute_features(img, "ilastik-default")


def test_nan_refused():
    img = np.zeros((20, 20), np.float32)
    img[3, 3] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        pf.compute_features(img, "minimal")


def test_ambiguous_axes_error():
    with pytest.raises(ValueError, match="pass axes="):
        pf.compute_features(np.zeros((2, 2, 20, 20)), "minimal")


# ------------------------------------------------------- spec construction


def test_from_ilastik_selection_matrix():
    matrix = np.zeros((6, 7), bool)
    matrix[0, :] = True
    matrix[5, [1, 3]] = True
    ids = [b"GaussianSmoothing", b"LaplacianOfGaussian", b"GaussianGradientMagnitude",
           b"DifferenceOfGaussians", b"StructureTensorEigenvalues", b"HessianOfGaussianEigenvalues"]
    spec = FeatureSpec.from_matrix(ids, DEFAULT_SCALES, matrix)
    assert spec.cells()[:7] == [("GaussianSmoothing", i) for i in range(7)]
    assert spec.cells()[7:] == [("HessianOfGaussianEigenvalues", 1), ("HessianOfGaussianEigenvalues", 3)]
    # ids in another order map by name
    perm = [5, 0, 1, 2, 3, 4]
    spec2 = FeatureSpec.from_matrix([ids[i] for i in perm], DEFAULT_SCALES, matrix[perm])
    assert spec2 == spec


def test_json_round_trip_and_custom_scales(tmp_path):
    spec = FeatureSpec.from_cells({"GaussianSmoothing": [0.3, 2.25], "HessianOfGaussianEigenvalues": [2.25]},
                                  compute_in_2d=[True, False])
    p = tmp_path / "f.json"
    p.write_text(spec.to_json())
    back = pf.features.resolve_spec(str(p))
    assert back == spec
    assert "σ=2.25" in back.names()[1]
    d = json.loads(spec.to_json())
    assert d["features"]["GaussianSmoothing"] == [0.3, 2.25]
    assert pf.features.resolve_spec({"features": [["GaussianSmoothing", 1.0]]}).cells() == [("GaussianSmoothing", 0)]


def test_bad_feature_json(tmp_path):
    p = tmp_path / "bad.json"
    p.write_text("{not json")
    with pytest.raises(FeatureError, match="bad.json: feature JSON is not valid JSON"):
        pf.features.resolve_spec(str(p))
    with pytest.raises(FeatureError, match="unknown feature ids"):
        pf.features.resolve_spec({"features": {"Sobel": [1.0]}})
    with pytest.raises(FeatureError, match="unknown features 'fancy'"):
        pf.features.resolve_spec("fancy")


def test_presets():
    assert set(FeatureSpec.preset("ilastik-default").scales) == set(DEFAULT_SCALES)
    m = FeatureSpec.preset("minimal")
    assert 0 < m.n_features(1, 2) < 20
    assert {fid for fid, _ in m.cells()} <= set(FEATURE_IDS)
    d = FeatureSpec.preset("pixelforest-default")
    assert d.normalize == "otsu" and d.scales == (0.5, 1.0, 2.0, 4.0, 8.0, 16.0)
    assert d.names(1, 2)[0] == "Gaussian Smoothing (σ=0.5) in 2D"
    # smoothing at 6 scales, Hessian eigenvalues, black + white top-hats and dark hole filling at 5 (none at 0.5)
    assert d.n_features(1, 2) == 6 + 2 * 5 + 2 * 5 + 5 and d.n_features(1, 3) == 6 + 3 * 5 + 2 * 5 + 5
    assert d.names(1, 2)[-2:] == ["Dark Hole Filling (σ=8.0) in 2D", "Dark Hole Filling (σ=16.0) in 2D"]
    assert FeatureSpec.preset("pixelforest-default", scales=(1.0, 3.0)).n_features(1, 2) == 2 + 2 * 2 + 2 * 2 + 2
    assert set(OWN_FEATURE_IDS).isdisjoint(fid for fid, _ in FeatureSpec.preset("ilastik-default").cells())
    # ilastik's 6-row selection matrix is still accepted, and one of the 8 rows before Dark Hole Filling
    assert FeatureSpec((1.0,), ((True,),) + ((False,),) * 5).cells() == [("GaussianSmoothing", 0)]
    assert FeatureSpec((1.0,), ((False,),) * 7 + ((True,),)).cells() == [("HoleFilling", 0)]
    with pytest.raises(FeatureError, match="selection must be a 9 x 1 matrix"):
        FeatureSpec((1.0,), ((False,),) * 10)


def test_halo_rule():
    spec = FeatureSpec.preset("ilastik-default")
    assert spec.halo() == math.ceil(3.5 * 10.0) + 3
    assert FeatureSpec.from_cells({"GaussianSmoothing": [0.3]}).halo() == math.ceil(3.5 * 0.7) + 3
    # hole filling needs its reach, ceil(4 s), where that is more than the filters' halo
    assert FeatureSpec.from_cells({"GaussianSmoothing": [1.0], "HoleFilling": [2.0, 16.0]}).halo() == 64
    assert FeatureSpec.from_cells({"GaussianSmoothing": [16.0], "HoleFilling": [1.0]}).halo() == math.ceil(3.5 * 16) + 3


# ---------------------------------------------- ilastik's own channel names


@pytest.mark.parametrize("case,n_channels,ndim", [("2d", 1, 2), ("3d", 1, 3), ("2d3c", 3, 2), ("5t2d1c", 1, 2)])
def test_names_match_ilastik_projects(ilastik_tests, case, n_channels, ndim):
    import h5py

    from pixelforest.io.ilp import IlastikProject

    with IlastikProject(ilastik_tests / f"PixelClassification{case}.ilp") as ilp:
        spec = ilp.feature_spec()
    with h5py.File(ilastik_tests / f"PixelClassification{case}.ilp", "r") as f:
        theirs = [n.decode() for n in f["PixelClassification/ClassifierForests/feature_names"][()]]
    # ilastik 1.2 names lack the " in 2D/3D" part that newer ilastik versions add
    ours = [n.replace(f" in {ndim}D", "") for n in spec.names(n_channels, ndim)]
    assert ours == theirs


def test_jobs_run_once_each_and_raise_the_first_error():
    """The job list of a feature bank (pixelforest.features._kernels.tasks): every job runs exactly once whatever the
    threads, calls from several threads at once share the pool and all finish, and a job's
    exception reaches the caller (the jobs not yet started are dropped)."""
    import threading

    from pixelforest.features._kernels.tasks import run_jobs

    for workers in (1, 2, 5):
        counts = [0] * 50
        lock = threading.Lock()

        def job(i):
            with lock:  # noqa: B023 - run within this iteration
                counts[i] += 1  # noqa: B023
        run_jobs([lambda i=i: job(i) for i in range(50)], workers)
        assert counts == [1] * 50
    results = []

    def caller(k):
        hits = []
        run_jobs([lambda j=j: hits.append(j) for j in range(20)], 3)
        results.append((k, sorted(hits)))
    callers = [threading.Thread(target=caller, args=(k,)) for k in range(4)]
    for t in callers:
        t.start()
    for t in callers:
        t.join()
    assert sorted(results) == [(k, list(range(20))) for k in range(4)]

    def bad():
        raise ValueError("job 3 failed")
    with pytest.raises(ValueError, match="job 3 failed"):
        run_jobs([lambda: None, bad, lambda: None], 2)


def test_threads_at_once_under_numbas_workqueue_layer(tmp_path):
    """Where numba has neither OpenMP nor TBB it falls back to its workqueue layer, which aborts the
    process when two threads launch parallel kernels at once (Dask threads, the Fiji worker): the
    compiled kernels are then launched one at a time, and predictions from four threads are right."""
    import os
    import subprocess
    import sys

    script = tmp_path / "threads.py"
    script.write_text("""
import threading
import numpy as np
import numba
import pixelforest as pf
rng = np.random.default_rng(0)
img = rng.random((200, 220)).astype(np.float32)
lab = np.zeros(img.shape, np.uint8)
lab[:8] = 1
lab[-8:] = 2
clf = pf.train(img, lab, features="minimal", trees=10, seed=0)
ref = clf.predict(img)
bad = []
def work():
    for _ in range(4):
        if not np.array_equal(clf.predict(img), ref):
            bad.append(1)
threads = [threading.Thread(target=work) for _ in range(4)]
for t in threads:
    t.start()
for t in threads:
    t.join()
print("LAYER", numba.threading_layer(), "BAD", len(bad))
""")
    env = dict(os.environ, NUMBA_THREADING_LAYER="workqueue")
    r = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "LAYER workqueue BAD 0" in r.stdout


@pytest.mark.parametrize("taps", [[0.1, 0.5, 0.3, 0.2, 0.7], [1.0, 2.0, 1.0], [-1.0, 0.0, 1.0], [0.2] * 9])
def test_compiled_correlation_is_scipys_mirror_correlation(taps):
    """The compiled 1-D correlation (asymmetric, symmetric and antisymmetric kernels, every axis)
    against scipy.ndimage.correlate1d with mode='mirror' in float64."""
    from scipy import ndimage

    from pixelforest.features._kernels.filters import correlate1d

    d = np.random.default_rng(0).random((3, 17, 23)).astype(np.float32)
    k = np.asarray(taps)
    for ax in range(3):
        ref = ndimage.correlate1d(d.astype(np.float64), k, axis=ax, mode="mirror")
        assert np.allclose(correlate1d(d, k, ax), ref, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("size", [(1, 1, 37, 53), (1, 9, 20, 70), (2, 3, 5, 130), (1, 1, 1, 7), (1, 1, 3, 1)])
def test_compiled_min_max_filters_are_scipys(size):
    """The compiled running max/min (van Herk / Gil-Werman across rows, doubling along them) equals
    scipy's flat filters with mode 'mirror', for box widths on and off the doubling's powers of
    two, also where the box is wider than the image (the mirror folds several times)."""
    from scipy import ndimage

    from pixelforest.features._kernels.filters import closing, minmax_filter, opening

    d = np.random.default_rng(1).random(size).astype(np.float32)
    axes = (1, 2, 3) if size[1] > 3 else (2, 3)
    for r in (1, 2, 3, 5, 8, 16):
        box = [2 * r + 1 if ax in axes else 1 for ax in range(4)]
        assert np.array_equal(minmax_filter(d, r, axes, True), ndimage.maximum_filter(d, size=box, mode="mirror"))
        assert np.array_equal(minmax_filter(d, r, axes, False), ndimage.minimum_filter(d, size=box, mode="mirror"))
        # closing and opening: the max and min passes along x run as one
        assert np.array_equal(closing(d, r, axes), ndimage.grey_closing(d, size=box, mode="mirror"))
        assert np.array_equal(opening(d, r, axes), ndimage.grey_opening(d, size=box, mode="mirror"))


def test_tophat_feature():
    """Top-hat at scale s: closing - image and image - opening with a (2 ceil(s) + 1) box (cube in 3D).
    A thin dark line stands out in the black top-hat; the inside of a wide dark disk does not."""
    from scipy import ndimage

    img = np.full((80, 90), 10.0, np.float32)
    img[:, 30:33] = 2.0  # a dark line 3 px wide
    yy, xx = np.mgrid[:80, :90]
    img[(yy - 40) ** 2 + (xx - 65) ** 2 <= 12 ** 2] = 2.0  # a dark disk, radius 12
    img[10, 10] = 20.0  # a bright speck
    spec = single("TopHat", 3.5)
    assert spec.names() == ["Top-Hat (σ=3.5) in 2D [0]", "Top-Hat (σ=3.5) in 2D [1]"]
    f = pf.compute_features(img, spec)
    assert f.shape == (80, 90, 2)
    box = (9, 9)  # half-width ceil(3.5) = 4
    assert np.array_equal(f[..., 0], ndimage.grey_closing(img, size=box, mode="mirror") - img)
    assert np.array_equal(f[..., 1], img - ndimage.grey_opening(img, size=box, mode="mirror"))
    assert f[40, 31, 0] == 8.0 and f[40, 65, 0] == 0.0 and f[40, 10, 0] == 0.0
    assert f[10, 10, 1] == 10.0 and f[40, 31, 1] == 0.0
    # 3D: a cube; per slice with the 2D flag
    vol = np.random.default_rng(2).random((12, 20, 24)).astype(np.float32)
    f3 = pf.compute_features(vol, single("TopHat", 2.0))
    assert np.allclose(f3[..., 0], ndimage.grey_closing(vol, size=(5, 5, 5), mode="mirror") - vol)
    f2 = pf.compute_features(vol, single("TopHat", 2.0, compute_in_2d=(True,)))
    assert np.allclose(f2[..., 1], vol - ndimage.grey_opening(vol, size=(1, 5, 5), mode="mirror"))
    # two channels: black, white of channel 0, then of channel 1
    two = np.stack([img, img[::-1]], -1)
    f = pf.compute_features(two, spec, channel_axis=-1)
    assert np.array_equal(f[..., 2], ndimage.grey_closing(img[::-1], size=box, mode="mirror") - img[::-1])
    with pytest.raises(FeatureError, match="Top-Hat at scale 0.7 is invalid: it needs a scale >= 1.0"):
        single("TopHat", 0.7)


def test_tophat_blockwise_equals_whole_3d():
    rng = np.random.default_rng(3)
    vol = rng.normal(size=(20, 36, 40)).astype(np.float32)
    vol[6:14, 8:28, 8:12] -= 3
    lab = np.zeros(vol.shape, np.uint8)
    lab[8:12, 12:20, 9:11] = 1
    lab[2:4, 2:6, 2:38] = 2
    spec = FeatureSpec.from_cells({"GaussianSmoothing": [1.0], "TopHat": [1.0, 3.0]})
    clf = pf.train(vol, lab, features=spec, seed=0, trees=10)
    whole = clf.predict(vol, "features", block_shape=vol.shape)
    assert np.array_equal(clf.predict(vol, "features", block_shape=(7, 11, 13)), whole)
    assert np.array_equal(clf.predict(vol, block_shape=(7, 11, 13)), clf.predict(vol, block_shape=vol.shape))


def _hole_filling_by_search(a: np.ndarray, reach: int, dark: bool) -> np.ndarray:
    """The definition, one pixel at a time: the lowest level at which a pixel connects (4- or
    6-connectivity) through pixels at or below it to a pixel ``reach`` away (Chebyshev) or to the
    border (z only in 3D), by a best-first search over path maxima; ``dark=False``: the dual."""
    import heapq

    g = a if dark else -a
    Z, Y, X = g.shape
    out = np.empty_like(g)
    steps = [(0, 0, 1), (0, 0, -1), (0, 1, 0), (0, -1, 0)] + ([(1, 0, 0), (-1, 0, 0)] if Z > 1 else [])
    for p in np.ndindex(g.shape):
        best = {p: g[p]}
        heap = [(g[p], p)]
        while heap:
            v, (z, y, x) = heapq.heappop(heap)
            if v > best[(z, y, x)]:
                continue
            on_border = y in (0, Y - 1) or x in (0, X - 1) or (Z > 1 and z in (0, Z - 1))
            if on_border or max(abs(y - p[1]), abs(x - p[2]), abs(z - p[0])) >= reach:
                out[p] = v
                break
            for dz, dy, dx in steps:
                q = (z + dz, y + dy, x + dx)
                if 0 <= q[0] < Z and 0 <= q[1] < Y and 0 <= q[2] < X and max(v, g[q]) < best.get(q, np.inf):
                    best[q] = max(v, g[q])
                    heapq.heappush(heap, (best[q], q))
    return out if dark else -out


def test_hole_filling_is_its_definition():
    """The component-tree computation equals the definition (a search per pixel) in 2D and 3D, on
    few grey levels (big flat zones) and many, and on images one or two pixels thin."""
    rng = np.random.default_rng(7)
    for shape, levels in (((1, 23, 19), 4), ((1, 31, 29), 1000), ((9, 11, 12), 3), ((10, 9, 11), 1000),
                          ((1, 1, 7), 5), ((1, 30, 2), 1000)):
        a = rng.integers(0, levels, shape).astype(np.float32) - levels // 2
        is2d = shape[0] == 1
        scales = [1.0, 2.0, 3.0] if is2d else [1.0]  # reaches 4, 8, 12
        f = pf.compute_features(a[0] if is2d else a, FeatureSpec.from_cells({"HoleFilling": scales}))
        f = f.reshape(a.shape + (-1,))
        reaches = (4, 8, 12) if is2d else (4,)
        for j, r in enumerate(reaches):
            assert np.array_equal(f[..., 2 * j], _hole_filling_by_search(a, r, True)), (shape, levels, r)
            assert np.array_equal(f[..., 2 * j + 1], _hole_filling_by_search(a, r, False)), (shape, levels, r)


def test_hole_filling_feature():
    """A dark speck, a dark disk narrower than the reach and a bright speck are filled to their
    surroundings; a dark line that runs on (a membrane) keeps its values. Names, 3D per slice,
    two channels, and the smallest scale."""
    img = np.full((80, 90), 10.0, np.float32)
    img[:, 30:33] = 2.0  # a dark line 3 px wide, across the image
    yy, xx = np.mgrid[:80, :90]
    img[(yy - 40) ** 2 + (xx - 65) ** 2 <= 6 ** 2] = 1.0  # a dark disk, radius 6
    img[20, 50] = 0.0  # a dark speck
    img[60, 10] = 20.0  # a bright speck
    spec = FeatureSpec.from_cells({"HoleFilling": [1.0, 2.0]})  # reaches 4 and 8
    assert spec.names() == ["Hole Filling (σ=1.0) in 2D [0]", "Hole Filling (σ=1.0) in 2D [1]",
                            "Hole Filling (σ=2.0) in 2D [0]", "Hole Filling (σ=2.0) in 2D [1]"]
    f = pf.compute_features(img, spec)
    assert f.shape == (80, 90, 4)
    assert f[20, 50, 0] == 10.0 and f[60, 10, 1] == 10.0  # specks gone at both reaches
    assert f[40, 65, 0] == 1.0 and f[40, 65, 2] == 10.0  # the disk (radius 6) is filled at reach 8 only
    assert np.array_equal(f[:, 30:33, 2], img[:, 30:33])  # the line is kept
    assert np.array_equal(f[..., 1], np.minimum(img, 10.0))  # nothing bright but the speck
    # 3D per slice equals each slice's 2D values; two channels: dark, bright of channel 0, then 1
    vol = np.random.default_rng(2).random((3, 20, 24)).astype(np.float32)
    f2 = pf.compute_features(vol, single("HoleFilling", 2.0, compute_in_2d=(True,)))
    assert np.array_equal(f2[1], pf.compute_features(vol[1], single("HoleFilling", 2.0)))
    two = np.stack([img, img[::-1]], -1)
    f = pf.compute_features(two, single("HoleFilling", 2.0), channel_axis=-1)
    assert np.array_equal(f[..., 2], pf.compute_features(img[::-1], single("HoleFilling", 2.0))[..., 0])
    with pytest.raises(FeatureError, match="Hole Filling at scale 0.5 is invalid: it needs a scale >= 1.0"):
        single("HoleFilling", 0.5)


def test_dark_hole_filling_is_hole_fillings_dark_value():
    """Dark Hole Filling is Hole Filling's first (dark) column alone, one column per scale: in 2D,
    in 3D and per slice, with two channels, beside Hole Filling at the same and other scales (the
    reaches of a plane share their tree), and block-wise as whole."""
    from scipy import ndimage

    rng = np.random.default_rng(11)
    img = (ndimage.gaussian_filter(rng.random((90, 110)), 2) * 255).astype(np.float32)
    vol = (ndimage.gaussian_filter(rng.random((12, 50, 60)), 2) * 255).astype(np.float32)
    spec = FeatureSpec.from_cells({"DarkHoleFilling": [1.0, 2.0]})
    assert spec.names() == ["Dark Hole Filling (σ=1.0) in 2D", "Dark Hole Filling (σ=2.0) in 2D"]
    assert spec.names(ndim=3) == ["Dark Hole Filling (σ=1.0) in 3D", "Dark Hole Filling (σ=2.0) in 3D"]
    both = FeatureSpec.from_cells({"HoleFilling": [1.0, 2.0, 4.0]}, normalize="otsu")
    mixed = FeatureSpec.from_cells({"HoleFilling": [2.0], "DarkHoleFilling": [1.0, 2.0, 4.0]}, normalize="otsu")
    for data, c2 in ((img, None), (vol, None), (vol, (True, False, True))):
        ref = pf.compute_features(data, both.with_compute_in_2d(c2))
        f = pf.compute_features(data, mixed.with_compute_in_2d(c2))
        assert f.shape[-1] == 5
        assert np.array_equal(f[..., :2], ref[..., 2:4])  # Hole Filling at 2, dark and bright
        assert np.array_equal(f[..., 2:], ref[..., 0::2])  # Dark Hole Filling at 1, 2, 4: the dark ones
        assert DERIVED_FEATURES["DarkHoleFilling"] == ("HoleFilling", slice(0, None, 2))  # (as the spec says)
    two = np.stack([img, img[::-1]], -1)
    f = pf.compute_features(two, single("DarkHoleFilling", 2.0), channel_axis=-1)
    assert np.array_equal(f[..., 1], pf.compute_features(img[::-1], single("HoleFilling", 2.0))[..., 0])
    assert FeatureSpec.from_cells({"DarkHoleFilling": [1.0, 8.0]}).halo() == 32  # its largest reach, 4 x 8
    lab = np.zeros(img.shape, np.uint8)
    lab[20:30, 20:40], lab[60:70, 50:90] = 1, 2
    clf = pf.train(img, lab, features=mixed, seed=0, trees=5)
    assert np.array_equal(clf.predict(img, "features", block_shape=(31, 47)), clf.predict(img, "features"))
    with pytest.raises(FeatureError, match="Dark Hole Filling at scale 0.5 is invalid: it needs a scale >= 1.0"):
        single("DarkHoleFilling", 0.5)


def test_hole_filling_kernel_leaves_unwanted_columns():
    """The kernel computes only the columns asked for (-1: none), and a polarity with none not at
    all: the columns it was not asked for keep what they held."""
    from pixelforest.features._kernels.holes import hole_filling, hole_filling_jobs

    img = np.random.default_rng(3).normal(size=(1, 60, 70)).astype(np.float32)
    full = np.zeros((img.size, 6), np.float32)
    hole_filling(img, [4, 8, 8], full, [0, 2, 4], [1, 3, 5])
    assert np.array_equal(full[:, 2], full[:, 4]) and np.array_equal(full[:, 3], full[:, 5])  # a reach twice
    part = np.full((img.size, 6), 7.0, np.float32)
    hole_filling(img, [4, 8, 8], part, [0, -1, 4], [-1, 3, -1])
    assert np.array_equal(part[:, [0, 3, 4]], full[:, [0, 3, 4]]) and (part[:, [1, 2, 5]] == 7.0).all()
    assert len(hole_filling_jobs(img, [4, 8], part, [0, 2], [-1, -1])) == 1  # one tile, the dark polarity
    with pytest.raises(ValueError, match="reaches must be ascending"):
        hole_filling(img, [8, 4], part, [0, 2], [1, 3])


@pytest.mark.parametrize("shape, block", [((150, 170), (40, 57)), ((14, 60, 64), (5, 23, 29))])
def test_hole_filling_blockwise_equals_whole(shape, block):
    """Hole filling depends only on the window of its reach: blocks with the spec's halo give the
    whole image's features and predictions bit for bit (2D, and 3D in 3D and per slice)."""
    rng = np.random.default_rng(4)
    img = rng.normal(size=shape).astype(np.float32)
    img[..., 20:80, 30:34] -= 3  # a dark line
    lab = np.zeros(shape, np.uint8)
    lab[..., 30:40, 31:33] = 1
    lab[..., 5:8, 5:50] = 2
    cells = {"GaussianSmoothing": [1.0], "HoleFilling": [1.0, 2.5]}
    flags = [None] if len(shape) == 2 else [None, (True, False)]
    for c2 in flags:
        clf = pf.train(img, lab, features=FeatureSpec.from_cells(cells, compute_in_2d=c2), seed=0, trees=10)
        whole = clf.predict(img, "features", block_shape=shape)
        assert np.array_equal(clf.predict(img, "features", block_shape=block), whole)
        assert np.array_equal(clf.predict(img, block_shape=block), clf.predict(img, block_shape=shape))


def test_hole_filling_tiles_equal_one_tile():
    """The compiled filter works tile by tile (a halo of the largest reach around each): small
    tiles give what one tile over the whole image gives, in 2D and 3D, smooth or few-levelled
    (with more threads than tiles, one tile's two polarities run as two jobs)."""
    from pixelforest.features._kernels.holes import hole_filling, tile_cores

    rng = np.random.default_rng(5)
    from scipy import ndimage

    for shape in ((1, 200, 230), (3, 150, 140)):
        for img in (ndimage.gaussian_filter(rng.normal(size=shape), (0, 2, 2)).astype(np.float32),
                    rng.integers(0, 6, shape).astype(np.float32)):
            reaches = [4, 8, 13]
            assert len(tile_cores(*shape, 13, tile_pixels=1)) > 1
            outs = []
            for tile_pixels in (1, 10**9):
                out = np.zeros((img.size, 6), np.float32)
                hole_filling(img, reaches, out, [0, 2, 4], [1, 3, 5], tile_pixels=tile_pixels)
                outs.append(out)
            assert np.array_equal(outs[0], outs[1])
            assert (outs[0][:, 0] >= img.ravel()).all() and (outs[0][:, 1] <= img.ravel()).all()
            # the bright polarity at the smallest reach alone: its tiles' windows have its own halo
            for tile_pixels in (1, 10**9):
                part = np.zeros((img.size, 6), np.float32)
                hole_filling(img, reaches, part, [0, 2, 4], [1, -1, -1], tile_pixels=tile_pixels)
                assert np.array_equal(part[:, [0, 1, 2, 4]], outs[1][:, [0, 1, 2, 4]])


def test_hole_filling_of_many_levels_equals_few():
    """An image of more distinct values than are ranked by hashing (each tile's values are sorted
    instead) gives, inside every crop, what the crop gives on its own, where the crop has few
    enough values to be hashed: both rankings build the same trees."""
    from pixelforest.features._kernels.holes import HASHED_LEVELS, hole_filling

    img = np.random.default_rng(8).normal(size=(1, 300, 310)).astype(np.float32)
    img[0, 100:140, 100:104] -= 4.0  # a dark line, and a dark speck
    img[0, 200, 50] -= 6.0
    assert np.unique(img).size > HASHED_LEVELS
    reaches, m = [4, 8, 13], 13
    whole = np.zeros((img.size, 6), np.float32)
    hole_filling(img, reaches, whole, [0, 2, 4], [1, 3, 5])
    whole = whole.reshape(300, 310, 6)
    for y0, y1, x0, x1 in ((0, 150, 0, 200), (60, 260, 80, 250), (150, 300, 10, 310)):
        crop = np.ascontiguousarray(img[:, y0:y1, x0:x1])
        assert np.unique(crop).size <= HASHED_LEVELS
        out = np.zeros((crop.size, 6), np.float32)
        hole_filling(crop, reaches, out, [0, 2, 4], [1, 3, 5])
        out = out.reshape(y1 - y0, x1 - x0, 6)
        # away from the crop's cut edges (the image's own edges stay edges)
        iy = slice(0 if y0 == 0 else m, None if y1 == 300 else -m)
        ix = slice(0 if x0 == 0 else m, None if x1 == 310 else -m)
        assert np.array_equal(out[iy, ix], whole[y0:y1, x0:x1][iy, ix])


def test_compute_canonical_into_a_given_output():
    """compute_canonical fills a given C-contiguous float32 ``out`` in place (the compiled banks
    write pixel-major rows into it) and refuses any other with the shape it needs."""
    from pixelforest.features import compute_canonical

    img = np.random.default_rng(6).random((1, 6, 40, 50, 1)).astype(np.float32)
    spec = FeatureSpec.from_cells({"GaussianSmoothing": [1.0], "TopHat": [1.0, 2.0], "HoleFilling": [1.0, 2.0]},
                                  compute_in_2d=(True, False))
    n = spec.n_features(1, 3)
    out = np.full(img.shape[:4] + (n,), np.nan, np.float32)
    assert compute_canonical(img, spec, out=out) is out
    assert np.array_equal(out, compute_canonical(img, spec))
    wide = np.zeros(img.shape[:4] + (n + 3,), np.float32)
    with pytest.raises(ValueError, match=r"out must be a C-contiguous float32 array of shape \(1, 6, 40, 50, 9\), "
                                         r"got float32 \(1, 6, 40, 50, 9\), strided"):
        compute_canonical(img, spec, out=wide[..., 1:n + 1])
    with pytest.raises(ValueError, match="out must be"):
        compute_canonical(img, spec, out=np.zeros(img.shape[:4] + (n,), np.float64))


def test_otsu_statistics_of_integer_images_from_counts():
    """Otsu's statistics of an 8- or 16-bit image come from its value counts (a bin count, not a
    float histogram of every pixel): the very numbers the float path gives, for dark and bright
    images, signed ones, two-valued and constant channels, and a channel after a constant one."""
    from pixelforest.features.normalize import image_stats, otsu_class_means

    rng = np.random.default_rng(9)
    spec = FeatureSpec.preset("pixelforest-default")
    images = [rng.integers(0, 256, (1, 1, 90, 70, 1)).astype(np.uint8),
              (rng.gamma(2.0, 300.0, (1, 2, 40, 50, 2)) + 7).astype(np.uint16),
              rng.integers(-3000, 500, (1, 1, 60, 60, 1)).astype(np.int16),
              np.stack([np.full((1, 1, 20, 20), 5, np.uint8), (rng.random((1, 1, 20, 20)) > 0.7) * np.uint8(200)], -1)]
    for img in images:
        got = image_stats(img, spec)
        sample = img.reshape(-1, img.shape[-1]).astype(np.float64)
        for c in range(img.shape[-1]):
            lo, hi = otsu_class_means(sample[:, c])
            assert got[c, 0] == lo and got[c, 1] == (hi if hi > lo else lo + 1.0), (img.dtype, c)
    assert np.array_equal(image_stats(images[1], spec), image_stats(images[1].astype(np.float32), spec))


def _env_without_a_vector_choice() -> dict:
    """This process's environment without a numba CPU choice or pixelforest's vector switch."""
    import os

    return {k: v for k, v in os.environ.items() if not k.startswith(("NUMBA_CPU", "PIXELFOREST_WIDE"))}


def test_wide_vectors_where_the_cpu_has_them_unless_told_not_to():
    """On a CPU with AVX-512 the compiled kernels may use 512-bit vectors (LLVM would prefer 256-bit
    ones); not with PIXELFOREST_WIDE_VECTORS=0, nor when the user chose numba's CPU. (That the
    values are the same bit for bit either way: the slow test below.)"""
    import subprocess
    import sys

    probe = ("import pixelforest, numba; from numba.core.registry import cpu_target; "
             "from numba.core.codegen import get_host_cpu_features as h; "
             "print(cpu_target.target_context.codegen().magic_tuple()[2].endswith(',-prefer-256-bit'), "
             "'+avx512f' in h().split(','))")

    def wide(**env):
        out = subprocess.run([sys.executable, "-c", probe], env={**_env_without_a_vector_choice(), **env},
                             capture_output=True, text=True, check=True).stdout.split()
        return out[0] == "True", out[1] == "True"

    used, avx512 = wide()
    assert used == avx512
    assert wide(PIXELFOREST_WIDE_VECTORS="0")[0] is False
    assert wide(NUMBA_CPU_NAME="generic")[0] is False
    # another numba-based library first: numba's code generator exists, so nothing is changed
    # (a setting made then would be reported but not used)
    first = ("import numba, os; numba.njit(lambda x: x); import pixelforest; "
             "print(numba.config.CPU_FEATURES is None)")
    assert subprocess.run([sys.executable, "-c", first], env=_env_without_a_vector_choice(), capture_output=True,
                          text=True, check=True).stdout.split() == ["True"]


_HASH_FEATURES = """
import hashlib, numpy as np, pixelforest as pf
rng = np.random.default_rng(0)
img = (rng.random((96, 112)) * 255).astype(np.uint8)
vol = (rng.random((24, 40, 48)) * 255).astype(np.uint8)
h = hashlib.sha256()
for im, preset in ((img, "ilastik-default"), (img, "pixelforest-default"), (vol, "minimal")):
    h.update(np.ascontiguousarray(pf.compute_features(im, preset)).tobytes())
print(h.hexdigest())
"""


@pytest.mark.slow
def test_wide_vectors_give_the_same_features_bit_for_bit():
    """The three presets (2D, and a 3D stack) computed with 256-bit and with 512-bit vectors: the
    same bytes. (Slow: the 256-bit kernels are compiled for it, into their own cache entries.)"""
    import subprocess
    import sys

    from numba.core.codegen import get_host_cpu_features

    if "+avx512f" not in get_host_cpu_features().split(","):
        pytest.skip("this CPU has no AVX-512: there is only one vector width to compare")
    env = _env_without_a_vector_choice()
    digests = [subprocess.run([sys.executable, "-c", _HASH_FEATURES], env={**env, "PIXELFOREST_WIDE_VECTORS": w},
                              capture_output=True, text=True, check=True, timeout=900).stdout.split()[-1]
               for w in ("0", "1")]
    assert digests[0] == digests[1]


def test_tophat_bands_equal_the_whole_plane(monkeypatch):
    """The top-hats are computed in bands of rows, each radius with its own margin (2r rows above
    and below): the values are those of the closing and opening of the whole plane, at every
    radius, with bands of a few rows (cuts everywhere) and with one band."""
    from scipy import ndimage

    from pixelforest.features import compute

    img = np.random.default_rng(4).normal(size=(100, 70)).astype(np.float32)
    spec = FeatureSpec.from_cells({"TopHat": [1.0, 2.0, 4.0, 8.0]}, scales=(1.0, 2.0, 4.0, 8.0))
    for band in (7, 30, 1000):
        monkeypatch.setattr(compute, "TOPHAT_BAND", band)
        f = pf.compute_features(img, spec)
        for k, r in enumerate((1, 2, 4, 8)):
            box = (2 * r + 1, 2 * r + 1)
            assert np.array_equal(f[..., 2 * k], ndimage.grey_closing(img, size=box, mode="mirror") - img)
            assert np.array_equal(f[..., 2 * k + 1], img - ndimage.grey_opening(img, size=box, mode="mirror"))
