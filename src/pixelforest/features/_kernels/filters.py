"""Compiled separable filters for the feature bank (numba, parallel, GIL released).

One 1-D correlation along one axis with ``mode="mirror"`` borders (``d c b | a b c d | c b a``,
scipy.ndimage's ``mirror``): float32 in and out, float64 taps and sums (as scipy.ndimage), so
results agree with scipy's to float32 rounding. Every output pixel is summed in the same order
(kernel centre first, then pairs of taps from the inside out) whatever its position, so a block
of an image gives bit for bit the pixels of the whole image's result (block-wise prediction
relies on it). Symmetric and antisymmetric kernels (all Gaussian derivative kernels) use one
multiply per pair of taps.

Without numba, scipy.ndimage does the same correlation.
"""

from __future__ import annotations

import numpy as np

from ..._compiled import BORROWING, HAVE_NUMBA, parallel_call

if HAVE_NUMBA:
    import numba


def kernel_parity(k: np.ndarray) -> int:
    """+1 for a symmetric kernel, -1 for an antisymmetric one, 0 otherwise."""
    k = np.asarray(k, np.float64)
    scale = max(np.abs(k).max(), 1e-300)
    if np.abs(k - k[::-1]).max() <= 1e-12 * scale:
        return 1
    if np.abs(k + k[::-1]).max() <= 1e-12 * scale:
        return -1
    return 0


def halves(k: np.ndarray, parity: int) -> np.ndarray:
    """Taps as used by the compiled loops: ``[centre, pair 1, pair 2, ...]`` for (anti)symmetric
    kernels (pair t weights ``x[i + t]`` and, with the parity's sign, ``x[i - t]``), else as given."""
    k = np.asarray(k, np.float64)
    if parity == 0:
        return k.astype(np.float64)
    r = k.size // 2
    right = k[r:]  # centre, then x[i+1], x[i+2], ... (correlation: out[i] = sum k[j] x[i + j - r])
    left = k[:r + 1][::-1]
    taps = 0.5 * (right + parity * left)
    taps[0] = k[r] if parity == 1 else 0.0
    return taps.astype(np.float64)


def correlate1d(data: np.ndarray, k: np.ndarray, axis: int) -> np.ndarray:
    """``scipy.ndimage.correlate1d(data, k, axis, mode="mirror")`` in float32 (odd-length ``k``)."""
    data = np.ascontiguousarray(data, dtype=np.float32)
    if k.size % 2 != 1:
        raise ValueError("kernel length must be odd")
    axis = axis % data.ndim
    if not HAVE_NUMBA:  # pragma: no cover
        from scipy import ndimage

        return ndimage.correlate1d(data, k, axis=axis, mode="mirror", output=np.float32)
    parity = kernel_parity(k)
    taps = halves(k, parity)
    shape = data.shape
    L = shape[axis]
    A = int(np.prod(shape[:axis], dtype=np.int64))
    B = int(np.prod(shape[axis + 1:], dtype=np.int64))
    out = np.empty(shape, np.float32)
    src3 = data.reshape(A, L, B)
    out3 = out.reshape(A, L, B)
    if B == 1:
        parallel_call(_corr_last, src3.reshape(A, L), taps, parity, out3.reshape(A, L))
    else:
        parallel_call(_corr_mid, src3, taps, parity, out3)
    return out


