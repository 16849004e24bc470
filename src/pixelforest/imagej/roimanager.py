"""ImageJ ROIs on the JVM -> training labels, with ImageJ's own masks.

Sources: the ROI Manager, an image's Overlay, a list of ``ij.gui.Roi``, or
``.roi`` / ``RoiSet.zip`` files (read in pure Python, see
:mod:`pixelforest.io.rois`). Area ROIs use ``Roi.getMask()``; line ROIs become
brush strokes of their stroke width through ``Roi.convertLineToArea``; points
use ``getContainedPoints``. Class and position rules are the same as for files.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..io.rois import MARK_PROPERTY, LabelRoi, RoiError, paste, read_roi_file, rois_to_labels
from .jvm import jimport


def _java_color(c):
    if c is None:
        return None
    return (int(c.getRed()), int(c.getGreen()), int(c.getBlue()))


def java_mask(roi, shape) -> np.ndarray:
    """ImageJ's own pixels of a Roi on an (H, W) canvas.

    The one place this layer rasterises: a live ``ij.gui.Roi`` may be of any kind ImageJ has
    (shape, rotated, text, subpixel ...), and ImageJ's own mask is its truth, so it is used for
    fidelity rather than re-drawn from coordinates; the mask is placed with :func:`pixelforest.io.rois.paste`,
    and everything else (classes, stack positions, overlaps) is :func:`pixelforest.io.rois.rois_to_labels`.
    """
    H, W = shape
    Roi = jimport("ij.gui.Roi")
    m = np.zeros((H, W), bool)
    if int(roi.getType()) == int(Roi.POINT):
        for p in roi.getContainedPoints():
            if 0 <= p.x < W and 0 <= p.y < H:
                m[p.y, p.x] = True
        return m
    area = Roi.convertLineToArea(roi) if roi.isLine() else roi
    if area is None:  # a line of no length, or wholly above or left of the image: no pixel, as from a file
        return m
    b = area.getBounds()
    mk = area.getMask()
    if mk is None:
        local = np.ones((int(b.height), int(b.width)), bool)
    else:
        local = np.array(mk.getPixels(), copy=True).view(np.uint8).reshape(int(mk.getHeight()), int(mk.getWidth())) > 0
    return paste(m, local, int(b.x), int(b.y))


def from_java_roi(roi) -> LabelRoi:
    Roi = jimport("ij.gui.Roi")
    if isinstance(roi, jimport("ij.gui.TextRoi")):  # annotations, never labels (as the Fiji plugin's RoiIndex)
        kind = "text"
    elif isinstance(roi, jimport("ij.gui.ImageRoi")):  # the plugin's prediction overlay is one too
        kind = "image"
    elif roi.getProperty(MARK_PROPERTY) is not None:
        kind = "mark"
    else:
        kind = "point" if int(roi.getType()) == int(Roi.POINT) else ("line" if roi.isLine() else "area")
    if roi.hasHyperStackPosition():
        c, z, t, pos = int(roi.getCPosition()), int(roi.getZPosition()), int(roi.getTPosition()), 0
    else:
        c = z = t = 0
        pos = int(roi.getPosition())
    return LabelRoi(
        name=str(roi.getName() or ""), kind=kind, raster=lambda shape, r=roi: java_mask(r, shape),
        group=int(roi.getGroup()), color=_java_color(roi.getStrokeColor()), position=pos, c=c, z=z, t=t,
        extra={"java": roi},
    )


def group_names() -> dict[int, str]:
    """ImageJ's ROI group names (Edit > Selection > Properties... > Group names)."""
    Roi = jimport("ij.gui.Roi")
    names = Roi.getGroupNames()
    if names is None:
        return {}
    return {i + 1: n.strip() for i, n in enumerate(str(names).split(",")) if n.strip()}


def roi_manager(create: bool = False):
    """The open ROI Manager (None when there is none, e.g. headless)."""
    RoiManager = jimport("ij.plugin.frame.RoiManager")
    rm = RoiManager.getInstance()
    if rm is None and create:
        from .jvm import is_headless

        if is_headless():
            return None
        rm = RoiManager()
    return rm


def add_to_roi_manager(rois) -> bool:
    """Adds Rois to the ROI Manager (opening one when there is a display); False when headless."""
    rm = roi_manager(create=True)
    if rm is None:
        return False
    for r in rois:
        rm.addRoi(r)
    return True


def collect(source, imp=None) -> list[LabelRoi]:
    """LabelRois from a ROI source.

    ``source``: ``"manager"`` (the ROI Manager), ``"overlay"`` (``imp``'s Overlay),
    a RoiManager, an Overlay, a Roi, a list of Rois or LabelRois, or a path to a
    ``.roi`` / ``RoiSet.zip`` file.
    """
    if isinstance(source, (str, Path)) and str(source).lower() not in ("manager", "roimanager", "overlay"):
        return read_roi_file(source)
    if isinstance(source, str):
        key = source.lower()
        if key in ("manager", "roimanager"):
            rm = roi_manager()
            if rm is None:
                raise RoiError("the ROI Manager is not open (or ImageJ runs headless): add ROIs to it first, "
                               "or pass rois='overlay', a list of Rois or a RoiSet.zip")
            return [from_java_roi(r) for r in rm.getRoisAsArray()]
        if imp is None:
            raise RoiError("rois='overlay' needs the image whose Overlay holds the ROIs")
        ov = imp.getOverlay()
        if ov is None or ov.size() == 0:
            raise RoiError(f"image {imp.getTitle()!r} has no Overlay ROIs")
        return [from_java_roi(r) for r in ov.toArray()]
    if isinstance(source, (list, tuple)):
        out = []
        for r in source:
            out.extend(collect(r, imp) if not isinstance(r, LabelRoi) else [r])
        return out
    if isinstance(source, LabelRoi):
        return [source]
    cls = str(source.getClass().getName())
    if cls == "ij.plugin.frame.RoiManager":
        return [from_java_roi(r) for r in source.getRoisAsArray()]
    if cls == "ij.gui.Overlay":
        return [from_java_roi(r) for r in source.toArray()]
    return [from_java_roi(source)]


def labels_for_imageplus(imp, rois="manager", *, classes=None):
    """Label image for an ImagePlus from ROIs: ``(labels (T, Z, Y, X) uint8, class names, colours)``."""
    lrois = collect(rois, imp)
    shape = (int(imp.getNFrames()), int(imp.getNSlices()), int(imp.getHeight()), int(imp.getWidth()))
    return rois_to_labels(lrois, shape, classes=classes, group_names=group_names(), n_channels=int(imp.getNChannels()))
