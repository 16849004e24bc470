"""Random-forest training, compiled (numba): ilastik's forest, fast enough to retrain after
every brush stroke.

The model is vigra's / ilastik's, and scikit-learn's ``RandomForestClassifier`` with the same
settings. Each tree grows on a bootstrap sample (as many draws with replacement as there are
samples; a sample drawn k times weighs k). Every node draws ``mtry`` candidate features without
replacement, and goes on drawing one at a time while all those drawn are constant in the node
(as scikit-learn does). It takes the split with the largest decrease of weighted Gini impurity.
Trees grow until their leaves are pure or no feature varies within them; a node's value is its
weighted class frequencies. The out-of-bag error is that of the forest's vote over the trees
that did not draw a sample.

Splits are searched on binned features (histogram splits). Each feature is binned once per
training set into at most 256 bins of about equal counts, cut only between distinct values: a
feature with at most 256 distinct values gets one bin per value, and its splits are exact. The
split "bin <= b" becomes the float32 threshold halfway between the largest training value in bin
b and the smallest in the next bin occupied in the node, rounded so that ``x <= threshold``
separates the training values of the two sides exactly.

A tree keeps the codes of the samples it drew (whole words a sample), with their classes and
weights, and each split partitions them in place: a node's samples lie together and are read in
order. One pass over them fills the histograms (bins x classes) of all ``mtry`` features drawn,
with a bitmap of the bins occupied, so that the scan for the best split visits only those: a node
costs time in proportion to its samples. The samples a tree did not draw go down the tree as it
grows, for the out-of-bag votes: with their codes beside them, partitioned the same way, so that
their codes decide each split (X only where a code falls between the two sides' bins).

Every tree has its own random stream (splitmix64) seeded from (seed, tree index), so a seed gives
the same forest whatever the number of threads. Trees grow in parallel, each depth first, and are
written directly as :class:`~pixelforest.forest.Forest` arrays in preorder.
"""

from __future__ import annotations

import numba
import numpy as np
from numba.cpython.unsafe.numbers import trailing_zeros

from ._compiled import argsort, parallel_call
from .forest import LEAF, Forest, interruptible

#: bins per feature; bin codes are uint8
MAX_BINS = 256
#: node arrays of one batch of trees, at full capacity (2 n - 1 nodes a tree): bounds the memory
#: reserved for large training sets
BATCH_BYTES = 256 << 20
#: samples per block of the out-of-bag votes
OOB_BLOCK = 256


def train_forest(X: np.ndarray, y: np.ndarray, n_classes: int, *, trees: int, mtry: int, seed=None,
                 n_jobs: int = -1) -> tuple[Forest, float | None]:
    """Grow a forest on features ``X`` (n, F) and class indices ``y`` (0..n_classes-1).

    Returns the forest (one value column per class; classes without samples stay 0) and its
    out-of-bag error, ``None`` when no sample was ever out of bag. ``seed``: a non-negative
    int, or ``None`` for a random forest. ``n_jobs``: threads, negative counts from all
    numba's threads as in joblib (-1 or ``None``: all).
    """
    X = np.ascontiguousarray(X, dtype=np.float32)
    y = np.ascontiguousarray(y, dtype=np.int32)
    n, n_feat = X.shape
    if n == 0 or y.shape != (n,):
        raise ValueError(f"expected a non-empty training set and one class per sample, got X {X.shape}, y {y.shape}")
    if y.min() < 0 or y.max() >= n_classes:
        raise ValueError(f"class indices must lie in 0..{n_classes - 1}")
    if not np.isfinite(X).all():
        raise ValueError("training features contain NaN or Inf values")
    if not 1 <= mtry <= n_feat:
        raise ValueError(f"mtry must lie in 1..{n_feat}, got {mtry}")
    states = tree_states(seed, trees)
    most = numba.config.NUMBA_NUM_THREADS
    n_jobs = -1 if n_jobs is None else n_jobs
    threads = min(most, n_jobs if n_jobs > 0 else max(1, most + 1 + n_jobs))
    before = numba.get_num_threads()
    numba.set_num_threads(threads)
    try:
        return _train(X, y, n_classes, states, mtry, threads)
    finally:
        numba.set_num_threads(before)


