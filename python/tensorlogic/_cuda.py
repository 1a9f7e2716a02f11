"""`tl.cuda`: the device cuda:0, and CUDA's streams and events, as PyTorch and CuPy users know
them. The logic is C++ (src/cuda/cuda_stream.h); without CUDA every call raises tl.DeviceError.

    s = tl.cuda.Stream()
    with tl.cuda.stream(s):           # work evaluated inside runs on s
        y = x * 2 + 1
    tl.cuda.current_stream().wait_stream(s)
    e = tl.cuda.Event(enable_timing=True); e.record()
"""

import contextlib

from . import _core
from ._core import Device

Stream = _core.CudaStream
Event = _core.CudaEvent


class CudaDevice(Device):
    """The device cuda:<index> (equal to tl.Device("cuda:<index>"), usable as any device=
    argument) with CUDA's stream API: Stream, Event, stream(), current_stream(),
    default_stream(), synchronize()."""

    Stream = Stream
    Event = Event

    def __init__(self, index=0):
        super().__init__(f"cuda:{index}")

    @staticmethod
    @contextlib.contextmanager
    def stream(stream):
        """Makes `stream` the current stream of its device inside the block (None: no change).
        Pending work is evaluated on entering and leaving, so the block's work runs on it."""
        if stream is None:
            yield None
            return
        with stream:
            yield stream

    def current_stream(self, device=None):
        """The calling thread's current stream on `device` (default: this device)."""
        return _core.cuda_current_stream(self if device is None else device)

    def default_stream(self, device=None):
        """The device's default stream (the library's own, non-blocking)."""
        return _core.cuda_default_stream(self if device is None else device)

    def synchronize(self, device=None):
        """Waits for every stream of `device` (default: this device)."""
        _core.synchronize(self if device is None else device)

    @staticmethod
    def is_available():
        return _core.backend_status("cuda") in ("available", "preview")

    @staticmethod
    def device_count():
        return sum(1 for d in _core.devices() if d.type == "cuda")
