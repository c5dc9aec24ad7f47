"""One thread per worker process for the numerical libraries.

NumPy's BLAS (OpenBLAS or MKL), OpenMP code, torch and onnxruntime each start a pool of
threads as wide as the machine. When a stage already runs one worker process per core,
those pools fight over the same cores: on 2 cores, 2 evaluation workers were measured at
0.89x the speed of one. Pinning every library to one thread inside each worker restores
near-linear scaling. Call `single_thread_worker` as the initializer of a process pool.
"""

from __future__ import annotations

import os
import sys

from threadpoolctl import threadpool_limits

from sepflow.metrics import dnsmos

THREAD_VARIABLES = (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "BLIS_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
    "NUMEXPR_NUM_THREADS",
    "NUMBA_NUM_THREADS",
)
"""Read by the libraries when they load: they cover those a worker imports after this call."""


def single_thread_worker() -> None:
    """Pin BLAS/OpenMP (loaded or not yet loaded), torch and the DNSMOS sessions to one thread."""
    for variable in THREAD_VARIABLES:
        os.environ[variable] = "1"
    threadpool_limits(limits=1)  # the pools of libraries already loaded, for this process's life
    if "torch" in sys.modules:  # importing torch only to pin it would cost a second per worker
        sys.modules["torch"].set_num_threads(1)
    dnsmos.set_threads(1)
