"""minireg.threads: a loop over chunks on several threads, with the BLAS's threads lent.

* every chunk runs exactly once, whatever the number of threads;
* with more than one thread the chunks do run on several threads, the BLAS has one
  thread while they run, and gets its threads back afterwards;
* an exception in one chunk stops the rest and reaches the caller;
* without a BLAS that can be controlled, the chunks run in order on the calling thread.
"""
import threading

import numpy as np
import pytest
from threadpoolctl import ThreadpoolController, threadpool_limits

from minireg import threads


def blas_thread_counts():
    return [info["num_threads"] for info in ThreadpoolController().select(user_api="blas").info()]


@pytest.mark.parametrize("n_threads", [1, 2, 3, 5])
@pytest.mark.parametrize("n_chunks", [0, 1, 2, 7, 40])
def test_every_chunk_runs_exactly_once(n_threads, n_chunks):
    done = []
    lock = threading.Lock()

    def work(i):
        with lock:
            done.append(i)

    threads.run_chunks(work, n_chunks, n_threads)
    assert sorted(done) == list(range(n_chunks))


def test_chunks_share_the_threads_and_the_blas_is_lent_while_they_run():
    seen_threads, blas_inside = set(), []
    lock = threading.Lock()
    barrier = threading.Barrier(2, timeout=10)  # the first two chunks wait for each other

    def work(i):
        if i < 2:
            barrier.wait()  # passes only if two threads run chunks at the same time
        with lock:
            seen_threads.add(threading.get_ident())
            blas_inside.extend(blas_thread_counts())
        np.ones((64, 64)) @ np.ones((64, 64))  # a product on the lent BLAS

    with threadpool_limits(limits=2, user_api="blas"):
        assert threads.blas_threads() == 2
        threads.run_chunks(work, 10, threads.blas_threads())
        assert set(blas_thread_counts()) == {2}  # given back
    assert len(seen_threads) == 2
    assert set(blas_inside) == {1}


def test_an_error_in_one_chunk_stops_the_others_and_is_raised():
    done = []

    def work(i):
        if i == 3:
            raise ValueError("chunk 3 failed")
        done.append(i)

    with threadpool_limits(limits=2, user_api="blas"):
        with pytest.raises(ValueError, match="chunk 3 failed"):
            threads.run_chunks(work, 1000, 2)
        assert set(blas_thread_counts()) == {2}
    assert len(done) < 999  # the remaining chunks were not run


def test_without_a_controllable_blas_the_chunks_run_in_order_on_the_caller(monkeypatch):
    monkeypatch.setattr(threads, "_blas", lambda: None)
    assert threads.blas_threads() == 1
    calls = []
    threads.run_chunks(lambda i: calls.append((i, threading.get_ident())), 6, 4)
    assert calls == [(i, threading.get_ident()) for i in range(6)]
