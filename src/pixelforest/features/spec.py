"""Which features: the feature ids and names, :class:`FeatureSpec` (a selection of (feature, scale)
cells and how they are computed), the presets, the feature JSON, and the checks of a spec against
an image (scales it can hold, values the filters can take).

Nine features: ilastik's six (Gaussian Smoothing, Laplacian of Gaussian, Gaussian Gradient
Magnitude, Difference of Gaussians, Structure Tensor Eigenvalues, Hessian of Gaussian Eigenvalues)
and pixelforest's own three (Top-Hat, Hole Filling, Dark Hole Filling), at any set of scales, each scale computed in 2D
or 3D, on any number of input channels. Output channel order is ilastik's: feature -> scale ->
input channel -> eigenvalue index (eigenvalues in descending order); :meth:`FeatureSpec.columns`
gives it. How they are computed: :mod:`pixelforest.features.compute`.
"""

from __future__ import annotations

import functools
import json
import math
from dataclasses import dataclass, replace
from pathlib import Path
from typing import NamedTuple, Sequence

import numpy as np

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
#: ``HoleFilling`` at scale s is local grey-level hole filling (:mod:`._kernels.holes`) within
#: reach ceil(4 s): dark structures that end within the reach (specks, vesicles, organelles) are
#: filled to their surroundings' level and bright ones cut down; ones that run on (membranes, a
#: network) keep their values. Also on the (normalised) image itself. ``DarkHoleFilling`` is its
#: dark value alone (the same numbers as Hole Filling's first column), at half the cost.
OWN_FEATURE_IDS = ("TopHat", "HoleFilling", "DarkHoleFilling")
#: the features computed from hole filling's component trees (all reaches of a plane or volume share one)
HOLE_FEATURE_IDS = ("HoleFilling", "DarkHoleFilling")
#: features whose columns are some of another's at the same scale: (that feature, which of its
#: columns, channel by channel); Dark Hole Filling's are Hole Filling's dark ones, every other
DERIVED_FEATURES = {"DarkHoleFilling": ("HoleFilling", slice(0, None, 2))}
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
    "DarkHoleFilling": "Dark Hole Filling",
}
#: the lowest classifier format version that holds each of pixelforest's own features
FEATURE_FORMAT_VERSION = {"TopHat": 3, "HoleFilling": 4, "DarkHoleFilling": 5}
EIGEN_FEATURES = ("StructureTensorEigenvalues", "HessianOfGaussianEigenvalues")


def values_per_channel(fid: str, in_2d: bool) -> int:
    """Output channels of one feature cell per input channel: its eigenvalues (2 in 2D, 3 in 3D),
    black and white for the top-hat, dark and bright for hole filling, or 1."""
    if fid in ("TopHat", "HoleFilling"):
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
PIXELFOREST_FEATURES = ("GaussianSmoothing", "HessianOfGaussianEigenvalues", "TopHat", "DarkHoleFilling")
MIN_SCALE = {fid: (0.3 if fid == "GaussianSmoothing" else 1.0 if fid in OWN_FEATURE_IDS else 0.7)
             for fid in FEATURE_IDS}

#: per-image intensity normalisation before the features: "none" (ilastik), "percentile" (each
#: channel scaled so that its 1st and 99.8th percentiles become 0 and 1) or "otsu" (each channel
#: scaled so that the means of its two Otsu classes, background and foreground, become 0 and 1)
NORMALIZE = ("none", "percentile", "otsu")

#: structure-tensor rule of ilastik >= 1.3 (fastfilters): gradient at 0.5*sigma,
#: tensor smoothing at sigma. ``"vigra"`` is the rule of projects saved by
#: ilastik < 1.3: gradient at sigma, tensor smoothing at 0.5*sigma.
ST_RULES = ("fastfilters", "vigra")

#: kernel windows (in sigmas) of the pre-smoothing and of the feature filters, and the ratio of the
#: difference of Gaussians' second sigma to its first (ilastik's)
PRESMOOTH_WINDOW = 3.5
FILTER_WINDOW = 2.0
DOG_RATIO = 0.66


class NonFiniteError(ValueError):
    """An image holds NaN or infinite values, which no feature can be computed from."""


class FeatureError(ValueError):
    """Invalid feature selection or scale for an image."""


def _full_selection(selection, scales: tuple[float, ...]) -> tuple[tuple[bool, ...], ...]:
    """The selection as a ``len(FEATURE_IDS) x len(scales)`` matrix of bools (ilastik's matrix of
    its six features is completed with unselected rows for pixelforest's own)."""
    sel = tuple(tuple(bool(v) for v in row) for row in selection)
    if len(ILASTIK_FEATURE_IDS) <= len(sel) < len(FEATURE_IDS):  # ilastik's matrix (none of pixelforest's
        sel = sel + ((False,) * len(scales),) * (len(FEATURE_IDS) - len(sel))  # own), or one of fewer of them
    if len(sel) != len(FEATURE_IDS) or any(len(r) != len(scales) for r in sel):
        raise FeatureError(
            f"selection must be a {len(FEATURE_IDS)} x {len(scales)} matrix "
            f"(features {list(FEATURE_IDS)} x scales {list(scales)})"
        )
    return sel


