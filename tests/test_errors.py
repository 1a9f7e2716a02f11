"""A catalogue of bad calls: each raises the right exception type with a useful message at
the call site, and the library keeps working afterwards."""

import numpy as np
import pytest

import tensorlogic as tl

BAD_CALLS = [
    (lambda: tl.zeros((2, 3)) + tl.zeros((4,)), ValueError, r"\(2, 3\).*\(4,\)"),
    (lambda: tl.zeros((2, 3)) @ tl.zeros((4, 5)), ValueError, r"\(2, 3\).*\(4, 5\)"),
    (lambda: tl.matmul(tl.zeros(()), tl.zeros(3)), ValueError, "dimension"),
    (lambda: tl.zeros((2, 2, 3)) @ tl.zeros((3, 3, 2)), ValueError, r"\(2, 2, 3\).*\(3, 3, 2\)"),
    (lambda: tl.reshape(tl.zeros(6), (4,)), ValueError, "6"),
    (lambda: tl.zeros(3).astype("complex64"), TypeError, "complex64"),
    (lambda: tl.zeros(3, dtype="float128"), TypeError, "float128"),
    (lambda: tl.asarray(np.array(["a"])), TypeError, "unsupported dtype"),
    (lambda: tl.zeros(3) & tl.zeros(3), TypeError, "float32"),
    (lambda: -tl.asarray([True]), TypeError, "bool"),
    (lambda: tl.zeros(3)[3], IndexError, "3"),
    (lambda: tl.zeros(3)[-4], IndexError, "-4"),
    (lambda: tl.zeros(3)[0, 0], IndexError, "too many indices"),
    (lambda: tl.zeros(3)[1.5], IndexError, "1.5"),
    (lambda: tl.sum(tl.zeros((2, 3)), axis=2), tl.AxisError, "axis 2"),
    (lambda: tl.sum(tl.zeros((2, 3)), axis=-3), IndexError, "axis -3"),
    (lambda: tl.sum(tl.zeros((2, 3)), axis=(0, 0)), ValueError, "repeated"),
    (lambda: tl.max(tl.zeros((0,))), ValueError, "zero-size"),
    (lambda: tl.zeros(-1), ValueError, "negative"),
    (lambda: tl.zeros(3, device="tpu"), ValueError, "tpu"),
    (lambda: tl.zeros(3, device="cpu:3"), tl.DeviceError, "cpu:3|cpu"),
    (lambda: tl.concat([tl.zeros((2, 3)), tl.zeros((2, 4))], axis=0), ValueError, r"\(2, 3\)|\(2, 4\)"),
    (lambda: tl.squeeze(tl.zeros((2, 3)), axis=0), ValueError, r"axis 0 of shape \(2, 3\)"),
    (lambda: tl.broadcast_to(tl.zeros(3), (2, 4)), ValueError, r"\(3,\).*\(2, 4\)"),
    (lambda: tl.random.uniform(2.0, 1.0, size=3), ValueError, "low < high"),
    (lambda: tl.random.normal(size=3, dtype=tl.int32), TypeError, "int32"),
    (lambda: tl.arange(0, 1, 0), ValueError, "step"),
    (lambda: tl.memory.set_limit(-1), ValueError, ">= 0"),
]


@pytest.mark.parametrize("call,exc,pattern", BAD_CALLS, ids=[str(i) for i in range(len(BAD_CALLS))])
def test_bad_call(call, exc, pattern):
    with pytest.raises(exc, match=pattern):
        call()
    # nothing broke: a normal computation still works
    x = tl.arange(5, dtype=tl.float32)
    np.testing.assert_array_equal(np.asarray(x * 2 + 1), np.arange(5) * 2 + 1)


def test_axis_error_is_value_and_index_error():
    assert issubclass(tl.AxisError, ValueError) and issubclass(tl.AxisError, IndexError)
    assert issubclass(tl.DeviceError, RuntimeError)


def test_out_of_memory_is_memory_error_and_recovers():
    tl.memory.set_limit(64 << 20, "cpu")
    try:
        keep = tl.zeros(1 << 20)  # 4 MiB fits
        with pytest.raises(MemoryError, match="out of memory"):
            tl.zeros(100 << 20)
        assert keep.sum().item() == 0
    finally:
        tl.memory.set_limit(0, "cpu")
    assert tl.zeros(100 << 20, dtype=tl.uint8).shape == (100 << 20,)
