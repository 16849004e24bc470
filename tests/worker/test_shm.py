"""The worker's shared memory: results handed to the plugin are freed without noise."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

pytest.importorskip("appose")

PROBE = """
import sys
import numpy as np
from appose.util import message
message._worker_mode = sys.argv[1] == "worker"  # in the worker, blocks it makes are the plugin side's to free
from pixelforest.worker import shm
nd = shm.to_ndarray(np.arange(12, dtype=np.float32).reshape(3, 4))
name = nd.shm.name
shm.release_pending()
from multiprocessing import resource_tracker
resource_tracker._resource_tracker._stop()  # the tracker reports what it was told, then ends
print(name)
"""


@pytest.mark.skipif(not os.path.isdir("/dev/shm"), reason="POSIX shared memory (/dev/shm) is not here")
@pytest.mark.parametrize("mode", ["worker", "in-process"])
def test_results_are_unlinked_without_the_tracker_complaining(mode):
    """A result block is gone once the plugin has read it, and Python's resource tracker, which
    Appose took the block off when it was made, is not told to forget it twice (it printed a
    KeyError traceback into Fiji's console for every block); called in-process (not in a worker),
    the tracker knows the block and is told it is gone."""
    r = subprocess.run([sys.executable, "-c", PROBE, mode], capture_output=True, text=True, timeout=60, check=True)
    name = r.stdout.split()[-1].lstrip("/")
    assert not os.path.exists(f"/dev/shm/{name}")
    assert not any(w in r.stderr for w in ("KeyError", "Traceback", "leaked")), r.stderr
