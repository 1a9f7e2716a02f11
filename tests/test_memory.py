"""The CPU pool: reuse, truthful stats, bounded cache, no leaks over long loops."""

import numpy as np

import tensorlogic as tl


def test_stats_keys_and_reuse():
    s = tl.memory.stats("cpu")
    for k in ("bytes_in_use", "bytes_cached", "peak_bytes_in_use", "pool_hits", "pool_misses",
              "system_allocations"):
        assert k in s and s[k] >= 0
    before = tl.memory.stats("cpu")
    a = tl.empty(1000)
    mid = tl.memory.stats("cpu")
    assert mid["bytes_in_use"] >= before["bytes_in_use"] + 4000
    del a
    b = tl.empty(1000)  # same size class: served from the cache
    after = tl.memory.stats("cpu")
    assert after["pool_hits"] > mid["pool_hits"]
    del b


def test_empty_cache_returns_memory():
    x = tl.empty(1 << 20)
    del x
    assert tl.memory.stats("cpu")["bytes_cached"] > 0
    tl.memory.empty_cache("cpu")
    assert tl.memory.stats("cpu")["bytes_cached"] == 0


def test_no_leak_over_long_loop():
    rng = np.random.default_rng(0)
    w = tl.asarray(rng.standard_normal((33, 17)).astype(np.float32))
    start = tl.memory.stats("cpu")["bytes_in_use"]
    for i in range(10_000):
        n = 1 + (i * 7919) % 300
        x = tl.full((n, 33), 0.5) + tl.arange(33, dtype=tl.float32)
        y = tl.relu(x @ w).sum(axis=0)
        if i % 97 == 0:
            y = tl.concat([y, x[0, :5]])[::2]
        del x, y
    s = tl.memory.stats("cpu")
    assert s["bytes_in_use"] == start
    assert s["bytes_cached"] <= s["cache_limit"]
    assert s["pool_hits"] > s["pool_misses"]
