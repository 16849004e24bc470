"""pixelforest.runtime: the memory budget under resource limits, Ctrl-C, and workers that end with their parent.

Resource limits and signals are tried in subprocesses, so this process keeps its own."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pixelforest.runtime import INTERRUPTED, available_memory, check_memory, meminfo_available, raise_if_interrupted

SRC = str(Path(__file__).resolve().parents[1] / "src")
ENV = {**os.environ, "PYTHONPATH": SRC + os.pathsep + os.environ.get("PYTHONPATH", "")}
LINUX = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc and sets Linux resource limits")

MiB = 2**20


def _python(code: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=ENV, timeout=120, **kw)


ROOM_UNDER_LIMITS = r"""
import resource
from pixelforest.runtime import available_memory, check_memory

def vm(key):
    for line in open("/proc/self/status"):
        if line.startswith(key + ":"):
            return int(line.split()[1]) * 1024

for name, used in (("RLIMIT_AS", "VmSize"), ("RLIMIT_DATA", "VmData")):
    res = getattr(resource, name)
    soft, hard = resource.getrlimit(res)
    resource.setrlimit(res, (vm(used) + 300 * 2**20, hard))  # 300 MiB more than this process uses now
    try:
        check_memory(400 * 2**20, "a 400 MiB result")
        refused = "not refused"
    except MemoryError as e:
        refused = str(e)
    check_memory(50 * 2**20, "a 50 MiB result")
    print(name, available_memory(), refused, sep="|")
    resource.setrlimit(res, (soft, hard))  # back up to the hard limit, for the next one
"""


@LINUX
def test_available_memory_honours_lowered_rlimits():
    r = _python(ROOM_UNDER_LIMITS)
    assert r.returncode == 0, r.stderr
    lines = [line.split("|") for line in r.stdout.splitlines()]
    assert [name for name, _, _ in lines] == ["RLIMIT_AS", "RLIMIT_DATA"]
    for name, room, refused in lines:
        assert int(room) <= 300 * MiB, name  # what the limit leaves, not the machine's memory
        if available_memory() > 2**30:  # unless the machine (or cgroup) itself has less to give
            assert int(room) >= 200 * MiB, name
        assert refused.startswith("a 400 MiB result needs 0.4 GiB") and "block by block" in refused, name


def test_memory_figures_are_positive():
    assert meminfo_available() > 0 and available_memory() > 0
    check_memory(1, "one byte")
    with pytest.raises(MemoryError, match="the whole universe needs"):
        check_memory(2**62, "the whole universe")


def test_interrupted_flag():
    assert not INTERRUPTED.is_set()
    raise_if_interrupted()  # nothing to do
    INTERRUPTED.set()
    try:
        with pytest.raises(KeyboardInterrupt):
            raise_if_interrupted()
    finally:
        INTERRUPTED.clear()


INTERRUPT = r"""
import os, signal
from pixelforest.runtime import INTERRUPTED, install_interrupt_handler
install_interrupt_handler(signal.SIGTERM, signal.SIGUSR2)
for sig in (signal.SIGTERM, signal.SIGUSR2):
    INTERRUPTED.clear()
    try:
        os.kill(os.getpid(), sig)
        for _ in range(10**8):  # the handler runs at the next bytecode
            pass
        print("not interrupted")
    except KeyboardInterrupt:
        print("KeyboardInterrupt", INTERRUPTED.is_set())
"""


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_interrupt_handler_raises_and_sets_the_flag():
    r = _python(INTERRUPT)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == ["KeyboardInterrupt True"] * 2


@LINUX
def test_die_with_parent_ends_at_once_under_another_parent():
    r = _python("import os; from pixelforest.runtime import die_with_parent; "
                "die_with_parent(parent=os.getppid() + 1); print('still here')")
    assert r.returncode == 1 and "still here" not in r.stdout


PARENT = r"""
import subprocess, sys
child = subprocess.Popen([sys.executable, "-c", "from pixelforest.runtime import die_with_parent; "
                          "die_with_parent(); print('ready', flush=True); import time; time.sleep(300)"],
                         stdout=subprocess.PIPE, text=True)
assert child.stdout.readline().strip() == "ready"
print(child.pid, flush=True)
import time; time.sleep(300)
"""


def _gone(pid: int) -> bool:
    """Whether process ``pid`` has ended (no longer there, or a zombie nobody reaped yet)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] in ("Z", "X")


@LINUX
def test_worker_ends_with_its_parent():
    parent = subprocess.Popen([sys.executable, "-c", PARENT], stdout=subprocess.PIPE, text=True, env=ENV)
    child = None
    try:
        child = int(parent.stdout.readline())
        assert not _gone(child)
        parent.send_signal(signal.SIGKILL)  # no chance to clean up: the kernel must end the child
        parent.wait(timeout=60)
        deadline = time.monotonic() + 60
        while not _gone(child) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _gone(child)
    finally:
        if parent.poll() is None:
            parent.kill()
        if child is not None and not _gone(child):
            os.kill(child, signal.SIGKILL)
