"""Shared fixtures: every test that takes `device` runs once per device present, so the
CUDA and Metal backends join the suite by being available (or in preview: tested before
they become a default)."""

import numpy as np
import pytest

import tensorlogic as tl


def _devices():
    found = ["cpu"]
    for kind in ("cuda", "metal"):
        if tl._core.backend_status(kind) in ("available", "preview"):
            found.append(f"{kind}:0")
    return found


DEVICES = _devices()


@pytest.fixture(params=DEVICES)
def device(request):
    return request.param


@pytest.fixture
def rng():
    return np.random.default_rng(1234)
