"""The command line: train / predict / info on real files, ilastik spellings and naming."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import h5py
import numpy as np
import pytest
import tifffile

from pixelforest.cli import main


@pytest.fixture
def files(tmp_path, blobs2d, blobs_labels):
    img = tmp_path / "cells.tif"
    lab = tmp_path / "cells_labels.tif"
    tifffile.imwrite(img, blobs2d)
    tifffile.imwrite(lab, blobs_labels)
    return tmp_path, img, lab


def test_train_info_predict(files, capsys):
    d, img, lab = files
    model = d / "m.pfc"
    assert main(["train", str(img), "--labels", str(lab), "--features", "minimal", "--classes", "blob,bg",
                 "--trees", "20", "--seed", "1", "-o", str(model), "-q"]) == 0
    out = capsys.readouterr().out
    assert "saved" in out and "['blob', 'bg']" in out and "OOB error" in out
    assert main(["info", str(model), "-v"]) == 0
    info = capsys.readouterr().out
    assert "classes (2): blob" in info and "[0] Gaussian Smoothing (σ=0.3) in 2D" in info
    assert "out-of-bag error:" in info
    # default ilastik naming next to the input, HDF5 exported_data
    assert main(["predict", str(model), str(img), "-q"]) == 0
    out_file = d / "cells_Probabilities.h5"
    with h5py.File(out_file, "r") as f:
        p = f["exported_data"][()]
        assert [a["key"] for a in json.loads(f["exported_data"].attrs["axistags"])["axes"]] == ["y", "x", "c"]
    assert p.shape == (96, 120, 2) and p.dtype == np.float32
    import pixelforest as pf

    assert np.array_equal(p, pf.load(model).predict(tifffile.imread(img)))


def test_ilastik_spellings_and_placeholders(files):
    d, img, lab = files
    model = d / "m.pfc"
    assert main(["train", str(img), "--labels", str(lab), "--features", "minimal", "--trees", "5", "-o", str(model),
                 "-q"]) == 0
    fmt = str(d / "out" / "{nickname}-{result_type}")
    assert main(["predict", str(model), "--raw_data", str(img), "--export_source", "Simple Segmentation",
                 "--output_format", "compressed hdf5", "--output_filename_format", fmt,
                 "--output_internal_path", "seg", "-q"]) == 0
    with h5py.File(d / "out" / "cells-Simple Segmentation.h5", "r") as f:
        seg = f["seg"][()]
        assert f["seg"].compression == "gzip"
    assert seg.dtype == np.uint8 and seg.shape == (96, 120, 1) and set(np.unique(seg)) <= {1, 2}
    for src, fmt_name, ext in [("uncertainty", "tiff", ".tiff"), ("features", "npy", ".npy")]:
        assert main(["predict", str(model), str(img), "--export-source", src, "--output-format", fmt_name,
                     "-o", str(d / "o") + "/", "-q"]) == 0
        name = {"uncertainty": "Uncertainty", "features": "Features"}[src]
        assert (d / "o" / f"cells_{name}{ext}").exists()
    assert np.load(d / "o" / "cells_Features.npy").shape[-1] == 9


def test_train_from_ilp_and_predict(ilastik_tests, tmp_path, capsys):
    model = tmp_path / "from_ilp.pfc"
    assert main(["train", "--labels", str(ilastik_tests / "PixelClassification5t2d1c.ilp"), "--seed", "0",
                 "-o", str(model)]) == 0
    assert "154 labelled pixels" in capsys.readouterr().out
    assert main(["predict", str(model), str(ilastik_tests / "inputdata" / "5t2d1c.h5") + "/data",
                 "-o", str(tmp_path / "p.h5"), "-q"]) == 0
    with h5py.File(tmp_path / "p.h5", "r") as f:
        assert f["exported_data"].shape == (5, 33, 77, 2)
        assert [a["key"] for a in json.loads(f["exported_data"].attrs["axistags"])["axes"]] == list("tyxc")


def test_predict_with_ilp_directly(ilastik_tests, tmp_path):
    assert main(["predict", str(ilastik_tests / "PixelClassification2d3c.ilp"),
                 str(ilastik_tests / "inputdata" / "2d3c.h5") + "/data", "-o", str(tmp_path) + "/", "-q"]) == 0
    with h5py.File(tmp_path / "2d3c_Probabilities.h5", "r") as ours, \
            h5py.File(ilastik_tests / "inputdata" / "2d3c_Probabilities.h5", "r") as theirs:
        assert np.abs(ours["exported_data"][()] - theirs["exported_data"][()]).max() < 1e-5


def test_errors_name_the_problem(files, capsys):
    d, img, lab = files
    assert main(["train", str(img), "--labels", str(lab), str(lab), "-o", str(d / "x.pfc")]) == 2
    assert "1 IMAGE(s) but 2 --labels" in capsys.readouterr().err
    assert main(["predict", str(d / "none.pfc"), str(img)]) == 1
    assert "none.pfc does not exist" in capsys.readouterr().err
    model = d / "m.pfc"
    main(["train", str(img), "--labels", str(lab), "--features", "minimal", "--trees", "3", "-o", str(model), "-q"])
    capsys.readouterr()
    rgb = d / "rgb.tif"
    tifffile.imwrite(rgb, np.zeros((96, 120, 3), np.uint8), photometric="rgb")
    # one bad input is reported, the others still complete, exit status non-zero
    assert main(["predict", str(model), str(rgb), str(img), "-o", str(d / "res") + "/", "-q"]) == 1
    err = capsys.readouterr().err
    assert "rgb.tif: image has 3 channel(s) but the classifier expects 1" in err and "1 of 2 input(s) failed" in err
    assert (d / "res" / "cells_Probabilities.h5").exists() and not (d / "res" / "rgb_Probabilities.h5").exists()
    assert main(["train", str(img), "--labels", str(lab), "--features", "nope", "-o", str(d / "y.pfc")]) == 1
    assert "unknown features 'nope'" in capsys.readouterr().err


def test_console_script_runs():
    r = subprocess.run([sys.executable, "-m", "pixelforest.cli", "--version"], capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout.startswith("pixelforest ")


def test_train_a_thin_stack_with_the_default_features(tmp_path):
    """`pixelforest train` with no --features on a 12-slice stack: the default's scales too large
    for 12 slices in 3D are computed per slice (the saved classifier says so) instead of failing."""
    import pixelforest as pf

    rng = np.random.default_rng(1)
    vol = (rng.random((12, 64, 60)) * 50).astype(np.uint8)
    vol[:, 20:40, 20:40] += 150
    lab = np.zeros(vol.shape, np.uint8)
    lab[:, 25:35, 25:35] = 1
    lab[:, 45:55, 5:15] = 2
    tifffile.imwrite(tmp_path / "stack.tif", vol, imagej=True, metadata={"axes": "ZYX"})
    tifffile.imwrite(tmp_path / "stack_labels.tif", lab, imagej=True, metadata={"axes": "ZYX"})
    model = tmp_path / "m.pfc"
    assert main(["train", str(tmp_path / "stack.tif"), "--labels", str(tmp_path / "stack_labels.tif"),
                 "--trees", "5", "--seed", "0", "-o", str(model), "-q"]) == 0
    spec = pf.load(model).spec
    assert dict(zip(spec.scales, spec.compute_in_2d, strict=True)) == {0.5: False, 1.0: False, 2.0: False, 4.0: True,
                                                          8.0: True, 16.0: True}  # need 3, 5, 8, 15, 29, 57


def test_batch_shows_each_files_block_progress(files, capsys):
    """Without -q, ``batch`` draws a block bar for every file, not only for the first one."""
    d, img, lab = files
    model = d / "m.pfc"
    assert main(["train", str(img), "--labels", str(lab), "--features", "minimal", "--trees", "5", "-o", str(model),
                 "-q"]) == 0
    second = d / "second.tif"
    tifffile.imwrite(second, tifffile.imread(img))
    capsys.readouterr()
    assert main(["batch", str(model), str(img), str(second), "-o", str(d / "out"), "--block-shape", "48,60"]) == 0
    err = capsys.readouterr().err
    finished = re.findall(r"blocks:[^|]*\|[^|]*\|\s*4/4", err)  # 96x120 in 48x60 blocks: 4 per file
    assert len(finished) == 2, err
    assert len(list((d / "out").glob("*_Probabilities.h5"))) == 2


#: the first commands users run, after the warmup's parts in this process: each preset, 2D images
#: and a 3D stack, 8/16-bit and float, 1 and 3 channels, an image of several row blocks, a read-only
#: (memory-mapped) image, batch by blocks
FIRST_COMMANDS = """
import sys, numpy as np, tifffile
from pathlib import Path
from numba.core.registry import CPUDispatcher
from pixelforest import _compiled, _trainer, forest, warmup
from pixelforest.features._kernels import bank2d, filters, holes
from pixelforest.cli import main
kernels = {f"{m.__name__}.{k}": d for m in (_compiled, _trainer, forest, filters, bank2d, holes)
           for k, d in vars(m).items() if isinstance(d, CPUDispatcher)}
