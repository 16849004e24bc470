"""The worker process itself: it ends with ImageJ, warms its kernels up, and reports its memory."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import numpy as np

from ..features import DEFAULT_FEATURES
from ..training import train
from .shm import release_pending

#: the process that started this worker (ImageJ/Fiji): its requests are the only ones this worker
#: serves (Appose talks over this process's stdin/stdout pipes, nothing else listens)
PARENT_PID = os.getppid()
_watch_started = False


def watch_parent(interval: float = 1.0) -> None:
    """Exit when the parent has gone (ImageJ killed or crashed mid-task), leaving no orphan behind.

    Without a parent, stdin closes and Appose ends its loop, but a task that is running would
    go on to its end; this daemon thread stops the process within ``interval`` seconds instead.
    The first call also starts :func:`warm_up`."""
    global _watch_started
    if _watch_started:
        return
    _watch_started = True
    import faulthandler
    import signal
    import threading

    if hasattr(signal, "SIGUSR1"):  # `kill -USR1 PID`: every thread's stack to stderr (ImageJ's debug log)
        faulthandler.register(signal.SIGUSR1, file=sys.stderr, all_threads=True)

    def run():
        while True:
            time.sleep(interval)
            if os.getppid() != PARENT_PID:
                release_pending()
                os._exit(0)

    threading.Thread(target=run, name="pixelforest-parent-watch", daemon=True).start()
    threading.Thread(target=warm_up, name="pixelforest-warm-up", daemon=True).start()


def warm_up() -> None:
    """Loads the compiled kernels the first commands need (the default features in 2D, training,
    prediction) on a tiny image while the user is still choosing: a request that comes meanwhile
    waits for a kernel being loaded instead of loading it again, and later ones find them ready."""
    try:
        rng = np.random.default_rng(0)
        img = rng.random((64, 64), dtype=np.float32)
        lab = np.zeros(img.shape, np.uint8)
        lab[10:14, 10:30], lab[40:44, 10:30] = 1, 2
        clf = train(img, lab, features=DEFAULT_FEATURES, trees=4, seed=0)
        clf.predict(img)
    except Exception:  # a warm-up only: any real problem is reported by the request that meets it
        pass


def rss_kb() -> int:
    """This process's resident memory (kB); its peak where /proc is missing."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    import resource

    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
