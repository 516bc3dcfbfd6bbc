#!/usr/bin/env python
"""The Laplace family's test log-likelihood against epochs (the README's figure).

Reads ``model/<MODEL>_binarized_mnist/evaluation/epoch<E>_test_k<K>_n<N>.json`` for the five models (written by
the commands of the README's Laplace section) and plots the importance-weighted bound (with its standard error)
per epoch, one line per model.

    python plots/laplace_curves.py --runs model --out plots/laplace_binarized_mnist_curves.png
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import re

MODELS = ("VLAE_VAE", "HF", "IAF", "SAVAE", "VLAE")
LABELS = {"VLAE_VAE": "VAE", "HF": "VAE + HF", "IAF": "VAE + IAF", "SAVAE": "SA-VAE", "VLAE": "VLAE"}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--runs", default="model", help="the folder holding the run folders")
    p.add_argument("--dataset", default="binarized_mnist")
    p.add_argument("--out", default="plots/laplace_binarized_mnist_curves.png")
    args = p.parse_args()
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.2))
    k = n = None
    for model in MODELS:
        points = []
        for path in glob.glob(os.path.join(args.runs, f"{model}_{args.dataset}", "evaluation", "epoch*_test_k*.json")):
            epoch = int(re.search(r"epoch(\d+)_", os.path.basename(path)).group(1))
            with open(path) as f:
                r = json.load(f)
            k, n = r["iw_samples"], r["num_images"]
            points.append((epoch, r["iw_bound"]["mean"], r["iw_bound"]["sem"]))
        if not points:
            continue
        points.sort()
        ax.errorbar([e for e, _, _ in points], [m for _, m, _ in points], yerr=[s for _, _, s in points],
                    marker="o", capsize=3, label=LABELS[model])
    ax.set_xlabel("epoch (390 steps of 128 images)")
    ax.set_ylabel(f"test log-likelihood bound, nats (K = {k})")
    ax.set_title(f"Laplace family on static binarized MNIST: {n} fixed test images (± standard error)", fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
    fig.savefig(args.out, dpi=110)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
