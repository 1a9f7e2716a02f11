"""Host time of the chain8 benchmark on tiny tensors (kernel time ~0), phase by phase, for each
device given and for PyTorch eager / torch.compile on CUDA:

    python bench/host_overhead.py cpu cuda
"""
import sys
import time

import numpy as np
import tensorlogic as tl
from compare import chain


def best_us(fn, runs=2000):
    fn()
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    times.sort()
    return times[len(times) // 2] * 1e6


def main():
    rng = np.random.default_rng(0)
    for dev in sys.argv[1:] or ["cpu"]:
        x, w, b = (tl.asarray(rng.standard_normal(16).astype(np.float32), device=dev) for _ in range(3))
        sync = lambda: tl.synchronize(dev)  # noqa: E731
        record = best_us(lambda: chain(tl, x, w, b))
        evaluate = best_us(lambda: tl.eval(chain(tl, x, w, b)))
        synced = best_us(lambda: (tl.eval(chain(tl, x, w, b)), sync()))
        y = chain(tl, x, w, b)
        tl.eval(y)
        only_sync = best_us(sync)
        print(f"{dev}: record {record:.1f} us, +eval {evaluate:.1f}, +sync {synced:.1f} (sync alone {only_sync:.1f})")
        if dev.startswith("cuda"):
            import torch
            px, pw, pb = (torch.from_numpy(rng.standard_normal(16).astype(np.float32)).cuda() for _ in range(3))
            eager = best_us(lambda: (chain(torch, px, pw, pb), torch.cuda.synchronize()))
            compiled = torch.compile(lambda a, c, d: chain(torch, a, c, d))
            comp = best_us(lambda: (compiled(px, pw, pb), torch.cuda.synchronize()))
            print(f"torch: eager+sync {eager:.1f} us, compile+sync {comp:.1f} us, "
                  f"sync alone {best_us(torch.cuda.synchronize):.1f}")


if __name__ == "__main__":
    main()
