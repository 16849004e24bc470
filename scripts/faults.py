#!/usr/bin/env python
"""Fault scenarios: kills and damaged inputs, and what is left afterwards.

Scenarios (each on files this script makes in a temporary folder):

1. ``kill -9`` during ``pixelforest batch``: outputs are complete or absent; the rerun
   completes the rest (stale temporary files are cleaned).
2. Ctrl-C (SIGINT) during ``pixelforest batch``: exit status 130, nothing partial left,
   the rerun completes.
3. Damaged inputs mixed into a batch (truncated TIFF, bit-flipped HDF5, a text file named
   .tif, a 3-channel image for a 1-channel classifier): a clear error for each, the good
   files still predicted.
4. A damaged classifier file: a clear error, no output.
5. The Fiji plugin's Python worker killed mid-task (through Appose, as the plugin drives
   it): the task reports the crash and a new worker takes the next request.
6. A full disk while writing HDF5 (``predict``, ``batch``, ``convert``) and Zarr: a small
   tmpfs this script mounts where it may (root), else a file size limit (``RLIMIT_FSIZE``, the
   same "cannot write" path): a clean error, no temporary file, the batch goes on and
   summarises, no native crash.
7. An output that resolves to an input (``predict -o`` the input, HDF5 and TIFF; ``batch``
   with a name format giving the input's name, ``--overwrite``) and colliding batch outputs:
   refused before any work, the inputs unchanged.
8. ``batch --jobs 2`` interrupted: Ctrl-C to the process group, and SIGKILL to the parent:
   every worker gone within 2 s, no temporary file, only complete outputs.
9. Hostile classifier files (huge channel counts, a 4 GiB unused member, 10^7 trees, Infinity
   colours, 200,000 nesting levels, 0-d/2-d forest arrays, "training": [1, 2], NaN
   thresholds, leaf values 1e30, int64 child indices that wrap): a one-line error each, fast.
10. Hostile inputs: a complex-valued .npy, values overflowing float32, an HDF5 chunk bomb,
    external links / virtual datasets / external raw storage, an .ilp with bad known_labels,
    a huge label block and one without blockSlice: a clear error for each, the good files done.
11. Hostile ROIs (an oval with 20000 x 20000 bounds on a 64 x 64 image, a freehand line of
    2,000 points on 2048 x 2048) rasterised in bounded time; Ctrl-C inside a long prediction
    (10,000 trees) ends it within 2 s.
12. The worker's classifier replaced on disk: the next request uses the new one.

Prints: scenarios run, outputs lost (must be 0), clear errors given / total, native crashes,
hangs, and the runtime.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import h5py
import numpy as np
import tifffile

import pixelforest as pf

PF = [sys.executable, "-m", "pixelforest.cli"]
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from _procfs import ctrl_c_reaches_it  # noqa: E402  (the tests' process helpers)


def make_inputs(d: Path, n: int = 4, size=(16, 256, 256)):
    rng = np.random.default_rng(0)
    files = []
    for i in range(n):
        vol = rng.normal(size=size).astype(np.float32)
        vol[:, size[1] // 4:3 * size[1] // 4, size[2] // 4:3 * size[2] // 4] += 2
        p = d / f"img{i}.h5"
        with h5py.File(p, "w") as f:
            f["data"] = vol
        files.append(str(p))
    lab = np.zeros(size, np.uint8)
    zs = slice(max(0, size[0] // 2 - 1), size[0] // 2 + 1)
    cy, cx = size[1] // 2, size[2] // 2  # inside the bright square
    lab[zs, cy - 5:cy + 5, cx - 5:cx + 5] = 1
    lab[zs, 2:8, 2:8] = 2
    with h5py.File(files[0], "r") as f:
        img = f["data"][()]
    clf = pf.train(img[0] if size[0] == 1 else img, lab[0] if size[0] == 1 else lab, features="minimal", trees=10,
                   seed=0)
    pf.save(clf, d / "m.pfc")
    return files, clf


def outputs_complete(out: Path, files, clf) -> tuple[int, int, list]:
    """(complete outputs, partial/corrupt outputs, temp files left)"""
    good = bad = 0
    for f in files:
        p = out / (Path(f).stem + "_Probabilities.h5")
        if not p.exists():
            continue
        try:
            with h5py.File(p, "r") as h:
                d = h["exported_data"][()]
            with h5py.File(f, "r") as src:
                ok = np.array_equal(d, clf.predict(src["data"][()]))
            good += ok
            bad += not ok
        except Exception:
            bad += 1
    temps = [p.name for p in out.glob(".*tmp-*")] if out.exists() else []
    return good, bad, temps


def _signal_mid_second_file(proc: subprocess.Popen, sig, timeout: float = 120) -> bool:
    """Send ``sig`` when the batch reports the first block of its second file done (its progress
    bars on stderr): the batch is then certainly mid-way, however fast the machine. Returns
    whether that report came before the process ended."""
    seen = ""
    files_done = re.compile(r"files:[^|]*\|[^|]*\|\s*1/\d+")
    deadline = time.time() + timeout
    fd = proc.stderr.fileno()
    while time.time() < deadline:
        chunk = os.read(fd, 65536).decode(errors="replace")
        if not chunk:  # the batch ended before its second file started
            break
        seen += chunk
        m = files_done.search(seen)
        if m and re.search(r"blocks:[^|]*\|[^|]*\|\s*[1-9]\d*/\d+", seen[m.end():]):
            proc.send_signal(sig)
            threading.Thread(target=proc.stderr.read, daemon=True).start()  # drain the rest
            return True
    proc.send_signal(sig)
    return False


def scenario_kill(d: Path, sig) -> dict:
    files, clf = make_inputs(d)
    out = d / "out"
    cmd = PF + ["batch", str(d / "m.pfc"), *files, "-o", str(out), "--block-shape", "8,128,128"]
    proc = subprocess.Popen(cmd + ["--jobs", "1"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            preexec_fn=ctrl_c_reaches_it)
    mid_way = _signal_mid_second_file(proc, sig)
    proc.wait(timeout=60)
    good, bad, temps = outputs_complete(out, files, clf)
    rerun = subprocess.run(cmd + ["-q"], capture_output=True, text=True, timeout=600)
    good2, bad2, temps2 = outputs_complete(out, files, clf)
    lost = bad + bad2 + (len(files) - good2)
    interrupted = proc.returncode in (130, -2)
    return {"name": f"{'kill -9' if sig == signal.SIGKILL else 'Ctrl-C'} during batch",
            "ok": mid_way and good < len(files) and lost == 0 and not temps2 and rerun.returncode == 0 and
                  (sig == signal.SIGKILL or (interrupted and not temps)),
            "lost": lost, "clear": 1 if sig == signal.SIGKILL or interrupted else 0, "errors": 1,
            "detail": f"signalled during file 2: {mid_way}; after the interrupt {good} complete, {bad} damaged, "
                      f"temp files {temps}, exit status {proc.returncode}; after the rerun "
                      f"{good2}/{len(files)} complete, temp files {temps2}"}


def scenario_damaged_inputs(d: Path) -> dict:
    files, clf = make_inputs(d, n=2, size=(16, 100, 100))
    bad = []
    t = d / "trunc.tif"
    tifffile.imwrite(t, np.zeros((16, 100, 100), np.float32))
    t.write_bytes(t.read_bytes()[:5000])
    bad.append(t)
    h = d / "flipped.h5"
    data = bytearray(Path(files[0]).read_bytes())
    for i in range(0, 4096, 97):
        data[i] ^= 0xFF
    h.write_bytes(bytes(data))
    bad.append(h)
    txt = d / "notes.tif"
    txt.write_text("not an image")
    bad.append(txt)
    rgb = d / "rgb.h5"
    with h5py.File(rgb, "w") as f:
        f["data"] = np.zeros((16, 100, 100, 3), np.float32)
    bad.append(rgb)
    out = d / "out"
    r = subprocess.run(PF + ["batch", str(d / "m.pfc"), *files, *map(str, bad), "-o", str(out), "-q"],
                       capture_output=True, text=True, timeout=600)
    named = sum(1 for b in bad if f"{b}:" in r.stderr)
    good, damaged, temps = outputs_complete(out, files, clf)
    lost = len(files) - good + damaged
    return {"name": "damaged inputs mixed into a batch", "ok": r.returncode == 1 and named == len(bad) and lost == 0,
            "lost": lost, "clear": named, "errors": len(bad),
            "detail": f"{named}/{len(bad)} damaged inputs named with their error; {good}/{len(files)} good files done"}


def scenario_damaged_classifier(d: Path) -> dict:
    files, clf = make_inputs(d, n=1, size=(16, 64, 64))
    m = d / "m.pfc"
    data = bytearray(m.read_bytes())
    data[len(data) // 2] ^= 0x55
    m.write_bytes(bytes(data))
    out = d / "out"
    r = subprocess.run(PF + ["predict", str(m), files[0], "-o", str(out) + "/", "-q"], capture_output=True, text=True)
    clear = "m.pfc:" in r.stderr and ("damaged" in r.stderr or "checksum" in r.stderr)
    left = list(out.glob("*")) if out.exists() else []
    return {"name": "damaged classifier file", "ok": r.returncode != 0 and clear and not left, "lost": 0,
            "clear": int(clear), "errors": 1, "detail": r.stderr.strip().splitlines()[-1] if r.stderr else ""}


def scenario_worker_killed(d: Path) -> dict:
    try:
        from appose.service import Service
    except ImportError:
        return {"name": "worker killed mid-task", "ok": True, "lost": 0, "clear": 0, "errors": 0,
                "detail": "skipped: appose not installed"}
    import appose

    from pixelforest.worker.protocol import SCRIPT as script  # the line the plugin runs for every task

    worker = "import appose.python_worker; appose.python_worker.main()"
    files, clf = make_inputs(d, n=1, size=(1, 1500, 1500))
    with h5py.File(files[0], "r") as f:
        img2d = f["data"][0]
    lab = np.zeros(img2d.shape, np.uint8)
    lab[100:110, 100:110] = 1
    lab[10:20, 10:20] = 2
    pf.save(pf.train(img2d, lab, features="minimal", trees=10, seed=0), d / "m.pfc")
    svc = Service(".", {"PIXELFOREST_WORKER_MEMORY_MB": "1"}, sys.executable, "-c", worker)
    with h5py.File(files[0], "r") as f:
        arr = f["data"][()][None, :, None]  # (T, Z, C, Y, X)
    nd = appose.NDArray("float32", list(arr.shape))
    nd.ndarray()[...] = arr
    pid = svc.task(script, {"request": "ping", "params": {}, "image": None}).wait_for().outputs["pid"]
    task = svc.task(script, {"request": "predict", "params": {"classifier": str(d / "m.pfc"), "block": [100, 100]},
                             "image": nd})
    # Kill on the first per-block progress report (block 1 of 225 done): the task is then
    # certainly mid-way, however fast the machine.
    first_block = threading.Event()

    def on_event(ev):
        if ev.current and ev.maximum and 0 < ev.current < ev.maximum:
            first_block.set()

    task.listen(on_event)
    task.start()
    mid_way = first_block.wait(120)
    os.kill(int(pid), signal.SIGKILL)
    crashed = False
    try:
        task.wait_for()
    except Exception as e:  # the crash is reported to the caller
        crashed = "crash" in str(e).lower() or "CRASH" in str(task.status)
    nd.shm.dispose()
    svc2 = Service(".", None, sys.executable, "-c", worker)  # the plugin starts a new worker on the next call
    ok2 = svc2.task(script, {"request": "ping", "params": {}, "image": None}).wait_for().outputs.get("pid") != pid
    svc2.close()
    return {"name": "worker killed mid-task", "ok": mid_way and crashed and ok2, "lost": 0, "clear": int(crashed),
            "errors": 1,
            "detail": f"killed mid-way: {mid_way}; task status {task.status}; a new worker answered: {ok2}"}


from faults_hostile import HOSTILE_SCENARIOS  # noqa: E402  (scripts/faults_hostile.py)


def main() -> int:
    t0 = time.time()
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for i, fn in enumerate([lambda d: scenario_kill(d, signal.SIGKILL), lambda d: scenario_kill(d, signal.SIGINT),
                                scenario_damaged_inputs, scenario_damaged_classifier, scenario_worker_killed,
                                *HOSTILE_SCENARIOS]):
            d = Path(tmp) / f"s{i}"
            d.mkdir()
            t1 = time.time()
            try:
                r = fn(d)
            except subprocess.TimeoutExpired as e:
                r = {"name": getattr(fn, "__name__", "scenario"), "ok": False, "lost": 0, "clear": 0, "errors": 1,
                     "hangs": 1, "detail": f"hung: {e}"}
            results.append(r)
            print(f"{'PASS' if r['ok'] else 'FAIL'}  {r['name']} ({time.time() - t1:.0f} s): {r['detail']}", flush=True)
    lost = sum(r["lost"] for r in results)
    clear = sum(r["clear"] for r in results)
    total = sum(r["errors"] for r in results)
    crashes = sum(r.get("crashes", 0) for r in results)
    hangs = sum(r.get("hangs", 0) for r in results)
    print(f"scenarios run: {len(results)}, outputs lost: {lost}, clear errors given: {clear}/{total}, "
          f"native crashes: {crashes}, hangs: {hangs}, runtime: {time.time() - t0:.0f} s")
    return 0 if lost == 0 and crashes == 0 and hangs == 0 and all(r["ok"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
