"""ilastik's pixel feature bank.

Six features (Gaussian Smoothing, Laplacian of Gaussian, Gaussian Gradient
Magnitude, Difference of Gaussians, Structure Tensor Eigenvalues, Hessian of
Gaussian Eigenvalues) at any set of scales, each scale computed in 2D or 3D,
on any number of input channels, computed the way ilastik's lazyflow does it
(``opPixelFeaturesPresmoothed``):

* the data are cast to float32 and pre-smoothed per scale ``s`` with
  ``sigma_p = sqrt(s**2 - 1)`` if ``s > 1`` else ``s`` (kernel window 3.5);
* the feature filter then runs on the pre-smoothed data at
  ``sigma_f = min(s, 1.0)`` with a kernel window of 2;
* vigra-style sampled kernels, true separable convolutions, mirror borders
  (``scipy.ndimage`` ``mode='mirror'``, the edge pixel not repeated).

Output channel order is ilastik's: feature -> scale -> input channel ->
eigenvalue index (eigenvalues in descending order).
"""

from __future__ import annotations

import functools
import json
import math
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Sequence

import numpy as np

from . import axes as _axes
from ._filters import HAVE_NUMBA, closing, correlate1d, eig2, eig3, opening, scatter_columns, store_tophats

#: ilastik's feature ids, in its order (a project's FeatureIds)
ILASTIK_FEATURE_IDS = (
    "GaussianSmoothing",
    "LaplacianOfGaussian",
    "GaussianGradientMagnitude",
    "DifferenceOfGaussians",
    "StructureTensorEigenvalues",
    "HessianOfGaussianEigenvalues",
)
#: ilastik's, then pixelforest's own: ``TopHat`` at scale s is the black and the white top-hat
#: (closing - image, image - opening) with a flat square (cube in 3D) of half-width ceil(s),
#: computed on the (normalised) image itself, not on a smoothed one. It answers "thin dark
#: (bright) structure" apart from "dark (bright) region": membranes vs dark organelles in EM.
#: ``HoleFilling`` at scale s is local grey-level hole filling (:mod:`pixelforest._holes`) within
#: reach ceil(4 s): dark structures that end within the reach (specks, vesicles, organelles) are
#: filled to their surroundings' level and bright ones cut down; ones that run on (membranes, a
#: network) keep their values. Also on the (normalised) image itself.
OWN_FEATURE_IDS = ("TopHat", "HoleFilling")
FEATURE_IDS = ILASTIK_FEATURE_IDS + OWN_FEATURE_IDS
FEATURE_NAMES = {
    "GaussianSmoothing": "Gaussian Smoothing",
    "LaplacianOfGaussian": "Laplacian of Gaussian",
    "GaussianGradientMagnitude": "Gaussian Gradient Magnitude",
    "DifferenceOfGaussians": "Difference of Gaussians",
    "StructureTensorEigenvalues": "Structure Tensor Eigenvalues",
    "HessianOfGaussianEigenvalues": "Hessian of Gaussian Eigenvalues",
    "TopHat": "Top-Hat",
    "HoleFilling": "Hole Filling",
}
#: the lowest classifier format version that holds each of pixelforest's own features
FEATURE_FORMAT_VERSION = {"TopHat": 3, "HoleFilling": 4}
EIGEN_FEATURES = ("StructureTensorEigenvalues", "HessianOfGaussianEigenvalues")


def values_per_channel(fid: str, in_2d: bool) -> int:
    """Output channels of one feature cell per input channel: its eigenvalues (2 in 2D, 3 in 3D),
    black and white for the top-hat and hole filling, or 1."""
    if fid in OWN_FEATURE_IDS:
        return 2
    return (2 if in_2d else 3) if fid in EIGEN_FEATURES else 1


def tophat_radius(scale: float) -> int:
    """Half-width of the top-hat's square (cube) at ``scale``."""
    return int(math.ceil(scale - 1e-9))


def hole_reach(scale: float) -> int:
    """Reach (Chebyshev distance, pixels) of hole filling at ``scale``."""
    return int(math.ceil(4.0 * scale - 1e-9))


DEFAULT_SCALES = (0.3, 0.7, 1.0, 1.6, 3.5, 5.0, 10.0)
#: the largest feature scale (ilastik's largest preset is 10, pixelforest's 16; a margin of about
#: 4 x scale pixels is computed around every block)
MAX_SCALE = 100.0
#: scale columns in one feature selection
MAX_SCALES = 64
#: the pixelforest-default preset: these features at these scales (scikit-image's), normalised
PIXELFOREST_SCALES = (0.5, 1.0, 2.0, 4.0, 8.0, 16.0)
PIXELFOREST_FEATURES = ("GaussianSmoothing", "HessianOfGaussianEigenvalues", "TopHat", "HoleFilling")
MIN_SCALE = {fid: (0.3 if fid == "GaussianSmoothing" else 1.0 if fid in OWN_FEATURE_IDS else 0.7)
             for fid in FEATURE_IDS}

