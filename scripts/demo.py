#!/usr/bin/env python
"""pixelforest end to end on scikit-image's bundled immunohistochemistry image.

The demo plays the user: it draws a few brush strokes per class (nuclei,
DAB-stained tissue, background) where the stain separation says they belong,
trains the ilastik-default classifier on the 3-channel RGB image, saves and
reloads it, predicts, and writes probabilities (HDF5 and ImageJ TIFF), the
simple segmentation and the uncertainty map with the same CLI code the
``pixelforest predict`` command uses. No files of ours are needed.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np


def draw_strokes(score: np.ndarray, taken: np.ndarray, n: int, rng,
                 length: int = 12) -> list[tuple[np.ndarray, np.ndarray]]:
    """Short horizontal strokes (3 px wide) at the n best-scoring, well separated places."""
    from skimage.draw import line

    h, w = score.shape
    order = np.argsort(score, axis=None)[::-1]
    strokes = []
    for flat in order:
        y, x = divmod(int(flat), w)
        if y < 2 or y > h - 3 or x < 2 or x > w - length - 3:
            continue
        if taken[max(0, y - 24):y + 24, max(0, x - 24):x + 24].any():
            continue
        angle = rng.uniform(0, np.pi)
        y1 = int(np.clip(y + length * np.sin(angle), 1, h - 2))
        x1 = int(np.clip(x + length * np.cos(angle), 1, w - 2))
        rr, cc = line(y, x, y1, x1)
        strokes.append((rr, cc))
        taken[rr, cc] = True
        if len(strokes) == n:
            break
    return strokes


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("demo-output"), help="output folder (default demo-output)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)

    from scipy import ndimage
    from skimage import color, data

    import pixelforest as pf
    from pixelforest.cli import main as cli_main
    from pixelforest.io.images import write_label_tiff

    args.out.mkdir(parents=True, exist_ok=True)
    image = data.immunohistochemistry()  # 512 x 512 x 3 uint8, ships with scikit-image
    image_path = args.out / "ihc.tif"
    import tifffile

    tifffile.imwrite(image_path, image, photometric="rgb")

    # --- the "user" draws labels: strokes where the stains clearly say which class
    hed = color.rgb2hed(image)
    hema = ndimage.gaussian_filter(hed[..., 0], 2)
    dab = ndimage.gaussian_filter(hed[..., 2], 2)
    bright = ndimage.gaussian_filter(image.mean(-1), 2)
    scores = {
        1: hema - dab,  # nuclei: hematoxylin, no DAB
        2: dab - hema,  # DAB-positive tissue
        3: bright,  # background: brightest, unstained
    }
    names = ["nuclei", "DAB", "background"]
    rng = np.random.default_rng(args.seed)
    labels = np.zeros(image.shape[:2], np.uint8)
    taken = np.zeros(image.shape[:2], bool)
    for k, score in scores.items():
        for rr, cc in draw_strokes(score, taken, 8, rng):
            for d in (-1, 0, 1):  # 3 px brush
                labels[np.clip(rr + d, 0, labels.shape[0] - 1), cc] = k
    labels_path = args.out / "ihc_labels.tif"
    write_label_tiff(labels_path, labels)

    # --- train with ilastik's default features and forest
    t0 = time.time()
    clf = pf.train(image, labels, features="ilastik-default", channel_axis=-1, classes=names, seed=args.seed)
    t_train = time.time() - t0
    model = args.out / "ihc.pfc"
    pf.save(clf, model)
    clf = pf.load(model)

    # --- predict through the CLI, as a user would
    t0 = time.time()
    for source, fmt in (("probabilities", "hdf5"), ("probabilities", "tiff"), ("simple-segmentation", "tiff"),
                        ("uncertainty", "tiff")):
        rc = cli_main(["predict", str(model), str(image_path), "--export-source", source, "--output-format", fmt,
                       "-o", str(args.out), "-q"])
        if rc != 0:
            raise SystemExit(f"demo: predict failed ({source}, {fmt})")
    t_pred = time.time() - t0

    seg = clf.predict(image, "simple-segmentation", channel_axis=-1)
    unc = clf.predict(image, "uncertainty", channel_axis=-1)
    t = clf.training
    print("pixelforest demo: immunohistochemistry (512 x 512 RGB, scikit-image)")
    print(f"  labels drawn: {t['samples_per_class']} pixels ({t['n_samples']} in all, "
          f"{100 * t['n_samples'] / labels.size:.2f}% of the image)")
    print(f"  classifier: {clf.n_features} features (ilastik-default x 3 channels), {t['trees']} trees, "
          f"OOB error {t['oob_error']:.4f}, trained in {t_train:.1f} s -> {model}")
    for k, n in enumerate(names, start=1):
        print(f"  {n:11s}: {100 * (seg == k).mean():5.1f}% of pixels")
    print(f"  mean uncertainty {unc.mean():.3f}; most uncertain 1%: >= {np.quantile(unc, 0.99):.3f}")
    print(f"  predict x4 exports in {t_pred:.1f} s; outputs in {args.out}/:")
    for p in sorted(args.out.iterdir()):
        print(f"    {p.name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
