"""ImageJ ROIs -> training labels, in pure Python (no JVM).

ROI files (``.roi``, ``RoiSet.zip``) are read with roifile and rasterised with
ImageJ's own rules, so training from a RoiSet.zip needs no Java:

* pixel (x, y) is the square between (x, y) and (x+1, y+1); area ROIs cover the
  pixels whose centre is inside, with ImageJ's tie rules (a centre exactly on a
  left or upper boundary is outside, on a right or lower boundary inside);
  composite ROIs use the even-odd rule over all their sub-paths;
* ovals: centre inside the inscribed ellipse (ImageJ's ``OvalRoi`` mask);
* line ROIs (straight, segmented, freehand, angle) are brush strokes of their
  stroke width, at least 1 px, with ImageJ's ``Roi.convertLineToArea`` geometry: a
  straight line a rectangle with butt ends; a segmented or freehand line (integer or
  sub-pixel coordinates) a rectangle per segment with its ends moved out by half a
  pixel, a triangle on the outer side of each bend, half a pixel on (a line's
  coordinates are pixel centres);
* points mark the pixel ImageJ 1.54 assigns them (coordinates rounded).

The class of a ROI, in this order: its ImageJ group (group names become class
names), a ``class:NAME`` or class-name prefix in its name, its stroke colour.
Its position (stack slice, or c/z/t on hyperstacks; 0 = every plane) decides
which planes it labels.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np


class RoiError(ValueError):
    """ROIs that cannot become training labels."""


# ------------------------------------------------------------------ rasterising


def fill_polygons(polygons: Sequence[np.ndarray], shape: tuple[int, int]) -> np.ndarray:
    """Even-odd fill of closed polygons (x, y vertex arrays), ImageJ's pixel-centre rule."""
    H, W = shape
    rows_all, xs_all = [], []
    for poly in polygons:
        p = np.asarray(poly, dtype=np.float64)
        if p.ndim != 2 or p.shape[0] < 3:
            continue
        if not np.isfinite(p).all():
            raise RoiError("ROI coordinates are not finite numbers")
        rows, xs, _ = _crossings(p[:, 0], p[:, 1], np.roll(p[:, 0], -1), np.roll(p[:, 1], -1), H)
        rows_all.append(rows)
        xs_all.append(xs)
    if not rows_all:
        return np.zeros((H, W), bool)
    rows, xs = np.concatenate(rows_all), np.concatenate(xs_all)
    order = np.lexsort((xs, rows))
    return _spans(rows[order], xs[order], H, W)


def _crossings(x1, y1, x2, y2, H: int):
    """Where the edges (x1, y1) -> (x2, y2) cross the centres of rows 0..H-1: ``(rows, xs, edge)``.

    An edge from y1 to y2 crosses the rows whose centre r + 0.5 lies in (y1, y2]: a centre on the
    upper end is outside, on the lower end inside (ImageJ's PolygonFiller: Math.round(y) rounds ties
    up); coordinates clipped just outside the image: the same rows inside it, no overflow."""
    r1 = (np.floor(np.clip(y1, -2.0, H + 2.0) - 0.5) + 1).astype(np.int64)
    r2 = (np.floor(np.clip(y2, -2.0, H + 2.0) - 0.5) + 1).astype(np.int64)
    keep = np.flatnonzero(r1 != r2)
    swap = (r1 > r2)[keep]
    xa, ya = np.where(swap, x2[keep], x1[keep]), np.where(swap, y2[keep], y1[keep])
    xb, yb = np.where(swap, x1[keep], x2[keep]), np.where(swap, y1[keep], y2[keep])
    lo = np.clip(np.minimum(r1, r2)[keep], 0, H)
    counts = np.clip(np.maximum(r1, r2)[keep], 0, H) - lo
    slope = (xb - xa) / (yb - ya)
    edge = np.repeat(np.arange(lo.size), counts)
    offs = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
    rows = lo[edge] + offs
    return rows, xa[edge] + (rows + 0.5 - ya[edge]) * slope[edge] + 1e-8, keep[edge]


