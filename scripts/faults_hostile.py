"""Fault scenarios 6-12 of ``scripts/faults.py``: full disks, output = input, ``--jobs``
interrupted, hostile classifier files, inputs and ROIs, a replaced classifier (issue 16).

Each scenario returns ``{"name", "ok", "lost", "clear", "errors", "crashes", "hangs", "detail"}``:
``lost`` counts inputs damaged or complete outputs missing, ``clear``/``errors`` the bad
inputs answered with a one-line error naming them, ``crashes`` processes ended by a signal
they did not ask for (SIGSEGV, SIGABRT, ...), ``hangs`` runs past their time limit.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import h5py
import numpy as np
import tifffile

import pixelforest as pf

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from _hostile_files import external_data_files  # noqa: E402  (the tests' hostile HDF5 files)
from _procfs import alive, children, ctrl_c_reaches_it, start_long_prediction  # noqa: E402  (the tests' process helpers)

PF = [sys.executable, "-m", "pixelforest.cli"]
NATIVE = {-signal.SIGSEGV, -signal.SIGABRT, -signal.SIGBUS, -signal.SIGILL, -signal.SIGFPE, 134, 139, 135, 132, 136}


def _run(args, timeout=120, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(PF + [str(a) for a in args], capture_output=True, text=True, timeout=timeout, **kw)


def _one_line_error(r, *names) -> bool:
    """A failure answered with one line per bad input, naming it, and no traceback."""
    err = r.stderr
    return (r.returncode not in (0,) and r.returncode not in NATIVE and "Traceback" not in err
            and all(str(n) in err for n in names) and "error: \n" not in err + "\n" and err.strip() != "")


def _model(d: Path, size=48):
    rng = np.random.default_rng(0)
    img = rng.normal(size=(size, size)).astype(np.float32)
    img[size // 4:3 * size // 4, size // 4:3 * size // 4] += 3
    lab = np.zeros(img.shape, np.uint8)
    lab[size // 2 - 4:size // 2 + 4, size // 2 - 4:size // 2 + 4] = 1
    lab[1:5, 1:5] = 2
    clf = pf.train(img, lab, features="minimal", trees=4, seed=0)
    pf.save(clf, d / "m.pfc")
    return d / "m.pfc", clf, img


def _h5(path, data):
    with h5py.File(path, "w") as f:
        f["data"] = data
    return path


def _temps(folder: Path) -> list[str]:
    return [p.name for p in folder.rglob(".*tmp-*")] if folder.exists() else []


def _result(name, ok, detail, lost=0, clear=0, errors=0, crashes=0, hangs=0) -> dict:
    return {"name": name, "ok": bool(ok) and lost == 0 and crashes == 0 and hangs == 0, "lost": lost, "clear": clear,
            "errors": errors, "crashes": crashes, "hangs": hangs, "detail": detail}


# ---------------------------------------------------------------- 6. full disk


class _SmallDisk:
    """A 20 MB tmpfs (root, Linux), else a folder with a 2 MB file size limit for the commands."""

    def __init__(self, d: Path):
        self.dir = d / "disk"
        self.dir.mkdir()
        self.mounted = False
        if hasattr(os, "geteuid") and os.geteuid() == 0 and shutil.which("mount") and \
                not os.environ.get("PIXELFOREST_FAULTS_NO_MOUNT"):
            r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=20m", "tmpfs", str(self.dir)], capture_output=True)
            self.mounted = r.returncode == 0
        if self.mounted:  # almost full: 18.5 MB taken
            with open(self.dir / "filler", "wb") as f:
                f.write(b"\0" * int(18.5 * 2**20))
        self.how = "a 20 MB tmpfs, 18.5 MB taken" if self.mounted else "a 1 MB file size limit (RLIMIT_FSIZE)"

    def preexec(self):
        if self.mounted:
            return None

        def limit():
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
            resource.setrlimit(resource.RLIMIT_FSIZE, (2**20, 2**20))
        return limit

    def close(self):
        if self.mounted:
            subprocess.run(["umount", str(self.dir)], capture_output=True)


def scenario_disk_full(d: Path) -> dict:
    model, clf, img = _model(d)
    ins = [_h5(d / f"in{i}.h5", np.tile(img, (16, 16))) for i in range(2)]  # 768 x 768: 4.7 MB results
    disk = _SmallDisk(d)
    out = disk.dir / "out"
    runs = {
        "predict": ["predict", model, *ins, "-o", str(out) + "/", "-q"],
        "batch": ["batch", model, *ins, "-o", out, "-q", "--block-shape", "256,256"],
        "batch zarr": ["batch", model, *ins, "-o", out, "-q", "--output-format", "zarr", "--export-source",
                       "features"],
        "convert": ["convert", *ins, "-o", out, "-q"],
        "predict tiff": ["predict", model, ins[0], "-o", out / "x.tif", "--output-format", "tiff", "-q"],
    }
    if not disk.mounted:  # a file size limit does not fill a disk: a Zarr store's many small files pass
        del runs["batch zarr"]
    crashes = clear = errors = 0
    notes = []
    try:
        for name, args in runs.items():
            r = _run(args, preexec_fn=disk.preexec())
            crashes += r.returncode in NATIVE or r.returncode < 0
            names = ins[:1] if name == "predict tiff" else ins[1:] if name == "batch zarr" else ins
            errors += 1
            said = any(w in r.stderr for w in ("No space left", "File too large", "cannot write"))
            ok = _one_line_error(r, *names) and said and not _temps(out)
            if name.startswith("batch"):  # the batch goes on and summarises
                ok = ok and "failed of 2 file(s)" in r.stdout
            clear += ok
            notes.append(f"{name}: exit {r.returncode}{'' if ok else ' UNCLEAR: ' + r.stderr[-300:]}")
            shutil.rmtree(out, ignore_errors=True)
    finally:
        disk.close()
    return _result("full disk while writing", clear == errors, f"{disk.how}; " + "; ".join(notes), clear=clear,
                   errors=errors, crashes=crashes)


# ---------------------------------------------------------------- 7. output = input


def scenario_output_is_input(d: Path) -> dict:
    model, clf, img = _model(d)
    raw = d / "raw.h5"
    with h5py.File(raw, "w") as f:
        f["data"] = img
        f["notes"] = np.arange(5)
    tif = d / "im.tif"
    tifffile.imwrite(tif, img)
    (d / "a").mkdir()
    (d / "b").mkdir()
    tifffile.imwrite(d / "a" / "x.tif", img)
    tifffile.imwrite(d / "b" / "x.tif", img)
    inputs = [raw, tif, d / "a" / "x.tif", d / "b" / "x.tif"]
    before = {p: p.read_bytes() for p in inputs}
    runs = [
        (["predict", model, f"{raw}/data", "-o", raw], "refusing to replace"),
        (["predict", model, tif, "-o", tif, "--output-format", "tiff"], "refusing to replace"),
        (["batch", model, tif, "--output-filename-format", "{dataset_dir}/{nickname}", "--output-format", "tif",
          "--overwrite", "-q"], "refusing to replace"),
        (["convert", tif, "-o", tif, "--overwrite", "-q"], "refusing to replace"),
        (["batch", model, d / "a" / "x.tif", d / "b" / "x.tif", "-o", d / "out", "-q"], "would both be written"),
    ]
    clear = crashes = 0
    for args, words in runs:
        r = _run(args)
        crashes += r.returncode in NATIVE
        clear += r.returncode != 0 and words in r.stderr and "Traceback" not in r.stderr
    lost = sum(p.read_bytes() != b for p, b in before.items())
    return _result("output resolving to an input", clear == len(runs),
                   f"{clear}/{len(runs)} refused before any work; inputs changed: {lost}", lost=lost, clear=clear,
                   errors=len(runs), crashes=crashes)


# ---------------------------------------------------------------- 8. --jobs interrupted


def _stopped(proc, timeout: float, workers=()) -> tuple[float, bool]:
    """After a signal: seconds until ``proc`` and its ``workers`` ended (the workers waited for 10 s
    at most), and whether ``proc`` outlived ``timeout`` (then it is killed)."""
    t0 = time.time()
    hung = False
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        hung = True
    while time.time() - t0 < 10 and any(alive(w) for w in workers):
        time.sleep(0.02)
    return time.time() - t0, hung


def scenario_jobs_interrupted(d: Path) -> dict:
    if not sys.platform.startswith("linux"):
        return _result("batch --jobs interrupted", True, "skipped: reads /proc (Linux)")
    model, clf, img = _model(d)
    files = [_h5(d / f"i{i}.h5", np.tile(img, (12, 12))) for i in range(6)]
    want = clf.predict(np.tile(img, (12, 12)))
    notes, lost, hangs, crashes = [], 0, 0, 0
    for sig in (signal.SIGINT, signal.SIGKILL):
        out = d / f"out{int(sig)}"
        proc = subprocess.Popen(PF + ["batch", str(model), *map(str, files), "-o", str(out), "--jobs", "2", "-q",
                                      "--block-shape", "64,64"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                start_new_session=True, preexec_fn=ctrl_c_reaches_it)
        deadline = time.time() + 60
        while time.time() < deadline and len(children(proc.pid)) < 2:
            time.sleep(0.1)
        while time.time() < deadline and not (out.exists() and list(out.glob(".*tmp-*"))):
            time.sleep(0.05)  # a worker is writing
        workers = children(proc.pid)
        if sig == signal.SIGINT:
            os.killpg(proc.pid, signal.SIGINT)
        else:
            proc.kill()
        took, hung = _stopped(proc, 10, workers)
        hangs += hung + (took > 2.0)
        crashes += proc.returncode in NATIVE
        time.sleep(0.2)
        temps = _temps(out) if sig == signal.SIGINT else []
        done = 0
        for o in sorted(out.glob("*.h5")) if out.exists() else []:
            with h5py.File(o, "r") as f:
                ok = np.array_equal(f["exported_data"][()], want)
            done += ok
            lost += not ok
        lost += len(temps)
        notes.append(f"{'Ctrl-C' if sig == signal.SIGINT else 'SIGKILL'}: exit {proc.returncode}, {len(workers)} "
                     f"workers gone after {took:.2f} s, {done} complete outputs, temp files {temps}")
    return _result("batch --jobs 2 interrupted", True, "; ".join(notes), lost=lost, hangs=hangs, crashes=crashes)


# ---------------------------------------------------------------- 9. hostile classifiers


def _npy(a) -> bytes:
    b = io.BytesIO()
    np.lib.format.write_array(b, np.ascontiguousarray(a), allow_pickle=False)
    return b.getvalue()


def _hostile_classifiers(d: Path, model: Path) -> list[Path]:
    with zipfile.ZipFile(model) as z:
        base = {i.filename: z.read(i) for i in z.infolist()}
    man = json.loads(base["manifest.json"])
    arrays = {k[7:-4]: np.load(io.BytesIO(v)) for k, v in base.items() if k.startswith("arrays/")}
    out = []

    def write(name, edit=None, text=None, arr=None, declare=None):
        m = json.loads(json.dumps(man))
        members = dict(base)
        if edit:
            edit(m)
        for k, a in (arr or {}).items():
            blob = _npy(a)
            members[f"arrays/{k}.npy"] = blob
            m["arrays"][k] = {"dtype": str(a.dtype), "shape": list(a.shape), "sha256": hashlib.sha256(blob).hexdigest()}
        for k, meta in (declare or {}).items():
            m["arrays"][k] = meta
        p = d / f"{name}.pfc"
        members.pop("manifest.json")
        with zipfile.ZipFile(p, "w", compression=zipfile.ZIP_DEFLATED) as z:
            for k, v in members.items():
                z.writestr(k, v)
            z.writestr("manifest.json", text if text is not None else json.dumps(m))
        out.append(p)

    inner = np.nonzero(arrays["forest_left"] != -1)[0]
    leaf = np.nonzero(arrays["forest_left"] == -1)[0]
    write("channels", lambda m: m.__setitem__("n_channels", 100_000_000))
    write("colour", lambda m: m["classes"][0].__setitem__("color", [float("inf"), 0, 0]))
    write("nested", text=json.dumps(man)[:-1] + ', "x": ' + "[" * 200_000 + "]" * 200_000 + "}")
    write("training", lambda m: m.__setitem__("training", [1, 2]))
    write("unused", declare={"extra": {"dtype": "float32", "shape": [2**30], "sha256": "0" * 64}})
    write("trees", lambda m: m["forest"].__setitem__("n_trees", 10**7))
    write("feature0d", arr={"forest_feature": np.array(1, np.int32)})
    write("feature2d", arr={"forest_feature": np.zeros((3, 3), np.int32)})
    thr = arrays["forest_threshold"].copy()
    thr[inner[0]] = np.nan
    write("nan", arr={"forest_threshold": thr})
    val = arrays["forest_value"].copy()
    val[leaf[0]] = 1e30
    write("leaf", arr={"forest_value": val})
    left = arrays["forest_left"].astype(np.int64)
    left[inner[0]] += 2**32
    write("wrap", arr={"forest_left": left})
    return out


CHECK_LOADS = r"""
import json, sys, time
from pixelforest.io.pfc import load_classifier
for p in sys.argv[1:]:
    t0 = time.time()
    try:
        load_classifier(p)
        r = {"file": p, "error": None}
    except Exception as e:
        r = {"file": p, "type": type(e).__name__, "error": str(e)}
    r["seconds"] = time.time() - t0
    print(json.dumps(r), flush=True)
