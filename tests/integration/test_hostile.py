"""Hostile files, full disks and interrupted runs (issue 16): clear errors, bounded cost, nothing
lost. Real files, real h5py, real subprocesses."""

from __future__ import annotations

import hashlib
import io
import json
import os
import resource
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import h5py
import numpy as np
import pytest
import tifffile
from _hostile_files import external_data_files
from _procfs import alive, children, ctrl_c_reaches_it, start_long_prediction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import pixelforest as pf
from pixelforest.batch import predict_file
from pixelforest.features import FeatureError, FeatureSpec
from pixelforest.io.pfc import ClassifierFileError, load_classifier
from pixelforest.io.rois import fill_oval, thick_polyline

ROOT = Path(__file__).resolve().parents[2]
PF = [sys.executable, "-m", "pixelforest.cli"]
ENV = dict(os.environ, PYTHONPATH=str(ROOT / "src") + os.pathsep + os.environ.get("PYTHONPATH", ""))


def run(args, **kw):
    return subprocess.run(PF + [str(a) for a in args], capture_output=True, text=True, env=ENV, timeout=300, **kw)


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    d = tmp_path_factory.mktemp("model")
    rng = np.random.default_rng(0)
    img = rng.normal(size=(48, 48)).astype(np.float32)
    img[12:36, 12:36] += 3
    lab = np.zeros(img.shape, np.uint8)
    lab[20:28, 20:28] = 1
    lab[2:6, 2:6] = 2
    clf = pf.train(img, lab, features="minimal", trees=4, seed=0)
    pf.save(clf, d / "m.pfc")
    tifffile.imwrite(d / "img.tif", img)
    return d / "m.pfc", clf, img


# ------------------------------------------------------------ .pfc manifests


def _members(path) -> dict:
    with zipfile.ZipFile(path) as z:
        return {i.filename: z.read(i) for i in z.infolist()}


def _write(path, members: dict, manifest=None, manifest_text: bytes | None = None) -> Path:
    members = dict(members)
    if manifest is not None:
        members["manifest.json"] = json.dumps(manifest).encode()
    if manifest_text is not None:
        members["manifest.json"] = manifest_text
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as z:
        for k, v in members.items():
            z.writestr(k, v)
    return path


def _npy(a) -> bytes:
    b = io.BytesIO()
    np.lib.format.write_array(b, np.ascontiguousarray(a), allow_pickle=False)
    return b.getvalue()


def _with_array(members, manifest, name, a):
    blob = _npy(a)
    members = dict(members)
    members[f"arrays/{name}.npy"] = blob
    manifest["arrays"][name] = {"dtype": str(a.dtype), "shape": list(a.shape),
                                "sha256": hashlib.sha256(blob).hexdigest()}
    return members


def _forest_arrays(members):
    return {k[len("arrays/forest_"):-4]: np.load(io.BytesIO(v)) for k, v in members.items()
            if k.startswith("arrays/forest_")}


def _set(keys, value):
    def edit(m, a):
        d = m
        for k in keys[:-1]:
            d = d[k]
        d[keys[-1]] = value
        return m, a
    return edit


