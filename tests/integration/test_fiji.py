"""The Fiji plugin for real: Maven-built jar, ImageJ 1.x with it installed, the project's Python as the
Appose worker, every menu command run by its label; scripting examples; a GUI smoke test.

ImageJ 1.54p cannot build its menus with ``java.awt.headless=true``, so ImageJ runs under Xvfb
(scripts/setup-system.sh installs it). Each run gets its own ``user.home`` so ImageJ's preferences
of the person running the tests are never touched.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
import tifffile
from conftest import JAVA_OPTIONS, NEEDS_FIJI, ROOT, RUNTIME, imagej_classpath

import pixelforest as pf

pytestmark = NEEDS_FIJI


@pytest.fixture
def scribbles(shared_data):
    return shared_data("sparse-scribbles")


ROIS_FROM_SCRIBBLES = """
open("{labels}");
lab = getTitle();
roiManager("reset");
Roi.setGroupNames("background,blob");
for (k = 1; k <= 2; k++) {{ selectImage(lab); setThreshold(k, k); run("Create Selection"); Roi.setGroup(k); roiManager("add"); }}
close(lab);
"""  # noqa: E501 - ImageJ macro text: a statement a line, as users write it


def test_every_command_by_menu_label(fiji, scribbles, tmp_path, ilastik_tests):
    out = tmp_path
    batch_in = tmp_path / "batch_in"
    batch_in.mkdir()
    blobs = tifffile.imread(scribbles / "blobs.tif")
    tifffile.imwrite(batch_in / "a.tif", blobs)
    tifffile.imwrite(batch_in / "b.tif", blobs[::-1].copy())
    macro = "setBatchMode(true);\n" \
        + f'run("Pixel Forest Options...", "python=[{sys.executable}] threads=0 memory=1024");\n' \
        + ROIS_FROM_SCRIBBLES.format(labels=scribbles / "annotations.tif") + f"""
open("{scribbles / 'blobs.tif'}");
img = getTitle();
run("Train Classifier...", "labels=[ROI Manager] features=ilastik-default classes=[] trees=100 seed=3 save=[{out}/m.pfc]");
outputs = newArray("Probabilities", "Simple Segmentation", "Uncertainty", "Features");
for (i = 0; i < outputs.length; i++) {{
  selectImage(img);
  run("Apply Classifier...", "classifier=[{out}/m.pfc] output=[" + outputs[i] + "] apply=[Current image]");
  getDimensions(w, h, c, z, t);
  print("APPLY " + getTitle() + " bits=" + bitDepth() + " c=" + c + " label1=" + getInfo("slice.label"));
  saveAs("Tiff", "{out}/" + outputs[i] + ".tif");
}}
selectImage(img);
run("Suggest Features...", "labels=[ROI Manager] candidates=ilastik-default number=5 save=[{out}/suggested.json]");
selectImage(img);
run("Export HDF5", "exportpath=[{out}/blobs.h5] datasetname=data compressionlevel=0 input=[" + img + "]");
run("Import HDF5", "select=[{ilastik_tests / 'inputdata' / '2d_Probabilities.h5'}] datasetname=[] axisorder=[]");
getDimensions(w, h, c, z, t);
print("IMPORT " + getTitle() + " " + w + "x" + h + " c=" + c + " bits=" + bitDepth());
run("Batch...", "classifier=[{out}/m.pfc] input=[{batch_in}] output=[{out}/batch_out] type=Probabilities format=hdf5");
print("DONE");
"""  # noqa: E501 - ImageJ macro text: a statement a line, as users write it
    rc, log = fiji["macro"](macro)
    assert "DONE" in log, log
    assert "pixelforest 0.1.0 in" in log  # Options started the worker and reported its Python
    assert "APPLY blobs_Probabilities bits=32 c=2 label1=background" in log
    assert "APPLY blobs_Simple_Segmentation bits=8 c=1" in log
    assert "APPLY blobs_Uncertainty bits=32 c=1" in log
    assert "APPLY blobs_Features bits=32 c=49 label1=Gaussian Smoothing (σ=0.3) in 2D" in log
    # the probabilities equal the Python engine's own result for the same image and classifier
    clf = pf.load(out / "m.pfc")
    assert clf.classes == ["background", "blob"]
    ours = np.moveaxis(clf.predict(blobs), -1, 0)
    plugin = tifffile.imread(out / "Probabilities.tif")
    assert np.abs(plugin - ours).max() <= 1e-6
    assert np.array_equal(tifffile.imread(out / "Simple Segmentation.tif"), clf.predict(blobs, "simple-segmentation"))
    # Suggest Features wrote a feature file that trains
    spec = pf.features.resolve_spec(str(out / "suggested.json"))
    assert len(spec.cells()) == 5
    # Export HDF5 wrote ilastik4ij's layout
    with h5py.File(out / "blobs.h5", "r") as f:
        d = f["data"]
        assert d.shape == (1, 1, 254, 256, 1) and d.dtype == np.uint8 and d.chunks == (1, 1, 128, 128, 1)
        assert d.compression is None
        assert json.loads(d.attrs["axistags"])["axes"][0] == {"key": "t", "typeFlags": 8}
        assert np.array_equal(d[0, 0, :, :, 0], blobs)
    ref = ilastik_tests / 'inputdata' / '2d_Probabilities.h5'
    # ilastik4ij's title: the file's path and the dataset
    assert f"IMPORT {ref}/exported_data 1344x1024 c=2 bits=32" in log
    # Batch wrote both results
    for name in ("a", "b"):
        with h5py.File(out / "batch_out" / f"{name}_Probabilities.h5", "r") as f:
            assert f["exported_data"].shape == (254, 256, 2)


def test_errors_are_readable_and_the_worker_restarts(fiji, scribbles, tmp_path):
    macro = "setBatchMode(true);\n" + ROIS_FROM_SCRIBBLES.format(labels=scribbles / "annotations.tif") + f"""
