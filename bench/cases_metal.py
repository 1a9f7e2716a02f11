"""The Metal cases of compare.py: tensorlogic on the GPU against MLX and PyTorch MPS (each
where installed) on the same Apple GPU and unified memory. The same cases as the CUDA branch,
plus matmul. Both anchors run on the GPU asynchronously, so each anchor call here ends by
waiting for its result (mx.eval, torch.mps.synchronize), as ours ends with tl.synchronize.
"""

import functools

import numpy as np

import tensorlogic as tl
from compare import _unfused, chain, layernorm, mean_rows, small_ops, timeit


class MLX:
    name = "mlx"
    allocates = False  # lazy: memory comes with the kernel that fills it

    def __init__(self):
        import mlx.core as mx
        self.lib = mx

    def put(self, a):
        x = self.lib.array(a)
        self.lib.eval(x)
        return x

    def run(self, fn):
        # Lazy, like ours: eval computes the graph and waits for it.
        return lambda: self.lib.eval(fn())

    def sum0(self, x):
        return self.lib.sum(x, axis=0)

    def softmax(self, x):
        return self.lib.softmax(x, axis=1)

    def mean_rows(self, x):
        return self.lib.mean(x, axis=1, keepdims=True)

    def transpose_copy(self, x):
        return self.lib.contiguous(x.T)

    def half(self, x):
        return x.astype(self.lib.float16)

    def copy(self, x):
        return -x  # one read and one write per element, as a copy (MLX has no copy op)

    def relu(self, x):
        return self.lib.maximum(x, 0)


class TorchMPS:
    name = "torch mps"
    allocates = True

    def __init__(self):
        import torch
        if not torch.backends.mps.is_available():
            raise ImportError("torch.backends.mps.is_available() is False")
        self.lib = torch

    def put(self, a):
        return self.lib.from_numpy(a).to("mps")

    def run(self, fn):
        def call():
            fn()
            self.lib.mps.synchronize()
        return call

    def sum0(self, x):
        return x.sum(dim=0)

    def softmax(self, x):
        return self.lib.softmax(x, dim=1)

    def mean_rows(self, x):
        return x.mean(dim=1, keepdim=True)

    def transpose_copy(self, x):
        return x.T.contiguous()

    def half(self, x):
        return x.half()

    def copy(self, x):
        return x.clone()

    def relu(self, x):
        return self.lib.relu(x)

    def empty(self, n):
        return self.lib.empty(n, device="mps")


@functools.cache
def anchors():
    """The anchors installed here; each one missing is named with the reason (once)."""
    found = []
    for make, what in ((MLX, "MLX (mlx.core)"), (TorchMPS, "PyTorch MPS")):
        try:
            found.append(make())
        except ImportError as e:
            print(f"{what} unavailable ({e}): its rows are skipped")
    return found


def metal_bandwidth(dev):
    """Bytes/s (read + write) of a large device copy made by each anchor; the fastest is the
    memory floor's yardstick. With no anchor installed, our own copy measures it."""
    a = np.ones(1 << 26, np.float32)
    best = 0.0
    for an in anchors():
        x = an.put(a)
        best = max(best, 2 * a.nbytes / timeit(an.run(lambda x=x, an=an: an.copy(x))))
    if not best:
        ta = tl.asarray(a, device=dev)
        best = 2 * a.nbytes / timeit(lambda: tl.eval(tl.asarray(ta, copy=True)), lambda: tl.synchronize(dev))
    return best