HOSTILE = {
    "n_channels 1e8": (_set(["n_channels"], 100_000_000), "n_channels"),
    "colour Infinity": (_set(["classes", 0, "color"], [float("inf"), 0, 0]), "Infinity"),
    "training is a list": (_set(["training"], [1, 2]), "training"),
    "unused member": (lambda m, a: (m, _with_array(a, m, "extra", np.zeros(1000, np.float32))), "nothing uses"),
    "0-d forest_feature": (lambda m, a: (m, _with_array(a, m, "forest_feature", np.array(3, np.int32))),
                           "forest_feature"),
    "2-d forest_feature": (lambda m, a: (m, _with_array(a, m, "forest_feature", np.zeros((2, 2), np.int32))),
                           "forest_feature"),
    "too many trees": (_set(["forest", "n_trees"], 10**7), "trees"),
    "stray member": (lambda m, a: (m, dict(a, **{"notes.txt": b"hello"})), "not part of the classifier"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_manifest_clear_error(model, tmp_path, case):
    path, clf, img = model
    members = _members(path)
    m = json.loads(members["manifest.json"])
    edit, expect = HOSTILE[case]
    m, members = edit(m, members)
    bad = _write(tmp_path / "bad.pfc", members, m)
    with pytest.raises(ClassifierFileError, match=expect):
        load_classifier(bad)
    r = run(["info", bad])  # the command line: one clear line, no traceback
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert r.stderr.count("\n") == 1 and str(bad) in r.stderr and "error: " in r.stderr


def test_deeply_nested_manifest(model, tmp_path):
    path, _, _ = model
    members = _members(path)
    m = json.loads(members["manifest.json"])
    text = json.dumps(m)[:-1] + ', "x": ' + "[" * 200_000 + "]" * 200_000 + "}"
    bad = _write(tmp_path / "deep.pfc", members, manifest_text=text.encode())
    with pytest.raises(ClassifierFileError, match="nested"):
        load_classifier(bad)


@pytest.mark.parametrize("case", ["nan threshold", "huge leaf", "wrapped child"])
def test_garbage_forest_values_refused(model, tmp_path, case):
    path, _, _ = model
    members = _members(path)
    m = json.loads(members["manifest.json"])
    arrays = _forest_arrays(members)
    inner = np.nonzero(arrays["left"] != -1)[0]
    if case == "nan threshold":
        thr = arrays["threshold"].copy()
        thr[inner[0]] = np.nan
        members = _with_array(members, m, "forest_threshold", thr)
        expect = "NaN"
    elif case == "huge leaf":
        val = arrays["value"].copy()
        val[np.nonzero(arrays["left"] == -1)[0][0], 0] = 1e30
        members = _with_array(members, m, "forest_value", val)
        expect = "probabilities"
    else:  # int64 child indices that would wrap to valid int32 ones
        left = arrays["left"].astype(np.int64)
        left[inner[0]] += 2**32
        members = _with_array(members, m, "forest_left", left)
        expect = "int32 range"
    with pytest.raises(ClassifierFileError, match=expect):
        load_classifier(_write(tmp_path / "g.pfc", members, m))


JSON = st.recursive(st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats() | st.text(max_size=8),
                    lambda kids: st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=6), kids, max_size=4),
                    max_leaves=12)
FIELDS = [["format_version"], ["features"], ["classes"], ["n_channels"], ["ndim"], ["training"], ["forest"],
          ["labels"], ["arrays"], ["context"], ["source"], ["stages"], ["forest", "n_features"], ["forest", "n_trees"],
          ["labels", 0, "shape"], ["labels", 0], ["classes", 0, "name"], ["classes", 0, "color"],
          ["features", "features"], ["features", "scales"], ["features", "compute_in_2d"], ["features", "normalize"],
          ["arrays", "forest_value", "shape"], ["arrays", "labels_0_index", "dtype"]]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(field=st.sampled_from(FIELDS), value=JSON, array=st.sampled_from([None, "forest_roots", "forest_value",
                                                                          "labels_0_index", "forest_feature"]),
       shape=st.lists(st.integers(0, 2**40), max_size=3),
       dtype=st.sampled_from(["int64", "float32", "uint8", "object"]))
def test_manifest_fuzz(model, tmp_path, field, value, array, shape, dtype):
    """Any manifest value, any declared array: a clear ClassifierFileError (or a valid classifier),
    never another exception, and quickly (nothing huge is allocated)."""
    path, _, _ = model
    members = _members(path)
    m = json.loads(members["manifest.json"])
    d = m
    for k in field[:-1]:
        d = d[k]
    d[field[-1]] = value
    if array is not None and isinstance(m.get("arrays"), dict):
        m["arrays"][array] = {"dtype": dtype, "shape": shape, "sha256": "0" * 64}
    bad = _write(tmp_path / "f.pfc", members, m)
    t0 = time.time()
    try:
        load_classifier(bad)
    except ClassifierFileError:
        pass
    assert time.time() - t0 < 10


# ------------------------------------------------------------ outputs and inputs


