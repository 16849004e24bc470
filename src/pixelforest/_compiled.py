"""What pixelforest's compiled (numba) kernels share: whether numba is there, a safe way to launch
a parallel kernel, and a compiled argsort used by hole filling and the forest's trainer."""

from __future__ import annotations

import threading

import numpy as np

from .runtime import raise_if_interrupted


def _wide_vectors(numba) -> None:
    """Let LLVM use 512-bit vectors where the CPU has AVX-512. For such CPUs LLVM prefers 256-bit
    ones unless told otherwise; our filters' loops (float64 sums of float32 rows, top-hats'
    comparisons) then run at half the width they could. The results are the same bit for bit
    (the same operations, elementwise, in the same order; no fast-math). Left alone when the
    user chose numba's CPU (``NUMBA_CPU_NAME`` / ``NUMBA_CPU_FEATURES``, e.g. for a cache shared
    between machines), with ``PIXELFOREST_WIDE_VECTORS=0``, or when a numba function was already
    defined in this process (another numba-based library imported first: numba made its code
    generator then, and a setting now would be reported but not used). numba's cache keys hold
    the features, so code compiled either way is never mixed up."""
    import os
    import platform

    if (os.environ.get("PIXELFOREST_WIDE_VECTORS", "1") == "0" or numba.config.CPU_NAME is not None
            or numba.config.CPU_FEATURES is not None or platform.machine().lower() not in ("x86_64", "amd64")):
        return
    try:
        from numba.core.codegen import get_host_cpu_features
        from numba.core.registry import cpu_target

        if "_toplevel_target_context" in vars(cpu_target):  # (made at the first numba function defined)
            return
        features = get_host_cpu_features()
    except Exception:  # noqa: BLE001 - no features known: numba's own choice stands  # pragma: no cover
        return
    if "+avx512f" in features.split(","):
        numba.config.CPU_FEATURES = features + ",-prefer-256-bit"


#: the modules holding compiled functions, relative to the package. numba stamps a cached function
#: with its own file only: one that calls (and has compiled in) a function of another of these
#: files would be loaded from the cache unchanged after that file changed (a source checkout
#: after ``git pull``, or an upgrade that left the caller's file as it was)
COMPILED_SOURCES = ("_compiled.py", "_trainer.py", "forest.py", "features/_kernels/bank2d.py",
                    "features/_kernels/filters.py", "features/_kernels/holes.py")
_STAMPED: dict = {}  # package root -> digest of its compiled sources


def stamp_sources(root=None, sources=COMPILED_SOURCES) -> bool:
    """Make numba's cache stamp of every function defined in a file under ``root`` (default: this
    package) also hold a digest of all ``sources`` (paths relative to ``root``), so that a change
    to any of them makes numba compile each such function again instead of loading it. The
    cached code of a process started before the change carries the old digest, so it is never
    taken afterwards either, and whichever cache directory numba uses (beside the sources,
    ``~/.cache``, ``NUMBA_CACHE_DIR``) is covered. Must run before those functions are defined
    (numba takes the stamp then). False, leaving numba's own stamps, when a source cannot be read
    or numba has no such hook."""
    import hashlib
    from pathlib import Path

    try:
        from numba.core import caching

        mixin = caching._SourceFileBackedLocatorMixin
        mixin.get_source_stamp  # noqa: B018 - (the hook must exist)
    except (ImportError, AttributeError):  # pragma: no cover - another numba
        return False
    root = (Path(__file__).parent if root is None else Path(root)).resolve()
    digest = hashlib.sha256()
    try:
        for rel in sources:
            digest.update(rel.encode() + b"\0" + (root / rel).read_bytes() + b"\0")
    except OSError:
        return False
    _STAMPED[root] = digest.hexdigest()
    if not getattr(mixin.get_source_stamp, "_pixelforest", False):
        own = mixin.get_source_stamp

        def get_source_stamp(self):
            stamp = own(self)
            try:
                path = Path(self._py_file).resolve()
            except (AttributeError, OSError, TypeError):  # pragma: no cover - not a file-backed function
                return stamp
            for r, d in _STAMPED.items():
                if path.is_relative_to(r):
                    return (stamp, d)
            return stamp

        get_source_stamp._pixelforest = True
        mixin.get_source_stamp = get_source_stamp
    return True


try:
    import numba

    _wide_vectors(numba)
    stamp_sources()
    HAVE_NUMBA = True
    njit = numba.njit
except ImportError:  # pragma: no cover - numba is a dependency; this runs the same code (slowly) in Python
    HAVE_NUMBA = False

    def njit(*args, **kwargs):
        return args[0] if args and callable(args[0]) else (lambda f: f)


#: options of compiled helpers that allocate nothing and return no array (they read and write
#: arrays their caller holds): numba then keeps no reference counts in them, so a row view they
#: take costs nothing instead of two atomic operations (which were half the time of the feature
#: bank on a 128-pixel-wide image). A helper that allocated would fail to compile, not misbehave.
BORROWING: dict = {}
if HAVE_NUMBA:
    try:
        from numba.core.cpu import CPUTargetOptions

        if hasattr(CPUTargetOptions, "_nrt"):
            BORROWING = {"_nrt": False}
    except ImportError:  # pragma: no cover - another numba layout: the helpers keep their reference counts
        pass

_LOCK = threading.Lock()
_threadsafe: bool | None = None  # known after the first parallel launch


def parallel_call(kernel, *args):
    """Run a ``parallel=True`` kernel. numba's fallback ``workqueue`` threading layer (used when
    neither OpenMP nor TBB is available) aborts the process when two Python threads launch
    parallel kernels at once (Dask's threads, two requests in the Fiji worker); then launches are
    taken one at a time. With OpenMP or TBB they run concurrently."""
    global _threadsafe
    if _threadsafe:
        out = kernel(*args)
    else:
        with _LOCK:
            out = kernel(*args)
            if _threadsafe is None:
                _threadsafe = numba.threading_layer() in ("omp", "tbb")
    raise_if_interrupted()  # a Ctrl-C swallowed while the kernel was compiled or ran
    return out


@njit(cache=True, nogil=True)
def order_key(b):  # pragma: no cover - compiled
    """A float32's bit pattern (uint32) as an unsigned key in the float's order: the sign bit flipped
    for >= 0, all bits for < 0 (never 0 for a number)."""
    return (b ^ np.uint32(0xFFFFFFFF)) if (b >> np.uint32(31)) else (b | np.uint32(0x80000000))


@njit(cache=True, nogil=True)
def argsort(v):  # pragma: no cover - compiled
    """Ascending argsort of a flat float32 array: LSD radix sort (11-11-10 bits) of its bit
    pattern made order-preserving (:func:`order_key`)."""
    n = v.size
    bits = v.view(np.uint32)
    keys = np.empty(n, np.uint32)
    for i in range(n):
        keys[i] = order_key(bits[i])
    idx = np.arange(n).astype(np.int32)
    tmp = np.empty(n, np.int32)
    cnt = np.empty(2049, np.int64)
    for shift in (0, 11, 22):
        cnt[:] = 0
        for i in range(n):
            cnt[((keys[idx[i]] >> np.uint32(shift)) & np.uint32(2047)) + 1] += 1
        for j in range(2048):
            cnt[j + 1] += cnt[j]
        for i in range(n):
            k = (keys[idx[i]] >> np.uint32(shift)) & np.uint32(2047)
            tmp[cnt[k]] = idx[i]
            cnt[k] += 1
        idx, tmp = tmp, idx
    return idx
