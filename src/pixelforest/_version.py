"""The package version (one place: the package, the .pfc files and the Fiji worker report it)."""

__version__ = "0.1.0"
