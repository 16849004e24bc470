"""Processes for the tests and scripts/faults*.py: what Linux's /proc says of them (the one reader of it),
and starting the long prediction that Ctrl-C interrupts."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path


def ctrl_c_reaches_it() -> None:
    """``preexec_fn`` of a child that is sent Ctrl-C (SIGINT): its default action back, so that
    Python in the child turns it into KeyboardInterrupt even where the tests run with SIGINT
    ignored (a background job of a shell without job control: its children inherit the ignored
    SIGINT, and Python then never sees one)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def stat_fields(pid: int) -> list[str] | None:
    """The fields of ``/proc/PID/stat`` after the command name (``[0]`` state, ``[1]`` parent,
    ``[3]`` session, ``[11]`` user CPU ticks), or None when the process is gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def pids_with(field: int, value: int) -> list[int]:
    """The processes whose stat field ``field`` (as :func:`stat_fields` counts) is ``value``."""
    out = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            f = stat_fields(int(d.name))
            try:
                if f is not None and int(f[field]) == value:
                    out.append(int(d.name))
            except (IndexError, ValueError):
                pass
    return out


def children(pid: int) -> list[int]:
    return pids_with(1, pid)


def alive(pid: int) -> bool:
    f = stat_fields(pid)
    return f is not None and f[0] != "Z"


def cpu_seconds(pid: int) -> float | None:
    """CPU time (user + system) a process has used so far, or None when it is gone."""
    f = stat_fields(pid)
    return None if f is None else (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")


def start_in_forest(cmd: list[str], warm_cmd: list[str], *, margin: float = 1.0, timeout: float = 120, **popen):
    """Start ``cmd`` (a long prediction) and return it once it is surely in the forest's loop, with
    whether it is still running: first ``warm_cmd`` (the same command with a forest of a few
    trees) is run to the end, and its CPU time is what ``cmd`` spends before its forest (imports,
    reading, features); ``cmd`` is then waited for until it has used ``margin`` CPU seconds more.
    No fixed sleep: a fast machine does not finish the prediction first, a slow one does not
    signal it while it is still importing."""
    warm = subprocess.Popen(warm_cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            **{k: v for k, v in popen.items() if k == "env"})
    err = warm.stderr.read()
    _, status, usage = os.wait4(warm.pid, 0)  # its own CPU time, not every child's reaped meanwhile
    warm.returncode = os.waitstatus_to_exitcode(status)
    warm.stderr.close()
    if warm.returncode != 0:
        why = err.decode(errors="replace").strip()[-300:]
        raise RuntimeError(f"the warm-up command failed ({warm.returncode}): {why}")
    before = usage.ru_utime + usage.ru_stime
    proc = subprocess.Popen(cmd, **popen)
    deadline = time.time() + timeout
    while time.time() < deadline and proc.poll() is None:
        used = cpu_seconds(proc.pid)
        if used is not None and used >= before + margin:
            break
        time.sleep(0.05)
    return proc, proc.poll() is None


def start_long_prediction(d: Path, cli: list[str], model: Path, clf, img, **popen):
    """``cli predict`` with 10,000 trees (the most a file may hold: ``clf``'s forest 2500 times)
    over ``img`` tiled 32 x 32 (1536 x 1536 for a 48 x 48 image: about 15 s on a quiet 2-core
    machine), its output ``d/o.h5``, started by :func:`start_in_forest` (warmed by the same
    command with ``model``) so that Ctrl-C reaches it (:func:`ctrl_c_reaches_it`); ``(proc,
    running)``."""
    import numpy as np

    import pixelforest as pf
    from pixelforest.forest import concat

    big = pf.Classifier(clf.spec, concat([clf.forest] * 2500), clf.class_names, clf.class_colors, 1, 2)
    pf.save(big, d / "big.pfc")
    np.save(d / "im.npy", np.tile(img, (32, 32)))
    im = str(d / "im.npy")
    return start_in_forest(cli + ["predict", str(d / "big.pfc"), im, "-o", str(d / "o.h5"), "-q"],
                           cli + ["predict", str(model), im, "-o", str(d / "warm.h5"), "-q"],
                           preexec_fn=ctrl_c_reaches_it, **popen)
