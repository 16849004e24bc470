"""Guards against hostile files, shared by the readers, writers and commands.

* :func:`same_file`: an output path that resolves to an input (the same name, a link to it,
  a hard link) is refused before any work.
* :func:`fingerprint` / :func:`check_unchanged`: an input that changes while it is read (size or
  modification time before and after) fails that file; :func:`file_sha256`: a file's content, to
  tell its versions (or a download) apart.
* :func:`check_hdf5_links`: external links, virtual datasets and external raw storage in an HDF5
  input or ilastik project would make pixelforest read files other than the one named; they are
  refused unless the caller allows them (``allow_external``, the command line's
  ``--allow-external``).
* :func:`check_chunks`: a compressed HDF5 dataset declaring far more data than its file could
  plausibly expand to (a "chunk bomb") is refused before it is read.
"""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

from .source import ImageReadError, parse_source

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


def file_sha256(path) -> str:
    """The SHA-256 (hex) of a file's content, read 1 MiB at a time; OSError when it cannot be read."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(2**20), b""):
            h.update(chunk)
    return h.hexdigest()


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