#: features held plane by plane before they are interleaved into the (pixels, features) output
PLANAR_BUDGET_BYTES = 256 * 2**20
#: all-2D banks computed row by row (pixelforest._bank2d); False: plane by plane, as 3D scales are
FUSED_2D = True

#: per-image intensity normalisation before the features: "none" (ilastik), "percentile" (each
#: channel scaled so that its 1st and 99.8th percentiles become 0 and 1) or "otsu" (each channel
#: scaled so that the means of its two Otsu classes, background and foreground, become 0 and 1)
NORMALIZE = ("none", "percentile", "otsu")
NORMALIZE_PERCENTILES = (1.0, 99.8)

#: structure-tensor rule of ilastik >= 1.3 (fastfilters): gradient at 0.5*sigma,
#: tensor smoothing at sigma. ``"vigra"`` is the rule of projects saved by
#: ilastik < 1.3: gradient at sigma, tensor smoothing at 0.5*sigma.
ST_RULES = ("fastfilters", "vigra")

PRESMOOTH_WINDOW = 3.5
FILTER_WINDOW = 2.0
DOG_RATIO = 0.66


class NonFiniteError(ValueError):
    """An image holds NaN or infinite values, which no feature can be computed from."""


class FeatureError(ValueError):
    """Invalid feature selection or scale for an image."""


# --------------------------------------------------------------------------- spec