def _spans(rows: np.ndarray, xs: np.ndarray, H: int, W: int) -> np.ndarray:
    """The pixels between consecutive pairs of sorted crossings (each row's, or each polygon's row's)."""
    mask = np.zeros((H, W), bool)
    if rows.size == 0:
        return mask
    if rows.size % 2:
        raise RoiError("polygon crossings do not pair up (open or degenerate polygon)")
    a = np.clip(np.trunc(xs[0::2] + 0.5), 0, W).astype(np.int64)
    b = np.clip(np.trunc(xs[1::2] + 0.5), 0, W).astype(np.int64)
    r = rows[0::2]
    ok = b > a
    diff = np.zeros((H, W + 1), np.int32)
    np.add.at(diff, (r[ok], a[ok]), 1)
    np.add.at(diff, (r[ok], b[ok]), -1)
    return np.cumsum(diff[:, :W], axis=1) > 0


def fill_each(groups: Sequence[np.ndarray], shape: tuple[int, int]) -> np.ndarray:
    """The union of polygons, each filled on its own by ImageJ's rule (as ImageJ fills the pieces of
    a line one by one into one mask): ``groups`` of ``(N, k, 2)`` arrays, N polygons of k vertices.
    One vectorised pass over all their edges, on the polygons' bounding box (clipped to the image)."""
    H, W = shape
    groups = [np.asarray(g, np.float64).reshape(-1, np.shape(g)[-2], 2) for g in groups if np.size(g)]
    m = np.zeros((H, W), bool)
    if not groups:
        return m
    allv = np.concatenate([g.reshape(-1, 2) for g in groups])
    x0, x1 = _clip(math.floor(allv[:, 0].min()) - 1, 0, W), _clip(math.ceil(allv[:, 0].max()) + 2, 0, W)
    y0, y1 = _clip(math.floor(allv[:, 1].min()) - 1, 0, H), _clip(math.ceil(allv[:, 1].max()) + 2, 0, H)
    if x1 <= x0 or y1 <= y0:
        return m
    ends, ids, base = [], [], 0
    for g in groups:
        a = g - [x0, y0]
        b = np.roll(a, -1, axis=1)
        ends.append(np.concatenate([a.reshape(-1, 2), b.reshape(-1, 2)], 1))
        ids.append(np.repeat(np.arange(g.shape[0]) + base, g.shape[1]))
        base += g.shape[0]
    e, pid = np.concatenate(ends), np.concatenate(ids)
    rows, xs, edge = _crossings(e[:, 0], e[:, 1], e[:, 2], e[:, 3], y1 - y0)
    order = np.lexsort((xs, rows, pid[edge]))  # each polygon's crossings, row by row
    m[y0:y1, x0:x1] = _spans(rows[order], xs[order], y1 - y0, x1 - x0)
    return m


def _finite(*vals) -> None:
    if not all(math.isfinite(float(v)) for v in vals):
        raise RoiError(f"ROI bounds {vals} are not finite numbers")


def _clip(v: float, lo: int, hi: int) -> int:
    return int(min(max(v, lo), hi))


def fill_rect(left: float, top: float, width: float, height: float, shape) -> np.ndarray:
    H, W = shape
    _finite(left, top, width, height)
    m = np.zeros((H, W), bool)
    x0, y0 = _clip(int(left), 0, W), _clip(int(top), 0, H)
    x1, y1 = _clip(int(left + width), 0, W), _clip(int(top + height), 0, H)
    if x1 > x0 and y1 > y0:
        m[y0:y1, x0:x1] = True
    return m


def fill_oval(left: int, top: int, width: int, height: int, shape) -> np.ndarray:
    """ImageJ's OvalRoi mask: pixel centres inside the ellipse inscribed in the bounds."""
    H, W = shape
    _finite(left, top, width, height)
    m = np.zeros((H, W), bool)
    if width <= 0 or height <= 0:
        return m
    left, top, width, height = int(left), int(top), int(width), int(height)
    a, b = width / 2.0, height / 2.0
    # only the part of the bounds inside the image (a huge oval costs no more than the image)
    y0, y1 = _clip(top, 0, H), _clip(top + height, 0, H)
    x0, x1 = _clip(left, 0, W), _clip(left + width, 0, W)
    if y1 <= y0 or x1 <= x0:
        return m
    yy = (np.arange(y0, y1, dtype=np.float64) - top)[:, None]
    xx = (np.arange(x0, x1, dtype=np.float64) - left)[None, :]
    m[y0:y1, x0:x1] = ((xx - (a - 0.5)) ** 2 / (a * a) + (yy - (b - 0.5)) ** 2 / (b * b)) <= 1.0
    return m