"""


def scenario_hostile_classifiers(d: Path) -> dict:
    model, clf, img = _model(d)
    files = _hostile_classifiers(d, model)
    r = subprocess.run([sys.executable, "-c", CHECK_LOADS, *map(str, files)], capture_output=True, text=True,
                       timeout=120)
    rows = [json.loads(line) for line in r.stdout.splitlines() if line.startswith("{")]
    clear = sum(1 for x in rows if x["error"] and x["type"] == "ClassifierFileError" and x["file"] in x["error"]
                and "\n" not in x["error"] and x["seconds"] < 5)
    cli = _run(["info", files[0]])  # and the command line's form of it
    clear_cli = _one_line_error(cli, files[0]) and cli.stderr.count("\n") == 1
    bad = [Path(x["file"]).stem + ": " + str(x.get("error"))[:80] for x in rows
           if not (x["error"] and x["type"] == "ClassifierFileError")]
    return _result("hostile classifier files", clear == len(files) and clear_cli,
                   f"{clear}/{len(files)} refused with a one-line error in < 5 s each (slowest "
                   f"{max([x['seconds'] for x in rows] or [0]):.2f} s); `info`: {cli.stderr.strip()[:120]!r}"
                   + (f"; not refused: {bad}" if bad else ""),
                   clear=clear + clear_cli, errors=len(files) + 1, crashes=int(r.returncode in NATIVE))


# ---------------------------------------------------------------- 10. hostile inputs


def scenario_hostile_inputs(d: Path) -> dict:
    model, clf, img = _model(d)
    good = [d / "g1.tif", d / "g2.tif"]
    for g in good:
        tifffile.imwrite(g, img)
    bad = []
    np.save(d / "complex.npy", img.astype(np.complex64))
    bad.append(d / "complex.npy")
    np.save(d / "huge.npy", np.full(img.shape, 1e300))
    bad.append(d / "huge.npy")
    bomb = d / "bomb.h5"
    with h5py.File(bomb, "w") as f:
        f.create_dataset("data", shape=(60000, 60000), dtype=np.float32, chunks=(1024, 1024), compression="gzip")
    bad.append(bomb)
    link, vds, ext = external_data_files(d, img)
    bad += [link, vds, ext]
    out = d / "out"
    r = _run(["batch", model, *good, *bad, "-o", out, "-q"])
    named = sum(1 for b in bad if f"{b}:" in r.stderr)
    done = sum((out / f"{g.stem}_Probabilities.h5").exists() for g in good)
    conv = _run(["convert", link, "-o", d / "conv" / "l.tif", "--to-tiff", "-q"])  # would copy secret.h5
    conv_ok = conv.returncode == 1 and "outside the file" in conv.stderr and not (d / "conv" / "l.tif").exists()
    # .ilp projects: bad known_labels, a 60000 x 60000 label block, a label block without blockSlice
    import warnings

    from pixelforest.io.ilp import write_ilp

    ilps = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tifffile.imwrite(d / "train.tif", img)
        for name in ("known", "block", "noslice"):
            ilps.append(write_ilp(clf, d / f"{name}.ilp", raw_data=[str(d / "train.tif")]))
    with h5py.File(ilps[0], "a") as f:  # a stored forest (one vigra leaf) whose known_labels are garbage
        g = f.require_group("PixelClassification/ClassifierForests")
        t = g.create_group("Forest0000/Tree_0000")
        t["topology"] = np.array([clf.n_features, 2, 0x40000000, 0], np.int32)
        t["parameters"] = np.array([0.0, 0.5, 0.5])
        g["known_labels"] = np.array([-100, 5])
    for p, huge in ((ilps[1], True), (ilps[2], False)):
        with h5py.File(p, "a") as f:
            names = []
            f["PixelClassification/LabelSets"].visititems(
                lambda n, o, names=names: names.append(n) if isinstance(o, h5py.Dataset) else None)
            key = f"PixelClassification/LabelSets/{names[0]}"
            if huge:
                del f[key]
                ds = f.create_dataset(key, shape=(60000, 60000, 1), dtype=np.uint8, chunks=(1000, 1000, 1),
                                      compression="gzip")
                ds.attrs["blockSlice"] = "[0:60000,0:60000,0:1]"
            else:
                del f[key].attrs["blockSlice"]
    ilp_runs = [_run(["train", "--labels", p, "-o", d / "t.pfc", "-q"], timeout=60) for p in ilps[1:]]
    ilp_runs.append(_run(["predict", ilps[0], good[0], "-o", d / "ilpout.h5", "-q"], timeout=60))
    ilp_clear = sum(_one_line_error(x, p) for x, p in zip(ilp_runs, ilps[1:] + ilps[:1], strict=True))
    ilp_clear -= "known_labels" not in ilp_runs[-1].stderr  # refused for the right reason
    crashes = sum(x.returncode in NATIVE for x in [r, conv, *ilp_runs])
    errors = len(bad) + 1 + len(ilps)
    clear = named + conv_ok + ilp_clear
    return _result("hostile inputs (complex, float32 overflow, chunk bomb, external data, .ilp)",
                   clear == errors and done == len(good),
                   f"batch: {named}/{len(bad)} named with their error, {done}/{len(good)} good files done; convert "
                   f"of an external link refused: {conv_ok}; .ilp: {ilp_clear}/{len(ilps)} clear ("
                   + " | ".join(x.stderr.strip().splitlines()[-1][-90:] if x.stderr.strip() else "-" for x in ilp_runs)
                   + ")", lost=len(good) - done, clear=clear, errors=errors, crashes=crashes)


# ---------------------------------------------------------------- 11. ROIs, long predictions


ROI_CHECK = r"""
import sys, time, numpy as np, roifile
from pixelforest.io.rois import read_roi_file
d = sys.argv[1]
oval = roifile.ImagejRoi(roitype=roifile.ROI_TYPE.OVAL, left=0, top=0, right=20000, bottom=20000, name="o")
oval.tofile(d + "/oval.roi")
rng = np.random.default_rng(0)
pts = np.clip(np.cumsum(rng.normal(0, 4, (2000, 2)), axis=0) + 1024, 0, 2047)
line = roifile.ImagejRoi.frompoints(pts)
line.roitype = roifile.ROI_TYPE.FREELINE
line.name = "l"
line.tofile(d + "/line.roi")
for name, shape in (("oval", (64, 64)), ("line", (2048, 2048))):
    t0 = time.time()
    mask = read_roi_file(d + "/" + name + ".roi")[0].raster(shape)
    print(name, f"{time.time() - t0:.2f} s,", int(mask.sum()), "px", flush=True)
