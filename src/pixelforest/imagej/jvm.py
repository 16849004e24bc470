"""The JVM: ImageJ 1.x through scyjava/JPype, or the JVM a user already has.

Three ways in, one set of ``ij.*`` classes:

* plain Python: :func:`start` starts a JVM with ``net.imagej:ij`` resolved from
  Maven Central (scyjava endpoints, version pinned by :data:`IJ_VERSION`), on
  the system JDK (``JAVA_HOME`` or ``java`` on ``PATH``; a JDK is never
  downloaded), headless by default;
* a pyimagej gateway (``ij = imagejfn.init("/path/to/Fiji.app")``) or Fiji's
  Python mode: the JVM is already running, and :func:`start` just uses it.
"""

from __future__ import annotations

import os
import shutil
import threading
from pathlib import Path

#: pinned ImageJ 1.x version from Maven Central
IJ_VERSION = "1.54p"
MAVEN_CENTRAL = "https://repo.maven.apache.org/maven2"

_lock = threading.Lock()


class JavaNotFoundError(RuntimeError):
    """No usable Java installation."""


def find_java() -> Path:
    """The system ``java`` executable (JAVA_HOME first, then PATH); never downloads one."""
    home = os.environ.get("JAVA_HOME")
    if home:
        exe = Path(home) / "bin" / ("java.exe" if os.name == "nt" else "java")
        if exe.is_file():
            return exe
    exe = shutil.which("java")
    if exe:
        return Path(exe).resolve()
    raise JavaNotFoundError(
        "Java was not found: pixelforest.imagej needs a Java runtime (OpenJDK 11 or newer). "
        "Install one (e.g. `apt install openjdk-17-jdk-headless`) and set JAVA_HOME, "
        "or start ImageJ yourself (pyimagej / Fiji) before calling pixelforest.imagej."
    )


def start(headless: bool = True, ij_version: str = IJ_VERSION, endpoints=(), heap: str | None = None):
    """Start (or reuse) the JVM with ImageJ 1.x; returns the ``ij.IJ`` class.

    If a JVM is already running (pyimagej gateway, Fiji's Python mode, an
    earlier call), it is used as it is; it must have ImageJ 1.x on its
    classpath (Fiji and pyimagej do).
    """
    with _lock:
        import scyjava

        if not scyjava.jvm_started():
            java = find_java()
            os.environ.setdefault("JAVA_HOME", str(java.parent.parent))
            from scyjava import config

            config.set_java_constraints(fetch="never")
            repos = config.get_repositories()
            repos.clear()  # Maven Central only: the SciJava repository is not needed for ImageJ 1.x
            repos["central"] = MAVEN_CENTRAL
            wanted = [f"net.imagej:ij:{ij_version}", *endpoints]
            for e in wanted:
                if e not in config.endpoints:
                    config.endpoints.append(e)
            if headless:
                config.enable_headless_mode()
            if heap:
                config.set_heap_max(heap)
            try:
                scyjava.start_jvm()
            except Exception as e:  # resolution or JVM start failures
                raise RuntimeError(
                    f"could not start ImageJ {ij_version} on {java}: {e}. ImageJ is resolved from Maven Central "
                    f"(cached in ~/.m2 and ~/.jgo after the first run)"
                ) from e
        try:
            return scyjava.jimport("ij.IJ")
        except Exception as e:
            raise RuntimeError(
                "a JVM is running but ImageJ 1.x (ij.IJ) is not on its classpath; start it with "
                "pixelforest.imagej.start() first, or use pyimagej with a Fiji installation"
            ) from e


def jimport(name: str):
    """Import a Java class, starting ImageJ first if no JVM is running."""
    import scyjava

    if not scyjava.jvm_started():
        start()
    return scyjava.jimport(name)


def is_headless() -> bool:
    GraphicsEnvironment = jimport("java.awt.GraphicsEnvironment")
    return bool(GraphicsEnvironment.isHeadless())
