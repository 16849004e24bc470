"""Local grey-level hole filling, pixelforest's ``HoleFilling`` feature (compiled with numba).

At reach ``D`` the *dark* value of a pixel p is the lowest level t at which p is connected (4-
or 6-connectivity) through pixels <= t to a pixel at Chebyshev distance >= D from p or to the
image border: the min over paths from p to there of the path's maximum. A dark structure that
ends within D of p in every direction (a speck, a vesicle, an organelle narrower than 2D) is
filled up to the level of what surrounds it; one that runs on (a membrane, which is a network)
keeps its value. The *bright* value is the dual (bright specks cut down to their surroundings).
It is grey-level "fill holes" (reconstruction from the border) in the window of half-width D
around each pixel, and depends only on that window: a block with a halo of D pixels gives the
whole image's values exactly.

All reaches of one polarity come from one component tree (Berger et al., union-find over the
pixels in grey-level order; each node keeps its bounding box): the value at p is the level of
p's lowest ancestor whose box reaches D from p or touches the border. The image is cut into
tiles with a halo of the largest reach, computed in parallel (see :func:`hole_filling`).
"""

from __future__ import annotations

import functools
import math

import numpy as np

from ..._compiled import HAVE_NUMBA, argsort, njit, parallel_call

if HAVE_NUMBA:
    import numba

    prange = numba.prange
else:  # pragma: no cover - numba is a dependency; this runs the same code (slowly) in Python
    prange = range


#: pixels (2D) or voxels (3D) of one tile with its halo, about 30 bytes each in work arrays: tiles
#: keep the tree's scattered accesses near one another (measured best here), and run in parallel
TILE_PIXELS = 2**19
TILE_VOXELS = 2**22


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
    at each reach, written into columns ``dark_cols[j]`` / ``bright_cols[j]`` of ``out2d``, the
    ``(Z*Y*X, F)`` pixel-major output.

    Computed tile by tile (in y and x), each tile with a halo of the largest reach: a value
    depends only on the window of its reach, and a tile's own border is at least that far from
    its core, so the tiles give the whole volume's values exactly."""
    args, n_tiles = _prepare(data, reaches, out2d, dark_cols, bright_cols, tile_pixels)
    # fewer tiles than threads (an image up to about 600 x 600): the two polarities run side by
    # side, each sorting the tile itself, instead of one thread doing both
    split = n_tiles < numba.get_num_threads() if HAVE_NUMBA else False
    parallel_call(_tiles, *args, split)


def _prepare(data, reaches, out2d, dark_cols, bright_cols, tile_pixels):
    data = np.ascontiguousarray(data, dtype=np.float32)
    if data.ndim != 3:
        raise ValueError("hole_filling expects a (Z, Y, X) array")
    reaches = np.asarray(reaches, np.int64)
    Z, Y, X = data.shape
    halo = int(reaches.max())
    tiles = tile_cores(Z, Y, X, halo, tile_pixels)
    sides = [min(Y, int((tiles[:, 1] - tiles[:, 0]).max()) + 2 * halo),
             min(X, int((tiles[:, 3] - tiles[:, 2]).max()) + 2 * halo)]
    if Z * sides[0] * sides[1] >= 2**31:
        raise ValueError(f"hole filling works on tiles of under 2**31 pixels; this {Z}-slice volume is too deep")
    box = np.empty(0, np.int16 if max(Z, *sides) < 2**15 else np.int32)
    cols = np.asarray([dark_cols, bright_cols], np.int64)
    return (data + np.float32(0.0), tiles, halo, reaches, out2d, cols, box), len(tiles)  # (-0.0 -> +0.0)


