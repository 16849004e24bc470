"""ilastik projects as pixelforest classifiers.

:mod:`pixelforest.io.ilp` reads and writes ``.ilp`` files; this module builds a
:class:`~pixelforest.classifier.Classifier` from a project's stored forest, and
:func:`load_classifier` loads either kind of classifier file: a pixelforest ``.pfc``
archive or an ilastik ``.ilp`` project (told apart by their first bytes).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .classifier import Classifier, default_color
from .io.guards import ExternalDataError
from .io.ilp import IlastikProject, IlpError
from .io.pfc import load_classifier as load_pfc


def classifier_from_project(ilp: IlastikProject) -> Classifier:
    """The project's own trained classifier (ilastik's stored forest on our features)."""
    forest = ilp.forest()
    if forest is None:
        raise IlpError(
            f"{ilp.path}: the project holds no trained forest (ilastik retrains on load); "
            f"retrain from its labels with `pixelforest train --labels {ilp.path.name} -o MODEL`"
        )
    spec = ilp.feature_spec()
    names = ilp.label_names()
    colors = ilp.label_colors()
    lanes = ilp.lanes()
    if not lanes:
        raise IlpError(f"{ilp.path}: project has no input lanes; cannot tell the image channels")
    n_channels, ndim = ilp.lane_geometry(lanes[0])
    known = ilp.forest_labels() or list(range(1, forest.n_classes + 1))
    if len(known) != forest.n_classes:
        raise IlpError(f"{ilp.path}: known_labels lists {len(known)} labels but the forest has "
                       f"{forest.n_classes} classes")
    n_classes = max(len(names), max(known))
    if forest.n_classes != n_classes:  # place the forest's columns at their label values
        value = np.zeros((forest.value.shape[0], n_classes), np.float32)
        value[:, np.asarray(known) - 1] = forest.value
        forest.value = value
    names = names + [f"Label {k}" for k in range(len(names) + 1, n_classes + 1)]
    colors = colors + [default_color(i) for i in range(len(colors), n_classes)]
    clf = Classifier(spec, forest, names[:n_classes], colors[:n_classes], n_channels, ndim,
                     {"from_ilastik_project": str(ilp.path.name), "ilastik_version": ilp.version},
                     [], source="ilastik project")
    if forest.n_features != clf.n_features:
        raise IlpError(
            f"{ilp.path}: stored forest uses {forest.n_features} features but the feature selection gives "
            f"{clf.n_features} for {n_channels}-channel {ndim}D data"
        )
    return clf


def load_project(path, allow_external: bool | None = None) -> Classifier:
    """The trained classifier of an ilastik project (its external links, virtual datasets and
    external storage are refused unless ``allow_external``); a damaged project is an ``IlpError``."""
    try:
        with IlastikProject(path, allow_external=allow_external) as ilp:
            return classifier_from_project(ilp)
    except (KeyError, OSError, RuntimeError, ValueError, TypeError, IndexError, RecursionError) as e:
        if isinstance(e, (IlpError, FileNotFoundError, ExternalDataError)):
            raise
        raise IlpError(f"{path}: damaged ilastik project ({type(e).__name__}: {e})") from None


def load_classifier(path, allow_external: bool | None = None) -> Classifier:
    """Load a classifier file: a pixelforest ``.pfc`` (:func:`pixelforest.io.pfc.load_classifier`)
    or an ilastik ``.ilp`` project with a trained forest (:func:`load_project`)."""
    path = Path(path)
    if path.is_file():
        with open(path, "rb") as f:
            if f.read(8).startswith(b"\x89HDF"):
                return load_project(path, allow_external)
    return load_pfc(path)
