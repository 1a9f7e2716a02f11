"""The functions of the public namespace: the native ops, plus NumPy-style aliases and the
few conveniences that only make sense in Python (keyword spellings, *_like helpers)."""

import contextlib

from . import _core

_NATIVE = [
    # elementwise (one per row of the C++ op table)
    "negative", "abs", "sign", "square", "relu", "floor", "ceil", "round", "trunc", "exp",
    "expm1", "log", "log1p", "sqrt", "rsqrt", "sin", "cos", "tan", "tanh", "erf", "sigmoid",
    "silu", "softplus", "isnan", "isinf", "isfinite", "logical_not", "bitwise_invert", "add",
    "subtract", "multiply", "divide", "floor_divide", "remainder", "pow", "maximum", "minimum",
    "equal", "not_equal", "less", "less_equal", "greater", "greater_equal", "logical_and",
    "logical_or", "logical_xor", "bitwise_and", "bitwise_or", "bitwise_xor",
    "bitwise_left_shift", "bitwise_right_shift", "where", "clip", "astype",
    # creation
    "asarray", "empty", "full", "arange", "linspace", "eye", "from_dlpack",
    # linear algebra
    "matmul", "set_float32_matmul_precision", "get_float32_matmul_precision",
    # reductions
    "sum", "prod", "max", "min", "any", "all", "mean", "var", "std", "logsumexp", "argmax",
    "argmin", "cumsum", "cumprod", "softmax", "log_softmax",
    # shape and indexing
    "reshape", "permute_dims", "transpose", "matrix_transpose", "swapaxes", "moveaxis",
    "expand_dims", "squeeze", "broadcast_to", "broadcast_arrays", "flatten", "flip",
    "diagonal", "concat", "stack", "split", "tile", "repeat", "pad", "tril", "triu", "take",
]
globals().update({name: getattr(_core, name) for name in _NATIVE})

# NumPy spellings of the same functions.
power = _core.pow
mod = _core.remainder
true_divide = _core.divide
absolute = _core.abs
concatenate = _core.concat
bitwise_not = _core.bitwise_invert
invert = _core.bitwise_invert
left_shift = _core.bitwise_left_shift
right_shift = _core.bitwise_right_shift
amax = _core.max
amin = _core.min


def gelu(x, approximate="none"):
    """Gaussian error linear unit: exact (erf) form, or approximate="tanh"."""
    if approximate == "tanh":
        return _core.gelu_tanh(x)
    if approximate != "none":
        raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
    return _core.gelu(x)


def zeros(shape, *, dtype=None, device=None):
    return _core.full(shape, 0, dtype=_core.DType.float32 if dtype is None else dtype, device=device)


def ones(shape, *, dtype=None, device=None):
    return _core.full(shape, 1, dtype=_core.DType.float32 if dtype is None else dtype, device=device)


def _like(x, dtype, device):
    return (x.shape, dtype if dtype is not None else x.dtype,
            device if device is not None else x.device)


def empty_like(x, *, dtype=None, device=None):
    shape, dtype, device = _like(x, dtype, device)
    return _core.empty(shape, dtype=dtype, device=device)


def zeros_like(x, *, dtype=None, device=None):
    shape, dtype, device = _like(x, dtype, device)
    return _core.full(shape, 0, dtype=dtype, device=device)


def ones_like(x, *, dtype=None, device=None):
    shape, dtype, device = _like(x, dtype, device)
    return _core.full(shape, 1, dtype=dtype, device=device)


def full_like(x, fill_value, *, dtype=None, device=None):
    shape, dtype, device = _like(x, dtype, device)
    return _core.full(shape, fill_value, dtype=dtype, device=device)


def eval(*tensors):  # noqa: A001  (MLX's name)
    """Computes the given tensors now, in one plan (kernels shared between them run once).
    Without arguments, computes every pending tensor. Ops are recorded lazily and computed
    when a value is needed, so this is only for timing, or to cut a long graph."""
    if tensors:
        _core.eval(list(tensors))
    else:
        _core.flush()


@contextlib.contextmanager
def no_fusion():
    """Runs every op inside the block as its own kernel, as an eager library does (also
    TENSORLOGIC_NO_FUSION=1). Results are the same; tests and benchmarks use it to compare."""
    previous = _core.fusion_enabled()
    _core.set_fusion(False)
    try:
        yield
    finally:
        _core.set_fusion(previous)


def autotune(enabled=None):
    """Measured kernel selection for matmul (also TENSORLOGIC_AUTOTUNE=1). On, the first
    matmul of each kind (shape, dtype, layouts, alignment, device) times every candidate
    kernel once and keeps the fastest, in memory and on disk next to the kernel cache, so
    later processes pick it without measuring. Off (the default), a winner kept earlier is
    still used; otherwise the built-in heuristic chooses. `autotune()` only reports the state.
    Returns whether autotuning was on before the call."""
    previous = _core.autotune_enabled()
    if enabled is not None:
        _core.set_autotune(bool(enabled))
    return previous


__all__ = _NATIVE + [
    "power", "mod", "true_divide", "absolute", "concatenate", "bitwise_not", "invert",
    "left_shift", "right_shift", "amax", "amin", "gelu", "zeros", "ones", "empty_like",
    "zeros_like", "ones_like", "full_like", "eval", "no_fusion", "autotune",
]
