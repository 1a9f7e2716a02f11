# Type stubs for tensorlogic.random: one Philox stream, the same numbers on every device.
from . import Tensor, _ArrayLike, _DeviceLike, _DTypeLike, _ShapeLike

def seed(seed: int) -> None: ...
def uniform(
    low: float = 0.0,
    high: float = 1.0,
    size: _ShapeLike | None = None,
    *,
    dtype: _DTypeLike | None = None,
    device: _DeviceLike | None = None,
) -> Tensor: ...
def normal(
    loc: float = 0.0,
    scale: float = 1.0,
    size: _ShapeLike | None = None,
    *,
    dtype: _DTypeLike | None = None,
    device: _DeviceLike | None = None,
) -> Tensor: ...
def randint(
    low: int,
    high: int | None = None,
    size: _ShapeLike | None = None,
    *,
    dtype: _DTypeLike | None = None,
    device: _DeviceLike | None = None,
) -> Tensor: ...
def permutation(x: int | _ArrayLike, *, device: _DeviceLike | None = None) -> Tensor: ...

__all__: list[str]
