"""Computing the features of a :class:`~pixelforest.features.spec.FeatureSpec`, the way ilastik's
lazyflow does it (``opPixelFeaturesPresmoothed``):

* the data are cast to float32 and pre-smoothed per scale ``s`` with
  ``sigma_p = sqrt(s**2 - 1)`` if ``s > 1`` else ``s`` (kernel window 3.5);
* the feature filter then runs on the pre-smoothed data at
  ``sigma_f = min(s, 1.0)`` with a kernel window of 2;
* vigra-style sampled kernels, true separable convolutions, mirror borders
  (``scipy.ndimage`` ``mode='mirror'``, the edge pixel not repeated).

The top-hats and hole filling run on the (normalised) image itself. Four ways to the same values
(bit for bit): every scale in 2D goes through one list of compiled jobs (the row-fused bank,
top-hat bands, hole-filling tiles: :func:`_jobs_2d`); otherwise the filters of 2D scales go
through the row-fused bank plane by plane (:func:`_fused_2d`) or, with any 3D scale, plane-sized
passes (:class:`_ScaleBank`, :func:`_planar_bank`), then the top-hats and hole filling on their
own. ``fused=False`` takes the plane-sized passes for every scale: the reference the fused banks
are tested against. The compiled kernels are in :mod:`._kernels`.
"""

from __future__ import annotations

import functools
import math
from typing import NamedTuple

import numpy as np

from .. import axes as _axes
from .._compiled import HAVE_NUMBA
from ..runtime import check_memory
from ._kernels import bank2d, filters
from ._kernels.filters import closing, correlate1d, eig2, eig3, opening, scatter_columns, store_tophats
from ._kernels.holes import hole_filling, hole_filling_jobs
from ._kernels.tasks import run_jobs, threads
from .normalize import image_stats, normalize_block
from .spec import (
    DOG_RATIO,
    FILTER_WINDOW,
    HOLE_FEATURE_IDS,
    OWN_FEATURE_IDS,
    PRESMOOTH_WINDOW,
    FeatureSpec,
    check_image_values,
    check_scales,
    hole_reach,
    resolve_spec,
    tophat_radius,
    values_per_channel,
)

#: features held plane by plane before they are interleaved into the (pixels, features) output
PLANAR_BUDGET_BYTES = 256 * 2**20


@functools.lru_cache(maxsize=256)
def kernel(sigma: float, order: int = 0, window: float = FILTER_WINDOW) -> np.ndarray:
    """vigra-style sampled Gaussian (derivative) kernel, indexed ``-r..r``.

    Order 0 sums to 1; order 1 is scaled so that ``sum(k * -x) == 1`` and order
    2 so that ``sum(k * x**2) / 2 == 1`` after removing the mean, so a true
    convolution gives exact derivatives of linear and quadratic signals.
    """
    r = max(1, int(math.floor(window * sigma + 0.5)))
    x = np.arange(-r, r + 1, dtype=np.float64)
    g = np.exp(-(x * x) / (2.0 * sigma * sigma))
    if order == 0:
        k = g / g.sum()
    elif order == 1:
        k = -x / sigma**2 * g
        k -= k.mean()
        k /= np.sum(k * -x)
    elif order == 2:
        k = (x * x / sigma**4 - 1.0 / sigma**2) * g
        k -= k.mean()
        k /= np.sum(k * x * x) / 2.0
    else:
        raise ValueError("order must be 0, 1 or 2")
    k.setflags(write=False)  # cached and shared: read-only
    return k


def _conv(data: np.ndarray, k: np.ndarray, axis: int) -> np.ndarray:
    """Convolution with mirror borders, float32 (compiled; see :mod:`._kernels.filters`)."""
    return correlate1d(data, k[::-1], axis)


def _separable(data: np.ndarray, kernels: dict[int, np.ndarray]) -> np.ndarray:
    """``data`` convolved along each axis of ``kernels`` with its kernel, in turn."""
    out = data
    for ax, k in kernels.items():
        out = _conv(out, k, ax)
    return out


