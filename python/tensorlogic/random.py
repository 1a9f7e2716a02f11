"""Random numbers from one Philox stream: the same values on every device for one seed."""

from ._core import random as _r

seed = _r.seed
uniform = _r.uniform
normal = _r.normal
randint = _r.randint
permutation = _r.permutation

__all__ = ["seed", "uniform", "normal", "randint", "permutation"]
