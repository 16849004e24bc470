"""From a probability map to objects: smooth, threshold, fill holes, filter by size, split
touching objects (watershed), label, measure.

Works on 2D and 3D ``(Z, Y, X)`` probability channels; measurements use the pixel size
(calibration) when given.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage


@dataclass
class ObjectParams:
    """Post-processing settings (all optional steps)."""

    smooth: float = 0.0  # Gaussian sigma on the probability before thresholding (0 = none)
    threshold: float | str = 0.5  # a probability, or "otsu"
    fill_holes: bool = True
    min_size: int = 0  # pixels/voxels; smaller objects are dropped
    max_size: int | None = None
    split: str = "distance"  # "none", "distance" (distance-transform seeds) or "maxima" (probability maxima)
    min_distance: int = 3  # seeds at least this far apart (pixels)


def threshold_value(prob: np.ndarray, threshold) -> float:
    if isinstance(threshold, str):
        if threshold.lower() != "otsu":
            raise ValueError(f"threshold must be a number or 'otsu', got {threshold!r}")
        from skimage.filters import threshold_otsu

        return float(threshold_otsu(prob))
    t = float(threshold)
    if not np.isfinite(t):
        raise ValueError(f"threshold must be finite, got {threshold!r}")
    return t


def segment_objects(prob: np.ndarray, params: ObjectParams | None = None) -> np.ndarray:
    """Instance labels (int32, 0 = background) from one probability channel (2D or 3D)."""
    from skimage.feature import peak_local_max
    from skimage.segmentation import watershed

    p = params or ObjectParams()
    prob = np.asarray(prob, dtype=np.float32)
    if prob.ndim not in (2, 3):
        raise ValueError(f"expected a 2D or 3D probability channel, got shape {prob.shape}")
    if p.smooth > 0:
        prob = ndimage.gaussian_filter(prob, p.smooth)
    mask = prob > threshold_value(prob, p.threshold)
    if p.fill_holes:
        mask = ndimage.binary_fill_holes(mask)
    labels, n = ndimage.label(mask)
    if n and p.split != "none":
        if p.split == "distance":
            landscape = ndimage.distance_transform_edt(mask)
        elif p.split == "maxima":
            landscape = prob * mask
        else:
            raise ValueError(f"split must be 'none', 'distance' or 'maxima', got {p.split!r}")
        smooth = ndimage.gaussian_filter(landscape, 1.0) if p.split == "distance" else landscape
        peaks = peak_local_max(smooth, min_distance=max(1, int(p.min_distance)), labels=labels, exclude_border=False)
        markers = np.zeros(mask.shape, np.int32)
        markers[tuple(peaks.T)] = np.arange(1, len(peaks) + 1)
        # objects without a peak keep one marker of their own
        missing = np.setdiff1d(np.arange(1, n + 1), np.unique(labels[tuple(peaks.T)]) if len(peaks) else [])
        if missing.size:
            com = ndimage.center_of_mass(mask, labels, missing)
            for j, c in enumerate(com, start=len(peaks) + 1):
                idx = tuple(int(round(v)) for v in c)
                if labels[idx] == 0:  # a ring-shaped object: any pixel of it
                    idx = tuple(a[0] for a in np.nonzero(labels == missing[j - len(peaks) - 1]))
                markers[idx] = j
        labels = watershed(-smooth, markers, mask=mask).astype(np.int32)
    if p.min_size or p.max_size:
        sizes = np.bincount(labels.ravel())
        drop = sizes < p.min_size
        if p.max_size:
            drop |= sizes > p.max_size
        drop[0] = False
        labels[drop[labels]] = 0
    # consecutive labels 1..N
    uniq = np.unique(labels)
    uniq = uniq[uniq > 0]
    lut = np.zeros(int(labels.max()) + 1, np.int32)
    lut[uniq] = np.arange(1, uniq.size + 1)
    return lut[labels]


def pixel_sizes(pixel_size, ndim: int) -> np.ndarray:
    """One size per axis of ``ndim``-D labels from None (1), one value (every axis) or one per axis
    (more: the last ones, e.g. z, y, x for a plane); ValueError for fewer or non-positive ones."""
    nd = int(ndim)
    names = "zyx"[-nd:]
    if pixel_size is None:
        return np.ones(nd)
    ps = np.asarray(pixel_size, np.float64).reshape(-1)
    if ps.size == 1:
        ps = np.full(nd, ps[0])
    if ps.size < nd or ps.size > 3:
        raise ValueError(f"pixel_size has {ps.size} values for {nd}D labels: give {','.join(names)} "
                         f"(or one value for every axis)")
    ps = ps[-nd:]
    if not (np.isfinite(ps).all() and (ps > 0).all()):
        raise ValueError(f"pixel_size must be positive numbers, got {','.join(f'{v:g}' for v in ps)}")
    return ps


def measure_objects(labels: np.ndarray, prob: np.ndarray | None = None, image: np.ndarray | None = None,
                    pixel_size=None, unit: str = "pixel") -> list[dict]:
    """One row per object: label, area/volume, centroid, bounding box, mean probability, mean
    intensity per image channel, in calibrated units when ``pixel_size`` (per axis) is given.

    ``image`` has the labels' shape, optionally with channels last.
    """
    labels = np.asarray(labels)
    nd = labels.ndim
    names = "zyx"[-nd:]
    ps = pixel_sizes(pixel_size, nd)
    if int(labels.max(initial=0)) <= 0:
        return []
    counts = np.bincount(labels.ravel())
    idx = np.flatnonzero(counts[1:]) + 1  # the labels present: numbering may have gaps
    counts = counts[idx]
    coms = ndimage.center_of_mass(np.ones(labels.shape), labels, idx)
    boxes = [b for b in ndimage.find_objects(labels) if b is not None]  # None for the labels absent
    mean_p = ndimage.mean(prob, labels, idx) if prob is not None else None
    chans = []
    if image is not None:
        img = np.asarray(image)
        img = img[..., None] if img.ndim == nd else img
        chans = [ndimage.mean(img[..., c].astype(np.float64), labels, idx) for c in range(img.shape[-1])]
    rows = []
    size_name = "volume" if nd == 3 else "area"
    vox = float(np.prod(ps))
    for i, lab in enumerate(idx):
        r = {"label": int(lab), size_name: float(counts[i] * vox), "pixels": int(counts[i])}
        for a, v, s in zip(names, coms[i], ps, strict=True):
            r[f"centroid_{a}"] = float(v * s)
        for a, sl in zip(names, boxes[i], strict=True):
            r[f"bbox_{a}0"], r[f"bbox_{a}1"] = int(sl.start), int(sl.stop)
        if mean_p is not None:
            r["mean_probability"] = float(mean_p[i])
        for c, m in enumerate(chans):
            r[f"mean_intensity_{c}"] = float(m[i])
        r["unit"] = unit
        rows.append(r)
    return rows


#: where to label next, ranked (:func:`suggest_regions` with ``method="ranked"``): a place beside
#: the strokes counts this much of its thin-band worth, so that wide uncertain areas away from the
#: labels come first and the rims the strokes hug come next (scribbles along both sides of a
#: boundary leave the boundary itself uncertain, and nothing else)
THIN_WEIGHT = 0.3
#: ... and a pixel's own worth rises from 0 on and beside a labelled pixel to 1 this many pixels away
NEAR_RAMP = 4


def suggest_regions(uncertainty: np.ndarray, k: int = 5, size: int = 15, labels: np.ndarray | None = None,
                    *, method: str = "drawn", seed: int = 0) -> list[dict]:
    """Where to label next: ``k`` places, each a box of about ``size`` pixels around its centre.

    ``method="drawn"`` (the default): each place is drawn at random, a pixel's chance being its
    uncertainty to the power ``DRAW_POWER`` (:func:`suggestion_weights`: 0 on and beside a labelled
    pixel), so that the suggestions go where the forest is unsure, in proportion to how much of
    the image is unsure in that way, rather than always to the few most uncertain spots. In the
    simulated loop (``scripts/evaluate.py --rounds``, docs/evaluation.md), with 10 seeds, that
    reached random strokes' gain in fewer strokes than ranking did on EM, conifer wood and E. coli
    (with 3 seeds the two were mixed). ``seed`` makes the draw repeatable (the same uncertainty and
    labels give the same places). It costs a few passes over the image, then little per place
    (sums kept per block of pixels, :class:`_Draw`; the spacing cleared in a box around the place).

    ``method="ranked"``: the places most worth a stroke first, a place's worth the larger of two:

    * *wide*: the mean uncertainty over a ``size`` box around it (a wide uncertain area outranks a
      thin uncertain line), times how far its box stays from the nearest labelled pixel, over
      ``size`` (capped at 1: 0 for a box holding a labelled pixel);
    * *thin*: ``THIN_WEIGHT`` times the mean over a box of half the size of each pixel's
      uncertainty weighted by its distance from the labels (0 on and beside a labelled pixel, 1 from
      ``NEAR_RAMP`` pixels on): an uncertain rim between strokes, once no wide area is left.

    Either way a place is never on or beside a labelled pixel, and each is at least ``2 * size``
    from the ones taken before it, so the suggestions are spread over the image. 2D or 3D.
    Returns ``[{"center": (...), "box": ((start, stop), ...), "uncertainty": mean uncertainty over
    the box, "score": worth (ranked) or the centre's uncertainty (drawn)}]``, ranked: best first,
    drawn: the most uncertain box first; fewer than ``k`` when nothing uncertain is left away from
    the labels.
    """
    if method == "ranked":
        return _ranked_regions(uncertainty, k, size, labels)
    if method != "drawn":
        raise ValueError(f"method must be 'drawn' or 'ranked', got {method!r}")
    u = _checked_uncertainty(uncertainty, k, size, labels)
    k, size = int(k), int(size)
    draw = _Draw(suggestion_weights(u, labels))
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(k):
        j = draw.next(rng)
        if j < 0:
            break
        c = np.unravel_index(j, u.shape)
        out.append(_region(c, u.shape, size, _box_mean(u, c, size), float(u[c])))
        draw.clear_around(c, size)
    return sorted(out, key=lambda r: -r["uncertainty"])  # (the order of the draws means nothing: shown by box)


#: where to label next, drawn (:func:`suggest_regions`): a pixel's chance is its uncertainty to this
#: power (chosen on the EM tune slices among 1 and 3; 2, 5 and 8, looked at later, made no
#: measurable difference: docs/evaluation.md)
DRAW_POWER = 3


def suggestion_weights(uncertainty: np.ndarray, labels: np.ndarray | None = None) -> np.ndarray:
    """Each pixel's chance (not normalised, float64) to be drawn by :func:`suggest_regions`:
    its uncertainty (NaN and negative: 0; an uncertainty on another scale than 0-1, e.g. 8-bit,
    divided by its maximum) to the power ``DRAW_POWER``, 0 on and beside a labelled pixel."""
    u = np.array(uncertainty, np.float64)  # (a copy, worked on in place)
    np.nan_to_num(u, copy=False, nan=0.0, neginf=0.0)
    np.maximum(u, 0.0, out=u)
    top = float(u.max()) if u.size else 0.0
    if top > 1.0:
        u /= top
    w = np.power(u, DRAW_POWER, out=u)
    if labels is not None and np.any(labels):
        w[_near_labels(labels)] = 0.0
    return w


def _near_labels(labels) -> np.ndarray:
    """On or beside (8- or 26-connected) a labelled pixel, i.e. at chessboard distance <= 1 from
    one: the labelled pixels grown by one along each axis in turn (a 3 x 3 box is a row by a column)."""
    near = np.asarray(labels) != 0
    for axis in range(near.ndim):
        was = np.moveaxis(near.copy(), axis, 0)  # (both views in near's memory order)
        a = np.moveaxis(near, axis, 0)
        a[1:] |= was[:-1]
        a[:-1] |= was[1:]
    return near


class _Draw:
    """Draws flat indices of ``weight`` (any shape, float64; kept C-contiguous as its own copy when
    it is not), each with a chance in proportion to its weight, from sums kept per block of the
    flat array: a draw costs the blocks' running sum and one block's, not a running sum over every
    pixel, and clearing around a place re-adds only the blocks it touched. The index drawn is the
    one a running sum over all pixels would give for the same random number (up to rounding)."""

    BLOCK = 4096

    def __init__(self, weight: np.ndarray):
        self.weight = np.ascontiguousarray(weight)  # (so that flat is a view of it, not a copy)
        self.flat = self.weight.reshape(-1)
        self.sums = (np.add.reduceat(self.flat, np.arange(0, self.flat.size, self.BLOCK)) if self.flat.size
                     else np.zeros(1))

    def next(self, rng) -> int:
        """A drawn index, or -1 (no weight left; then ``rng`` is not used)."""
        cum = np.cumsum(self.sums)
        if cum[-1] <= 1e-12:
            return -1
        t = rng.random() * cum[-1]
        b = min(int(np.searchsorted(cum, t, side="right")), cum.size - 1)
        lo = b * self.BLOCK
        block = np.cumsum(self.flat[lo:lo + self.BLOCK])
        j = lo + min(int(np.searchsorted(block, t - (cum[b - 1] if b else 0.0), side="right")), block.size - 1)
        while self.flat[j] <= 0:  # (only if rounding took the draw to the end of the sums)
            j -= 1
        return j

    def clear_around(self, c, size: int) -> None:
        """No more draws closer than ``2 * size`` to ``c`` (:func:`_clear_around`); the blocks
        its box touched are added up again."""
        box = _clear_around(self.weight, c, size)
        first = int(np.ravel_multi_index(tuple(s.start for s in box), self.weight.shape))
        last = int(np.ravel_multi_index(tuple(s.stop - 1 for s in box), self.weight.shape))
        b0, b1 = first // self.BLOCK, last // self.BLOCK + 1
        lo, hi = b0 * self.BLOCK, min(b1 * self.BLOCK, self.flat.size)
        self.sums[b0:b1] = np.add.reduceat(self.flat[lo:hi], np.arange(0, hi - lo, self.BLOCK))


def _clear_around(arr: np.ndarray, c, size: int) -> tuple:
    """Zero ``arr`` closer than ``2 * size`` to ``c`` (the next place is taken that far away),
    looking only at the box around that ball; returns the box (a tuple of slices)."""
    r = 2 * size
    box = tuple(slice(max(0, v - r + 1), min(n, v + r)) for v, n in zip(c, arr.shape, strict=True))
    grid = np.ogrid[tuple(slice(b.start - v, b.stop - v) for b, v in zip(box, c, strict=True))]
    arr[box][sum(g * g for g in grid) < r * r] = 0.0
    return box


def _box_mean(u: np.ndarray, c, size: int) -> float:
    """The mean of ``u`` over the ``size`` box around ``c``, the image's edge pixels repeated
    beyond it: ``ndimage.uniform_filter(u, size, mode="nearest")`` at ``c`` alone. The box is
    cut to the image and each edge row counted as often as it is repeated (a box larger than
    the image costs the image, not the box)."""
    box, counts = [], []
    for v, n in zip(c, u.shape, strict=True):
        idx = np.clip(np.arange(v - size // 2, v - size // 2 + size), 0, n - 1)
        box.append(slice(int(idx[0]), int(idx[-1]) + 1))
        counts.append(np.bincount(idx - idx[0]).astype(np.float64))
    total = u[tuple(box)].astype(np.float64)
    for w in counts:  # (the weighted sum over each axis in turn)
        total = np.tensordot(w, total, axes=(0, 0))
    return float(total) / float(size) ** u.ndim


def _region(c, shape, size: int, uncertainty: float, score: float) -> dict:
    box = tuple((max(0, int(v) - size // 2), min(n, int(v) + size // 2 + 1)) for v, n in zip(c, shape, strict=True))
    return {"center": tuple(int(v) for v in c), "box": box, "uncertainty": uncertainty, "score": score}


def _ranked_regions(uncertainty, k, size, labels) -> list[dict]:
    """:func:`suggest_regions` with ``method="ranked"``."""
    u = _checked_uncertainty(uncertainty, k, size, labels)
    k, size = int(k), int(size)
    mean_u = ndimage.uniform_filter(u, size=size, mode="nearest")
    score = mean_u.copy()
    if labels is not None and np.any(labels):
        near = ndimage.distance_transform_cdt(np.asarray(labels) == 0, metric="chessboard")
        score *= np.clip((near - size // 2) / size, 0.0, 1.0)
        w = np.clip((near - 1) / NEAR_RAMP, 0.0, 1.0).astype(np.float32)
        thin = ndimage.uniform_filter(u * w, size=max(1, size // 2), mode="nearest")
        np.maximum(score, np.where(near > 1, THIN_WEIGHT * thin, 0.0), out=score)
    out = []
    for _ in range(k):
        j = int(np.argmax(score))
        best = float(score.flat[j])
        if best <= 1e-6:
            break
        c = np.unravel_index(j, u.shape)
        out.append(_region(c, u.shape, size, float(mean_u[c]), best))
        _clear_around(score, c, size)
    return out


def _checked_uncertainty(uncertainty, k, size, labels) -> np.ndarray:
    u = np.nan_to_num(np.asarray(uncertainty, np.float32))
    if u.ndim not in (2, 3):
        raise ValueError(f"uncertainty must be a 2D or 3D array, got shape {u.shape}")
    if int(k) < 0:
        raise ValueError(f"k must be >= 0, got {k}")
    if int(size) < 1:
        raise ValueError(f"size must be >= 1, got {size}")
    if labels is not None and np.shape(labels) != u.shape:
        raise ValueError(f"labels of shape {np.shape(labels)} do not match the uncertainty's {u.shape}")
    return u