@dataclass(frozen=True)
class FeatureSpec:
    """Which (feature, scale) cells are computed, and how.

    Parameters
    ----------
    scales : tuple of float
        The scale columns (sigmas).
    selection : tuple of tuple of bool
        ``len(FEATURE_IDS) x len(scales)`` matrix (ilastik's SelectionMatrix, whose
        ``len(ILASTIK_FEATURE_IDS)`` rows are also accepted).
    compute_in_2d : tuple of bool, optional
        Per scale, compute the filter per z-slice (2D) even on 3D data. ``None``
        means ilastik's default: 2D when ``Z == 1``, 3D otherwise.
    structure_tensor : {"fastfilters", "vigra"}
        Structure-tensor scale rule (see :data:`ST_RULES`).
    """

    scales: tuple[float, ...]
    selection: tuple[tuple[bool, ...], ...]
    compute_in_2d: tuple[bool, ...] | None = None
    structure_tensor: str = "fastfilters"
    normalize: str = "none"

    def __post_init__(self):
        scales = tuple(float(s) for s in self.scales)
        object.__setattr__(self, "scales", scales)
        sel = tuple(tuple(bool(v) for v in row) for row in self.selection)
        if len(sel) == len(ILASTIK_FEATURE_IDS):  # ilastik's matrix: none of pixelforest's own features
            sel = sel + ((False,) * len(scales),) * (len(FEATURE_IDS) - len(sel))
        object.__setattr__(self, "selection", sel)
        if len(sel) != len(FEATURE_IDS) or any(len(r) != len(scales) for r in sel):
            raise FeatureError(
                f"selection must be a {len(FEATURE_IDS)} x {len(scales)} matrix "
                f"(features {list(FEATURE_IDS)} x scales {list(scales)})"
            )
        for s in scales:
            if not (math.isfinite(s) and s > 0):
                raise FeatureError(f"scale {s!r} is invalid: scales must be positive finite numbers")
            if s > MAX_SCALE:
                raise FeatureError(f"scale {s!r} is too large: at most {MAX_SCALE} (a filter's margin grows with "
                                   f"its scale: {s:g} would need about {int(4 * s)} pixels around every block)")
        if len(scales) > MAX_SCALES:
            raise FeatureError(f"{len(scales)} scales; at most {MAX_SCALES}")
        if len(set(scales)) != len(scales):
            raise FeatureError(f"scales {list(scales)} contain duplicates")
        if self.compute_in_2d is not None:
            c2 = tuple(bool(v) for v in self.compute_in_2d)
            if len(c2) != len(scales):
                raise FeatureError(f"compute_in_2d needs one flag per scale ({len(scales)}), got {len(c2)}")
            object.__setattr__(self, "compute_in_2d", c2)
        if self.normalize not in NORMALIZE:
            raise FeatureError(f"normalize must be one of {NORMALIZE}, got {self.normalize!r}")
        if self.structure_tensor not in ST_RULES:
            raise FeatureError(f"structure_tensor must be one of {ST_RULES}, got {self.structure_tensor!r}")
        for fi, fid in enumerate(FEATURE_IDS):
            for si, s in enumerate(scales):
                if sel[fi][si] and s < MIN_SCALE[fid] - 1e-12:
                    raise FeatureError(
                        f"{FEATURE_NAMES[fid]} at scale {s} is invalid: it needs a scale >= {MIN_SCALE[fid]}"
                        + (" (only Gaussian Smoothing may use scales down to 0.3)" if fid in ILASTIK_FEATURE_IDS else "")
                    )
        if not any(any(r) for r in sel):
            raise FeatureError("no feature selected: select at least one (feature, scale) cell")

    # -- construction ---------------------------------------------------------

    @classmethod
    def from_matrix(
        cls,
        feature_ids: Sequence[str],
        scales: Sequence[float],
        matrix,
        compute_in_2d: Sequence[bool] | None = None,
        structure_tensor: str = "fastfilters",
    ) -> "FeatureSpec":
        """Build from ilastik's FeatureSelections (ids, scales, selection matrix)."""
        ids = [i.decode() if isinstance(i, bytes) else str(i) for i in feature_ids]
        matrix = np.asarray(matrix, dtype=bool)
        if matrix.shape != (len(ids), len(scales)):
            raise FeatureError(
                f"selection matrix shape {matrix.shape} does not match "
                f"{len(ids)} feature ids x {len(scales)} scales"
            )
        unknown = set(ids) - set(FEATURE_IDS)
        if unknown:
            raise FeatureError(f"unknown ilastik feature ids {sorted(unknown)}; known: {list(FEATURE_IDS)}")
        rows = []
        for fid in FEATURE_IDS:
            rows.append(tuple(matrix[ids.index(fid)]) if fid in ids else (False,) * len(scales))
        return cls(tuple(scales), tuple(rows), None if compute_in_2d is None else tuple(compute_in_2d),
                   structure_tensor)

    @classmethod
    def from_cells(cls, cells: dict, scales: Sequence[float] | None = None, **kw) -> "FeatureSpec":
        """Build from ``{feature_id: [scales...]}``."""
        all_scales = list(scales) if scales is not None else sorted({float(s) for v in cells.values() for s in v})
        rows = []
        for fid in FEATURE_IDS:
            chosen = {float(s) for s in cells.get(fid, ())}
            rows.append(tuple(s in chosen for s in all_scales))
        unknown = set(cells) - set(FEATURE_IDS)
        if unknown:
            raise FeatureError(f"unknown feature ids {sorted(unknown)}; known: {list(FEATURE_IDS)}")
        return cls(tuple(all_scales), tuple(rows), **kw)

    @classmethod
    def preset(cls, name: str, scales: Sequence[float] | None = None) -> "FeatureSpec":
        """Named presets: ``ilastik-default`` (every cell ilastik allows at its seven scales, exactly
        as ilastik), ``pixelforest-default`` (Gaussian smoothing and Hessian eigenvalues at
        sigma 0.5-16, top-hats of half-width 1-16 and hole filling of reach 4-64, on each image
        normalised to its two intensity classes, ``normalize="otsu"``; chosen by
        ``scripts/evaluate.py``, see the README) and
        ``minimal``. ``scales`` replaces a preset's scales (each cell at every scale its feature allows)."""
        if name == "ilastik-default":
            scales = DEFAULT_SCALES if scales is None else scales
            rows = tuple(tuple(fid in ILASTIK_FEATURE_IDS and s >= MIN_SCALE[fid] for s in scales) for fid in FEATURE_IDS)
            return cls(tuple(scales), rows)
        if name == "pixelforest-default":
            scales = PIXELFOREST_SCALES if scales is None else scales
            rows = tuple(tuple(fid in PIXELFOREST_FEATURES and s >= MIN_SCALE[fid] for s in scales)
                         for fid in FEATURE_IDS)
            return cls(tuple(scales), rows, normalize="otsu")
        if name == "minimal":
            return cls.from_cells(
                {
                    "GaussianSmoothing": [0.3, 1.0, 3.5],
                    "LaplacianOfGaussian": [1.0, 3.5],
                    "GaussianGradientMagnitude": [1.0, 3.5],
                    "HessianOfGaussianEigenvalues": [1.0],
                },
                scales=DEFAULT_SCALES if scales is None else scales,
            )
        raise FeatureError(f"unknown feature preset {name!r}; expected one of {list(PRESETS)} or a .json file")

    # -- JSON -------------------------------------------------------------------

    def to_dict(self) -> dict:
        return {
            "format": "pixelforest-features",
            "version": 1,
            "scales": list(self.scales),
            "features": {
                fid: [s for s, on in zip(self.scales, row) if on]
                for fid, row in zip(FEATURE_IDS, self.selection)
                if any(row)
            },
            "compute_in_2d": None if self.compute_in_2d is None else list(self.compute_in_2d),
            "structure_tensor": self.structure_tensor,
            "normalize": self.normalize,
        }

    @classmethod
    def from_dict(cls, d: dict) -> "FeatureSpec":
        if not isinstance(d, dict) or "features" not in d:
            raise FeatureError(
                "a feature JSON must be an object with a 'features' member mapping ilastik feature ids "
                "to lists of scales, e.g. {\"features\": {\"GaussianSmoothing\": [0.3, 1.0]}}"
            )
        feats = d["features"]
        if isinstance(feats, list):  # [["GaussianSmoothing", 0.3], ...]
            cells: dict = {}
            for item in feats:
                if not (isinstance(item, (list, tuple)) and len(item) == 2):
                    raise FeatureError(f"feature list entries must be [feature_id, scale], got {item!r}")
                cells.setdefault(item[0], []).append(item[1])
            feats = cells
        if not isinstance(feats, dict):
            raise FeatureError("'features' must map feature ids to lists of scales")
        for k, v in feats.items():
            if not isinstance(v, (list, tuple)) or not all(isinstance(s, (int, float)) for s in v):
                raise FeatureError(f"scales of {k!r} must be a list of numbers, got {v!r}")
        scales = d.get("scales")
        if scales is not None:
            used = {float(s) for v in feats.values() for s in v}
            missing = used - {float(s) for s in scales}
            scales = list(scales) + sorted(missing)
        c2 = d.get("compute_in_2d")
        return cls.from_cells(feats, scales=scales, compute_in_2d=c2,
                              structure_tensor=d.get("structure_tensor", "fastfilters"),
                              normalize=d.get("normalize", "none"))

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    @classmethod
    def from_json(cls, text: str) -> "FeatureSpec":
        try:
            d = json.loads(text)
        except json.JSONDecodeError as e:
            raise FeatureError(f"feature JSON is not valid JSON: {e}") from None
        return cls.from_dict(d)

    # -- queries ----------------------------------------------------------------

    def cells(self) -> list[tuple[str, int]]:
        """Selected (feature_id, scale_index) in output order (feature -> scale)."""
        return [
            (fid, si)
            for fi, fid in enumerate(FEATURE_IDS)
            for si in range(len(self.scales))
            if self.selection[fi][si]
        ]

    def in_2d_flags(self, z_size: int) -> tuple[bool, ...]:
        if z_size <= 1:
            return (True,) * len(self.scales)
        if self.compute_in_2d is None:
            return (False,) * len(self.scales)
        return self.compute_in_2d

    def max_scale(self) -> float:
        return max(self.scales[si] for _, si in self.cells())

    def halo(self) -> int:
        """Pixels of context needed around a block so block-wise equals whole-image."""
        filters = int(math.ceil(PRESMOOTH_WINDOW * max(0.7, self.max_scale()))) + 3
        return max([filters] + [hole_reach(self.scales[si]) for fid, si in self.cells() if fid == "HoleFilling"])

    def n_features(self, n_channels: int = 1, ndim: int = 2) -> int:
        """``len(self.names(n_channels, ndim))``, counted without building the names."""
        flags = self.in_2d_flags(1 if ndim == 2 else 2)
        return sum(values_per_channel(fid, flags[si]) * n_channels for fid, si in self.cells())

    def names(self, n_channels: int = 1, ndim: int = 2) -> list[str]:
        """ilastik channel names, e.g. ``Structure Tensor Eigenvalues (σ=0.7) in 2D [1]``."""
        flags = self.in_2d_flags(1 if ndim == 2 else 2)
        out = []
        for fid, si in self.cells():
            d = 2 if flags[si] else 3
            per = values_per_channel(fid, flags[si])
            base = f"{FEATURE_NAMES[fid]} (σ={_fmt_scale(self.scales[si])}) in {d}D"
            k = per * n_channels
            out.extend([base] if k == 1 else [f"{base} [{i}]" for i in range(k)])
        return out

    def with_compute_in_2d(self, flags) -> "FeatureSpec":
        return replace(self, compute_in_2d=None if flags is None else tuple(flags))


