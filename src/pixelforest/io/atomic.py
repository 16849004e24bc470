"""Writing outputs atomically: a temporary name beside the target, renamed over it when complete.

Every writer of pixelforest (results, classifiers, projects, CSV tables, Zarr folders, block
outputs) goes through this module, so an interrupted or failed write never leaves a partial
output, only the complete old one or the complete new one:

* :func:`tmp_for` names the temporary file or folder (``.NAME.tmp-PID`` beside ``NAME``) and
  removes those that killed processes left behind;
* :class:`PendingOutput` is a temporary path that :meth:`~PendingOutput.commit` renames into place
  and :meth:`~PendingOutput.discard` removes; :func:`atomic_output` and :func:`atomic_write_bytes`
  run a write on one;
* :meth:`PendingOutput.failure` turns a failed write into an ``OSError`` naming the target, a full
  disk or a file size limit said as such (whatever the writer raised).
"""

from __future__ import annotations

import errno
import os
import shutil
from pathlib import Path

#: the errors of a write that ran out of room
NO_ROOM = (errno.ENOSPC, errno.EFBIG, errno.EDQUOT)


def tmp_for(path: Path) -> Path:
    """A temporary name beside ``path``; stale ones left by killed processes are removed first."""
    path = Path(path)
    for stale in path.parent.glob(f".{path.name}.tmp-*") if path.parent.exists() else ():
        try:
            pid = int(stale.name.rsplit("-", 1)[1])
        except ValueError:
            continue
        if pid != os.getpid() and not _alive(pid):
            remove(stale)
    return path.with_name(f".{path.name}.tmp-{os.getpid()}")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove(path: Path) -> None:
    """Remove a file or a folder, if there is one (errors ignored: this is clean-up)."""
    path = Path(path)
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        try:
            path.unlink(missing_ok=True)
        except OSError:
            pass


def _disk_full(folder: Path) -> bool:
    """Whether the file system of ``folder`` has (almost) no space left."""
    try:
        return shutil.disk_usage(folder).free < 2**20
    except OSError:
        return False


class PendingOutput:
    """An output being written: ``tmp`` (a file or folder beside ``path``) becomes ``path`` on
    :meth:`commit`, or is removed on :meth:`discard`. ``mkdir``: create the target's folder."""

    def __init__(self, path, mkdir: bool = True):
        self.path = Path(path)
        if mkdir:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self.tmp = tmp_for(self.path)

    def commit(self) -> Path:
        """Rename the complete temporary output over the target (an old folder there is removed first)."""
        if self.path.is_dir() and not self.path.is_symlink():
            shutil.rmtree(self.path)
        os.replace(self.tmp, self.path)
        return self.path

    def discard(self) -> None:
        """Remove the temporary output."""
        remove(self.tmp)

    def failure(self, e: BaseException) -> OSError | None:
        """The error to raise for a write that failed with ``e``, naming the target (None: raise ``e``)."""
        full = isinstance(e, Exception) and _disk_full(self.path.parent)
        # a short write reported by a writer (tifffile: "N requested and M written")
        short = isinstance(e, (ValueError, OSError)) and "requested and" in str(e) and "written" in str(e)
        if short and not full:
            return OSError(errno.EFBIG, f"cannot write {self.path}: the disk is full or the file size limit is "
                                        f"reached ({e})")
        if full or isinstance(e, OSError) and e.errno in NO_ROOM:
            reason = "No space left on device" if full else (e.strerror or str(e))
            return OSError(errno.ENOSPC if full else e.errno, f"cannot write {self.path}: {reason}")
        if isinstance(e, OSError):
            err = type(e)(f"cannot write {self.path}: {e.strerror or e}")
            err.errno = e.errno
            return err
        return None

    def fail(self, e: BaseException):
        """Discard the temporary output and raise what :meth:`failure` says (``e`` itself if nothing)."""
        self.discard()
        err = self.failure(e)
        if err is None:
            raise e
        raise err from None


def atomic_output(path, write, mkdir: bool = True) -> Path:
    """Run ``write(tmp_path)`` then rename to ``path``; remove the temporary output on any failure."""
    out = PendingOutput(path, mkdir)
    try:
        write(out.tmp)
        return out.commit()
    except BaseException as e:
        out.fail(e)


def atomic_write_bytes(path, writer, mkdir: bool = True) -> Path:
    """Call ``writer(fileobj)`` on a temporary file beside ``path`` (synced to disk), then rename it over ``path``."""

    def write(tmp):
        with open(tmp, "wb") as f:
            writer(f)
            f.flush()
            os.fsync(f.fileno())

    return atomic_output(path, write, mkdir)
