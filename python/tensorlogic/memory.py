"""Device memory pools: statistics, cache release and limits."""

from . import _core


def stats(device=None):
    """Pool statistics of a device (default: the default device), in bytes and counts:
    bytes_in_use, bytes_cached, peak_bytes_in_use, pool_hits, pool_misses,
    system_allocations, system_frees, cache_limit, memory_limit."""
    return _core.memory_stats(device)


def empty_cache(device=None):
    """Returns the pool's cached (free) blocks to the system."""
    _core.empty_cache(device)


def set_limit(nbytes, device=None):
    """Caps the memory the pool holds (in use plus cached); 0 removes the cap. Past it, an
    allocation frees the cache, retries, then raises MemoryError."""
    _core.set_memory_limit(nbytes, device)
