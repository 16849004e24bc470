"""Hostile HDF5 files for the tests and scripts/faults_hostile.py: data reached outside the file named."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np


def external_data_files(d: Path, img: np.ndarray) -> list[Path]:
    """Three HDF5 files whose ``data`` lies in other files: an external link, a virtual dataset and
    external raw storage, each pointing at ``img`` (kept in ``secret.h5`` / ``raw.bin`` in ``d``)."""
    secret = d / "secret.h5"
    with h5py.File(secret, "w") as f:
        f["data"] = img
    link = d / "link.h5"
    with h5py.File(link, "w") as f:
        f["data"] = h5py.ExternalLink(str(secret), "data")
    vds = d / "vds.h5"
    layout = h5py.VirtualLayout(shape=img.shape, dtype=img.dtype)
    layout[...] = h5py.VirtualSource(str(secret), "data", shape=img.shape)
    with h5py.File(vds, "w") as f:
        f.create_virtual_dataset("data", layout)
    raw = d / "raw.bin"
    img.astype(np.float32).tofile(raw)
    ext = d / "ext.h5"
    with h5py.File(ext, "w") as f:
        f.create_dataset("data", shape=img.shape, dtype=np.float32, external=[(str(raw), 0, img.size * 4)])
    return [link, vds, ext]
