"""Live Training for real: ImageJ's GUI under Xvfb with a window manager, strokes drawn with
java.awt.Robot through ImageJ's own tools (tests/fiji/LiveGui.java), the Maven-built plugin, the
project's Python as the worker. What the overlay shows is compared with the engine's own prediction
from the same labels and seed, pixel for pixel.
"""

from __future__ import annotations

import numpy as np
import pytest
import roifile
import tifffile
from conftest import NEEDS_FIJI
from scipy import ndimage
from skimage import data, filters

import pixelforest as pf

pytestmark = NEEDS_FIJI


def _blobs(shape, seed):
    """Bright blobs on a noisy background (uint8) and where they are."""
    fg = data.binary_blobs(length=max(shape), blob_size_fraction=0.12, n_dim=len(shape), rng=seed)
    fg = fg[tuple(slice(0, s) for s in shape)]
    rng = np.random.default_rng(seed)
    img = filters.gaussian(fg.astype(float), 1.5) * 120 + 60 + rng.normal(0, 12, fg.shape)
    return np.clip(img, 0, 255).astype(np.uint8), fg


def _stroke_places(fg, n, length=24, seed=0):
    """``n`` horizontal strokes lying inside ``fg``, well away from its border, as "x0 y0 x1 y1"."""
    inside = ndimage.binary_erosion(fg, np.ones((7, length + 6), bool))
    ys, xs = np.nonzero(inside)
    rng = np.random.default_rng(seed)
    out = []
    for i in rng.choice(len(ys), size=n, replace=False):
        y, x = int(ys[i]), int(xs[i])
        out.append(f"{x - length // 2} {y} {x + length // 2} {y}")
    return out


@pytest.fixture(scope="module")
def blobs_image(tmp_path_factory):
    d = tmp_path_factory.mktemp("live")
    img, fg = _blobs((192, 224), seed=3)
    tifffile.imwrite(d / "blobs.tif", img, imagej=True)
    return d / "blobs.tif", img, fg


def _engine_segmentation(img, pfc):
    """The engine's segmentation from the labels a saved live classifier holds, trained anew (same seed)."""
    clf = pf.load(pfc)
    labels = clf.labels[0].dense()
    lab = labels[0, 0] if img.ndim == 2 else labels[0]
    fresh = pf.train(img, lab, features="pixelforest-default", trees=100, seed=0, classes=clf.classes)
    return fresh.predict(img, "simple-segmentation"), lab, clf


