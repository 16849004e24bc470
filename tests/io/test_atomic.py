"""pixelforest.io.atomic: an output is replaced only when the new one is complete, and a failed
write leaves nothing behind."""

from __future__ import annotations

import errno
import os
import subprocess
import sys

import pytest

from pixelforest.io.atomic import PendingOutput, atomic_output, atomic_write_bytes, remove, tmp_for


def _dead_pid() -> int:
    """The id of a process that has ended."""
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def test_complete_write_replaces_the_old_output(tmp_path):
    target = tmp_path / "out.bin"
    target.write_bytes(b"old")

    def writer(f):
        assert target.read_bytes() == b"old"  # written beside the target, never into it
        f.write(b"new ")
        f.write(b"content")

    assert atomic_write_bytes(target, writer) == target
    assert target.read_bytes() == b"new content"
    assert [p.name for p in tmp_path.iterdir()] == ["out.bin"]


@pytest.mark.parametrize("error", [ValueError("bad value"), KeyboardInterrupt()])
def test_failed_write_leaves_the_old_output_and_nothing_else(tmp_path, error):
    target = tmp_path / "out.bin"
    target.write_bytes(b"old")

    def writer(f):
        f.write(b"half")
        raise error

    with pytest.raises(type(error)) as info:
        atomic_write_bytes(target, writer)
    assert info.value is error  # an error that is not about the disk is raised as it is
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.bin"]
    with pytest.raises(type(error)):
        atomic_write_bytes(tmp_path / "new.bin", writer)
    assert [p.name for p in tmp_path.iterdir()] == ["out.bin"]  # no partial new output either


def test_a_folder_output_replaces_the_old_folder_whole(tmp_path):
    target = tmp_path / "out.zarr"
    target.mkdir()
    (target / "stale-chunk").write_text("old")

    def write(tmp):
        tmp.mkdir()
        (tmp / "0.0").write_text("new")

    atomic_output(target, write)
    assert [p.name for p in target.iterdir()] == ["0.0"] and (target / "0.0").read_text() == "new"

    def fail(tmp):
        tmp.mkdir()
        (tmp / "0.0").write_text("half")
        raise RuntimeError("stopped")

    with pytest.raises(RuntimeError, match="stopped"):
        atomic_output(target, fail)
    assert [p.name for p in target.iterdir()] == ["0.0"] and (target / "0.0").read_text() == "new"
    assert [p.name for p in tmp_path.iterdir()] == ["out.zarr"]


def test_write_errors_name_the_target(tmp_path):
    target = tmp_path / "out.tif"

    def raiser(e):
        def write(tmp):
            tmp.write_bytes(b"part")
            raise e
        return write

    with pytest.raises(OSError, match=f"cannot write {target}: No space left on device") as info:
        atomic_output(target, raiser(OSError(errno.ENOSPC, "No space left on device")))
    assert info.value.errno == errno.ENOSPC
    with pytest.raises(OSError, match="the disk is full or the file size limit is reached") as info:
        atomic_output(target, raiser(ValueError("1000 requested and 10 written")))  # tifffile's short write
    assert info.value.errno == errno.EFBIG
    with pytest.raises(PermissionError, match=f"cannot write {target}: Permission denied") as info:
        atomic_output(target, raiser(PermissionError(errno.EACCES, "Permission denied")))
    assert info.value.errno == errno.EACCES
    assert list(tmp_path.iterdir()) == []


def test_target_folder_made_unless_told_not_to(tmp_path):
    target = tmp_path / "a" / "b" / "t.txt"
    atomic_write_bytes(target, lambda f: f.write(b"x"))
    assert target.read_bytes() == b"x"
    with pytest.raises(FileNotFoundError, match="cannot write"):
        atomic_write_bytes(tmp_path / "missing" / "t.txt", lambda f: f.write(b"x"), mkdir=False)
    assert not (tmp_path / "missing").exists()


def test_tmp_names_and_stale_ones_removed(tmp_path):
    target = tmp_path / "r.h5"
    assert tmp_for(target) == tmp_path / f".r.h5.tmp-{os.getpid()}"
    dead = _dead_pid()
    (tmp_path / f".r.h5.tmp-{dead}").write_text("left by a killed process")
    dead_folder = tmp_path / f".r.h5.tmp-{_dead_pid()}"  # a folder (a Zarr output) left by another
    dead_folder.mkdir()
    (dead_folder / "0.0").write_text("")
    alive = tmp_path / f".r.h5.tmp-{os.getppid()}"  # another process, still running: its write goes on
    alive.write_text("in progress")
    odd = tmp_path / ".r.h5.tmp-abc"
    odd.write_text("not ours")
    other = tmp_path / f".s.h5.tmp-{dead}"  # another target's
    other.write_text("")
    tmp_for(target)
    left = sorted(p.name for p in tmp_path.iterdir())
    assert f".r.h5.tmp-{dead}" not in left and dead_folder.name not in left
    assert {alive.name, odd.name, other.name} <= set(left)


def test_pending_output_commit_and_discard(tmp_path):
    out = PendingOutput(tmp_path / "sub" / "x.csv")
    assert out.tmp.parent == tmp_path / "sub" and out.tmp.name.startswith(".x.csv.tmp-")
    out.tmp.write_text("a,b\n")
    assert out.commit() == tmp_path / "sub" / "x.csv" and not out.tmp.exists()
    again = PendingOutput(tmp_path / "sub" / "x.csv")
    again.tmp.write_text("partial")
    again.discard()
    assert [p.name for p in (tmp_path / "sub").iterdir()] == ["x.csv"]
    assert (tmp_path / "sub" / "x.csv").read_text() == "a,b\n"
    remove(tmp_path / "sub")
    remove(tmp_path / "never-there")  # nothing to remove: no error
    assert list(tmp_path.iterdir()) == []