if HAVE_NUMBA:

    @numba.njit(cache=True, inline="always")
    def mirror(i, n):  # pragma: no cover - compiled
        """scipy's "mirror" extension (d c b | a b c d | c b a), folded as often as needed."""
        if n == 1:
            return 0
        p = 2 * (n - 1)
        i = abs(i) % p
        return p - i if i >= n else i

    @numba.njit(cache=True, **BORROWING)
    def pad_row(buf, X, r, R):  # pragma: no cover - compiled
        """Mirror borders of the row held in buf[R:R+X], r pixels each side."""
        for j in range(r):
            buf[R - r + j] = buf[R + mirror(j - r, X)]
            buf[R + X + j] = buf[R + mirror(X + j, X)]

    @numba.njit(cache=True, inline="always")
    def _acc_pair(acc, kt, hi, lo, n, parity):  # pragma: no cover - compiled
        """acc += kt * (hi + lo) for a symmetric kernel's tap pair, kt * (hi - lo) for an antisymmetric one."""
        if parity == 1:
            for b in range(n):
                acc[b] += kt * (hi[b] + lo[b])
        else:
            for b in range(n):
                acc[b] += kt * (hi[b] - lo[b])

    @numba.njit(cache=True, inline="always")
    def _acc_quad(acc, taps, t, h1, l1, h2, l2, h3, l3, h4, l4, n, parity):  # pragma: no cover - compiled
        """:func:`_acc_pair` of taps t..t+3 (rows h1/l1 .. h4/l4) in one sweep: the same sums in the
        same order as four sweeps, with acc read and written once instead of four times."""
        k1, k2, k3, k4 = taps[t], taps[t + 1], taps[t + 2], taps[t + 3]
        if parity == 1:
            for b in range(n):
                a = acc[b]
                a += k1 * (h1[b] + l1[b])
                a += k2 * (h2[b] + l2[b])
                a += k3 * (h3[b] + l3[b])
                a += k4 * (h4[b] + l4[b])
                acc[b] = a
        else:
            for b in range(n):
                a = acc[b]
                a += k1 * (h1[b] - l1[b])
                a += k2 * (h2[b] - l2[b])
                a += k3 * (h3[b] - l3[b])
                a += k4 * (h4[b] - l4[b])
                acc[b] = a

    @numba.njit(cache=True, **BORROWING)
    def ypass_row(src, lo, L, i, taps, parity, dst, off, acc):  # pragma: no cover - compiled
        """Row i of an image of L rows correlated along its rows (mirror borders) into
        dst[off:off+B] as float32; src holds the image's rows lo, lo+1, ... (B contiguous)."""
        B = src.shape[1]
        r = taps.size - 1 if parity != 0 else taps.size // 2
        if parity == 0:
            row = src[mirror(i - r, L) - lo]
            k0 = taps[0]
            for b in range(B):
                acc[b] = k0 * row[b]
            for t in range(1, taps.size):
                row = src[mirror(i + t - r, L) - lo]
                kt = taps[t]
                for b in range(B):
                    acc[b] += kt * row[b]
        else:
            if parity == 1:
                row = src[i - lo]
                k0 = taps[0]
                for b in range(B):
                    acc[b] = k0 * row[b]
            else:
                acc[:B] = 0.0
            t = 1
            while t + 3 <= r:
                _acc_quad(acc, taps, t, src[mirror(i + t, L) - lo], src[mirror(i - t, L) - lo],
                          src[mirror(i + t + 1, L) - lo], src[mirror(i - t - 1, L) - lo],
                          src[mirror(i + t + 2, L) - lo], src[mirror(i - t - 2, L) - lo],
                          src[mirror(i + t + 3, L) - lo], src[mirror(i - t - 3, L) - lo], B, parity)
                t += 4
            while t <= r:
                _acc_pair(acc, taps[t], src[mirror(i + t, L) - lo], src[mirror(i - t, L) - lo], B, parity)
                t += 1
        d = dst[off:off + B]  # (a view: ``dst[off + b]`` would be checked for wrap-around and scattered)
        for b in range(B):
            d[b] = acc[b]

    @numba.njit(cache=True, **BORROWING)
    def xpass_row(buf, X, taps, parity, R, res, acc):  # pragma: no cover - compiled
        """The row in buf[R:R+X], padded by :func:`pad_row`, correlated along itself into res."""
        if parity == 0:
            r = taps.size // 2
            k0 = taps[0]
            first = buf[R - r:R - r + X]
            for x in range(X):
                acc[x] = k0 * first[x]
            for t in range(1, taps.size):
                kt = taps[t]
                sh = buf[R - r + t:R - r + t + X]
                for x in range(X):
                    acc[x] += kt * sh[x]
        else:
            r = taps.size - 1
            if parity == 1:
                k0 = taps[0]
                mid = buf[R:R + X]
                for x in range(X):
                    acc[x] = k0 * mid[x]
            else:
                acc[:X] = 0.0
            t = 1
            while t + 3 <= r:
                _acc_quad(acc, taps, t, buf[R + t:R + t + X], buf[R - t:R - t + X],
                          buf[R + t + 1:R + t + 1 + X], buf[R - t - 1:R - t - 1 + X],
                          buf[R + t + 2:R + t + 2 + X], buf[R - t - 2:R - t - 2 + X],
                          buf[R + t + 3:R + t + 3 + X], buf[R - t - 3:R - t - 3 + X], X, parity)
                t += 4
            while t <= r:
                _acc_pair(acc, taps[t], buf[R + t:R + t + X], buf[R - t:R - t + X], X, parity)
                t += 1
        for x in range(X):
            res[x] = acc[x]

    @numba.njit(parallel=True, cache=True, nogil=True)
    def _corr_last(src, taps, parity, out):  # pragma: no cover - compiled
        """Along the contiguous last axis of (A, L): each row padded once, then vectorised taps."""
        A, L = src.shape
        r = taps.size - 1 if parity != 0 else taps.size // 2
        for a in numba.prange(A):
            buf = np.empty(L + 2 * r, np.float32)
            buf[r:r + L] = src[a]
            pad_row(buf, L, r, r)
            xpass_row(buf, L, taps, parity, r, out[a], np.empty(L, np.float64))

    @numba.njit(parallel=True, cache=True, nogil=True)
    def _corr_mid(src, taps, parity, out):  # pragma: no cover - compiled
        """Along the middle axis of (A, L, B), B contiguous: whole rows of B per tap, vectorised."""
        A, L, B = src.shape
        for job in numba.prange(A * L):
            a = job // L
            i = job % L
            ypass_row(src[a], 0, L, i, taps, parity, out[a, i], 0, np.empty(B, np.float64))


