"""Sustained matmul work on CUDA with the card's clock and power, against PyTorch on the same card:

    python bench/power_cuda.py [--n 4096] [--seconds 2] [--out power.json]

Each case runs back to back for `seconds` (bf16 n x n: x @ w, then gelu(x @ w + b)), ours and
PyTorch's (cuBLAS; eager), while nvidia-smi samples the SM clock, the power draw and its
limit, and the active throttle reasons every 200 ms. A short benchmark (matmul_cuda.py) times
bursts; held this long, an H200 sits at its power limit (throttle reason 0x4, the software
power cap) through a bf16 matmul, so the time of any work added to it (an epilogue) follows
its energy, wherever it runs. The ratios here are the sustained ones."""
import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np
import tensorlogic as tl

sys.path.insert(0, os.path.dirname(__file__))
from epilogue_parts import gelu_operands  # noqa: E402


def sustained(run, sync, seconds):
    """Seconds a call of `run` with nvidia-smi's samples taken meanwhile (the first second's
    dropped: the clock settles)."""
    run()
    sync()
    smi = subprocess.Popen(["nvidia-smi", "--query-gpu=clocks.sm,power.draw,power.limit,clocks_throttle_reasons.active",
                            "--format=csv,noheader,nounits", "-lms", "200"], stdout=subprocess.PIPE, text=True)
    t0, calls = time.perf_counter(), 0
    while time.perf_counter() - t0 < seconds:
        for _ in range(20):
            run()
        sync()
        calls += 20
    per_call = (time.perf_counter() - t0) / calls
    smi.terminate()
    rows = [r.split(", ") for r in smi.communicate()[0].strip().splitlines()[5:]]
    if not rows:
        raise RuntimeError("nvidia-smi gave no samples past the first second (--seconds too short?)")
    mean = lambda i: float(np.mean([float(r[i]) for r in rows]))  # noqa: E731
    return dict(us=per_call * 1e6, sm_mhz=mean(0), watts=mean(1), limit_watts=mean(2),
                throttle=sorted({r[3] for r in rows}))


def main():
    import torch
    p = argparse.ArgumentParser()
    p.add_argument("--n", type=int, default=4096)
    p.add_argument("--seconds", type=float, default=2.0)
    p.add_argument("--out", default=None)
    args = p.parse_args()
    n = args.n
    x, w, b, px, pw, pb = gelu_operands(n)
    sync, tsync = (lambda: tl.synchronize("cuda")), torch.cuda.synchronize
    gelu = torch.nn.functional.gelu
    cases = {
        "x @ w": (lambda: tl.eval(x @ w), lambda: px @ pw),
        "gelu(x @ w + b)": (lambda: tl.eval(tl.gelu(x @ w + b)), lambda: gelu(px @ pw + pb)),
    }
    print(f"bf16 n={n} on {tl._core.device_name('cuda:0')}, {args.seconds:.0f} s a case")
    print(f"{'case':18s} {'who':6s} {'us':>7s} {'MHz':>6s} {'W':>6s} {'limit':>6s}  throttle   ours/torch")
    rows = {}
    for name, (ours, theirs) in cases.items():
        a, t = sustained(ours, sync, args.seconds), sustained(theirs, tsync, args.seconds)
        rows[name] = dict(ours=a, torch=t)
        for who, r in (("ours", a), ("torch", t)):
            print(f"{name:18s} {who:6s} {r['us']:7.1f} {r['sm_mhz']:6.0f} {r['watts']:6.0f} {r['limit_watts']:6.0f}  "
                  f"{','.join(r['throttle']):10s}" + (f" {a['us'] / t['us']:.2f}" if who == "torch" else ""))
    if args.out:
        with open(args.out, "w") as f:
            json.dump(dict(device=tl._core.device_name("cuda:0"), date=time.strftime("%Y-%m-%d"), n=n,
                           seconds=args.seconds, rows=rows), f, indent=1)


if __name__ == "__main__":
    main()
