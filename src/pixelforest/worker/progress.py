"""A request's Appose task as the engine sees it: progress callbacks that also notice cancellation."""

from __future__ import annotations

from ..live import Cancelled


def progress(task, what: str):
    """A ``progress(done, total)`` callback: reports to ImageJ's progress bar, raises :class:`Cancelled` on Esc."""
    def cb(done, total):
        if task is not None:
            task.update(f"{what} {done}/{total}", done, total)
            if cancelled(task)():
                raise Cancelled(what)

    return cb


def cancelled(task):
    """A ``cancelled()`` check for the engine: whether the plugin asked to cancel the task."""
    return lambda: bool(getattr(task, "cancel_requested", False))
