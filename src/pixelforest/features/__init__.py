"""ilastik's pixel feature bank, and pixelforest's own three features.

:mod:`.spec` says which features (:class:`FeatureSpec`, the presets, the feature JSON, the
checks against an image), :mod:`.normalize` scales an image's intensities before them and
:mod:`.compute` computes them, with the compiled kernels of the private :mod:`._kernels`.
The names other modules and users need are all here.
"""

from .compute import PLANAR_BUDGET_BYTES, compute_canonical, compute_features, kernel, presmooth_sigma
from .normalize import NORMALIZE_PERCENTILES, image_stats, normalize_block, otsu_class_means
from .spec import (
    DEFAULT_FEATURES,
    DEFAULT_SCALES,
    DERIVED_FEATURES,
    DOG_RATIO,
    EIGEN_FEATURES,
    FEATURE_FORMAT_VERSION,
    FEATURE_IDS,
    FEATURE_NAMES,
    FILTER_WINDOW,
    HOLE_FEATURE_IDS,
    ILASTIK_FEATURE_IDS,
    MAX_ABS_VALUE,
    MAX_SCALE,
    MAX_SCALES,
    MIN_SCALE,
    NORMALIZE,
    OWN_FEATURE_IDS,
    PIXELFOREST_FEATURES,
    PIXELFOREST_SCALES,
    PRESETS,
    PRESMOOTH_WINDOW,
    ST_RULES,
    CellColumns,
    FeatureError,
    FeatureSpec,
    NonFiniteError,
    check_image_values,
    check_scales,
    feature_names,
    fit_to_depth,
    fit_to_size,
    hole_reach,
    largest_scale,
    resolve_spec,
    scale_min_size,
    tophat_radius,
    values_per_channel,
)

__all__ = [
    "CellColumns", "DEFAULT_FEATURES", "DEFAULT_SCALES", "DERIVED_FEATURES", "DOG_RATIO", "EIGEN_FEATURES",
    "FEATURE_FORMAT_VERSION", "FEATURE_IDS", "FEATURE_NAMES", "FILTER_WINDOW", "FeatureError", "FeatureSpec",
    "HOLE_FEATURE_IDS", "ILASTIK_FEATURE_IDS", "MAX_ABS_VALUE", "MAX_SCALE", "MAX_SCALES", "MIN_SCALE", "NORMALIZE",
    "NORMALIZE_PERCENTILES", "NonFiniteError", "OWN_FEATURE_IDS", "PIXELFOREST_FEATURES", "PIXELFOREST_SCALES",
    "PLANAR_BUDGET_BYTES", "PRESETS", "PRESMOOTH_WINDOW", "ST_RULES", "check_image_values", "check_scales",
    "compute_canonical", "compute_features", "feature_names", "fit_to_depth", "fit_to_size", "hole_reach",
    "image_stats", "kernel", "largest_scale", "normalize_block", "otsu_class_means", "presmooth_sigma", "resolve_spec",
    "scale_min_size", "tophat_radius", "values_per_channel",
]
