"""The 2D feature bank fused row by row (numba, parallel, GIL released).

:class:`pixelforest.features.compute._ScaleBank` computes a scale's features pass by pass, each pass a
whole plane, and the planes are then interleaved into the ``(pixels, features)`` output: about
twenty plane-sized arrays per scale go through memory. Here, for one 2D plane, each image row
is finished while it is in cache: the first-axis (y) passes of every derivative the row needs
are taken into row buffers, the second-axis (x) passes run on those, and the row's features are
written straight into their output columns. No plane-sized intermediate is kept: each worker
pre-smooths, scale by scale, only the band of rows its current block of output rows needs (the
block plus a few rows of halo), and keeps the structure tensor's gradient products (smoothed
along y again) in a ring of rows.

The arithmetic is :mod:`.filters`' exactly (same taps, same float64 sums in the same
order, float32 rounding between passes, the same float32 formulas for eigenvalues, Laplacian,
gradient magnitude and difference of Gaussians), so the output is bit for bit that of the
plane-by-plane bank, and a block of an image still gives the whole image's pixels.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import numpy as np

from ..._compiled import BORROWING, HAVE_NUMBA, parallel_call
from .filters import halves, kernel_parity

#: kernel slots per scale (rows of ``taps``)
K_SF0, K_SF1, K_SF2, K_DOG, K_OUTER, K_IN0, K_IN1, K_PRE = range(8)
#: output column slots per scale (-1: not computed); eigenvalue features use two columns
C_SMOOTH, C_LOG, C_GGM, C_DOG, C_ST, C_HESS = range(6)

#: image rows per block of work (each block also pre-smooths a halo of a few rows above and below)
ROWS_PER_JOB = 64


def pack_kernels(kernels: list[list[np.ndarray | None]]):
    """Per scale, per slot, the taps of an (anti)symmetric convolution kernel as the compiled loops
    use them (:func:`.filters.halves` of the reversed kernel), padded into one array,
    with their parities and radii. Kept for the next call with the same kernels
    (an image's bank asks for them every time: on a 256 x 256 image they cost as much as a tenth of
    the compiled work)."""
    return _packed(tuple(tuple(None if k is None else np.asarray(k, np.float64).tobytes() for k in ks)
                         for ks in kernels))


@functools.lru_cache(maxsize=64)
def _packed(key):
    kernels = [[None if k is None else np.frombuffer(k, np.float64) for k in ks] for ks in key]
    S = len(kernels)
    R = max((k.size // 2 for ks in kernels for k in ks if k is not None), default=1)
    taps = np.zeros((S, 8, R + 1), np.float64)
    parity = np.zeros((S, 8), np.int64)
    radius = np.zeros((S, 8), np.int64)
    for s, ks in enumerate(kernels):
        for j, k in enumerate(ks):
            if k is None:
                continue
            c = k[::-1]  # convolution == correlation with the reversed kernel
            p = kernel_parity(c)
            if p == 0:
                raise ValueError("the fused bank needs symmetric or antisymmetric kernels")
            h = halves(c, p)
            taps[s, j, :h.size] = h
            parity[s, j] = p
            radius[s, j] = c.size // 2
    return taps, parity, radius  # shared by every call with these kernels: read only, by the compiled loops


class Plan(NamedTuple):
    """Kernels checked and packed for the compiled loops (:func:`plan`): read only, shared."""
    taps: np.ndarray
    parity: np.ndarray
    radius: np.ndarray
    ring: int  # rows of gradient products a worker keeps
    halo: int  # rows a block pre-smooths above and below its own


def plan(kernels) -> Plan:
    """``kernels`` (per scale, the eight slots ``K_*``) packed and checked once, for
    :func:`compute_plane` and :func:`plane_jobs` (which also take the kernels themselves)."""
    taps, parity, radius = pack_kernels(kernels)
    if (parity[:, [K_SF0, K_SF1, K_SF2]] != [1, -1, 1]).any():
        raise ValueError("kernel slots 0-2 must be a Gaussian and its first and second derivatives")
    if radius[:, :K_PRE].max() > 2:  # filters at sigma <= 1 with window 2: radius <= 2
        raise ValueError("the feature filters (all but the pre-smoothing) must have a radius of at most 2")
    ring = 2 * int(radius[:, K_OUTER].max()) + 1
    halo = int(max(radius[:, K_SF0].max(), radius[:, K_DOG].max(), (radius[:, K_OUTER] + radius[:, K_IN0]).max()))
    return Plan(taps, parity, radius, ring, halo)


def used_columns(cols: np.ndarray) -> np.ndarray:
    """The output columns ``cols`` (per scale, see ``C_*``) write, ascending (eigenvalues: two each)."""
    cols = np.asarray(cols, np.int64)
    pairs = cols[:, [C_ST, C_HESS]]
    return np.unique(np.concatenate([cols[cols >= 0], pairs[pairs >= 0] + 1]))


def compute_plane(plane: np.ndarray, kernels, cols: np.ndarray, out: np.ndarray) -> None:
    """All features of one 2D float32 ``plane`` (Y, X) into ``out`` (Y, X, F).

    ``kernels[s]`` holds scale s's eight kernel slots (see ``K_*``; None where unused), or is a
    :class:`Plan` of them; ``cols[s]`` its six output columns (see ``C_*``; -1 where not computed)."""
    pl, cols = _checked(plane, kernels, cols, out)
    workers = min(numba.get_num_threads(), -(-plane.shape[0] // ROWS_PER_JOB))
    parallel_call(_features, np.ascontiguousarray(plane, np.float32), pl.taps, pl.parity, pl.radius, cols,
                  used_columns(cols), pl.ring, pl.halo, workers, out)


def _checked(plane, kernels, cols, out) -> tuple[Plan, np.ndarray]:
    pl = kernels if isinstance(kernels, Plan) else plan(kernels)
    cols = np.ascontiguousarray(cols, np.int64)
    if not out.flags.c_contiguous or out.shape[:2] != plane.shape:
        raise ValueError(f"out must be a C-contiguous (Y, X, F) array for a {plane.shape} plane")
    return pl, cols


def plane_jobs(plane: np.ndarray, kernels, cols: np.ndarray, out: np.ndarray, ucols: np.ndarray | None = None
               ) -> list:
    """:func:`compute_plane` as a list of ``(cost, job)``, one job per block of ROWS_PER_JOB rows,
    for :func:`.tasks.run_jobs`; cost in pixels (times the scales, about). ``ucols``:
    :func:`used_columns` of ``cols``, when the caller keeps it."""
    pl, cols = _checked(plane, kernels, cols, out)
    plane = np.ascontiguousarray(plane, np.float32)
    ucols = used_columns(cols) if ucols is None else ucols
    Y, X = plane.shape
    n = -(-Y // ROWS_PER_JOB)
    return [(min(ROWS_PER_JOB, Y - q * ROWS_PER_JOB) * X,
             functools.partial(blocks, plane, pl.taps, pl.parity, pl.radius, cols, ucols, pl.ring, pl.halo, q, q + 1,
                               1, out))
            for q in range(n)]


if HAVE_NUMBA:
    import numba
    from llvmlite import ir
    from numba.core import cgutils, types
    from numba.extending import intrinsic

    from .filters import mirror, pad_row, xpass_row, ypass_row

    @numba.njit(cache=True, **BORROWING)
    def _short(c, u1, d1, u2, d2, k, p, r, out, off, X):  # pragma: no cover - compiled
        """out[off + x] for a kernel of radius 1 or 2 in one pass over the row (no accumulator
        array): the same float64 sum, in the same order, as the tap-by-tap loops."""
        o = out[off:off + X]  # (a view: ``out[off + x]`` would be checked for wrap-around and scattered)
        if p == 1:
            if r == 1:
                for x in range(X):
                    o[x] = k[0] * c[x] + k[1] * (u1[x] + d1[x])
            else:
                for x in range(X):
                    o[x] = k[0] * c[x] + k[1] * (u1[x] + d1[x]) + k[2] * (u2[x] + d2[x])
        else:
            if r == 1:
                for x in range(X):
                    o[x] = 0.0 + k[1] * (u1[x] - d1[x])
            else:
                for x in range(X):
                    o[x] = 0.0 + k[1] * (u1[x] - d1[x]) + k[2] * (u2[x] - d2[x])

    @numba.njit(cache=True, **BORROWING)
    def _mid(src, lo, Y, i, taps, p, r, buf, R, acc):  # pragma: no cover - compiled
        """Row i of an image of Y rows convolved along y (mirror borders) into buf[R:R+X], as
        float32; src holds the image's rows lo, lo+1, ..."""
        if r <= 2:
            X = src.shape[1]
            u1, d1 = src[mirror(i + 1, Y) - lo], src[mirror(i - 1, Y) - lo]
            u2, d2 = src[mirror(i + 2, Y) - lo], src[mirror(i - 2, Y) - lo]
            _short(src[i - lo], u1, d1, u2, d2, taps, p, r, buf, R, X)
        else:
            ypass_row(src, lo, Y, i, taps[:r + 1], p, buf, R, acc)

    @numba.njit(cache=True, **BORROWING)
    def _mid3(src, lo, Y, i, t0, t1, t2, r, buf0, buf1, buf2, R):  # pragma: no cover - compiled
        """:func:`_mid` of one row with a Gaussian (t0), its first (t1) and second (t2) derivative
        (radius r <= 2), each summed as alone."""
        X = src.shape[1]
        u1, d1 = src[mirror(i + 1, Y) - lo], src[mirror(i - 1, Y) - lo]
        u2, d2 = src[mirror(i + 2, Y) - lo], src[mirror(i - 2, Y) - lo]
        row = src[i - lo]
        _short(row, u1, d1, u2, d2, t0, 1, r, buf0, R, X)
        _short(row, u1, d1, u2, d2, t1, -1, r, buf1, R, X)
        _short(row, u1, d1, u2, d2, t2, 1, r, buf2, R, X)

    @numba.njit(cache=True, **BORROWING)
    def _last(buf, X, taps, p, r, R, res, acc):  # pragma: no cover - compiled
        """The padded row in buf convolved along x into res (float32)."""
        if r <= 2:
            _short(buf[R:R + X], buf[R + 1:R + 1 + X], buf[R - 1:R - 1 + X], buf[R + 2:R + 2 + X],
                   buf[R - 2:R - 2 + X], taps, p, r, res, 0, X)
        else:
            xpass_row(buf, X, taps[:r + 1], p, R, res, acc)

    @numba.njit(cache=True, **BORROWING)
    def _last2(buf, X, t0, t1, r, R, res0, res1):  # pragma: no cover - compiled
        """:func:`_last` with a Gaussian (t0) and its first derivative (t1), radius r <= 2."""
        u1, d1, u2, d2 = buf[R + 1:R + 1 + X], buf[R - 1:R - 1 + X], buf[R + 2:R + 2 + X], buf[R - 2:R - 2 + X]
        _short(buf[R:R + X], u1, d1, u2, d2, t0, 1, r, res0, 0, X)
        _short(buf[R:R + X], u1, d1, u2, d2, t1, -1, r, res1, 0, X)

    @numba.njit(cache=True, **BORROWING)
    def _last3(buf, X, t0, t1, t2, r, R, res0, res1, res2):  # pragma: no cover - compiled
        """:func:`_last` with a Gaussian (t0), its first (t1) and second (t2) derivative, r <= 2."""
        _last2(buf, X, t0, t1, r, R, res0, res1)
        _short(buf[R:R + X], buf[R + 1:R + 1 + X], buf[R - 1:R - 1 + X], buf[R + 2:R + 2 + X],
               buf[R - 2:R - 2 + X], t2, 1, r, res2, 0, X)

    @numba.njit(cache=True, **BORROWING)
    def _product_row(band, lo, Y, j, taps, parity, radius, s, R, b0, b1, gy, gx, acc, ring):  # pragma: no cover
        """The structure tensor's gradient products g_y*g_y, g_y*g_x, g_x*g_x at the inner scale for
        row j (mirrored into the image), into ring slot j mod W."""
        X = band.shape[1]
        W = ring.shape[1]
        pj = mirror(j, Y)
        r0, r1 = radius[s, K_IN0], radius[s, K_IN1]
        _mid(band, lo, Y, pj, taps[s, K_IN0], parity[s, K_IN0], r0, b0, R, acc)
        _mid(band, lo, Y, pj, taps[s, K_IN1], parity[s, K_IN1], r1, b1, R, acc)
        pad_row(b0, X, r0, R)
        pad_row(b1, X, r1, R)
        _last(b1, X, taps[s, K_IN0], parity[s, K_IN0], r0, R, gy, acc)  # d/dy: order 1 along y
        _last(b0, X, taps[s, K_IN1], parity[s, K_IN1], r1, R, gx, acc)  # d/dx: order 1 along x
        k = j % W
        for x in range(X):
            ring[0, k, x] = gy[x] * gy[x]
            ring[1, k, x] = gy[x] * gx[x]
            ring[2, k, x] = gx[x] * gx[x]

    @numba.njit(cache=True, **BORROWING)
    def _mid_ring(ring_c, X, i, taps, p, r, buf, R):  # pragma: no cover - compiled
        """As :func:`_mid` (radius r <= 2) over rows held in a ring (slot = row mod W)."""
        W = ring_c.shape[0]
        _short(ring_c[i % W], ring_c[(i + 1) % W], ring_c[(i - 1) % W], ring_c[(i + 2) % W],
               ring_c[(i - 2) % W], taps, p, r, buf, R, X)

    @numba.njit(cache=True, **BORROWING)
    def _put_eig(a, b, c, e1, e2, X):  # pragma: no cover - compiled
        """Eigenvalues (descending) of [[a, b], [b, c]] (as :func:`.filters.eig2`)."""
        half = np.float32(0.5)
        for x in range(X):
            mean = (a[x] + c[x]) * half
            h = (a[x] - c[x]) * half
            d = np.sqrt(h * h + b[x] * b[x])
            e1[x] = mean + d
            e2[x] = mean - d

    @intrinsic
    def _stream(typingctx, arr, idx, val):  # pragma: no cover - compiled
        """arr[idx] = val as a non-temporal store (a hint: written around the caches, so the
        output is not read in first; needs a fence before other threads read it)."""
        sig = types.void(arr, idx, val)

        def codegen(context, builder, signature, args):
            a, i, v = args
            aryty = signature.args[0]
            ary = context.make_array(aryty)(context, builder, a)
            ptr = cgutils.get_item_pointer(context, builder, aryty, ary, [i], wraparound=False)
            st = builder.store(context.cast(builder, v, signature.args[2], aryty.dtype), ptr)
            st.set_metadata("nontemporal", builder.module.add_metadata([ir.Constant(ir.IntType(32), 1)]))
            return context.get_dummy_value()

        return sig, codegen

    @intrinsic
    def _fence(typingctx):  # pragma: no cover - compiled
        def codegen(context, builder, signature, args):
            builder.fence("seq_cst")
            return context.get_dummy_value()

        return types.void(), codegen

    @numba.njit(cache=True, **BORROWING)
    def _interleave(frow, ucols, orow, X, whole):  # pragma: no cover - compiled
        """orow[x, f] = frow[f, x] for the columns ucols, in the output row's order, 32 pixels
        at a time (the rows of frow they read stay in L1). When ucols are all the row's columns
        (one input channel) the row is streamed to memory with non-temporal stores."""
        if whole:
            F = orow.shape[1]
            flat = orow.reshape(-1)
            for x0 in range(0, X, 32):
                for x in range(x0, min(X, x0 + 32)):
                    for f in range(F):
                        _stream(flat, x * F + f, frow[f, x])
            _fence()
            return
        for x0 in range(0, X, 32):
            for x in range(x0, min(X, x0 + 32)):
                for f in ucols:
                    orow[x, f] = frow[f, x]

    @numba.njit(parallel=True, cache=True, nogil=True)
    def _features(plane, taps, parity, radius, cols, ucols, W, H, workers, out):  # pragma: no cover - compiled
        Y = plane.shape[0]
        jobs = (Y + ROWS_PER_JOB - 1) // ROWS_PER_JOB
        for w in numba.prange(workers):
            blocks(plane, taps, parity, radius, cols, ucols, W, H, w, jobs, workers, out)

    @numba.njit(cache=True, **BORROWING)
    def _presmooth(plane, lo, hi, a, taps, parity, radius, s, tensor, R, m0, m1, m2, gy, gx, a0, band,
                   ring):  # pragma: no cover - compiled
        """Rows lo..hi-1 of the plane pre-smoothed at scale s into ``band``; with the structure
        tensor (``tensor``), the gradient products of the rows above row ``a`` that its smoothing needs."""
        Y, X = plane.shape
        tp, pp, rp = taps[s, K_PRE], parity[s, K_PRE], radius[s, K_PRE]
        for j in range(lo, hi):
            _mid(plane, 0, Y, j, tp, pp, rp, m0, R, a0)
            pad_row(m0, X, rp, R)
            _last(m0, X, tp, pp, rp, R, band[j - lo], a0)
        if tensor:
            ro = radius[s, K_OUTER]
            for j in range(a - ro, a + ro):
                _product_row(band, lo, Y, j, taps, parity, radius, s, R, m1, m2, gy, gx, a0, ring)

    @numba.njit(cache=True, **BORROWING)
    def _row(src, lo, Y, i, taps, parity, radius, s, c, R, m0, m1, m2, md, sm, gx, gy, hxx, hxy, hyy, dg, a0, ring,
             frow):  # pragma: no cover - compiled
        """Row i's features at scale s (output columns ``c``, see ``C_*``) from its pre-smoothed rows in
        ``src`` (rows lo, lo+1, ...) into ``frow`` (feature, x)."""
        X = src.shape[1]
        r = radius[s, K_SF0]
        t0, t1, t2 = taps[s, K_SF0], taps[s, K_SF1], taps[s, K_SF2]
        need_d = c[C_GGM] >= 0 or c[C_HESS] >= 0
        need_dd = c[C_LOG] >= 0 or c[C_HESS] >= 0
        if need_d or need_dd:
            _mid3(src, lo, Y, i, t0, t1, t2, r, m0, m1, m2, R)
            pad_row(m1, X, r, R)
            pad_row(m2, X, r, R)
        else:
            _mid(src, lo, Y, i, t0, 1, r, m0, R, a0)
        pad_row(m0, X, r, R)
        if need_dd:  # m0 along x: smoothing, d/dx, d2/dx2
            _last3(m0, X, t0, t1, t2, r, R, sm, gx, hxx)
        elif need_d:
            _last2(m0, X, t0, t1, r, R, sm, gx)
        else:
            _last(m0, X, t0, 1, r, R, sm, a0)
        if need_d:  # m1 (d/dy) along x: d/dy, d2/dydx
            _last2(m1, X, t0, t1, r, R, gy, hxy)
        if need_dd:  # m2 (d2/dy2) along x
            _last(m2, X, t0, 1, r, R, hyy, a0)
        if c[C_SMOOTH] >= 0:
            col = c[C_SMOOTH]
            for x in range(X):
                frow[col, x] = sm[x]
        if c[C_DOG] >= 0:
            rd = radius[s, K_DOG]
            _mid(src, lo, Y, i, taps[s, K_DOG], parity[s, K_DOG], rd, md, R, a0)
            pad_row(md, X, rd, R)
            _last(md, X, taps[s, K_DOG], parity[s, K_DOG], rd, R, dg, a0)
            col = c[C_DOG]
            for x in range(X):
                frow[col, x] = sm[x] - dg[x]
        if c[C_GGM] >= 0:
            col = c[C_GGM]
            for x in range(X):
                g2 = np.float32(0.0)
                g2 += gy[x] * gy[x]
                g2 += gx[x] * gx[x]
                frow[col, x] = np.sqrt(g2)
        if c[C_LOG] >= 0:
            col = c[C_LOG]
            for x in range(X):
                frow[col, x] = hyy[x] + hxx[x]
        if c[C_HESS] >= 0:
            _put_eig(hyy, hxy, hxx, frow[c[C_HESS]], frow[c[C_HESS] + 1], X)
        if c[C_ST] >= 0:
            ro = radius[s, K_OUTER]
            _product_row(src, lo, Y, i + ro, taps, parity, radius, s, R, m1, m2, gy, gx, a0, ring)
            to, po = taps[s, K_OUTER], parity[s, K_OUTER]
            for comp, res in ((0, hyy), (1, hxy), (2, hxx)):
                _mid_ring(ring[comp], X, i, to, po, ro, m0, R)
                pad_row(m0, X, ro, R)
                _last(m0, X, to, po, ro, R, res, a0)
            _put_eig(hyy, hxy, hxx, frow[c[C_ST]], frow[c[C_ST] + 1], X)

    @numba.njit(cache=True, nogil=True)
    def blocks(plane, taps, parity, radius, cols, ucols, W, H, first, stop, step, out):  # pragma: no cover
        """Blocks ``first, first + step, ...`` (below ``stop``) of ROWS_PER_JOB rows, serially."""
        Y, X = plane.shape
        S = cols.shape[0]
        R = taps.shape[2]
        CH = ROWS_PER_JOB
        jobs = min(stop, (Y + CH - 1) // CH)
        whole = ucols.size == out.shape[2]
        nb = min(Y, CH + 2 * H)
        band = np.empty((S, nb, X), np.float32)  # pre-smoothed rows lo..hi-1 of each scale
        frow = np.empty((out.shape[2], X), np.float32)  # the row's features, column by column
        ring = np.empty((S, 3, W, X), np.float32)
        m0 = np.empty(X + 2 * R, np.float32)
        m1 = np.empty(X + 2 * R, np.float32)
        m2 = np.empty(X + 2 * R, np.float32)
        md = np.empty(X + 2 * R, np.float32)
        sm = np.empty(X, np.float32)
        gx = np.empty(X, np.float32)
        gy = np.empty(X, np.float32)
        hxx = np.empty(X, np.float32)
        hxy = np.empty(X, np.float32)
        hyy = np.empty(X, np.float32)
        dg = np.empty(X, np.float32)
        a0 = np.empty(X, np.float64)  # the pre-smoothing's sums
        for q in range(first, jobs, step):
            a = CH * q
            b = min(Y, a + CH)
            lo = max(0, a - H)
            hi = min(Y, b + H)
            for s in range(S):
                _presmooth(plane, lo, hi, a, taps, parity, radius, s, cols[s, C_ST] >= 0, R, m0, m1, m2, gy, gx, a0,
                           band[s], ring[s])
            for i in range(a, b):
                for s in range(S):
                    _row(band[s], lo, Y, i, taps, parity, radius, s, cols[s], R, m0, m1, m2, md, sm, gx, gy, hxx, hxy,
                         hyy, dg, a0, ring[s], frow)
                _interleave(frow, ucols, out[i], X, whole)