open("{scribbles / 'blobs.tif'}");
run("Train Classifier...", "labels=[ROI Manager] features=minimal classes=[] trees=20 seed=1 save=[{tmp_path}/m.pfc]");
pid = call("org.pixelforest.fiji.PythonService.workerPid");
print("PID1 " + pid);
exec("kill", "-9", pid);
wait(500);
run("Apply Classifier...", "classifier=[{tmp_path}/m.pfc] output=Probabilities apply=[Current image]");
print("AFTER KILL " + getTitle());
print("PID2 " + call("org.pixelforest.fiji.PythonService.workerPid"));
run("Apply Classifier...", "classifier=[{tmp_path}/missing.pfc] output=Probabilities apply=[Current image]");
print("NOT REACHED");
"""
    rc, log = fiji["macro"](macro)
    assert "AFTER KILL blobs_Probabilities" in log, log
    pids = [line.split()[1] for line in log.splitlines() if line.startswith(("PID1", "PID2"))]
    assert len(pids) == 2 and pids[0] != pids[1]  # a new worker after the kill
    assert f"Pixel Forest error: classifier file {tmp_path}/missing.pfc does not exist" in log
    assert "NOT REACHED" not in log  # the macro is aborted, not left to go on without a result
    # a Python without pixelforest: a clear message, not a stack dump
    bare = shutil.which("python3") or "/usr/bin/python3"
    rc, log = fiji["macro"]('setBatchMode(true);\n'
                            f'run("Pixel Forest Options...", "python=[{bare}] threads=0 memory=512");\n',
                            python=bare, props=["-Dpixelforest.autosetup=false"])  # else it sets one up (test below)
    assert "pixelforest 0.1.0 is not installed in the Python environment" in log, log
    rc, log = fiji["macro"]('setBatchMode(true);\n'
                            'run("Pixel Forest Options...", "python=[/nonexistent/python] threads=0 memory=512");\n')
    assert "The Python executable /nonexistent/python does not exist" in log


def _python_that_logs(path: Path, calls: Path, pythonpath: Path | None = None) -> str:
    """An executable that runs this Python (with ``pythonpath`` first on its path), writing to
    ``calls`` whether it was started for the plugin's look at it ("probe") or as its worker."""
    env = f"PYTHONPATH={pythonpath} " if pythonpath else ""
    path.write_text(f'#!/bin/sh\ncase "$2" in\n  "import sys"*) echo probe >> "{calls}" ;;\n'
                    f'  *python_worker*) echo worker >> "{calls}" ;;\nesac\nexec env {env}"{sys.executable}" "$@"\n')
    path.chmod(0o755)
    return str(path)


def test_the_python_is_looked_at_once_not_at_every_start_of_the_worker(fiji, tmp_path):
    """Whether the Python in use has this version's pixelforest is asked once in an ImageJ run: a
    worker started again (after a crash here) starts at once. A Python with another version of
    pixelforest is said so, and gets the message that says what to do (without a set-up)."""
    calls = tmp_path / "calls.txt"
    python = _python_that_logs(tmp_path / "python", calls)
    rc, log = fiji["macro"]("""setBatchMode(true);
pid = call("org.pixelforest.fiji.PythonService.workerPid");
exec("kill", "-9", pid);
wait(300);
print("PIDS " + pid + " " + call("org.pixelforest.fiji.PythonService.workerPid"));
""", python=python)
    pids = next(line.split()[1:] for line in log.splitlines() if line.startswith("PIDS "))
    assert len(pids) == 2 and pids[0] != pids[1] and all(p.isdigit() for p in pids), log
    assert calls.read_text().split() == ["probe", "worker", "worker"], log
    # another version of pixelforest (its version a string in its _version.py, read without importing it)
    other = tmp_path / "other" / "pixelforest"
    other.mkdir(parents=True)
    (other / "__init__.py").write_text("from ._version import __version__\n")
    (other / "_version.py").write_text('__version__ = "0.0.9"\n')
    python = _python_that_logs(tmp_path / "python-other", calls, pythonpath=other.parent)
    options = f'run("Pixel Forest Options...", "python=[{python}] threads=0 memory=512");'
    rc, log = fiji["macro"](f"setBatchMode(true);\n{options}\n", python=python, props=["-Dpixelforest.autosetup=false"])
    assert f"Pixel Forest: {python} has pixelforest 0.0.9; this plugin is 0.1.0." in log, log
    assert f"pixelforest 0.1.0 is not installed in the Python environment {python}" in log, log


