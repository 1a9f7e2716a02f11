"""Side-by-side benchmarks: tensorlogic against its anchor, measured in one run.

    python bench/compare.py [--device cpu] [--quick] [--out bench/results/NAME.json]

Each case prints our time, the anchor's, the ratio anchor/ours (> 1: we are faster) and the
fraction of the case's floor we reach (bytes moved / measured bandwidth for memory-bound
cases, FLOPs / estimated peak for matmul). Only ratios from one run mean anything: these
machines differ up to 3x in speed.
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
    """Bytes/s (read + write) of the fastest large copy either library makes: NumPy's copy is
    single-threaded, ours uses every core. The memory floor's yardstick."""
    a = np.ones(1 << 26, np.float32)
    b = np.empty_like(a)
    t_np = timeit(lambda: np.copyto(b, a))
    ta = tl.asarray(a, device=dev)
    t_tl = timeit(lambda: tl.asarray(ta, copy=True), lambda: tl.synchronize(dev))
    return 2 * a.nbytes / min(t_np, t_tl)


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
    c = np.sqrt(2 / np.pi)

    def np_chain():
        y = x * w + b
        y = 0.5 * y * (1 + np.tanh(c * (y + 0.044715 * y**3)))
        y = y * 0.5 + 1
        y = np.tanh(y) * w
        return y - b

    def tl_chain():
        y = tx * tw + tb
        y = tl.gelu(y, approximate="tanh")
        y = y * 0.5 + 1
        y = tl.tanh(y) * tw
        return y - tb

    yield dict(case=f"add f32 {n16 >> 20}M", bytes=3 * 4 * n16,
               ours=lambda: tx + tw, anchor=lambda: x + w)
    yield dict(case=f"sum f32 {n16 >> 20}M", bytes=4 * n16,
               ours=lambda: tl.sum(tx), anchor=lambda: np.sum(x))
    yield dict(case=f"chain8 f32 {n16 >> 20}M", bytes=4 * 4 * n16,
               ours=tl_chain, anchor=np_chain)
    for n in ([256, 512] if quick else [512, 1024, 2048]):
        (ma, tma), (mb, tmb) = arrays((n, n), (n, n))
        yield dict(case=f"matmul f32 {n}", flops=2 * n**3,
                   ours=lambda tma=tma, tmb=tmb: tma @ tmb, anchor=lambda ma=ma, mb=mb: ma @ mb)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--device", default="cpu")
    p.add_argument("--quick", action="store_true", help="small sizes (a smoke run)")
    p.add_argument("--out", default=None)
    args = p.parse_args()
    dev = tl.Device(args.device)
    sync = lambda: tl.synchronize(dev)  # noqa: E731
    bw, peak = copy_bandwidth(dev), cpu_peak_flops()
    print(f"tensorlogic {tl.__version__} on {dev}; NumPy {np.__version__}; threads "
          f"{os.environ.get('TENSORLOGIC_NUM_THREADS', os.cpu_count())}")
    print(f"floors: copy bandwidth {bw / 1e9:.1f} GB/s (best large copy), f32 peak ~{peak / 1e9:.0f} GFLOP/s "
          "(nominal clock: boost can exceed it)")
    print(f"{'case':22s} {'ours ms':>9s} {'numpy ms':>9s} {'ratio':>6s} {'of floor':>8s}")
    rows = []
    for c in cases(dev, args.quick):
        ours = timeit(c["ours"], sync)
        anchor = timeit(c["anchor"])
        floor = c["bytes"] / bw if "bytes" in c else c["flops"] / peak
        row = dict(case=c["case"], ours_s=ours, anchor="numpy", anchor_s=anchor,
                   ratio=anchor / ours, floor_s=floor, fraction_of_floor=floor / ours)
        if "flops" in c:
            row.update(ours_gflops=c["flops"] / ours / 1e9, anchor_gflops=c["flops"] / anchor / 1e9)
        rows.append(row)
        print(f"{c['case']:22s} {ours * 1e3:9.3f} {anchor * 1e3:9.3f} {anchor / ours:6.2f} {floor / ours:8.2f}")
    result = dict(device=str(dev), machine=platform.processor() or platform.machine(),
                  cpu_count=os.cpu_count(), numpy=np.__version__, date=time.strftime("%Y-%m-%d"),
                  copy_bandwidth_gbs=bw / 1e9, peak_gflops_estimate=peak / 1e9, rows=rows)
    out = args.out or os.path.join(os.path.dirname(__file__), "results",
                                   f"{dev.type}-{time.strftime('%Y%m%d-%H%M')}.json")
    os.makedirs(os.path.dirname(out), exist_ok=True)
    with open(out, "w") as f:
        json.dump(result, f, indent=1)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
