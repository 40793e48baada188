"""``--threads``: limit BLAS/OpenMP threads, also of the libraries imported later.

threadpoolctl limits only the thread pools already loaded; plugin modules import scikit-learn,
scipy and openTSNE where they use them, so their OpenMP runtime may load inside the limit. The
``*_NUM_THREADS`` variables, read when a runtime loads, cover those (and are restored after).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

#: the variables OpenMP, OpenBLAS, MKL and BLIS read when they load
THREAD_VARIABLES = (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "BLIS_NUM_THREADS",
)


@contextlib.contextmanager
def limit_threads(threads: int) -> Iterator[None]:
    """At most ``threads`` BLAS/OpenMP threads inside the block, for loaded and later runtimes."""
    from threadpoolctl import threadpool_limits

    saved = {name: os.environ.get(name) for name in THREAD_VARIABLES}
    os.environ.update({name: str(threads) for name in THREAD_VARIABLES})
    try:
        with threadpool_limits(threads):
            yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