def test_a_failing_command_stops_its_macro_there(fiji, tmp_path):
    """A command that fails in a macro stops it at once: no later statement runs (in its loop neither),
    and the error is said once, in our words (no "Macro Error" of ImageJ's own): under ImageJ -batch,
    and in ImageJ's window with the macro on a thread of its own (as Plugins > Macros > Run... runs it)."""
    missing = tmp_path / "missing.pfc"
    macro = tmp_path / "fail.ijm"
    macro.write_text(f"""setBatchMode(true);
newImage("x", "8-bit ramp", 32, 32, 1);
for (i = 0; i < 3; i++) {{
  print("BEFORE " + i);
  run("Apply Classifier...", "classifier=[{missing}] output=Probabilities apply=[Current image]");
  print("AFTER " + i);
}}
print("NOT REACHED");
""", encoding="utf-8")
    error = f"Pixel Forest error: classifier file {missing} does not exist"
    rc, log = fiji["run"](["ij.ImageJ", "-batch", str(macro)])
    assert "BEFORE 0" in log and log.count(error) == 1, log
    assert "AFTER" not in log and "BEFORE 1" not in log and "NOT REACHED" not in log, log
    assert "Macro Error" not in log and "Macro canceled" not in log and "Exception" not in log, log
    rc, out = fiji["run"]([str(ROOT / "tests" / "fiji" / "RunMacro.java"), str(macro)])
    assert rc == 0 and "MACRO ENDED" in out, out
    output, log = out.split("--- Log window ---\n")
    assert output.count(error) == 1 and log.count(error) == 1, out  # stderr once, the Log window once
    assert "BEFORE 0" in log and "AFTER" not in log and "BEFORE 1" not in log and "NOT REACHED" not in log, out
    assert "Macro Error" not in out and "Macro canceled" not in out and "Exception" not in out, out


@pytest.mark.parametrize("kind", ["ijm", "groovy", "jython"])
def test_scripting_examples(fiji, scribbles, tmp_path, kind):
    script = ROOT / "scripts" / "fiji" / {"ijm": "pixelforest_example.ijm", "groovy": "pixelforest_example.groovy",
                                         "jython": "pixelforest_example.py"}[kind]
    args = [str(scribbles / "blobs.tif"), str(scribbles / "annotations.tif"), str(tmp_path)]
    if kind == "ijm":
        rc, log = fiji["run"](["ij.ImageJ", "-batch", str(script), ";".join(args)])
    elif kind == "groovy":
        rc, log = fiji["run"](["groovy.ui.GroovyMain", str(script), *args], cp=[RUNTIME / "groovy-4.0.28.jar"])
    else:
        rc, log = fiji["run"](["org.python.util.jython", str(script), *args],
                              cp=[RUNTIME / "jython-standalone-2.7.4.jar"])
    lines = [line for line in log.splitlines() if line.startswith("objects: ")]
    assert lines, log
    n = int(lines[-1].split()[1])
    suffix = {"ijm": "ijm", "groovy": "groovy", "jython": "jython"}[kind]
    table = (tmp_path / f"objects_{suffix}.csv").read_text().splitlines()
    assert len(table) == n + 1 and 40 <= n <= 90  # blobs.tif has ~60 blobs; watershed splits touching ones
    # the probabilities it used are the engine's for the classifier it trained
    clf = pf.load(tmp_path / f"blobs_{suffix}.pfc")
    prob = tifffile.imread(tmp_path / f"probabilities_{suffix}.tif")
    assert np.abs(prob - np.moveaxis(clf.predict(tifffile.imread(scribbles / "blobs.tif")), -1, 0)).max() <= 1e-6


def test_gui_smoke(fiji, scribbles, tmp_path):
    """ImageJ's real window under Xvfb: Plugins > Pixel Forest in the menu bar, Apply Classifier... from it."""
    blobs = tifffile.imread(scribbles / "blobs.tif")
    lab = tifffile.imread(scribbles / "annotations.tif")
    model = tmp_path / "m.pfc"
    pf.save(pf.train(blobs, lab, features="minimal", seed=0, trees=20, classes=["background", "blob"]), model)
    shot = tmp_path / "screen.png"
    rc, log = fiji["run"]([str(ROOT / "tests" / "fiji" / "GuiSmoke.java"), str(scribbles / "blobs.tif"), str(model),
                           str(shot)], cp=[fiji["jar"]], timeout=300)
    assert rc == 0, log
    assert "MENU Plugins>Pixel Forest: Live Training...|Train Classifier...|Apply Classifier...|Suggest Features...|" \
           "Run Pixel Classification Prediction|Export HDF5|Import HDF5|Batch...|Pixel Forest Options...|" in log
    assert "DIALOG Pixel Forest: Apply Classifier" in log
    assert "RESULT blobs_Probabilities channels=2 visible=true" in log
    from skimage import io

    img = io.imread(shot)
    assert img.ndim == 3 and img.shape[0] > 200 and img.shape[1] > 200
    assert img[..., :3].std() > 10  # not blank: windows were drawn


def _become_subreaper() -> bool:
    """Make this process adopt orphaned descendants (Linux), so a test can reap and see them end
    whatever the machine's init does with orphans."""
    import ctypes

    try:
        return ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0) == 0  # PR_SET_CHILD_SUBREAPER
    except (OSError, AttributeError):
        return False


def _gone(pid: int, within: float) -> bool:
    """True when process ``pid`` has ended within ``within`` seconds (reaped here if it was adopted)."""
    import time

    t0 = time.time()
    while time.time() - t0 < within:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError):
            return True
        if fields[0] == "Z":  # ended; its parent has yet to collect it
            if int(fields[1]) == os.getpid():
                os.waitpid(pid, 0)
            return True
        time.sleep(0.2)
    return False


