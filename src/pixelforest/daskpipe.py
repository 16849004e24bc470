"""The block-wise pipeline as a Dask graph: local threads or processes, or a dask.distributed cluster.

The image (a :class:`~pixelforest.io.lazy.LazyImage`, opened by each task, so any
worker that sees the file can read it) is chunked spatially, each chunk is grown
by the feature halo from its neighbours (``dask.array.overlap``, no padding at
the image border, where the features mirror exactly as on the whole image),
predicted, and trimmed back: the same result as the local block-wise run.

On a SLURM cluster, start workers with dask-jobqueue and pass the scheduler
address::

    from dask_jobqueue import SLURMCluster
    cluster = SLURMCluster(cores=8, memory="32GB", walltime="02:00:00")
    cluster.scale(jobs=10)
    # pixelforest batch model.pfc /data/*.h5 --scheduler <cluster.scheduler_address>
"""

from __future__ import annotations

import numpy as np

from .classifier import Classifier, normalize_source


def _require_dask():
    try:
        import dask.array  # noqa: F401
    except ImportError:
        raise ImportError("the Dask pipeline needs dask: pip install 'pixelforest[dask]'") from None


def predict_graph(clf: Classifier, image, source: str = "probabilities", block_shape=None, memory_bytes=None):
    """A lazy ``dask.array`` of the prediction, ``(T, Z, Y, X, K)``."""
    _require_dask()
    import dask.array as da

    src = normalize_source(source)
    T, Z, Y, X, C = image.shape
    clf.check_image(_Shape(image.shape))
    halo = clf.total_halo()
    _, bz, by, bx = clf.block_for(block_shape, (T, Z, Y, X), halo, memory_bytes)
    x = da.from_array(image, chunks=(1, bz, by, bx, C), meta=np.empty((0,) * 5, image.dtype), asarray=False)
    depth = {0: 0, 1: min(halo, Z - 1) if Z > 1 else 0, 2: min(halo, Y - 1), 3: min(halo, X - 1), 4: 0}
    g = da.overlap.overlap(x, depth=depth, boundary="none")
    shape, dtype = clf.result_shape(image.shape, src)
    K = shape[-1]
    stats = clf.normalization_stats(image)  # whole-image normalisation, once, on the client

    def predict_block(block):
        block = np.asarray(block)
        feats = clf.piece_features(block, tuple(slice(0, n) for n in block.shape[:4]), stats, Z)
        return clf.from_features(feats, src)

    r = g.map_blocks(predict_block, dtype=dtype, chunks=g.chunks[:4] + ((K,),))
    return da.overlap.trim_internal(r, depth, boundary="none")


class _Shape:
    """Only the shape, for Classifier.check_image."""

    def __init__(self, shape):
        self.shape = shape


def compute_into(graph, out, scheduler: str = "threads", progress=None) -> None:
    """Compute a prediction graph and write it block by block into ``out`` (a block writer).

    ``scheduler``: ``threads``, ``processes``, ``synchronous`` or a ``tcp://HOST:PORT``
    address of a dask.distributed scheduler. Blocks are computed in batches and written
    in this process, so the result never has to fit in memory.
    """
    _require_dask()
    import dask

    client = None
    if scheduler.startswith(("tcp://", "tls://", "inproc://")):
        from distributed import Client

        client = Client(scheduler)
    try:
        blocks = list(np.ndindex(*graph.numblocks))
        starts = [np.cumsum((0,) + c[:-1]) for c in graph.chunks]
        batch = 8
        for i in range(0, len(blocks), batch):
            idx = blocks[i:i + batch]
            parts = [graph.blocks[b] for b in idx]
            if client is not None:
                values = client.compute(parts, sync=True)
            else:
                values = dask.compute(*parts, scheduler=scheduler)
            for b, v in zip(idx, values, strict=True):
                sl = tuple(slice(int(starts[d][b[d]]), int(starts[d][b[d]]) + graph.chunks[d][b[d]]) for d in range(4))
                out[sl] = np.asarray(v)
            if progress is not None:
                progress(min(i + batch, len(blocks)), len(blocks))
    finally:
        if client is not None:
            client.close()
