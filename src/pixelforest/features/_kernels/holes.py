"""Local grey-level hole filling, pixelforest's ``HoleFilling`` and ``DarkHoleFilling`` features (compiled
with numba).

At reach ``D`` the *dark* value of a pixel p is the lowest level t at which p is connected (4-
or 6-connectivity) through pixels <= t to a pixel at Chebyshev distance >= D from p or to the
image border: the min over paths from p to there of the path's maximum. A dark structure that
ends within D of p in every direction (a speck, a vesicle, an organelle narrower than 2D) is
filled up to the level of what surrounds it; one that runs on (a membrane, which is a network)
keeps its value. The *bright* value is the dual (bright specks cut down to their surroundings).
It is grey-level "fill holes" (reconstruction from the border) in the window of half-width D
around each pixel, and depends only on that window: a block with a halo of D pixels gives the
whole image's values exactly.

All reaches of one polarity come from one component tree, built by flooding (Nister and
Stewenius' linear-time component tree: from a pixel, each newly seen neighbour is either queued by
its level or, when lower, entered at once; pixels leave a bucket queue over dense grey-level ranks,
so the work goes from pixel to neighbour instead of through memory in grey-level order). Each node
keeps its bounding box; the value at p is the level of p's lowest ancestor whose box reaches D from
p or touches the border. The image is cut into tiles, one job per tile and polarity, each with a
halo of its polarity's largest reach (see :func:`hole_filling`).
"""

from __future__ import annotations

import functools
import math

import numpy as np

from ..._compiled import BORROWING, argsort, njit, order_key
from .tasks import run_jobs

#: pixels (2D) or voxels (3D) of one tile with its halo; a job (one tile's polarity) holds about 45
#: bytes of work arrays per pixel (about 95 MB). Tile sizes of 2**19 to 2**22 took about the same
#: time; larger tiles compute less halo
TILE_PIXELS = 2**21
TILE_VOXELS = 2**21
#: images (or tiles) with up to this many distinct values (8- and 16-bit ones) are ranked by
#: hashing; others tile by tile, by sorting
HASHED_LEVELS = 2**16
#: where a box on a tile's border starts (every reach is shorter: the largest is 4 x MAX_SCALE)
OPEN = 2**14
_HASH_BITS = 17


