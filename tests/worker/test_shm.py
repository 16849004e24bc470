"""The worker's shared memory: results handed to the plugin are freed without noise."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

pytest.importorskip("appose")

PROBE = """
import numpy as np
from appose.util import message
message._worker_mode = True  # as in the worker: blocks it makes are the plugin side's to free
from pixelforest.worker import shm
nd = shm.to_ndarray(np.arange(12, dtype=np.float32).reshape(3, 4))
name = nd.shm.name
shm.release_pending()
from multiprocessing import resource_tracker
resource_tracker._resource_tracker._stop()  # the tracker reports what it was told, then ends
print(name)
"""


@pytest.mark.skipif(not os.path.isdir("/dev/shm"), reason="POSIX shared memory (/dev/shm) is not here")
def test_results_are_unlinked_without_the_tracker_complaining():
    """A result block is gone once the plugin has read it, and Python's resource tracker, which
    Appose took the block off when it was made, is not told to forget it twice (it printed a
    KeyError traceback into Fiji's console for every block)."""
    r = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=60, check=True)
    name = r.stdout.split()[-1].lstrip("/")
    assert not os.path.exists(f"/dev/shm/{name}")
    assert "KeyError" not in r.stderr and "Traceback" not in r.stderr, r.stderr
