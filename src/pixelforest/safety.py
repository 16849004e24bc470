"""Guards against hostile files and unlucky runs, shared by the readers, writers and commands.

* :func:`same_file`: an output path that resolves to an input (the same name, a link to it,
  a hard link) is refused before any work.
* :func:`fingerprint` / :func:`check_unchanged`: an input that changes while it is read (size or
  modification time before and after) fails that file.
* :func:`check_hdf5_links`: external links, virtual datasets and external raw storage in an HDF5
  input or ilastik project would make pixelforest read files other than the one named; they are
  refused unless the caller allows them (``allow_external``, the command line's
  ``--allow-external``).
* :func:`check_chunks`: a compressed HDF5 dataset declaring far more data than its file could
  plausibly expand to (a "chunk bomb") is refused before it is read.
* :func:`memory_limit`: the memory this process may use: the smallest of the memory available
  (``/proc/meminfo``), ``RLIMIT_AS`` / ``RLIMIT_DATA`` and the cgroup (v1 or v2) memory limit.
* :func:`die_with_parent`: a worker process that ends when its parent does (Linux).
"""

from __future__ import annotations

import os
import stat
import threading
from pathlib import Path

#: a compressed HDF5 dataset may declare at most this many times its file's size (deflate's
#: best case is about 1000:1; a probability map of a mostly empty image compresses about 100:1)
MAX_EXPANSION = 2000
#: ... unless it is small enough not to matter
SMALL_DATASET_BYTES = 256 * 2**20

ALLOW_EXTERNAL_ENV = "PIXELFOREST_ALLOW_EXTERNAL"


class ExternalDataError(ValueError):
    """An HDF5 file that refers to data outside itself (refused unless allowed)."""


def allow_external_default() -> bool:
    return os.environ.get(ALLOW_EXTERNAL_ENV, "").strip().lower() in ("1", "true", "yes")


# ----------------------------------------------------------------- same file


def _key(p: Path):
    try:
        st = os.stat(p)
    except OSError:
        return None
    return (st.st_dev, st.st_ino)


def file_keys(p) -> list:
    """What identifies a path's file: its resolved name and, when it exists, its (device, inode)."""
    p = Path(p)
    keys: list = []
    try:
        keys.append(str(p.resolve()))
    except (OSError, RuntimeError):
        keys.append(str(p.absolute()))
    k = _key(p)
    if k is not None:
        keys.append(k)
    return keys


def same_file(a, b) -> bool:
    """Whether paths ``a`` and ``b`` name the same file (resolved, or the same inode)."""
    a, b = Path(a), Path(b)
    try:
        if a.resolve() == b.resolve():
            return True
    except (OSError, RuntimeError):
        pass
    ka, kb = _key(a), _key(b)
    return ka is not None and ka == kb


def check_output_not_input(output, inputs) -> None:
    """Refuse an output that would replace one of ``inputs`` (files; HDF5 ``file.h5/dataset``
    specs are reduced to their file)."""
    from .io.images import parse_source

    for spec in inputs:
        src = parse_source(spec).path
        if same_file(output, src):
            raise ValueError(f"output {output} is the input {spec}: refusing to replace an input; "
                             f"choose another output name or folder")


# ----------------------------------------------------------------- fingerprints


def fingerprint(path) -> tuple | None:
    """(size, mtime_ns, inode) of a file; for a folder (Zarr) its newest entry's, or None."""
    p = Path(path)
    try:
        st = os.stat(p)
    except OSError:
        return None
    if stat.S_ISDIR(st.st_mode):
        newest = st.st_mtime_ns
        total = 0
        for root, _dirs, files in os.walk(p):
            for f in files:
                try:
                    s = os.stat(os.path.join(root, f))
                except OSError:
                    continue
                newest = max(newest, s.st_mtime_ns)
                total += s.st_size
        return (total, newest, st.st_ino)
    return (st.st_size, st.st_mtime_ns, st.st_ino)


def check_unchanged(path, before, what: str = "input") -> None:
    after = fingerprint(path)
    if before != after:
        raise ValueError(f"{path}: the {what} changed while it was being read (size or modification time); "
                         f"its result would mix old and new data, so none was written; run it again when the file "
                         f"is complete")


# ----------------------------------------------------------------- HDF5