def hole_filling_jobs(data: np.ndarray, reaches, out2d: np.ndarray, dark_cols, bright_cols, threads: int,
                      tile_pixels: int | None = None) -> list:
    """:func:`hole_filling` as a list of ``(cost, job)``: each job one tile's polarity (or, with
    more tiles than ``threads``, both polarities of a tile: one sort), for
    :func:`.tasks.run_jobs`; cost is the tile's pixels."""
    (data, tiles, halo, reaches, out2d, cols, box), n_tiles = _prepare(data, reaches, out2d, dark_cols,
                                                                       bright_cols, tile_pixels)
    Z, Y, X = data.shape
    pols = (0, 1) if n_tiles < threads else (2,)
    jobs = []
    for i in range(n_tiles):
        y0, y1, x0, x1 = (int(v) for v in tiles[i])
        cost = Z * (min(Y, y1 + halo) - max(0, y0 - halo)) * (min(X, x1 + halo) - max(0, x0 - halo))
        for pol in pols:
            jobs.append((cost * (2 if pol == 2 else 1),
                         functools.partial(tile_job, data, tiles, i, pol, halo, reaches, out2d, cols, box)))
    return jobs


@njit(parallel=True, cache=True, nogil=True)
def _tiles(data, tiles, halo, reaches, out2d, cols, box, split):  # pragma: no cover - compiled
    """Both polarities of each tile in one job, or (``split``) each polarity of each tile in its own."""
    per_tile = 2 if split else 1
    for job in prange(tiles.shape[0] * per_tile):
        tile_job(data, tiles, job // per_tile, job % 2 if split else 2, halo, reaches, out2d, cols, box)


@njit(cache=True, nogil=True)
def tile_job(data, tiles, i, pol, halo, reaches, out2d, cols, box):  # pragma: no cover - compiled
    """Tile ``i`` of :func:`hole_filling`: polarity ``pol`` (0 dark, 1 bright) or both (2; one sort)."""
    Z, Y, X = data.shape
    y0, y1, x0, x1 = tiles[i, 0], tiles[i, 1], tiles[i, 2], tiles[i, 3]
    wy0, wy1 = max(0, y0 - halo), min(Y, y1 + halo)
    wx0, wx1 = max(0, x0 - halo), min(X, x1 + halo)
    ty, tx = wy1 - wy0, wx1 - wx0
    f = np.empty(Z * ty * tx, np.float32)
    k = 0
    for z in range(Z):
        for y in range(wy0, wy1):
            for x in range(wx0, wx1):
                f[k] = data[z, y, x]
                k += 1
    order = argsort(f)
    parent = np.empty(f.size, np.int32)
    zpar = np.empty(f.size, np.int32)
    rank = np.empty(f.size, np.uint8)
    rep = np.empty(f.size, np.int32)
    bb = np.empty((f.size, 6), box.dtype)
    for p in range(2):
        if pol != 2 and p != pol:
            continue
        _tree(f, order, p == 1, Z, ty, tx, parent, zpar, rank, rep, bb)
        _walk(f, parent, zpar, bb, Z, ty, tx, y0 - wy0, y1 - wy0, x0 - wx0, x1 - wx0, wy0, wx0, Y, X,
              reaches, out2d, cols[p])


@njit(cache=True, nogil=True)
def _find(zpar, p):  # pragma: no cover - compiled
    while zpar[p] != p:
        zpar[p] = zpar[zpar[p]]
        p = zpar[p]
    return p


@njit(cache=True, nogil=True)
def _tree(f, order, descending, Z, Y, X, parent, zpar, rank, rep, bb):  # pragma: no cover - compiled
    """Component tree of the lower (``descending`` False: dark) or upper level sets. Pixels are
    taken from the leaves' end of the grey-level order; each becomes the parent of the nodes of
    the sets it touches and takes in their bounding boxes (z0, z1, y0, y1, x0, x1). The sets are
    a union-find (``zpar``, union by ``rank``, path halving) whose roots know their set's node
    (``rep``): short finds, which is most of the time here. Then every pixel's
    parent is made its level's canonical pixel (the last taken, whose box is its node's), and
    ``zpar`` of each node its first ancestor with a different box (the root: itself): the
    distances a box reaches are the same along a run of equal boxes, so a walk skips the run."""
    n = f.size
    YX = Y * X
    for i in range(n):
        zpar[i] = -1
    i = 0
    for z in range(Z):  # each pixel's own box, in memory order (no division per pixel)
        for y in range(Y):
            for x in range(X):
                bb[i, 0] = z
                bb[i, 1] = z
                bb[i, 2] = y
                bb[i, 3] = y
                bb[i, 4] = x
                bb[i, 5] = x
                i += 1
    for k in range(n):
        p = order[n - 1 - k] if descending else order[k]
        parent[p] = p
        zpar[p] = p
        rank[p] = 0
        rep[p] = p
        zp = p  # the root of p's set
        z = np.int64(bb[p, 0])  # still the pixel's own box: p is taken now
        y = np.int64(bb[p, 2])
        x = np.int64(bb[p, 4])
        for nb in range(6):
            if nb == 0:
                if x == 0:
                    continue
                q = p - 1
            elif nb == 1:
                if x == X - 1:
                    continue
                q = p + 1
            elif nb == 2:
                if y == 0:
                    continue
                q = p - X
            elif nb == 3:
                if y == Y - 1:
                    continue
                q = p + X
            elif nb == 4:
                if z == 0:
                    continue
                q = p - YX
            else:
                if z == Z - 1:
                    continue
                q = p + YX
            if zpar[q] == -1:
                continue
            r = _find(zpar, q)
            if r != zp:
                node = rep[r]
                parent[node] = p
                for j in range(0, 6, 2):
                    if bb[node, j] < bb[p, j]:
                        bb[p, j] = bb[node, j]
                    if bb[node, j + 1] > bb[p, j + 1]:
                        bb[p, j + 1] = bb[node, j + 1]
                if rank[zp] < rank[r]:
                    zpar[zp] = r
                    zp = r
                elif rank[zp] > rank[r]:
                    zpar[r] = zp
                else:
                    zpar[r] = zp
                    rank[zp] += 1
                rep[zp] = p
    for k in range(n - 1, -1, -1):  # root first; zpar becomes each node's "up" (below)
        p = order[n - 1 - k] if descending else order[k]
        q = parent[p]
        if f[parent[q]] == f[q]:
            parent[p] = parent[q]
            q = parent[p]
        if q == p:
            zpar[p] = p
        elif f[q] != f[p]:  # p is canonical: up = its first ancestor with another bounding box
            same = True
            for j in range(6):
                if bb[q, j] != bb[p, j]:
                    same = False
            zpar[p] = zpar[q] if same else q


@njit(cache=True, nogil=True)
def _walk(f, parent, up, bb, Z, Y, X, cy0, cy1, cx0, cx1, oy, ox, OY, OX, reaches, out2d, cols):  # pragma: no cover
    """For every pixel of the core ``[cy0, cy1) x [cx0, cx1)`` of a ``(Z, Y, X)`` tile, climb from
    its node (by ``up``) to the first ancestor whose box reaches each distance (ascending) from it or
    touches the tile's border (z only in 3D); write that level to the output row of the pixel
    (the tile starts at ``(oy, ox)`` of the ``(Z, OY, OX)`` volume)."""
    for z in range(Z):
        for y in range(cy0, cy1):
            for x in range(cx0, cx1):
                p = (z * Y + y) * X + x
                node = p
                q = parent[p]
                if q != p and f[q] == f[p]:
                    node = q
                o = (z * OY + y + oy) * OX + x + ox
                for j in range(reaches.size):
                    d = reaches[j]
                    while True:
                        y0 = bb[node, 2]
                        y1 = bb[node, 3]
                        x0 = bb[node, 4]
                        x1 = bb[node, 5]
                        if y0 == 0 or x0 == 0 or y1 == Y - 1 or x1 == X - 1:
                            break
                        if y - y0 >= d or y1 - y >= d or x - x0 >= d or x1 - x >= d:
                            break
                        if Z > 1:
                            z0 = bb[node, 0]
                            z1 = bb[node, 1]
                            if z0 == 0 or z1 == Z - 1 or z - z0 >= d or z1 - z >= d:
                                break
                        if up[node] == node:
                            break
                        node = up[node]
                    out2d[o, cols[j]] = f[node]
