"""Dynamic scheduling of compiled jobs over a few threads.

numba's ``prange`` splits a loop into one fixed share per thread and ends with a barrier: when
another process holds one core, the share of the thread waiting for it holds up the whole loop,
and a feature bank made of dozens of parallel loops pays that wait dozens of times (a small image
most of all: there the waits are most of its time). Here the jobs of a whole feature bank (hole
filling tiles, top-hat radii, blocks of rows of the Gaussian bank; each a serial compiled
function that releases the GIL) are put in one list and the threads take the next job whenever
they finish one: a thread that is kept waiting holds up only the job it has, and the calling
thread takes jobs too, so the work goes on even while the pool's threads are busy elsewhere
(several images computed at once, from Dask's threads or the worker).
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from ...runtime import raise_if_interrupted

_POOL: ThreadPoolExecutor | None = None
_POOL_LOCK = threading.Lock()


def _pool(n: int) -> ThreadPoolExecutor:
    global _POOL
    with _POOL_LOCK:
        if _POOL is None or _POOL._max_workers < n:  # (grows when more threads are allowed)
            _POOL = ThreadPoolExecutor(max_workers=n, thread_name_prefix="pixelforest-jobs")
        return _POOL


def threads() -> int:
    """Threads a bank may use: numba's current setting (``numba.set_num_threads``, NUMBA_NUM_THREADS)."""
    try:
        import numba

        return max(1, int(numba.get_num_threads()))
    except ImportError:  # pragma: no cover
        return 1


class _Jobs:
    def __init__(self, jobs):
        self.jobs = list(jobs)
        self.next = 0
        self.running = 0
        self.error: BaseException | None = None
        self.cond = threading.Condition()

    def work(self, _=None):
        while True:
            with self.cond:
                if self.error is not None or self.next >= len(self.jobs):
                    return
                job = self.jobs[self.next]
                self.jobs[self.next] = None  # (its arguments are freed when it is done)
                self.next += 1
                self.running += 1
            try:
                job()
            except BaseException as e:  # noqa: BLE001 - handed to the caller
                with self.cond:
                    if self.error is None:
                        self.error = e
            finally:
                with self.cond:
                    self.running -= 1
                    self.cond.notify_all()


def run_jobs(jobs, workers: int | None = None) -> None:
    """Run callables, in the order given (callers put the largest first, for balance), on up to
    ``workers`` threads (the calling one included), each thread taking the next job when it
    finishes one. Returns when all are done; the first exception raised by a job is raised here
    (jobs not yet started are dropped)."""
    state = _Jobs(jobs)
    if not state.jobs:
        return
    workers = threads() if workers is None else max(1, int(workers))
    helpers = min(workers, len(state.jobs)) - 1
    if helpers > 0:
        pool = _pool(helpers)
        for _ in range(helpers):
            pool.submit(state.work)  # a helper that starts after the jobs are taken returns at once
    state.work()
    with state.cond:
        while state.running:
            state.cond.wait()
    if state.error is not None:
        raise state.error
    raise_if_interrupted()
