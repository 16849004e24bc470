"""The package version (one place: the package, the .pfc files and the Fiji worker report it).

A string literal on its own line: the Fiji plugin reads it from this file, to check a Python's
pixelforest without importing it (else it imports pixelforest, which takes longer)."""

__version__ = "0.1.0"
