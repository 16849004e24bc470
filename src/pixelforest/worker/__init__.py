"""The Python service behind the Fiji plugin (an Appose worker).

The plugin starts one long-lived worker (``python -c "import
appose.python_worker; appose.python_worker.main()"``) and sends each request
as a small script::

    import pixelforest.worker as _pfw
    _pfw.handle(task, request, params, image)

``image`` is an Appose ``NDArray`` in shared memory, laid out as ImageJ
stores it: ``(T, Z, C, Y, X)`` (RGB split into 3 channels). Results go back
the same way, in ``task.outputs``. Classifiers and computed features stay
cached in this process between calls. Errors the user can fix come back as
``outputs["error"]`` (a readable message); cancellation (Esc in ImageJ) as
``outputs["cancelled"]``.

The parts: :mod:`.protocol` (every request, its parameters and outputs), :mod:`.dispatch`
(``handle``), :mod:`.commands` and :mod:`.live_panel` (the requests of the commands and of the
Live Training panel), :mod:`.cache` (features, classifiers and live sessions kept between
requests), :mod:`.shm` (images in shared memory), :mod:`.lifecycle` (the process: ends with
ImageJ, warms up) and :mod:`.progress` (progress and cancellation).
"""

from .dispatch import HANDLERS, handle

__all__ = ["HANDLERS", "handle"]
