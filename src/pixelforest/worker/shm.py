"""Images crossing between ImageJ and the worker in shared memory (Appose NDArrays), and their clean-up."""

from __future__ import annotations

import functools

import numpy as np

#: NDArrays handed to the plugin, freed on the next request (it has read them by then)
PENDING: list = []


def image_from(image) -> np.ndarray:
    """The request's (T, Z, C, Y, X) shared-memory image -> a (T, Z, Y, X, C) numpy copy."""
    if image is None:
        raise ValueError("no image was sent to the worker")
    a = image.ndarray()
    if a.ndim != 5:
        raise ValueError(f"expected a (T, Z, C, Y, X) image, got shape {a.shape}")
    return np.ascontiguousarray(np.moveaxis(a, 2, -1))


def to_ndarray(arr: np.ndarray):
    """A new shared-memory Appose NDArray holding ``arr`` (freed on the next request)."""
    import appose

    nd = appose.NDArray(str(arr.dtype), list(arr.shape))
    nd.ndarray()[...] = arr
    PENDING.append(nd)
    return nd


def release_pending() -> None:
    """Frees the shared memory of results the plugin has read: unmapped here (Appose's dispose()
    only unlinks the name, and the mapping would stay in this process: a round's result each
    time), then unlinked."""
    for nd in PENDING:
        for free in (nd.shm.close, functools.partial(_unlink, nd.shm)):
            try:
                free()
            except Exception:  # already gone, or a view still open (then it goes with the view)
                pass
    PENDING.clear()


def _unlink(shm) -> None:
    """Unlinks a block this worker made. In a worker, Appose took it off Python's resource tracker
    when it was made (the plugin's side frees what is left at the end), and ``SharedMemory.unlink``
    would tell the tracker to forget it again: the tracker then printed a KeyError traceback to
    the console for every block (Python < 3.13 has no ``track=False``). Outside a worker (the
    handlers called in-process) the tracker knows the block, and ``unlink`` tells it."""
    from multiprocessing import shared_memory

    try:
        from appose.util import message

        untracked = bool(message._worker_mode)
    except (ImportError, AttributeError):  # another Appose: its blocks are the tracker's, as Python's
        untracked = False
    posix = getattr(shared_memory, "_posixshmem", None)
    if untracked and getattr(shared_memory, "_USE_POSIX", False) and posix is not None:
        posix.shm_unlink(shm._name)
    else:  # (on Windows the name goes with its last handle)
        shm.unlink()
