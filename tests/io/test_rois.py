"""pixelforest.io.rois: ImageJ ROI files -> training labels, rasterised with ImageJ's rules.

The expected masks are written out by hand for tiny shapes (pixel (x, y) is the square from (x, y) to
(x+1, y+1); a pixel is in an area when its centre is); each was also checked against ImageJ 1.54p's own
masks (Roi.getMask, Roi.convertLineToArea) when this file was written."""

from __future__ import annotations

import numpy as np
import pytest

from pixelforest.io.rois import (
    LabelRoi,
    RoiError,
    assign_classes,
    fill_oval,
    fill_polygons,
    fill_rect,
    mark_points,
    read_roi_file,
    rois_to_labels,
    thick_polyline,
)

roifile = pytest.importorskip("roifile")


def mask(text: str) -> np.ndarray:
    """A boolean mask from rows of '#' (in) and '.' (out)."""
    return np.array([[c == "#" for c in row] for row in text.split()], bool)


def test_mask_helper():
    assert np.array_equal(mask("#. .#"), np.eye(2, dtype=bool))


# ----------------------------------------------------------------- areas


def test_rectangle():
    assert np.array_equal(fill_rect(1, 2, 3, 2, (5, 6)), mask("""
        ......
        ......
        .###..
        .###..
        ......"""))
    assert np.array_equal(fill_rect(-3, -3, 5, 4, (3, 3)), mask("##. ... ..."))  # clipped
    assert not fill_rect(5, 5, 2, 2, (4, 4)).any()  # outside
    with pytest.raises(RoiError, match="not finite"):
        fill_rect(float("nan"), 0, 2, 2, (4, 4))


def test_polygon_pixel_centres_inside():
    # integer triangle: a centre exactly on the hypotenuse (its right side) is inside
    tri = fill_polygons([np.array([[0, 0], [4, 0], [0, 4]])], (5, 5))
    assert np.array_equal(tri, mask("""
        ####.
        ###..
        ##...
        #....
        ....."""))
    # a triangle whose left side passes through the centre of pixel (3, 2): outside
    tri = fill_polygons([np.array([[1, 1], [6, 1], [6, 4]])], (6, 8))
    assert np.array_equal(tri, mask("""
        ........
        ..####..
        ....##..
        .....#..
        ........
        ........"""))


def test_polygon_left_edge_on_centres_is_outside_right_edge_inside():
    sq = fill_polygons([np.array([[1.5, 1.0], [3.5, 1.0], [3.5, 3.0], [1.5, 3.0]])], (4, 5))
    assert np.array_equal(sq, mask("""
        .....
        ..##.
        ..##.
        ....."""))


def test_polygon_upper_edge_on_centres_is_outside_lower_edge_inside():
    sq = fill_polygons([np.array([[0.5, 0.5], [5.5, 0.5], [5.5, 5.5], [0.5, 5.5]])], (7, 7))
    assert np.array_equal(sq, mask("""
        .......
        .#####.
        .#####.
        .#####.
        .#####.
        .#####.
        ......."""))


def test_polygons_even_odd():
    outer = np.array([[0, 0], [6, 0], [6, 6], [0, 6]])
    inner = np.array([[2, 2], [4, 2], [4, 4], [2, 4]])
    ring = fill_polygons([outer, inner], (6, 6))
    want = np.ones((6, 6), bool)
    want[2:4, 2:4] = False
    assert np.array_equal(ring, want)
    apart = fill_polygons([np.array([[0, 0], [2, 0], [2, 1], [0, 1]]), np.array([[3, 2], [5, 2], [5, 3], [3, 3]])],
                          (3, 5))
    assert np.array_equal(apart, mask("##... ..... ...##"))
    assert not fill_polygons([np.array([[0, 0], [3, 3]])], (4, 4)).any()  # not a polygon: ignored
    with pytest.raises(RoiError, match="not finite"):
        fill_polygons([np.array([[0, 0], [3, np.inf], [0, 3]])], (4, 4))


@pytest.mark.parametrize("bounds, shape, want", [
    ((0, 0, 4, 4), (4, 5), """
        .##..
        ####.
        ####.
        .##.."""),
    ((0, 0, 5, 3), (3, 6), """
        .###..
        #####.
        .###.."""),
    ((1, 0, 3, 6), (6, 5), """
        ..#..
        .###.
        .###.
        .###.
        .###.
        ..#.."""),
    ((1, 1, 1, 1), (3, 3), "... .#. ..."),
    ((0, 0, 2, 2), (3, 3), "##. ##. ..."),
])
def test_oval(bounds, shape, want):
    assert np.array_equal(fill_oval(*bounds, shape), mask(want))


