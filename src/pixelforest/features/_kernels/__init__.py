"""The feature bank's compiled kernels (numba): separable filters, eigenvalues and flat min/max
filters (:mod:`.filters`), the 2D bank fused row by row (:mod:`.bank2d`), local grey-level hole
filling (:mod:`.holes`) and the scheduling of their jobs over threads (:mod:`.tasks`). Private to
:mod:`pixelforest.features`, which calls them from :mod:`pixelforest.features.compute`."""
