"""Side-by-side benchmarks: tensorlogic against its anchor, measured in one run.

    python bench/compare.py [--device cpu|cuda|metal] [--quick] [--out bench/results/NAME.json]
    python bench/compare.py --device cuda --matmul [bench/matmul_cuda.py's options]

Each case prints our time, the anchor's, the ratio anchor/ours (> 1: we are faster) and the
fraction of the case's floor we reach (bytes the kernel must move / the bandwidth of a large
np.copyto measured just before, for memory-bound cases; FLOPs / estimated peak for matmul).
"x floor" is its inverse: how many times the floor our time is. Ops are lazy, so each timed
call evaluates its result (tl.eval). Only ratios from one run mean anything: these machines
differ up to 3x in speed. The anchors: NumPy on the CPU; PyTorch eager, torch.compile and CuPy
on CUDA; MLX and PyTorch MPS on Metal (bench/cases_metal.py).
"""

import argparse
import json
import os
import platform
import statistics
import sys
import time

# The machines set these for old OpenBLAS builds; they slow a current NumPy's matmul, so the
# anchor is measured without them (this process only).
for var in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"):
    os.environ.pop(var, None)

import numpy as np  # noqa: E402

import tensorlogic as tl  # noqa: E402


def timeit(fn, sync=lambda: None, min_time=0.3, min_runs=5):
    fn()
    sync()
    times = []
    start = time.perf_counter()
    while len(times) < min_runs or time.perf_counter() - start < min_time:
        t0 = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def copy_bandwidth(dev):
    """Bytes/s (read + write) of a large np.copyto (the memory floor's yardstick), and of the
    fastest large copy either library makes (ours uses every core)."""
    a = np.ones(1 << 26, np.float32)
    b = np.empty_like(a)
    t_np = timeit(lambda: np.copyto(b, a))
    ta = tl.asarray(a, device=dev)
    t_tl = timeit(lambda: tl.eval(tl.asarray(ta, copy=True)), lambda: tl.synchronize(dev))
    return 2 * a.nbytes / t_np, 2 * a.nbytes / min(t_np, t_tl)


def cpu_peak_flops():
    """f32 FLOP/s estimate: cores x nominal clock x FLOPs per cycle. The nominal clock from
    /proc/cpuinfo ignores boost, so a kernel can reach more than 1.0 of this floor."""
    mhz = 0.0
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("cpu MHz"):
                    mhz = max(mhz, float(line.split(":")[1]))
                if line.startswith("flags"):
                    flags = line.split()
    except OSError:
        flags = []
    flops_per_cycle = 32 if "avx512f" in flags else 16 if "avx2" in flags else 8
    return (os.cpu_count() or 1) * (mhz or 2500.0) * 1e6 * flops_per_cycle


def chain(lib, x, w, b):
    """The fusion issue's 8-op chain as plain code (Python floats are weak scalars in every
    library measured)."""
    y = x * w + b
    y = 0.5 * y * (1 + lib.tanh(0.7978845608 * (y + 0.044715 * y * y * y)))
    y = y * 0.5 + 1
    y = lib.tanh(y) * w
    return y - b


def small_ops(x, scale):
    """1000 small ops on x (500 multiply-adds by a Python scalar), as a function to time: the
    host cost per op."""
    def run():
        y = x
        for _ in range(500):
            y = y * scale + scale
        return y
    return run


def mean_rows(t):
    """Row means with the axis kept, for tensorlogic and NumPy."""
    return t.mean(axis=1, keepdims=True)


def layernorm(lib, x, mean, gamma=None):
    """Layer normalization over rows; `mean` is the library's row mean with the axis kept."""
    d = x - mean(x)
    y = d / lib.sqrt(mean(d * d) + 1e-5)
    return y if gamma is None else y * gamma


