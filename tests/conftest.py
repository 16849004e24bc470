"""Shared fixtures. Real data live in ../shared/data beside the repository; tests that need
them skip (saying why) in a clone without it."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("PIXELFOREST_SHARED_DATA", ROOT.parent / "shared" / "data"))


def _need(sub: str) -> Path:
    p = SHARED_DATA / sub
    if not p.exists():
        pytest.skip(f"real data {sub} not found under {SHARED_DATA} (../shared/data is present in CI, "
                    f"not in a fresh clone)")
    return p


@pytest.fixture
def ilastik_tests() -> Path:
    return _need("ilastik-tests")


@pytest.fixture
def shared_data():
    return _need


@pytest.fixture
def blobs2d() -> np.ndarray:
    """A small synthetic 2D image: bright blobs on a noisy, graded background."""
    rng = np.random.default_rng(42)
    yy, xx = np.mgrid[0:96, 0:120]
    img = 20 + 0.2 * xx + rng.normal(0, 3, yy.shape)
    for cy, cx, r in [(20, 25, 8), (60, 40, 11), (30, 90, 9), (75, 95, 7)]:
        img += 80 * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * r * r))
    return img.astype(np.float32)


@pytest.fixture
def blobs_labels(blobs2d) -> np.ndarray:
    lab = np.zeros(blobs2d.shape, np.uint8)
    lab[58:63, 36:45] = 1  # inside a blob
    lab[19:22, 22:28] = 1
    lab[5:8, 50:70] = 2  # background
    lab[88:91, 5:40] = 2
    return lab
