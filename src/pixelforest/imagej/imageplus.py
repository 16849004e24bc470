"""numpy <-> ImagePlus, with ImageJ's C, Z, T order and calibration, by bulk copies.

ImageJ keeps one 2D pixel array per plane, planes ordered with the channel
fastest, then slice (z), then frame (t). Conversions copy whole planes between
NumPy and Java arrays (one bulk copy each, no per-pixel Python loops).
8-bit, 16-bit, 32-bit and RGB images convert exactly both ways.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from .. import axes as _axes
from .jvm import jimport

_BITDEPTH_DTYPE = {8: np.uint8, 16: np.uint16, 32: np.float32, 24: np.uint8}


@dataclass
class Calibration:
    """Spatial and temporal calibration of an image (ImageJ's ``Calibration``)."""

    pixel_width: float = 1.0
    pixel_height: float = 1.0
    pixel_depth: float = 1.0
    unit: str = "pixel"
    frame_interval: float = 0.0
    time_unit: str = "sec"

    def to_dict(self) -> dict:
        return asdict(self)


def get_calibration(imp) -> Calibration:
    cal = imp.getCalibration()
    return Calibration(float(cal.pixelWidth), float(cal.pixelHeight), float(cal.pixelDepth), str(cal.getUnit()),
                       float(cal.frameInterval), str(cal.getTimeUnit()))


def set_calibration(imp, cal: Calibration | None) -> None:
    if cal is None:
        return
    c = imp.getCalibration()
    c.pixelWidth = float(cal.pixel_width)
    c.pixelHeight = float(cal.pixel_height)
    c.pixelDepth = float(cal.pixel_depth)
    c.setUnit(str(cal.unit))
    c.frameInterval = float(cal.frame_interval)
    c.setTimeUnit(str(cal.time_unit))
    imp.setCalibration(c)


def _plane_to_numpy(pixels, bitdepth: int, h: int, w: int) -> np.ndarray:
    """A view of a Java pixel array (the caller copies it once into its result)."""
    a = np.asarray(pixels)
    if bitdepth == 8:
        a = a.view(np.uint8)
    elif bitdepth == 16:
        a = a.view(np.uint16)
    elif bitdepth == 24:  # packed ARGB ints -> (h, w, 3) uint8
        v = a.view(np.uint32)
        a = np.stack([(v >> 16) & 0xFF, (v >> 8) & 0xFF, v & 0xFF], axis=-1).astype(np.uint8)
        return a.reshape(h, w, 3)
    return a.reshape(h, w)


def from_imageplus(imp) -> tuple[np.ndarray, str, Calibration]:
    """ImagePlus -> ``(array, axes, calibration)``.

    Axes follow ImageJ's order ``tzcyx`` with the axes of size 1 left out (``y``
    and ``x`` are always there); RGB images give three ``c`` channels last
    (``yxc``, ``zyxc``...).
    """
    if imp is None:
        raise ValueError("no image: the ImagePlus is None (is an image open?)")
    C, Z, T = int(imp.getNChannels()), int(imp.getNSlices()), int(imp.getNFrames())
    W, H = int(imp.getWidth()), int(imp.getHeight())
    bd = int(imp.getBitDepth())
    if bd not in _BITDEPTH_DTYPE:
        raise ValueError(f"{imp.getTitle()}: unsupported bit depth {bd}")
    stack = imp.getStack()
    if bd == 24:
        if C != 1:
            raise ValueError(f"{imp.getTitle()}: RGB hyperstacks with several channels are not supported; "
                             f"convert to a composite first (Image > Color > Make Composite)")
        out = np.empty((T, Z, H, W, 3), np.uint8)
        for t in range(T):
            for z in range(Z):
                out[t, z] = _plane_to_numpy(stack.getPixels(imp.getStackIndex(1, z + 1, t + 1)), bd, H, W)
        axes = "".join(a for a, n in zip("tz", (T, Z), strict=True) if n > 1) + "yxc"
        full = "tzyxc"
    else:
        out = np.empty((T, Z, C, H, W), _BITDEPTH_DTYPE[bd])
        for t in range(T):
            for z in range(Z):
                for c in range(C):
                    out[t, z, c] = _plane_to_numpy(stack.getPixels(imp.getStackIndex(c + 1, z + 1, t + 1)), bd, H, W)
        axes = "".join(a for a, n in zip("tzc", (T, Z, C), strict=True) if n > 1) + "yx"
        full = "tzcyx"
    squeeze = tuple(i for i, a in enumerate(full) if a not in axes)
    return out.reshape(tuple(n for i, n in enumerate(out.shape) if i not in squeeze)), axes, get_calibration(imp)


def _java_plane(plane: np.ndarray, W: int, H: int):
    from jpype import JArray, JByte, JFloat, JShort

    ByteProcessor = jimport("ij.process.ByteProcessor")
    ShortProcessor = jimport("ij.process.ShortProcessor")
    FloatProcessor = jimport("ij.process.FloatProcessor")
    p = np.ascontiguousarray(plane).ravel()
    if p.dtype == np.uint8:
        return ByteProcessor(W, H, JArray(JByte)(p.view(np.int8)))
    if p.dtype == np.uint16:
        return ShortProcessor(W, H, JArray(JShort)(p.view(np.int16)), None)
    return FloatProcessor(W, H, JArray(JFloat)(p))


def to_imageplus(array, axes: str | None = None, *, channel_axis=None, title: str = "image",
                 calibration: Calibration | None = None, rgb: bool = False, slice_labels=None,
                 composite_mode: str = "composite"):
    """numpy -> ImagePlus (a hyperstack when more than one of C, Z, T is > 1).

    uint8 -> 8-bit, uint16 -> 16-bit, float32 -> 32-bit (other types are
    converted when exact: bool/small ints -> 8/16-bit, other floats -> 32-bit).
    ``rgb=True`` turns a 3-channel uint8 image into an RGB ImagePlus.
    ``slice_labels``: one label per channel (repeated over z and t) or per plane.
    """
    ImagePlus = jimport("ij.ImagePlus")
    ImageStack = jimport("ij.ImageStack")
    a = np.asarray(array)
    ax = _axes.resolve_axes(a.ndim, axes, channel_axis)
    d5 = _axes.to_canonical(a, ax)  # T, Z, Y, X, C
    T, Z, H, W, C = d5.shape
    stack = ImageStack(W, H)
    if rgb:
        if C != 3 or d5.dtype != np.uint8:
            raise ValueError(f"rgb=True needs 3 uint8 channels, got {C} channel(s) of {d5.dtype}")
        from jpype import JArray, JInt

        ColorProcessor = jimport("ij.process.ColorProcessor")
        for t in range(T):
            for z in range(Z):
                px = d5[t, z].astype(np.uint32)
                packed = (0xFF000000 | (px[..., 0] << 16) | (px[..., 1] << 8) | px[..., 2]).astype(np.uint32)
                stack.addSlice(_label(slice_labels, 0, t, z, 1, Z),
                               ColorProcessor(W, H, JArray(JInt)(packed.view(np.int32).ravel())))
        imp = ImagePlus(title, stack)
        imp.setDimensions(1, Z, T)
        C = 1
    else:
        d5 = _axes.as_imagej_dtype(d5, title)
        for t in range(T):
            for z in range(Z):
                for c in range(C):
                    stack.addSlice(_label(slice_labels, c, t, z, C, Z), _java_plane(d5[t, z, :, :, c], W, H))
        imp = ImagePlus(title, stack)
        imp.setDimensions(C, Z, T)
        if C > 1:
            CompositeImage = jimport("ij.CompositeImage")
            mode = {"composite": CompositeImage.COMPOSITE, "color": CompositeImage.COLOR,
                    "grayscale": CompositeImage.GRAYSCALE}[composite_mode]
            imp = CompositeImage(imp, mode)
    if sum(n > 1 for n in (C, Z, T)) > 1:
        imp.setOpenAsHyperStack(True)
    set_calibration(imp, calibration)
    return imp


def _label(labels, c, t, z, C, Z):
    if labels is None:
        return None
    labels = list(labels)
    if len(labels) == C:
        return str(labels[c])
    i = (t * Z + z) * C + c
    return str(labels[i]) if i < len(labels) else None


def slice_labels(imp) -> list[str]:
    stack = imp.getStack()
    return [str(stack.getSliceLabel(i) or "") for i in range(1, int(stack.getSize()) + 1)]