def cuda_cases(dev, quick):
    """The CUDA issue's cases against PyTorch eager, torch.compile and CuPy (where installed)
    on the same card. Floors use the device copy bandwidth measured by PyTorch."""
    import torch
    try:
        import cupy
    except ImportError:
        cupy = None
        print("CuPy not installed: its rows are skipped")
    n = 1 << 22 if quick else 1 << 24

    def pair(size, seed):
        a = np.random.default_rng(seed).standard_normal(size).astype(np.float32)
        return tl.asarray(a, device=dev), torch.from_numpy(a).cuda()

    sizes = [n] if quick else [n, 4 * n]
    for size in sizes:
        (ta, pa), (tb, pb) = pair(size, 0), pair(size, 1)
        yield dict(case=f"add f32 {size >> 20}M", bytes=3 * 4 * size, anchor_name="torch eager",
                   ours=lambda ta=ta, tb=tb: ta + tb, anchor=lambda pa=pa, pb=pb: pa + pb)
        if cupy is not None:
            ca, cb = cupy.asarray(pa), cupy.asarray(pb)
            yield dict(case=f"add f32 {size >> 20}M vs cupy", bytes=3 * 4 * size, anchor_name="cupy",
                       ours=lambda ta=ta, tb=tb: ta + tb, anchor=lambda ca=ca, cb=cb: ca + cb)
    (tx, px), (tw, pw), (tb, pb) = pair(n, 2), pair(n, 3), pair(n, 4)

    yield dict(case=f"chain8 f32 {n >> 20}M", bytes=4 * 4 * n, anchor_name="torch eager",
               ours=lambda: chain(tl, tx, tw, tb), anchor=lambda: chain(torch, px, pw, pb))
    big = 1 << 24 if quick else 1 << 26
    (ts, ps) = pair(big, 5)
    yield dict(case=f"sum f32 {big >> 20}M", bytes=4 * big, anchor_name="torch eager",
               ours=lambda: ts.sum(), anchor=lambda: ps.sum())
    if cupy is not None:
        cs = cupy.asarray(ps)
        yield dict(case=f"sum f32 {big >> 20}M vs cupy", bytes=4 * big, anchor_name="cupy",
                   ours=lambda: ts.sum(), anchor=lambda: cs.sum())
    rows = 2048 if quick else 8192
    a = np.random.default_rng(6).standard_normal((rows, rows)).astype(np.float32)
    tm, pm = tl.asarray(a, device=dev), torch.from_numpy(a).cuda()

    yield dict(case=f"sum axis 0 of {rows}^2", bytes=4 * rows * rows, anchor_name="torch eager",
               ours=lambda: tm.sum(axis=0), anchor=lambda: pm.sum(dim=0))
    yield dict(case=f"softmax rows {rows}^2", bytes=3 * 4 * rows * rows, anchor_name="torch eager",
               ours=lambda: tl.softmax(tm, axis=1), anchor=lambda: torch.softmax(pm, dim=1))
    yield dict(case=f"layernorm rows {rows}^2", bytes=3 * 4 * rows * rows, anchor_name="torch eager",
               ours=lambda: layernorm(tl, tm, mean_rows),
               anchor=lambda: layernorm(torch, pm, lambda t: t.mean(dim=1, keepdim=True)))
    yield dict(case=f"transpose copy {rows}^2", bytes=2 * 4 * rows * rows, anchor_name="torch eager",
               ours=lambda: tm.T.copy(), anchor=lambda: pm.T.contiguous())
    try:
        compiled = torch.compile(lambda x, w, b: chain(torch, x, w, b))
        compiled(px, pw, pb)
        yield dict(case=f"chain8 f32 {n >> 20}M vs compile", bytes=4 * 4 * n,
                   anchor_name="torch.compile", ours=lambda: chain(tl, tx, tw, tb),
                   anchor=lambda: compiled(px, pw, pb))
        softmax_c = torch.compile(lambda x: torch.softmax(x, dim=1))
        softmax_c(pm)
        yield dict(case=f"softmax rows {rows}^2 vs compile", bytes=3 * 4 * rows * rows,
                   anchor_name="torch.compile", ours=lambda: tl.softmax(tm, axis=1),
                   anchor=lambda: softmax_c(pm))
    except Exception as e:  # noqa: BLE001  (no Triton/compiler on the machine)
        print(f"torch.compile unavailable ({type(e).__name__}): its rows are skipped")

    (tsmall, psmall) = pair(1024, 7)

    # Host cost per op: the lazy recording plus its share of the fused kernel, against one
    # eager launch per op.
    yield dict(case="1000 small ops (1024)", per_op=1000, anchor_name="torch eager",
               ours=small_ops(tsmall, 0.999), anchor=small_ops(psmall, 0.999))
    yield dict(case="1000 small ops, no fusion", per_op=1000, anchor_name="torch eager",
               ours=lambda: _unfused(small_ops(tsmall, 0.999)), anchor=small_ops(psmall, 0.999))

    def allocs(make, count=1000):
        def run():
            for _ in range(count):
                make()
        return run

    yield dict(case="pool alloc+free 1 MiB", per_op=1000, anchor_name="torch eager",
               ours=allocs(lambda: tl.empty((1 << 18,), device=dev)),
               anchor=allocs(lambda: torch.empty(1 << 18, device="cuda")))


