"""Shared fixtures. Real data live in ../shared/data beside the repository; tests that need
them skip (saying why) in a clone without it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

# numba's OpenMP threads sleep as soon as a parallel kernel's work is done instead of spinning for
# more (GNU OpenMP's default): with two pytest workers, each with a thread per core, the spinning
# threads of one took the cores from the other and the block-wise tests ran 5-10x longer. Set
# before numba loads OpenMP, and inherited by the subprocesses the tests start.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

ROOT = Path(__file__).resolve().parents[1]
RUNTIME = ROOT / "fiji-plugin" / "target" / "runtime"


def imagej_classpath() -> list[str]:
    """ImageJ 1.x and what Fiji ships that the plugin uses without bundling it (scripts/build-plugin.sh)."""
    return (RUNTIME / "classpath.txt").read_text().split()
#: what the tests of the Fiji plugin need: Maven to build it, a display for ImageJ's menus, Java
NEEDS_FIJI = [
    pytest.mark.skipif(shutil.which("mvn") is None, reason="Maven (mvn) is not installed: the plugin cannot be built"),
    pytest.mark.skipif(shutil.which("xvfb-run") is None,
                       reason="xvfb-run is not installed (scripts/setup-system.sh installs it): ImageJ 1.x menus "
                              "need a display"),
    pytest.mark.skipif(shutil.which("java") is None and not os.environ.get("JAVA_HOME"), reason="no Java runtime"),
]
#: the JVM options of the ImageJ runs: they are short (seconds), so the JIT's first tier only and
#: one garbage collector thread: about a quarter less CPU a run (the JIT's and GC's threads, on two
#: cores shared with the Python worker and the other pytest worker); the programs run the same
JAVA_OPTIONS = ("-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC")
SHARED_DATA = Path(os.environ.get("PIXELFOREST_SHARED_DATA", ROOT.parent / "shared" / "data"))


def _need(sub: str) -> Path:
    p = SHARED_DATA / sub
    if not p.exists():
        pytest.skip(f"real data {sub} not found under {SHARED_DATA} (../shared/data is present in CI, "
                    f"not in a fresh clone)")
    return p


@pytest.fixture
def ilastik_tests() -> Path:
    return _need("ilastik-tests")


@pytest.fixture
def shared_data():
    return _need


@pytest.fixture
def blobs2d() -> np.ndarray:
    """A small synthetic 2D image: bright blobs on a noisy, graded background."""
    rng = np.random.default_rng(42)
    yy, xx = np.mgrid[0:96, 0:120]
    img = 20 + 0.2 * xx + rng.normal(0, 3, yy.shape)
    for cy, cx, r in [(20, 25, 8), (60, 40, 11), (30, 90, 9), (75, 95, 7)]:
        img += 80 * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * r * r))
    return img.astype(np.float32)


@pytest.fixture
def blobs_labels(blobs2d) -> np.ndarray:
    lab = np.zeros(blobs2d.shape, np.uint8)
    lab[58:63, 36:45] = 1  # inside a blob
    lab[19:22, 22:28] = 1
    lab[5:8, 50:70] = 2  # background
    lab[88:91, 5:40] = 2
    return lab


@pytest.fixture
def same_forest():
    """A check that two forests (:class:`pixelforest.forest.Forest`) are equal, array by array."""
    def same(a, b) -> bool:
        x, y = a.arrays(), b.arrays()
        return x.keys() == y.keys() and all(np.array_equal(x[k], y[k]) for k in x)
    return same


#: the ImageJ tests. scripts/test.sh distributes the tests by file (pytest-xdist's --dist loadfile):
#: a file's tests run in one worker, in order, so that its module-scoped JVM or images are made once;
#: each worker has virtual screens of its own (PIXELFOREST_XVFB_FROM), so two files run side by side.
#: These files, the longest, go first: each worker starts on one while the others fill in around them.
#: (--dist loadgroup would not group them: pytest-xdist 3.8 marks a group in the test's id in a way
#: pytest 9 ignores.)
IMAGEJ_TESTS = ("test_fiji.py", "test_live.py", "test_imagej.py")


def pytest_configure(config):
    # pytest-xdist (3.6 and later) hands out the files with the most tests first unless told not to
    # (--loadscope-reorder is its default): the ImageJ files, the longest but with few tests, then
    # started late and the run ended on them with the other worker idle
    if hasattr(config.option, "loadscopereorder"):
        config.option.loadscopereorder = False


def pytest_collection_modifyitems(config, items):
    order = {name: i for i, name in enumerate(IMAGEJ_TESTS)}
    items.sort(key=lambda item: order.get(item.path.name, len(order)))  # stable: the files' order kept within


def _build_plugin_once(shared: Path) -> None:
    """scripts/build-plugin.sh, once per test run even with several pytest workers (a lock; the
    run's id in a marker file), so that no worker rebuilds the jar while another one runs it."""
    import fcntl

    run_id = os.environ.get("PYTEST_XDIST_TESTRUNUID", str(os.getpid()))
    marker = shared / "plugin-built"
    with open(shared / "plugin-build.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if marker.exists() and marker.read_text() == run_id:
            return
        r = subprocess.run([str(ROOT / "scripts" / "build-plugin.sh")], capture_output=True, text=True, timeout=900)
        if r.returncode != 0:
            pytest.fail(f"Maven build of the plugin failed:\n{r.stdout}\n{r.stderr}")
        marker.write_text(run_id)


@pytest.fixture(scope="session")
def fiji(tmp_path_factory):
    """A plugins folder with the freshly built jar, and a runner for ImageJ under Xvfb."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    base_temp = tmp_path_factory.getbasetemp()
    _build_plugin_once(base_temp.parent if worker else base_temp)
    built = next(p for p in (ROOT / "fiji-plugin" / "target").glob("Pixel_Forest-*.jar")
                 if not p.name.startswith("original"))
    base = tmp_path_factory.mktemp("fiji")
    (base / "plugins").mkdir()
    jar = base / "plugins" / built.name  # this worker's copy: the tests run it, whatever happens to target/
    shutil.copy(built, jar)
    # each worker's virtual screens from its own range of display numbers (xvfb-run -a races otherwise)
    os.environ["PIXELFOREST_XVFB_FROM"] = str(99 + 100 * int(worker[2:] or 0)) if worker.startswith("gw") else "99"
    runs = iter(range(10**6))
    compiled: dict[Path, Path] = {}

    def program(main_args, classpath):
        """A Java program given as its source file (tests/fiji/*.java) compiled once per worker, not
        at every run as ``java File.java`` would (javac takes seconds): its class and the class path
        with its folder. Without javac, java compiles it at every run as before."""
        source = Path(main_args[0])
        if source.suffix != ".java" or shutil.which("javac") is None:
            return list(main_args), classpath
        if source not in compiled:
            into = base / "classes" / source.stem
            r = subprocess.run(["javac", *(f"-J{o}" for o in JAVA_OPTIONS), "-nowarn", "-d", str(into),
                                "-cp", os.pathsep.join(classpath), str(source)], capture_output=True, text=True,
                               timeout=300)
            if r.returncode != 0:
                pytest.fail(f"javac {source} failed:\n{r.stdout}\n{r.stderr}")
            compiled[source] = into
        return [source.stem, *map(str, main_args[1:])], [*classpath, str(compiled[source])]

    def run(main_args, cp=(), timeout=300, python=sys.executable, props=(), env=None, home=None):
        if home is None:
            home = base / f"home{next(runs)}"  # a fresh user.home (ImageJ preferences) for every run
            home.mkdir()
        main_args, classpath = program(main_args, [*imagej_classpath(), *map(str, cp)])
        cmd = ["xvfb-run", "-a", "-n", os.environ["PIXELFOREST_XVFB_FROM"], "java", *JAVA_OPTIONS,
               f"-Dplugins.dir={base}", f"-Duser.home={home}", *([f"-Dpixelforest.python={python}"] if python else []),
               "-Dpixelforest.debug=true", *props, "-cp", os.pathsep.join(classpath), *main_args]
        return _run_imagej(cmd, base, home, timeout, env)

    def macro(text, arg="", **kw):
        m = base / "m.ijm"
        m.write_text(text, encoding="utf-8")
        return run(["ij.ImageJ", "-batch", str(m), arg], **kw)

    def gui(script: str, out: Path, timeout=300):
        """Runs tests/fiji/LiveGui.java (ImageJ's real GUI driven by java.awt.Robot) on a virtual screen with a
        window manager; returns (exit status, output, {key: [values of each RESULT line]})."""
        home = base / f"home{next(runs)}"
        home.mkdir()
        out.mkdir(parents=True, exist_ok=True)
        (out / "script.txt").write_text(script, encoding="utf-8")
        main_args, classpath = program([ROOT / "tests" / "fiji" / "LiveGui.java", out / "script.txt", out],
                                       [*imagej_classpath(), str(jar)])
        cmd = [str(ROOT / "tests" / "fiji" / "run-gui.sh"), *JAVA_OPTIONS, f"-Dplugins.dir={base}",
               f"-Duser.home={home}", f"-Dpixelforest.python={sys.executable}", "-Dpixelforest.debug=true", "-cp",
               os.pathsep.join(classpath), *main_args]
        rc, log = _run_imagej(cmd, base, home, timeout)
        results: dict = {}
        for line in log.splitlines():
            if line.startswith("RESULT "):
                key, _, rest = line[7:].partition(" ")
                results.setdefault(key, []).append(rest)
        return rc, log, results

    return {"run": run, "macro": macro, "gui": gui, "base": base, "jar": jar}


def _run_imagej(cmd, cwd, home, timeout, env=None):
    """Run ImageJ to its end; output goes to a file, so nothing it leaves running can hold the run open.
    Past ``timeout``, the ImageJ and Python threads are dumped into the failure before it is killed
    (jstack for Java; SIGUSR1 makes the worker write every Python thread's stack to ImageJ's log)."""
    import signal
    import time

    log_path = home / "run.log"
    with open(log_path, "w+", encoding="utf-8", errors="replace") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=cwd, start_new_session=True, env=env)
        try:
            rc = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            dumps = []
            for pid in _session_pids(proc.pid):
                name = Path(f"/proc/{pid}/comm").read_text().strip() if Path(f"/proc/{pid}/comm").exists() else ""
                if name == "java" and shutil.which("jstack"):
                    r = subprocess.run(["jstack", str(pid)], capture_output=True, text=True, timeout=60)
                    dumps.append(f"--- jstack {pid} ---\n{r.stdout}{r.stderr}")
                elif name.startswith("python"):
                    os.kill(pid, signal.SIGUSR1)
            time.sleep(3)
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            log.seek(0)
            pytest.fail(f"ImageJ did not finish within {timeout} s: {' '.join(map(str, cmd))}\n--- output ---\n"
                        f"{log.read()[-20000:]}\n" + "\n".join(dumps))
        log.seek(0)
        return rc, log.read()


def _session_pids(sid: int) -> list[int]:
    """The processes of session ``sid`` (Linux /proc)."""
    from _procfs import pids_with

    return pids_with(3, sid)