def paste(canvas: np.ndarray, local: np.ndarray, x0: int, y0: int) -> np.ndarray:
    """OR a local (h, w) mask into ``canvas`` with its top-left corner at (x0, y0), clipped to the canvas."""
    H, W = canvas.shape
    h, w = local.shape
    ys, xs = max(0, -y0), max(0, -x0)
    ye, xe = min(h, H - y0), min(w, W - x0)
    if ye > ys and xe > xs:
        canvas[y0 + ys:y0 + ye, x0 + xs:x0 + xe] |= local[ys:ye, xs:xe]
    return canvas


def thick_polyline(points: np.ndarray, width: float, shape) -> np.ndarray:
    """The pixels of a segmented or freehand line of stroke ``width`` (at least 1), as ImageJ's
    ``Roi.convertLineToArea`` makes them (1.54p): points in ImageJ's line coordinates (a pixel
    centre is at an integer), each segment a rectangle of the width, the first and the last point
    moved out by half a pixel along the line, a triangle on the outer side of each bend, every
    vertex in float32 as ImageJ stores it, each polygon filled by ImageJ's rule half a pixel on
    (:func:`fill_polygons`). A segment of no length covers nothing (ImageJ's arithmetic gives NaN)."""
    H, W = shape
    p = np.asarray(points, dtype=np.float64)
    if not np.isfinite(p).all() or not math.isfinite(width):
        raise RoiError("line ROI coordinates or width are not finite numbers")
    x, y = p[:, 0].astype(np.float32), p[:, 1].astype(np.float32)
    r = max(float(width), 1.0) / 2.0
    if x.size < 2:
        return np.zeros((H, W), bool)
    quads, tris = [], []
    with np.errstate(invalid="ignore", divide="ignore"):
        d1 = _unit(x[1] - x[0], y[1] - y[0])
        d0 = d1
        frm = (float(x[0]) - 0.5 * d1[0], float(y[0]) - 0.5 * d1[1])
        for i in range(1, x.size):
            to = (float(x[i]), float(y[i]))
            if i == x.size - 1:
                to = (to[0] + 0.5 * d1[0], to[1] + 0.5 * d1[1])
            (fx, fy), (tx, ty), (ux, uy) = frm, to, d1
            quads.append([(fx + r * uy, fy - r * ux), (fx - r * uy, fy + r * ux), (tx - r * uy, ty + r * ux),
                          (tx + r * uy, ty - r * ux)])
            if i > 1:
                tris.append(_bend(frm, d0, d1, r))
            d0, frm = d1, to
            if i < x.size - 1:
                d1 = _unit(x[i + 1] - x[i], y[i + 1] - y[i])
    return fill_each([_as_imagej_polygons(quads), _as_imagej_polygons(tris)], shape)


def _as_imagej_polygons(polys: list) -> np.ndarray:
    """Polygons' vertices rounded to float32 as ImageJ stores them, then moved half a pixel on (its
    line-to-area offset); those with a NaN vertex (a segment of no length) left out, as ImageJ's
    filler draws nothing for them."""
    q = np.asarray(polys, np.float32).astype(np.float64) + 0.5
    return q[np.isfinite(q).all(axis=(1, 2))] if q.size else q


def _unit(dx: np.float32, dy: np.float32) -> tuple[float, float]:
    """A segment's direction as ImageJ computes it (float32 differences, then double; NaN for no length)."""
    dx, dy = float(dx), float(dy)
    n = math.sqrt(dx * dx + dy * dy)
    return (dx / n, dy / n) if n > 0 else (math.nan, math.nan)


def _bend(frm, d0, d1, r) -> list:
    """The triangle ImageJ fills on the outer side of a bend at ``frm`` (from direction d0 to d1),
    its tip pushed out a little past the segments' rectangles (float32, as ImageJ)."""
    f32 = np.float32
    (fx, fy), (ax, ay), (bx, by) = frm, d0, d1
    s = 1.0 if bx * ay > ax * by else -1.0  # a right turn: the triangle on the other side
    tip = (f32(f32(fx) + s * f32(0.5 * (r * ay + r * by))), f32(f32(fy) - s * f32(0.5 * (r * ax + r * bx))))
    return [tip, (fx - s * r * ay, fy + s * r * ax), (fx - s * r * by, fy + s * r * bx)]


