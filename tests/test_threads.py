"""Several Python threads using the library at once get correct results."""

import threading

import numpy as np

import tensorlogic as tl


def test_concurrent_ops_from_threads():
    rng = np.random.default_rng(7)
    mats = [rng.standard_normal((120, 80)).astype(np.float32) for _ in range(4)]
    errors = []

    def work(i):
        try:
            a = tl.asarray(mats[i])
            for _ in range(30):
                r = tl.sum(tl.relu(a @ a.T) * 0.5, axis=1)
                want = (np.maximum(mats[i].astype(np.float64) @ mats[i].T, 0) * 0.5).sum(axis=1)
                np.testing.assert_allclose(np.asarray(r), want, rtol=1e-4, atol=1e-3)
        except Exception as e:  # noqa: BLE001 - reported to the main thread
            errors.append(e)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