def test_strokes_train_and_the_overlay_follows(fiji, blobs_image, tmp_path):
    """Strokes of two classes drawn with the freehand line tool: the overlay appears, its segmentation
    is the engine's from the same labels and seed pixel for pixel, Train Classifier... on the same
    ROIs trains the same classifier; a renamed and recoloured class is followed by the ROIs, the
    overlay and the saved classifier."""
    path, img, fg = blobs_image
    bg = _stroke_places(~fg, 2, seed=1)
    fgs = _stroke_places(fg, 2, seed=2)
    script = f"""
open {path}
zoom 300
live
tool freeline
width 5
key 1
stroke {bg[0]}
shot one_class.png
key 2
stroke {fgs[0]}
wait
shot probabilities.png
key 1
stroke {bg[1]}
key 2
stroke {fgs[1]}
wait
mode segmentation
opacity 1
wait
seg seg.tif
overlaypng overlay.png
save live.pfc
train-command command.pfc
rename 1 blob
recolor 1 0 128 255
wait
overlaypng recoloured.png
save renamed.pfc
labels labels.zip
shot renamed.png
dialogs
aligned 300
zoom 150
aligned 150
zoom 75
aligned 75
zoom 33
aligned 33
"""
    rc, log, res = fiji["gui"](script, tmp_path)
    assert rc == 0 and res.get("done") == ["true"], log
    seg = tifffile.imread(tmp_path / "seg.tif")
    assert seg.shape == img.shape and seg.min() >= 1  # the whole (visible) image is predicted
    engine, lab, live = _engine_segmentation(img, tmp_path / "live.pfc")
    assert np.array_equal(seg, engine), f"{(seg != engine).sum()} pixels differ from the engine's prediction"
    assert set(np.unique(lab)) == {0, 1, 2} and (lab == 1).sum() > 100 and (lab == 2).sum() > 100
    assert live.predict(img, "simple-segmentation").tolist() == engine.tolist()
    # the Train Classifier... command from the same overlay ROIs: the same labels, the same classifier
    command = pf.load(tmp_path / "command.pfc")
    assert np.array_equal(command.labels[0].dense(), live.labels[0].dense())
    assert np.array_equal(command.predict(img), live.predict(img))
    # the overlay shows the class colours where the segmentation says so
    shown = np.asarray(__import__("PIL.Image", fromlist=["Image"]).open(tmp_path / "overlay.png").convert("RGB"))
    assert (shown[seg == 1] == [255, 0, 0]).all() and (shown[seg == 2] == [0, 255, 0]).all()
    png = __import__("PIL.Image", fromlist=["Image"]).open(tmp_path / "recoloured.png")
    recoloured = np.asarray(png.convert("RGB"))
    assert (recoloured[seg == 2] == [0, 128, 255]).all() and (recoloured[seg == 1] == [255, 0, 0]).all()
    renamed = pf.load(tmp_path / "renamed.pfc")
    assert renamed.class_names == ["Label 1", "blob"] and renamed.class_colors[1] == (0, 128, 255)
    # on screen, each prediction pixel covers its image pixel at every zoom (as ImageJ draws an image)
    # (Java2D's scaling loops for the two image types may round a sample lying exactly on a pixel
    # border either way: a few pixels in the first row or column; a shifted overlay differs along every edge)
    zooms = [int(r.split()[0]) for r in res["aligned"]]
    differ = [int(r.split(" differ ")[1].split(" of ")[0]) / int(r.split(" of ")[1]) for r in res["aligned"]]
    assert zooms == [300, 150, 75, 33] and max(differ) < 0.001, res["aligned"]
    rois = roifile.roiread(tmp_path / "labels.zip")
    blob_rois = [r for r in rois if r.group == 2]
    assert len(rois) == 4 and len(blob_rois) == 2
    assert all(r.name == "class:blob" and tuple(r.stroke_color[1:]) == (0, 128, 255) for r in blob_rois)
    assert res["dialogs"] == [""]  # no error dialog


def test_save_close_reopen_and_resume(fiji, blobs_image, tmp_path):
    """Save, close the image (the worker frees the session), reopen it, Open the classifier: the same
    labels come back as ROIs, and the overlay shows the same predictions."""
    path, img, fg = blobs_image
    bg, fgs = _stroke_places(~fg, 1, seed=4), _stroke_places(fg, 1, seed=5)
    x0, y, x1, _ = map(int, fgs[0].split())
    box = f"{x0} {y - 3} {x1} {y + 3}"  # a rectangle inside a blob
    script = f"""
open {path}
zoom 300
live
tool freeline
width 7
key 1
stroke {bg[0]}
tool rectangle
key 2
drag {box}
wait
mode segmentation
wait
seg before.tif
save saved.pfc
closeimage
sleep 1500
workerinfo
open {path}
zoom 300
live
resume saved.pfc
wait
mode segmentation
wait
seg after.tif
save again.pfc
workerinfo
"""
    rc, log, res = fiji["gui"](script, tmp_path)
    assert rc == 0 and res.get("done") == ["true"], log
    assert res["workerinfo"][0].startswith("sessions [] cached 0"), res["workerinfo"]
    assert res["workerinfo"][1].startswith("sessions [live"), res["workerinfo"]
    before, after = tifffile.imread(tmp_path / "before.tif"), tifffile.imread(tmp_path / "after.tif")
    assert before.min() >= 1 and np.array_equal(before, after)
    saved, again = pf.load(tmp_path / "saved.pfc"), pf.load(tmp_path / "again.pfc")
    assert np.array_equal(saved.labels[0].dense(), again.labels[0].dense())
    assert np.array_equal(saved.predict(img), again.predict(img))


