"""The ImageJ bridge on a real ImageJ 1.x JVM (headless), with real data where present."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import tifffile

import pixelforest as pf
from pixelforest.io.rois import LabelRoi, RoiError, read_roi_file, rois_to_labels

ROOT = Path(__file__).resolve().parents[2]


def _java_available() -> bool:
    from pixelforest.imagej.jvm import JavaNotFoundError, find_java

    try:
        find_java()
        return True
    except JavaNotFoundError:
        return False


pytestmark = pytest.mark.skipif(not _java_available(), reason="no Java runtime (install OpenJDK 11+ and set JAVA_HOME)")


@pytest.fixture(scope="module")
def pfij():
    import pixelforest.imagej as pfij

    pfij.start()
    return pfij


# ---------------------------------------------------------------- session


def test_session_is_imagej_1x_on_system_java(pfij):
    IJ = pfij.start()
    assert str(IJ.getVersion()).startswith(pfij.IJ_VERSION[:4])
    System = pfij.jimport("java.lang.System")
    assert System.getProperty("java.awt.headless") == "true"
    home = Path(str(System.getProperty("java.home"))).resolve()
    assert ".jgo" not in str(home) and "cjdk" not in str(home)  # the system JDK, never a downloaded one


def test_missing_java_error(monkeypatch, tmp_path):
    from pixelforest.imagej.jvm import JavaNotFoundError, find_java

    monkeypatch.setenv("JAVA_HOME", str(tmp_path))
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(JavaNotFoundError, match="Java was not found.*JAVA_HOME"):
        find_java()


# ------------------------------------------------------------ conversions


def _roundtrip(pfij, arr, axes, **kw):
    cal = pfij.Calibration(0.25, 0.5, 2.0, "µm", 3.5, "min")
    imp = pfij.to_imageplus(arr, axes, calibration=cal, **kw)
    back, back_axes, back_cal = pfij.from_imageplus(imp)
    return imp, back, back_axes, back_cal, cal


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32])
@pytest.mark.parametrize("axes,shape", [("yx", (17, 23)), ("zyx", (4, 17, 23)), ("cyx", (3, 17, 23)),
                                        ("tyx", (2, 17, 23)), ("zcyx", (4, 2, 17, 23)), ("tzcyx", (2, 3, 2, 17, 23))])
def test_exact_round_trip_every_depth_and_layout(pfij, dtype, axes, shape):
    rng = np.random.default_rng(0)
    if dtype == np.float32:
        arr = rng.normal(size=shape).astype(np.float32)
        arr.flat[0] = np.float32(1e-38)
    else:
        arr = rng.integers(0, np.iinfo(dtype).max, size=shape, endpoint=True).astype(dtype)
    imp, back, back_axes, back_cal, cal = _roundtrip(pfij, arr, axes)
    assert back_axes == axes and back.dtype == arr.dtype and np.array_equal(back, arr)
    assert back_cal == cal
    # ImageJ's own view agrees on dimensions and on a pixel in the last plane
    dims = dict(zip(axes, shape, strict=True))
    assert (imp.getNChannels(), imp.getNSlices(), imp.getNFrames()) \
        == (dims.get("c", 1), dims.get("z", 1), dims.get("t", 1))
    n = imp.getStackIndex(dims.get("c", 1), dims.get("z", 1), dims.get("t", 1))
    ip = imp.getStack().getProcessor(n)
    assert ip.getPixelValue(5, 7) == pytest.approx(float(arr[(-1,) * (len(shape) - 2) + (7, 5)]))


def test_rgb_round_trip(pfij):
    rng = np.random.default_rng(1)
    rgb = rng.integers(0, 256, (2, 19, 21, 3)).astype(np.uint8)
    imp, back, back_axes, _, _ = _roundtrip(pfij, rgb, "zyxc", rgb=True)
    assert imp.getBitDepth() == 24 and back_axes == "zyxc" and np.array_equal(back, rgb)
    c = imp.getStack().getProcessor(2).getColor(3, 4)
    assert (c.getRed(), c.getGreen(), c.getBlue()) == tuple(rgb[1, 4, 3])


def test_real_hela_and_em_stack(pfij, shared_data):
    IJ = pfij.start()
    hela = shared_data("hela") / "hela-cells.tif"
    imp = IJ.openImage(str(hela))
    arr, axes, cal = pfij.from_imageplus(imp)
    assert axes == "cyx" and arr.dtype == np.uint16
    assert np.array_equal(np.moveaxis(arr, 0, -1), tifffile.imread(hela))
    assert cal.unit == "µm" and cal.pixel_width == pytest.approx(0.0514931, rel=1e-5)
    imp2 = pfij.to_imageplus(arr, axes, calibration=cal)
    assert imp2.isComposite() and pfij.get_calibration(imp2) == cal
    assert np.array_equal(pfij.from_imageplus(imp2)[0], arr)
    em = shared_data("isbi2012-em") / "train-volume.tif"
    imp = IJ.openImage(str(em))
    arr, axes, _ = pfij.from_imageplus(imp)
    assert axes == "zyx" and arr.shape == (30, 512, 512)
    assert np.array_equal(arr, tifffile.imread(em))
    assert np.array_equal(pfij.from_imageplus(pfij.to_imageplus(arr, axes))[0], arr)


def test_ilastik_3d_volume(pfij, ilastik_tests):
    import h5py

    with h5py.File(ilastik_tests / "inputdata" / "3d.h5", "r") as f:
        vol = f["data"][()]
    imp = pfij.to_imageplus(vol, "zyx")
    assert (imp.getNSlices(), imp.getHeight(), imp.getWidth()) == vol.shape
    assert np.array_equal(pfij.from_imageplus(imp)[0], vol)


# ---------------------------------------------------------------- ROIs


def test_roi_rasterisation_agrees_with_imagej(pfij, shared_data):
    """Pure-Python rasterisation (roifile) against ImageJ's own masks on real .roi files: exact for
    every one (the segmented line too, since lines follow Roi.convertLineToArea's geometry)."""
    RoiDecoder = pfij.jimport("ij.io.RoiDecoder")
    folder = shared_data("imagej-rois")
    files = sorted(folder.glob("*.roi"))
    assert len(files) == 23
    H, W = 256, 300
    for f in files:
        py = read_roi_file(f)[0].raster((H, W))
        ij = pfij.java_mask(RoiDecoder.open(str(f)), (H, W))
        assert np.array_equal(py, ij), f.name
        assert py.any()


def _java_rois(pfij):
    Roi = pfij.jimport("ij.gui.Roi")
    OvalRoi = pfij.jimport("ij.gui.OvalRoi")
    PolygonRoi = pfij.jimport("ij.gui.PolygonRoi")
    Line = pfij.jimport("ij.gui.Line")
    PointRoi = pfij.jimport("ij.gui.PointRoi")
    from jpype import JArray, JFloat

    a = OvalRoi(30, 20, 25, 18)
    a.setGroup(1)
    b = PolygonRoi(JArray(JFloat)([60.0, 90.5, 75.25]), JArray(JFloat)([70.0, 72.0, 95.5]), Roi.POLYGON)
    b.setGroup(1)
    c = Line(5.0, 100.0, 110.0, 112.0)
    c.setStrokeWidth(4)
    c.setGroup(2)
    d = Roi(100, 5, 15, 30)
    d.setName("class:Label 2 box")
    d.setGroup(2)
    e = PointRoi(JArray(JFloat)([12.4, 40.6]), JArray(JFloat)([8.2, 60.5]), 2)
    e.setGroup(2)
    return [a, b, c, d, e]


def _roiset_zip(pfij, rois, path):
    RoiEncoder = pfij.jimport("ij.io.RoiEncoder")
    with zipfile.ZipFile(path, "w") as z:
        for i, r in enumerate(rois):
            z.writestr(f"{i:04d}.roi", bytes(RoiEncoder.saveAsByteArray(r)))
    return path


def test_jvm_rois_and_roiset_zip_train_the_same_classifier(pfij, tmp_path, blobs2d):
    img = np.pad(blobs2d, ((0, 30), (0, 10)), mode="reflect")  # 126 x 130
    rois = _java_rois(pfij)
    zpath = _roiset_zip(pfij, rois, tmp_path / "RoiSet.zip")
    imp = pfij.to_imageplus(img, "yx", title="blobs")
    clf_jvm = pfij.train(imp, rois=rois, features="minimal", seed=7, trees=30)
    labels_py, names, _ = rois_to_labels(read_roi_file(zpath), img.shape)
    labels_jvm, names_jvm, _ = pfij.labels_for_imageplus(imp, rois)
    assert names == names_jvm == ["group 1", "group 2"]
    assert np.array_equal(labels_py, labels_jvm[0, 0])
    clf_py = pf.train(img, labels_py, features="minimal", seed=7, trees=30, classes=names)
    assert clf_jvm.training["samples_per_class"] == clf_py.training["samples_per_class"]
    assert np.array_equal(clf_jvm.predict(img), clf_py.predict(img))
    # and from the zip through the JVM entry point, read in pure Python
    clf_zip = pfij.train(imp, rois=str(zpath), features="minimal", seed=7, trees=30)
    assert np.array_equal(clf_zip.predict(img), clf_py.predict(img))


def test_roi_positions_on_stacks(pfij):
    Roi = pfij.jimport("ij.gui.Roi")
    vol = np.zeros((2, 3, 4, 30, 40), np.uint8)  # t z c y x
    imp = pfij.to_imageplus(vol, "tzcyx")
    r1 = Roi(1, 1, 5, 5)
    r1.setPosition(0, 2, 2)  # c any, z=2, t=2
    r1.setGroup(1)
    r2 = Roi(10, 10, 5, 5)
    r2.setPosition(4 * 3 + 4 * 1 + 2)  # plain stack index 18 -> c=2, z=2, t=2 (1-based)
    r2.setGroup(2)
    r3 = Roi(20, 20, 3, 3)
    r3.setGroup(2)  # no position: every plane
    lab, names, _ = pfij.labels_for_imageplus(imp, [r1, r2, r3])
    assert lab.shape == (2, 3, 30, 40)
    assert lab[1, 1, 1, 1] == 1 and lab[0, 1, 1, 1] == 0 and lab[1, 0, 1, 1] == 0
    assert lab[1, 1, 10, 10] == 2 and lab[:, :, 10, 10].sum() == 2
    assert (lab[:, :, 21, 21] == 2).all()


def test_a_line_imagej_cannot_turn_into_an_area_covers_no_pixel(pfij, tmp_path):
    """A line of no length: ImageJ's convertLineToArea gives null; it labels nothing, as the same line read from a
    RoiSet.zip in pure Python does (and as the Fiji plugin leaves it out), while the other ROIs still label."""
    Roi = pfij.jimport("ij.gui.Roi")
    PolygonRoi = pfij.jimport("ij.gui.PolygonRoi")
    from jpype import JArray, JFloat

    dot = PolygonRoi(JArray(JFloat)([5.0, 5.0]), JArray(JFloat)([7.0, 7.0]), Roi.POLYLINE)
    dot.setGroup(1)
    box = Roi(1, 1, 3, 3)
    box.setGroup(2)
    assert Roi.convertLineToArea(dot) is None
    assert not pfij.java_mask(dot, (20, 20)).any()
    imp = pfij.to_imageplus(np.zeros((20, 20), np.uint8), "yx")
    lab, names, _ = pfij.labels_for_imageplus(imp, [dot, box])
    assert names == ["group 1", "group 2"] and (lab == 1).sum() == 0 and (lab == 2).sum() == 9
    from_file, _, _ = rois_to_labels(read_roi_file(_roiset_zip(pfij, [dot, box], tmp_path / "RoiSet.zip")), (20, 20))
    assert np.array_equal(from_file, lab[0, 0])


def test_roi_class_rules():
    def roi(name="", group=0, color=None):
        return LabelRoi(name, "area", lambda s: np.ones(s, bool), group=group, color=color)

    lab, names, colors = rois_to_labels(
        [roi("x", group=2), roi("class:nuclei #1"), roi("Nuclei stroke"), roi(color=(0, 0, 255)), roi(group=1)],
        (4, 4), group_names={1: "cells"}, classes=None)
    assert names == ["cells", "group 2", "nuclei", "#0000ff"]
    assert (lab == 1).all()  # the last ROI (group 1, "cells") wins where ROIs overlap
    lab, names, _ = rois_to_labels([roi("Background 1"), roi("class:cells")], (4, 4), classes=["cells", "Background"])
    assert names == ["cells", "Background"] and lab[0, 0] == 1
    with pytest.raises(RoiError, match="has no class"):
        rois_to_labels([roi("plain")], (4, 4))
    with pytest.raises(RoiError, match="not among the given classes"):
        rois_to_labels([roi("class:a")], (4, 4), classes=["b"])


def test_overlay_and_manager_sources(pfij, blobs2d):
    Overlay = pfij.jimport("ij.gui.Overlay")
    imp = pfij.to_imageplus(np.pad(blobs2d, ((0, 30), (0, 10))), "yx")
    ov = Overlay()
    for r in _java_rois(pfij):
        ov.add(r)
    imp.setOverlay(ov)
    lab, names, _ = pfij.labels_for_imageplus(imp, "overlay")
    assert names == ["group 1", "group 2"] and (lab == 1).sum() > 100
    with pytest.raises(RoiError, match="ROI Manager is not open"):
        pfij.labels_for_imageplus(imp, "manager")


# -------------------------------------------------------------- results


def test_results_as_imageplus(pfij, blobs2d, blobs_labels):
    cal = pfij.Calibration(0.2, 0.2, 1.0, "µm", 0.0, "sec")
    imp = pfij.to_imageplus(blobs2d, "yx", calibration=cal, title="blobs.tif")
    clf = pf.train(blobs2d, blobs_labels, features="minimal", seed=0, trees=20, classes=["blob", "bg"],
                   colors=[(255, 0, 255), (0, 128, 255)])
    prob = pfij.predict_imageplus(clf, imp)
    assert prob.isComposite() and prob.getNChannels() == 2 and prob.getBitDepth() == 32
    assert pfij.slice_labels(prob) == ["blob", "bg"]
    assert pfij.get_calibration(prob) == cal
    assert np.array_equal(pfij.from_imageplus(prob)[0], np.moveaxis(clf.predict(blobs2d), -1, 0))
    from jpype import JInt

    lut = prob.getChannelLut(1)
    assert (lut.getRed(JInt(255)), lut.getGreen(JInt(255)), lut.getBlue(JInt(255))) == (255, 0, 255)
    seg = pfij.predict_imageplus(clf, imp, "simple-segmentation")
    assert seg.getBitDepth() == 8 \
        and np.array_equal(pfij.from_imageplus(seg)[0], clf.predict(blobs2d, "simple-segmentation"))
    cm = seg.getProcessor().getLut()
    assert (cm.getRed(JInt(2)), cm.getGreen(JInt(2)), cm.getBlue(JInt(2))) == (0, 128, 255)
    unc = pfij.predict_imageplus(clf, imp, "uncertainty")
    assert unc.getBitDepth() == 32 and np.allclose(pfij.from_imageplus(unc)[0], clf.predict(blobs2d, "uncertainty"))
    feats = pfij.predict_imageplus(clf, imp, "features")
    assert pfij.slice_labels(feats) == clf.feature_names


def test_objects_back_as_rois(pfij, blobs2d, blobs_labels):
    from scipy import ndimage

    clf = pf.train(blobs2d, blobs_labels, features="minimal", seed=0, trees=20)
    seg = clf.predict(blobs2d, "simple-segmentation")
    rois = pfij.objects_to_rois(clf, seg, classes=["Label 1"])
    lab, n = ndimage.label(seg == 1)
    assert len(rois) == n > 0
    painted = np.zeros(seg.shape, bool)
    for r in rois:
        assert str(r.getName()).startswith("class:Label 1 #") and r.getGroup() == 1
        painted |= pfij.java_mask(r, seg.shape)
    assert np.array_equal(painted, seg == 1)
    # the ROIs train again: group 1 -> class 1
    lab2, names, _ = pfij.labels_for_imageplus(pfij.to_imageplus(blobs2d, "yx"), rois)
    assert np.array_equal(lab2[0, 0] == 1, seg == 1)


# ------------------------------------------------------ README example


def _readme_example() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    m = re.search(r"<!-- example: imagej -->\s*```python\n(.*?)```", text, re.S)
    assert m, "README must contain the ImageJ example block"
    return m.group(1)


@pytest.mark.skipif(shutil.which("xvfb-run") is None,
                    reason="xvfb-run not installed (scripts/setup-system.sh installs it)")
def test_readme_imagej_example_runs(tmp_path):
    """Runs the README's pyimagej/scyjava example exactly, with a display (Xvfb) as in Fiji."""
    script = tmp_path / "example.py"
    script.write_text(_readme_example(), encoding="utf-8")
    env = dict(os.environ)
    r = subprocess.run(["xvfb-run", "-a", sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True,
                       timeout=300, env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "coins_probabilities.tif" in r.stdout and "['coin', 'background']" in r.stdout
    prob = tifffile.imread(tmp_path / "coins_probabilities.tif")
    assert prob.shape == (2, 303, 384)
    assert prob[0, 50, 155] > 0.9 and prob[1, 155, 20] > 0.9  # a coin, the background


def test_other_roi_types_and_brush_strokes(pfij, tmp_path):
    """ROI types the real files lack (traced, angle, rotated rectangle, ellipse, thick lines),
    made on the JVM, written by ImageJ's RoiEncoder, read back with roifile: same pixels."""
    from jpype import JArray, JInt

    Roi = pfij.jimport("ij.gui.Roi")
    PolygonRoi = pfij.jimport("ij.gui.PolygonRoi")
    RotatedRectRoi = pfij.jimport("ij.gui.RotatedRectRoi")
    EllipseRoi = pfij.jimport("ij.gui.EllipseRoi")
    Line = pfij.jimport("ij.gui.Line")
    RoiEncoder = pfij.jimport("ij.io.RoiEncoder")

    def ipoly(xs, ys, kind):
        return PolygonRoi(JArray(JInt)(xs), JArray(JInt)(ys), len(xs), kind)

    rois = {
        "traced": ipoly([10, 40, 40, 25, 10], [10, 10, 30, 45, 30], Roi.TRACED_ROI),
        "angle": ipoly([20, 60, 90], [80, 50, 85], Roi.ANGLE),
        "rotated rect": RotatedRectRoi(20.0, 100.0, 120.0, 140.0, 18.0),
        "ellipse": EllipseRoi(60.0, 20.0, 140.0, 60.0, 0.5),
    }
    for w in (3, 7):
        ln = Line(10.5, 150.25, 150.0, 120.0)
        ln.setStrokeWidth(w)
        rois[f"line w{w}"] = ln
        pl = ipoly([15, 60, 110, 160], [170, 190, 160, 185], Roi.POLYLINE)
        pl.setStrokeWidth(w)
        rois[f"polyline w{w}"] = pl
    H, W = 220, 200
    for name, roi in rois.items():
        f = tmp_path / "x.roi"
        f.write_bytes(bytes(RoiEncoder.saveAsByteArray(roi)))
        py = read_roi_file(f)[0].raster((H, W))
        ij = pfij.java_mask(roi, (H, W))
        agree = (py == ij).mean()
        iou = (py & ij).sum() / (py | ij).sum()
        assert py.any() and agree >= 0.999 and iou >= 0.95, (name, agree, iou, py.sum(), ij.sum())
        if name in ("traced", "rotated rect", "ellipse") or name.startswith("line"):
            assert np.array_equal(py, ij), name


FIJI_DIR = os.environ.get("PIXELFOREST_FIJI_DIR")


@pytest.mark.skipif(not FIJI_DIR, reason="PIXELFOREST_FIJI_DIR is not set: the pyimagej gateway path needs a local "
                                         "Fiji installation (ImageJ2/Fiji jars are not on Maven Central)")
def test_pyimagej_gateway_session(tmp_path):
    """With a pyimagej gateway already running, pixelforest.imagej uses its JVM."""
    pytest.importorskip("imagej", reason="pyimagej is not installed (pip install pyimagej)")
    script = tmp_path / "gateway.py"
    script.write_text(
        "import os, numpy as np, scyjava\n"
        "scyjava.config.endpoints.clear()  # offline: use the Fiji jars only\n"
        "scyjava.config.set_java_constraints(fetch='auto')\n"
        "import imagej\n"
        "ij = imagej.init(os.environ['PIXELFOREST_FIJI_DIR'], mode='headless')\n"
        "import pixelforest.imagej as pfij\n"
        "IJ = pfij.start()\n"
        "rng = np.random.default_rng(0)\n"
        "img = rng.normal(size=(64, 80)).astype(np.float32); img[20:40, 20:40] += 4\n"
        "imp = ij.py.to_imageplus(img)\n"
        "OvalRoi = pfij.jimport('ij.gui.OvalRoi'); Roi = pfij.jimport('ij.gui.Roi')\n"
        "a = OvalRoi(24, 24, 10, 10); a.setGroup(1); b = Roi(50, 5, 20, 10); b.setGroup(2)\n"
        "clf = pfij.train(imp, rois=[a, b], features='minimal', seed=0)\n"
        "prob = pfij.predict_imageplus(clf, imp)\n"
        "print('OK', IJ.getVersion(), prob.getNChannels())\n",
        encoding="utf-8")
    r = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0 and "OK" in r.stdout, r.stdout + r.stderr
    assert r.stdout.strip().endswith(" 2")


def test_line_rois_from_a_file_are_imagejs_pixels(pfij, tmp_path):
    """Segmented, freehand and straight lines, with integer and sub-pixel coordinates, strokes 1-8 px
    wide (2.5 too), partly outside the image: read from a RoiSet.zip in pure Python, each covers exactly the
    pixels ImageJ's own Roi.convertLineToArea gives (the Fiji plugin's labels)."""
    from jpype import JArray, JFloat, JInt

    Roi, PolygonRoi, Line = (pfij.jimport(f"ij.gui.{n}") for n in ("Roi", "PolygonRoi", "Line"))
    rng = np.random.default_rng(11)
    rois = []
    for kind in ("polyline", "freeline", "line"):
        for sub in (True, False):
            for w in (1, 2, 2.5, 3, 5, 8):  # 2.5: ImageJ keeps a fractional width in the file's float field
                for _ in range(3):
                    n = int(rng.integers(2, 8))
                    xs, ys = rng.uniform(-3, 43, n), rng.uniform(-3, 43, n)
                    xs, ys = (xs.round(2), ys.round(2)) if sub else (xs.round(), ys.round())
                    if kind == "line":
                        ends = [float(v) if sub else int(v) for v in (xs[0], ys[0], xs[1], ys[1])]
                        roi = Line(*ends)
                    elif sub:
                        roi = PolygonRoi(JArray(JFloat)(list(xs)), JArray(JFloat)(list(ys)),
                                         Roi.POLYLINE if kind == "polyline" else Roi.FREELINE)
                    else:
                        roi = PolygonRoi(JArray(JInt)([int(v) for v in xs]), JArray(JInt)([int(v) for v in ys]), n,
                                         Roi.POLYLINE if kind == "polyline" else Roi.FREELINE)
                    roi.setStrokeWidth(float(w))
                    rois.append(roi)
    read = read_roi_file(_roiset_zip(pfij, rois, tmp_path / "RoiSet.zip"))
    assert len(read) == len(rois) == 108
    differ = [i for i, (j, p) in enumerate(zip(rois, read, strict=True))
              if not np.array_equal(pfij.java_mask(j, (40, 40)), p.raster((40, 40)))]
    assert not differ, f"{len(differ)} of {len(rois)} lines differ from ImageJ's pixels: {differ}"


def test_text_image_and_plugin_rois_are_never_labels_on_the_jvm(pfij, tmp_path):
    """A TextRoi (a note on the image), an ImageRoi (the plugin's prediction overlay is one) and a ROI the
    plugin marked as its own label nothing, from the JVM or from a RoiSet.zip, as in the Fiji plugin
    (RoiIndex leaves them out), even with a group."""
    Roi, TextRoi, ImageRoi = (pfij.jimport(f"ij.gui.{n}") for n in ("Roi", "TextRoi", "ImageRoi"))
    ByteProcessor = pfij.jimport("ij.process.ByteProcessor")
    box, other, note = Roi(1, 1, 3, 3), Roi(10, 10, 2, 2), TextRoi(0, 0, "a note on the image")
    picture, mark = ImageRoi(0, 0, ByteProcessor(6, 6)), Roi(12, 0, 6, 6)
    mark.setProperty("pixelforest.mark", "suggestion")
    box.setGroup(1)
    other.setGroup(2)
    for r in (note, picture, mark):
        r.setGroup(1)
    rois = [box, other, note, picture, mark]
    imp = pfij.to_imageplus(np.zeros((20, 20), np.uint8), "yx")
    lab, names, _ = pfij.labels_for_imageplus(imp, rois)
    assert names == ["group 1", "group 2"] and (lab == 1).sum() == 9 and (lab == 2).sum() == 4
    read = read_roi_file(_roiset_zip(pfij, rois, tmp_path / "RoiSet.zip"))
    assert [r.kind for r in read] == ["area", "area", "text", "image", "mark"]
    from_file, _, _ = rois_to_labels(read, (20, 20))
    assert np.array_equal(from_file, lab[0, 0])


def test_a_spline_fitted_roi_file_is_refused_naming_it(pfij, tmp_path):
    """ImageJ draws a spline-fitted ROI along its spline; pure Python does not compute it, so reading one
    from a file is refused with its name (through ImageJ, the JVM's own mask is used)."""
    from jpype import JArray, JFloat

    Roi, PolygonRoi = pfij.jimport("ij.gui.Roi"), pfij.jimport("ij.gui.PolygonRoi")
    traced = PolygonRoi(JArray(JFloat)([2.0, 10.0, 18.0]), JArray(JFloat)([3.0, 12.0, 4.0]), Roi.POLYLINE)
    traced.fitSpline()
    traced.setName("class:edge")
    with pytest.raises(RoiError, match="ROI 'class:edge' is fitted with a spline"):
        read_roi_file(_roiset_zip(pfij, [traced], tmp_path / "RoiSet.zip"))
    assert pfij.java_mask(traced, (20, 20)).any()