def tile_cores(Z: int, Y: int, X: int, halo: int, tile_pixels: int | None = None) -> np.ndarray:
    """Cores ``(y0, y1, x0, x1)`` of the tiles that cover a ``(Z, Y, X)`` volume (all of Z in each):
    as near equal as can be, a side at most ``sqrt(tile_pixels / Z) - 2 halo`` and at least
    ``4 halo`` (so that the halo makes a tile's side at most 1.5 times its core's)."""
    if tile_pixels is None:
        tile_pixels = TILE_PIXELS if Z == 1 else TILE_VOXELS
    side = max(4 * halo, 64, int(math.sqrt(tile_pixels / Z)) - 2 * halo)
    ny, nx = -(-Y // side), -(-X // side)
    ys = np.linspace(0, Y, ny + 1).round().astype(np.int64)
    xs = np.linspace(0, X, nx + 1).round().astype(np.int64)
    return np.array([(ys[i], ys[i + 1], xs[j], xs[j + 1]) for i in range(ny) for j in range(nx)], np.int64)


def hole_filling(data: np.ndarray, reaches, out2d: np.ndarray, dark_cols, bright_cols,
                 tile_pixels: int | None = None) -> None:
    """Dark and bright hole filling of one ``(Z, Y, X)`` float32 volume (``Z == 1``: a 2D plane)
    at each reach (ascending; one may repeat), written into columns ``dark_cols[j]`` /
    ``bright_cols[j]`` of ``out2d``, the ``(Z*Y*X, F)`` pixel-major output; a column of -1 is
    not computed, and a polarity with none is not computed at all (Dark Hole Filling).

    Computed tile by tile (in y and x), each tile with a halo of its polarity's largest reach: a
    value depends only on the window of its reach, and a tile's own border is at least that far
    from its core, so the tiles give the whole volume's values exactly. Each tile's two polarities are
    two jobs, taken by the threads as they come free (:func:`.tasks.run_jobs`)."""
    jobs = hole_filling_jobs(data, reaches, out2d, dark_cols, bright_cols, tile_pixels)
    run_jobs([job for _, job in sorted(jobs, key=lambda cj: -cj[0])])


def _prepare(data, reaches, dark_cols, bright_cols, tile_pixels):
    data = np.ascontiguousarray(data, dtype=np.float32)
    if data.ndim != 3:
        raise ValueError("hole_filling expects a (Z, Y, X) array")
    reaches = np.asarray(reaches, np.int64)
    cols = np.asarray([dark_cols, bright_cols], np.int64).reshape(2, reaches.size)
    if np.any(np.diff(reaches) < 0):
        raise ValueError(f"hole filling's reaches must be ascending, got {reaches.tolist()}")
    if reaches.max() >= OPEN:
        raise ValueError(f"hole filling's reaches must be under {OPEN}, got {int(reaches.max())}")
    Z, Y, X = data.shape
    halo = int(reaches.max())
    tiles = tile_cores(Z, Y, X, halo, tile_pixels)
    sides = [min(Y, int((tiles[:, 1] - tiles[:, 0]).max()) + 2 * halo),
             min(X, int((tiles[:, 3] - tiles[:, 2]).max()) + 2 * halo)]
    if (Z + 2) * (sides[0] + 2) * (sides[1] + 2) >= 2**31:  # (a tile is padded by one pixel all round)
        raise ValueError(f"hole filling works on tiles of under 2**31 pixels; this {Z}-slice volume is too deep")
    box = np.empty(0, np.int16 if max(Z, *sides) < 2**15 else np.int32)
    # per polarity, the reaches it writes and their columns (none: the polarity is not computed)
    wanted = [(reaches[cols[pol] >= 0], cols[pol][cols[pol] >= 0]) for pol in (0, 1)]
    data = data + np.float32(0.0)  # (-0.0 -> +0.0)
    return data, tiles, halo, wanted, box


def hole_filling_jobs(data: np.ndarray, reaches, out2d: np.ndarray, dark_cols, bright_cols,
                      tile_pixels: int | None = None) -> list:
    """:func:`hole_filling` as a list of ``(cost, job)``, one job per tile and polarity computed,
    for :func:`.tasks.run_jobs`; cost is the tile's pixels. The grey levels are ranked here,
    once for all jobs, when both polarities are computed; else each job ranks its own window
    (Dark Hole Filling: the ranks then come while the other jobs run)."""
    data, tiles, halo, wanted, box = _prepare(data, reaches, dark_cols, bright_cols, tile_pixels)
    Z, Y, X = data.shape
    both = all(c.size for _, c in wanted)
    # with both polarities each tile's ranks serve two jobs: the image is ranked once, here;
    # with one, each job ranks its own window, in parallel with the others
    levels, values = dense_levels(data) if both else (np.empty(0, np.int32), np.empty(0, np.float32))
    jobs = []
    for i in range(len(tiles)):
        y0, y1, x0, x1 = (int(v) for v in tiles[i])
        for pol, (pol_reaches, pol_cols) in enumerate(wanted):
            if pol_cols.size:
                h = int(pol_reaches.max())  # (a polarity's window needs only its own largest reach)
                cost = Z * (min(Y, y1 + h) - max(0, y0 - h)) * (min(X, x1 + h) - max(0, x0 - h))
                jobs.append((cost, functools.partial(tile_job, data, levels, values, tiles, i, pol, h, pol_reaches,
                                                     out2d, pol_cols, box)))
    return jobs


@njit(cache=True, nogil=True)
def _slot(table, k):  # pragma: no cover - compiled
    """The slot of key ``k`` in the open-addressing ``table`` (its own, or the empty one it would take)."""
    mask = np.uint64(table.size - 1)
    h = ((np.uint64(k) * np.uint64(2654435761)) & np.uint64(0xFFFFFFFF)) >> np.uint64(32 - _HASH_BITS)
    while table[h] != k and table[h] != 0:
        h = (h + np.uint64(1)) & mask
    return h


@njit(cache=True, nogil=True)
def _hashed_ranks(data, Z, wy0, wy1, wx0, wx1):  # pragma: no cover - compiled
    """The distinct values of the window ``[wy0, wy1) x [wx0, wx1)`` of a ``(Z, Y, X)`` float32
    volume, by hashing: ``(table, rank_of, values)``, a value's rank being ``rank_of`` at its
    slot (:func:`_slot`) of ``table``, ``values`` ascending; three empty arrays when there are
    more than HASHED_LEVELS of them."""
    table = np.zeros(1 << _HASH_BITS, np.uint32)
    keys = np.empty(HASHED_LEVELS, np.uint32)
    distinct = np.empty(HASHED_LEVELS, np.float32)
    nd = 0
    for z in range(Z):
        for y in range(wy0, wy1):
            row = data[z, y, wx0:wx1]
            bits = row.view(np.uint32)
            for x in range(wx1 - wx0):
                k = order_key(bits[x])
                h = _slot(table, k)
                if table[h] == 0:
                    if nd == HASHED_LEVELS:
                        return np.empty(0, np.uint32), np.empty(0, np.int32), np.empty(0, np.float32)
                    table[h] = k
                    keys[nd] = k
                    distinct[nd] = row[x]
                    nd += 1
    rank_of = np.empty(table.size, np.int32)
    order = argsort(distinct[:nd])  # (the trainer's compiled sort: no other sort to compile)
    values = np.empty(nd, np.float32)
    for r in range(nd):
        rank_of[_slot(table, keys[order[r]])] = r
        values[r] = distinct[order[r]]
    return table, rank_of, values


@njit(cache=True, nogil=True)
def dense_levels(data):  # pragma: no cover - compiled
    """Each value's rank among the ``(Z, Y, X)`` image's distinct values (int32, flat) and those
    values ascending; two empty arrays when there are more than HASHED_LEVELS of them."""
    Z, Y, X = data.shape
    table, rank_of, values = _hashed_ranks(data, Z, 0, Y, 0, X)
    if table.size == 0:
        return np.empty(0, np.int32), values
    bits = data.ravel().view(np.uint32)
    levels = np.empty(bits.size, np.int32)
    for i in range(bits.size):
        levels[i] = rank_of[_slot(table, order_key(bits[i]))]
    return levels, values


@njit(cache=True, nogil=True)
def tile_job(data, levels, values, tiles, i, pol, halo, reaches, out2d, cols, box):  # pragma: no cover - compiled
    """Tile ``i`` of :func:`hole_filling`, polarity ``pol`` (0 dark, 1 bright): its value at each
    of ``reaches`` into column ``cols[j]``."""
    Z, Y, X = data.shape
    y0, y1, x0, x1 = tiles[i, 0], tiles[i, 1], tiles[i, 2], tiles[i, 3]
    wy0, wy1 = max(0, y0 - halo), min(Y, y1 + halo)
    wx0, wx1 = max(0, x0 - halo), min(X, x1 + halo)
    ty, tx = wy1 - wy0, wx1 - wx0
    pz = 1 if Z > 1 else 0
    levp = np.empty((Z + 2 * pz) * (ty + 2) * (tx + 2), np.int32)
    if levels.size:
        vals = _tile_levels_from(levels.reshape(data.shape), Z, wy0, wy1, wx0, wx1, pz, levp, pol, values)
    else:
        vals = _tile_levels_hashed(data, Z, wy0, wy1, wx0, wx1, pz, levp, pol)
        if vals.size == 0:
            vals = _tile_levels_sorted(data, Z, wy0, wy1, wx0, wx1, pz, levp, pol)
    n = Z * ty * tx
    node_of = np.empty(levp.size, np.int32)
    parent = np.empty(n, np.int32)
    up = np.empty(n, np.int32)
    fin = np.empty(n, np.int32)
    bb = np.empty((n, 6), box.dtype)
    val = np.empty(n, np.float32)
    nodes = _flood(levp, vals.size, Z, ty, tx, node_of, parent, fin, val, vals)
    _boxes(node_of, parent, fin, up, bb, nodes, Z, ty, tx)
    _walk(node_of, val, up, bb, Z, ty, tx, y0 - wy0, y1 - wy0, x0 - wx0, x1 - wx0, wy0, wx0, Y, X,
          reaches, out2d, cols)


@njit(cache=True, nogil=True)
def _tile_levels_from(levels, Z, wy0, wy1, wx0, wx1, pz, levp, pol, values):  # pragma: no cover - compiled
    """The window's ranks (the image's) into the padded ``levp``, reversed for the bright
    polarity; the values of the ranks in the polarity's order."""
    ty, tx = wy1 - wy0, wx1 - wx0
    top = values.size - 1
    for z in range(Z):
        for y in range(ty):
            o = ((z + pz) * (ty + 2) + y + 1) * (tx + 2) + 1
            src, dst = levels[z, wy0 + y, wx0:wx1], levp[o:o + tx]  # (views: no wrap-around checks)
            if pol == 1:
                for x in range(tx):
                    dst[x] = top - src[x]
            else:
                for x in range(tx):
                    dst[x] = src[x]
    return values[::-1].copy() if pol == 1 else values


@njit(cache=True, nogil=True)
def _tile_levels_hashed(data, Z, wy0, wy1, wx0, wx1, pz, levp, pol):  # pragma: no cover - compiled
    """The window's ranks among its own distinct values, by hashing (:func:`_hashed_ranks`),
    into ``levp`` as :func:`_tile_levels_from`; an empty array when the window holds more than
    HASHED_LEVELS values."""
    table, rank_of, values = _hashed_ranks(data, Z, wy0, wy1, wx0, wx1)
    if table.size == 0:
        return values
    ty, tx = wy1 - wy0, wx1 - wx0
    top = values.size - 1
    for z in range(Z):
        for y in range(ty):
            bits = data[z, wy0 + y, wx0:wx1].view(np.uint32)
            dst = levp[((z + pz) * (ty + 2) + y + 1) * (tx + 2) + 1:][:tx]
            for x in range(tx):
                r = rank_of[_slot(table, order_key(bits[x]))]
                dst[x] = top - r if pol == 1 else r  # (the bright polarity: ranks reversed)
    return values[::-1].copy() if pol == 1 else values


@njit(cache=True, nogil=True)
def _tile_levels_sorted(data, Z, wy0, wy1, wx0, wx1, pz, levp, pol):  # pragma: no cover - compiled
    """The window's ranks among its own distinct values (by sorting), as :func:`_tile_levels_from`."""
    ty, tx = wy1 - wy0, wx1 - wx0
    f = np.empty(Z * ty * tx, np.float32)
    k = 0
    for z in range(Z):
        for y in range(wy0, wy1):
            for x in range(wx0, wx1):
                f[k] = data[z, y, x]
                k += 1
    order = argsort(f)
    vals = np.empty(f.size, np.float32)
    nd = 0
    for j in range(f.size):
        p = order[f.size - 1 - j] if pol == 1 else order[j]
        if nd == 0 or f[p] != vals[nd - 1]:
            vals[nd] = f[p]
            nd += 1
        z, r = divmod(p, ty * tx)
        y, x = divmod(r, tx)
        levp[((z + pz) * (ty + 2) + y + 1) * (tx + 2) + x + 1] = nd - 1
    return vals[:nd]


@njit(cache=True, nogil=True)
def _bitmap(n):  # pragma: no cover - compiled
    """A hierarchical bit set of ``n`` entries: layer 0 a bit per entry, each next layer a bit per
    word of the one below, up to one word; ``(words, offsets)`` (``offsets[k]``: layer k's first
    word; the last: the total)."""
    offs = np.zeros(8, np.int64)
    depth = 0
    m = n
    while True:
        w = (m + 63) >> 6
        offs[depth + 1] = offs[depth] + w
        depth += 1
        if w == 1:
            break
        m = w
    return np.zeros(offs[depth], np.uint64), offs[:depth + 1].copy()


@njit(cache=True, nogil=True, **BORROWING)
def _bit_set(words, offs, i):  # pragma: no cover - compiled
    for k in range(offs.size - 1):
        j = offs[k] + (i >> 6)
        was = words[j]
        words[j] = was | (np.uint64(1) << np.uint64(i & 63))
        if was != 0:
            return
        i >>= 6


@njit(cache=True, nogil=True, **BORROWING)
def _bit_clear(words, offs, i):  # pragma: no cover - compiled
    for k in range(offs.size - 1):
        j = offs[k] + (i >> 6)
        words[j] &= ~(np.uint64(1) << np.uint64(i & 63))
        if words[j] != 0:
            return
        i >>= 6


@njit(cache=True, nogil=True, **BORROWING)
def _lowest_bit(m):  # pragma: no cover - compiled
    """The index of the lowest set bit of a non-zero uint64 (de Bruijn multiplication)."""
    return _DEBRUIJN[((m & (~m + np.uint64(1))) * np.uint64(0x03F79D71B4CB0A89)) >> np.uint64(58)]


_DEBRUIJN = np.array([0, 1, 48, 2, 57, 49, 28, 3, 61, 58, 50, 42, 38, 29, 17, 4, 62, 55, 59, 36, 53, 51, 43, 22,
                      45, 39, 33, 30, 24, 18, 12, 5, 63, 47, 56, 27, 60, 41, 37, 16, 54, 35, 52, 21, 44, 32, 23, 11,
                      46, 26, 40, 15, 34, 20, 31, 10, 25, 14, 19, 9, 13, 8, 7, 6], np.int64)


@njit(cache=True, nogil=True, **BORROWING)
def _bit_next(words, offs, i):  # pragma: no cover - compiled
    """The lowest set entry >= ``i``, or -1."""
    k = 0
    depth = offs.size - 1
    while True:
        w = i >> 6
        if w >= offs[k + 1] - offs[k]:
            return -1
        m = words[offs[k] + w] & (np.uint64(0xFFFFFFFFFFFFFFFF) << np.uint64(i & 63))
        if m != 0:
            i = (w << 6) + _lowest_bit(m)
            break
        k += 1
        if k == depth:
            return -1
        i = w + 1
    while k > 0:
        k -= 1
        i = (i << 6) + _lowest_bit(words[offs[k] + i])
    return i


@njit(cache=True, nogil=True)
def _flood(levp, nlev, Z, Y, X, node_of, parent, fin, val, vals):  # pragma: no cover - compiled
    """Component tree of the lower level sets of a padded ``(Z, Y, X)`` tile's ranks ``levp``
    (``Z + 2`` planes in 3D, one in 2D; rows and columns padded by one) by flooding. Writes each
    pixel's node (``node_of``, padded), each node's parent (the root: itself) and level value,
    and ``fin``, the nodes children first; returns the number of nodes. ``levp`` is used up: a
    pixel seen is marked -1 there (its level is known from then on), so that a neighbour is
    looked at with one read."""
    pz = 1 if Z > 1 else 0
    Xp, YXp = X + 2, (Y + 2) * (X + 2)
    off = np.array([-1, 1, -Xp, Xp, -YXp, YXp], np.int64)
    n_edges = 6 if Z > 1 else 4
    _mark_border(levp, Z, Y, X, pz)
    words, offs = _bitmap(nlev)
    head = np.full(nlev, -1, np.int32)
    nxt = np.empty(levp.size, np.int32)
    edge = np.empty(levp.size, np.uint8)
    stack = np.empty((nlev + 1, 2), np.int32)  # the open components: level, node
    cur = (pz * (Y + 2) + 1) * Xp + 1
    lc = levp[cur]
    levp[cur] = -1
    stack[0, 0], stack[0, 1] = lc, 0
    val[0] = vals[lc]
    nn, nf, sp, e = 1, 0, 1, 0
    while True:
        while e < n_edges:  # the neighbours not seen yet: higher ones queued, a lower one entered
            q = cur + off[e]
            e += 1
            lq = levp[q]
            if lq < 0:  # (seen, or the padding)
                continue
            levp[q] = -1
            if lq >= lc:
                edge[q] = 0
                _queue(lq, q, head, nxt, words, offs)
            else:
                edge[cur] = e
                _queue(lc, cur, head, nxt, words, offs)
                cur, lc, e = q, lq, 0
                stack[sp, 0], stack[sp, 1] = lq, nn
                val[nn] = vals[lq]
                nn += 1
                sp += 1
        node_of[cur] = stack[sp - 1, 1]
        lc = stack[sp - 1, 0]
        if head[lc] == -1:
            lc = _bit_next(words, offs, lc)
            if lc < 0:
                break
        cur = head[lc]
        head[lc] = nxt[cur]
        if head[lc] == -1:
            _bit_clear(words, offs, lc)
        e = edge[cur]
        nn, nf, sp = _close(stack, sp, lc, parent, fin, val, vals, nn, nf)
    _close_all(stack, sp, parent, fin, nf)
    return nn


@njit(cache=True, nogil=True, **BORROWING)
def _queue(level, p, head, nxt, words, offs):  # pragma: no cover - compiled
    nxt[p] = head[level]
    head[level] = p
    _bit_set(words, offs, level)


@njit(cache=True, nogil=True, **BORROWING)
def _close(stack, sp, level, parent, fin, val, vals, nn, nf):  # pragma: no cover - compiled
    """The flood goes up to ``level``: open components below it end, each merged into the next
    open one when that is not above ``level``, else raised into a new node at ``level``."""
    while level > stack[sp - 1, 0]:
        c = stack[sp - 1, 1]
        fin[nf] = c
        nf += 1
        if sp == 1 or level < stack[sp - 2, 0]:
            parent[c] = nn
            val[nn] = vals[level]
            stack[sp - 1, 0], stack[sp - 1, 1] = level, nn
            nn += 1
        else:
            parent[c] = stack[sp - 2, 1]
            sp -= 1
    return nn, nf, sp


@njit(cache=True, nogil=True, **BORROWING)
def _close_all(stack, sp, parent, fin, nf):  # pragma: no cover - compiled
    """Every pixel taken: the open components nest, each in the one below; the last is the root."""
    while sp > 1:
        fin[nf] = stack[sp - 1, 1]
        parent[stack[sp - 1, 1]] = stack[sp - 2, 1]
        nf += 1
        sp -= 1
    parent[stack[0, 1]] = stack[0, 1]
    fin[nf] = stack[0, 1]


@njit(cache=True, nogil=True, **BORROWING)
def _mark_border(levp, Z, Y, X, pz):  # pragma: no cover - compiled
    """-1 (seen: never entered) on the padding of ``levp`` (two planes in 3D, the first and last
    row of each plane, the first and last column of each row)."""
    Xp, YXp = X + 2, (Y + 2) * (X + 2)
    for z in range(Z + 2 * pz):
        o = z * YXp
        if z < pz or z >= Z + pz:
            levp[o:o + YXp] = -1
            continue
        levp[o:o + Xp] = -1
        levp[o + (Y + 1) * Xp:o + YXp] = -1
        for y in range(1, Y + 1):
            levp[o + y * Xp] = -1
            levp[o + y * Xp + X + 1] = -1


@njit(cache=True, nogil=True, **BORROWING)
def _boxes(node_of, parent, fin, up, bb, nodes, Z, Y, X):  # pragma: no cover - compiled
    """Each node's bounding box (z0, z1, y0, y1, x0, x1): its own pixels (in memory order, no
    division per pixel), then each child's into its parent (children first); a box that touches
    the tile's border (z only in 3D) then starts at -OPEN on every axis. Then ``up``: each
    node's first ancestor with a different box (the root: itself): the distances a box reaches
    are the same along a run of equal boxes, so a walk skips the run."""
    pz = 1 if Z > 1 else 0
    for k in range(nodes):
        bb[k, 0], bb[k, 1], bb[k, 2], bb[k, 3], bb[k, 4], bb[k, 5] = Z, -1, Y, -1, X, -1
    for z in range(Z):
        for y in range(Y):
            o = ((z + pz) * (Y + 2) + y + 1) * (X + 2) + 1
            for x in range(X):
                t = node_of[o + x]
                bb[t, 0] = min(bb[t, 0], z)
                bb[t, 1] = max(bb[t, 1], z)
                bb[t, 2] = min(bb[t, 2], y)
                bb[t, 3] = max(bb[t, 3], y)
                bb[t, 4] = min(bb[t, 4], x)
                bb[t, 5] = max(bb[t, 5], x)
    for k in range(nodes - 1):
        c, s = fin[k], parent[fin[k]]
        for j in range(0, 6, 2):
            bb[s, j] = min(bb[s, j], bb[c, j])
            bb[s, j + 1] = max(bb[s, j + 1], bb[c, j + 1])
    for k in range(nodes):  # a box on the tile's border reaches every distance: its lower corner made far off
        if (bb[k, 2] == 0 or bb[k, 4] == 0 or bb[k, 3] == Y - 1 or bb[k, 5] == X - 1
                or (Z > 1 and (bb[k, 0] == 0 or bb[k, 1] == Z - 1))):
            bb[k, 0], bb[k, 2], bb[k, 4] = -OPEN, -OPEN, -OPEN
    for k in range(nodes - 1, -1, -1):
        c = fin[k]
        q = parent[c]
        same = True
        for j in range(6):
            same = same and bb[q, j] == bb[c, j]
        up[c] = c if q == c else (up[q] if same else q)


@njit(cache=True, nogil=True, **BORROWING)
def _walk(node_of, val, up, bb, Z, Y, X, cy0, cy1, cx0, cx1, oy, ox, OY, OX, reaches, out2d, cols):  # pragma: no cover
    """For every pixel of the core ``[cy0, cy1) x [cx0, cx1)`` of a padded ``(Z, Y, X)`` tile, climb
    from its node (by ``up``) to the first ancestor whose box reaches each distance (ascending)
    from it or touches the tile's border (z only in 3D; such a box starts at -OPEN, see
    :func:`_boxes`); write that level to the output row of
    the pixel (the tile starts at ``(oy, ox)`` of the ``(Z, OY, OX)`` volume)."""
    pz = 1 if Z > 1 else 0
    for z in range(Z):
        for y in range(cy0, cy1):
            for x in range(cx0, cx1):
                node = node_of[((z + pz) * (Y + 2) + y + 1) * (X + 2) + x + 1]
                row = out2d[(z * OY + y + oy) * OX + x + ox]
                # the distances the node's box reaches from the pixel, held while it stays the node
                # (the output's writes would otherwise have the box read again: they may alias)
                e = max(y - bb[node, 2], bb[node, 3] - y, x - bb[node, 4], bb[node, 5] - x)
                if Z > 1:
                    e = max(e, z - bb[node, 0], bb[node, 1] - z)
                v = val[node]
                for j in range(reaches.size):
                    d = reaches[j]
                    while e < d:  # (ends at the root at the latest: its box is the tile's)
                        node = up[node]
                        e = max(y - bb[node, 2], bb[node, 3] - y, x - bb[node, 4], bb[node, 5] - x)
                        if Z > 1:
                            e = max(e, z - bb[node, 0], bb[node, 1] - z)
                        v = val[node]
                    row[cols[j]] = v
