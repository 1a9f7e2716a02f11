"""Kernel launches, by kind, as the library runs them.

    with tl.profiler.profile() as p:
        y = tl.softmax(x @ w, axis=-1)
    print(p.kernels, p.by_kind)      # total launches and launches per kind
    print(p.summary())               # one line per kernel: name, kind, device, time

Kinds: elementwise, copy, reduction, matmul, index, random. Ops are recorded lazily, so the
block computes every pending tensor when it opens (work from before is not counted) and when
it closes (the work of the block is). `p.compiled` / `p.cache_hits` count fused kernels seen
for the first time / again; `last_plan()` shows how the last evaluation was cut into kernels.
With timing=True each kernel is timed (the device is waited for after every launch, so use it
to look, not to benchmark). TENSORLOGIC_DEBUG=1 prints every kernel as it is launched, =2
also each plan.
"""

from . import _core

_KINDS = ("elementwise", "copy", "reduction", "matmul", "index", "random")


def counters():
    """Kernel launches per kind since the process started."""
    return dict(_core.profiler_counters()[0])


def last_plan():
    """How the last evaluation was cut into kernels: each fused kernel's IR (loads, ops,
    reductions, stores), and the matmuls and plain reductions run by the backend."""
    return _core.last_plan()


class profile:
    """Counts (and records, and optionally times) the kernels launched inside the block.
    Blocks nest: an outer block sees its inner blocks' kernels too."""

    _stack = []

    def __init__(self, timing=False):
        self.timing = timing
        self.by_kind = {k: 0 for k in _KINDS}
        self.seconds_by_kind = {k: 0.0 for k in _KINDS}
        self.events = []
        self.compiled = 0
        self.cache_hits = 0

    @property
    def kernels(self):
        return sum(self.by_kind.values())

    @staticmethod
    def _collect():
        """Moves the recorded events into every open block."""
        events = [dict(name=n, kind=k, device=d, seconds=s)
                  for n, k, d, s in _core.profiler_take_events()]
        for p in profile._stack:
            p.events.extend(events)

    @staticmethod
    def _apply():
        stack = profile._stack
        _core.profiler_set(timing=any(p.timing for p in stack), recording=bool(stack))

    def __enter__(self):
        _core.flush()
        profile._collect()
        profile._stack.append(self)
        profile._apply()
        self._start = _core.profiler_counters()
        return self

    def __exit__(self, *exc):
        _core.flush()
        end = _core.profiler_counters()
        profile._collect()
        profile._stack.remove(self)
        profile._apply()
        for k in _KINDS:
            self.by_kind[k] = end[0][k] - self._start[0][k]
            self.seconds_by_kind[k] = end[1][k] - self._start[1][k]
        self.compiled = end[2] - self._start[2]
        self.cache_hits = end[3] - self._start[3]
        return False

    def summary(self):
        lines = [f"{self.kernels} kernels: " +
                 ", ".join(f"{k} {n}" for k, n in self.by_kind.items() if n)]
        for e in self.events:
            t = f"  {e['seconds'] * 1e3:.3f} ms" if e["seconds"] else ""
            lines.append(f"  {e['name']:40s} {e['kind']:11s} {e['device']}{t}")
        return "\n".join(lines)


__all__ = ["counters", "last_plan", "profile"]