def tree_states(seed, trees: int) -> np.ndarray:
    """The initial random state (uint64) of each tree: from (seed, tree index), fresh entropy
    when ``seed`` is ``None``."""
    entropy = np.random.SeedSequence(seed).entropy
    return np.array([np.random.SeedSequence(entropy, spawn_key=(t,)).generate_state(1, np.uint64)[0]
                     for t in range(trees)], dtype=np.uint64)


def bin_features(X: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Bin codes of float32 features ``X`` (n, F), each sample's in whole words (n, ceil(F / 8))
    uint64 (code of feature f: byte f), and each bin's smallest and largest training value
    (F, MAX_BINS) float32 (unused bins: 0)."""
    n, n_feat = X.shape
    codes = np.zeros((n, (n_feat + 7) // 8), np.uint64)
    lower = np.zeros((n_feat, MAX_BINS), np.float32)
    upper = np.zeros((n_feat, MAX_BINS), np.float32)
    parallel_call(_bin_features, X, codes.view(np.uint8), lower, upper)
    return codes, lower, upper


def _train(X, y, n_classes, states, mtry, threads):
    n, n_feat = X.shape
    codes, lower, upper = bin_features(X)
    capacity = 2 * n - 1  # a tree has at most one leaf per distinct sample
    batch = max(threads, BATCH_BYTES // (capacity * (16 + 4 * n_classes)))
    votes = np.zeros((n, n_classes), np.float64)
    roots, parts = [], []
    offset = 0
    for t0 in range(0, states.size, batch):
        seeds = states[t0:t0 + batch]
        oob_leaf = np.empty((seeds.size, n), np.int32)
        trees = (np.empty((seeds.size, capacity), np.int32), np.empty((seeds.size, capacity), np.float32),
                 np.empty((seeds.size, capacity), np.int32), np.empty((seeds.size, capacity), np.int32),
                 np.empty((seeds.size, capacity, n_classes), np.float32))
        n_nodes = np.zeros(seeds.size, np.int64)
        stop = np.zeros(1, np.int64)  # Ctrl-C: trees not started yet are skipped, then KeyboardInterrupt
        interruptible(parallel_call, stop, _grow_trees, X, codes, lower, upper, y, mtry, seeds, oob_leaf, *trees,
                      n_nodes, stop)
        parallel_call(_oob_votes, oob_leaf, trees[-1], votes)
        starts = np.concatenate([[0], np.cumsum(n_nodes)])
        flat = tuple(np.empty((starts[-1],) + a.shape[2:], a.dtype) for a in trees)
        parallel_call(_flatten, starts, offset, *trees, *flat)
        roots.append(offset + starts[:-1])
        parts.append(flat)
        offset += int(starts[-1])
    forest = Forest.from_arrays(dict(roots=np.concatenate(roots), **{
        k: np.concatenate([p[i] for p in parts])
        for i, k in enumerate(("feature", "threshold", "left", "right", "value"))}), n_feat)
    seen = votes.sum(axis=1) > 0
    oob = float(np.mean(np.argmax(votes[seen], axis=1) != y[seen])) if seen.any() else None
    return forest, oob


# ---------------------------------------------------------------- compiled


@numba.njit(cache=True, inline="always")
def _next(state):  # pragma: no cover - compiled
    """splitmix64: the next state and its 64 random bits."""
    state = state + np.uint64(0x9E3779B97F4A7C15)
    z = state
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return state, z ^ (z >> np.uint64(31))


@numba.njit(cache=True, inline="always")
def _below(state, bound):  # pragma: no cover - compiled
    """The next state and a random integer in [0, bound), bound <= 2**32."""
    state, z = _next(state)
    return state, np.int64(((z >> np.uint64(32)) * np.uint64(bound)) >> np.uint64(32))


@numba.njit(parallel=True, cache=True, nogil=True)
def _bin_features(X, codes, lower, upper):  # pragma: no cover - compiled
    """Per feature: bins over the sorted values, one per distinct value when there are at most
    MAX_BINS, else closed at a value change once they hold (remaining samples / remaining bins)."""
    n, n_feat = X.shape
    for f in numba.prange(n_feat):
        col = X[:, f].copy()
        order = argsort(col)
        distinct = 1
        for k in range(1, n):
            distinct += col[order[k]] != col[order[k - 1]]
        exact = distinct <= MAX_BINS
        b = 0
        in_bin = 0
        remaining = n
        target = n / MAX_BINS
        prev = col[order[0]]
        lower[f, 0] = prev
        for k in range(n):
            v = col[order[k]]
            if v != prev:
                if exact or in_bin >= target:  # with one bin left, target = remaining: never
                    upper[f, b] = prev
                    b += 1
                    lower[f, b] = v
                    remaining -= in_bin
                    in_bin = 0
                    target = remaining / (MAX_BINS - b)
                prev = v
            codes[order[k], f] = b
            in_bin += 1
        upper[f, b] = prev


@numba.njit(parallel=True, cache=True, nogil=True)
def _grow_trees(X, codes, lower, upper, y, mtry, seeds, oob_leaf, feature, threshold, left, right, value,
                n_nodes, stop):  # pragma: no cover - compiled
    for t in numba.prange(seeds.size):
        if stop[0] != 0:
            continue
        n_nodes[t] = _grow_tree(X, codes, lower, upper, y, mtry, seeds[t], oob_leaf[t], feature[t], threshold[t],
                                left[t], right[t], value[t])


@numba.njit(cache=True, nogil=True)
def _grow_tree(X, codes, lower, upper, y, mtry, state, oob_leaf, feature, threshold, left, right,
               value):  # pragma: no cover - compiled
    """One tree from random state ``state``, depth first into the node arrays (preorder); returns
    its number of nodes. The samples it did not draw go down the tree as it grows (by their
    features ``X``, as the tree will predict them): ``oob_leaf`` gets the leaf of each, -1 for the
    samples drawn."""
    n = codes.shape[0]
    n_feat = lower.shape[0]
    n_classes = value.shape[1]
    weight = np.zeros(n, np.int32)
    for _ in range(n):
        state, i = _below(state, n)
        weight[i] += 1
    m = 0
    for i in range(n):
        m += weight[i] > 0
    # the distinct samples drawn, their codes, classes and weights, moved together by partitions:
    # a node's samples lie together, and are read in order
    words = np.empty((m, codes.shape[1]), np.uint64)
    cls = np.empty(m, np.int32)
    wt = np.empty(m, np.int32)
    oob = np.empty(n - m, np.int32)
    oob_words = np.empty((n - m, codes.shape[1]), np.uint64)
    k = 0
    for i in range(n):
        if weight[i] > 0:
            words[k] = codes[i]
            cls[k] = y[i]
            wt[k] = weight[i]
            k += 1
            oob_leaf[i] = -1
        else:
            oob[i - k] = i
            oob_words[i - k] = codes[i]
    rec = words.view(np.uint8)
    oob_rec = oob_words.view(np.uint8)
    features = np.arange(n_feat)
    hist = np.zeros((mtry, MAX_BINS, n_classes), np.int32)
    occupied = np.zeros((mtry, MAX_BINS // 64), np.uint64)
    cum = np.empty(n_classes, np.int64)
    best_left = np.empty(n_classes, np.int64)
    # stack of nodes to grow: ranges of samples drawn and not drawn, link (0: the root, 2 p + 1:
    # left child of p, 2 p + 2: right child of p) and class weights
    st_range = np.empty((m + 1, 4), np.int64)
    st_link = np.empty(m + 1, np.int64)
    st_counts = np.zeros((m + 1, n_classes), np.int64)
    for k in range(m):
        st_counts[0, cls[k]] += wt[k]
    st_range[0, 0] = 0
    st_range[0, 1] = m
    st_range[0, 2] = 0
    st_range[0, 3] = n - m
    st_link[0] = 0
    sp = 1
    node = 0
    while sp > 0:
        sp -= 1
        start, end, o_start, o_end = st_range[sp, 0], st_range[sp, 1], st_range[sp, 2], st_range[sp, 3]
        link = st_link[sp]
        counts = st_counts[sp]
        if link & 1:
            left[(link - 1) >> 1] = node
        elif link:
            right[(link - 2) >> 1] = node
        total = 0
        present = 0
        for c in range(n_classes):
            total += counts[c]
            present += counts[c] > 0
        for c in range(n_classes):
            value[node, c] = counts[c] / total
        feature[node] = 0
        threshold[node] = 0
        left[node] = LEAF
        right[node] = LEAF
        if present > 1:
            state, f, b, b_next = _best_split(rec, cls, wt, start, end, counts, mtry, state, features,
                                              hist, occupied, cum, best_left)
            if f >= 0:
                mid = _partition(words, rec, f, b, cls, wt, start, end)
                t = _threshold(upper[f, b], lower[f, b_next])
                o_mid = _partition_oob(X, f, b, b_next, t, oob, oob_words, oob_rec, o_start, o_end)
                feature[node] = f
                threshold[node] = t
                st_range[sp] = (mid, end, o_mid, o_end)
                st_link[sp] = 2 * node + 2
                for c in range(n_classes):
                    st_counts[sp, c] = counts[c] - best_left[c]
                st_range[sp + 1] = (start, mid, o_start, o_mid)
                st_link[sp + 1] = 2 * node + 1
                st_counts[sp + 1, :] = best_left
                sp += 2
                node += 1
                continue
        for k in range(o_start, o_end):
            oob_leaf[oob[k]] = node
        node += 1
    return node


@numba.njit(cache=True, nogil=True)
def _best_split(rec, cls, wt, start, end, counts, mtry, state, features, hist, occupied, cum,
                best_left):  # pragma: no cover - compiled
    """The best Gini split of the node holding the samples coded ``rec[start:end]``, with class weights
    ``counts``: (state, feature, last bin of the left side, first bin of the right side), feature
    -1 when every feature drawn is constant in the node. Features are drawn without replacement
    (a partial Fisher-Yates shuffle of ``features``), ``mtry`` of them and then more, one at a
    time, while all drawn are constant. Leaves the left side's class weights in ``best_left``."""
    n_feat = features.size
    n_classes = counts.size
    total = 0
    for c in range(n_classes):
        total += counts[c]
    best = -1.0
    best_f, best_b, best_next = -1, 0, 0
    drawn = 0
    varying = 0
    while drawn < n_feat and (drawn < mtry or varying == 0):
        batch = mtry if drawn == 0 else 1
        for j in range(drawn, drawn + batch):
            state, r = _below(state, n_feat - j)
            f = features[j + r]
            features[j + r] = features[j]
            features[j] = f
        _fill(rec, features[drawn:drawn + batch], cls, wt, start, end, hist, occupied)
        for j in range(batch):
            f = features[drawn + j]
            h = hist[j]
            if n_classes == 2:
                # the same sums, products and quotients as _score, on scalars
                n0 = counts[0]
                n1 = counts[1]
                c0 = 0
                c1 = 0
                prev = -1
                first = -1
                for word in range(occupied.shape[1]):
                    bits = occupied[j, word]
                    occupied[j, word] = 0
                    while bits:
                        b = word * 64 + trailing_zeros(bits)
                        bits &= bits - np.uint64(1)
                        if prev < 0:
                            first = b
                        else:
                            a0 = float(c0)
                            a1 = float(c1)
                            r0 = float(n0 - c0)
                            r1 = float(n1 - c1)
                            w_left = c0 + c1
                            score = (a0 * a0 + a1 * a1) / w_left + (r0 * r0 + r1 * r1) / (total - w_left)
                            if score > best:
                                best, best_f, best_b, best_next = score, f, prev, b
                                best_left[0] = c0
                                best_left[1] = c1
                        c0 += h[b, 0]
                        c1 += h[b, 1]
                        h[b, 0] = 0
                        h[b, 1] = 0
                        prev = b
                varying += prev != first
                continue
            cum[:] = 0
            w_left = 0
            prev = -1
            several = False
            for word in range(occupied.shape[1]):
                bits = occupied[j, word]
                occupied[j, word] = 0
                while bits:
                    b = word * 64 + trailing_zeros(bits)
                    bits &= bits - np.uint64(1)
                    if prev >= 0:
                        several = True
                        score = _score(cum, counts, w_left, total)
                        if score > best:
                            best, best_f, best_b, best_next = score, f, prev, b
                            best_left[:] = cum
                    for c in range(n_classes):
                        cum[c] += h[b, c]
                        w_left += h[b, c]
                        h[b, c] = 0
                    prev = b
            varying += several
        drawn += batch
    return state, best_f, best_b, best_next


@numba.njit(cache=True, nogil=True)
def _fill(rec, features, cls, wt, start, end, hist, occupied):  # pragma: no cover - compiled
    """Per feature ``features[j]``: the histogram ``hist[j]`` (bins x classes) of the node's
    sample weights, and the bitmap ``occupied[j]`` of its bins occupied: one pass over the
    samples for six features (mtry is 6 for the default's 31 and for 36), then for three, then one at a time,
    the passes' feature indices held in registers (12-18 % off the fill, measured)."""
    nf = features.size
    j = 0
    while j + 6 <= nf:  # six features a pass, then three: their indices held, not reloaded
        f0 = features[j]
        f1 = features[j + 1]
        f2 = features[j + 2]
        f3 = features[j + 3]
        f4 = features[j + 4]
        f5 = features[j + 5]
        for k in range(start, end):
            c = cls[k]
            w = wt[k]
            b = rec[k, f0]
            hist[j, b, c] += w
            occupied[j, b >> 6] |= np.uint64(1) << np.uint64(b & 63)
            b = rec[k, f1]
            hist[j + 1, b, c] += w
            occupied[j + 1, b >> 6] |= np.uint64(1) << np.uint64(b & 63)
            b = rec[k, f2]
            hist[j + 2, b, c] += w
            occupied[j + 2, b >> 6] |= np.uint64(1) << np.uint64(b & 63)
            b = rec[k, f3]
            hist[j + 3, b, c] += w
            occupied[j + 3, b >> 6] |= np.uint64(1) << np.uint64(b & 63)
            b = rec[k, f4]
            hist[j + 4, b, c] += w
            occupied[j + 4, b >> 6] |= np.uint64(1) << np.uint64(b & 63)
            b = rec[k, f5]
            hist[j + 5, b, c] += w
            occupied[j + 5, b >> 6] |= np.uint64(1) << np.uint64(b & 63)
        j += 6
    while j + 3 <= nf:
        f0 = features[j]
        f1 = features[j + 1]
        f2 = features[j + 2]
        for k in range(start, end):
            c = cls[k]
            w = wt[k]
            b = rec[k, f0]
            hist[j, b, c] += w
            occupied[j, b >> 6] |= np.uint64(1) << np.uint64(b & 63)
            b = rec[k, f1]
            hist[j + 1, b, c] += w
            occupied[j + 1, b >> 6] |= np.uint64(1) << np.uint64(b & 63)
            b = rec[k, f2]
            hist[j + 2, b, c] += w
            occupied[j + 2, b >> 6] |= np.uint64(1) << np.uint64(b & 63)
        j += 3
    for t in range(j, nf):  # the features left after the unrolled groups
        f = features[t]
        for k in range(start, end):
            b = rec[k, f]
            hist[t, b, cls[k]] += wt[k]
            occupied[t, b >> 6] |= np.uint64(1) << np.uint64(b & 63)


@numba.njit(cache=True, inline="always")
def _score(cum, counts, w_left, total):  # pragma: no cover - compiled
    """Gini split score: sum_c L_c^2 / |L| + sum_c R_c^2 / |R| (weighted), which is the node's
    weight minus the weighted Gini impurity of the two sides."""
    sl = 0.0
    sr = 0.0
    for c in range(cum.size):
        a = float(cum[c])
        r = float(counts[c] - cum[c])
        sl += a * a
        sr += r * r
    return sl / w_left + sr / (total - w_left)


@numba.njit(cache=True, nogil=True)
def _partition(words, rec, f, b, cls, wt, start, end):  # pragma: no cover - compiled
    """Reorder the node's samples (``words``: their codes, ``rec`` the same as bytes) so that
    those with ``rec[k, f] <= b`` come first; returns where the others begin. Only the pairs
    on the wrong sides are swapped."""
    i, j = start, end - 1
    while True:
        while i <= j and rec[i, f] <= b:
            i += 1
        while i < j and rec[j, f] > b:
            j -= 1
        if i >= j:
            return i
        for w in range(words.shape[1]):
            words[i, w], words[j, w] = words[j, w], words[i, w]
        cls[i], cls[j] = cls[j], cls[i]
        wt[i], wt[j] = wt[j], wt[i]
        i += 1
        j -= 1


@numba.njit(cache=True, inline="always")
def _threshold(a, c):  # pragma: no cover - compiled
    """A float32 ``t`` with ``a <= t < c`` (float32 ``a < c``): their midpoint, or ``a`` when it
    rounds to ``c``."""
    t = np.float32(0.5 * (np.float64(a) + np.float64(c)))
    return t if t < c else a


@numba.njit(cache=True, nogil=True)
def _partition_oob(X, f, b, b_next, t, oob, words, rec, start, end):  # pragma: no cover - compiled
    """Reorder samples ``oob[start:end]`` (``words``: their codes, ``rec`` the same as bytes) so
    that those with ``X[i, f] <= t`` come first; returns where the others begin. Their codes
    decide (bin <= ``b``: at most ``upper[f, b]`` <= t; bin >= ``b_next``: at least
    ``lower[f, b_next]`` > t), and ``X`` only for a bin in between (unoccupied in the node)."""
    i, j = start, end
    while i < j:
        code = rec[i, f]
        if code <= b or (code < b_next and X[oob[i], f] <= t):
            i += 1
        else:
            j -= 1
            oob[i], oob[j] = oob[j], oob[i]
            for w in range(words.shape[1]):
                words[i, w], words[j, w] = words[j, w], words[i, w]
    return i


@numba.njit(parallel=True, cache=True, nogil=True)
def _oob_votes(oob_leaf, value, votes):  # pragma: no cover - compiled
    """Add to ``votes`` of each sample the class frequencies of its leaf in each tree that did
    not draw it (``oob_leaf[t, i] >= 0``), trees in order."""
    n = votes.shape[0]
    for blk in numba.prange((n + OOB_BLOCK - 1) // OOB_BLOCK):
        for t in range(oob_leaf.shape[0]):
            for i in range(blk * OOB_BLOCK, min(n, (blk + 1) * OOB_BLOCK)):
                leaf = oob_leaf[t, i]
                if leaf >= 0:
                    for c in range(votes.shape[1]):
                        votes[i, c] += value[t, leaf, c]


@numba.njit(parallel=True, cache=True, nogil=True)
def _flatten(starts, offset, feature, threshold, left, right, value, f_out, t_out, l_out, r_out,
             v_out):  # pragma: no cover - compiled
    """Concatenate the trees' node arrays, tree t from ``starts[t]``; child indices shifted by
    ``offset + starts[t]``."""
    for t in numba.prange(starts.size - 1):
        s = starts[t]
        shift = offset + s
        for k in range(starts[t + 1] - s):
            f_out[s + k] = feature[t, k]
            t_out[s + k] = threshold[t, k]
            l_out[s + k] = left[t, k] + shift if left[t, k] != LEAF else LEAF
            r_out[s + k] = right[t, k] + shift if right[t, k] != LEAF else LEAF
            v_out[s + k] = value[t, k]
