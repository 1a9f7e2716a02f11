"""tl.random: one Philox stream, reproducible from its seed, with the right distributions."""
import math

import numpy as np
import pytest

import tensorlogic as tl

FLOATS = [tl.float32, tl.float16, tl.bfloat16, tl.float64]
N = 100_000
SIGMAS = 5.0


def f64(t):
    """A tensor's values as a float64 NumPy array (bf16/f16 go through tl's own cast)."""
    return np.asarray(t.astype(tl.float64))


def test_same_seed_same_numbers(device):
    def draws():
        tl.random.seed(0)
        return (f64(tl.random.uniform(size=1000, device=device)),
                f64(tl.random.normal(size=(10, 10), dtype=tl.float64, device=device)),
                np.asarray(tl.random.randint(0, 100, size=50, device=device)),
                np.asarray(tl.random.permutation(30)))
    for a, b in zip(draws(), draws()):
        np.testing.assert_array_equal(a, b)


def test_different_seeds_and_draws_differ(device):
    tl.random.seed(1)
    a = f64(tl.random.uniform(size=100, device=device))
    b = f64(tl.random.uniform(size=100, device=device))
    tl.random.seed(2)
    c = f64(tl.random.uniform(size=100, device=device))
    assert not np.array_equal(a, b)
    assert not np.array_equal(a, c)


def test_draws_continue_the_stream(device):
    # Each draw takes as many counters as it has elements: two draws of 10 equal one of 20.
    tl.random.seed(42)
    a = f64(tl.random.uniform(size=10, device=device))
    b = f64(tl.random.uniform(size=(2, 5), device=device)).ravel()
    tl.random.seed(42)
    c = f64(tl.random.uniform(size=20, device=device))
    np.testing.assert_array_equal(np.concatenate([a, b]), c)


def test_float32_is_float64_truncated(device):
    # float32 takes the top 24 of the 53 bits float64 uses, so it is float64 truncated.
    tl.random.seed(3)
    u64 = f64(tl.random.uniform(size=1000, dtype=tl.float64, device=device))
    tl.random.seed(3)
    u32 = f64(tl.random.uniform(size=1000, dtype=tl.float32, device=device))
    np.testing.assert_array_equal(u32, np.floor(u64 * 2.0**24) / 2.0**24)


@pytest.mark.parametrize("dtype", FLOATS)
def test_uniform_range_and_moments(device, dtype):
    low, high = -2.0, 3.0
    tl.random.seed(10)
    t = tl.random.uniform(low, high, size=N, dtype=dtype, device=device)
    assert t.dtype == dtype and t.shape == (N,)
    x = f64(t)
    assert x.min() >= low and x.max() < high
    w = high - low
    assert abs(x.mean() - (low + high) / 2) < SIGMAS * w / math.sqrt(12 * N)
    # sample variance: mu4 = w^4 / 80, sigma^4 = w^4 / 144
    assert abs(x.var() - w * w / 12) < SIGMAS * w * w * math.sqrt((1 / 80 - 1 / 144) / N)


@pytest.mark.parametrize("dtype", [tl.float16, tl.bfloat16, tl.float32])
def test_uniform_never_rounds_up_to_high(device, dtype):
    tl.random.seed(4)
    x = f64(tl.random.uniform(0.0, 1.0, size=N, dtype=dtype, device=device))
    assert x.max() < 1.0