def straight_line(p0, p1, width: float, shape) -> np.ndarray:
    """The pixels of a straight line ROI of stroke ``width`` (at least 1): ImageJ's rotated
    rectangle of that width around it (float32 vertices), butt ends, no offset (``Roi.convertLineToArea``)."""
    H, W = shape
    (xa, ya), (xb, yb) = p0, p1
    if not all(math.isfinite(v) for v in (xa, ya, xb, yb, width)):
        raise RoiError("line ROI coordinates or width are not finite numbers")
    d = math.hypot(xb - xa, yb - ya)
    if d == 0:
        return np.zeros((H, W), bool)
    r = max(float(width), 1.0) / 2.0
    nx, ny = -(yb - ya) / d * r, (xb - xa) / d * r
    quad = [[(xa + nx, ya + ny), (xb + nx, yb + ny), (xb - nx, yb - ny), (xa - nx, ya - ny)]]
    return fill_each([np.asarray(quad, np.float32)], shape)


def mark_points(points: np.ndarray, shape) -> np.ndarray:
    """The pixel of each point, rounded as ImageJ 1.54 does (``Math.round``)."""
    H, W = shape
    m = np.zeros((H, W), bool)
    q = np.floor(np.asarray(points, dtype=np.float64) + 0.5).astype(np.int64)
    ok = (q[:, 0] >= 0) & (q[:, 0] < W) & (q[:, 1] >= 0) & (q[:, 1] < H)
    m[q[ok, 1], q[ok, 0]] = True
    return m


# --------------------------------------------------------------------- the ROIs


@dataclass
class LabelRoi:
    """One ROI seen by the label builder, whatever it came from (file or JVM)."""

    name: str
    kind: str  # 'area', 'line', 'point', or an annotation ('text', 'image', 'mark': never a label)
    raster: Callable[[tuple[int, int]], np.ndarray] | None  # (H, W) -> bool mask
    group: int = 0
    color: tuple[int, int, int] | None = None
    position: int = 0  # stack slice, 1-based; 0 = all
    c: int = 0  # hyperstack position, 1-based; 0 = all
    z: int = 0
    t: int = 0
    extra: dict = field(default_factory=dict)


def _rgb(color) -> tuple[int, int, int] | None:
    """roifile colour bytes (A, R, G, B) -> (r, g, b), None when unset."""
    if color is None:
        return None
    b = bytes(color)
    if len(b) != 4 or b == b"\0\0\0\0":
        return None
    return (b[1], b[2], b[3])


#: the property that marks a ROI the Fiji plugin drew itself (a prediction, a suggestion), never a
#: label (RoiIndex.NOT_A_LABEL in the plugin: change both)
MARK_PROPERTY = "pixelforest.mark"


def _annotation_kind(roi) -> str | None:
    """``"text"``, ``"image"`` or ``"mark"`` (the plugin's own) for a roifile ROI that never labels; else None."""
    import roifile

    if roi.subtype == roifile.ROI_SUBTYPE.TEXT:
        return "text"
    if roi.subtype == roifile.ROI_SUBTYPE.IMAGE:
        return "image"
    return "mark" if MARK_PROPERTY in (roi.properties or {}) else None


def _stroke_width(roi) -> float:
    """A roifile ROI's stroke width: ImageJ keeps a fractional one in the float field (the short one
    then holds its integer part)."""
    return float(roi.float_stroke_width) if (roi.float_stroke_width or 0) > 0 else float(roi.stroke_width or 0)