def test_two_commands_at_once_and_no_worker_left(fiji, scribbles, tmp_path):
    """Two threads run Apply Classifier... together: both results are right (the service runs one
    request at a time, the other waits); when ImageJ quits, its Python worker ends too."""
    blobs = tifffile.imread(scribbles / "blobs.tif")
    lab = tifffile.imread(scribbles / "annotations.tif")
    model = tmp_path / "m.pfc"
    clf = pf.train(blobs, lab, features="minimal", seed=0, trees=20)
    pf.save(clf, model)
    rc, log = fiji["run"](["groovy.ui.GroovyMain", str(ROOT / "tests" / "fiji" / "TwoCommands.groovy"),
                           str(scribbles / "blobs.tif"), str(model)], cp=[RUNTIME / "groovy-4.0.28.jar"])
    assert "ERROR" not in log and "MISSING" not in log, log
    assert f"RESULT first_Probabilities {blobs.shape[1]}x{blobs.shape[0]}x2" in log, log
    assert f"RESULT second_Uncertainty {blobs.shape[1]}x{blobs.shape[0]}x1" in log, log
    prob = tifffile.imread(tmp_path / "first_Probabilities.tif")
    unc = tifffile.imread(tmp_path / "second_Uncertainty.tif")
    assert np.abs(prob - np.moveaxis(clf.predict(blobs), -1, 0)).max() <= 1e-6
    assert np.abs(unc - clf.predict(blobs, "uncertainty")).max() <= 1e-6
    pid = int(next(line.split()[1] for line in log.splitlines() if line.startswith("WORKER ")))
    assert _gone(pid, 10), f"the Python worker {pid} outlived ImageJ"


def test_worker_ends_when_imagej_is_killed_mid_task(fiji, scribbles, tmp_path):
    """ImageJ killed (kill -9) while the worker computes: the worker notices and exits, no orphan left."""
    import signal
    import time

    blobs = tifffile.imread(scribbles / "blobs.tif")
    lab = tifffile.imread(scribbles / "annotations.tif")
    model = tmp_path / "m.pfc"
    pf.save(pf.train(blobs, lab, features="ilastik-default", seed=0, trees=100), model)
    m = fiji["base"] / "killed.ijm"
    m.write_text(f"""setBatchMode(true);
print("PID " + call("org.pixelforest.fiji.PythonService.workerPid"));
newImage("big", "32-bit ramp", 4000, 4000, 1);
run("Apply Classifier...", "classifier=[{model}] output=Probabilities apply=[Current image]");
print("FINISHED");
""", encoding="utf-8")
    home = tmp_path / "home"
    home.mkdir()
    if not _become_subreaper():
        pytest.skip("needs Linux's PR_SET_CHILD_SUBREAPER to see the orphaned worker end")
    cmd = ["xvfb-run", "-a", "-n", os.environ.get("PIXELFOREST_XVFB_FROM", "99"), "java", *JAVA_OPTIONS,
           f"-Dplugins.dir={fiji['base']}", f"-Duser.home={home}", f"-Dpixelforest.python={sys.executable}",
           "-cp", os.pathsep.join(imagej_classpath()), "ij.ImageJ", "-batch", str(m)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=fiji["base"])
    try:
        pid = None
        for line in proc.stdout:
            if line.startswith("PID "):
                pid = int(line.split()[1])
                break
        assert pid, "the macro printed no worker pid"
        java = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])  # the worker's parent
        time.sleep(3)  # the image is sent and the prediction under way
        busy = Path(f"/proc/{pid}/stat").exists()
        os.kill(java, signal.SIGKILL)
        assert busy and _gone(pid, 10), f"the Python worker {pid} outlived the killed ImageJ"
    finally:
        proc.kill()
        proc.wait(30)


def test_auto_context_from_a_macro(fiji, scribbles, tmp_path):
    """Train Classifier... with stages=2 saves a two-stage classifier; Apply Classifier... applies both stages.
    With features=auto it saves the preset chosen on the ROIs and says which in the Log."""
    from pixelforest.autotune import CANDIDATES, describe

    macro = "setBatchMode(true);\n" + ROIS_FROM_SCRIBBLES.format(labels=scribbles / "annotations.tif") + f"""
open("{scribbles / 'blobs.tif'}");
run("Train Classifier...", "labels=[ROI Manager] features=minimal classes=[] trees=20 seed=2 stages=2 save=[{tmp_path}/ac.pfc]");
run("Apply Classifier...", "classifier=[{tmp_path}/ac.pfc] output=Probabilities apply=[Current image]");
saveAs("Tiff", "{tmp_path}/ac_prob.tif");
print("DONE " + getTitle());
selectImage("blobs.tif");
run("Train Classifier...", "labels=[ROI Manager] features=auto classes=[] trees=20 seed=2 stages=1 save=[{tmp_path}/auto.pfc]");
"""  # noqa: E501 - ImageJ macro text: a statement a line, as users write it
    rc, log = fiji["macro"](macro)
    assert "DONE ac_prob.tif" in log, log
    # features=auto: the worker compared the presets on the scribbles and the Log says which it kept
    auto = pf.load(tmp_path / "auto.pfc")
    report = auto.training["auto"]
    assert "Pixel Forest: " + describe(report) in log, log
    assert report["chosen"] in CANDIDATES and auto.spec == pf.FeatureSpec.preset(report["chosen"])
    clf = pf.load(tmp_path / "ac.pfc")
    assert clf.stages == 2 and clf.class_names == ["background", "blob"]
    prob = tifffile.imread(tmp_path / "ac_prob.tif")
    blobs = tifffile.imread(scribbles / "blobs.tif")
    assert np.abs(prob - np.moveaxis(clf.predict(blobs), -1, 0)).max() <= 1e-6



