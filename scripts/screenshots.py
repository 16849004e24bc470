#!/usr/bin/env python
"""The screenshots of Live Training in README.md and docs/, made in ImageJ's real GUI on a virtual screen.

Builds the plugin, opens scikit-image's bundled immunohistochemistry image (512 x 512 RGB, no
files of ours needed) in ImageJ, opens *Live Training...*, names three classes, paints strokes
with java.awt.Robot where the stains say each class is (as the demo does), and saves screenshots
of the panel with the prediction, the uncertainty with "where to label next", and the Features
dialog into docs/images/ (cropped to the windows). Needs Maven, Java, Xvfb (scripts/setup-system.sh).

    .venv/bin/python scripts/screenshots.py [--out docs/images]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def strokes(image: np.ndarray) -> dict[int, list[str]]:
    """Three strokes per class where the stain separation says the class is (the demo's rule)."""
    from scipy import ndimage
    from skimage import color

    sys.path.insert(0, str(ROOT / "scripts"))
    from demo import draw_strokes

    hed = color.rgb2hed(image)
    hema, dab = ndimage.gaussian_filter(hed[..., 0], 2), ndimage.gaussian_filter(hed[..., 2], 2)
    scores = {1: hema - dab, 2: dab - hema, 3: ndimage.gaussian_filter(image.mean(-1), 2)}
    rng = np.random.default_rng(0)
    taken = np.zeros(image.shape[:2], bool)
    out = {}
    for k, score in scores.items():
        out[k] = []
        for rr, cc in draw_strokes(score, taken, 3, rng, length=24):
            out[k].append(f"{cc[0]} {rr[0]} {cc[len(cc) // 2]} {rr[len(rr) // 2]} {cc[-1]} {rr[-1]}")
    return out


def crop(path: Path) -> None:
    """Crop a screenshot to its windows (the virtual screen around them is black)."""
    from PIL import Image

    img = Image.open(path).convert("RGB")
    a = np.asarray(img)
    ys, xs = np.nonzero(a.max(axis=-1) > 0)
    img.crop((max(0, xs.min() - 4), max(0, ys.min() - 4), xs.max() + 5, ys.max() + 5)).save(path, optimize=True)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "images")
    args = ap.parse_args(argv)
    import tifffile
    from skimage import data

    for tool in ("mvn", "xvfb-run", "java"):
        if shutil.which(tool) is None:
            sys.exit(f"screenshots: {tool} is not installed (scripts/setup-system.sh, Maven)")
    subprocess.run([str(ROOT / "scripts" / "build-plugin.sh")], check=True, capture_output=True)
    jar = next(p for p in (ROOT / "fiji-plugin" / "target").glob("Pixel_Forest-*.jar")
               if not p.name.startswith("original"))
    work = Path(tempfile.mkdtemp(prefix="pixelforest-shots-"))
    (work / "plugins").mkdir()
    shutil.copy(jar, work / "plugins")
    image = data.immunohistochemistry()
    tifffile.imwrite(work / "ihc.tif", image, photometric="rgb")
    paint = []
    for k, lines in strokes(image).items():
        paint += [f"key {k}"] + [f"stroke {s}" for s in lines]
    script = [f"open {work / 'ihc.tif'}", "zoom 100", "live", "rename 0 nuclei", "rename 1 DAB", "addclass",
              "rename 2 background", "tool freeline", "width 4", *paint, "wait", "mode probabilities", "opacity 0.5",
              "wait", "shot live-panel.png", "mode uncertainty", "opacity 0.7", "suggest 5", "wait",
              "shot live-uncertainty.png", "mode segmentation", "click-button Features...",
              "await-dialog Pixel Forest: Features", "shot live-features.png", "close-dialogs"]
    (work / "script.txt").write_text("\n".join(script))
    home = work / "home"
    home.mkdir()
    cmd = [str(ROOT / "tests" / "fiji" / "run-gui.sh"), f"-Dplugins.dir={work}", f"-Duser.home={home}",
           f"-Dpixelforest.python={sys.executable}", "-cp",
           os.pathsep.join([*(ROOT / "fiji-plugin" / "target" / "runtime" / "classpath.txt").read_text().split(),
                            str(jar)]),
           str(ROOT / "tests" / "fiji" / "LiveGui.java"), str(work / "script.txt"), str(work)]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    if "RESULT done true" not in r.stdout:
        sys.exit(f"screenshots: the GUI run failed:\n{r.stdout[-3000:]}\n{r.stderr[-2000:]}")
    args.out.mkdir(parents=True, exist_ok=True)
    for name in ("live-panel.png", "live-uncertainty.png", "live-features.png"):
        crop(work / name)
        shutil.copy(work / name, args.out / name)
        print(args.out / name)
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