def _check_scale_values(scales: tuple[float, ...]) -> None:
    """Raise for a scale that is not a positive finite number up to MAX_SCALE, too many scales or duplicates."""
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


def _check_cells(sel, scales: tuple[float, ...]) -> None:
    """Raise for a cell below its feature's smallest scale, or when no cell is selected."""
    for fi, fid in enumerate(FEATURE_IDS):
        for si, s in enumerate(scales):
            if sel[fi][si] and s < MIN_SCALE[fid] - 1e-12:
                only_gs = " (only Gaussian Smoothing may use scales down to 0.3)" if fid in ILASTIK_FEATURE_IDS else ""
                raise FeatureError(f"{FEATURE_NAMES[fid]} at scale {s} is invalid: it needs a scale >= "
                                   f"{MIN_SCALE[fid]}{only_gs}")
    if not any(any(r) for r in sel):
        raise FeatureError("no feature selected: select at least one (feature, scale) cell")


class CellColumns(NamedTuple):
    """Where one (feature, scale) cell lies in the output columns (:meth:`FeatureSpec.columns`):
    ``per_channel`` columns for each of ``n_channels`` input channels, one channel after the
    other from column ``start``."""

    fid: str
    si: int
    in_2d: bool
    start: int
    per_channel: int
    n_channels: int

    @property
    def stop(self) -> int:
        """One past the cell's last column."""
        return self.start + self.per_channel * self.n_channels

    def channel_start(self, c: int) -> int:
        """First column of input channel ``c`` (its eigenvalues, or dark and bright, follow)."""
        return self.start + c * self.per_channel


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
        object.__setattr__(self, "selection", _full_selection(self.selection, scales))
        _check_scale_values(scales)
        if self.compute_in_2d is not None:
            c2 = tuple(bool(v) for v in self.compute_in_2d)
            if len(c2) != len(scales):
                raise FeatureError(f"compute_in_2d needs one flag per scale ({len(scales)}), got {len(c2)}")
            object.__setattr__(self, "compute_in_2d", c2)
        if self.normalize not in NORMALIZE:
            raise FeatureError(f"normalize must be one of {NORMALIZE}, got {self.normalize!r}")
        if self.structure_tensor not in ST_RULES:
            raise FeatureError(f"structure_tensor must be one of {ST_RULES}, got {self.structure_tensor!r}")
        _check_cells(self.selection, scales)

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
        sigma 0.5-16, top-hats of half-width 1-16 and dark hole filling of reach 4-64, on each image
        normalised to its two intensity classes, ``normalize="otsu"``; chosen by
        ``scripts/evaluate.py``, see docs/features.md) and
        ``minimal``. ``scales`` replaces a preset's scales (each cell at every scale its feature allows)."""
        if name == "ilastik-default":
            scales = DEFAULT_SCALES if scales is None else scales
            rows = tuple(tuple(fid in ILASTIK_FEATURE_IDS and s >= MIN_SCALE[fid] for s in scales)
                         for fid in FEATURE_IDS)
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
        """The feature JSON object (``format: pixelforest-features``)."""
        return {
            "format": "pixelforest-features",
            "version": 1,
            "scales": list(self.scales),
            "features": {
                fid: [s for s, on in zip(self.scales, row, strict=True) if on]
                for fid, row in zip(FEATURE_IDS, self.selection, strict=True)
                if any(row)
            },
            "compute_in_2d": None if self.compute_in_2d is None else list(self.compute_in_2d),
            "structure_tensor": self.structure_tensor,
            "normalize": self.normalize,
        }

    @classmethod
    def from_dict(cls, d: dict) -> "FeatureSpec":
        """Build from a feature JSON object (features as ``{id: [scales]}`` or ``[[id, scale], ...]``)."""
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
        """The feature JSON text."""
        return json.dumps(self.to_dict(), indent=2)

    @classmethod
    def from_json(cls, text: str) -> "FeatureSpec":
        """Build from feature JSON text."""
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
        """Per scale, whether it is computed in 2D on an image of ``z_size`` slices."""
        if z_size <= 1:
            return (True,) * len(self.scales)
        if self.compute_in_2d is None:
            return (False,) * len(self.scales)
        return self.compute_in_2d

    def max_scale(self) -> float:
        """The largest scale of a selected cell."""
        return max(self.scales[si] for _, si in self.cells())

    def halo(self) -> int:
        """Pixels of context needed around a block so block-wise equals whole-image."""
        filters = int(math.ceil(PRESMOOTH_WINDOW * max(0.7, self.max_scale()))) + 3
        return max([filters] + [hole_reach(self.scales[si]) for fid, si in self.cells() if fid in HOLE_FEATURE_IDS])

    def columns(self, n_channels: int = 1, ndim: int = 2) -> list[CellColumns]:
        """The output column layout, ilastik's order: per selected cell (feature -> scale), per input
        channel (channel after channel), its values (eigenvalues, or dark and bright) side by side.
        Every count and index of feature columns comes from here."""
        return list(_columns(self, int(n_channels), int(ndim)))

    def n_features(self, n_channels: int = 1, ndim: int = 2) -> int:
        """``len(self.names(n_channels, ndim))``, counted without building the names."""
        return self.columns(n_channels, ndim)[-1].stop

    def names(self, n_channels: int = 1, ndim: int = 2) -> list[str]:
        """ilastik channel names, e.g. ``Structure Tensor Eigenvalues (σ=0.7) in 2D [1]``."""
        out = []
        for col in self.columns(n_channels, ndim):
            base = f"{FEATURE_NAMES[col.fid]} (σ={_fmt_scale(self.scales[col.si])}) in {2 if col.in_2d else 3}D"
            k = col.stop - col.start
            out.extend([base] if k == 1 else [f"{base} [{i}]" for i in range(k)])
        return out

    def with_compute_in_2d(self, flags) -> "FeatureSpec":
        """This spec with other per-scale 2D flags (None: ilastik's default)."""
        return replace(self, compute_in_2d=None if flags is None else tuple(flags))