def test_output_equal_to_input_refused(model, tmp_path):
    path, _, img = model
    raw = tmp_path / "raw.h5"
    with h5py.File(raw, "w") as f:
        f["data"] = img
        f["other"] = np.arange(3)
    before = raw.read_bytes()
    r = run(["predict", path, f"{raw}/data", "-o", raw])
    assert r.returncode == 1 and "refusing to replace an input" in r.stderr
    assert raw.read_bytes() == before
    t = tmp_path / "im.tif"
    tifffile.imwrite(t, img)
    tb = t.read_bytes()
    r = run(["predict", path, t, "-o", t, "--output-format", "tiff"])
    assert r.returncode == 1 and "refusing to replace an input" in r.stderr and t.read_bytes() == tb
    r = run(["batch", path, t, "--output-filename-format", "{dataset_dir}/{nickname}", "--output-format", "tif",
             "--overwrite", "-q"])
    assert r.returncode == 1 and "refusing to replace an input" in r.stderr and t.read_bytes() == tb


def test_batch_output_collisions_refused(model, tmp_path):
    path, _, img = model
    for sub in ("a", "b"):
        (tmp_path / sub).mkdir()
        tifffile.imwrite(tmp_path / sub / "x.tif", img)
    r = run(["batch", path, tmp_path / "a" / "x.tif", tmp_path / "b" / "x.tif", "-o", tmp_path / "out", "-q"])
    assert r.returncode == 1 and "would both be written" in r.stderr
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_any_per_file_error_is_a_failed_file(model, tmp_path):
    path, clf, img = model
    good = [tmp_path / "g1.tif", tmp_path / "g2.tif"]
    for g in good:
        tifffile.imwrite(g, img)
    cplx = tmp_path / "c.npy"
    np.save(cplx, img.astype(np.complex64))
    big = tmp_path / "big.npy"
    np.save(big, np.full(img.shape, 1e300))
    r = run(["batch", path, good[0], cplx, big, good[1], "-o", tmp_path / "out", "-q"])
    assert r.returncode == 1, r.stderr
    assert "2 done" in r.stdout and "2 failed" in r.stdout
    assert f"{cplx}:" in r.stderr and "pixel type" in r.stderr
    assert f"{big}:" in r.stderr and "float32" in r.stderr
    assert "Traceback" not in r.stderr
    r = run(["predict", path, cplx, good[0], "-o", str(tmp_path / "out2") + "/", "-q"])
    assert r.returncode == 1 and "1 of 2 input(s) failed" in r.stderr
    assert (tmp_path / "out2" / "g1_Probabilities.h5").exists()


def test_input_changed_while_read(model, tmp_path):
    path, clf, img = model
    p = tmp_path / "big.h5"
    big = np.tile(img, (4, 4))
    with h5py.File(p, "w") as f:
        f["data"] = big

    def rewrite(done, total):
        if done == 1:
            with h5py.File(p, "a") as f:
                f["data"][...] = big + 1
                f["more"] = np.zeros(1000)

    with pytest.raises(ValueError, match="changed while it was being read"):
        predict_file(clf, p, target=tmp_path / "o.h5", block_shape=(64, 64), progress=rewrite)
    assert not list(tmp_path.glob("*o.h5*"))


def _disk_full_env(limit):
    def pre():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    return pre


@pytest.mark.parametrize("command", ["predict", "batch", "convert"])
def test_full_disk_fails_cleanly(model, tmp_path, command):
    """A write that fails (here: the file size limit, as a full disk does) is a clean error: no
    native crash, no temporary file, and a batch goes on with the next file."""
    path, clf, img = model
    ins = []
    for i in range(2):
        p = tmp_path / f"in{i}.h5"
        with h5py.File(p, "w") as f:
            f["data"] = np.tile(img, (8, 8))  # 384 x 384: a 1.2 MB result
        ins.append(p)
    out = tmp_path / "out"
    args = {"predict": ["predict", path, *ins, "-o", str(out) + "/", "-q"],
            "batch": ["batch", path, *ins, "-o", out, "-q", "--block-shape", "128,128"],
            "convert": ["convert", *ins, "-o", out, "-q"]}[command]
    r = subprocess.run(PF + [str(a) for a in args], capture_output=True, text=True, env=ENV, timeout=300,
                       preexec_fn=_disk_full_env(256 * 1024))
    assert r.returncode == 1, (r.returncode, r.stderr[-2000:])
    assert "Traceback" not in r.stderr and "File too large" in r.stderr or "No space" in r.stderr
    assert r.stderr.count(f"{ins[1]}") >= 1  # the second file was tried too
    assert not [p.name for p in out.glob(".*tmp-*")] if out.exists() else True
    if command == "batch":
        assert "2 failed of 2" in r.stdout


