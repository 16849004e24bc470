"""pixelforest: interactive pixel classification in the ilastik tradition.

>>> import pixelforest as pf
>>> clf = pf.train(image, labels)                # labels: 0 = unlabelled, k = class k
>>> prob = clf.predict(image)                    # float32, one channel per class
>>> pf.save(clf, "model.pfc"); clf = pf.load("model.pfc")
"""

from ._version import __version__
from .classifier import Classifier
from .features import FeatureSpec, compute_features, feature_names
from .ilastik import load_classifier as load
from .io.pfc import save_classifier
from .training import train


def save(clf: Classifier, path) -> None:
    """Save a classifier as a data-only classifier file (see :mod:`pixelforest.io.pfc`)."""
    save_classifier(clf, path)


__all__ = ["Classifier", "FeatureSpec", "compute_features", "feature_names", "load", "save", "train", "__version__"]