def test_oval_clipped_and_empty():
    full = fill_oval(0, 0, 5, 3, (3, 6))
    assert np.array_equal(fill_oval(-2, -1, 5, 3, (2, 4)), full[1:3, 2:6])  # its part inside the image
    assert not fill_oval(0, 0, 0, 3, (4, 4)).any()
    assert not fill_oval(10, 10, 3, 3, (4, 4)).any()


# ----------------------------------------------------------------- lines and points


def test_lines_are_strokes_of_their_width():
    """Points in ImageJ's line coordinates (a pixel centre at an integer): each segment a rectangle of
    the stroke's width, the ends moved out by half a pixel (ImageJ's Roi.convertLineToArea)."""
    # width 1 along the centres of row 2, from x = 1 to 4: those four pixels
    assert np.array_equal(thick_polyline(np.array([[1, 2], [4, 2]]), 1, (5, 7)), mask("""
        .......
        .......
        .####..
        .......
        ......."""))
    # width 3 along the centres of column 3, from y = 1 to 5: three columns, rows 1..5
    assert np.array_equal(thick_polyline(np.array([[3, 1], [3, 5]]), 3, (8, 7)), mask("""
        .......
        ..###..
        ..###..
        ..###..
        ..###..
        ..###..
        .......
        ......."""))


def test_sub_pixel_line_is_where_imagej_puts_it():
    # y = 2.6 is 0.1 px below the centres of row 2... in line coordinates: the stroke covers row 3's centres
    assert np.array_equal(thick_polyline(np.array([[1.3, 2.6], [5.2, 2.6]]), 1, (5, 8)), mask("""
        ........
        ........
        ........
        .#####..
        ........"""))


def test_polyline_bend():
    """Two width-3 strokes meeting at (6, 1): ImageJ fills a triangle on the outer side of the bend."""
    got = thick_polyline(np.array([[1, 1], [6, 1], [6, 6]]), 3, (9, 9))
    assert np.array_equal(got, mask("""
        .######..
        .#######.
        .#######.
        .....###.
        .....###.
        .....###.
        .....###.
        .........
        ........."""))
    with pytest.raises(RoiError, match="not finite"):
        thick_polyline(np.array([[0, 0], [np.nan, 1]]), 1, (4, 4))
    assert not thick_polyline(np.array([[2, 2], [2, 2]]), 3, (5, 5)).any()  # no length: no pixel (as ImageJ)


def test_points_round_half_up():
    got = mark_points(np.array([[1.4, 2.6], [2.5, 0.5], [-0.6, 1.0], [9.0, 1.0]]), (4, 4))
    assert np.array_equal(got, mask("""
        ....
        ...#
        ....
        .#.."""))  # (1.4, 2.6) -> (1, 3); (2.5, 0.5) -> (3, 1); the others fall outside


# ----------------------------------------------------------------- files and classes


def _roiset(path):
    from roifile import ROI_TYPE, ImagejRoi

    tri = ImagejRoi.frompoints(np.array([[1, 1], [6, 1], [6, 4]]), name="class:cells")
    tri.roitype = ROI_TYPE.POLYGON
    oval = ImagejRoi(roitype=ROI_TYPE.OVAL, left=1, top=1, right=6, bottom=4, name="o", group=2, position=2)
    line = ImagejRoi(roitype=ROI_TYPE.LINE, left=1, top=2, right=5, bottom=3, x1=1.0, y1=2.5, x2=5.0, y2=2.5,
                     stroke_width=1, stroke_color=b"\xff\xff\xff\x00", name="stroke")
    roifile.roiwrite(path, [tri, oval, line])
    return path


def test_roiset_zip_to_labels(tmp_path):
    rois = read_roi_file(_roiset(tmp_path / "RoiSet.zip"))
    assert [(r.name, r.kind, r.group, r.color, r.position) for r in rois] == [
        ("class:cells", "area", 0, None, 0), ("o", "area", 2, None, 2), ("stroke", "line", 0, (255, 255, 0), 0)]
    tri = mask("""
        ........
        ..####..
        ....##..
        .....#..
        ........
        ........""")
    oval = np.zeros((6, 8), bool)
    oval[1:4, 1:7] = mask(".###.. #####. .###..")
    line = np.zeros((6, 8), bool)
    line[2, 1:5] = True
    lab, names, colors = rois_to_labels(rois, (2, 6, 8), group_names={2: "nuclei"})
    # classes: ROI groups first (nuclei), then the others as they come; later ROIs win where they overlap
    assert names == ["nuclei", "cells", "#ffff00"] and colors == [None, None, (255, 255, 0)]
    for z in range(2):
        want = np.zeros((6, 8), np.uint8)
        want[tri] = 2
        if z == 1:  # the oval is on slice 2 only
            want[oval] = 1
        want[line] = 3
        assert np.array_equal(lab[z], want), z