# ------------------------------------------------------------ HDF5: outside the file


def test_external_data_refused_unless_allowed(model, tmp_path):
    path, _, img = model
    for f in external_data_files(tmp_path, img):
        r = run(["predict", path, f"{f}/data", "-o", str(tmp_path / "out") + "/", "-q"])
        assert r.returncode == 1 and "outside the file" in r.stderr, r.stderr
        r = run(["convert", f"{f}/data", "-o", tmp_path / "conv" / (f.stem + ".tif"), "--to-tiff", "-q"])
        assert r.returncode == 1 and "outside the file" in r.stderr, r.stderr
        r = run(["predict", path, f"{f}/data", "-o", str(tmp_path / "ok") + "/", "-q", "--allow-external"])
        assert r.returncode == 0, r.stderr


def test_chunk_bomb_refused(model, tmp_path):
    path, _, _ = model
    bomb = tmp_path / "bomb.h5"
    with h5py.File(bomb, "w") as f:
        f.create_dataset("data", shape=(60000, 60000), dtype=np.float32, chunks=(1024, 1024), compression="gzip")
    assert bomb.stat().st_size < 100_000
    r = run(["batch", path, f"{bomb}/data", "-o", tmp_path / "out", "-q"])
    assert r.returncode == 1 and "declares" in r.stderr
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


# ------------------------------------------------------------ .ilp projects


@pytest.fixture
def ilp(model, tmp_path):
    path, clf, img = model
    import warnings

    from pixelforest.io.ilp import write_ilp

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return write_ilp(clf, tmp_path / "p.ilp", raw_data=[str(path.parent / "img.tif")])


def _label_blocks(p):
    with h5py.File(p, "r") as f:
        out = []
        f["PixelClassification/LabelSets"].visititems(
            lambda n, o: out.append(n) if isinstance(o, h5py.Dataset) else None)
    return out


def test_ilp_label_block_checked_before_reading(ilp):
    from pixelforest.io.ilp import IlastikProject, IlpError

    block = _label_blocks(ilp)[0]
    key = f"PixelClassification/LabelSets/{block}"
    with h5py.File(ilp, "a") as f:
        del f[key]
        ds = f.create_dataset(key, shape=(60000, 60000, 1), dtype=np.uint8, chunks=(1000, 1000, 1), compression="gzip")
        ds.attrs["blockSlice"] = "[0:60000,0:60000,0:1]"
    t0 = time.time()
    with IlastikProject(ilp) as proj, pytest.raises(IlpError, match="outside the image"):
        proj.training_data()
    assert time.time() - t0 < 10
    with h5py.File(ilp, "a") as f:
        del f[key].attrs["blockSlice"]
    with IlastikProject(ilp) as proj, pytest.raises(IlpError, match="blockSlice"):
        proj.training_data()


def test_ilp_bad_known_labels(model, tmp_path):
    from pixelforest.io.ilp import IlastikProject, IlpError

    p = tmp_path / "k.ilp"
    with h5py.File(p, "w") as f:
        f["ilastikVersion"] = b"1.4.0"
        f.create_group("PixelClassification/ClassifierForests")
        f.create_group("FeatureSelections")
        f["PixelClassification/ClassifierForests/known_labels"] = np.array([-100, 5])
    with IlastikProject(p) as proj, pytest.raises(IlpError, match="1..255"):
        proj.forest_labels()


def test_ilp_external_link_refused(ilp, tmp_path):
    from pixelforest.io.ilp import IlastikProject

    other = tmp_path / "o.h5"
    with h5py.File(other, "w") as f:
        f["x"] = np.zeros(3)
    with h5py.File(ilp, "a") as f:
        f["PixelClassification/sneaky"] = h5py.ExternalLink(str(other), "x")
    with pytest.raises(ValueError, match="outside the file"):
        IlastikProject(ilp)
    IlastikProject(ilp, allow_external=True).close()


