"""gelu(x @ w + b) in bfloat16 taken apart on CUDA, against PyTorch on the same card:

    python bench/epilogue_parts.py [--n 4096] [--out parts.json]

Times (back-to-back launches between two synchronizations, median of 5 repeats) the matmul
alone, `y + b` and `gelu(y + b)` on a stored product y, and the whole expression; PyTorch
eager the same. Floors: the matmul at cuBLAS's time; an epilogue over y at its bytes (y read,
the result written: 4 n^2 bytes) over the bandwidth of a large torch copy. What the epilogue
costs on top of the matmul, and how far its own kernel is from memory speed, decide whether
`gelu(x @ w + b)` can reach 0.8x PyTorch eager's time (issue 6)."""
import argparse
import json
import os
import sys
import time

import numpy as np
import tensorlogic as tl

sys.path.insert(0, os.path.dirname(__file__))
from matmul_cuda import seconds  # noqa: E402


def gelu_operands(n):
    """x (n x n), w (n x n, scaled so that the products stay near 1) and b (n): random,
    bfloat16 on CUDA, ours and PyTorch's (the same values)."""
    import torch
    rng = np.random.default_rng(0)
    x32, w32 = rng.standard_normal((n, n)).astype(np.float32), (rng.standard_normal((n, n)) / 64).astype(np.float32)
    b32 = rng.standard_normal(n).astype(np.float32)
    ours = [tl.asarray(v, device="cuda").astype("bfloat16") for v in (x32, w32, b32)]
    tl.eval(*ours)
    return ours + [torch.from_numpy(v).cuda().to(torch.bfloat16) for v in (x32, w32, b32)]


def main():
    import torch
    p = argparse.ArgumentParser()
    p.add_argument("--n", type=int, default=4096)
    p.add_argument("--out", default=None)
    args = p.parse_args()
    n = args.n
    x, w, b, px, pw, pb = gelu_operands(n)
    y = x @ w
    tl.eval(y)
    py = px @ pw
    sync, tsync = (lambda: tl.synchronize("cuda")), torch.cuda.synchronize
    launches = max(3, min(200, int(2e12 / (2.0 * n ** 3))))
    gelu = torch.nn.functional.gelu
    rows = {
        "matmul": (seconds(lambda: tl.eval(x @ w), sync, launches), seconds(lambda: px @ pw, tsync, launches)),
        "y + b": (seconds(lambda: tl.eval(y + b), sync, 50), seconds(lambda: py + pb, tsync, 50)),
        "gelu(y + b)": (seconds(lambda: tl.eval(tl.gelu(y + b)), sync, 50), seconds(lambda: gelu(py + pb), tsync, 50)),
        "gelu(x @ w + b)": (seconds(lambda: tl.eval(tl.gelu(x @ w + b)), sync, launches),
                            seconds(lambda: gelu(px @ pw + pb), tsync, launches)),
    }
    big = torch.empty(1 << 28, dtype=torch.uint8, device="cuda")
    bandwidth = 2 * big.numel() / seconds(lambda: big.clone(), tsync, 20)
    floor_ep = 4 * n * n / bandwidth
    print(f"bf16 n={n} on {tl._core.device_name('cuda:0')}; copy bandwidth {bandwidth / 1e9:.0f} GB/s, "
          f"an epilogue's memory floor {floor_ep * 1e6:.1f} us")
    print(f"{'part':18s} {'ours us':>8s} {'torch us':>9s} {'ours/torch':>10s}")
    for name, (ours, theirs) in rows.items():
        print(f"{name:18s} {ours * 1e6:8.1f} {theirs * 1e6:9.1f} {ours / theirs:10.2f}")
    ours_mm, eager_mm = rows["matmul"]
    print(f"the epilogue on top of our matmul: {(rows['gelu(x @ w + b)'][0] - ours_mm) * 1e6:.1f} us; "
          f"0.8x eager leaves it {(0.8 * rows['gelu(x @ w + b)'][1] - ours_mm) * 1e6:.1f} us")
    if args.out:
        with open(args.out, "w") as f:
            json.dump(dict(device=tl._core.device_name("cuda:0"), date=time.strftime("%Y-%m-%d"), n=n,
                           copy_bandwidth=bandwidth, epilogue_floor_us=floor_ep * 1e6,
                           rows={k: dict(ours_us=v[0] * 1e6, torch_us=v[1] * 1e6) for k, v in rows.items()}),
                      f, indent=1)


if __name__ == "__main__":
    main()