@pytest.mark.parametrize("dtype", FLOATS)
def test_normal_moments(device, dtype):
    loc, scale = 1.5, 2.0
    tl.random.seed(11)
    t = tl.random.normal(loc, scale, size=(N // 100, 100), dtype=dtype, device=device)
    assert t.dtype == dtype and t.shape == (N // 100, 100)
    x = f64(t).ravel()
    assert np.isfinite(x).all()
    assert abs(x.mean() - loc) < SIGMAS * scale / math.sqrt(N)
    assert abs(x.std() - scale) < SIGMAS * scale / math.sqrt(2 * N)
    # the tails are there: beyond 3 sigma about 0.27% of draws
    frac = np.mean(np.abs(x - loc) > 3 * scale)
    assert 0.0027 / 2 < frac < 0.0027 * 2


@pytest.mark.parametrize("dtype", [tl.int32, tl.int64])
def test_randint_range_hits_every_value(device, dtype):
    tl.random.seed(5)
    t = tl.random.randint(-3, 4, size=10_000, dtype=dtype, device=device)
    assert t.dtype == dtype
    x = np.asarray(t)
    assert set(np.unique(x).tolist()) == set(range(-3, 4))
    counts = np.bincount(x + 3)
    p = 1 / 7
    assert np.all(np.abs(counts - 10_000 * p) < SIGMAS * math.sqrt(10_000 * p * (1 - p)))


def test_randint_high_none_means_zero_to_low(device):
    tl.random.seed(6)
    t = tl.random.randint(5, size=1000, device=device)
    assert t.dtype == tl.int64
    assert set(np.unique(np.asarray(t)).tolist()) == set(range(5))


def test_randint_wide_range(device):
    tl.random.seed(7)
    x = np.asarray(tl.random.randint(-(2**40), 2**40, size=1000, device=device))
    assert x.min() >= -(2**40) and x.max() < 2**40
    assert x.max() - x.min() > 2**40  # spread over the range, not stuck near one end


def test_permutation_of_n():
    tl.random.seed(8)
    p = np.asarray(tl.random.permutation(100))
    assert p.dtype == np.int64
    np.testing.assert_array_equal(np.sort(p), np.arange(100))
    assert not np.array_equal(p, np.arange(100))
    assert np.asarray(tl.random.permutation(0)).shape == (0,)


def test_permutation_shuffles_rows(device):
    base = np.arange(40, dtype=np.float32).reshape(20, 2)
    x = tl.asarray(base, device=device)
    tl.random.seed(9)
    y = np.asarray(tl.random.permutation(x))
    assert y.shape == (20, 2)
    np.testing.assert_array_equal(y[:, 1] - y[:, 0], np.ones(20))  # rows stay whole
    np.testing.assert_array_equal(np.sort(y[:, 0]), base[:, 0])
    assert not np.array_equal(y, base)
    tl.random.seed(9)
    np.testing.assert_array_equal(np.asarray(tl.random.permutation(x)), y)


@pytest.mark.parametrize("size,shape", [(None, ()), (5, (5,)), ((2, 3), (2, 3)), ((0,), (0,)),
                                        ((4, 0, 2), (4, 0, 2))])
def test_size_argument(device, size, shape):
    for t in (tl.random.uniform(size=size, device=device),
              tl.random.normal(size=size, dtype=tl.float16, device=device),
              tl.random.randint(0, 3, size=size, dtype=tl.int32, device=device)):
        assert t.shape == shape
        assert np.asarray(t.astype(tl.float64)).shape == shape


def test_empty_draw_takes_no_counters(device):
    tl.random.seed(12)
    a = f64(tl.random.uniform(size=8, device=device))
    tl.random.seed(12)
    tl.random.uniform(size=(3, 0), device=device)
    np.testing.assert_array_equal(f64(tl.random.uniform(size=8, device=device)), a)


def test_bad_arguments(device):
    with pytest.raises(ValueError):
        tl.random.uniform(1.0, 1.0, size=3, device=device)
    with pytest.raises(ValueError):
        tl.random.uniform(2.0, 1.0, size=3, device=device)
    with pytest.raises(ValueError):
        tl.random.uniform(0.0, math.inf, size=3, device=device)
    with pytest.raises(TypeError):
        tl.random.uniform(size=3, dtype=tl.int32, device=device)
    with pytest.raises(ValueError):
        tl.random.normal(0.0, -1.0, size=3, device=device)
    with pytest.raises(TypeError):
        tl.random.normal(size=3, dtype=tl.int64, device=device)
    with pytest.raises(ValueError):
        tl.random.randint(3, 3, size=3, device=device)
    with pytest.raises(ValueError):
        tl.random.randint(5, 2, size=3, device=device)
    with pytest.raises(ValueError):
        tl.random.randint(0, 2**40, size=3, dtype=tl.int32, device=device)
    with pytest.raises(TypeError):
        tl.random.randint(0, 5, size=3, dtype=tl.float32, device=device)
    with pytest.raises(TypeError):
        tl.random.randint(0, 2, size=3, dtype=tl.bool, device=device)
    with pytest.raises(ValueError):
        tl.random.uniform(size=(2, -1), device=device)
    with pytest.raises(ValueError):
        tl.random.permutation(-1)
    with pytest.raises(ValueError):
        tl.random.permutation(tl.asarray(3.0, device=device))


def test_errors_leave_the_stream_alone(device):
    tl.random.seed(13)
    a = f64(tl.random.uniform(size=8, device=device))
    tl.random.seed(13)
    with pytest.raises(ValueError):
        tl.random.uniform(1.0, 0.0, size=8, device=device)
    with pytest.raises(TypeError):
        tl.random.normal(size=8, dtype=tl.int32, device=device)
    np.testing.assert_array_equal(f64(tl.random.uniform(size=8, device=device)), a)