PRESETS = ("ilastik-default", "pixelforest-default", "minimal")

#: what a new user gets when choosing nothing (CLI, Fiji); chosen by scripts/evaluate.py (see README)
DEFAULT_FEATURES = "pixelforest-default"


def _fmt_scale(s: float) -> str:
    return repr(float(s))


def resolve_spec(features, z_size: int | None = None) -> FeatureSpec:
    """A FeatureSpec from a spec, a preset name, a dict, JSON text or a .json path. With ``z_size``
    (the depth of the stack(s) to train on), the default preset chosen by name computes the scales
    too large for that depth in 2D (:func:`fit_to_depth`)."""
    if z_size is not None and isinstance(features, str) and features == DEFAULT_FEATURES:
        return fit_to_depth(FeatureSpec.preset(features), z_size)
    if isinstance(features, FeatureSpec):
        return features
    if isinstance(features, dict):
        return FeatureSpec.from_dict(features)
    if isinstance(features, (str, Path)):
        s = str(features)
        if s in PRESETS:
            return FeatureSpec.preset(s)
        if s.lstrip().startswith("{"):
            return FeatureSpec.from_json(s)
        p = Path(s)
        if p.suffix.lower() == ".json":
            if not p.is_file():
                raise FeatureError(f"feature file {s} does not exist")
            try:
                return FeatureSpec.from_json(p.read_text(encoding="utf-8"))
            except FeatureError as e:
                raise FeatureError(f"{s}: {e}") from None
        raise FeatureError(f"unknown features {s!r}: expected one of {list(PRESETS)} or a .json file")
    raise TypeError(f"features must be a FeatureSpec, preset name, dict or .json path, not {type(features).__name__}")


