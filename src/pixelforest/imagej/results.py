"""Prediction results as ImagePlus: probabilities, segmentation, uncertainty, features, objects as ROIs."""

from __future__ import annotations

import numpy as np

from .imageplus import Calibration, to_imageplus
from .jvm import jimport


def _lut_from_color(rgb):
    LUT = jimport("ij.process.LUT")
    Color = jimport("java.awt.Color")
    return LUT.createLutFromColor(Color(int(rgb[0]), int(rgb[1]), int(rgb[2])))


def probabilities_imageplus(prob5: np.ndarray, class_names, class_colors, *, calibration: Calibration | None = None,
                            title: str = "Probabilities"):
    """float32 hyperstack, one channel per class: channel labels = class names, class colours, range 0..1."""
    imp = to_imageplus(prob5, "tzyxc", title=title, calibration=calibration, slice_labels=list(class_names))
    K = prob5.shape[-1]
    if K > 1:
        for k in range(K):
            imp.setC(k + 1)
            imp.setChannelLut(_lut_from_color(class_colors[k]))
            imp.setDisplayRange(0.0, 1.0)
        imp.setC(1)
    else:
        imp.setDisplayRange(0.0, 1.0)
    imp.setProperty("pixelforest.classes", ",".join(class_names))
    return imp


def segmentation_imageplus(seg4: np.ndarray, class_names, class_colors, *, calibration=None,
                           title: str = "Simple Segmentation"):
    """8-bit label image (class k = value k) with a LUT in the class colours."""
    LUT = jimport("ij.process.LUT")
    from jpype import JArray, JByte

    imp = to_imageplus(seg4.astype(np.uint8)[..., None], "tzyxc", title=title, calibration=calibration)
    r = np.zeros(256, np.uint8)
    g = np.zeros(256, np.uint8)
    b = np.zeros(256, np.uint8)
    for k, col in enumerate(class_colors, start=1):
        r[k], g[k], b[k] = col
    lut = LUT(JArray(JByte)(r.view(np.int8)), JArray(JByte)(g.view(np.int8)), JArray(JByte)(b.view(np.int8)))
    imp.getProcessor().setLut(lut)
    imp.getStack().setColorModel(lut)
    imp.setDisplayRange(0, 255)
    imp.setProperty("pixelforest.classes", ",".join(class_names))
    return imp


def uncertainty_imageplus(unc4: np.ndarray, *, calibration=None, title: str = "Uncertainty"):
    imp = to_imageplus(unc4.astype(np.float32)[..., None], "tzyxc", title=title, calibration=calibration)
    imp.setDisplayRange(0.0, 1.0)
    return imp


def features_imageplus(feat5: np.ndarray, names, *, calibration=None, title: str = "Features"):
    """Features as a labelled stack (2D images) or hyperstack (one channel per feature)."""
    return to_imageplus(feat5, "tzyxc", title=title, calibration=calibration, slice_labels=list(names),
                        composite_mode="grayscale")


def segmentation_to_rois(seg4: np.ndarray, class_names, class_colors, *, classes=None, min_size: int = 1,
                         add_to_manager: bool = True):
    """Connected objects of a segmentation as ImageJ ROIs (one per object and plane).

    Each ROI is named ``class:NAME #i``, put in the class's group (group k =
    class k) and drawn in the class colour; on stacks it carries its z/t
    position. Returned as a list; also added to the ROI Manager when one is
    available (not headless) and ``add_to_manager``.
    """
    from scipy import ndimage

    ByteProcessor = jimport("ij.process.ByteProcessor")
    ImageProcessor = jimport("ij.process.ImageProcessor")
    ThresholdToSelection = jimport("ij.plugin.filter.ThresholdToSelection")
    Color = jimport("java.awt.Color")
    from jpype import JArray, JByte

    seg4 = np.asarray(seg4)
    T, Z = seg4.shape[:2]
    wanted = range(1, len(class_names) + 1) if classes is None else [class_names.index(c) + 1 for c in classes]
    out = []
    for t in range(T):
        for z in range(Z):
            plane = seg4[t, z]
            for k in wanted:
                lab, n = ndimage.label(plane == k)
                if n == 0:
                    continue
                for i, sl in enumerate(ndimage.find_objects(lab), start=1):
                    crop = lab[sl] == i
                    if crop.sum() < min_size:
                        continue
                    h, w = crop.shape
                    bp = ByteProcessor(w, h, JArray(JByte)((crop.astype(np.uint8) * 255).view(np.int8).ravel()))
                    bp.setThreshold(255, 255, ImageProcessor.NO_LUT_UPDATE)
                    roi = ThresholdToSelection().convert(bp)
                    if roi is None:
                        continue
                    b = roi.getBounds()
                    roi.setLocation(float(b.x + sl[1].start), float(b.y + sl[0].start))
                    name = class_names[k - 1]
                    roi.setName(f"class:{name} #{len(out) + 1}")
                    roi.setGroup(k if k <= 255 else 0)
                    col = class_colors[k - 1]
                    roi.setStrokeColor(Color(int(col[0]), int(col[1]), int(col[2])))
                    if T > 1 or Z > 1:
                        roi.setPosition(0, z + 1, t + 1)
                    out.append(roi)
    if add_to_manager:
        from .roimanager import add_to_roi_manager

        add_to_roi_manager(out)
    return out