@functools.lru_cache(maxsize=64)
def _columns(spec: FeatureSpec, n_channels: int, ndim: int) -> tuple[CellColumns, ...]:
    """:meth:`FeatureSpec.columns`, kept per spec (asked for by every feature computation)."""
    flags = spec.in_2d_flags(1 if ndim == 2 else 2)
    out, k = [], 0
    for fid, si in spec.cells():
        per = values_per_channel(fid, flags[si])
        out.append(CellColumns(fid, si, flags[si], k, per, n_channels))
        k += per * n_channels
    return tuple(out)


PRESETS = ("ilastik-default", "pixelforest-default", "minimal")
#: what a new user gets when choosing nothing (API, CLI, Fiji); chosen by scripts/evaluate.py (docs/features.md)
DEFAULT_FEATURES = "pixelforest-default"


def _fmt_scale(s: float) -> str:
    """A scale as in ilastik's channel names."""
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
            return _preset(s)
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


@functools.lru_cache(maxsize=len(PRESETS))
def _preset(name: str) -> FeatureSpec:
    """A preset by name (a spec is immutable: the same one serves every call)."""
    return FeatureSpec.preset(name)


def feature_names(features="ilastik-default", n_channels: int = 1, ndim: int = 2) -> list[str]:
    """ilastik names of the output channels of ``features`` (see :meth:`FeatureSpec.names`)."""
    if ndim not in (2, 3):
        raise ValueError(f"ndim must be 2 or 3, got {ndim}")
    return resolve_spec(features).names(n_channels, ndim)


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
    if fid in HOLE_FEATURE_IDS:
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
        if fid in HOLE_FEATURE_IDS:  # defined on any image (its reach is cut at the border)
            continue
        need = 2 * tophat_radius(s) + 1 if fid == "TopHat" else scale_min_size(s)
        dims = {"y": y, "x": x} if flags[si] else {"z": z, "y": y, "x": x}
        small = {a: n for a, n in dims.items() if need > n}
        if small:
            yield fid, si, need, small


@functools.lru_cache(maxsize=64)
def _too_large_kept(spec: FeatureSpec, shape_tzyx: tuple[int, ...]) -> tuple:
    """:func:`_too_large` as a tuple, kept per spec and shape (checked before every computation)."""
    return tuple(_too_large(spec, shape_tzyx))


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
    for fid, si, need, small in _too_large_kept(spec, tuple(int(n) for n in shape_tzyx)):
        raise FeatureError(
            f"scale {spec.scales[si]} of {FEATURE_NAMES[fid]} is too large for this image: it needs at least "
            f"{need} pixels along {', '.join(small)} but the image has "
            f"{', '.join(f'{a}={n}' for a, n in small.items())}; remove that scale "
            f"(or compute it in 2D for thin 3D stacks)"
        )


#: pixel values the features take: beyond this, squared intensities (structure tensor, variances)
#: overflow float32 and features become Inf (2**53: also every integer below it is exact)
MAX_ABS_VALUE = float(2**53)


def check_image_values(image: np.ndarray, name: str = "image") -> None:
    """Raise a clear error for an image the features cannot take: not numeric, empty, NaN/Inf, too large values."""
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
