"""pixelforest on ImageJ objects: ImagePlus in and out, ROI-based labels.

Works from a plain Python script (ImageJ 1.x started here through scyjava),
from a pyimagej session (``imagej.init(FIJI_DIR)``) and from Fiji's Python
mode; the same ``ij.*`` classes are used in every case::

    import pixelforest.imagej as pfij
    IJ = pfij.start()                        # or: ij = imagej.init("/opt/Fiji.app")
    imp = IJ.openImage("cells.tif")
    clf = pfij.train(imp, rois="RoiSet.zip", features="ilastik-default")
    prob = pfij.predict_imageplus(clf, imp)  # float32 hyperstack, one channel per class
"""

from __future__ import annotations

import numpy as np

from .. import axes as _axes
from ..classifier import Classifier, default_color, normalize_source
from ..features import DEFAULT_FEATURES
from ..training import train as _train
from .imageplus import Calibration, from_imageplus, get_calibration, slice_labels, to_imageplus
from .jvm import IJ_VERSION, JavaNotFoundError, jimport, start
from .roimanager import collect, group_names, java_mask, labels_for_imageplus, roi_manager

__all__ = [
    "Calibration", "IJ_VERSION", "JavaNotFoundError", "Cancelled", "collect", "from_imageplus", "get_calibration",
    "group_names", "java_mask", "labels_for_imageplus", "predict_imageplus", "roi_manager", "slice_labels", "start",
    "to_imageplus", "train",
]


class Cancelled(RuntimeError):
    """The user pressed Esc in ImageJ."""


def _as_list(x):
    return list(x) if isinstance(x, (list, tuple)) else [x]


def train(imps, rois="manager", *, features=DEFAULT_FEATURES, classes=None, trees: int = 100, seed=None,
          colors=None, stages: int = 1) -> Classifier:
    """Train a classifier from ImagePlus images and their ROIs.

    Parameters
    ----------
    imps : ImagePlus or list of ImagePlus
    rois : ROI source per image (or one for all): ``"manager"``, ``"overlay"``,
        a RoiManager, an Overlay, a list of Rois, or a ``.roi`` / ``RoiSet.zip`` path.
        Class of each ROI: its group, then a ``class:NAME`` name prefix, then its stroke colour.
    features, trees, seed, stages : as :func:`pixelforest.train` (``stages=2``: auto-context)
    classes : class names in label order (default: from the ROIs)
    """
    imps = _as_list(imps)
    per_image = isinstance(rois, (list, tuple)) and len(rois) == len(imps) and len(imps) > 1
    sources = _as_list(rois) if per_image else [rois] * len(imps)
    arrays, labels, axes_list, names_all, colors_all = [], [], [], None, None
    for imp, src in zip(imps, sources, strict=True):
        arr, ax, _ = from_imageplus(imp)
        lab4, names, cols = labels_for_imageplus(imp, src, classes=classes if classes is not None else names_all)
        if names_all is None:
            names_all, colors_all = names, cols
        elif names != names_all:
            raise ValueError(f"ROI classes of {imp.getTitle()!r} ({names}) differ from the first image's "
                             f"({names_all}); pass classes=[...] to fix the order")
        arrays.append(arr)
        labels.append(_axes.from_canonical(lab4[..., None], ax.replace("c", ""), channels=False))
        axes_list.append(ax)
    if colors is None:
        colors = [c if c is not None else default_color(i) for i, c in enumerate(colors_all)]
    return _train(arrays, labels, features=features, trees=trees, seed=seed, axes=axes_list, classes=names_all,
                  colors=colors, image_names=[str(i.getTitle()) for i in imps], stages=stages)


def _ij_progress(title: str):
    IJ = jimport("ij.IJ")

    def cb(done, total):
        IJ.showProgress(done, total)
        IJ.showStatus(f"pixelforest: {title} {done}/{total}")
        if IJ.escapePressed():
            IJ.resetEscape()
            raise Cancelled(f"prediction of {title} cancelled")

    return cb


def predict_imageplus(classifier: Classifier, imp, source: str = "probabilities", *, block_shape=None,
                      show: bool = False, title: str | None = None):
    """Predict an ImagePlus; the result is an ImagePlus.

    probabilities: float32 hyperstack, one channel per class (labels = class
    names, class colours); simple-segmentation: 8-bit with a class LUT;
    uncertainty: 32-bit; features: labelled stack. Calibration is copied from
    the input. Progress goes to ImageJ's progress bar; Esc cancels.
    """
    from . import results

    src = normalize_source(source)
    arr, ax, cal = from_imageplus(imp)
    name = str(imp.getTitle())
    res5 = classifier.predict_canonical(_axes.to_canonical(arr, ax), src, block_shape=block_shape,
                                        progress=_ij_progress(name))
    base = title or f"{name.rsplit('.', 1)[0]}_{src}"
    if src == "probabilities":
        out = results.probabilities_imageplus(res5, classifier.class_names, classifier.class_colors,
                                              calibration=cal, title=base)
    elif src == "simple-segmentation":
        out = results.segmentation_imageplus(res5[..., 0], classifier.class_names, classifier.class_colors,
                                             calibration=cal, title=base)
    elif src == "uncertainty":
        out = results.uncertainty_imageplus(res5[..., 0], calibration=cal, title=base)
    else:
        out = results.features_imageplus(res5, classifier.feature_names, calibration=cal, title=base)
    if show:
        out.show()
    return out


def objects_to_rois(classifier: Classifier, seg_imp_or_array, *, classes=None, min_size: int = 1,
                    add_to_manager: bool = True):
    """Objects of a simple segmentation (ImagePlus or (T, Z, Y, X)/(Y, X) array) as ImageJ ROIs."""
    from .results import segmentation_to_rois

    if isinstance(seg_imp_or_array, np.ndarray):
        seg = seg_imp_or_array
        seg4 = seg.reshape((1,) * (4 - seg.ndim) + seg.shape)
    else:
        arr, ax, _ = from_imageplus(seg_imp_or_array)
        seg4 = _axes.to_canonical(arr, ax)[..., 0]
    return segmentation_to_rois(seg4, classifier.class_names, classifier.class_colors, classes=classes,
                                min_size=min_size, add_to_manager=add_to_manager)


def suggestion_rois(uncertainty, k: int = 5, size: int = 15, labels=None, add_to_manager: bool = True):
    """Where to label next, as ImageJ rectangles (``label here #i``, the most uncertain first:
    :func:`~pixelforest.postprocess.suggest_regions`).

    ``uncertainty``: a (Y, X) array or an uncertainty ImagePlus (e.g. from
    ``predict_imageplus(..., "uncertainty")``); ``labels``: pixels already labelled, avoided.
    """
    from ..postprocess import suggest_regions

    if not isinstance(uncertainty, np.ndarray):
        uncertainty, _, _ = from_imageplus(uncertainty)
    Roi = jimport("ij.gui.Roi")
    Color = jimport("java.awt.Color")
    out = []
    for i, r in enumerate(suggest_regions(np.asarray(uncertainty), k=k, size=size, labels=labels), start=1):
        (y0, y1), (x0, x1) = r["box"][-2:]
        roi = Roi(int(x0), int(y0), int(x1 - x0), int(y1 - y0))
        roi.setName(f"label here #{i} (uncertainty {r['uncertainty']:.2f})")
        roi.setStrokeColor(Color(255, 255, 0))
        out.append(roi)
    if add_to_manager:
        from .roimanager import add_to_roi_manager

        add_to_roi_manager(out)
    return out