def test_stack_slices(fiji, tmp_path):
    """A z-stack: strokes on two slices; changing slice shows that slice's prediction, equal to the
    engine's prediction of the stack from the same labels."""
    img, fg = _blobs((6, 96, 112), seed=7)
    path = tmp_path / "stack.tif"
    tifffile.imwrite(path, img, imagej=True, metadata={"axes": "ZYX"})
    bg1, fg1 = _stroke_places(~fg[1], 1, 16, seed=1), _stroke_places(fg[1], 1, 16, seed=2)
    bg3, fg3 = _stroke_places(~fg[3], 1, 16, seed=3), _stroke_places(fg[3], 1, 16, seed=4)
    script = f"""
open {path}
zoom 400
live
tool freeline
width 3
slice 2
key 1
stroke {bg1[0]}
key 2
stroke {fg1[0]}
wait
slice 4
key 1
stroke {bg3[0]}
key 2
stroke {fg3[0]}
wait
mode segmentation
wait
seg slice4.tif
slice 6
wait
seg slice6.tif
shot stack.png
save stack.pfc
"""
    rc, log, res = fiji["gui"](script, tmp_path)
    assert rc == 0 and res.get("done") == ["true"], log
    clf = pf.load(tmp_path / "stack.pfc")
    lab = clf.labels[0].dense()[0]
    assert {int(z) for z in np.nonzero(lab)[0]} == {1, 3}  # strokes keep their slice
    fresh = pf.train(img, lab, features="pixelforest-default", trees=100, seed=0)
    engine = fresh.predict(img, "simple-segmentation")
    assert np.array_equal(tifffile.imread(tmp_path / "slice4.tif"), engine[3])
    assert np.array_equal(tifffile.imread(tmp_path / "slice6.tif"), engine[5])


def test_overlay_labels_resume_by_pythons_rules(fiji, tmp_path):
    """An overlay left by an earlier session: ``Class : NAME`` names give the classes (as Train Classifier and
    Python read them); a label positioned past the last slice stays in the overlay, not a label, with one Log
    line naming it and no dialog."""
    img, _ = _blobs((3, 64, 80), seed=8)

    def rect(name, group, position, x):
        return roifile.ImagejRoi(roitype=roifile.ROI_TYPE.RECT, left=x, top=10, right=x + 8, bottom=18, name=name,
                                 group=group, position=position).tobytes()

    path = tmp_path / "resumed.tif"
    tifffile.imwrite(path, img, imagej=True, metadata={"axes": "ZYX", "Overlays": [
        rect("Class : Cell #1", 1, 1, 5), rect("class:Background", 2, 2, 30), rect("late", 2, 5, 55)]})
    script = f"""
open {path}
live
wait
info
log
dialogs
"""
    rc, log, res = fiji["gui"](script, tmp_path)
    assert rc == 0 and res.get("done") == ["true"], log
    assert res["info"][0].startswith("classes Cell,Background "), res["info"]
    assert ('Pixel Forest live training: resumed.tif: ROI "late" is on slice 5, beyond the image\'s 3 slices: '
            'left in the overlay, not a label.') in res["log"][0], res["log"]
    assert res["dialogs"] == [""], res["dialogs"]


