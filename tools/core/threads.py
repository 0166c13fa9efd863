"""One BLAS thread for work made of many small matrix products.

Click and dropout repair fit thousands of small AR models (a 160 x 160 system per click at
16 kHz). With OpenBLAS's default of one thread per core, each small product and Cholesky
factorisation wakes the other threads and waits for them, which costs more than the product
itself. Measured on 30 s of speech on 2 cores: declick 6.5 -> 2.2 s at 16 kHz and 5.1 -> 3.6 s at
44.1 kHz, dropout repair 0.63 -> 0.14 s and 1.53 -> 0.88 s. declip and dereverb (larger systems:
nara_wpe's per-frequency statistics) are as fast or faster with every thread, so they keep them.

threadpoolctl (the library scikit-learn uses for this) sets the limit on every BLAS that is loaded
(numpy and scipy each ship their own OpenBLAS) and restores it on leaving. The limit is
process-wide while it holds, so it is taken around pure computation, never across a ``yield``.
"""

from __future__ import annotations

from functools import cache

import numpy  # noqa: F401  (load both BLAS libraries before threadpoolctl looks for them)
import scipy.linalg  # noqa: F401
from threadpoolctl import ThreadpoolController


@cache
def _controller() -> ThreadpoolController:
    return ThreadpoolController()  # finds the loaded libraries once (a scan of the process)


def one_blas_thread():
    """A context manager: BLAS and LAPACK calls inside it run on one thread."""
    return _controller().limit(limits=1, user_api="blas")
