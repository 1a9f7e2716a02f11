"""tensorlogic: a GPU tensor library with a NumPy-style API.

Metal (Apple Silicon), CUDA and CPU backends share one C++ core. See docs/ for the guide.
"""

import glob as _glob
import os as _os


def _nvrtc_from_wheel():
    """Points the CUDA backend at the NVRTC of the nvidia-cuda-nvrtc wheel (the `cuda` extra)
    when it is installed and TENSORLOGIC_NVRTC names no other: wheels keep it off the loader's
    path. Read when CUDA is first used."""
    if _os.environ.get("TENSORLOGIC_NVRTC"):
        return
    try:
        import nvidia.cuda_nvrtc as wheel
    except ImportError:
        return
    for root in wheel.__path__:
        found = sorted(_glob.glob(_os.path.join(root, "lib", "libnvrtc.so*")))
        if found:
            _os.environ["TENSORLOGIC_NVRTC"] = found[0]
            return


_nvrtc_from_wheel()

from . import _core  # noqa: E402
from ._core import (  # noqa: E402,F401
    AxisError,
    Device,
    DeviceError,
    DType,
    Tensor,
    __version__,
    default_device,
    devices,
    promote_types,
    result_type,
    synchronize,
)
from . import memory, profiler, random  # noqa: F401
from ._api import *  # noqa: F401,F403
from ._api import __all__ as _api_all
from ._repr import install as _install_repr
from ._cuda import CudaDevice as _CudaDevice

bool = DType.bool  # noqa: A001
int8 = DType.int8
uint8 = DType.uint8
int32 = DType.int32
int64 = DType.int64
float16 = DType.float16
bfloat16 = DType.bfloat16
float32 = DType.float32
float64 = DType.float64

cpu = Device("cpu")
cuda = _CudaDevice(0)  # also the CUDA stream API: tl.cuda.Stream(), tl.cuda.stream(s), ...
metal = Device("metal:0")

newaxis = None
pi = 3.141592653589793
e = 2.718281828459045
inf = float("inf")
nan = float("nan")

_install_repr(Tensor)

__all__ = [
    "AxisError", "Device", "DeviceError", "DType", "Tensor", "default_device", "devices",
    "promote_types", "result_type", "synchronize", "memory", "profiler", "random",
    "bool", "int8", "uint8", "int32", "int64", "float16", "bfloat16", "float32", "float64",
    "cpu", "cuda", "metal", "newaxis", "pi", "e", "inf", "nan",
] + list(_api_all)