def test_ilastik4ij_macros_run_unchanged(fiji, ilastik_tests, tmp_path):
    """Macros written as ilastik4ij's four examples are (export, import, TIFF -> HDF5 conversion,
    pixel classification with an ilastik project), with their command names and option keys: they
    run, and the prediction from ilastik's own project is ilastik's own result."""
    from pixelforest.io.hdf5 import read_hdf5

    raw = read_hdf5(ilastik_tests / "inputdata" / "2d.h5", "data")[0]
    tifs, h5s, out = tmp_path / "tifs", tmp_path / "h5", tmp_path / "out"
    for d in (tifs, h5s, out):
        d.mkdir()
    tifffile.imwrite(tifs / "cells.tif", np.squeeze(raw), imagej=True)
    tifffile.imwrite(tifs / "cells_flipped.tif", np.squeeze(raw)[::-1].copy(), imagej=True)
    from pixelforest.io.hdf5 import write_ilastik4ij

    write_ilastik4ij(np.squeeze(raw)[None, None, :, :, None], h5s / "2d.h5")  # ilastik4ij's own 5D layout
    project = ilastik_tests / "PixelClassification2d.ilp"
    macro = f"""setBatchMode(true);
// export.ijm's pattern: an image file straight to HDF5
input = "{tifs / 'cells.tif'}";
exportPath = "{out / 'exported.h5'}";
datasetName = "/data";
compressionLevel = 0;
run("Export HDF5", "input=[" + input + "] datasetname=[" + datasetName + "] compressionlevel=[" + compressionLevel + "] exportpath=[" + exportPath + "]");
// convert_tiff_to_ilastik_h5.ijm's pattern: every TIFF of a folder
list = getFileList("{tifs}");
for (i = 0; i < list.length; i++) {{
  open("{tifs}" + File.separator + list[i]);
  outputFilePath = "{out}" + File.separator + replace(list[i], ".tif", ".h5");
  run("Export HDF5", "select=[{out}.h5] exportpath=[" + outputFilePath + "] datasetname=data compressionlevel=0 input=[" + list[i] + "]");
  close();
}}
// import.ijm's pattern
fileList = getFileList("{out}/");
for (i = 0; i < fileList.length; i++) {{
  run("Import HDF5", "select=[" + "{out}/" + fileList[i] + "] datasetname=[/data] axisorder=[tzyxc]");
  print("IMPORTED " + getTitle() + " " + getWidth() + "x" + getHeight());
}}
// pixel_classification.ijm's pattern (keys without brackets, saveonly, Export with select=)
fileList = getFileList("{h5s}/");
for (i = 0; i < fileList.length; i++) {{
  fileName = "{h5s}/" + fileList[i];
  run("Import HDF5", "select=" + fileName + " datasetname=data axisorder=tzyxc");
  inputImage = fileName + "/data";
  run("Run Pixel Classification Prediction", "projectfilename={project} saveonly=false inputimage=" + inputImage + " pixelclassificationtype=Probabilities");
  print("PREDICTED " + getTitle() + " bits=" + bitDepth() + " channels=" + nSlices);
  run("Export HDF5", "select={out}/output" + i + ".h5 datasetname=exported_data compressionlevel=0");
}}
print("DONE");
"""  # noqa: E501 - ImageJ macro text: a statement a line, as users write it
    rc, log = fiji["macro"](macro)
    assert "DONE" in log, log
    assert "Unrecognized command" not in log
    for name in ("exported.h5", "cells.h5", "cells_flipped.h5"):
        with h5py.File(out / name, "r") as f:
            key = "data"
            assert f[key].shape == (1, 1, 1024, 1344, 1) and f[key].dtype == np.uint8, name
    with h5py.File(out / "cells_flipped.h5", "r") as f:
        assert np.array_equal(f["data"][0, 0, :, :, 0], np.squeeze(raw)[::-1])
    assert f"IMPORTED {out}/cells.h5/data 1344x1024" in log
    assert f"PREDICTED {h5s}/2d_Probabilities bits=32 channels=2" in log, log  # the input's title, extension off
    with h5py.File(out / "output0.h5", "r") as f:
        ours = f["exported_data"][0, 0]  # (Y, X, classes)
    with h5py.File(ilastik_tests / "inputdata" / "2d_Probabilities.h5", "r") as f:
        theirs = np.squeeze(f[list(f.keys())[0]][()])
    assert ours.shape == theirs.shape
    assert (np.argmax(ours, -1) == np.argmax(theirs, -1)).mean() >= 0.9999
    assert np.abs(ours - theirs).mean() <= 1e-4


@pytest.fixture
def readonly_dir(tmp_path):
    """A folder nothing can be written into, with an image in it: permissions for a normal user, a
    read-only tmpfs for root (who ignores permissions); skipped where neither can be made."""
    d = tmp_path / "readonly"
    d.mkdir()
    tifffile.imwrite(d / "img.tif", (np.arange(64 * 64) % 251).reshape(64, 64).astype(np.uint8))
    if os.geteuid() != 0:
        d.chmod(0o555)
        yield d
        d.chmod(0o755)
        return
    staging = tmp_path / "staging"
    staging.mkdir()
    shutil.copy(d / "img.tif", staging / "img.tif")
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(d)], capture_output=True).returncode != 0:
        pytest.skip("needs a read-only folder: running as root and tmpfs cannot be mounted here")
    shutil.copy(staging / "img.tif", d / "img.tif")
    subprocess.run(["mount", "-o", "remount,ro", str(d)], check=True)
    yield d
    subprocess.run(["umount", str(d)], capture_output=True)


