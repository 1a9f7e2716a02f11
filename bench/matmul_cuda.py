"""Matmul on CUDA against cuBLAS (through PyTorch) on the same card, the issue's shapes:

    python bench/matmul_cuda.py [--out results.json]

Each case is timed as back-to-back launches between two synchronizations (host overhead
amortized), median of several repeats; TFLOPS = 2*M*N*K*batch / time."""
import argparse
import json
import statistics
import time

import numpy as np
import tensorlogic as tl

CASES = [  # (name, batch, M, N, K, dtypes)
    ("square 1024", 1, 1024, 1024, 1024, ("float32", "float16", "bfloat16")),
    ("square 4096", 1, 4096, 4096, 4096, ("float32", "float16", "bfloat16")),
    ("square 8192", 1, 8192, 8192, 8192, ("float16", "bfloat16")),
    ("odd 4097x4095x4093", 1, 4097, 4095, 4093, ("bfloat16",)),
    ("1000^3", 1, 1000, 1000, 1000, ("float32", "bfloat16")),
    ("skinny 16x8192x8192", 1, 16, 8192, 8192, ("bfloat16",)),
    ("8192x1024x8192", 1, 8192, 1024, 8192, ("bfloat16",)),
    ("batched 64x(512x64 @ 64x512)", 64, 512, 512, 64, ("bfloat16",)),
]


def seconds(run, sync, launches):
    run()
    sync()
    times = []
    for _ in range(5):
        t0 = time.perf_counter()
        for _ in range(launches):
            run()
        sync()
        times.append((time.perf_counter() - t0) / launches)
    return statistics.median(times)


def main():
    import torch
    p = argparse.ArgumentParser()
    p.add_argument("--out", default=None)
    args = p.parse_args()
    rng = np.random.default_rng(0)
    rows = []
    print(f"{'case':32s} {'dtype':9s} {'ours TF':>8s} {'cuBLAS TF':>9s} {'ratio':>6s}")
    for name, batch, m, n, k, dtypes in CASES:
        shape_a, shape_b = ((batch, m, k), (batch, k, n)) if batch > 1 else ((m, k), (k, n))
        a32 = rng.standard_normal(shape_a).astype(np.float32)
        b32 = rng.standard_normal(shape_b).astype(np.float32)
        for dt in dtypes:
            ta, tb = (tl.asarray(x, device="cuda").astype(dt) for x in (a32, b32))
            pa, pb = (torch.from_numpy(x).cuda().to(getattr(torch, dt)) for x in (a32, b32))
            flops = 2.0 * batch * m * n * k
            launches = max(3, min(200, int(2e12 / flops)))
            ours = seconds(lambda: tl.eval(ta @ tb), lambda: tl.synchronize("cuda"), launches)
            ref = seconds(lambda: pa @ pb, torch.cuda.synchronize, launches)
            row = dict(case=name, dtype=dt, ours_tflops=flops / ours / 1e12, cublas_tflops=flops / ref / 1e12,
                       ratio=ref / ours)
            rows.append(row)
            print(f"{name:32s} {dt:9s} {row['ours_tflops']:8.1f} {row['cublas_tflops']:9.1f} {row['ratio']:6.2f}")
    if args.out:
        with open(args.out, "w") as f:
            json.dump(dict(device=tl._core.device_name("cuda:0"), date=time.strftime("%Y-%m-%d"), rows=rows), f,
                      indent=1)


if __name__ == "__main__":
    main()