def feature_names(features="ilastik-default", n_channels: int = 1, ndim: int = 2) -> list[str]:
    """ilastik names of the output channels of ``features`` (see :meth:`FeatureSpec.names`)."""
    if ndim not in (2, 3):
        raise ValueError(f"ndim must be 2 or 3, got {ndim}")
    return resolve_spec(features).names(n_channels, ndim)


# ------------------------------------------------------------------------ kernels


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
    """Convolution with mirror borders, float32 (compiled; see :mod:`pixelforest._filters`)."""
    return correlate1d(data, k[::-1], axis)


def _separable(data: np.ndarray, kernels: dict[int, np.ndarray]) -> np.ndarray:
    out = data
    for ax, k in kernels.items():
        out = _conv(out, k, ax)
    return out


# ------------------------------------------------------------------------ compute


def presmooth_sigma(s: float) -> float:
    return math.sqrt(s * s - 1.0) if s > 1.0 else s


def scale_min_size(s: float) -> int:
    """Pixels a scale needs along each axis it is computed in (ilastik's rule)."""
    return math.ceil(3.5 * s) + 1


def fit_to_depth(spec: FeatureSpec, z_size: int) -> FeatureSpec:
    """For a 3D stack of ``z_size`` slices: the scales too large for it in 3D computed in 2D (per
    slice) instead. Used for the ``pixelforest-default`` preset chosen by name, so that a new user's
    thin stack trains rather than failing; explicit feature sets keep ilastik's rule (an error)."""
    if z_size <= 1 or spec.compute_in_2d is not None:
        return spec
    flags = tuple(scale_min_size(s) > z_size for s in spec.scales)
    return spec.with_compute_in_2d(flags) if any(flags) else spec


