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
    raw = np.asarray(image5[:, :, ::step, ::step, :]).reshape(-1, C)
    if spec.normalize == "otsu" and raw.dtype.kind in "ui" and raw.dtype.itemsize <= 2:
        return _stats(np.array([otsu_class_means_of_counts(*_value_counts(raw[:, c])) for c in range(C)]))
    sample = raw.astype(np.float64)
    if spec.normalize == "percentile":
        lo, hi = np.percentile(sample, NORMALIZE_PERCENTILES, axis=0)
    else:  # "otsu": the means of the two classes Otsu's threshold splits the channel into
        lo, hi = np.empty(C), np.empty(C)
        for c in range(C):
            lo[c], hi[c] = otsu_class_means(sample[:, c])
    return _stats(np.stack([lo, hi], axis=1))


def _stats(lo_hi: np.ndarray) -> np.ndarray:
    lo, hi = lo_hi[:, 0], lo_hi[:, 1]
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


#: values counted at a time by :func:`_value_counts` (bincount's int64 copy of a chunk is reused
#: memory; of a whole image it was fresh memory, slower to touch than the counting)
COUNT_CHUNK = 1 << 16


def _value_counts(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct values (float64, ascending) of integers of up to 16 bits, and their counts."""
    low = int(values.min())
    n = int(values.max()) - low + 1
    counts = np.zeros(n, np.int64)
    for i in range(0, values.size, COUNT_CHUNK):
        chunk = values[i:i + COUNT_CHUNK]
        counts += np.bincount((chunk.astype(np.int64) - low) if low else chunk, minlength=n)
    present = np.flatnonzero(counts)
    return (present + low).astype(np.float64), counts[present]


def otsu_class_means_of_counts(values: np.ndarray, counts: np.ndarray) -> tuple[float, float]:
    """:func:`otsu_class_means` of integer values given as distinct values and their counts, in
    time of the number of distinct values: the same numbers (the same 256 bins, and the classes'
    sums are sums of integers, exact in float64 in any order)."""
    vmin, vmax = float(values[0]), float(values[-1])
    if vmax <= vmin:
        return vmin, vmin + 1.0
    from skimage.filters import threshold_otsu

    hist, edges = np.histogram(values, bins=256, range=(vmin, vmax), weights=counts)
    t = threshold_otsu(hist=(hist.astype(np.int64), (edges[:-1] + edges[1:]) / 2.0))
    below = values <= t
    n_below = int(counts[below].sum())
    lo = float((values[below] * counts[below]).sum() / n_below)
    return lo, float((values[~below] * counts[~below]).sum() / (counts.sum() - n_below)) if (~below).any() else vmax


def normalize_block(data: np.ndarray, stats) -> np.ndarray:
    """``data`` as float32, each channel scaled by its statistics (``(C, 2)``: the values that become 0 and 1)."""
    lo, hi = stats[:, 0].astype(np.float32), stats[:, 1].astype(np.float32)
    out = np.subtract(data, lo, dtype=np.float32)  # (data cast to float32 first, as astype would)
    return np.divide(out, hi - lo, out=out)
