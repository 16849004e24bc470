"""pixelforest.axes: the canonical tzyxc view of arrays in any axis order, and back."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from pixelforest.axes import (
    CANONICAL,
    check_axes,
    default_axes,
    from_canonical,
    output_axes,
    resolve_axes,
    to_canonical,
)

SIZES = {"t": 2, "z": 3, "y": 4, "x": 5, "c": 2}


def _every_axes_order():
    """Every order of every subset of tzyxc that holds y and x (e.g. 'yx', 'xy', 'cxzy', 'tczyx')."""
    for n in range(2, 6):
        for subset in itertools.combinations(CANONICAL, n):
            if "y" in subset and "x" in subset:
                yield from ("".join(p) for p in itertools.permutations(subset))


ORDERS = list(_every_axes_order())


def test_every_order_is_enumerated():
    assert len(ORDERS) == 2 + 3 * 6 + 3 * 24 + 120 and len(set(ORDERS)) == len(ORDERS)


@pytest.mark.parametrize("axes", ORDERS)
def test_round_trip_every_axis_order(axes):
    shape = tuple(SIZES[a] for a in axes)
    a = np.arange(np.prod(shape)).reshape(shape)
    c = to_canonical(a, axes)
    assert c.shape == tuple(SIZES[k] if k in axes else 1 for k in CANONICAL)
    # every element lands where its named coordinates say
    for idx in [(0,) * len(axes), tuple(n - 1 for n in shape), tuple(min(1, n - 1) for n in shape)]:
        coords = dict(zip(axes, idx, strict=True))
        assert c[tuple(coords.get(k, 0) for k in CANONICAL)] == a[idx]
    assert np.shares_memory(c, a)  # a view, no copy
    # back: the input's non-channel axes in its order, channels last
    back = from_canonical(c, axes)
    want = np.moveaxis(a, axes.index("c"), -1) if "c" in axes else a[..., None]
    assert np.array_equal(back, want)
    if "c" not in axes:
        assert np.array_equal(from_canonical(c, axes, channels=False), a)


def test_result_channels_replace_the_input_channels():
    """A (T, Z, Y, X, K) result of a 'cxy' input comes back as (x, y, K)."""
    img = np.zeros((2, 5, 4))  # c x y
    c = to_canonical(img, "cxy")
    assert c.shape == (1, 1, 4, 5, 2)
    result = np.arange(4 * 5 * 3).reshape(1, 1, 4, 5, 3)  # three result channels
    back = from_canonical(result, "cxy")
    assert back.shape == (5, 4, 3)
    assert np.array_equal(back, np.transpose(result[0, 0], (1, 0, 2)))
    with pytest.raises(ValueError, match="size > 1"):
        from_canonical(result, "cxy", channels=False)


@pytest.mark.parametrize("ndim, channel_axis, want", [
    (2, None, "yx"), (3, None, "zyx"), (3, -1, "yxc"), (3, 0, "cyx"), (4, -1, "zyxc"), (4, 1, "zcyx"), (4, -4, "czyx"),
])
def test_default_axes(ndim, channel_axis, want):
    assert default_axes(ndim, channel_axis) == want
    assert resolve_axes(ndim, None, channel_axis) == want


@pytest.mark.parametrize("ndim, channel_axis, match", [
    (1, None, "cannot guess"), (4, None, "cannot guess"), (5, -1, "cannot guess"), (3, 3, "out of range"),
    (3, -4, "out of range"),
])
def test_default_axes_refuses_what_it_cannot_guess(ndim, channel_axis, match):
    with pytest.raises(ValueError, match=match):
        default_axes(ndim, channel_axis)


def test_check_axes():
    assert check_axes("TZYXC", 5) == "tzyxc"  # case does not matter
    with pytest.raises(TypeError, match="must be a string"):
        check_axes(["y", "x"], 2)
    with pytest.raises(ValueError, match="unknown axes"):
        check_axes("yxq", 3)
    with pytest.raises(ValueError, match="twice"):
        check_axes("yxx", 3)
    with pytest.raises(ValueError, match="names 2 axes but the array has 3"):
        check_axes("yx", 3)
    for axes in ("zx", "tzy", "cz"):
        with pytest.raises(ValueError, match="both 'y' and 'x'"):
            check_axes(axes, len(axes))
    with pytest.raises(ValueError, match="input axes="):
        check_axes("yxq", 3, name="input axes")  # the name appears in the message


def test_resolve_axes_with_both_axes_and_channel_axis():
    assert resolve_axes(3, "cyx", 0) == "cyx"
    assert resolve_axes(3, "yxc", -1) == "yxc"
    with pytest.raises(ValueError, match="disagree"):
        resolve_axes(3, "cyx", -1)
    with pytest.raises(ValueError, match="disagree"):
        resolve_axes(3, "zyx", 0)  # no channel axis named at all
    assert resolve_axes(4, "tyxc") == "tyxc"


@pytest.mark.parametrize("axes, want", [("yx", "yxc"), ("tzyx", "tzyxc"), ("cyx", "cyx"), ("xyc", "xyc")])
def test_output_axes(axes, want):
    assert output_axes(axes) == want
