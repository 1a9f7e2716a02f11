"""Plots a bench/matmul_cuda.py result: TFLOPS against size for the square cases, per dtype
(ours solid, cuBLAS dashed), and the ratio to cuBLAS of every case.

    python bench/plot_matmul.py bench/results/cuda-h200-matmul-....json docs/img/cuda-matmul.png
"""

import json
import sys

import matplotlib
import matplotlib.ticker

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def main(src, dst):
    with open(src) as f:
        r = json.load(f)
    rows = [row for row in r["rows"] if "cublas_tflops" in row]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(13, 4.5))
    dtypes = sorted({row["dtype"] for row in rows if row["case"].startswith("square ")})
    for i, dt in enumerate(dtypes):
        sq = sorted((int(row["case"].split()[1]), row) for row in rows
                    if row["dtype"] == dt and row["case"].startswith("square "))
        n = [s for s, _ in sq]
        color = f"C{i}"
        ax1.plot(n, [row["ours_tflops"] for _, row in sq], "o-", color=color, label=f"{dt} tensorlogic")
        ax1.plot(n, [row["cublas_tflops"] for _, row in sq], "s--", color=color, label=f"{dt} cuBLAS")
    ax1.set_xscale("log", base=2)
    ax1.set_yscale("log")
    ax1.set_xlabel("M = N = K")
    ax1.set_ylabel("TFLOPS")
    ax1.legend(fontsize=8)
    names = [f"{row['case']} {row['dtype']}" for row in rows]
    ax2.barh(names, [row["ratio"] for row in rows], color="tab:blue")
    ax2.axvline(1.0, color="k", lw=1)
    ax2.set_xscale("log")
    ticks = [t for t in (0.01, 0.03, 0.1, 0.3, 1, 3) if min(row["ratio"] for row in rows) / 2 <= t]
    ax2.set_xticks(ticks, [f"{t:g}" for t in ticks])
    ax2.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    ax2.set_xlabel("speed vs cuBLAS, log scale (>1: tensorlogic faster)")
    ax2.invert_yaxis()
    ax2.tick_params(axis="y", labelsize=8)
    fig.suptitle(f"matmul on {r['device']}, {r['date']}")
    fig.tight_layout()
    fig.savefig(dst, dpi=110)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