def presmooth_sigma(s: float) -> float:
    """ilastik's pre-smoothing sigma at scale ``s``: ``sqrt(s**2 - 1)`` above 1, else ``s``."""
    return math.sqrt(s * s - 1.0) if s > 1.0 else s


def _eig2(a, b, c):
    """Eigenvalues (descending) of symmetric 2x2 [[a, b], [b, c]]."""
    return eig2(np.ascontiguousarray(a, np.float32), np.ascontiguousarray(b, np.float32),
                np.ascontiguousarray(c, np.float32))


class _ScaleBank:
    """Derivatives of one pre-smoothed channel at one scale, computed on demand once."""

    def __init__(self, data: np.ndarray, scale: float, spatial_axes: tuple[int, ...], st_rule: str):
        self.axes = spatial_axes
        self.st_rule = st_rule
        sp = presmooth_sigma(scale)
        g = kernel(sp, 0, PRESMOOTH_WINDOW)
        self.data = _separable(data, {ax: g for ax in spatial_axes})
        self.sf = min(scale, 1.0)
        self._cache: dict = {}

    def _deriv(self, orders: tuple[int, ...], sigma: float) -> np.ndarray:
        """Separable derivative filter, axis by axis; passes shared by several derivatives
        (e.g. the first pass of d/dx and d2/dx dy) are computed once."""
        out = self.data
        key: tuple = (sigma,)
        for ax, o in zip(self.axes, orders, strict=True):
            key = key + (o,)
            if key not in self._cache:
                self._cache[key] = _conv(out, kernel(sigma, o, FILTER_WINDOW), ax)
            out = self._cache[key]
        return out

    def smoothing(self):
        return [self._deriv((0,) * len(self.axes), self.sf)]

    def hessian_components(self):
        n = len(self.axes)
        comps = {}
        for i in range(n):
            for j in range(i, n):
                o = [0] * n
                o[i] += 1
                o[j] += 1
                comps[(i, j)] = self._deriv(tuple(o), self.sf)
        return comps

    def laplacian(self):
        h = self.hessian_components()
        out = None
        for i in range(len(self.axes)):
            out = h[(i, i)].copy() if out is None else out + h[(i, i)]
        return [out]

    def gradient(self, sigma):
        n = len(self.axes)
        return [self._deriv(tuple(1 if k == i else 0 for k in range(n)), sigma) for i in range(n)]

    def gradient_magnitude(self):
        gs = self.gradient(self.sf)
        acc = np.zeros_like(gs[0])
        for g in gs:
            acc += g * g
        return [np.sqrt(acc)]

    def dog(self):
        a = self._deriv((0,) * len(self.axes), self.sf)
        b = self._deriv((0,) * len(self.axes), DOG_RATIO * self.sf)
        return [a - b]

    def hessian_eigenvalues(self):
        h = self.hessian_components()
        return self._eig(h)

    def structure_tensor_eigenvalues(self):
        if self.st_rule == "fastfilters":
            inner, outer = 0.5 * self.sf, self.sf
        else:
            inner, outer = self.sf, 0.5 * self.sf
        gs = self.gradient(inner)
        n = len(self.axes)
        gk = kernel(outer, 0, FILTER_WINDOW)
        comps = {}
        for i in range(n):
            for j in range(i, n):
                comps[(i, j)] = _separable(gs[i] * gs[j], {ax: gk for ax in self.axes})
        return self._eig(comps)

    def _eig(self, m):
        if len(self.axes) == 2:
            ev = _eig2(m[(0, 0)], m[(0, 1)], m[(1, 1)])
        else:
            ev = eig3(m[(0, 0)], m[(0, 1)], m[(0, 2)], m[(1, 1)], m[(1, 2)], m[(2, 2)])
        return [np.asarray(e, dtype=np.float32) for e in ev]

    def compute(self, fid: str) -> list[np.ndarray]:
        return {
            "GaussianSmoothing": self.smoothing,
            "LaplacianOfGaussian": self.laplacian,
            "GaussianGradientMagnitude": self.gradient_magnitude,
            "DifferenceOfGaussians": self.dog,
            "StructureTensorEigenvalues": self.structure_tensor_eigenvalues,
            "HessianOfGaussianEigenvalues": self.hessian_eigenvalues,
        }[fid]()