def test_commands_refuse_unwritable_places_and_missing_paths_before_any_work(fiji, scribbles, readonly_dir, tmp_path):
    """No command makes up an output path from another command's state; a default place that cannot
    be written is reported before any work, with the path; a misfit gets an error in Fiji's words."""
    blobs = tifffile.imread(scribbles / "blobs.tif")
    lab = tifffile.imread(scribbles / "annotations.tif")
    model = tmp_path / "m.pfc"
    pf.save(pf.train(blobs, lab, features="minimal", trees=10, seed=0), model)
    rois = ROIS_FROM_SCRIBBLES.format(labels=scribbles / "annotations.tif")
    cases = {
        "export": (f'open("{scribbles / "blobs.tif"}");\nrun("Export HDF5", "datasetname=data compressionlevel=0");',
                   "Pixel Forest error: Export HDF5 needs exportpath=[/path/to/file.h5]"),
        "train": (rois + f'open("{readonly_dir / "img.tif"}");\nrun("Train Classifier...", "labels=[ROI Manager] '
                  f'features=minimal classes=[] trees=10 seed=0 stages=1 save=[{readonly_dir / "img.pfc"}]");',
                  f"Pixel Forest error: Cannot save to {readonly_dir / 'img.pfc'}: its folder is read-only"),
        "batch": (f'run("Batch...", "classifier=[{model}] input=[{readonly_dir}] output=[] type=Probabilities '
                  f'format=tiff");',
                  f"Pixel Forest error: cannot write results to {readonly_dir} (read-only or no permission)"),
        "apply": ('newImage("rgb", "RGB ramp", 64, 64, 1);\n'
                  f'run("Apply Classifier...", "classifier=[{model}] output=Probabilities apply=[Current image]");',
                  "Pixel Forest error: rgb has 3 channel(s) (an RGB image has 3) but the classifier was trained on "
                  "images of 1"),
    }
    for name, (body, expected) in cases.items():
        rc, log = fiji["macro"]("setBatchMode(true);\n" + body + '\nprint("NOT REACHED");\n')
        assert expected in log, (name, log)
        assert "NOT REACHED" not in log and "axes=" not in log and log.count("Pixel Forest error") == 1, (name, log)
    assert list(readonly_dir.iterdir()) == [readonly_dir / "img.tif"]  # nothing written, no temp file left
    assert "Pixel Forest: trained" not in log


def test_labels_results_and_summaries(fiji, scribbles, tmp_path):
    """Labels from Overlay take only ROIs with a class and say what they left out (a text label here);
    All open images leaves out our own results; Batch and Suggest summaries go to Results tables with
    one Log line; a failed file in a macro-started Batch is reported once; Features from a file."""
    batch_in = tmp_path / "in"
    batch_in.mkdir()
    tifffile.imwrite(batch_in / "a.tif", tifffile.imread(scribbles / "blobs.tif"))
    (batch_in / "broken.tif").write_bytes(b"not a TIFF at all")
    features = tmp_path / "f.json"
    features.write_text(json.dumps({"features": {"GaussianSmoothing": [1.0, 3.5]}}))
    macro = "setBatchMode(true);\n" + ROIS_FROM_SCRIBBLES.format(labels=scribbles / "annotations.tif") + f"""
open("{scribbles / 'blobs.tif'}");
img = getTitle();
run("From ROI Manager");
setFont("SansSerif", 18);
makeText("blobs!", 10, 10);
run("Add Selection...");
run("Train Classifier...", "labels=Overlay features=[from file...] feature=[{features}] classes=[] trees=10 seed=0 stages=1 save=[{tmp_path / 'o.pfc'}]");
run("Apply Classifier...", "classifier=[{tmp_path / 'o.pfc'}] output=Probabilities apply=[Current image]");
run("Apply Classifier...", "classifier=[{tmp_path / 'o.pfc'}] output=Probabilities apply=[All open images]");
titles = "";
for (i = 1; i <= nImages; i++) {{ selectImage(i); titles = titles + getTitle() + "|"; }}
print("TITLES " + titles);
selectImage(img);
run("Suggest Features...", "labels=Overlay candidates=minimal number=3 save=[]");
print("SUGGESTED " + Table.size("Pixel Forest Suggested Features"));
run("Batch...", "classifier=[{tmp_path / 'o.pfc'}] input=[{batch_in}] output=[{tmp_path / 'out'}] type=Probabilities format=tiff");
print("NOT REACHED");
"""  # noqa: E501 - ImageJ macro text: a statement a line, as users write it
    rc, log = fiji["macro"](macro)
    assert "Pixel Forest: labels from the Overlay of \"blobs.tif\": 2 ROIs; left out 1 text." in log, log
    clf = pf.load(tmp_path / "o.pfc")
    assert clf.classes == ["background", "blob"] and clf.n_features == 2
    assert "TITLES blobs.tif|blobs_Probabilities|blobs_Probabilities|" in log  # not blobs_Probabilities_Probabilities
    assert "SUGGESTED 3" in log
    assert "Pixel Forest batch: 1 done, 0 skipped (already there), 1 failed; see the table " \
           "\"Pixel Forest Batch\"." in log
    assert log.count("Pixel Forest error") == 1 and "1 of 2 file(s) failed" in log and "NOT REACHED" not in log
    assert "{" not in log.split("SUGGESTED")[1]  # no raw JSON in the Log
    assert (tmp_path / "out" / "a_Probabilities.tiff").exists()