def test_strokes_during_a_round_start_exactly_one_more(fiji, tmp_path):
    """Three strokes drawn while a round runs: exactly one more round follows, and the final overlay
    matches the final labels."""
    img, fg = _blobs((512, 672), seed=9)
    path = tmp_path / "big.tif"
    tifffile.imwrite(path, img, imagej=True)
    places = _stroke_places(~fg, 3, seed=1) + _stroke_places(fg, 3, seed=2)
    quick = " | ".join(p for p in places[1:3] + places[4:5])
    # the first round trains on two broad zigzag strokes across the image (about 70,000 labelled
    # pixels on both sides of many edges: deep trees), so that it runs long enough to draw in; the
    # labelled pixels, not the image's size, make a round long (features are computed beforehand)
    script = f"""
open {path}
zoom 100
live
tool freeline
width 25
key 1
stroke 10 10 660 255 10 500
key 2
stroke 660 10 10 255 660 500
width 5
strokes-during-round {quick}
wait
mode segmentation
wait
seg final.tif
save final.pfc
"""
    for attempt in range(3):  # the quick strokes must land while the round runs
        rc, log, res = fiji["gui"](script, tmp_path / f"try{attempt}")
        assert rc == 0 and res.get("done") == ["true"], log
        if res["during_round"][0].startswith("true"):
            break
    else:
        pytest.fail(f"the strokes never landed during a round: {res['during_round']}")
    out = tmp_path / f"try{attempt}"
    rounds = res["rounds"][-1].split()
    started_before = int(res["during_round"][0].split()[-1])
    assert int(rounds[2]) == started_before + 2, f"rounds: {res['rounds']}, during: {res['during_round']}"
    seg = tifffile.imread(out / "final.tif")
    clf = pf.load(out / "final.pfc")
    assert (clf.labels[0].dense() > 0).sum() > 40_000  # the broad strokes and the quick ones
    engine = clf.predict(img, "simple-segmentation")
    shown = seg > 0
    assert shown.mean() > 0.9 and np.array_equal(seg[shown], engine[shown])


def test_closing_the_image_mid_round(fiji, tmp_path):
    """Closing the image while a round runs: no error dialog or error in the Log, and the worker holds
    no session for it afterwards."""
    img, fg = _blobs((1024, 1344), seed=11)
    path = tmp_path / "big.tif"
    tifffile.imwrite(path, img, imagej=True)
    bg, fgs = _stroke_places(~fg, 1, seed=1), _stroke_places(fg, 1, seed=2)
    script = f"""
open {path}
zoom 50
live
tool freeline
key 1
stroke {bg[0]}
key 2
stroke {fgs[0]}
await-round-start
closeimage
sleep 3000
dialogs
log
workerinfo
"""
    rc, log, res = fiji["gui"](script, tmp_path)
    assert rc == 0 and res.get("done") == ["true"], log
    assert res["dialogs"] == [""], res["dialogs"]
    assert "error" not in res["log"][0].lower(), res["log"]
    assert res["workerinfo"][0].startswith("sessions [] cached 0"), res["workerinfo"]


def test_batch_mode_says_it_needs_windows(fiji):
    macro = ('setBatchMode(true);\nnewImage("x", "8-bit ramp", 64, 64, 1);\nrun("Live Training...");\n'
             'print("AFTER " + nImages);\n')
    rc, log = fiji["macro"](macro)
    assert "Live Training opens a panel for painting and needs ImageJ's windows" in log
    assert "AFTER 1" in log  # nothing else happened (no result, no error abort)