def compute_canonical(data: np.ndarray, spec: FeatureSpec, *, check: bool = True, z_size: int | None = None,
                      out: np.ndarray | None = None, stats=None, fused: bool = True) -> np.ndarray:
    """Features of a 5D ``(T, Z, Y, X, C)`` array -> ``(T, Z, Y, X, F)`` float32.

    ``z_size`` is the Z extent of the whole image (when ``data`` is a block of
    it), which decides 2D vs 3D for scales without an explicit flag. ``stats`` are
    the whole image's normalisation statistics (:func:`image_stats`) when ``data``
    is a block of it; without them a normalising spec uses ``data``'s own.
    ``fused=False`` computes the 2D scales plane by plane, as the 3D ones (the same
    values, slower: the reference of the fused banks).
    """
    if spec.normalize != "none":
        data = normalize_block(data, image_stats(data, spec) if stats is None else stats)
    if data.ndim != 5:
        raise ValueError("compute_canonical expects a (T, Z, Y, X, C) array")
    T, Z, Y, X, C = data.shape
    zs = Z if z_size is None else z_size
    if check:
        check_scales(spec, (T, zs, Y, X))
    cells = _cells(spec, C, 2 if zs <= 1 else 3)
    out = _output_array(out, (T, Z, Y, X, cells.n_out))
    _compute_banks(_channels(data), spec, spec.in_2d_flags(zs), cells, out, fused and HAVE_NUMBA)
    return out


class _Cells(NamedTuple):
    """Where each cell of a spec goes, for :func:`_compute_banks` (kept per spec: read only)."""
    n_out: int
    first_col: dict  # first output column of each (feature, scale, channel)
    by_scale: dict  # scale index -> the filter bank's feature ids at that scale
    tophat: list  # scale indices with top-hats
    holes: list  # (feature id, scale index) of each hole-filling cell
    bank_cols: tuple  # per channel: the row-fused bank's output columns and the columns they write


@functools.lru_cache(maxsize=64)
def _cells(spec: FeatureSpec, n_channels: int, ndim: int) -> _Cells:
    layout = spec.columns(n_channels, ndim)
    first_col = {(col.fid, col.si, c): col.channel_start(c) for col in layout for c in range(col.n_channels)}
    by_scale: dict[int, list[str]] = {}
    for col in layout:
        by_scale.setdefault(col.si, []).append(col.fid)
    tophat = [si for si, fids in by_scale.items() if "TopHat" in fids]
    holes = [(col.fid, col.si) for col in layout if col.fid in HOLE_FEATURE_IDS]
    by_scale = {si: [f for f in fids if f not in OWN_FEATURE_IDS] for si, fids in by_scale.items()}
    by_scale = {si: fids for si, fids in by_scale.items() if fids}
    bank_cols = tuple(_bank_cols(by_scale, first_col, c) for c in range(n_channels))
    return _Cells(layout[-1].stop, first_col, by_scale, tophat, holes, bank_cols)


def _output_array(out: np.ndarray | None, shape: tuple[int, ...]) -> np.ndarray:
    """``out`` checked, or a new array of ``shape`` if the memory allows it."""
    T, Z, Y, X, n_out = shape
    if out is None:
        check_memory(T * Z * Y * X * n_out * 4, f"{n_out} features of a {T}x{Z}x{Y}x{X} image")
        return np.empty(shape, dtype=np.float32)
    if out.shape != shape or out.dtype != np.float32 or not out.flags.c_contiguous:
        raise ValueError(f"out must be a C-contiguous float32 array of shape {shape}, "
                         f"got {out.dtype} {out.shape}{'' if out.flags.c_contiguous else ', strided'}")
    return out


