"""pixelforest.blockwise: tiling with a halo and the block size for a memory budget."""

from __future__ import annotations

import math

import numpy as np
import pytest

from pixelforest.blockwise import DEFAULT_BLOCK_BYTES, block_shape_for, grow, iter_blocks, n_blocks


@pytest.mark.parametrize("shape, block", [
    ((1, 1, 10, 10), (1, 1, 10, 10)),  # one block
    ((1, 1, 10, 10), (1, 1, 3, 4)),  # ragged at both ends
    ((2, 5, 7, 9), (1, 2, 3, 4)),
    ((3, 1, 1, 1), (1, 1, 5, 5)),  # blocks larger than the image
    ((1, 4, 16, 16), (1, 4, 8, 8)),  # exact multiples
])
def test_blocks_cover_the_shape_exactly_once(shape, block):
    count = np.zeros(shape, np.int32)
    blocks = list(iter_blocks(shape, block))
    for sl in blocks:
        assert len(sl) == 4
        for s, b, n in zip(sl, block, shape, strict=True):
            assert 0 <= s.start < s.stop <= n and s.stop - s.start <= b
        count[sl] += 1
    assert (count == 1).all()
    expected = math.prod(math.ceil(n / b) for n, b in zip(shape, block, strict=True))
    assert n_blocks(shape, block) == len(blocks) == expected


def test_grow_adds_the_halo_and_clips_it_at_the_border():
    shape = (2, 10, 20, 30)
    outer, inner = grow((slice(1, 2), slice(4, 6), slice(8, 12), slice(10, 20)), 3, shape)
    assert outer == (slice(1, 2), slice(1, 9), slice(5, 15), slice(7, 23))
    assert inner == (slice(0, 1), slice(3, 5), slice(3, 7), slice(3, 13))
    # at the border the halo is cut: the block starts at 0 / ends at the image's end
    outer, inner = grow((slice(0, 1), slice(0, 2), slice(18, 20), slice(0, 30)), 5, shape)
    assert outer == (slice(0, 1), slice(0, 7), slice(13, 20), slice(0, 30))
    assert inner == (slice(0, 1), slice(0, 2), slice(5, 7), slice(0, 30))


@pytest.mark.parametrize("shape, block, halo", [((2, 6, 17, 23), (1, 2, 5, 7), 3), ((1, 1, 40, 9), (1, 1, 7, 9), 20)])
def test_grown_blocks_cut_back_to_the_tiling(shape, block, halo):
    """inner (relative to outer) picks exactly the block from the grown region."""
    img = np.arange(math.prod(shape)).reshape(shape)
    for sl in iter_blocks(shape, block):
        outer, inner = grow(sl, halo, shape)
        assert np.array_equal(img[outer][inner], img[sl])
        for o, n in zip(outer, shape, strict=True):
            assert 0 <= o.start and o.stop <= n


def test_block_shape_whole_image_when_it_fits():
    assert block_shape_for((1, 1, 100, 120), n_features=10, n_channels=1) == (1, 1, 100, 120)
    assert block_shape_for((5, 20, 64, 64), n_features=10, n_channels=1) == (1, 20, 64, 64)  # one time point


@pytest.mark.parametrize("shape", [(1, 1, 5000, 7000), (1, 1, 3000, 900)])
@pytest.mark.parametrize("n_features", [4, 40])
def test_2d_block_shape_fits_the_budget(shape, n_features):
    budget = 16 * 2**20
    per_voxel = 4 * (n_features + 12 + 1)
    b = block_shape_for(shape, n_features, 1, budget_bytes=budget)
    assert b[:2] == (1, 1) and all(1 <= k <= n for k, n in zip(b, shape, strict=True))
    assert math.prod(b) * per_voxel <= budget
    assert math.prod(b) * per_voxel >= budget / 4  # not needlessly small


@pytest.mark.parametrize("n_features", [4, 40])
def test_3d_block_shape_is_a_cube_of_the_budget(n_features):
    budget = 16 * 2**20
    voxels = budget // (4 * (n_features + 12 + 1))
    b = block_shape_for((1, 300, 400, 500), n_features, 1, budget_bytes=budget)
    assert b[0] == 1 and b[1] == b[2] == b[3]
    assert b[1] ** 3 <= voxels < (b[1] + 1) ** 3  # the largest cube within the budget


def test_3d_block_shape_fits_the_budget():
    budget = 16 * 2**20
    b = block_shape_for((1, 300, 400, 500), 4, 1, budget_bytes=budget)
    assert math.prod(b) * 4 * (4 + 12 + 1) <= budget


def test_block_shape_never_much_smaller_than_the_halo():
    """With a halo larger than what the budget allows, the block is at least the halo (2D: at least 32)."""
    b = block_shape_for((1, 1, 4000, 4000), 20, 1, budget_bytes=2**20, halo=200)
    assert min(b[2:]) >= 200
    b = block_shape_for((1, 200, 200, 200), 20, 1, budget_bytes=2**20, halo=50)
    assert min(b[1:]) >= 50
    b = block_shape_for((1, 1, 4000, 4000), 20, 1, budget_bytes=1, halo=0)  # a tiny budget: 32 x 32 at least
    assert b == (1, 1, 32, 32)


def test_default_budget():
    assert DEFAULT_BLOCK_BYTES == 512 * 2**20
    b = block_shape_for((1, 1, 20000, 20000), 40, 1)
    assert math.prod(b) * 4 * (40 + 13) <= DEFAULT_BLOCK_BYTES