def _evaluated(result):
    if isinstance(result, tl.Tensor):
        tl.eval(result)


def _unfused(fn):
    with tl.no_fusion():
        return fn()


def cuda_bandwidth():
    import torch
    a = torch.empty(1 << 28, dtype=torch.float32, device="cuda")
    b = torch.empty_like(a)
    t = timeit(lambda: b.copy_(a), torch.cuda.synchronize)
    return 2 * a.numel() * 4 / t


def cases(dev, quick):
    rng = np.random.default_rng(0)
    n16 = 1 << 22 if quick else 1 << 24

    def arrays(*shapes):
        out = []
        for s in shapes:
            a = rng.standard_normal(s).astype(np.float32)
            out.append((a, tl.asarray(a, device=dev)))
        return out

    (x, tx), (w, tw), (b, tb) = arrays((n16,), (n16,), (n16,))
    np_chain = lambda: chain(np, x, w, b)  # noqa: E731
    tl_chain = lambda: chain(tl, tx, tw, tb)  # noqa: E731

    def unfused(fn):
        def run():
            with tl.no_fusion():
                return fn()
        return run

    yield dict(case=f"add f32 {n16 >> 20}M", bytes=3 * 4 * n16,
               ours=lambda: tx + tw, anchor=lambda: x + w)
    yield dict(case=f"sum f32 {n16 >> 20}M", bytes=4 * n16,
               ours=lambda: tl.sum(tx), anchor=lambda: np.sum(x))
    # 3 inputs read, 1 output written: the fused kernel's floor.
    yield dict(case=f"chain8 f32 {n16 >> 20}M", bytes=4 * 4 * n16,
               ours=tl_chain, anchor=np_chain)
    yield dict(case=f"chain8 unfused {n16 >> 20}M", bytes=4 * 4 * n16,
               ours=unfused(tl_chain), anchor=np_chain)
    try:
        import numexpr as ne
        expr = ("tanh((0.5 * (x*w+b) * (1 + tanh(0.7978845608 * ((x*w+b) + 0.044715 * (x*w+b)**3))))"
                " * 0.5 + 1) * w - b")
        yield dict(case=f"chain8 {n16 >> 20}M vs numexpr", bytes=4 * 4 * n16, anchor_name="numexpr",
                   ours=tl_chain, anchor=lambda: ne.evaluate(expr, local_dict=dict(x=x, w=w, b=b)))
    except ImportError:
        print("numexpr not installed: its chain8 row is skipped")

    rows = 1024 if quick else 4096
    (m, tm), (g, tg) = arrays((rows, rows), (rows,))

    def np_softmax():
        e = np.exp(m - m.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)

    # Two reads of each row (the second from cache when the row fits) and one write: counted
    # as 2 reads + 1 write of the matrix, as the issue states the floor.
    yield dict(case=f"softmax rows {rows}^2", bytes=3 * 4 * rows * rows,
               ours=lambda: tl.softmax(tm, axis=1), anchor=np_softmax)
    yield dict(case=f"layernorm rows {rows}^2", bytes=3 * 4 * rows * rows,
               ours=lambda: layernorm(tl, tm, mean_rows, tg), anchor=lambda: layernorm(np, m, mean_rows, g))

    small, tsmall = arrays((1024,))[0]

    yield dict(case="1000 small ops (1024)", per_op=1000,
               ours=small_ops(tsmall, 0.999), anchor=small_ops(small, np.float32(0.999)))
    for n in ([256, 512] if quick else [512, 1024, 2048]):
        (ma, tma), (mb, tmb) = arrays((n, n), (n, n))
        yield dict(case=f"matmul f32 {n}", flops=2 * n**3,
                   ours=lambda tma=tma, tmb=tmb: tma @ tmb, anchor=lambda ma=ma, mb=mb: ma @ mb)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--device", default="cpu")
    p.add_argument("--quick", action="store_true", help="small sizes (a smoke run)")
    p.add_argument("--out", default=None)
    p.add_argument("--only", default="", help="comma-separated parts of case names to run")
    p.add_argument("--matmul", action="store_true",
                   help="CUDA: the matmul family against cuBLAS and gelu(x @ w + b) against PyTorch "
                        "(bench/matmul_cuda.py, which takes the options after this one)")
    args, rest = p.parse_known_args()
    if args.matmul:
        if args.device not in ("cuda", "cuda:0"):
            p.error("--matmul compares against cuBLAS on the first GPU: it needs --device cuda")
        if args.quick:
            p.error("--matmul has no --quick: choose cases with --only or --dtypes")
        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
        import matmul_cuda
        sys.argv = [matmul_cuda.__file__] + rest + (["--out", args.out] if args.out else []) + \
            (["--only", args.only] if args.only else [])
        return matmul_cuda.main()
    if rest:
        p.error("unrecognized arguments: " + " ".join(rest))
    dev = tl.Device(args.device)
    sync = lambda: tl.synchronize(dev)  # noqa: E731
    cuda, metal = dev.type == "cuda", dev.type == "metal"
    if cuda:
        import torch
        bw = bw_best = cuda_bandwidth()
        peak = 0.0
        anchor_sync = torch.cuda.synchronize
    elif metal:
        from cases_metal import metal_bandwidth, metal_cases
        bw = bw_best = metal_bandwidth(dev)
        peak = 0.0
        anchor_sync = lambda: None  # noqa: E731  (each anchor call waits for its own result)
    else:
        (bw, bw_best), peak = copy_bandwidth(dev), cpu_peak_flops()
        anchor_sync = lambda: None  # noqa: E731
    print(f"tensorlogic {tl.__version__} on {dev} ({tl._core.device_name(str(dev))}); NumPy "
          f"{np.__version__}; threads {os.environ.get('TENSORLOGIC_NUM_THREADS', os.cpu_count())}")
    if cuda:
        print(f"floor: device copy bandwidth {bw / 1e9:.0f} GB/s (a large torch copy_)")
    elif metal:
        print(f"floor: device copy bandwidth {bw / 1e9:.0f} GB/s (the fastest large copy of MLX or "
              f"PyTorch MPS; ours where neither is installed)")
    else:
        print(f"floors: np.copyto bandwidth {bw / 1e9:.1f} GB/s (best large copy {bw_best / 1e9:.1f}), "
              f"f32 peak ~{peak / 1e9:.0f} GFLOP/s (nominal clock: boost can exceed it)")
    print(f"{'case':26s} {'ours ms':>9s} {'anchor ms':>9s} {'ratio':>6s} {'of floor':>8s} {'x floor':>7s}")
    rows = []
    only = [w for w in args.only.split(",") if w]
    for c in (cuda_cases if cuda else metal_cases if metal else cases)(dev, args.quick):
        if only and not any(w in c["case"] for w in only):
            continue
        ours = timeit(lambda: _evaluated(c["ours"]()), sync)
        anchor = timeit(c["anchor"], anchor_sync)
        row = dict(case=c["case"], ours_s=ours, anchor=c.get("anchor_name", "numpy"),
                   anchor_s=anchor, ratio=anchor / ours)
        line = f"{c['case']:26s} {ours * 1e3:9.3f} {anchor * 1e3:9.3f} {anchor / ours:6.2f}"
        if "per_op" in c:
            row.update(ours_us_per_op=ours / c["per_op"] * 1e6, anchor_us_per_op=anchor / c["per_op"] * 1e6)
            line += f"   {ours / c['per_op'] * 1e6:.2f} us/op (anchor {anchor / c['per_op'] * 1e6:.2f})"
        elif "bytes" in c or peak:
            floor = c["bytes"] / bw if "bytes" in c else c["flops"] / peak
            row.update(floor_s=floor, fraction_of_floor=floor / ours, times_floor=ours / floor,
                       anchor_times_floor=anchor / floor)
            line += f" {floor / ours:8.2f} {ours / floor:7.2f}"
        else:  # a matmul on a GPU whose peak is not known: its rate only
            line += f"   {c['flops'] / ours / 1e9:.0f} GFLOP/s (anchor {c['flops'] / anchor / 1e9:.0f})"
        if "flops" in c:
            row.update(ours_gflops=c["flops"] / ours / 1e9, anchor_gflops=c["flops"] / anchor / 1e9)
        rows.append(row)
        print(line)
    result = dict(device=str(dev), device_name=tl._core.device_name(str(dev)),
                  machine=platform.processor() or platform.machine(),
                  cpu_count=os.cpu_count(), numpy=np.__version__, date=time.strftime("%Y-%m-%d"),
                  copy_bandwidth_gbs=bw / 1e9, best_copy_bandwidth_gbs=bw_best / 1e9,
                  peak_gflops_estimate=peak / 1e9, rows=rows)
    out = args.out or os.path.join(os.path.dirname(__file__), "results",
                                   f"{dev.type}-{time.strftime('%Y%m%d-%H%M')}.json")
    os.makedirs(os.path.dirname(out), exist_ok=True)
    with open(out, "w") as f:
        json.dump(result, f, indent=1)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