def _channels(data: np.ndarray) -> list[np.ndarray]:
    """Each channel of ``data`` as a C-contiguous, writeable float32 (T, Z, Y, X) array."""
    chans = [np.ascontiguousarray(data[..., c], dtype=np.float32) for c in range(data.shape[-1])]
    # a read-only channel (a memory-mapped .npy, a read-only view) is copied: the compiled kernels
    # are built for writeable arrays only, not again for read-only ones at a user's first such command
    return [ch if ch.flags.writeable else ch.copy() for ch in chans]


def _compute_banks(chans, spec: FeatureSpec, flags, cells: _Cells, out: np.ndarray, fused: bool) -> None:
    """Every cell of the spec into its columns of ``out``: the filters once per (scale, channel),
    the top-hats and hole filling apart; all through one job list when every scale is 2D and
    ``fused`` (see the module's description of the four ways)."""
    first_col, by_scale, tophat, holes = cells.first_col, cells.by_scale, cells.tophat, cells.holes
    if fused and all(flags[si] for si in list(by_scale) + tophat + [si for _, si in holes]):
        _jobs_2d(chans, spec, cells, out)
        return
    if by_scale and fused and all(flags[si] for si in by_scale):
        _fused_2d(chans, spec, cells, out)
    elif by_scale:
        _planar_bank(chans, spec, by_scale, first_col, flags, out)
    if tophat:
        _tophat_bank(chans, spec, tophat, first_col, flags, out)
    if holes:
        _holes_bank(chans, spec, holes, first_col, flags, out)


def _tophat_bank(chans, spec: FeatureSpec, scale_indices, first_col: dict, flags, out: np.ndarray) -> None:
    """Black (closing - image) and white (image - opening) top-hats, flat square/cube footprints,
    mirror boundaries; each pair of columns written straight into the pixel-major output."""
    bufs = [np.empty_like(chans[0]) for _ in range(4)]
    for si in scale_indices:
        r = tophat_radius(spec.scales[si])
        axes = (2, 3) if flags[si] else (1, 2, 3)
        for c, ch in enumerate(chans):
            store_tophats(closing(ch, r, axes, bufs[:2]), opening(ch, r, axes, bufs[2:]), ch, out,
                          first_col[("TopHat", si, c)])


def _hole_columns(spec: FeatureSpec, holes, first_col: dict, c: int) -> tuple[list, list, list]:
    """Hole-filling cells ``holes`` ((feature id, scale index), all 2D or all 3D) of channel ``c``
    for :func:`._kernels.holes.hole_filling`: their reaches ascending, each one's dark column and
    bright column (-1 for Dark Hole Filling, which has none)."""
    entries = sorted((hole_reach(spec.scales[si]), first_col[(fid, si, c)], fid == "HoleFilling") for fid, si in holes)
    return ([r for r, _, _ in entries], [k for _, k, _ in entries],
            [k + 1 if both else -1 for _, k, both in entries])


def _holes_bank(chans, spec: FeatureSpec, holes, first_col: dict, flags, out: np.ndarray) -> None:
    """Hole filling, dark and bright: one component tree per polarity, plane (2D scales) or volume
    (3D scales) and channel serves all its reaches; values go straight into their columns."""
    T, Z, Y, X, F = out.shape
    for in_2d in (True, False):
        cells = [(fid, si) for fid, si in holes if flags[si] == in_2d]
        if not cells:
            continue
        for c, ch in enumerate(chans):
            reaches, dark, bright = _hole_columns(spec, cells, first_col, c)
            pieces = [(t, z) for t in range(T) for z in range(Z)] if in_2d else [(t, None) for t in range(T)]
            for t, z in pieces:  # (out is C-contiguous: a plane's or volume's rows are a view)
                vol = ch[t, z][None] if in_2d else ch[t]
                hole_filling(vol, reaches, (out[t, z] if in_2d else out[t]).reshape(-1, F), dark, bright)