def scatter_columns(planar: np.ndarray, cols: np.ndarray, out2d: np.ndarray) -> None:
    """``out2d[:, cols[j]] = planar[j]`` for a (f, N) stack and an (N, F) output, tile by tile
    (each tile's rows stay in cache while the columns are written)."""
    if HAVE_NUMBA:
        parallel_call(_scatter, planar, np.asarray(cols, np.int64), out2d)
    else:  # pragma: no cover
        for j, c in enumerate(cols):
            out2d[:, c] = planar[j]


def eig2(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Eigenvalues (descending) of the symmetric 2x2 matrices [[a, b], [b, c]], float32."""
    if not HAVE_NUMBA:  # pragma: no cover
        mean = (a + c) * 0.5
        d = np.sqrt(((a - c) * 0.5) ** 2 + b * b)
        return (mean + d).astype(np.float32), (mean - d).astype(np.float32)
    e1 = np.empty(a.shape, np.float32)
    e2 = np.empty(a.shape, np.float32)
    parallel_call(_eig2, a.reshape(-1), b.reshape(-1), c.reshape(-1), e1.reshape(-1), e2.reshape(-1))
    return e1, e2


if HAVE_NUMBA:

    @numba.njit(parallel=True, cache=True, nogil=True)
    def _scatter(planar, cols, out):  # pragma: no cover - compiled
        f, N = planar.shape
        T = 256
        for tb in numba.prange((N + T - 1) // T):
            p0 = tb * T
            p1 = min(N, p0 + T)
            for j in range(f):
                c = cols[j]
                src = planar[j]
                for p in range(p0, p1):
                    out[p, c] = src[p]

    @numba.njit(parallel=True, cache=True, nogil=True)
    def _eig2(a, b, c, e1, e2):  # pragma: no cover - compiled
        for i in numba.prange(a.size):
            mean = (a[i] + c[i]) * np.float32(0.5)
            h = (a[i] - c[i]) * np.float32(0.5)
            d = np.sqrt(h * h + b[i] * b[i])
            e1[i] = mean + d
            e2[i] = mean - d


def eig3(m00, m01, m02, m11, m12, m22) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Eigenvalues (descending) of symmetric 3x3 matrices given by their components, float32.

    The closed form (trigonometric, O. K. Smith 1961) in float64, as ``numpy.linalg.eigvalsh``
    to float32 precision but an order of magnitude faster."""
    comps = [np.ascontiguousarray(m, np.float32).reshape(-1) for m in (m00, m01, m02, m11, m12, m22)]
    shape = np.shape(m00)
    if not HAVE_NUMBA:  # pragma: no cover
        mats = np.empty((comps[0].size, 3, 3))
        for (i, j), c in zip([(0, 0), (0, 1), (0, 2), (1, 1), (1, 2), (2, 2)], comps, strict=True):
            mats[:, i, j] = mats[:, j, i] = c
        ev = np.linalg.eigvalsh(mats)
        return tuple(ev[:, k].astype(np.float32).reshape(shape) for k in (2, 1, 0))
    e = [np.empty(comps[0].size, np.float32) for _ in range(3)]
    parallel_call(_eig3, *comps, *e)
    return tuple(x.reshape(shape) for x in e)


if HAVE_NUMBA:

    @numba.njit(parallel=True, cache=True, nogil=True)
    def _eig3(a00, a01, a02, a11, a12, a22, e1, e2, e3):  # pragma: no cover - compiled
        third = 1.0 / 3.0
        for i in numba.prange(a00.size):
            x00 = np.float64(a00[i])
            x11 = np.float64(a11[i])
            x22 = np.float64(a22[i])
            x01 = np.float64(a01[i])
            x02 = np.float64(a02[i])
            x12 = np.float64(a12[i])
            q = (x00 + x11 + x22) * third
            p1 = x01 * x01 + x02 * x02 + x12 * x12
            d0 = x00 - q
            d1 = x11 - q
            d2 = x22 - q
            p2 = d0 * d0 + d1 * d1 + d2 * d2 + 2.0 * p1
            if p2 <= 0.0:
                e1[i] = q
                e2[i] = q
                e3[i] = q
                continue
            p = np.sqrt(p2 / 6.0)
            inv = 1.0 / p
            b00 = d0 * inv
            b11 = d1 * inv
            b22 = d2 * inv
            b01 = x01 * inv
            b02 = x02 * inv
            b12 = x12 * inv
            det = (b00 * (b11 * b22 - b12 * b12) - b01 * (b01 * b22 - b12 * b02)
                   + b02 * (b01 * b12 - b11 * b02))
            r = 0.5 * det
            if r <= -1.0:
                phi = np.pi / 3.0
            elif r >= 1.0:
                phi = 0.0
            else:
                phi = np.arccos(r) / 3.0
            l1 = q + 2.0 * p * np.cos(phi)
            l3 = q + 2.0 * p * np.cos(phi + 2.0 * np.pi / 3.0)
            l2 = 3.0 * q - l1 - l3
            e1[i] = l1
            e2[i] = l2
            e3[i] = l3


# ---------------------------------------------------------------- flat min / max filters


def minmax_filter(data: np.ndarray, radius: int, axes, is_max: bool) -> np.ndarray:
    """``scipy.ndimage.maximum_filter`` (``is_max``) or ``minimum_filter`` with a flat box of
    half-width ``radius`` along ``axes`` (size 1 along the others), mode "mirror", float32.
    Compiled: across rows van Herk / Gil-Werman, three comparisons per pixel whatever the radius;
    along rows by doubling, 1 + log2(2 radius + 1) vector passes over a row in the L1 cache."""
    data = np.ascontiguousarray(data, dtype=np.float32)
    return _passes(data, radius, [(ax, is_max) for ax in axes], (np.empty_like(data), np.empty_like(data))).copy()


def closing(data: np.ndarray, radius: int, axes, bufs=None) -> np.ndarray:
    """Flat-box closing (max filter, then min filter); the result may live in one of ``bufs``."""
    data = np.ascontiguousarray(data, dtype=np.float32)
    bufs = bufs or (np.empty_like(data), np.empty_like(data))
    return _passes(data, radius, _box_passes(axes, True), bufs)


def opening(data: np.ndarray, radius: int, axes, bufs=None) -> np.ndarray:
    """Flat-box opening (min filter, then max filter); the result may live in one of ``bufs``."""
    data = np.ascontiguousarray(data, dtype=np.float32)
    bufs = bufs or (np.empty_like(data), np.empty_like(data))
    return _passes(data, radius, _box_passes(axes, False), bufs)


def _box_passes(axes, max_first: bool) -> list:
    """The 1-D passes of a closing (``max_first``) or opening along ``axes``, the second filter's
    in reverse order: its pass along the last axis comes right after the first filter's, and
    the two run as one (the passes of one filter commute: each is exact)."""
    return [(ax, max_first) for ax in axes] + [(ax, not max_first) for ax in reversed(axes)]


def store_tophats(closed: np.ndarray, opened: np.ndarray, data: np.ndarray, out: np.ndarray, col: int) -> None:
    """``out[..., col] = closed - data`` and ``out[..., col + 1] = data - opened`` in one sweep of
    the pixel-major output (both columns share its cache lines)."""
    if not HAVE_NUMBA or not out.flags.c_contiguous:  # (a strided output cannot be viewed as rows)
        np.subtract(closed, data, out=out[..., col])
        np.subtract(data, opened, out=out[..., col + 1])
        return
    parallel_call(_store_pair, closed.reshape(-1), opened.reshape(-1), data.reshape(-1),
                  out.reshape(-1, out.shape[-1]), int(col))


def _passes(data: np.ndarray, radius: int, passes, bufs) -> np.ndarray:
    """1-D max/min passes one after the other, ping-ponging between the two work buffers (fresh
    memory is slow to touch: reused buffers keep a pass at its compute cost)."""
    if not HAVE_NUMBA:  # pragma: no cover
        from scipy import ndimage

        out = data
        for ax, is_max in passes:
            out = (ndimage.maximum_filter1d if is_max else ndimage.minimum_filter1d)(out, 2 * radius + 1, axis=ax,
                                                                                    mode="mirror")
        return out
    src = data
    k = 0
    while k < len(passes):
        ax, is_max = passes[k]
        dst = bufs[0] if src is not bufs[0] else bufs[1]
        shape = src.shape
        A, L = int(np.prod(shape[:ax], dtype=np.int64)), shape[ax]
        B = int(np.prod(shape[ax + 1:], dtype=np.int64))
        if B == 1:  # along the contiguous axis, with the next pass if it is along it too
            ops = [is_max] + [m for a, m in passes[k + 1:k + 2] if a == ax]
            parallel_call(_minmax_last, src.reshape(A, L), int(radius), np.array(ops), dst.reshape(A, L))
            k += len(ops)
        else:
            parallel_call(_minmax_lines, src.reshape(A, L, B), int(radius), bool(is_max), dst.reshape(A, L, B))
            k += 1
        src = dst
    return src


#: rows of one job of the min/max pass along the contiguous axis
ROWS_PER_JOB = 16
#: across rows, boxes up to this half-width compare their rows directly (van Herk's three passes
#: through memory cost more: 0.14 against 0.22 ms for 430,000 pixels at half-width 2)
DIRECT_RADIUS = 3

if HAVE_NUMBA:

    @numba.njit(cache=True, inline="always")
    def _extremum(dst, x, y, n, is_max):  # pragma: no cover - compiled
        """dst[i] = max(x[i], y[i]) (or min) for i < n, dst apart from x and y. Callers pass views (a row
        from an offset) rather than summed indices, which numba checks for wrap-around: LLVM then
        gathers and scatters instead of loading and storing vectors."""
        if is_max:
            for i in range(n):
                dst[i] = max(x[i], y[i])
        else:
            for i in range(n):
                dst[i] = min(x[i], y[i])

    @numba.njit(cache=True, inline="always")
    def _block_extrema(lines, r, L, c0, n, is_max, g, h):  # pragma: no cover - compiled
        """van Herk / Gil-Werman over the padded positions j of ``lines``, columns [c0, c0 + n): the
        positions are cut into blocks of the window's width w = 2r+1; g holds each block's running
        extremum from its start, h from its end (a window [k, k+w-1] is then max(h[k], g[k+w-1])).
        Row j of the padded lines is row ``mirror(j - r, L)`` of the L unpadded ones."""
        w = 2 * r + 1
        P = L + 2 * r
        for j in range(P):
            row = lines[mirror(j - r, L)]
            if j % w == 0:
                for b in range(n):
                    g[j, b] = row[c0 + b]
            elif is_max:
                for b in range(n):
                    g[j, b] = max(g[j - 1, b], row[c0 + b])
            else:
                for b in range(n):
                    g[j, b] = min(g[j - 1, b], row[c0 + b])
        for j in range(P - 1, -1, -1):
            row = lines[mirror(j - r, L)]
            if j == P - 1 or (j + 1) % w == 0:
                for b in range(n):
                    h[j, b] = row[c0 + b]
            elif is_max:
                for b in range(n):
                    h[j, b] = max(h[j + 1, b], row[c0 + b])
            else:
                for b in range(n):
                    h[j, b] = min(h[j + 1, b], row[c0 + b])

    @numba.njit(cache=True, inline="always")
    def _lines_job(src, r, is_max, out, job, nb):  # pragma: no cover - compiled
        """Job ``job`` of :func:`_minmax_lines`: line ``job // nb``, columns ``256 (job % nb)`` on."""
        A, L, B = src.shape
        w = 2 * r + 1
        P = L + 2 * r
        CB = 256
        a = job // nb
        b0 = (job % nb) * CB
        n = min(B, b0 + CB) - b0
        if r <= DIRECT_RADIUS:  # the 2r + 1 rows compared directly: fewer passes through memory
            for k in range(L):
                dst = out[a, k, b0:b0 + n]
                first = src[a, mirror(k - r, L), b0:b0 + n]
                for b in range(n):
                    dst[b] = first[b]
                for t in range(1, w):
                    row = src[a, mirror(k - r + t, L), b0:b0 + n]
                    if is_max:  # (in place, not through _extremum: LLVM's overlap check would fail)
                        for b in range(n):
                            dst[b] = max(dst[b], row[b])
                    else:
                        for b in range(n):
                            dst[b] = min(dst[b], row[b])
            return
        g = np.empty((P, n), np.float32)
        h = np.empty((P, n), np.float32)
        _block_extrema(src[a], r, L, b0, n, is_max, g, h)
        for k in range(L):
            _extremum(out[a, k, b0:b0 + n], h[k], g[k + w - 1], n, is_max)

    @numba.njit(parallel=True, cache=True, nogil=True)
    def _minmax_lines(src, r, is_max, out):  # pragma: no cover - compiled
        """Running max (min) of width 2r+1 along L of (A, L, B), mirror borders; B contiguous, taken
        256 at a time (:func:`_block_extrema`)."""
        A, L, B = src.shape
        nb = (B + 255) // 256
        for job in numba.prange(A * nb):
            _lines_job(src, r, is_max, out, job, nb)

    @numba.njit(cache=True, inline="always")
    def _extremum_shift(dst, src, n, j, is_max):  # pragma: no cover - compiled
        """dst[i] = max(src[i], src[i + j]) (or min) for i < n. (The shifted operand is a view:
        an index ``i + j`` would be checked for wrap-around, and the loads gathered.)"""
        _extremum(dst, src, src[j:], n, is_max)

    @numba.njit(cache=True, inline="always")
    def _row_extrema(row, r, ops, dst, a, b):  # pragma: no cover - compiled
        """The running max (min) of width w = 2r+1 along one row, mirror borders, once per entry of
        ``ops`` (True: max), into ``dst``; a and b are work rows of L + 2r. Along the contiguous
        axis by doubling: after passes m[i] = max(m[i], m[i + 2^k]) the padded line's m holds the
        extremum of [i, i + 2^K) for the largest 2^K <= w, and one more pass with the shift
        w - 2^K covers [i, i + w). Each pass is one vector operation per 8 or 16 pixels, the row
        stays in the L1 cache, and nothing is transposed."""
        L = row.size
        P = L + 2 * r
        w = 2 * r + 1
        ar, br = a[r:], b[r:]
        for j in range(L):
            ar[j] = row[j]
        inb = False  # the padded line is in b (passes alternate between a and b)
        for k in range(ops.size):
            is_max = ops[k]
            if inb:
                for j in range(r):
                    b[j] = br[mirror(j - r, L)]
                    br[L + j] = br[mirror(L + j, L)]
            else:
                for j in range(r):
                    a[j] = ar[mirror(j - r, L)]
                    ar[L + j] = ar[mirror(L + j, L)]
            j = 1
            n = P
            while 2 * j <= w:
                n -= j
                if inb:
                    _extremum_shift(a, b, n, j, is_max)
                else:
                    _extremum_shift(b, a, n, j, is_max)
                inb = not inb
                j *= 2
            # the windows [i, i + w) of the padded line -> position i (w - j > 0: w is odd)
            if k == ops.size - 1:
                if inb:
                    _extremum_shift(dst, b, L, w - j, is_max)
                else:
                    _extremum_shift(dst, a, L, w - j, is_max)
            else:
                if inb:
                    _extremum_shift(ar, b, L, w - j, is_max)
                else:
                    _extremum_shift(br, a, L, w - j, is_max)
                inb = not inb

    @numba.njit(cache=True, inline="always")
    def _rows_job(src, r, ops, out, a0, a1):  # pragma: no cover - compiled
        """Rows [a0, a1) of :func:`_minmax_last`."""
        L = src.shape[1]
        if r == 0:
            for y in range(a0, a1):
                out[y, :] = src[y]
            return
        a = np.empty(L + 2 * r, np.float32)
        b = np.empty(L + 2 * r, np.float32)
        for y in range(a0, a1):
            _row_extrema(src[y], r, ops, out[y], a, b)

    @numba.njit(parallel=True, cache=True, nogil=True)
    def _minmax_last(src, r, ops, out):  # pragma: no cover - compiled
        """:func:`_minmax_lines` along the contiguous last axis of (A, L), once per entry of ``ops``
        (True: max, False: min; a closing's max then min along x in one go), row by row
        (:func:`_row_extrema`), ROWS_PER_JOB rows a job."""
        A, L = src.shape
        for s in numba.prange((A + ROWS_PER_JOB - 1) // ROWS_PER_JOB):
            _rows_job(src, r, ops, out, s * ROWS_PER_JOB, min(A, (s + 1) * ROWS_PER_JOB))

    @numba.njit(cache=True, nogil=True)
    def _box_plane(src, r, max_first, b0, b1):  # pragma: no cover - compiled
        """Closing (``max_first``) or opening of a 2D (Y, X) plane with the square of half-width r,
        serially: the passes of :func:`_passes` (y, then x twice in one go, then y); the result
        is in b0 (b1 is work space)."""
        Y, X = src.shape
        nb = (X + 255) // 256
        s3, b03, b13 = src.reshape(1, Y, X), b0.reshape(1, Y, X), b1.reshape(1, Y, X)
        for job in range(nb):
            _lines_job(s3, r, max_first, b03, job, nb)
        _rows_job(b0, r, np.array([max_first, not max_first]), b1, 0, Y)
        for job in range(nb):
            _lines_job(b13, r, not max_first, b03, job, nb)

    def tophat_band(plane, y0, y1, radii, out2d, cols):
        """Black and white top-hats of rows [y0, y1) of a 2D (Y, X) float32 plane at each
        half-width ``radii[k]`` into columns ``cols[k]`` and ``cols[k] + 1`` of the (Y*X, F)
        output, serially (one job of a bank). The boxes of half-width r are computed on the rows
        with a margin of 2r (a closing's value depends on rows up to 2r away; the mirror at a cut
        shifts only rows nearer to it), so the values are those of :func:`closing`,
        :func:`opening` and :func:`store_tophats` on the whole plane; all the band's columns are
        then written in one sweep of its output rows.

        The closings and openings are held in arrays numpy allocates (large ones in huge pages:
        touching fresh memory a 4 KiB page at a time cost more than the boxes themselves)."""
        Y, X = plane.shape
        h = 2 * int(radii.max())
        n = min(Y, y1 + h) - max(0, y0 - h)
        closed = np.empty((radii.size, n, X), np.float32)
        opened = np.empty((radii.size, n, X), np.float32)
        _tophat_band(plane, y0, y1, radii, out2d, cols, closed, opened, np.empty((n, X), np.float32))

    @numba.njit(cache=True, nogil=True)
    def _tophat_band(plane, y0, y1, radii, out2d, cols, closed, opened, work):  # pragma: no cover - compiled
        """:func:`tophat_band` with its arrays: ``closed`` and ``opened`` (radius, window row, x)
        for the band's window (its rows with a margin of twice the largest radius), ``work`` a
        window's rows."""
        Y, X = plane.shape
        h = 2 * radii.max()
        wy0, wy1 = max(0, y0 - h), min(Y, y1 + h)
        win = plane[wy0:wy1]
        nr = radii.size
        for k in range(nr):
            a, b = max(0, y0 - 2 * radii[k]) - wy0, min(Y, y1 + 2 * radii[k]) - wy0  # (this radius' margin)
            _box_plane(win[a:b], radii[k], True, closed[k, a:b], work[:b - a])
            _box_plane(win[a:b], radii[k], False, opened[k, a:b], work[:b - a])
        for y in range(y0, y1):
            for x in range(X):
                v = win[y - wy0, x]
                o = y * X + x
                for k in range(nr):
                    out2d[o, cols[k]] = closed[k, y - wy0, x] - v
                    out2d[o, cols[k] + 1] = v - opened[k, y - wy0, x]

    @numba.njit(parallel=True, cache=True, nogil=True)
    def _store_pair(closed, opened, data, out2d, col):  # pragma: no cover - compiled
        N = data.size
        chunk = 4096
        for k in numba.prange((N + chunk - 1) // chunk):
            for p in range(k * chunk, min(N, (k + 1) * chunk)):
                v = data[p]
                out2d[p, col] = closed[p] - v
                out2d[p, col + 1] = v - opened[p]