def metal_cases(dev, quick):
    found = anchors()
    if not found:
        print("neither MLX nor PyTorch MPS is installed: no Metal rows to measure")
        return
    rng = np.random.default_rng(0)

    def arrays(*shapes):
        """Per shape: (ours, [each anchor's]) holding the same random values."""
        out = []
        for s in shapes:
            a = rng.standard_normal(s).astype(np.float32)
            out.append((tl.asarray(a, device=dev), [an.put(a) for an in found]))
        return out

    def each(case, ours, anchor, **size):
        """The case against every anchor; anchor(an, i) is anchor an's (unsynchronized) call."""
        for i, an in enumerate(found):
            yield dict(case=f"{case} vs {an.name}", anchor_name=an.name, ours=ours,
                       anchor=an.run(anchor(an, i)), **size)

    n = 1 << 22 if quick else 1 << 24
    rows = 2048 if quick else 8192
    (tx, x), (tw, w), (tb, b), (tbig, big) = arrays((n,), (n,), (n,), (4 * n,))
    (tm, m), (tsmall, small) = arrays((rows, rows), (1024,))
    yield from each(f"add f32 {n >> 20}M", lambda: tx + tw, lambda an, i: lambda: x[i] + w[i],
                    bytes=3 * 4 * n)
    yield from each(f"chain8 f32 {n >> 20}M", lambda: chain(tl, tx, tw, tb),
                    lambda an, i: lambda: chain(an.lib, x[i], w[i], b[i]), bytes=4 * 4 * n)
    yield from each(f"sum f32 {4 * n >> 20}M", lambda: tbig.sum(), lambda an, i: lambda: big[i].sum(),
                    bytes=4 * 4 * n)
    yield from each(f"sum axis 0 of {rows}^2", lambda: tm.sum(axis=0), lambda an, i: lambda: an.sum0(m[i]),
                    bytes=4 * rows * rows)
    # Few long columns: a split reduction (partials over chunks of rows, then a fold).
    ((ttall, tall),) = arrays((n // 4, 3))
    yield from each(f"sum axis 0 of {n >> 22}M x 3", lambda: ttall.sum(axis=0),
                    lambda an, i: lambda: an.sum0(tall[i]), bytes=4 * 3 * (n // 4))
    yield from each(f"softmax rows {rows}^2", lambda: tl.softmax(tm, axis=1),
                    lambda an, i: lambda: an.softmax(m[i]), bytes=3 * 4 * rows * rows)
    yield from each(f"layernorm rows {rows}^2", lambda: layernorm(tl, tm, mean_rows),
                    lambda an, i: lambda: layernorm(an.lib, m[i], an.mean_rows), bytes=3 * 4 * rows * rows)
    yield from each(f"transpose copy {rows}^2", lambda: tm.T.copy(),
                    lambda an, i: lambda: an.transpose_copy(m[i]), bytes=2 * 4 * rows * rows)

    # Host cost per op: our lazy recording plus its share of the fused kernel, against MLX's
    # lazy graph (a kernel per op) or an eager MPS launch per op.
    anchor_ops = lambda an, i: small_ops(small[i], 0.999)  # noqa: E731
    yield from each("1000 small ops (1024)", small_ops(tsmall, 0.999), anchor_ops, per_op=1000)
    yield from each("1000 small ops, no fusion", lambda: _unfused(small_ops(tsmall, 0.999)), anchor_ops,
                    per_op=1000)

    def allocs(make, count=1000):
        def run():
            for _ in range(count):
                make()
        return run

    for i, an in enumerate(found):
        if not an.allocates:
            print(f"{an.name} allocates only when it computes: its pool row is skipped")
            continue
        yield dict(case=f"pool alloc+free 1 MiB vs {an.name}", per_op=1000, anchor_name=an.name,
                   ours=allocs(lambda: tl.empty((1 << 18,), device=dev)),
                   anchor=an.run(allocs(lambda an=an: an.empty(1 << 18))))
    for size in [1024] if quick else [1024, 4096]:
        (tma, ma), (tmb, mb) = arrays((size, size), (size, size))
        for name, dt in (("f32", tl.float32), ("f16", tl.float16)):
            oa, ob = tma.astype(dt), tmb.astype(dt)
            tl.eval(oa, ob)
            pa = [v if dt == tl.float32 else an.half(v) for an, v in zip(found, ma)]
            pb = [v if dt == tl.float32 else an.half(v) for an, v in zip(found, mb)]
            yield from each(f"matmul {name} {size}", lambda oa=oa, ob=ob: oa @ ob,
                            lambda an, i, pa=pa, pb=pb: lambda: pa[i] @ pb[i], flops=2 * size**3)

    # Skinny products (our GEMV kernel: M <= 16) and a matmul with its epilogue fused (bias +
    # relu in the matmul's kernel, the product never stored).
    k = 2048 if quick else 4096
    (tv, v), (tx8, x8), (tw, wt), (tbias, bias) = arrays((1, k), (8, k), (k, k), (k,))
    yield from each(f"matvec f32 1x{k}x{k}", lambda: tv @ tw, lambda an, i: lambda: v[i] @ wt[i],
                    flops=2 * k * k, bytes=4 * k * k)
    yield from each(f"linear f32 8x{k} @ W.T", lambda: tx8 @ tw.T, lambda an, i: lambda: x8[i] @ wt[i].T,
                    flops=2 * 8 * k * k, bytes=4 * k * k)
    size = 1024 if quick else 4096
    (tma, ma), (tmb, mb), (tbias, bias) = arrays((size, size), (size, size), (size,))
    yield from each(f"matmul+bias+relu f32 {size}", lambda: tl.relu(tma @ tmb + tbias),
                    lambda an, i: lambda: an.relu(ma[i] @ mb[i] + bias[i]), flops=2 * size**3)
