"""A random forest as plain arrays, and a compiled traversal for it.

All trees of a forest are concatenated into flat node arrays. A sample goes to
the left child when ``x[feature] <= threshold`` (float32 threshold); vigra's
``x < t`` and scikit-learn's ``x <= t`` (float64 ``t``) are both converted
exactly to that rule for float32 features, so predictions equal the original
library's. The forest's output is the mean of the leaf class probabilities over
all trees, as in vigra/ilastik and ``RandomForestClassifier.predict_proba``.

Prediction goes block by block (a few thousand samples, their features copied column by column
so that one split's column stays in cache) and, within a block, tree by tree: the block's sample
indices are split node by node, depth first, into the children's contiguous ranges, so each node
is read once per block rather than once per sample, and a split is a branch-free pass over the
samples that reach it (with AVX-512: 16 at a time, one gather, one compare and two compressions).
Each sample's leaf values are added up in float64 tree after tree, the order of a walk of one
sample through all trees, so the probabilities are the same to the last bit. The compiled
traversal's form of the forest (:data:`NODE` records in depth-first order) is built on first use
and kept with the :class:`Forest`, never saved.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

try:  # numba is a declared dependency; the numpy fallback keeps imports working without it
    import numba

    _HAVE_NUMBA = True
except ImportError:  # pragma: no cover
    _HAVE_NUMBA = False

import threading  # noqa: E402

from ._compiled import parallel_call  # noqa: E402


def interruptible(fn, stop: np.ndarray, *args):
    """Run ``fn(*args)``, a compiled kernel that polls ``stop[0]`` between chunks of its work, so
    that Ctrl-C (or SIGTERM turned into KeyboardInterrupt) ends it within moments: on the main
    thread the kernel runs on a helper thread while the main thread waits, handles the signal, sets
    ``stop[0]`` and re-raises once the kernel has returned."""
    if threading.current_thread() is not threading.main_thread():
        out = fn(*args)
        if stop[0]:
            raise KeyboardInterrupt
        return out
    result: dict = {}

    def run():
        try:
            result["out"] = fn(*args)
        except BaseException as e:  # handed to the caller
            result["error"] = e

    t = threading.Thread(target=run, name="pixelforest-kernel", daemon=True)
    t.start()
    try:
        while t.is_alive():
            t.join(0.05)
    except BaseException:
        stop[0] = 1
        t.join()
        raise
    if "error" in result:
        raise result["error"]
    return result.get("out")

LEAF = -1

#: one node of the compiled traversal: a split sends ``x[feature] <= threshold`` to ``left``; a
#: leaf has ``left == LEAF`` and ``right`` = its row of class probabilities
NODE = np.dtype([("feature", np.int32), ("threshold", np.float32), ("left", np.int32), ("right", np.int32)])

#: the features of one block of samples (float32, column by column) take at most this many bytes,
#: so they stay in a core's L2 cache while all trees go over them (larger blocks also spread
#: the per-node work over more samples; deep trees, 36 features (the default then): 1-2 MiB measured best, 0.6 MiB
#: 25% slower, 3.5 MiB 7% slower)
BLOCK_BYTES = 2**21
#: blocks have at least this many samples (fewer: each node's work is spread over too few)
BLOCK_MIN = 256


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
        for name, kinds in (("roots", "iu"), ("feature", "iu"), ("left", "iu"), ("right", "iu"), ("threshold", "fiu"),
                            ("value", "fiu")):
            a = np.asarray(arrays[name])
            if a.dtype.kind not in kinds:
                raise ValueError(f"forest array {name!r} has dtype {a.dtype}; expected "
                                 f"{'integers' if kinds == 'iu' else 'numbers'}")
            if a.ndim != (2 if name == "value" else 1):
                raise ValueError(f"forest array {name!r} is {a.ndim}-D; expected "
                                 f"{'(n_nodes, n_classes)' if name == 'value' else '1-D'}")
            if kinds == "iu" and name != "roots" and a.size and (a.min() < np.iinfo(np.int32).min
                                                                  or a.max() > np.iinfo(np.int32).max):
                # checked before the int32 conversion, which would wrap them to valid-looking indices
                raise ValueError(f"forest array {name!r} holds values outside the int32 range")
            if kinds == "iu" and a.size and a.dtype == np.uint64 and a.max() > np.iinfo(np.int64).max:
                raise ValueError(f"forest array {name!r} holds values outside the int64 range")
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
        for name in ("roots", "feature", "threshold", "left", "right"):
            if getattr(self, name).ndim != 1:
                raise ValueError(f"forest array {name!r} is {getattr(self, name).ndim}-D; expected 1-D")
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
        # every node has at most one parent and no root is a child: the trees are disjoint trees
        # (indices checked in range above; a count per node: np.unique's hashing took 0.3 s for
        # a forest of 100 deep trees, 420,000 nodes)
        refs = np.concatenate([self.roots, self.left[inner], self.right[inner]])
        if np.bincount(refs, minlength=n).max() > 1:
            raise ValueError("forest node reached from two parents or roots (trees must not share nodes)")
        if (self.feature[inner] < 0).any() or (self.feature[inner] >= self.n_features).any():
            raise ValueError(f"forest split feature out of range 0..{self.n_features - 1}")
        if not np.isfinite(self.value).all():
            raise ValueError("forest leaf values are not finite")
        if np.isnan(self.threshold[inner]).any():
            raise ValueError("forest split threshold is NaN (every sample would go right)")
        leaves = self.value[leaf]
        sums = leaves.sum(axis=1, dtype=np.float64)
        if leaves.size and (leaves.min() < 0 or leaves.max() > 1 + 1e-5
                            or ((sums > 0) & (np.abs(sums - 1) > 1e-3)).any()):
            raise ValueError("forest leaf values are not class probabilities (each in 0..1, a leaf's summing to 1)")

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """Mean leaf probabilities over trees, ``(n_samples, n_classes)`` float32."""
        X = np.ascontiguousarray(X, dtype=np.float32)
        if X.ndim != 2 or X.shape[1] != self.n_features:
            raise ValueError(f"expected features of shape (n, {self.n_features}), got {X.shape}")
        out = np.zeros((X.shape[0], self.n_classes), dtype=np.float32)
        if X.shape[0] == 0:
            return out
        if _HAVE_NUMBA:
            roots, nodes, leaves, depth = self._packed
            size, workers = _blocks(X.shape[0], self.n_features)
            stop = np.zeros(1, np.int64)
            interruptible(parallel_call, stop, _predict_blocks, X, roots, nodes, leaves, depth, size, workers,
                          np.zeros(1, np.int64), stop, out)
        else:  # pragma: no cover
            _predict_numpy(X, self, out)
        return out

    @cached_property
    def _packed(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
        """The compiled traversal's form of the forest, built on first use: ``(roots, nodes,
        leaves, depth)``, each tree's reachable nodes in depth-first order (left subtree first) as
        :data:`NODE` records, the leaves' class probabilities (float64) in the same order, and the
        number of splits on the longest path from a root to a leaf."""
        return _pack(self.roots, self.feature, self.threshold, self.left, self.right, self.value)

    def __getstate__(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k != "_packed"}  # pickles (Dask tasks) stay lean


def _blocks(n: int, n_features: int) -> tuple[int, int]:
    """Samples per block and workers for ``n`` samples: blocks whose features fit in
    :data:`BLOCK_BYTES`, and at least four per thread where there are enough samples, so that
    a thread slowed down by other work leaves its share to the others (workers claim blocks
    one at a time)."""
    threads = numba.get_num_threads()
    size = min(n, max(BLOCK_MIN, min(BLOCK_BYTES // (4 * n_features), -(-n // (4 * threads)))))
    return size, min(threads, -(-n // size))


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
    from llvmlite import binding as llvm
    from llvmlite import ir
    from numba.core import cgutils, config, types
    from numba.extending import intrinsic, overload

    #: whether compiled code may use AVX-512 (numba compiles for the host's features unless told otherwise)
    AVX512 = "+avx512f" in (config.CPU_FEATURES if config.CPU_FEATURES is not None
                            else llvm.get_host_cpu_features().flatten()).split(",")

    @intrinsic
    def _claim(typingctx, counter):  # pragma: no cover - compiled
        """``counter[0] += 1`` atomically; returns the value before (the block a worker takes next)."""
        sig = types.int64(counter)

        def codegen(context, builder, signature, args):
            aryty = signature.args[0]
            ary = context.make_array(aryty)(context, builder, args[0])
            ptr = cgutils.get_item_pointer(context, builder, aryty, ary, [context.get_constant(types.intp, 0)],
                                           wraparound=False)
            return builder.atomic_rmw("add", ptr, context.get_constant(types.int64, 1), "monotonic")

        return sig, codegen

    @intrinsic
    def _split16(typingctx, row, thr, src, j, w, dst, lo, hi):  # pragma: no cover - compiled
        """AVX-512: of the ``w <= 16`` samples ``i`` in ``src[j:j + w]``, those with ``row[i] <= thr``
        go to ``dst[lo:]``, the others to ``dst[:hi]`` (ending at ``hi``); returns how many went to
        ``lo``. One masked load, one gather, one compare, two compressions, two masked stores."""
        sig = types.intp(row, thr, src, j, w, dst, lo, hi)

        def codegen(context, builder, signature, args):
            row_, thr_, src_, j_, w_, dst_, lo_, hi_ = args
            i1, i32, i64 = ir.IntType(1), ir.IntType(32), ir.IntType(64)
            vi, vf, vm = ir.VectorType(i32, 16), ir.VectorType(ir.FloatType(), 16), ir.VectorType(i1, 16)
            mod = builder.module

            def call(name, ret, *a):
                fn = cgutils.get_or_insert_function(mod, ir.FunctionType(ret, [x.type for x in a]), name)
                return builder.call(fn, a)

            def at(k, arg, i, ty):  # pointer to element i of array argument k, as a ty*
                aryty = signature.args[k]
                ary = context.make_array(aryty)(context, builder, arg)
                return builder.bitcast(cgutils.get_item_pointer(context, builder, aryty, ary, [i], wraparound=False),
                                       ty.as_pointer())

            def low(n):  # the n (0..16) lowest lanes
                ones = builder.sub(builder.shl(ir.Constant(i32, 1), builder.trunc(n, i32)), ir.Constant(i32, 1))
                return builder.bitcast(builder.trunc(ones, ir.IntType(16)), vm)

            valid = low(w_)
            idx = call("llvm.masked.load.v16i32.p0v16i32", vi, at(2, src_, j_, vi), ir.Constant(i32, 4), valid,
                       ir.Constant(vi, [0] * 16))
            x = call("llvm.x86.avx512.mask.gather.dps.512", vf, ir.Constant(vf, [0.0] * 16),
                     at(0, row_, context.get_constant(types.intp, 0), ir.IntType(8)), idx, valid, ir.Constant(i32, 4))
            t = builder.insert_element(ir.Constant(vf, ir.Undefined), thr_, ir.Constant(i32, 0))
            t = builder.shuffle_vector(t, ir.Constant(vf, ir.Undefined), ir.Constant(vi, [0] * 16))
            left = builder.and_(builder.fcmp_ordered("<=", x, t), valid)
            right = builder.xor(left, valid)
            n_left = builder.zext(call("llvm.ctpop.i16", ir.IntType(16), builder.bitcast(left, ir.IntType(16))), i64)
            n_right = builder.sub(w_, n_left)
            for mask, n, start in ((left, n_left, lo_), (right, n_right, builder.sub(hi_, n_right))):
                packed = call("llvm.x86.avx512.mask.compress.v16i32", vi, idx, ir.Constant(vi, [0] * 16), mask)
                call("llvm.masked.store.v16i32.p0v16i32", ir.VoidType(), packed, at(5, dst_, start, vi),
                     ir.Constant(i32, 4), low(n))
            return n_left

        return sig, codegen

    def _split(row, thr, src, s, e, dst):  # pragma: no cover - compiled: one of the two below
        """Samples ``i`` in ``src[s:e]`` with ``row[i] <= thr`` to ``dst[s:mid]``, the others to
        ``dst[mid:e]`` (each side in any order); returns ``mid``."""

    def _split_avx512(row, thr, src, s, e, dst):  # pragma: no cover - compiled
        lo = s
        hi = e
        for j in range(s, e, 16):
            w = min(16, e - j)
            n_left = _split16(row, thr, src, j, w, dst, lo, hi)
            lo += n_left
            hi -= w - n_left
        return lo

    def _split_scalar(row, thr, src, s, e, dst):  # pragma: no cover - compiled
        # each sample is written to both ends and one end moves on: no branch (unsigned indices:
        # no negative-index checks)
        one = np.uint64(1)
        lo = np.uint64(s)
        hi = np.uint64(e)
        for j in range(np.uint64(s), np.uint64(e)):
            i = src[j]
            left = np.uint64(row[i] <= thr)
            dst[lo] = i
            dst[hi - one] = i
            lo += left
            hi -= one - left
        return np.intp(lo)

    @overload(_split)
    def _split_compiled(row, thr, src, s, e, dst):  # pragma: no cover - compiled
        return _split_avx512 if AVX512 else _split_scalar

    @numba.njit(cache=True)
    def _pack(roots, feature, threshold, left, right, value):  # pragma: no cover - compiled
        """See :attr:`Forest._packed` (``Forest.validate``: children in range, no shared nodes)."""
        n = feature.shape[0]
        k = value.shape[1]
        nodes = np.empty(n, NODE)
        leaves = np.empty((n, k), np.float64)
        new_roots = np.empty(roots.shape[0], np.int64)
        stack = np.empty((n + 1, 4), np.int64)  # old index, depth, the parent's new index, side (0: left)
        m = 0
        n_leaves = 0
        depth = 0
        for t in range(roots.shape[0]):
            new_roots[t] = m
            stack[0, 0] = roots[t]
            stack[0, 1] = 0
            stack[0, 2] = -1
            sp = 1
            while sp > 0:
                sp -= 1
                old, d, parent = stack[sp, 0], stack[sp, 1], stack[sp, 2]
                if parent >= 0:
                    if stack[sp, 3] == 0:
                        nodes[parent].left = m
                    else:
                        nodes[parent].right = m
                if left[old] == LEAF:
                    nodes[m].feature = 0
                    nodes[m].threshold = 0.0
                    nodes[m].left = LEAF
                    nodes[m].right = n_leaves
                    for c in range(k):
                        leaves[n_leaves, c] = value[old, c]
                    n_leaves += 1
                    depth = max(depth, d)
                else:
                    nodes[m].feature = feature[old]
                    nodes[m].threshold = threshold[old]
                    for side, child in ((1, right[old]), (0, left[old])):  # the left child on top
                        stack[sp, 0] = child
                        stack[sp, 1] = d + 1
                        stack[sp, 2] = m
                        stack[sp, 3] = side
                        sp += 1
                m += 1
        return new_roots, nodes[:m].copy(), leaves[:n_leaves].copy(), depth

    @numba.njit(cache=True, nogil=True)
    def _predict_block(X, roots, nodes, leaves, feats, order, acc, stack, stop, out):  # pragma: no cover - compiled
        """All trees for the samples of one block ``X``; ``feats``, ``order``, ``acc`` and ``stack``
        are the worker's scratch arrays. ``order[d]`` holds the sample indices of the nodes at depths
        of parity ``d``, each node's as one range: a split writes its children's ranges into the
        other row over its own range, so pending ranges are never overwritten."""
        m, nf = X.shape
        k = leaves.shape[1]
        for i in range(m):
            for f in range(nf):
                feats[f, i] = X[i, f]
        acc[:, :m] = 0.0
        for t in range(roots.shape[0]):
            if t % 64 == 63 and stop[0] != 0:  # interrupted (Ctrl-C): the caller discards the result
                return
            for i in range(m):
                order[0, i] = i
            stack[0, 0] = roots[t]
            stack[0, 1] = 0
            stack[0, 2] = m
            stack[0, 3] = 0
            sp = 1
            while sp > 0:  # depth first, left child on top: at most depth + 1 ranges wait
                sp -= 1
                rec = nodes[stack[sp, 0]]
                s, e, d = stack[sp, 1], stack[sp, 2], stack[sp, 3]
                src = order[d]
                if rec.left == LEAF:
                    for c in range(k):
                        v = leaves[rec.right, c]
                        a = acc[c]
                        for j in range(np.uint64(s), np.uint64(e)):  # unsigned: no negative-index checks
                            a[src[j]] += v
                    continue
                mid = _split(feats[rec.feature], rec.threshold, src, s, e, order[1 - d])
                for child, lo, hi in ((rec.right, mid, e), (rec.left, s, mid)):
                    if lo < hi:
                        stack[sp, 0] = child
                        stack[sp, 1] = lo
                        stack[sp, 2] = hi
                        stack[sp, 3] = 1 - d
                        sp += 1
        inv = 1.0 / roots.shape[0]
        for i in range(m):
            for c in range(k):
                out[i, c] = acc[c, i] * inv

    @numba.njit(parallel=True, cache=True, nogil=True)
    def _predict_blocks(X, roots, nodes, leaves, depth, size, workers, claimed, stop,
                        out):  # pragma: no cover - compiled
        """Workers take blocks of ``size`` samples one at a time (``claimed[0]`` counts them out)."""
        n, nf = X.shape
        n_blocks = (n + size - 1) // size
        for _ in numba.prange(workers):
            # rows padded by a cache line: a sample's features do not all fall in one cache set
            feats = np.empty((nf, size + 16), np.float32)
            order = np.empty((2, size), np.uint32)
            acc = np.empty((leaves.shape[1], size), np.float64)
            stack = np.empty((depth + 1, 4), np.int64)
            b = _claim(claimed)
            while b < n_blocks and stop[0] == 0:
                lo = b * size
                hi = min(n, lo + size)
                _predict_block(X[lo:hi], roots, nodes, leaves, feats, order, acc, stack, stop, out[lo:hi])
                b = _claim(claimed)


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
    parts, roots = [], []
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
        order = _vigra_order(topo, ti)
        parts.append(_vigra_tree_arrays(topo, params, order, n_classes, offset, ti))
        roots.append(offset)
        offset += len(order)
    if n_feat is None:
        raise ValueError("vigra forest has no trees")
    return Forest.from_arrays(
        {
            "roots": np.array(roots),
            "feature": np.concatenate([p[0] for p in parts]),
            "threshold": np.concatenate([p[1] for p in parts]),
            "left": np.concatenate([p[2] for p in parts]),
            "right": np.concatenate([p[3] for p in parts]),
            "value": np.concatenate([p[4] for p in parts]).astype(np.float32),
        },
        n_features=n_feat,
    )


def _vigra_order(topo: np.ndarray, ti: int) -> dict[int, int]:
    """Breadth-first renumbering of vigra tree ``ti``'s nodes from the root at index 2:
    ``{topology index: node number}``; a malformed topology is a ``ValueError``."""
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
    return order


def _vigra_tree_arrays(topo, params, order: dict[int, int], n_classes: int, offset: int, ti: int) -> tuple:
    """``(feature, threshold, left, right, value)`` of vigra tree ``ti`` in ``order``, its children
    numbered from ``offset`` (the tree's first node in the forest)."""
    m = len(order)
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
    return feat, f32_threshold_lt(thr), left, right, val


def concat(forests: list[Forest]) -> Forest:
    """One forest holding all trees of ``forests`` (mean over all trees)."""
    if len(forests) == 1:
        return forests[0]
    offs = np.cumsum([0] + [f.feature.shape[0] for f in forests[:-1]])
    def shift(a, o):
        return np.where(a == LEAF, LEAF, a + o)
    return Forest.from_arrays(
        {
            "roots": np.concatenate([f.roots + o for f, o in zip(forests, offs, strict=True)]),
            "feature": np.concatenate([f.feature for f in forests]),
            "threshold": np.concatenate([f.threshold for f in forests]),
            "left": np.concatenate([shift(f.left, o) for f, o in zip(forests, offs, strict=True)]),
            "right": np.concatenate([shift(f.right, o) for f, o in zip(forests, offs, strict=True)]),
            "value": np.concatenate([f.value for f in forests]),
        },
        n_features=forests[0].n_features,
    )
