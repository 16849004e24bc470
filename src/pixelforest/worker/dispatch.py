"""One request from the plugin: checked against :mod:`.protocol`, handed to its handler, errors made readable."""

from __future__ import annotations

import traceback
from pathlib import Path

from .._version import __version__
from ..features import NonFiniteError
from ..live import Cancelled
from ..runtime import one_line
from . import commands, live_panel
from .lifecycle import watch_parent
from .protocol import REQUESTS
from .shm import release_pending

#: request name -> handler ``fn(task, params, image) -> outputs``: one for each request of the protocol
HANDLERS = {**commands.HANDLERS, **live_panel.HANDLERS}


def handle(task, request: str, params: dict | None = None, image=None) -> None:
    """Entry point of every plugin request; fills ``task.outputs``."""
    watch_parent()
    release_pending()
    params = dict(params or {})
    fn = HANDLERS.get(request)
    if fn is None:
        task.outputs["error"] = (f"unknown request {request!r}; this pixelforest ({__version__}) knows "
                                 f"{sorted(HANDLERS)}")
        return
    missing = REQUESTS[request].missing(params)
    if missing:
        task.outputs["error"] = (f"the plugin sent no {missing[0]!r} for {request!r}: plugin and pixelforest "
                                 f"versions differ?")
        return
    params = {**REQUESTS[request].defaults(), **params}
    try:
        task.outputs.update(fn(task, params, image))
    except Cancelled:
        task.outputs["cancelled"] = True
    except Exception as e:
        task.outputs["error"] = _message(e, request, params)
        task.outputs["trace"] = traceback.format_exc()


def _message(e: Exception, request: str, params: dict) -> str:
    """What went wrong, in one readable message."""
    if isinstance(e, KeyError):
        where = traceback.extract_tb(e.__traceback__)[-1].filename
        if Path(where).parent == Path(__file__).parent:  # a parameter the request needs
            return f"the plugin sent no {e} for {request!r}: plugin and pixelforest versions differ?"
        return f"KeyError: {one_line(e)} is missing (a damaged or unexpected file?)"  # a damaged or hostile file
    if isinstance(e, NonFiniteError):  # in Fiji's words: what to do in ImageJ
        title = str(params.get("title") or "The image")
        return (f"{title} has NaN or infinite pixel values, which no filter can use: replace them first (e.g. "
                f"Process > Noise > Remove NaNs..., or Process > Math > Set... on a selection), then try again")
    if isinstance(e, MemoryError):
        return f"out of memory ({str(e) or 'the request was too large'})"
    if isinstance(e, (ValueError, OSError, TypeError)):  # the user's to fix: a readable message
        return str(e)
    return f"{type(e).__name__}: {one_line(e)}"  # anything else a hostile file provokes: never a raw traceback
