"""Per-image intensity normalisation before the features (``FeatureSpec.normalize``): the
statistics of a whole image, and a block of it scaled with them."""

from __future__ import annotations

import numpy as np

from .spec import FeatureSpec

NORMALIZE_PERCENTILES = (1.0, 99.8)


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
    """``data`` as float32, each channel scaled by its statistics (``(C, 2)``: the values that become 0 and 1)."""
    lo, hi = stats[:, 0].astype(np.float32), stats[:, 1].astype(np.float32)
    return (data.astype(np.float32) - lo) / (hi - lo)
