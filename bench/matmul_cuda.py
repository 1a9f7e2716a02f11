"""Matmul on CUDA against cuBLAS (through PyTorch) on the same card, the issue's shapes:

    python bench/matmul_cuda.py [--out results.json]

Each case is timed as back-to-back launches between two synchronizations (host overhead
amortized), median of several repeats; TFLOPS = 2*M*N*K*batch / time. Then gelu(x @ w + b)
in bfloat16 (1024 and 4096) against PyTorch eager and torch.compile: time ratios (ours /
theirs, below 1 is faster)."""
import argparse
import json
import statistics
import time

import numpy as np
import tensorlogic as tl

CASES = [  # (name, batch, M, N, K, dtypes); tf32: float32 tensors at precision "high" (cuBLAS: allow_tf32)
    ("square 1024", 1, 1024, 1024, 1024, ("float32", "tf32", "float16", "bfloat16")),
    ("square 4096", 1, 4096, 4096, 4096, ("float32", "tf32", "float16", "bfloat16")),
    ("square 8192", 1, 8192, 8192, 8192, ("float32", "tf32", "float16", "bfloat16")),
    ("odd 4097x4095x4093", 1, 4097, 4095, 4093, ("bfloat16",)),
    ("1000^3", 1, 1000, 1000, 1000, ("float32", "bfloat16")),
    ("skinny 16x8192x8192", 1, 16, 8192, 8192, ("bfloat16",)),
    ("skinny 8192x16x8192", 1, 8192, 16, 8192, ("bfloat16",)),
    ("8192x1024x8192", 1, 8192, 1024, 8192, ("bfloat16",)),
    ("batched 64x(512x64 @ 64x512)", 64, 512, 512, 64, ("bfloat16",)),
    ("square 2048", 1, 2048, 2048, 2048, ("tf32", "bfloat16")),
    ("x @ w.T 4096", 1, 4096, 4096, 4096, ("tf32", "bfloat16")),  # b stored (n, k): k-contiguous
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
    p.add_argument("--only", default=None,
                   help="comma-separated: run the cases whose name contains one of these (gelu: the gelu cases)")
    p.add_argument("--force", default=None, help="our tensor-core kernel for float16/bfloat16: mma, wgmma128, wgmma256 or "
                   "wgmma_pp; float32 SIMT: simt_old (no cp.async ring), simt_nosplit (no k splits) or "
                   "simt_kb<k>s<stages> (128x128 ring stages of k, e.g. simt_kb16s3) "
                   "(TENSORLOGIC_MATMUL_FORCE; default: the selector's choice)")
    p.add_argument("--dtypes", default=None, help="comma-separated: only these dtypes (float32, tf32, float16, bfloat16)")
    p.add_argument("--no-gelu", action="store_true", help="skip the gelu cases")
    args = p.parse_args()
    only = args.only.split(",") if args.only else None
    wanted = lambda name: only is None or any(o in name for o in only)  # noqa: E731
    if args.force:
        import os
        os.environ["TENSORLOGIC_MATMUL_FORCE"] = args.force
    rng = np.random.default_rng(0)
    rows = []
    print(f"{'case':32s} {'dtype':9s} {'ours TF':>8s} {'cuBLAS TF':>9s} {'ratio':>6s}")
    for name, batch, m, n, k, dtypes in CASES:
        if not wanted(name):
            continue
        shape_a, shape_b = ((batch, m, k), (batch, k, n)) if batch > 1 else ((m, k), (k, n))
        b_t = "w.T" in name  # b stored transposed, used as a view
        a32 = rng.standard_normal(shape_a).astype(np.float32)
        b32 = rng.standard_normal(shape_b[::-1] if b_t else shape_b).astype(np.float32)
        for dt in dtypes:
            if args.dtypes and dt not in args.dtypes.split(","):
                continue
            store = "float32" if dt == "tf32" else dt
            tl.set_float32_matmul_precision("high" if dt == "tf32" else "highest")
            torch.backends.cuda.matmul.allow_tf32 = dt == "tf32"
            ta, tb = (tl.asarray(x, device="cuda").astype(store) for x in (a32, b32))
            pa, pb = (torch.from_numpy(x).cuda().to(getattr(torch, store)) for x in (a32, b32))
            tl.eval(ta, tb)
            if b_t:
                tb, pb = tb.T, pb.T
            flops = 2.0 * batch * m * n * k
            launches = max(3, min(200, int(2e12 / flops)))
            ours = seconds(lambda: tl.eval(ta @ tb), lambda: tl.synchronize("cuda"), launches)
            ref = seconds(lambda: pa @ pb, torch.cuda.synchronize, launches)
            row = dict(case=name, dtype=dt, ours_tflops=flops / ours / 1e12, cublas_tflops=flops / ref / 1e12,
                       ratio=ref / ours)
            rows.append(row)
            print(f"{name:32s} {dt:9s} {row['ours_tflops']:8.1f} {row['cublas_tflops']:9.1f} {row['ratio']:6.2f}")
    tl.set_float32_matmul_precision("highest")
    torch.backends.cuda.matmul.allow_tf32 = False
    # gelu(x @ w + b) in bfloat16 as plain Python code: ours (the bias and gelu fused into the
    # matmul's store) against PyTorch eager and torch.compile of the same function.
    print(f"\n{'gelu(x @ w + b) bf16':32s} {'ours us':>8s} {'eager us':>9s} {'compile us':>10s} "
          f"{'/eager':>7s} {'/compile':>8s}")

    def torch_mlp(x, w, b):
        return torch.nn.functional.gelu(x @ w + b)

    compiled = torch.compile(torch_mlp)
    for n in (1024, 4096) if wanted("gelu") and not args.no_gelu else ():
        x32, w32 = rng.standard_normal((n, n)).astype(np.float32), rng.standard_normal((n, n)).astype(np.float32) / 64
        b32 = rng.standard_normal(n).astype(np.float32)
        tx, tw, tb = (tl.asarray(v, device="cuda").astype("bfloat16") for v in (x32, w32, b32))
        px, pw, pb = (torch.from_numpy(v).cuda().to(torch.bfloat16) for v in (x32, w32, b32))
        tl.eval(tx, tw, tb)
        launches = max(3, min(200, int(2e12 / (2.0 * n ** 3))))
        ours = seconds(lambda: tl.eval(tl.gelu(tx @ tw + tb)), lambda: tl.synchronize("cuda"), launches)
        eager = seconds(lambda: torch_mlp(px, pw, pb), torch.cuda.synchronize, launches)
        comp = seconds(lambda: compiled(px, pw, pb), torch.cuda.synchronize, launches)
        got = np.asarray(tl.gelu(tx @ tw + tb).astype("float32"))
        want = torch_mlp(px, pw, pb).float().cpu().numpy()
        err = float(np.max(np.abs(got - want)) / max(1e-30, float(np.max(np.abs(want)))))
        row = dict(case=f"gelu(x @ w + b) {n}", dtype="bfloat16", ours_us=ours * 1e6, eager_us=eager * 1e6,
                   compile_us=comp * 1e6, ratio_eager=ours / eager, ratio_compile=ours / comp, max_rel_err=err)
        rows.append(row)
        print(f"{row['case']:32s} {row['ours_us']:8.1f} {row['eager_us']:9.1f} {row['compile_us']:10.1f} "
              f"{row['ratio_eager']:7.2f} {row['ratio_compile']:8.2f}  (time ratio, lower is better; err {err:.1e})")
    if args.out:
        with open(args.out, "w") as f:
            json.dump(dict(device=tl._core.device_name("cuda:0"), date=time.strftime("%Y-%m-%d"), rows=rows), f,
                      indent=1)


if __name__ == "__main__":
    main()
