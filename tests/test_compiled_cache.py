"""numba's on-disk cache of compiled functions, kept in step with the sources of all of them.

numba keys a cached function on its own file only: a function that calls one defined in another
file keeps the compiled code of that callee, and is loaded from the cache unchanged after the
callee's file changed (a source checkout after ``git pull``). ``drop_stale_cache`` stamps the
cache with a digest of every file holding compiled functions and drops it all when one changed.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

from pixelforest._compiled import CACHE_STAMP, COMPILED_SOURCES, drop_stale_cache


def _touch(path, text="x"):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_a_changed_source_drops_the_cached_functions_of_every_compiled_module(tmp_path):
    sources = ("a.py", "sub/b.py")
    _touch(tmp_path / "a.py", "A = 1\n")
    _touch(tmp_path / "sub" / "b.py", "B = 1\n")
    cache = tmp_path / "__pycache__"
    cached = [_touch(cache / "a.f-3.py311.nbi"), _touch(cache / "a.f-3.py311.1.nbc"),
              _touch(tmp_path / "sub" / "__pycache__" / "b.g-9.py311.nbi")]
    others = [_touch(cache / "a.cpython-311.pyc"), _touch(cache / "c.h-1.py311.nbi")]

    assert drop_stale_cache(tmp_path, sources) is True  # no stamp yet: whatever is there may be stale
    assert not any(p.exists() for p in cached) and all(p.exists() for p in others)
    assert (tmp_path / CACHE_STAMP).is_file()

    for p in cached:  # compiled again, from these sources
        _touch(p)
    assert drop_stale_cache(tmp_path, sources) is False  # nothing changed: the cache stays
    assert all(p.exists() for p in cached)

    (tmp_path / "sub" / "b.py").write_text("B = 2\n")  # b changed: a's functions may hold b's old code
    assert drop_stale_cache(tmp_path, sources) is True
    assert not any(p.exists() for p in cached) and all(p.exists() for p in others)
    assert drop_stale_cache(tmp_path, sources) is False


def test_a_missing_source_or_a_read_only_package_is_left_alone(tmp_path):
    assert drop_stale_cache(tmp_path, ("nowhere.py",)) is False
    assert not (tmp_path / CACHE_STAMP).exists()


def test_the_stamp_covers_every_module_with_compiled_functions():
    """Every module of the package that defines a numba function is one of COMPILED_SOURCES."""
    from pathlib import Path

    import pixelforest

    root = Path(pixelforest.__file__).parent
    compiled = {p.relative_to(root).as_posix() for p in root.rglob("*.py")
                if "njit" in p.read_text(encoding="utf-8")}
    assert compiled <= set(COMPILED_SOURCES), compiled - set(COMPILED_SOURCES)
    assert all((root / rel).is_file() for rel in COMPILED_SOURCES)


_CALLEE = "import numba\n\n@numba.njit(cache=True)\ndef step(x):\n    return x + {}\n"
_CALLER = "import numba\nfrom callee import step\n\n@numba.njit(cache=True)\ndef run(x):\n    return step(x)\n"
_RUN = textwrap.dedent("""
    import sys
    sys.path.insert(0, {root!r})
    from pixelforest._compiled import drop_stale_cache  # (both runs: numba's CPU settings as ours)
    if {stamp}:
        drop_stale_cache({root!r}, ("callee.py", "caller.py"))
    from caller import run
    print(run(1))
""")


def test_real_numba_caller_sees_its_callees_new_code(tmp_path):
    """The hazard itself, with numba: after the callee's file changes, the caller's cached code
    still adds 1 without the stamp, and adds 2 with it."""
    def run(stamp: bool) -> str:
        code = _RUN.format(root=str(tmp_path), stamp=stamp)
        return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                              timeout=300).stdout.strip()

    (tmp_path / "callee.py").write_text(_CALLEE.format(1))
    (tmp_path / "caller.py").write_text(_CALLER)
    assert run(stamp=True) == "2"
    (tmp_path / "callee.py").write_text(_CALLEE.format(2) + "# changed\n")
    assert run(stamp=False) == "2"  # numba alone: the caller's stale code
    assert run(stamp=True) == "3"
