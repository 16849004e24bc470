"""numba's on-disk cache of compiled functions, kept in step with the sources of all of them.

numba stamps a cached function with its own file only: a function that calls one defined in
another file has that callee compiled in, and is loaded from the cache unchanged after the
callee's file changed (a source checkout after ``git pull``). ``stamp_sources`` adds a digest of
every file holding compiled functions to those stamps. These tests run real numba in fresh
processes on a two-file package of their own.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time

from pixelforest._compiled import COMPILED_SOURCES, stamp_sources

_CALLEE = "import numba\n\n@numba.njit(cache=True)\ndef step(x):\n    return x + {}\n"
_CALLER = "import numba\nfrom callee import step\n\n@numba.njit(cache=True)\ndef run(x):\n    return step(x)\n"
_RUN = textwrap.dedent("""
    import os, sys, time
    sys.path.insert(0, {root!r})
    from pixelforest._compiled import stamp_sources  # (every run: numba's CPU settings as ours)
    if {stamp}:
        assert stamp_sources({root!r}, ("callee.py", "caller.py"))
    from caller import run
    print(run(1), flush=True)
    if {wait!r}:  # a process started before the change, going on after it
        while not os.path.exists({wait!r}):
            time.sleep(0.05)
        print(run(1.0), flush=True)
""")


def _package(root, add):
    (root / "callee.py").write_text(_CALLEE.format(add))
    (root / "caller.py").write_text(_CALLER)


def _start(root, stamp: bool, wait: str = ""):
    return subprocess.Popen([sys.executable, "-c", _RUN.format(root=str(root), stamp=stamp, wait=wait)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _run(root, stamp: bool) -> list[str]:
    p = _start(root, stamp)
    out, err = p.communicate(timeout=300)
    assert p.returncode == 0, err
    return out.split()


def _change_callee(root):
    _package(root, 2)
    with open(root / "callee.py", "a") as fh:
        fh.write("# changed\n")


def test_numba_alone_keeps_a_callers_stale_code(tmp_path):
    """The hazard, with numba's own stamps: after the callee's file changes, the caller (its own
    file unchanged) still adds 1."""
    _package(tmp_path, 1)
    assert _run(tmp_path, stamp=False) == ["2"]
    _change_callee(tmp_path)
    assert _run(tmp_path, stamp=False) == ["2"]


def test_stamped_caller_sees_its_callees_new_code(tmp_path):
    _package(tmp_path, 1)
    assert _run(tmp_path, stamp=True) == ["2"]
    assert _run(tmp_path, stamp=True) == ["2"]  # (from the cache)
    _change_callee(tmp_path)
    assert _run(tmp_path, stamp=True) == ["3"]


def test_a_process_from_before_the_change_cannot_bring_its_code_back(tmp_path):
    """A process started before the change (the Fiji worker, a long batch) compiles and caches a
    new specialisation of the unchanged caller afterwards, with the old callee in it: the processes
    started after the change do not take it."""
    _package(tmp_path, 1)
    go = tmp_path / "go"
    old = _start(tmp_path, stamp=True, wait=str(go))
    assert old.stdout.readline().strip() == "2"
    _change_callee(tmp_path)
    assert _run(tmp_path, stamp=True) == ["3"]
    go.touch()
    out, err = old.communicate(timeout=300)
    assert old.returncode == 0, err
    assert out.split() == ["2.0"]  # the old process, as it was: it saved run(float) with the old step
    time.sleep(0.01)
    assert _run(tmp_path, stamp=True) == ["3"]
    p = subprocess.run([sys.executable, "-c", _RUN.format(root=str(tmp_path), stamp=True, wait="")
                        .replace("print(run(1), flush=True)", "print(run(1.0), flush=True)")],
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    assert p.stdout.split() == ["3.0"]


def test_a_missing_source_leaves_numbas_stamps_alone(tmp_path):
    assert stamp_sources(tmp_path, ("nowhere.py",)) is False


def test_the_stamp_covers_every_module_with_compiled_functions():
    """Every module of the package that defines a numba function is one of COMPILED_SOURCES."""
    from pathlib import Path

    import pixelforest

    root = Path(pixelforest.__file__).parent
    compiled = {p.relative_to(root).as_posix() for p in root.rglob("*.py")
                if "njit" in p.read_text(encoding="utf-8")}
    assert compiled <= set(COMPILED_SOURCES), compiled - set(COMPILED_SOURCES)
    assert all((root / rel).is_file() for rel in COMPILED_SOURCES)