def from_roifile(roi) -> LabelRoi:
    """A roifile.ImagejRoi as a LabelRoi rasterised with ImageJ's rules."""
    import roifile

    T = roifile.ROI_TYPE
    name = roi.name or ""
    kind = "area"
    rt = roi.roitype
    width = _stroke_width(roi)
    annotation = _annotation_kind(roi)
    if annotation is None and roi.options & roifile.ROI_OPTIONS.SPLINE_FIT:
        raise RoiError(f"ROI {name!r} is fitted with a spline, which ImageJ draws along the spline and pure Python "
                       f"cannot: train from it in ImageJ (the Fiji plugin, or pixelforest.imagej), or undo the fit")
    raster = None  # an annotation's: never rasterised (rois_to_labels leaves annotations out)
    if annotation is not None:
        kind = annotation
    elif roi.composite:
        polys = [np.asarray(c, np.float64) for c in roi.coordinates(multi=True)]

        def raster(shape, polys=polys):
            return fill_polygons(polys, shape)
    elif rt == T.RECT:  # rounded corners (arc_size) are not cut off: the whole rectangle is labelled
        def raster(shape, r=roi):
            return fill_rect(r.left, r.top, r.right - r.left, r.bottom - r.top, shape)
    elif rt == T.OVAL:
        def raster(shape, r=roi):
            return fill_oval(r.left, r.top, r.right - r.left, r.bottom - r.top, shape)
    elif rt in (T.POLYGON, T.FREEHAND, T.TRACED):  # freehand includes ellipse and rotated-rectangle subtypes
        pts = np.asarray(roi.coordinates(), np.float64)

        def raster(shape, pts=pts):
            return fill_polygons([pts], shape)
    elif rt == T.LINE:  # ImageJ turns every line into an area of its stroke width (at least 1 px)
        kind = "line"
        ends, stroke = ((roi.x1, roi.y1), (roi.x2, roi.y2)), max(width, 1.0)

        def raster(shape, ends=ends, w=stroke):
            return straight_line(*ends, w, shape)
    elif rt in (T.POLYLINE, T.FREELINE, T.ANGLE):
        kind = "line"
        pts = np.asarray(roi.coordinates(), np.float64)  # ImageJ's line coordinates, integer or sub-pixel
        stroke = max(width, 1.0)

        def raster(shape, pts=pts, w=stroke):
            return thick_polyline(pts, w, shape)
    elif rt == T.POINT:
        kind = "point"
        pts = np.asarray(roi.coordinates(), np.float64)

        def raster(shape, pts=pts):
            return mark_points(pts, shape)
    else:
        raise RoiError(f"ROI {name!r}: unsupported ROI type {rt!r}")
    return LabelRoi(
        name=name, kind=kind, raster=raster, group=int(getattr(roi, "group", 0) or 0),
        color=_rgb(roi.stroke_color), position=int(roi.position or 0),
        c=int(roi.c_position or 0), z=int(roi.z_position or 0), t=int(roi.t_position or 0),
    )


def read_roi_file(path) -> list[LabelRoi]:
    """``.roi`` or ``RoiSet.zip`` -> LabelRois (pure Python)."""
    import roifile

    path = Path(path)
    if not path.exists():
        raise RoiError(f"ROI file {path} does not exist")
    try:
        rois = roifile.roiread(path)
    except Exception as e:
        raise RoiError(f"{path}: not a readable ImageJ ROI file or RoiSet.zip ({type(e).__name__}: {e})") from None
    if not isinstance(rois, list):
        rois = [rois]
    out = []
    for r in rois:
        try:
            out.append(from_roifile(r))
        except RoiError as e:
            raise RoiError(f"{path}: {e}") from None
    return out


# ----------------------------------------------------------------- classes


#: ``class:NAME`` in a ROI name; the Fiji plugin reads names with the same rule (RoiIndex.CLASS_NAME): change both
_CLASS_PREFIX = re.compile(r"^\s*class\s*:\s*([^#;,]+?)\s*(?:[#;,].*)?$", re.IGNORECASE)


def roi_class_name(roi: LabelRoi, classes: Sequence[str] | None, group_names: dict[int, str] | None,
                   color_names: dict | None = None, known: Sequence[str] = ()) -> str:
    """The class of a ROI: group, then ``class:`` / class-name prefix, then stroke colour.

    A name prefix matches ``classes`` or, without them, the ``known`` names
    (group names and ``class:`` names of the other ROIs).

    A ROI without a class is refused here, where ROIs are handed over explicitly (a file, a list, a
    script's ROI Manager) and an unattended run must not train on fewer than it was given. The Fiji
    commands, which take whatever the ROI Manager or Overlay holds (measurements, annotations too),
    leave such ROIs out with a Log line instead (RoiIndex.rois), by this same rule."""
    if roi.group > 0:
        if group_names and roi.group in group_names and group_names[roi.group]:
            return group_names[roi.group]
        if classes and roi.group <= len(classes):
            return classes[roi.group - 1]
        return f"group {roi.group}"
    m = _CLASS_PREFIX.match(roi.name or "")
    if m:
        return m.group(1).strip()
    candidates = classes or known
    if candidates and roi.name:
        low = roi.name.lower()
        hits = [c for c in candidates if low.startswith(c.lower())]
        if hits:
            return max(hits, key=len)
    if roi.color is not None:
        if color_names and roi.color in color_names:
            return color_names[roi.color]
        return "#%02x%02x%02x" % roi.color
    raise RoiError(
        f"ROI {roi.name or '(unnamed)'!r} has no class: put it in an ImageJ group, name it 'class:NAME', "
        f"or give it a stroke colour"
    )


