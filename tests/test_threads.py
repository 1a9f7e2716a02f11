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


# One thread evaluates graphs whose last reference to a NumPy array imported by DLPack is
# dropped inside tl.eval (NumPy's deleter takes the GIL); the other, holding the GIL, keeps
# dropping pending tensors, which waits for the graph's lock. The deleter must run after the
# graph's lock is let go, or the two wait on each other for ever. (In a subprocess: a
# deadlock must fail the test, not hang the suite.)
_DLPACK_RACE = """
import threading
import numpy as np
import tensorlogic as tl

stop = threading.Event()
w = tl.asarray(np.arange(8 * 33, dtype=np.float32).reshape(8, 33))


def producer():
    for i in range(3000):
        a = np.full(4096, float(i), np.float32)
        x = tl.from_dlpack(a)
        y = x * 2 + 1
        del x, a
        tl.eval(y)
        assert float(np.asarray(y)[7]) == 2 * i + 1
    stop.set()


def dropper():
    while not stop.is_set():
        s = w * 1.5
        del s


threads = [threading.Thread(target=f) for f in (producer, dropper)]
for t in threads:
    t.start()
for t in threads:
    t.join()
print("done")
"""


def test_dlpack_import_freed_inside_eval_while_another_thread_drops_tensors():
    import subprocess
    import sys

    try:
        r = subprocess.run([sys.executable, "-c", _DLPACK_RACE], capture_output=True, text=True, timeout=120)
    except subprocess.TimeoutExpired:
        raise AssertionError("deadlock: the threads did not finish in 120 s") from None
    assert r.returncode == 0 and r.stdout.strip() == "done", r.stderr[-2000:]
