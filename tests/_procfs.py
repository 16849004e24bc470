"""What Linux's /proc says of processes: the one reader of it for the tests and scripts/faults*.py."""

from __future__ import annotations

from pathlib import Path


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