def _planar_bank(chans, spec: FeatureSpec, by_scale: dict, first_col: dict, flags, out: np.ndarray) -> None:
    """Any mix of 2D and 3D scales: each scale's features plane by plane (:class:`_ScaleBank`),
    interleaved into the pixel-major output in as few passes as a memory budget allows (each
    pass sweeps the whole output through the caches)."""
    n_out = out.shape[-1]
    per_bank = {si: sum(values_per_channel(fid, flags[si]) for fid in fids) for si, fids in by_scale.items()}
    out2d = out.reshape(-1, n_out)
    n_px = out2d.shape[0]
    rows = int(min(n_out, max(max(per_bank.values()), PLANAR_BUDGET_BYTES // max(1, 4 * n_px))))
    planar = np.empty((rows, n_px), np.float32)
    cols: list[int] = []
    for si, fids in by_scale.items():
        spatial = (2, 3) if flags[si] else (1, 2, 3)
        for c, ch in enumerate(chans):
            bank = _ScaleBank(ch, spec.scales[si], spatial, spec.structure_tensor)
            if len(cols) + per_bank[si] > rows:
                scatter_columns(planar[:len(cols)], np.asarray(cols), out2d)
                cols = []
            for fid in fids:
                for e, arr in enumerate(bank.compute(fid)):
                    planar[len(cols)] = arr.reshape(-1)
                    cols.append(first_col[(fid, si, c)] + e)
            del bank
    scatter_columns(planar[:len(cols)], np.asarray(cols), out2d)


#: rough compiled cost per pixel of one job of each kind (relative; used to start the largest first)
JOB_COST = {"holes": 4.5, "tophat": 0.4, "bank": 1.1}
#: rows of a band of the top-hats (one job): all radii of a band are written in one sweep of its rows
TOPHAT_BAND = 256


def _jobs_2d(chans, spec: FeatureSpec, cells: _Cells, out: np.ndarray) -> None:
    """Every feature in 2D: the row-fused bank (blocks of rows), the top-hats (a radius of a plane
    each) and hole filling (a tile of a plane each) as one list of serial compiled jobs, taken
    by the threads as they come free, largest first (:func:`._kernels.tasks.run_jobs`)."""
    T, Z, Y, X, F = out.shape
    first_col, by_scale, tophat, holes = cells.first_col, cells.by_scale, cells.tophat, cells.holes
    n_threads = threads()
    jobs = []  # (cost, job)
    planes = [(t, z) for t in range(T) for z in range(Z)]
    if by_scale:
        kernels = _bank_kernels(spec, tuple(by_scale))
        for c, ch in enumerate(chans):
            cols, ucols = cells.bank_cols[c]
            for t, z in planes:
                jobs += [(cost * JOB_COST["bank"] * len(by_scale) / 6, job)
                         for cost, job in bank2d.plane_jobs(ch[t, z], kernels, cols, out[t, z], ucols)]
    if tophat:
        radii = np.array([tophat_radius(spec.scales[si]) for si in tophat], np.int64)
        # bands of about TOPHAT_BAND rows (radius r computed with a margin of 2r rows above and below)
        bands = np.linspace(0, Y, max(1, round(Y / TOPHAT_BAND)) + 1).round().astype(int)
        for c, ch in enumerate(chans):
            cols = np.array([first_col[("TopHat", si, c)] for si in tophat], np.int64)
            for t, z in planes:
                for y0, y1 in zip(bands[:-1], bands[1:], strict=True):
                    jobs.append(((y1 - y0) * X * len(tophat) * JOB_COST["tophat"],
                                 functools.partial(filters.tophat_band, ch[t, z], int(y0), int(y1), radii,
                                                   out[t, z].reshape(-1, F), cols)))
    if holes:
        for c, ch in enumerate(chans):
            reaches, dark, bright = _hole_columns(spec, holes, first_col, c)
            for t, z in planes:
                jobs += [(cost * JOB_COST["holes"], job) for cost, job in
                         hole_filling_jobs(ch[t, z][None], reaches, out[t, z].reshape(-1, F), dark, bright)]
    jobs.sort(key=lambda cj: -cj[0])
    run_jobs([job for _, job in jobs], n_threads)


@functools.lru_cache(maxsize=64)
def _bank_kernels(spec: FeatureSpec, scale_indices: tuple[int, ...]) -> bank2d.Plan:
    """The row-fused bank's kernels for these scales of ``spec``, packed (:func:`._kernels.bank2d.plan`)."""
    kernels = []
    for si in scale_indices:
        s = spec.scales[si]
        sf = min(s, 1.0)
        inner, outer = (0.5 * sf, sf) if spec.structure_tensor == "fastfilters" else (sf, 0.5 * sf)
        ks = [None] * 8
        ks[bank2d.K_SF0], ks[bank2d.K_SF1], ks[bank2d.K_SF2] = (kernel(sf, o, FILTER_WINDOW) for o in (0, 1, 2))
        ks[bank2d.K_DOG] = kernel(DOG_RATIO * sf, 0, FILTER_WINDOW)
        ks[bank2d.K_OUTER] = kernel(outer, 0, FILTER_WINDOW)
        ks[bank2d.K_IN0], ks[bank2d.K_IN1] = kernel(inner, 0, FILTER_WINDOW), kernel(inner, 1, FILTER_WINDOW)
        ks[bank2d.K_PRE] = kernel(presmooth_sigma(s), 0, PRESMOOTH_WINDOW)
        kernels.append(ks)
    return bank2d.plan(kernels)


#: the row-fused bank's output slot of each feature
_SLOT_OF = {"GaussianSmoothing": bank2d.C_SMOOTH, "LaplacianOfGaussian": bank2d.C_LOG,
            "GaussianGradientMagnitude": bank2d.C_GGM, "DifferenceOfGaussians": bank2d.C_DOG,
            "StructureTensorEigenvalues": bank2d.C_ST, "HessianOfGaussianEigenvalues": bank2d.C_HESS}


def _bank_cols(by_scale: dict, first_col: dict, c: int) -> tuple[np.ndarray, np.ndarray]:
    """Channel ``c``'s output columns in the row-fused bank (per scale, per slot; -1: not computed),
    and the columns they write (:func:`._kernels.bank2d.used_columns`)."""
    cols = np.full((len(by_scale), 6), -1, np.int64)
    for j, (si, fids) in enumerate(by_scale.items()):
        for fid in fids:
            cols[j, _SLOT_OF[fid]] = first_col[(fid, si, c)]
    # (shared by every call, read only; left writeable: numba compiles a read-only array's kernels again)
    return cols, bank2d.used_columns(cols)


def _fused_2d(chans, spec: FeatureSpec, cells: _Cells, out: np.ndarray) -> None:
    """All scales computed in 2D: the row-fused bank (:mod:`._kernels.bank2d`), plane by plane."""
    kernels = _bank_kernels(spec, tuple(cells.by_scale))
    T, Z = out.shape[:2]
    for c, ch in enumerate(chans):
        cols = cells.bank_cols[c][0]
        for t in range(T):
            for z in range(Z):
                bank2d.compute_plane(ch[t, z], kernels, cols, out[t, z])


def compute_features(image, features="ilastik-default", *, channel_axis=None, axes=None, fused: bool = True
                     ) -> np.ndarray:
    """ilastik features of an image.

    Parameters
    ----------
    image : array_like
        2D-5D image. Without ``axes``/``channel_axis`` a 2D array is ``yx`` and a
        3D array ``zyx``.
    features : FeatureSpec, preset name, dict or path to a feature JSON
    channel_axis : int, optional
        Axis holding the image channels.
    axes : str, optional
        Axis names over ``tzyxc``, e.g. ``"yxc"`` or ``"tzyxc"``.
    fused : bool
        False: the 2D scales plane by plane, as the 3D ones (:func:`compute_canonical`).

    Returns
    -------
    np.ndarray
        float32 array with the image's non-channel axes (in its order) and the
        feature channels last.
    """
    image = np.asarray(image)
    ax = _axes.resolve_axes(image.ndim, axes, channel_axis)
    spec = resolve_spec(features)
    check_image_values(image)
    data = _axes.to_canonical(image, ax)
    return _axes.from_canonical(compute_canonical(data, spec, fused=fused), ax)