def assign_classes(rois: Sequence[LabelRoi], classes: Sequence[str] | None = None,
                   group_names: dict[int, str] | None = None, color_names: dict | None = None):
    """Class of every ROI: ``(label value per ROI, class names, class colours)``.

    Class order: ``classes`` if given, else ROI groups in group order, then the
    other classes in order of first appearance. A class's colour is its ROIs'
    stroke colour, unless several classes share it (ImageJ's default colour).
    """
    known = list((group_names or {}).values()) + [
        m.group(1).strip() for r in rois if (m := _CLASS_PREFIX.match(r.name or ""))]
    names = [roi_class_name(r, classes, group_names, color_names, known) for r in rois]
    if classes is not None:
        order = list(classes)
        unknown = sorted(set(names) - set(order))
        if unknown:
            raise RoiError(f"ROI classes {unknown} are not among the given classes {order}")
    else:
        order = []
        for _, n in sorted({(r.group, n) for r, n in zip(rois, names, strict=True) if r.group > 0}):
            if n not in order:
                order.append(n)
        for n in names:
            if n not in order:
                order.append(n)
    if len(order) > 255:
        raise RoiError(f"{len(order)} classes: at most 255 are supported")
    colors: list = [None] * len(order)
    for r, n in zip(rois, names, strict=True):
        k = order.index(n)
        if colors[k] is None and r.color is not None:
            colors[k] = r.color
    shared = {c for c in colors if c is not None and colors.count(c) > 1}
    colors = [None if c in shared else c for c in colors]
    return [order.index(n) + 1 for n in names], order, colors


#: ROI kinds that never label (text and image ROIs, the plugin's own marks), left out as the Fiji plugin leaves them out
ANNOTATIONS = ("text", "image", "mark")


def rois_to_labels(rois: Sequence[LabelRoi], shape, *, classes: Sequence[str] | None = None,
                   group_names: dict[int, str] | None = None, color_names: dict | None = None,
                   n_channels: int = 1):
    """Rasterise ROIs into a label image. Text and image ROIs are annotations: left out, as the
    Fiji plugin leaves them out.

    Parameters
    ----------
    rois : LabelRois (later ROIs win where they overlap)
    shape : (Y, X), (Z, Y, X) or (T, Z, Y, X)
        Shape of the label image (the image without channels).
    classes : class names in label order (class k = label k); default: ROI groups
        in group order, then other classes in order of first appearance.
    n_channels : channels of the image, to decode plain stack positions.

    Returns
    -------
    labels : uint8 array of ``shape``
    class_names : list of str
    class_colors : list of (r, g, b) or None per class (the ROIs' stroke colours)
    """
    shape = tuple(int(s) for s in shape)
    if len(shape) not in (2, 3, 4):
        raise RoiError(f"label shape must be (Y, X), (Z, Y, X) or (T, Z, Y, X), got {shape}")
    full = (1,) * (4 - len(shape)) + shape
    T, Z, H, W = full
    notes = [r for r in rois if r.kind in ANNOTATIONS]
    rois = [r for r in rois if r.kind not in ANNOTATIONS]
    if not rois:
        raise RoiError("no ROIs given: draw ROIs for at least two classes"
                       + (f" ({len(notes)} text or image ROI(s) are annotations, never labels)" if notes else ""))
    values, order, colors = assign_classes(rois, classes, group_names, color_names)
    labels = np.zeros(full, np.uint8)
    for roi, k in zip(rois, values, strict=True):
        mask = roi.raster((H, W))
        if not mask.any():
            continue
        for t, z in _planes(roi, T, Z, n_channels):
            labels[t, z][mask] = k
    if not labels.any():
        raise RoiError("the ROIs cover no pixel of the image (are they outside it?)")
    return labels.reshape(shape), order, colors


def _planes(roi: LabelRoi, T: int, Z: int, C: int):
    if roi.z or roi.t:  # hyperstack position
        zs = [roi.z - 1] if roi.z else range(Z)
        ts = [roi.t - 1] if roi.t else range(T)
    elif roi.position:
        idx = roi.position - 1
        z, t = (idx // C) % Z, idx // (C * Z)
        if t >= T:
            raise RoiError(f"ROI {roi.name!r} is on slice {roi.position}, beyond the image's {T * Z * C} slices")
        zs, ts = [z], [t]
    else:
        zs, ts = range(Z), range(T)
    for t in ts:
        if not 0 <= t < T:
            raise RoiError(f"ROI {roi.name!r} is on frame {t + 1} but the image has {T}")
        for z in zs:
            if not 0 <= z < Z:
                raise RoiError(f"ROI {roi.name!r} is on slice {z + 1} but the image has {Z}")
            yield t, z
