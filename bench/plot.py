"""Plots a bench/compare.py result: speed relative to the anchor per case, and the fraction
of each case's floor reached by both.

    python bench/plot.py bench/results/cpu-....json docs/img/cpu-compare.png
"""

import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def main(src, dst):
    with open(src) as f:
        r = json.load(f)
    rows = r["rows"]
    names = [row["case"] for row in rows]
    # Rows without a floor (per-op overhead) show only their speed ratio.
    ours = [row.get("fraction_of_floor", 0) for row in rows]
    anchor = [row["floor_s"] / row["anchor_s"] if "floor_s" in row else 0 for row in rows]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(13, 4))
    ax1.barh(names, [row["ratio"] for row in rows], color="tab:blue")
    ax1.axvline(1.0, color="k", lw=1)
    ax1.set_xscale("log")
    ax1.set_xlabel(f"speed vs the anchor, log scale (>1: tensorlogic faster)")
    ax1.invert_yaxis()
    y = range(len(rows))
    ax2.barh([i - 0.2 for i in y], ours, height=0.4, label="tensorlogic")
    ax2.barh([i + 0.2 for i in y], anchor, height=0.4, label="anchor (NumPy)")
    ax2.set_yticks(list(y), names)
    ax2.invert_yaxis()
    ax2.set_xlabel("fraction of floor (bandwidth or peak FLOPs)")
    ax2.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8)
    fig.suptitle(f"{r['device']} on {r['machine']} ({r['cpu_count']} cores), {r['date']}")
    fig.tight_layout()
    fig.savefig(dst, dpi=110)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