for part in warmup.PARTS:
    getattr(warmup, "_" + part)()
before = {k: set(d.overloads) for k, d in kernels.items()}
d = Path(sys.argv[1])
rng = np.random.default_rng(0)
images = {"u8": (rng.random((150, 130)) * 255).astype(np.uint8),
          "u16_rgb": (rng.random((70, 90, 3)) * 4000).astype(np.uint16),
          "f32_stack": rng.random((16, 64, 64), dtype=np.float32)}
for name, img in images.items():
    stack = name.endswith("stack")
    lab = np.zeros(img.shape[:3] if stack else img.shape[:2], np.uint8)
    lab[..., 5:8, 5:30] = 1
    lab[..., 30:33, 5:30] = 2
    kw = {"imagej": True, "metadata": {"axes": "ZYX"}} if stack else {"photometric": "rgb"} if img.ndim == 3 else {}
    tifffile.imwrite(d / f"{name}.tif", img, **kw)
    tifffile.imwrite(d / f"{name}_labels.tif", lab, **({"imagej": True, "metadata": {"axes": "ZYX"}} if stack else {}))
    # every preset on one image; an image's type or channels change no kernel (all is float32 by
    # then), a stack's fitted scales (3D and 2D) do; ilastik-default's largest 3D scales need a deeper stack
    presets = {"u8": ("minimal", "pixelforest-default", "ilastik-default"), "u16_rgb": ("ilastik-default",),
               "f32_stack": ("minimal", "pixelforest-default")}[name]
    for preset in presets:
        model = d / f"{name}-{preset}.pfc"
        assert main(["train", str(d / f"{name}.tif"), "--labels", str(d / f"{name}_labels.tif"), "--features", preset,
                     "--trees", "3", "-o", str(model), "-q"]) == 0
        assert main(["predict", str(model), str(d / f"{name}.tif"), "-o", str(d) + "/", "-q"]) == 0
    if name != "u16_rgb":  # float32 .npy files are read memory-mapped: read-only arrays
        np.save(d / f"{name}.npy", img.astype(np.float32))
        assert main(["predict", str(model), str(d / f"{name}.npy"), "-o", str(d / "npy") + "/", "-q"]) == 0
        blocks = "16,48,48" if stack else "48,48"
        assert main(["batch", str(model), str(d / f"{name}.tif"), "-o", str(d / "batch"), "--block-shape", blocks,
                     "-q"]) == 0
