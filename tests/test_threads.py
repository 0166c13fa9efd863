"""tools.core.threads: one BLAS thread inside, every BLAS as it was after."""

from threadpoolctl import threadpool_info

from tools.core.threads import one_blas_thread


def _blas_threads() -> list[int]:
    return [lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"]


def test_one_blas_thread_limits_every_blas_and_restores_it():
    before = _blas_threads()
    assert before, "numpy's and scipy's OpenBLAS should be loaded"
    with one_blas_thread():
        assert _blas_threads() == [1] * len(before)
    assert _blas_threads() == before