def test_two_images_one_classifier_and_labels_kept_in_the_overlay(fiji, blobs_image, tmp_path):
    """Add image: strokes on two images train one classifier (each image keeps its labels); the
    panel closed, the labels stay in the overlay, and a panel opened again takes them back."""
    path_a, img_a, fg_a = blobs_image
    img_b, fg_b = _blobs((160, 200), seed=21)
    path_b = tmp_path / "second.tif"
    tifffile.imwrite(path_b, img_b, imagej=True)
    a1, a2 = _stroke_places(~fg_a, 1, seed=1)[0], _stroke_places(fg_a, 1, seed=2)[0]
    b1, b2 = _stroke_places(~fg_b, 1, seed=3)[0], _stroke_places(fg_b, 1, seed=4)[0]
    script = f"""
open {path_a}
zoom 200
live
tool freeline
width 5
key 1
stroke {a1}
key 2
stroke {a2}
wait
open {path_b}
zoom 200
addimage
key 1
stroke {b1}
key 2
stroke {b2}
wait
mode segmentation
wait
seg both_b.tif
save both.pfc
closepanel
sleep 500
live
wait
mode segmentation
wait
seg again_b.tif
info
"""
    rc, log, res = fiji["gui"](script, tmp_path)
    assert rc == 0 and res.get("done") == ["true"], log
    clf = pf.load(tmp_path / "both.pfc")
    assert len(clf.labels) == 2 and clf.training["n_images"] == 2
    lab_a, lab_b = (li.dense()[0, 0] for li in clf.labels)
    assert lab_a.shape == img_a.shape and lab_b.shape == img_b.shape and lab_a.any() and lab_b.any()
    both = pf.train([img_a, img_b], [lab_a, lab_b], features="pixelforest-default", trees=100, seed=0)
    assert np.array_equal(tifffile.imread(tmp_path / "both_b.tif"), both.predict(img_b, "simple-segmentation"))
    # the panel opened again on the second image took its labels (and classes) back from the overlay
    alone = pf.train(img_b, lab_b, features="pixelforest-default", trees=100, seed=0)
    assert np.array_equal(tifffile.imread(tmp_path / "again_b.tif"), alone.predict(img_b, "simple-segmentation"))
    assert res["info"][-1].startswith("classes Label 1,Label 2")


