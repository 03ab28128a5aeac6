"""Run a loop over chunks of work on several threads, lending them the BLAS's threads.

NumPy's BLAS (OpenBLAS in NumPy's wheels) splits every matrix product among its own
threads. That suits one large product. conv2d instead makes many small ones, one per
chunk of the batch, with copying between them (unfolding the chunk, folding the result
back), and the copying runs on one core while the others wait. It is faster to run
several chunks at once, one per thread, with each product on one BLAS thread: the
copies then run in parallel too, and each chunk stays in the cache of the core that
works on it.

:func:`run_chunks` does that. While it runs, the BLAS is limited to one thread with
`threadpoolctl <https://github.com/joblib/threadpoolctl>`_ (the library scikit-learn
uses for the same purpose), and the number of threads it starts is the number the BLAS
had: a program that gave the BLAS two threads still uses two cores. When the BLAS's
threads cannot be controlled (a BLAS that threadpoolctl does not know), the chunks run
one after the other and each product is threaded by the BLAS, as usual.

The limit is process-wide: a matrix product run by another thread of the program
while a conv2d is in flight gets one BLAS thread too.
"""
from __future__ import annotations

import threading

try:
    from threadpoolctl import ThreadpoolController
except ImportError:  # a dependency of minireg; without it, the chunks run one by one
    ThreadpoolController = None

_blas_controller = None


def _blas():
    """The threadpoolctl controller of the BLAS libraries loaded in this process, or None."""
    global _blas_controller
    if _blas_controller is None and ThreadpoolController is not None:
        _blas_controller = ThreadpoolController().select(user_api="blas")
    if _blas_controller is None or not _blas_controller.lib_controllers:
        return None
    return _blas_controller


def blas_threads() -> int:
    """How many threads the BLAS uses now (the most among the loaded BLAS libraries);
    1 when that cannot be found out or changed."""
    blas = _blas()
    if blas is None:
        return 1
    return max(1, max(lib.num_threads for lib in blas.lib_controllers))


def run_chunks(work, n_chunks: int, threads: int) -> None:
    """Call ``work(i)`` once for each i in range(n_chunks), on ``threads`` threads.

    The calling thread is one of them. Each thread takes the next index that no thread
    has taken yet, so a thread slowed down by other jobs on its core takes fewer chunks.
    ``work`` must write its results into places that no other chunk writes to; the
    results then do not depend on which thread ran which chunk. With ``threads`` > 1,
    the BLAS runs on one thread until all chunks are done. The first exception raised by
    any ``work(i)`` stops the others (after their current chunk) and is raised here.
    """
    blas = _blas() if threads > 1 and n_chunks > 1 else None
    if blas is None:
        for i in range(n_chunks):
            work(i)
        return
    next_index = iter(range(n_chunks))
    lock = threading.Lock()
    errors = []

    def worker():
        try:
            while not errors:
                with lock:
                    i = next(next_index, None)
                if i is None:
                    return
                work(i)
        except BaseException as error:  # KeyboardInterrupt too: stop every thread
            errors.append(error)

    with blas.limit(limits=1):
        helpers = [threading.Thread(target=worker, daemon=True) for _ in range(min(threads, n_chunks) - 1)]
        try:
            for helper in helpers:
                helper.start()
            worker()
            for helper in helpers:
                helper.join()
        except BaseException as error:  # Ctrl-C while waiting: the helpers stop after their chunk
            errors.append(error)
            raise
    if errors:
        raise errors[0]