def test_roi_files_refused_with_a_clear_error(tmp_path):
    with pytest.raises(RoiError, match="does not exist"):
        read_roi_file(tmp_path / "missing.roi")
    (tmp_path / "bad.roi").write_bytes(b"not a roi")
    with pytest.raises(RoiError, match="not a readable ImageJ ROI"):
        read_roi_file(tmp_path / "bad.roi")
    with pytest.raises(RoiError, match="no ROIs"):
        rois_to_labels([], (4, 4))
    far = LabelRoi("class:a", "area", lambda s: fill_rect(10, 10, 2, 2, s))
    with pytest.raises(RoiError, match="cover no pixel"):
        rois_to_labels([far], (4, 4))
    on_slice_3 = LabelRoi("class:a", "area", lambda s: np.ones(s, bool), position=3)
    with pytest.raises(RoiError, match="beyond the image's 2 slices"):
        rois_to_labels([on_slice_3], (2, 4, 4))
    with pytest.raises(RoiError, match="label shape"):
        rois_to_labels([on_slice_3], (4,))


def test_hyperstack_positions():
    everywhere = LabelRoi("class:a", "area", lambda s: fill_rect(0, 0, 1, 1, s))
    frame2_slice3 = LabelRoi("class:b", "area", lambda s: fill_rect(1, 1, 1, 1, s), z=3, t=2)
    plain = LabelRoi("class:b", "area", lambda s: fill_rect(2, 2, 1, 1, s), position=6)
    lab, names, _ = rois_to_labels([everywhere, frame2_slice3, plain], (2, 3, 4, 4), n_channels=1)
    assert names == ["a", "b"]
    assert (lab[:, :, 0, 0] == 1).all()
    assert lab[1, 2, 1, 1] == 2 and (lab[:, :, 1, 1] > 0).sum() == 1
    # plain stack position 6 of (t=2, z=3, c=1): frame 2, slice 3 (c varies fastest, then z, then t)
    assert lab[1, 2, 2, 2] == 2 and (lab[:, :, 2, 2] > 0).sum() == 1


def test_class_names_read_as_the_fiji_plugin_reads_them():
    """``class:NAME`` in any case and spacing, up to ``#``, ``;`` or ``,``; a name that starts with a class
    name (any case). The plugin's RoiIndex.hasClass / className follow this rule (tests/integration/test_fiji.py)."""
    names = ("Class : cell #1", "CLASS:background; x", "Cell 2", "BACKGROUND stroke")
    rois = [LabelRoi(name, "area", None) for name in names]
    values, names, _ = assign_classes(rois)
    assert names == ["cell", "background"] and values == [1, 2, 1, 2]


def test_text_and_image_rois_are_never_labels(tmp_path):
    """A text ROI (an annotation on the image, often without a class) is left out, as the Fiji plugin
    leaves it out: the other ROIs label; with only annotations, the error says why nothing labels."""
    box = roifile.ImagejRoi.frompoints([[1, 1], [4, 1], [4, 4], [1, 4]])
    box.roitype, box.name = roifile.ROI_TYPE.POLYGON, "class:cells"
    text = roifile.ImagejRoi(roitype=roifile.ROI_TYPE.RECT, subtype=roifile.ROI_SUBTYPE.TEXT, top=0, left=0, bottom=8,
                             right=8, name="scale bar note")
    path = tmp_path / "RoiSet.zip"
    box.tofile(path)
    text.tofile(path)
    rois = read_roi_file(path)
    assert [r.kind for r in rois] == ["area", "text"]
    lab, names, _ = rois_to_labels(rois, (8, 8))
    assert names == ["cells"] and (lab == 1).sum() == 9 and (lab > 0).sum() == 9
    with pytest.raises(RoiError, match=r"1 text or image ROI\(s\) are annotations, never labels"):
        rois_to_labels(rois[1:], (8, 8))
