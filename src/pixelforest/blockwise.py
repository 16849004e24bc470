"""Tiling with a halo, so any image is processed in bounded memory.

A block's features are computed on the block grown by the feature halo
(clipped at the image border, where mirror borders apply exactly as on the
whole image) and cut back, so block-wise results equal whole-image results.
"""

from __future__ import annotations

import itertools
import math
from typing import Iterator

import numpy as np

#: default memory budget for one block's features and intermediates
DEFAULT_BLOCK_BYTES = 512 * 2**20


def block_shape_for(shape_tzyx, n_features: int, n_channels: int, budget_bytes: int = DEFAULT_BLOCK_BYTES,
                    halo: int = 0) -> tuple[int, int, int, int]:
    """A (1, bz, by, bx) block whose features fit ``budget_bytes``.

    Per voxel the features take ``4 * n_features`` bytes; intermediates of one
    scale and the predicted probabilities take about ``4 * (12 + n_channels)``
    more. A block is never much smaller than its halo, so that a large feature scale does not
    make every small block recompute a margin many times its size (the grown block then takes
    at most a few times the budget, never more than the image).
    """
    _, Z, Y, X = shape_tzyx
    per_voxel = 4 * (n_features + 12 + n_channels)
    voxels = max(budget_bytes // per_voxel, 32**2)
    if Z * Y * X <= voxels:
        return (1, Z, Y, X)
    if Z > 1:
        side = round(voxels ** (1 / 3))
        if side ** 3 > voxels:  # rounded up: one less, the largest cube that fits the budget
            side -= 1
        side = max(side - 2 * halo, 16, halo)
        return (1, min(Z, side), min(Y, side), min(X, side))
    side = max(int(math.sqrt(voxels)) - 2 * halo, 32, halo)
    by = min(Y, side)
    bx = min(X, max(side, voxels // max(by, 1) - 2 * halo))
    return (1, 1, by, bx)


def iter_blocks(shape_tzyx, block) -> Iterator[tuple[slice, ...]]:
    """Slices (t, z, y, x) tiling ``shape_tzyx`` with blocks of shape ``block``."""
    ranges = [range(0, n, b) for n, b in zip(shape_tzyx, block, strict=True)]
    for starts in itertools.product(*ranges):
        yield tuple(slice(s, min(s + b, n)) for s, b, n in zip(starts, block, shape_tzyx, strict=True))


def grow(sl: tuple[slice, ...], halo: int, shape_tzyx) -> tuple[tuple[slice, ...], tuple[slice, ...]]:
    """Grow spatial slices by ``halo`` (clipped); return (outer, inner-relative-to-outer)."""
    outer, inner = [sl[0]], [slice(0, sl[0].stop - sl[0].start)]
    for ax in (1, 2, 3):
        s = sl[ax]
        a = max(0, s.start - halo)
        b = min(shape_tzyx[ax], s.stop + halo)
        outer.append(slice(a, b))
        inner.append(slice(s.start - a, s.stop - a))
    return tuple(outer), tuple(inner)


def n_blocks(shape_tzyx, block) -> int:
    """How many blocks :func:`iter_blocks` gives."""
    return int(np.prod([math.ceil(n / b) for n, b in zip(shape_tzyx, block, strict=True)]))
