# Type stubs for tensorlogic.memory: device buffer pools.
from . import _DeviceLike

def stats(device: _DeviceLike | None = None) -> dict[str, int]:
    """bytes_in_use, bytes_cached, peak_bytes_in_use, pool_hits, pool_misses,
    system_allocations, system_frees, cache_limit, memory_limit."""

def empty_cache(device: _DeviceLike | None = None) -> None: ...
def set_limit(nbytes: int, device: _DeviceLike | None = None) -> None: ...
