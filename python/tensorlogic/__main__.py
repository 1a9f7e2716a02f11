"""`python -m tensorlogic`: version, backends and devices, then a short demo checked
against NumPy (a small MLP forward pass and a softmax). Exits non-zero on a mismatch."""

import sys

import numpy as np

import tensorlogic as tl


def main():
    print(f"tensorlogic {tl.__version__}")
    for kind in ("cpu", "cuda", "metal"):
        print(f"  backend {kind:6s}: {tl._core.backend_status(kind)}")
    print("devices:", ", ".join(str(d) for d in tl.devices()))
    device = tl.default_device()
    print(f"default device: {device}")

    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 32)).astype(np.float32)
    w1 = (rng.standard_normal((32, 128)) / np.sqrt(32)).astype(np.float32)
    b1 = rng.standard_normal(128).astype(np.float32) * 0.1
    w2 = (rng.standard_normal((128, 10)) / np.sqrt(128)).astype(np.float32)

    t = {k: tl.asarray(v, device=device) for k, v in dict(x=x, w1=w1, b1=b1, w2=w2).items()}
    logits = tl.relu(t["x"] @ t["w1"] + t["b1"]) @ t["w2"]
    probs = tl.softmax(logits, axis=-1)

    h = np.maximum(x.astype(np.float64) @ w1 + b1, 0) @ w2
    ref = np.exp(h - h.max(axis=-1, keepdims=True))
    ref /= ref.sum(axis=-1, keepdims=True)
    err = float(np.max(np.abs(np.asarray(probs) - ref)))
    print(f"MLP 64x32 -> 128 -> 10 with softmax on {device}: max |error| vs NumPy float64 = {err:.2e}")
    print("row 0:", probs[0])
    if not err < 1e-4:
        print("MISMATCH", file=sys.stderr)
        return 1
    print("ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
