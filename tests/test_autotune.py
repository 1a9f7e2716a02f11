"""tl.autotune: measured matmul kernel selection, remembered in memory and on disk."""
import numpy as np
import pytest

import tensorlogic as tl

HAS_CUDA = tl._core.backend_status("cuda") in ("available", "preview")


@pytest.fixture
def tuning(tmp_path, monkeypatch):
    monkeypatch.setenv("TENSORLOGIC_CACHE_DIR", str(tmp_path))
    previous = tl.autotune(True)
    yield tmp_path
    tl.autotune(previous)


def test_autotune_switch_reports_the_previous_state():
    before = tl.autotune()
    try:
        assert tl.autotune(True) is before
        assert tl.autotune() is True
        assert tl.autotune(False) is True
        assert tl.autotune() is False
    finally:
        tl.autotune(before)


def test_matmul_results_do_not_depend_on_tuning(tuning, rng):
    a = rng.standard_normal((33, 70)).astype(np.float32)
    b = rng.standard_normal((70, 45)).astype(np.float32)
    got = np.asarray(tl.asarray(a) @ tl.asarray(b))
    np.testing.assert_allclose(got, a.astype(np.float64) @ b, rtol=1e-5, atol=1e-5)


@pytest.mark.skipif(not HAS_CUDA, reason="needs a CUDA device")
@pytest.mark.parametrize("dtype", [tl.bfloat16, tl.float32], ids=str)
def test_cuda_matmul_tunes_once_then_remembers(tuning, rng, dtype):
    a = rng.standard_normal((1000, 777)).astype(np.float32)
    b = rng.standard_normal((777, 1023)).astype(np.float32)
    ta = tl.asarray(a, device="cuda").astype(dtype)
    tb = tl.asarray(b, device="cuda").astype(dtype)
    want = np.asarray(ta.astype(tl.float32)).astype(np.float64) @ np.asarray(tb.astype(tl.float32))
    tol = 2e-2 if dtype == tl.bfloat16 else 1e-4
    before = tl._core.autotune_stats()
    got = np.asarray((ta @ tb).astype(tl.float32))
    np.testing.assert_allclose(got, want, rtol=tol, atol=tol * 30)
    mid = tl._core.autotune_stats()
    assert mid["tuned"] == before["tuned"] + 1
    assert list(tuning.glob("cuda/*.tune")), "the winner is kept on disk"
    got = np.asarray((ta @ tb).astype(tl.float32))
    np.testing.assert_allclose(got, want, rtol=tol, atol=tol * 30)
    after = tl._core.autotune_stats()
    assert after["tuned"] == mid["tuned"] and after["memory_hits"] == mid["memory_hits"] + 1