def check_hdf5_links(f, path, allow_external: bool | None = None) -> None:
    """Refuse external links, virtual datasets and external raw storage anywhere in the open
    h5py file ``f`` (unless allowed); a file too damaged to scan is an ``ImageReadError``."""
    if allow_external is None:
        allow_external = allow_external_default()
    if allow_external:
        return
    try:
        _scan_links(f, path)
    except ExternalDataError:
        raise
    except (RuntimeError, OSError, KeyError, ValueError, TypeError) as e:  # h5py's errors on a damaged file
        from .io.images import ImageReadError

        raise ImageReadError(f"{path}: damaged HDF5 file ({type(e).__name__}: {e})") from None


def _scan_links(f, path) -> None:
    import h5py

    found: list[str] = []
    seen: set = set()
    stack = [(f, "")]
    while stack and len(found) < 10:  # iterative, each group once: hard-link cycles cannot loop
        group, prefix = stack.pop()
        key = hash(group.id)
        if key in seen:
            continue
        seen.add(key)
        for name in group:
            link = group.get(name, getlink=True)
            full = f"{prefix}/{name}"
            if isinstance(link, h5py.ExternalLink):
                found.append(f"{full} (external link to {link.filename}:{link.path})")
                continue
            if isinstance(link, h5py.SoftLink):  # within the file: its target is visited where it is
                continue
            try:
                obj = group[name]
            except (KeyError, OSError, ValueError):
                continue
            if isinstance(obj, h5py.Group):
                stack.append((obj, full))
            elif isinstance(obj, h5py.Dataset):
                if obj.is_virtual:
                    found.append(f"{full} (virtual dataset)")
                elif obj.external:
                    found.append(f"{full} (external raw storage in {obj.external[0][0]!r})")
    if found:
        raise ExternalDataError(
            f"{path}: refers to data outside the file: {', '.join(found)}; refusing to read other files "
            f"(pass --allow-external, or allow_external=True, if you trust this file)")


def check_chunks(ds, path, file_size: int | None = None) -> None:
    """Refuse a compressed dataset declaring far more data than its file could hold."""
    nbytes = int(ds.size) * ds.dtype.itemsize
    if nbytes <= SMALL_DATASET_BYTES or ds.compression is None and not ds.chunks:
        return
    if file_size is None:
        try:
            file_size = os.path.getsize(ds.file.filename)
        except OSError:
            return
    if ds.compression is None:
        # uncompressed chunks: data that is not in the file reads as the fill value; allow that,
        # it costs no more than the output does
        return
    if nbytes > MAX_EXPANSION * max(file_size, 1):
        raise ValueError(
            f"{path}: dataset {ds.name} declares {nbytes / 2**30:.1f} GiB of compressed data in a file of "
            f"{file_size} bytes (more than {MAX_EXPANSION}:1); refusing it as damaged or hostile")


# ----------------------------------------------------------------- memory


def _read_int(path) -> int | None:
    try:
        with open(path) as fh:
            text = fh.read().strip()
    except OSError:
        return None
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
    try:
        with open(cgroup_file) as fh:
            lines = fh.read().splitlines()
    except OSError:
        return None
    best = None
    for line in lines:
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
        # the limit of this group or any above it
        while True:
            lim = _read_int(d / limit)
            if lim is not None:
                used = _read_int(d / usage) or 0
                room = max(lim - used, 0)
                best = room if best is None else min(best, room)
            if d == base or base not in d.parents:
                break
            d = d.parent
    return best


def _rlimit_room() -> int | None:
    try:
        import resource
    except ImportError:  # pragma: no cover - not Unix
        return None
    room = None
    vm = _vm_size()
    for name in ("RLIMIT_AS", "RLIMIT_DATA"):
        res = getattr(resource, name, None)
        if res is None:
            continue
        soft, _hard = resource.getrlimit(res)
        if soft == resource.RLIM_INFINITY or soft <= 0:
            continue
        used = vm.get("VmSize" if name == "RLIMIT_AS" else "VmData", 0)
        r = max(soft - used, 0)
        room = r if room is None else min(room, r)
    return room


def _vm_size() -> dict:
    out = {}
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith(("VmSize:", "VmData:")):
                    k, v = line.split(":", 1)
                    out[k] = int(v.split()[0]) * 1024
    except (OSError, ValueError):
        pass
    return out


def meminfo_available() -> int:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 2 * 2**30


def memory_limit() -> int:
    """Bytes this process can still allocate: the least of the available memory, its
    ``RLIMIT_AS``/``RLIMIT_DATA`` room and its cgroup's room."""
    vals = [meminfo_available(), _rlimit_room(), _cgroup_limit()]
    return int(min(v for v in vals if v is not None))


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