# ------------------------------------------------------------ ROIs, scales, memory


def test_roi_rasterisation_bounded():
    t0 = time.time()
    m = fill_oval(-10000, -10000, 20000, 20000, (64, 64))
    assert m.all() and time.time() - t0 < 2
    rng = np.random.default_rng(0)
    pts = np.cumsum(rng.normal(0, 3, (2000, 2)), axis=0) + 1024
    t0 = time.time()
    thick_polyline(pts, 3, (2048, 2048))
    assert time.time() - t0 < 20
    # every vertex's pixel is in the stroke (a 3-px stroke runs through its centre)
    pts = rng.uniform(2, 38, (12, 2))
    got = thick_polyline(pts, 3, (40, 40))
    ij = np.floor(pts + 0.5).astype(int)
    assert got[ij[:, 1], ij[:, 0]].all()


def test_feature_scale_limit():
    with pytest.raises(FeatureError, match="too large"):
        FeatureSpec.from_cells({"HoleFilling": [1e5]})


def test_available_memory_honours_rlimit():
    code = ("import resource; resource.setrlimit(resource.RLIMIT_AS, (3 * 2**30, 3 * 2**30));"
            "from pixelforest.runtime import available_memory; print(available_memory())")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=ENV, timeout=120)
    assert r.returncode == 0, r.stderr
    assert int(r.stdout) <= 3 * 2**30


# ------------------------------------------------------------ interruptions


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL])
def test_batch_jobs_stop_with_their_parent(model, tmp_path, sig):
    path, clf, img = model
    files = []
    for i in range(6):
        p = tmp_path / f"i{i}.h5"
        with h5py.File(p, "w") as f:
            f["data"] = np.tile(img, (12, 12))
        files.append(p)
    out = tmp_path / "out"
    proc = subprocess.Popen(PF + ["batch", str(path), *map(str, files), "-o", str(out), "--jobs", "2", "-q",
                                  "--block-shape", "64,64"], env=ENV, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, start_new_session=True, preexec_fn=ctrl_c_reaches_it)
    deadline = time.time() + 120
    while time.time() < deadline and len(children(proc.pid)) < 2:
        time.sleep(0.2)
    while time.time() < deadline and not (out.exists() and list(out.glob(".*tmp-*"))):
        time.sleep(0.05)  # a worker is writing: started (a worker still starting ends when its start-up is done)
    workers = children(proc.pid)
    assert workers
    if sig == signal.SIGINT:
        os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C in a terminal: the whole process group
    else:
        proc.kill()
    t0 = time.time()
    proc.wait(timeout=30)
    while time.time() - t0 < 5 and any(alive(w) for w in workers):
        time.sleep(0.05)
    stopped = time.time() - t0
    assert stopped < 2.5, f"workers still alive {stopped:.1f} s after the signal"
    if sig == signal.SIGINT:
        assert proc.returncode == 130
        assert not list(out.glob(".*tmp-*")) if out.exists() else True
    for o in out.glob("*.h5") if out.exists() else []:
        with h5py.File(o, "r") as f:
            assert f["exported_data"].shape[:2] == (576, 576)


def test_ctrl_c_inside_long_prediction(model, tmp_path):
    """Prediction with many trees over a large image: Ctrl-C inside the forest's loop ends it within 2 s."""
    path, clf, img = model
    proc, running = start_long_prediction(tmp_path, PF, path, clf, img, env=ENV, stderr=subprocess.PIPE, text=True)
    assert running, "prediction ended before it could be interrupted"
    proc.send_signal(signal.SIGINT)
    t0 = time.time()
    proc.wait(timeout=60)
    err = proc.stderr.read()
    assert time.time() - t0 < 2.0 and proc.returncode == 130, err
    assert not list(tmp_path.glob("*o.h5*"))


# ------------------------------------------------------------ the Fiji worker


class _Task:
    def __init__(self):
        self.outputs = {}

    def update(self, *a, **k):
        pass


