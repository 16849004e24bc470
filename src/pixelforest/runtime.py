"""What this process may use and how it is stopped: the memory budget and interruption.

* :func:`available_memory`: the memory this process may use: the smallest of the memory available
  (``/proc/meminfo``), ``RLIMIT_AS`` / ``RLIMIT_DATA`` and the cgroup (v1 or v2) memory limit;
  :func:`check_memory` refuses, before allocating, what does not fit.
* :data:`INTERRUPTED`, :func:`raise_if_interrupted`, :func:`install_interrupt_handler`: Ctrl-C.
* :func:`die_with_parent`: a worker process that ends when its parent does (Linux).
"""

from __future__ import annotations

import functools
import os
import threading
from pathlib import Path

# ----------------------------------------------------------------- memory


def _read_text(path) -> str | None:
    """A small file's text (os-level reads: these files are read before every large allocation)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        chunks = []
        while True:
            b = os.read(fd, 65536)
            if not b:
                break
            chunks.append(b)
        return b"".join(chunks).decode("utf-8", "surrogateescape")  # (a path in it round-trips)
    except OSError:
        return None
    finally:
        os.close(fd)


def _read_int(path) -> int | None:
    text = _read_text(path)
    if text is None:
        return None
    text = text.strip()
    if not text or text == "max":
        return None
    try:
        v = int(text.split()[0])
    except ValueError:
        return None
    return v if 0 < v < 2**62 else None


def _cgroup_limit(cgroup_file="/proc/self/cgroup", root="/sys/fs/cgroup") -> int | None:
    """The memory this process's cgroup (and those above it) may still use: v2 ``memory.max`` -
    ``memory.current``, v1 ``memory.limit_in_bytes`` - ``memory.usage_in_bytes``; None when unlimited."""
    text = _read_text(cgroup_file)
    if text is None:
        return None
    best = None
    for limit, usage in _cgroup_files(text, str(root)):
        lim = _read_int(limit)
        if lim is not None:
            room = max(lim - (_read_int(usage) or 0), 0)
            best = room if best is None else min(best, room)
    return best


@functools.lru_cache(maxsize=8)
def _cgroup_files(cgroup_text: str, root: str) -> tuple[tuple[str, str], ...]:
    """The (limit, usage) files of the memory cgroups named in ``/proc/self/cgroup``'s text, each
    group and those above it (kept: every array a feature bank allocates is checked)."""
    files = []
    for line in cgroup_text.splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        _, controllers, rel = parts
        rel = rel.lstrip("/")
        if controllers == "":  # v2
            base = Path(root)
            limit, usage = "memory.max", "memory.current"
        elif "memory" in controllers.split(","):
            base = Path(root) / "memory"
            limit, usage = "memory.limit_in_bytes", "memory.usage_in_bytes"
        else:
            continue
        d = base / rel
        while True:  # the limit of this group or any above it
            files.append((str(d / limit), str(d / usage)))
            if d == base or base not in d.parents:
                break
            d = d.parent
    return tuple(files)


def _rlimit_room() -> int | None:
    try:
        import resource
    except ImportError:  # pragma: no cover - not Unix
        return None
    room = None
    vm = None
    for name in ("RLIMIT_AS", "RLIMIT_DATA"):
        res = getattr(resource, name, None)
        if res is None:
            continue
        soft, _hard = resource.getrlimit(res)
        if soft == resource.RLIM_INFINITY or soft <= 0:
            continue
        vm = _vm_size() if vm is None else vm  # (read only when a limit is set)
        used = vm.get("VmSize" if name == "RLIMIT_AS" else "VmData", 0)
        r = max(soft - used, 0)
        room = r if room is None else min(room, r)
    return room


def _vm_size() -> dict:
    out = {}
    try:
        for line in (_read_text("/proc/self/status") or "").splitlines():
            if line.startswith(("VmSize:", "VmData:")):
                k, v = line.split(":", 1)
                out[k] = int(v.split()[0]) * 1024
    except ValueError:
        pass
    return out


def meminfo_available() -> int:
    text = _read_text("/proc/meminfo") or ""
    for line in text.splitlines():
        if line.startswith("MemAvailable:"):
            try:
                return int(line.split()[1]) * 1024
            except (ValueError, IndexError):
                break
    return 2 * 2**30


def available_memory() -> int:
    """Bytes this process can still allocate: the least of the available memory, its
    ``RLIMIT_AS``/``RLIMIT_DATA`` room and its cgroup's room."""
    vals = [meminfo_available(), _rlimit_room(), _cgroup_limit()]
    return int(min(v for v in vals if v is not None))


def check_memory(nbytes: int, what: str) -> None:
    """Refuse, before allocating, a request larger than the memory available now."""
    avail = available_memory()
    if nbytes > avail:
        raise MemoryError(
            f"{what} needs {nbytes / 2**30:.1f} GiB but only {avail / 2**30:.1f} GiB of memory are available; "
            f"predict it block by block into a file instead (pixelforest batch ... --output-format hdf5 or zarr, "
            f"or Classifier.predict_canonical(LazyImage(...), out=BlockOutput(...)))"
        )


def one_line(e: BaseException) -> str:
    """An exception's message as one line (its first non-empty one), for the command line's and the
    Fiji worker's errors; the exception's type when it has no message."""
    lines = [ln for ln in str(e).strip().splitlines() if ln.strip()]
    return lines[0] if lines else type(e).__name__


# ----------------------------------------------------------------- processes


#: set by the command line's Ctrl-C (and a --jobs worker's SIGTERM) handler. A KeyboardInterrupt
#: raised while numba compiles a kernel is swallowed inside llvmlite's callbacks, so long-running
#: steps also check this flag after every compiled kernel and between blocks.
INTERRUPTED = threading.Event()


def raise_if_interrupted() -> None:
    if INTERRUPTED.is_set():
        raise KeyboardInterrupt


def install_interrupt_handler(*signums) -> None:
    """Make ``signums`` raise KeyboardInterrupt and set :data:`INTERRUPTED` (main thread only)."""
    import signal

    def handler(signum, frame):
        INTERRUPTED.set()
        raise KeyboardInterrupt

    for s in signums:
        signal.signal(s, handler)


def die_with_parent(parent: int | None = None) -> None:
    """Ask the kernel to end this process when its parent ends (Linux ``PR_SET_PDEATHSIG``);
    elsewhere a thread watches the parent's id. ``parent``: the pid the parent had when it started
    this process; if the process's parent is another one by now, it ends at once."""
    import signal
    import sys

    if parent is not None and os.getppid() != parent:
        os._exit(1)
    parent = os.getppid() if parent is None else parent
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            PR_SET_PDEATHSIG = 1
            if libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) == 0:
                if os.getppid() != parent:  # the parent ended before the call
                    os._exit(1)
                return
        except (OSError, AttributeError):
            pass
    import threading
    import time

    def watch():
        while True:
            if os.getppid() != parent:
                os._exit(1)
            time.sleep(0.5)

    threading.Thread(target=watch, daemon=True).start()
