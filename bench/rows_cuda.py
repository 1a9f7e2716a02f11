"""Row reductions on CUDA across row widths: softmax and layernorm (written as plain Python,
as in bench/compare.py) against PyTorch eager and torch.compile of the same code, same card:

    python bench/rows_cuda.py [--only softmax,1024] [--out results.json]

Each case is timed as back-to-back launches between two synchronizations (matmul_cuda's
`seconds`). The floor is one read and one write of the rows at the card's copy bandwidth (a
large torch copy_); "x floor" is our time over it."""
import argparse
import json

import numpy as np
import tensorlogic as tl
from compare import cuda_bandwidth, layernorm, mean_rows
from matmul_cuda import seconds

SHAPES = [(8192, 8192), (65536, 1024), (16384, 4096), (2048, 32768), (262144, 256)]


def main():
    import torch
    p = argparse.ArgumentParser()
    p.add_argument("--out", default=None)
    p.add_argument("--only", default="", help="comma-separated: cases whose name contains one of these")
    args = p.parse_args()
    only = [w for w in args.only.split(",") if w]
    bw = cuda_bandwidth()
    print(f"copy bandwidth {bw / 1e9:.0f} GB/s")
    print(f"{'case':28s} {'ours us':>8s} {'eager us':>9s} {'compile us':>10s} {'/eager':>7s} {'/compile':>8s} {'x floor':>7s}")
    rng = np.random.default_rng(0)
    torch_mean = lambda t: t.mean(dim=1, keepdim=True)  # noqa: E731
    fns = {
        "softmax": (lambda x: tl.softmax(x, axis=1), lambda x: torch.softmax(x, dim=1)),
        "layernorm": (lambda x: layernorm(tl, x, mean_rows), lambda x: layernorm(torch, x, torch_mean)),
    }
    rows = []
    for name, (ours_fn, torch_fn) in fns.items():
        compiled = torch.compile(torch_fn)
        for r, c in SHAPES:
            if only and not any(w in f"{name} {r}x{c}" for w in only):
                continue
            x = rng.standard_normal((r, c)).astype(np.float32)
            tx, px = tl.asarray(x, device="cuda"), torch.from_numpy(x).cuda()
            tl.eval(tx)
            launches = max(3, int(2e9 / x.nbytes))
            ours = seconds(lambda: tl.eval(ours_fn(tx)), lambda: tl.synchronize("cuda"), launches)
            eager = seconds(lambda: torch_fn(px), torch.cuda.synchronize, launches)
            comp = seconds(lambda: compiled(px), torch.cuda.synchronize, launches)
            floor = 2 * x.nbytes / bw
            row = dict(case=f"{name} {r}x{c}", ours_us=ours * 1e6, eager_us=eager * 1e6, compile_us=comp * 1e6,
                       vs_eager=eager / ours, vs_compile=comp / ours, times_floor=ours / floor)
            rows.append(row)
            print(f"{row['case']:28s} {ours * 1e6:8.1f} {eager * 1e6:9.1f} {comp * 1e6:10.1f} {eager / ours:7.2f} "
                  f"{comp / ours:8.2f} {ours / floor:7.2f}")
    if args.out:
        with open(args.out, "w") as f:
            json.dump(dict(device_name=tl._core.device_name("cuda:0"), copy_bandwidth_gbs=bw / 1e9, rows=rows), f,
                      indent=1)


if __name__ == "__main__":
    main()