def test_multichannel_time_series(fiji, tmp_path):
    """A two-channel time series: strokes on frame 2 keep their time point and label both channels;
    frame 3 shows its own prediction, equal to the engine's."""
    img, fg = _blobs((3, 120, 140), seed=31)
    two = np.stack([img, 255 - img // 2], axis=1)  # (T, C, Y, X)
    path = tmp_path / "series.tif"
    tifffile.imwrite(path, two[:, None], imagej=True, metadata={"axes": "TZCYX"})
    s1, s2 = _stroke_places(~fg[1], 1, 16, seed=1)[0], _stroke_places(fg[1], 1, 16, seed=2)[0]
    script = f"""
open {path}
zoom 300
live
tool freeline
width 3
frame 2
key 1
stroke {s1}
key 2
stroke {s2}
wait
mode segmentation
wait
seg frame2.tif
frame 3
wait
seg frame3.tif
save series.pfc
"""
    rc, log, res = fiji["gui"](script, tmp_path)
    assert rc == 0 and res.get("done") == ["true"], log
    clf = pf.load(tmp_path / "series.pfc")
    assert clf.n_channels == 2 and clf.ndim == 2
    lab = clf.labels[0].dense()[:, 0]  # (T, Y, X)
    assert {int(t) for t in np.nonzero(lab)[0]} == {1}
    engine = pf.train(two, lab, features="pixelforest-default", trees=100, seed=0, axes="tcyx")
    seg = engine.predict(two, "simple-segmentation", axes="tcyx")
    assert np.array_equal(tifffile.imread(tmp_path / "frame2.tif"), seg[1])
    assert np.array_equal(tifffile.imread(tmp_path / "frame3.tif"), seg[2])


def test_the_panel_holds_up_when_things_go_wrong(fiji, blobs_image, tmp_path):
    """Digits typed into the brush width set the width, not the class; the worker killed mid-session
    comes back on the next stroke with every label; a duplicate of the image (the same pixels) has
    labels of its own; a key pressed right after a stroke chooses the next stroke's class, not that
    one's; a round on one image refreshes the other's overlay; a closed image's labels stop training."""
    path, img, fg = blobs_image
    bg = _stroke_places(~fg, 4, seed=11)
    fgs = _stroke_places(fg, 3, seed=12)
    script = f"""
open {path}
zoom 200
live
tool freeline
width 5
key 1
stroke {bg[0]}
key 2
stroke {fgs[0]}
wait
type-width 7
killworker
key 1
stroke {bg[1]}
wait
info
save recovered.pfc
duplicate copy.tif
zoom 200
addimage
key 2
stroke-key 1 {fgs[1]}
stroke {bg[2]}
wait
mode segmentation
wait
seg copy_seg.tif
use blobs.tif
wait
seg original_seg.tif
save both.pfc
use copy.tif
closeimage
use blobs.tif
key 1
stroke {bg[3]}
wait
workerinfo
save after_close.pfc
"""
    rc, log, res = fiji["gui"](script, tmp_path)
    assert rc == 0 and res.get("done") == ["true"], log
    width, active = res["width"][0].split(" active ")
    assert width == "7" and active == "1", res["width"]  # the class chosen before (2) stayed chosen
    assert "killed" in res and "classes Label 1,Label 2 status Round" in res["info"][0], (res["info"], log)
    recovered = pf.load(tmp_path / "recovered.pfc")
    lab = recovered.labels[0].dense()[0, 0]
    assert set(np.unique(lab)) == {0, 1, 2}
    assert recovered.training["n_images"] == 1
    # the copy's labels are its own: a fg stroke as class 2 (the key after it chose class 1), a bg stroke as 1
    both = pf.load(tmp_path / "both.pfc")
    assert len(both.labels) == 2
    lab_a, lab_b = (li.dense()[0, 0] for li in both.labels)
    assert np.array_equal(lab_a, lab)  # the original's labels unchanged by strokes on the copy
    assert set(np.unique(lab_b)) == {0, 1, 2} and fg[lab_b == 2].all() and not fg[lab_b == 1].any()
    engine = pf.train([img, img], [lab_a, lab_b], features="pixelforest-default", trees=100, seed=0)
    seg = engine.predict(img, "simple-segmentation")
    assert np.array_equal(tifffile.imread(tmp_path / "copy_seg.tif"), seg)
    assert np.array_equal(tifffile.imread(tmp_path / "original_seg.tif"), seg)  # the other image followed
    # the copy closed: one image in the worker, and its labels no longer train
    assert " images [1] " in res["workerinfo"][0], res["workerinfo"]
    after = pf.load(tmp_path / "after_close.pfc")
    assert len(after.labels) == 1 and after.training["n_images"] == 1


def test_the_features_grid_offers_only_the_scales_the_image_holds(fiji, tmp_path):
    """On a 30 x 36 image the Features dialog, switched to ilastik-default, leaves the boxes of
    scale 10 unticked and disabled (ilastik's rule needs 36 pixels for it), saying why in their
    tooltip; the top-hat (half-width 10 fits in 30) and hole filling stay available."""
    img, _ = _blobs((30, 36), seed=5)
    tifffile.imwrite(tmp_path / "small.tif", img, imagej=True)
    script = f"""
open {tmp_path / 'small.tif'}
zoom 400
live
click-button Features...
await-dialog Pixel Forest: Features
feature-grid ilastik-default
shot features-small.png
close-dialogs
"""
    rc, log, res = fiji["gui"](script, tmp_path)
    assert rc == 0 and res.get("done") == ["true"], log
    boxes = [b.split(" | ") for b in res["box"]]
    off = {(row, col) for row, col, state, _ in boxes if state == "off"}
    tips = {tip for _, _, state, tip in boxes if tip}
    assert ("Gaussian Smoothing", "10") in off and ("Hessian of Gaussian Eigenvalues", "10") in off, boxes
    assert ("Gaussian Smoothing", "5") not in off and ("Gaussian Smoothing", "3.5") not in off
    assert all(col != "10" for row, col in off if row in ("Hole Filling", "Dark Hole Filling")), off
    assert tips == {"too large for the images (the smallest is 30 pixels across): at most 8.28"}, tips
    assert (tmp_path / "features-small.png").stat().st_size > 10_000