"""


def scenario_rois_and_long_prediction(d: Path) -> dict:
    hangs = crashes = 0
    try:
        r = subprocess.run([sys.executable, "-c", ROI_CHECK, str(d)], capture_output=True, text=True, timeout=30)
        rois = r.stdout.strip().replace("\n", "; ") or r.stderr.strip()[-200:]
        rois_ok = r.returncode == 0 and all(float(x.split()[1]) < 10 for x in r.stdout.split("\n") if x.strip())
        rois_ok = rois_ok and r.stdout.count(" px") == 2
        crashes += r.returncode in NATIVE
    except subprocess.TimeoutExpired:
        rois, rois_ok, hangs = "hung past 30 s", False, hangs + 1
    model, clf, img = _model(d)
    # signalled once the forest runs: after the CPU time the same command takes with 4 trees
    proc, running = start_long_prediction(d, PF, model, clf, img, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                          text=True)
    proc.send_signal(signal.SIGINT)
    took, hung = _stopped(proc, 30)
    hangs += hung + (took > 2.0)
    crashes += proc.returncode in NATIVE
    left = [p.name for p in d.glob("*o.h5*")]
    ok = rois_ok and running and proc.returncode == 130 and not left
    return _result("hostile ROIs, Ctrl-C in a long prediction", ok,
                   f"ROIs: {rois}; prediction with 10,000 trees interrupted while running: {running}, exit "
                   f"{proc.returncode} after {took:.2f} s, files left {left}", hangs=hangs, crashes=crashes,
                   lost=len(left))


# ---------------------------------------------------------------- 12. worker reload


def scenario_worker_reload(d: Path) -> dict:
    from pixelforest import worker

    model, clf, img = _model(d)
    first = worker.cache.classifier_for({"classifier": str(model)}).class_names
    st = model.stat()
    pf.save(pf.Classifier(clf.spec, clf.forest, ["cells", "background"], clf.class_colors, 1, 2), model)
    os.utime(model, ns=(st.st_atime_ns, st.st_mtime_ns))  # even with the old modification time
    second = worker.cache.classifier_for({"classifier": str(model)}).class_names

    class Task:
        outputs: dict = {}

        def update(self, *a, **k):
            pass

    t = Task()
    t.outputs = {}
    (d / "bad.pfc").write_bytes(b"PK\x03\x04 not a classifier")
    worker.handle(t, "load", {"classifier": str(d / "bad.pfc")})
    msg = t.outputs.get("error", "")
    clear = "bad.pfc" in msg and "\n" not in msg
    return _result("worker: classifier replaced on disk", second == ["cells", "background"] and clear,
                   f"classes before {first}, after the file was replaced {second}; a damaged file: {msg[:100]!r}",
                   clear=int(clear), errors=1)


HOSTILE_SCENARIOS = [scenario_disk_full, scenario_output_is_input, scenario_jobs_interrupted,
                     scenario_hostile_classifiers, scenario_hostile_inputs, scenario_rois_and_long_prediction,
                     scenario_worker_reload]
