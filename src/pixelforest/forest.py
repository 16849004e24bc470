"""A random forest as plain arrays, and a compiled traversal for it.

All trees of a forest are concatenated into flat node arrays. A sample goes to
the left child when ``x[feature] <= threshold`` (float32 threshold); vigra's
``x < t`` and scikit-learn's ``x <= t`` (float64 ``t``) are both converted
exactly to that rule for float32 features, so predictions equal the original
library's. The forest's output is the mean of the leaf class probabilities over
all trees, as in vigra/ilastik and ``RandomForestClassifier.predict_proba``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

try:  # numba is a declared dependency; the numpy fallback keeps imports working without it
    import numba

    _HAVE_NUMBA = True
except ImportError:  # pragma: no cover
    _HAVE_NUMBA = False

from ._filters import parallel_call  # noqa: E402

LEAF = -1


@dataclass
class Forest:
    """Flat arrays of all trees.

    Attributes
    ----------
    roots : int64 (n_trees,)  index of each tree's root node
    feature : int32 (n_nodes,)  split column (unused at leaves)
    threshold : float32 (n_nodes,)  go left when ``x[feature] <= threshold``
    left, right : int32 (n_nodes,)  child node indices, ``-1`` at leaves
    value : float32 (n_nodes, n_classes)  class probabilities at leaves
    n_features : int
    """

    roots: np.ndarray
    feature: np.ndarray
    threshold: np.ndarray
    left: np.ndarray
    right: np.ndarray
    value: np.ndarray
    n_features: int

    @property
    def n_trees(self) -> int:
        return int(self.roots.shape[0])

    @property
    def n_classes(self) -> int:
        return int(self.value.shape[1])

    def arrays(self) -> dict[str, np.ndarray]:
        return {
            "roots": self.roots,
            "feature": self.feature,
            "threshold": self.threshold,
            "left": self.left,
            "right": self.right,
            "value": self.value,
        }

    @classmethod
    def from_arrays(cls, arrays: dict, n_features: int) -> "Forest":
        f = cls(
            roots=np.asarray(arrays["roots"], dtype=np.int64),
            feature=np.asarray(arrays["feature"], dtype=np.int32),
            threshold=np.asarray(arrays["threshold"], dtype=np.float32),
            left=np.asarray(arrays["left"], dtype=np.int32),
            right=np.asarray(arrays["right"], dtype=np.int32),
            value=np.asarray(arrays["value"], dtype=np.float32),
            n_features=int(n_features),
        )
        f.validate()
        return f

    def validate(self) -> None:
        """Check the arrays form valid trees, so traversal can never read out of bounds."""
        n = self.feature.shape[0]
        for name in ("threshold", "left", "right"):
            if getattr(self, name).shape != (n,):
                raise ValueError(f"forest array {name!r} has shape {getattr(self, name).shape}, expected ({n},)")
        if self.value.ndim != 2 or self.value.shape[0] != n or self.value.shape[1] < 1:
            raise ValueError(f"forest array 'value' has shape {self.value.shape}, expected ({n}, n_classes)")
        if self.roots.ndim != 1 or self.roots.size == 0:
            raise ValueError("forest has no trees")
        if (self.roots < 0).any() or (self.roots >= n).any():
            raise ValueError("forest root index out of range")
        leaf = self.left == LEAF
        if not np.array_equal(leaf, self.right == LEAF):
            raise ValueError("forest node has exactly one child")
        inner = ~leaf
        for name in ("left", "right"):
            child = getattr(self, name)[inner]
            if (child < 0).any() or (child >= n).any():
                raise ValueError(f"forest {name} child index out of range")
            # children come after their parent: traversal always terminates
            if (child <= np.nonzero(inner)[0]).any():
                raise ValueError("forest child index does not follow its parent (cycle)")
        if (self.feature[inner] < 0).any() or (self.feature[inner] >= self.n_features).any():
            raise ValueError(f"forest split feature out of range 0..{self.n_features - 1}")
        if not np.isfinite(self.value).all():
            raise ValueError("forest leaf values are not finite")

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """Mean leaf probabilities over trees, ``(n_samples, n_classes)`` float32."""
        X = np.ascontiguousarray(X, dtype=np.float32)
        if X.ndim != 2 or X.shape[1] != self.n_features:
            raise ValueError(f"expected features of shape (n, {self.n_features}), got {X.shape}")
        out = np.zeros((X.shape[0], self.n_classes), dtype=np.float32)
        if X.shape[0] == 0:
            return out
        if _HAVE_NUMBA:
            parallel_call(_predict_numba, X, self.roots, self.feature, self.threshold, self.left, self.value,
                          self.right, out)
        else:  # pragma: no cover
            _predict_numpy(X, self, out)
        return out


def _predict_numpy(X, f: Forest, out):  # pragma: no cover - fallback
    acc = np.zeros(out.shape, dtype=np.float64)
    rows = np.arange(X.shape[0])
    for r in f.roots:
        node = np.full(X.shape[0], r, dtype=np.int64)
        while True:
            inner = f.left[node] != LEAF
            if not inner.any():
                break
            n = node[inner]
            go_left = X[rows[inner], f.feature[n]] <= f.threshold[n]
            node[inner] = np.where(go_left, f.left[n], f.right[n])
        acc += f.value[node]
    out[:] = acc * (1.0 / len(f.roots))  # as the compiled traversal: the same float32 results


if _HAVE_NUMBA:

    @numba.njit(parallel=True, cache=True, nogil=True)
    def _predict_numba(X, roots, feature, threshold, left, value, right, out):  # pragma: no cover - compiled
        n = X.shape[0]
        k = value.shape[1]
        n_trees = roots.shape[0]
        inv = 1.0 / n_trees
        for i in numba.prange(n):
            acc = np.zeros(k, dtype=np.float64)
            for t in range(n_trees):
                node = roots[t]
                while left[node] != -1:
                    if X[i, feature[node]] <= threshold[node]:
                        node = left[node]
                    else:
                        node = right[node]
                for c in range(k):
                    acc[c] += value[node, c]
            for c in range(k):
                out[i, c] = acc[c] * inv


# ---------------------------------------------------------------- conversions


def f32_threshold_le(t: np.ndarray) -> np.ndarray:
    """float32 ``u`` with ``x <= u  <=>  x <= t`` for every float32 ``x`` (t float64)."""
    t = np.asarray(t, dtype=np.float64)
    u = t.astype(np.float32)
    up = u.astype(np.float64) > t
    u[up] = np.nextafter(u[up], np.float32(-np.inf))
    return u


def f32_threshold_lt(t: np.ndarray) -> np.ndarray:
    """float32 ``u`` with ``x <= u  <=>  x < t`` for every float32 ``x`` (t float64)."""
    t = np.asarray(t, dtype=np.float64)
    u = t.astype(np.float32)
    down = u.astype(np.float64) >= t
    u[down] = np.nextafter(u[down], np.float32(-np.inf))
    return u


def from_sklearn(model) -> Forest:
    """Convert a fitted ``RandomForestClassifier`` (single output)."""
    trees = model.estimators_
    parts = []
    offset = 0
    roots = []
    for est in trees:
        t = est.tree_
        n = t.node_count
        left = t.children_left.astype(np.int64)
        right = t.children_right.astype(np.int64)
        is_leaf = left == -1
        left = np.where(is_leaf, LEAF, left + offset)
        right = np.where(is_leaf, LEAF, right + offset)
        val = t.value[:, 0, :].astype(np.float64)
        s = val.sum(axis=1, keepdims=True)
        s[s == 0] = 1.0
        val = val / s
        thr = f32_threshold_le(t.threshold)
        feat = np.where(is_leaf, 0, t.feature)
        parts.append((feat, thr, left, right, val))
        roots.append(offset)
        offset += n
    return Forest.from_arrays(
        {
            "roots": np.array(roots),
            "feature": np.concatenate([p[0] for p in parts]),
            "threshold": np.concatenate([p[1] for p in parts]),
            "left": np.concatenate([p[2] for p in parts]),
            "right": np.concatenate([p[3] for p in parts]),
            "value": np.concatenate([p[4] for p in parts]).astype(np.float32),
        },
        n_features=int(model.n_features_in_),
    )


VIGRA_LEAF = 0x40000000


def from_vigra_trees(trees: list[tuple[np.ndarray, np.ndarray]], n_classes: int | None = None) -> Forest:
    """Convert vigra RandomForest trees (``topology`` int32, ``parameters`` float64).

    topology[0] = number of features, topology[1] = number of classes; a node
    at index n holds type, parameter address, left, right, column; a split goes
    left when ``x[column] < parameters[addr + 1]``; a leaf's class
    probabilities are ``parameters[addr + 1 : addr + 1 + n_classes]``.
    """
    feats, thrs, lefts, rights, vals, roots = [], [], [], [], [], []
    n_feat = None
    offset = 0
    for ti, (topo, params) in enumerate(trees):
        topo = np.asarray(topo, dtype=np.int64)
        params = np.asarray(params, dtype=np.float64)
        if topo.ndim != 1 or topo.size < 4:
            raise ValueError(f"vigra tree {ti}: topology array too short")
        nf, nc = int(topo[0]), int(topo[1])
        if n_feat is None:
            n_feat = nf
            n_classes = n_classes or nc
        if nf != n_feat or nc != n_classes:
            raise ValueError(f"vigra tree {ti}: {nf} features / {nc} classes differ from the forest's")
        # breadth-first renumbering from the root at index 2
        order = {2: 0}
        queue = [2]
        qi = 0
        while qi < len(queue):
            n = queue[qi]
            qi += 1
            if n + 1 >= topo.size:
                raise ValueError(f"vigra tree {ti}: node index {n} outside the topology array")
            typ = topo[n]
            if typ == VIGRA_LEAF:
                continue
            if typ != 0:
                raise ValueError(f"vigra tree {ti}: unsupported node type {typ:#x} at {n}")
            if n + 4 >= topo.size:
                raise ValueError(f"vigra tree {ti}: split node {n} truncated")
            for child in (topo[n + 2], topo[n + 3]):
                if child in order or not 2 <= child < topo.size:
                    raise ValueError(f"vigra tree {ti}: invalid child index {child}")
                order[child] = len(queue)
                queue.append(child)
        m = len(queue)
        feat = np.zeros(m, np.int64)
        thr = np.zeros(m, np.float64)
        left = np.full(m, LEAF, np.int64)
        right = np.full(m, LEAF, np.int64)
        val = np.zeros((m, n_classes), np.float64)
        for n, i in order.items():
            addr = topo[n + 1]
            if topo[n] == VIGRA_LEAF:
                if addr + 1 + n_classes > params.size or addr < 0:
                    raise ValueError(f"vigra tree {ti}: leaf parameters out of range")
                p = params[addr + 1: addr + 1 + n_classes]
                s = p.sum()
                val[i] = p / s if s > 0 else p
            else:
                if addr + 1 >= params.size or addr < 0:
                    raise ValueError(f"vigra tree {ti}: split parameters out of range")
                feat[i] = topo[n + 4]
                thr[i] = params[addr + 1]
                left[i] = order[topo[n + 2]] + offset
                right[i] = order[topo[n + 3]] + offset
        feats.append(feat)
        thrs.append(f32_threshold_lt(thr))
        lefts.append(left)
        rights.append(right)
        vals.append(val)
        roots.append(offset)
        offset += m
    if n_feat is None:
        raise ValueError("vigra forest has no trees")
    return Forest.from_arrays(
        {
            "roots": np.array(roots),
            "feature": np.concatenate(feats),
            "threshold": np.concatenate(thrs),
            "left": np.concatenate(lefts),
            "right": np.concatenate(rights),
            "value": np.concatenate(vals).astype(np.float32),
        },
        n_features=n_feat,
    )


def concat(forests: list[Forest]) -> Forest:
    """One forest holding all trees of ``forests`` (mean over all trees)."""
    if len(forests) == 1:
        return forests[0]
    offs = np.cumsum([0] + [f.feature.shape[0] for f in forests[:-1]])
    def shift(a, o):
        return np.where(a == LEAF, LEAF, a + o)
    return Forest.from_arrays(
        {
            "roots": np.concatenate([f.roots + o for f, o in zip(forests, offs)]),
            "feature": np.concatenate([f.feature for f in forests]),
            "threshold": np.concatenate([f.threshold for f in forests]),
            "left": np.concatenate([shift(f.left, o) for f, o in zip(forests, offs)]),
            "right": np.concatenate([shift(f.right, o) for f, o in zip(forests, offs)]),
            "value": np.concatenate([f.value for f in forests]),
        },
        n_features=forests[0].n_features,
    )