def largest_scale(fid: str, size: int) -> float | None:
    """The largest scale of feature ``fid`` that an axis of ``size`` pixels can hold (the rule
    :func:`check_scales` applies), or None for any (hole filling's reach is cut at the border)."""
    if fid == "HoleFilling":
        return None
    if fid == "TopHat":  # 2 * ceil(s) + 1 <= size
        return float(max(0, (size - 1) // 2))
    s = max(0.0, (size - 1) / 3.5)  # ceil(3.5 s) + 1 <= size, where rounding can make 3.5 s a hair too large
    while s > 0 and scale_min_size(s) > size:
        s = math.nextafter(s, 0.0)
    return s


def _too_large(spec: FeatureSpec, shape_tzyx: tuple[int, ...]):
    """Each selected cell whose scale the image cannot hold: (feature id, scale index, pixels needed, {axis: size})."""
    _, z, y, x = shape_tzyx
    flags = spec.in_2d_flags(z)
    for fid, si in spec.cells():
        s = spec.scales[si]
        if fid == "HoleFilling":  # defined on any image (its reach is cut at the border)
            continue
        need = 2 * tophat_radius(s) + 1 if fid == "TopHat" else scale_min_size(s)
        dims = {"y": y, "x": x} if flags[si] else {"z": z, "y": y, "x": x}
        small = {a: n for a, n in dims.items() if need > n}
        if small:
            yield fid, si, need, small


def fit_to_size(spec: FeatureSpec, shape_tzyx: tuple[int, ...]) -> tuple[FeatureSpec, list[float]]:
    """``spec`` without the scales too large for an image of this shape (every cell at such a scale
    is left out), and the scales left out. For Live Training on a preset: a small image trains on
    the scales it can hold instead of failing. Raises when no cell is left."""
    drop = sorted({si for _, si, _, _ in _too_large(spec, shape_tzyx)})
    if not drop:
        return spec, []
    keep = [i for i in range(len(spec.scales)) if i not in drop]
    sel = tuple(tuple(row[i] for i in keep) for row in spec.selection)
    if not keep or not any(any(r) for r in sel):
        check_scales(spec, shape_tzyx)  # the error naming the first scale too large
    c2 = None if spec.compute_in_2d is None else tuple(spec.compute_in_2d[i] for i in keep)
    fitted = replace(spec, scales=tuple(spec.scales[i] for i in keep), selection=sel, compute_in_2d=c2)
    return fitted, [spec.scales[i] for i in drop]


def check_scales(spec: FeatureSpec, shape_tzyx: tuple[int, ...]) -> None:
    """Raise a clear error for scales too large for the image (ilastik's rule)."""
    for fid, si, need, small in _too_large(spec, shape_tzyx):
        raise FeatureError(
            f"scale {spec.scales[si]} of {FEATURE_NAMES[fid]} is too large for this image: it needs at least "
            f"{need} pixels along {', '.join(small)} but the image has "
            f"{', '.join(f'{a}={n}' for a, n in small.items())}; remove that scale "
            f"(or compute it in 2D for thin 3D stacks)"
        )


def _eig2(a, b, c):
    """Eigenvalues (descending) of symmetric 2x2 [[a, b], [b, c]]."""
    return eig2(np.ascontiguousarray(a, np.float32), np.ascontiguousarray(b, np.float32),
                np.ascontiguousarray(c, np.float32))


def _eig3(m00, m01, m02, m11, m12, m22):
    """Eigenvalues (descending) of symmetric 3x3 matrices given by components."""
    return eig3(m00, m01, m02, m11, m12, m22)


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
        for ax, o in zip(self.axes, orders):
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
            ev = _eig3(m[(0, 0)], m[(0, 1)], m[(0, 2)], m[(1, 1)], m[(1, 2)], m[(2, 2)])
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


def image_stats(image5, spec: FeatureSpec):
    """Per-channel normalisation statistics ``(C, 2)`` of a whole (T, Z, Y, X, C) image (or a
    lazily read one), from a strided sample of about 2 million pixels; None without normalisation."""
    if spec.normalize == "none":
        return None
    T, Z, Y, X, C = image5.shape
    step = max(1, int(np.sqrt(T * Z * Y * X / 2e6)))
    sample = np.asarray(image5[:, :, ::step, ::step, :], dtype=np.float64).reshape(-1, C)
    if spec.normalize == "percentile":
        lo, hi = np.percentile(sample, NORMALIZE_PERCENTILES, axis=0)
    else:  # "otsu": the means of the two classes Otsu's threshold splits the channel into
        lo, hi = np.empty(C), np.empty(C)
        for c in range(C):
            lo[c], hi[c] = otsu_class_means(sample[:, c])
    return np.stack([lo, np.where(hi > lo, hi, lo + 1.0)], axis=1)


def otsu_class_means(values: np.ndarray) -> tuple[float, float]:
    """Means of the darker and the brighter class of Otsu's threshold (256-bin histogram)."""
    v = np.asarray(values, np.float64)
    vmin, vmax = float(v.min()), float(v.max())
    if vmax <= vmin:
        return vmin, vmin + 1.0
    from skimage.filters import threshold_otsu

    t = threshold_otsu(v)
    below = v <= t
    return float(v[below].mean()), float(v[~below].mean()) if (~below).any() else vmax


def normalize_block(data: np.ndarray, stats) -> np.ndarray:
    lo, hi = stats[:, 0].astype(np.float32), stats[:, 1].astype(np.float32)
    return (data.astype(np.float32) - lo) / (hi - lo)


def compute_canonical(data: np.ndarray, spec: FeatureSpec, *, check: bool = True, z_size: int | None = None,
                      out: np.ndarray | None = None, stats=None) -> np.ndarray:
    """Features of a 5D ``(T, Z, Y, X, C)`` array -> ``(T, Z, Y, X, F)`` float32.

    ``z_size`` is the Z extent of the whole image (when ``data`` is a block of
    it), which decides 2D vs 3D for scales without an explicit flag. ``stats`` are
    the whole image's normalisation statistics (:func:`image_stats`) when ``data``
    is a block of it; without them a normalising spec uses ``data``'s own.
    """
    if spec.normalize != "none":
        data = normalize_block(data, image_stats(data, spec) if stats is None else stats)
    if data.ndim != 5:
        raise ValueError("compute_canonical expects a (T, Z, Y, X, C) array")
    T, Z, Y, X, C = data.shape
    zs = Z if z_size is None else z_size
    if check:
        check_scales(spec, (T, zs, Y, X))
    flags = spec.in_2d_flags(zs)
    n_out = spec.n_features(C, 2 if zs <= 1 else 3)
    if out is None:
        from .runtime import check_memory

        check_memory(T * Z * Y * X * n_out * 4, f"{n_out} features of a {T}x{Z}x{Y}x{X} image")
        out = np.empty((T, Z, Y, X, n_out), dtype=np.float32)
    elif out.shape != (T, Z, Y, X, n_out) or out.dtype != np.float32 or not out.flags.c_contiguous:
        raise ValueError(f"out must be a C-contiguous float32 array of shape {(T, Z, Y, X, n_out)}, "
                         f"got {out.dtype} {out.shape}{'' if out.flags.c_contiguous else ', strided'}")
    chans = [np.ascontiguousarray(data[..., c], dtype=np.float32) for c in range(C)]
    # a read-only channel (a memory-mapped .npy, a read-only view) is copied: the compiled kernels
    # are built for writeable arrays only, not again for read-only ones at a user's first such command
    chans = [ch if ch.flags.writeable else ch.copy() for ch in chans]
    # feature -> scale -> channel -> eigen index; compute per (scale, channel) once
    cells = spec.cells()
    by_scale: dict[int, list[str]] = {}
    for fid, si in cells:
        by_scale.setdefault(si, []).append(fid)
    # first output column of each (feature, scale, channel): ilastik's order is feature > scale > channel > eigen
    first_col: dict[tuple[str, int, int], int] = {}
    k = 0
    for fid, si in cells:
        for c in range(C):
            first_col[(fid, si, c)] = k
            k += values_per_channel(fid, flags[si])
    assert k == n_out
    tophat = [si for si, fids in by_scale.items() if "TopHat" in fids]
    holes = [si for si, fids in by_scale.items() if "HoleFilling" in fids]
    by_scale = {si: [f for f in fids if f not in OWN_FEATURE_IDS] for si, fids in by_scale.items()}
    by_scale = {si: fids for si, fids in by_scale.items() if fids}
    if HAVE_NUMBA and FUSED_2D and all(flags[si] for si in list(by_scale) + tophat + holes):
        _jobs_2d(chans, spec, by_scale, tophat, holes, first_col, out)
        return out
    if by_scale and HAVE_NUMBA and FUSED_2D and all(flags[si] for si in by_scale):
        _fused_2d(chans, spec, by_scale, first_col, out)
    elif by_scale:
        _planar_bank(chans, spec, by_scale, first_col, flags, out)
    if tophat:
        _tophat_bank(chans, spec, tophat, first_col, flags, out)
    if holes:
        _holes_bank(chans, spec, holes, first_col, flags, out)
    return out


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


def _holes_bank(chans, spec: FeatureSpec, scale_indices, first_col: dict, flags, out: np.ndarray) -> None:
    """Hole filling, dark and bright: one component tree per polarity, plane (2D scales) or volume
    (3D scales) and channel serves all its reaches; values go straight into their columns."""
    from ._holes import hole_filling

    T, Z, Y, X, F = out.shape
    for in_2d in (True, False):
        sis = sorted((si for si in scale_indices if flags[si] == in_2d), key=lambda si: spec.scales[si])
        if not sis:
            continue
        reaches = [hole_reach(spec.scales[si]) for si in sis]
        for c, ch in enumerate(chans):
            dark = [first_col[("HoleFilling", si, c)] for si in sis]
            bright = [k + 1 for k in dark]
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


def _jobs_2d(chans, spec: FeatureSpec, by_scale: dict, tophat, holes, first_col: dict, out: np.ndarray) -> None:
    """Every feature in 2D: the row-fused bank (blocks of rows), the top-hats (a radius of a plane
    each) and hole filling (a tile of a plane each) as one list of serial compiled jobs, taken
    by the threads as they come free, largest first (:func:`pixelforest._tasks.run_jobs`)."""
    import functools

    from . import _bank2d as B
    from ._holes import hole_filling_jobs
    from ._tasks import run_jobs, threads

    T, Z, Y, X, F = out.shape
    n_threads = threads()
    jobs = []  # (cost, job)
    planes = [(t, z) for t in range(T) for z in range(Z)]
    if by_scale:
        kernels, slots = _bank_kernels(spec, by_scale)
        for c, ch in enumerate(chans):
            cols = _bank_cols(by_scale, first_col, slots, c)
            for t, z in planes:
                jobs += [(cost * JOB_COST["bank"] * len(by_scale) / 6, job)
                         for cost, job in B.plane_jobs(ch[t, z], kernels, cols, out[t, z])]
    if tophat:
        from ._filters import tophat_band

        radii = np.array([tophat_radius(spec.scales[si]) for si in tophat], np.int64)
        # bands of about TOPHAT_BAND rows (each with a margin of 2 x the largest radius above and below)
        bands = np.linspace(0, Y, max(1, round(Y / TOPHAT_BAND)) + 1).round().astype(int)
        for c, ch in enumerate(chans):
            cols = np.array([first_col[("TopHat", si, c)] for si in tophat], np.int64)
            for t, z in planes:
                for y0, y1 in zip(bands[:-1], bands[1:]):
                    jobs.append(((y1 - y0) * X * len(tophat) * JOB_COST["tophat"],
                                 functools.partial(tophat_band, ch[t, z], int(y0), int(y1), radii,
                                                   out[t, z].reshape(-1, F), cols)))
    if holes:
        sis = sorted(holes, key=lambda si: spec.scales[si])
        reaches = [hole_reach(spec.scales[si]) for si in sis]
        for c, ch in enumerate(chans):
            dark = [first_col[("HoleFilling", si, c)] for si in sis]
            for t, z in planes:
                jobs += [(cost * JOB_COST["holes"], job) for cost, job in
                         hole_filling_jobs(ch[t, z][None], reaches, out[t, z].reshape(-1, F), dark,
                                           [k + 1 for k in dark], n_threads)]
    jobs.sort(key=lambda cj: -cj[0])
    run_jobs([job for _, job in jobs], n_threads)


_SLOTS = ("GaussianSmoothing", "LaplacianOfGaussian", "GaussianGradientMagnitude", "DifferenceOfGaussians",
          "StructureTensorEigenvalues", "HessianOfGaussianEigenvalues")


def _bank_kernels(spec: FeatureSpec, by_scale: dict):
    """The row-fused bank's kernels per scale, and its output slot of each feature."""
    from . import _bank2d as B

    slots = dict(zip(_SLOTS, (B.C_SMOOTH, B.C_LOG, B.C_GGM, B.C_DOG, B.C_ST, B.C_HESS)))
    kernels = []
    for si in by_scale:
        s = spec.scales[si]
        sf = min(s, 1.0)
        inner, outer = (0.5 * sf, sf) if spec.structure_tensor == "fastfilters" else (sf, 0.5 * sf)
        ks = [None] * 8
        ks[B.K_SF0], ks[B.K_SF1], ks[B.K_SF2] = (kernel(sf, o, FILTER_WINDOW) for o in (0, 1, 2))
        ks[B.K_DOG] = kernel(DOG_RATIO * sf, 0, FILTER_WINDOW)
        ks[B.K_OUTER] = kernel(outer, 0, FILTER_WINDOW)
        ks[B.K_IN0], ks[B.K_IN1] = kernel(inner, 0, FILTER_WINDOW), kernel(inner, 1, FILTER_WINDOW)
        ks[B.K_PRE] = kernel(presmooth_sigma(s), 0, PRESMOOTH_WINDOW)
        kernels.append(ks)
    return kernels, slots


def _bank_cols(by_scale: dict, first_col: dict, slots: dict, c: int) -> np.ndarray:
    cols = np.full((len(by_scale), 6), -1, np.int64)
    for j, (si, fids) in enumerate(by_scale.items()):
        for fid in fids:
            cols[j, slots[fid]] = first_col[(fid, si, c)]
    return cols


def _fused_2d(chans, spec: FeatureSpec, by_scale: dict, first_col: dict, out: np.ndarray) -> None:
    """All scales computed in 2D: the row-fused bank (:mod:`pixelforest._bank2d`), plane by plane."""
    from . import _bank2d as B

    kernels, slots = _bank_kernels(spec, by_scale)
    T, Z = out.shape[:2]
    for c, ch in enumerate(chans):
        cols = _bank_cols(by_scale, first_col, slots, c)
        for t in range(T):
            for z in range(Z):
                B.compute_plane(ch[t, z], kernels, cols, out[t, z])


def compute_features(image, features="ilastik-default", *, channel_axis=None, axes=None) -> np.ndarray:
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
    return _axes.from_canonical(compute_canonical(data, spec), ax)


#: pixel values the features take: beyond this, squared intensities (structure tensor, variances)
#: overflow float32 and features become Inf (2**53: also every integer below it is exact)
MAX_ABS_VALUE = float(2**53)


def check_image_values(image: np.ndarray, name: str = "image") -> None:
    if image.dtype.kind not in "biuf":
        raise TypeError(f"{name} must have a numeric dtype, got {image.dtype}")
    if image.size == 0:
        raise ValueError(f"{name} is empty (shape {image.shape})")
    if image.dtype.kind == "f" and not np.isfinite(image).all():
        raise NonFiniteError(f"{name} contains NaN or Inf values; replace them (e.g. np.nan_to_num) before computing "
                             f"features")
    if image.dtype.itemsize >= 8 or image.dtype.kind == "f" and image.dtype.itemsize > 4:
        lo, hi = image.min(), image.max()
        if max(abs(float(lo)), abs(float(hi))) > MAX_ABS_VALUE:
            raise ValueError(f"{name} has values up to {max(abs(float(lo)), abs(float(hi))):.3g}, beyond what the "
                             f"features can compute in float32 (|value| <= {MAX_ABS_VALUE:.3g}: their squares must "
                             f"fit); rescale the image first")