def test_train_classifier_reads_roi_classes_and_positions_as_python_does(fiji, tmp_path):
    """Train Classifier takes ROI classes by Python's rules (io/rois.py: ``Class : X`` in any case, names that
    start with a class name), leaves out with a Log line what has no class or covers no pixel, and refuses a
    ROI positioned past the image's slices with an error naming it, before any work."""
    rois = [("Class : cell #1", 5, 5, 10, 10), ("Cell 2", 30, 5, 5, 4), ("class:background", 5, 40, 8, 8),
            ("BACKGROUND stroke", 40, 40, 3, 10), ("notes", 50, 5, 5, 5), ("class:cell #far", 200, 200, 5, 5)]
    add = "".join(f'makeRectangle({x}, {y}, {w}, {h});\nRoi.setName("{name}");\nroiManager("add");\n'
                  for name, x, y, w, h in rois)
    macro = f"""setBatchMode(true);
newImage("ramp", "8-bit ramp", 64, 64, 1);
roiManager("reset");
{add}run("Select None");
run("Train Classifier...", "labels=[ROI Manager] features=minimal classes=[] trees=10 seed=0 save=[{tmp_path}/c.pfc]");
"""
    rc, log = fiji["macro"](macro)
    assert "Pixel Forest: labels from the ROI Manager: 5 ROIs; left out 1 without a class" in log, log
    assert 'Pixel Forest: left out 1 ROI that covers no pixel of "ramp" (outside it, or a line of no length): ' \
           'ROI "class:cell #far".' in log, log
    assert 'classes cell,background, labelled pixels {"cell": 120, "background": 94}' in log, log
    assert pf.load(tmp_path / "c.pfc").classes == ["cell", "background"]
    macro = f"""setBatchMode(true);
newImage("stack", "8-bit ramp", 64, 64, 3);
makeRectangle(5, 5, 10, 10);
Roi.setName("class:a");
Overlay.addSelection;
Overlay.setPosition(1);
makeRectangle(30, 30, 10, 10);
Roi.setName("class:b far");
Overlay.addSelection;
Overlay.setPosition(5);
run("Select None");
run("Train Classifier...", "labels=Overlay features=minimal classes=[] trees=10 seed=0 save=[{tmp_path}/d.pfc]");
print("NOT REACHED");
"""
    rc, log = fiji["macro"](macro)
    assert 'Pixel Forest error: ROI "class:b far" is on slice 5, beyond the image\'s 3 slices: set its position ' \
           '(Edit > Selection > Properties...) or delete it.' in log, log
    assert "NOT REACHED" not in log and log.count("Pixel Forest error") == 1, log
    assert not (tmp_path / "d.pfc").exists()


def test_apply_offers_only_a_classifier_that_fits_and_every_dialog_has_help(fiji, scribbles, tmp_path):
    blobs = tifffile.imread(scribbles / "blobs.tif")
    model = tmp_path / "gray.pfc"
    pf.save(pf.train(blobs, tifffile.imread(scribbles / "annotations.tif"), features="minimal", trees=5, seed=0), model)
    rgb = tmp_path / "rgb.tif"
    tifffile.imwrite(rgb, np.stack([blobs] * 3, -1), photometric="rgb")
    out = {}
    for name, image in (("gray", scribbles / "blobs.tif"), ("rgb", rgb)):
        rc, log = fiji["run"]([str(ROOT / "tests" / "fiji" / "ApplyDefault.java"), str(image), str(model)],
                              cp=[fiji["jar"]])
        assert rc == 0, log
        out[name] = log
    assert f"FIELD [{model}]" in out["gray"] and "BUTTON Help" in out["gray"]
    assert "FIELD []" in out["rgb"]
    assert "The last classifier, gray.pfc, was trained on images of 1 channel(s), and this one has 3; " \
           "choose another." in out["rgb"]


def test_the_jar_holds_only_the_plugins_own_classes(fiji):
    """Every class in the plugin jar lies under org/pixelforest/ (Appose relocated there): no second
    copy of a library Fiji ships (Groovy, JNA, commons-*) to clash with Fiji's own."""
    import zipfile

    with zipfile.ZipFile(fiji["jar"]) as z:
        classes = [n for n in z.namelist() if n.endswith(".class")]
        resources = [n for n in z.namelist() if not n.endswith("/") and not n.endswith(".class")]
    outside = sorted({n.rsplit("/", 1)[0] for n in classes if not n.startswith("org/pixelforest/")})
    assert classes and not outside, f"packages outside the plugin's namespace: {outside[:20]}"
    assert "plugins.config" in resources
    services = [n for n in resources if n.startswith("META-INF/services/")]
    assert services and all(n.startswith("META-INF/services/org.pixelforest.") for n in services), services