def test_worker_reloads_a_changed_classifier(model, tmp_path):
    from pixelforest import worker

    path, clf, img = model
    p = tmp_path / "w.pfc"
    pf.save(clf, p)
    first = worker.cache.classifier_for({"classifier": str(p)})
    assert first.class_names == clf.class_names
    other = pf.Classifier(clf.spec, clf.forest, ["a", "b"], clf.class_colors, 1, 2)
    st = p.stat()
    pf.save(other, p)
    os.utime(p, ns=(st.st_atime_ns, st.st_mtime_ns))  # even with the old modification time
    assert worker.cache.classifier_for({"classifier": str(p)}).class_names == ["a", "b"]


def test_worker_answers_hostile_classifier_with_a_message(model, tmp_path):
    from pixelforest import worker

    path, _, _ = model
    members = _members(path)
    m = json.loads(members["manifest.json"])
    m["classes"][0]["color"] = [float("inf"), 0, 0]
    bad = _write(tmp_path / "c.pfc", members, m)
    t = _Task()
    worker.handle(t, "load", {"classifier": str(bad)})
    err = t.outputs.get("error", "")
    assert "c.pfc" in err and "Infinity" in err and "\n" not in err


def test_hdf5_hard_link_cycle_scanned_once(tmp_path):
    from pixelforest.io.images import read_image

    p = tmp_path / "cycle.h5"
    with h5py.File(p, "w") as f:
        g = f.create_group("g")
        g["self"] = g  # a group inside itself
        f["data"] = np.zeros((8, 8), np.float32)
    t0 = time.time()
    arr, ax = read_image(f"{p}/data")
    assert arr.shape == (8, 8) and time.time() - t0 < 5


RLIMIT_PREDICT = r"""
import resource, numpy as np
import pixelforest as pf
from pixelforest.runtime import _vm_size, available_memory
rng = np.random.default_rng(0)
vol = rng.normal(size=(160, 160, 160)).astype(np.float32)
lab = np.zeros(vol.shape, np.uint8); lab[80, 70:90, 70:90] = 1; lab[5, 5:20, 5:20] = 2
clf = pf.train(vol, lab, features="minimal", trees=3, seed=0)
clf.predict(vol[:40, :40, :40])  # compiled and warmed up before the limit
room = _vm_size()["VmData"] + 700 * 2**20
resource.setrlimit(resource.RLIMIT_DATA, (room, room))
assert available_memory() <= 700 * 2**20
print(clf.predict(vol).shape)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="RLIMIT_DATA counts heap and mmap on Linux")
def test_prediction_runs_in_smaller_blocks_under_rlimit_data():
    """With 700 MB of RLIMIT_DATA room, a 160^3 volume (whole-volume features need more) is
    predicted in smaller blocks instead of failing with MemoryError."""
    r = subprocess.run([sys.executable, "-c", RLIMIT_PREDICT], capture_output=True, text=True, env=ENV, timeout=300)
    assert r.returncode == 0 and "(160, 160, 160, 2)" in r.stdout, r.stderr[-1500:]


@pytest.mark.parametrize("version", [1, 2])
def test_cgroup_available_memory(tmp_path, version):
    """The cgroup files as the kernel lays them out (v1 and v2): the room is limit - usage of the
    tightest group on the way up; "max" (v2) or a huge v1 value is no limit."""
    from pixelforest.runtime import _cgroup_limit

    if version == 2:
        (tmp_path / "proc").write_text("0::/user.slice/job\n")
        leaf, parent = tmp_path / "fs" / "user.slice" / "job", tmp_path / "fs" / "user.slice"
        leaf.mkdir(parents=True)
        (leaf / "memory.max").write_text("max\n")
        (leaf / "memory.current").write_text("1000\n")
        (parent / "memory.max").write_text(f"{2 * 2**30}\n")
        (parent / "memory.current").write_text(f"{2**30}\n")
    else:
        (tmp_path / "proc").write_text("4:memory:/job\n1:cpu:/\n")
        leaf = tmp_path / "fs" / "memory" / "job"
        leaf.mkdir(parents=True)
        (leaf / "memory.limit_in_bytes").write_text(f"{2 * 2**30}\n")
        (leaf / "memory.usage_in_bytes").write_text(f"{2**30}\n")
        (tmp_path / "fs" / "memory" / "memory.limit_in_bytes").write_text("9223372036854771712\n")
    assert _cgroup_limit(tmp_path / "proc", tmp_path / "fs") == 2**30
