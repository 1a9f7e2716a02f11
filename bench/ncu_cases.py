"""Each CUDA benchmark case run a few times, for a kernel profiler (ncu) or compute-sanitizer:

    ncu --kernel-name regex:"tl_kernel|triton" python bench/ncu_cases.py softmax sum
"""
import sys

import numpy as np
import tensorlogic as tl
from compare import chain


def main():
    import torch
    rng = np.random.default_rng(0)
    m = rng.standard_normal((8192, 8192)).astype(np.float32)
    v = rng.standard_normal(1 << 26).astype(np.float32)
    tm, pm = tl.asarray(m, device="cuda"), torch.from_numpy(m).cuda()
    tv = tl.asarray(v, device="cuda")
    x, w, b = (tl.asarray(rng.standard_normal(1 << 24).astype(np.float32), device="cuda") for _ in range(3))
    softmax_c = torch.compile(lambda t: torch.softmax(t, dim=1))
    cases = {
        "sum": lambda: tv.sum(),
        "colsum": lambda: tm.sum(axis=0),
        "softmax": lambda: tl.softmax(tm, axis=1),
        "softmax_compile": lambda: softmax_c(pm),
        "chain8": lambda: chain(tl, x, w, b),
    }
    for name in sys.argv[1:] or cases:
        for _ in range(2):
            r = cases[name]()
            np.asarray(r) if isinstance(r, tl.Tensor) else torch.cuda.synchronize()


if __name__ == "__main__":
    main()