def test_update_site(fiji, tmp_path):
    """scripts/build-update-site.sh's folder, read back: db.xml.gz in imagej-updater's format lists
    the jar with its size, timestamp and jar checksum (computed here independently), the jar is
    stored under its timestamped name, and a changed jar gets a new version with the old one listed."""
    import gzip
    import hashlib
    import re
    import xml.etree.ElementTree as ET
    import zipfile

    site = tmp_path / "site"
    script = ROOT / "scripts" / "update_site.py"
    r = subprocess.run([sys.executable, str(script), "--jar", str(fiji["jar"]), "--out", str(site)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    raw = gzip.decompress((site / "db.xml.gz").read_bytes())
    assert raw.startswith(b'<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE pluginRecords [')
    plugin = ET.fromstring(raw.split(b"]>\n", 1)[1]).find("plugin")
    name = f"plugins/{fiji['jar'].name}"
    version = plugin.find("version")
    assert plugin.get("filename") == name and int(version.get("filesize")) == fiji["jar"].stat().st_size
    assert re.fullmatch(r"20\d{12}", version.get("timestamp"))
    stored = site / f"{name}-{version.get('timestamp')}"
    assert stored.read_bytes() == fiji["jar"].read_bytes()

    def digest(jar):  # imagej-updater's jar digest, written out plainly
        sha = hashlib.sha1()
        with zipfile.ZipFile(jar) as z:
            for n in sorted(z.namelist()):
                sha.update(n.encode())
                data = z.read(n)
                if n.endswith(".properties"):
                    data = b"".join(b"\n" if line.startswith(b"#") else line for line in data.splitlines(keepends=True))
                if n != "META-INF/MANIFEST.MF":
                    sha.update(data)
        return sha.hexdigest()

    assert version.get("checksum") == digest(fiji["jar"])
    # a new build of the same classes keeps the checksum (the properties' dates do not count)
    again = tmp_path / fiji["jar"].name
    redated = 0
    with zipfile.ZipFile(fiji["jar"]) as src, zipfile.ZipFile(again, "w") as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename.endswith("pom.properties"):  # another build date in its comment
                data, n = re.subn(rb"(?m)^#.*20\d\d$", b"#Thu Jan 01 00:00:00 UTC 2037", data)
                redated += n
            dst.writestr(info, data)
    assert redated >= 1 and again.read_bytes() != fiji["jar"].read_bytes()
    assert digest(again) == version.get("checksum")
    with zipfile.ZipFile(again, "a") as z:
        z.writestr("org/pixelforest/fiji/NEW.txt", "a change")
    r = subprocess.run([sys.executable, str(script), "--jar", str(again), "--out", str(site)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    plugin = ET.fromstring(gzip.decompress((site / "db.xml.gz").read_bytes()).split(b"]>\n", 1)[1]).find("plugin")
    assert plugin.find("version").get("checksum") == digest(again) != version.get("checksum")
    assert plugin.find("previous-version").get("checksum") == version.get("checksum")


@pytest.mark.slow
def test_the_plugin_sets_up_its_own_python(fiji, scribbles, tmp_path):
    """A fresh home with no Python configured: a macro run under xvfb-run ImageJ -batch with the
    freshly built jar makes its own environment from the wheel in the jar (its packages from the
    package index), then trains and applies a classifier; the next run uses that environment."""
    bare = shutil.which("python3")
    if bare is None or subprocess.run([bare, "-c", "import pixelforest"], capture_output=True).returncode == 0:
        pytest.skip("needs a python3 on PATH without pixelforest installed")
    if subprocess.run([bare, "-m", "venv", "--help"], capture_output=True).returncode != 0:
        pytest.skip(f"{bare} has no venv module")
    home = tmp_path / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PIXELFOREST_PYTHON", "VIRTUAL_ENV")}
    env["XDG_DATA_HOME"] = str(tmp_path / "data")
    env["PATH"] = os.pathsep.join(p for p in env["PATH"].split(os.pathsep) if ".venv" not in p)
    macro = fiji["base"] / "setup.ijm"
    macro.write_text("setBatchMode(true);\n" + ROIS_FROM_SCRIBBLES.format(labels=scribbles / "annotations.tif") + f"""
open("{scribbles / 'blobs.tif'}");
run("Train Classifier...", "labels=[ROI Manager] features=minimal classes=[] trees=20 seed=1 stages=1 save=[{tmp_path}/m.pfc]");
run("Apply Classifier...", "classifier=[{tmp_path}/m.pfc] output=Probabilities apply=[Current image]");
saveAs("Tiff", "{tmp_path}/p.tif");
print("DONE " + call("org.pixelforest.fiji.PythonService.workerPid"));
""", encoding="utf-8")  # noqa: E501 - ImageJ macro text: a statement a line, as users write it
    rc, log = fiji["run"](["ij.ImageJ", "-batch", str(macro)], python=None, env=env, home=home, timeout=1200)
    envdir = tmp_path / "data" / "pixelforest" / "python-0.1.0"
    assert "DONE" in log and f"Pixel Forest: setting up Python 0.1.0 in {envdir}" in log, log
    assert f"Pixel Forest: Python 0.1.0 is ready ({envdir}/bin/python)" in log
    blobs = tifffile.imread(scribbles / "blobs.tif")
    clf = pf.load(tmp_path / "m.pfc")
    assert np.abs(tifffile.imread(tmp_path / "p.tif") - np.moveaxis(clf.predict(blobs), -1, 0)).max() <= 1e-6
    rc, log = fiji["run"](["ij.ImageJ", "-batch", str(macro)], python=None, env=env, home=home, timeout=600)
    assert "DONE" in log and "setting up Python" not in log, log