new = sorted(f"{k}{sig}" for k, d in kernels.items() for sig in set(d.overloads) - before[k])
hits = sum(sum(d.stats.cache_hits.values()) for d in kernels.values())
misses = sorted(f"{k}{sig}" for k, d in kernels.items() for sig in d.stats.cache_misses)
print(len(kernels), hits)
print("NEW", *new, sep=chr(10))
print("MISSES", *misses, sep=chr(10))
"""


def test_warmup_compiles_the_kernels_the_first_command_uses(tmp_path):
    """python -m pixelforest.warmup (run by the set-up scripts and the Fiji plugin's set-up) builds
    the kernels in three processes and says so. Then every kernel specialisation that the common
    first commands use is one the warmup builds (after the warmup's parts, loaded in a new process,
    they add none), and that process compiles nothing: all comes from the cache."""
    out = subprocess.run([sys.executable, "-m", "pixelforest.warmup"], capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stderr
    assert "compiling its filters and forest" in out.stdout and "compiled in" in out.stdout
    out = subprocess.run([sys.executable, "-c", FIRST_COMMANDS, str(tmp_path)], capture_output=True, text=True,
                         timeout=900)
    assert out.returncode == 0, out.stderr[-3000:]
    counts, rest = out.stdout.split("\nNEW\n", 1)
    new, misses = rest.split("MISSES\n")
    n_kernels, hits = map(int, counts.split()[-2:])
    assert n_kernels > 20 and hits > 5, out.stdout
    assert new.strip() == "", "kernels the warmup did not build:\n" + new
    assert misses.strip() == "", "compiled after the warmup:\n" + misses
