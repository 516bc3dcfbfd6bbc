#!/usr/bin/env python
"""How far ``evaluate --eval_precision=bfloat16`` moves the LVAE's bounds from float32, on a trained model.

Loads a model exported with ``python train.py LVAE generate --best --export PATH.keras``, takes the first ``--images``
images of a split, and draws K = ``--k`` importance samples per image twice (``LVAE.importance_terms``, what
``evaluate`` runs, in batches of 20): in float32 and with the residual convolutions in bfloat16, with the same
stateless seeds (the same standard-normal draws, so that the two differ by the arithmetic only). Prints the mean
bound and ELBO of each, the per-image differences (mean, standard deviation, largest), the rates, and writes them
as JSON (``--out``).

    python benchmarks/bfloat16_accuracy.py --model lvae.keras --db_path ../shared/data/binarized_mnist \
        --split validation --images 200 --k 100
"""

from __future__ import annotations

import argparse
import json
import sys
import time


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", required=True, help="an exported .keras LVAE")
    p.add_argument("--dataset", default="binarized_mnist")
    p.add_argument("--db_path")
    p.add_argument("--split", default="validation")
    p.add_argument("--images", type=int, default=200)
    p.add_argument("--k", type=int, default=100)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", help="JSON file for the result")
    args = p.parse_args(argv)

    import keras
    import numpy as np
    import tensorflow as tf

    from hvae import (
        datasets,
        models,  # noqa: F401  (registers the layers for load_model)
    )

    model = keras.models.load_model(args.model)
    data = datasets.load(args.dataset, args.db_path)
    images = data.take(args.split, args.images, seed=None)
    out = {"model": args.model, "split": args.split, "images": args.images, "iw_samples": args.k}
    per_image = {}
    for precision in ("float32", "bfloat16"):
        # the model's own terms with stateless draws: the same z draws in both precisions for each batch
        @tf.function(autograph=False, reduce_retracing=True)
        def terms(x, seeds, precision=precision):
            with model.reduced_precision(precision):
                return model.importance_terms(x, args.k, seeds=list(seeds))

        def batch(i):
            seeds = [tf.constant([args.seed * 1_000_003 + i, l], tf.int32) for l in range(model.num_layers)]
            return terms(images[i:i + 20], seeds)

        batch(0)                               # tracing outside the timing
        t = time.perf_counter()
        parts = [batch(i) for i in range(0, args.images, 20)]
        seconds = time.perf_counter() - t
        w = np.concatenate([part["log_weights"].numpy().astype(np.float64) for part in parts])   # (N, K)
        per_image[precision] = {"log_px": np.logaddexp.reduce(w, axis=1) - np.log(args.k), "elbo": w.mean(axis=1)}
        out[precision] = {"iw_bound": float(per_image[precision]["log_px"].mean()),
                          "elbo": float(per_image[precision]["elbo"].mean()),
                          "importance_samples_per_second": args.images * args.k / seconds}
        print(f"{precision:9s} bound {out[precision]['iw_bound']:.3f}, ELBO {out[precision]['elbo']:.3f} nats, "
              f"{out[precision]['importance_samples_per_second']:.0f} importance samples/s", flush=True)
    for key in ("log_px", "elbo"):
        d = per_image["bfloat16"][key] - per_image["float32"][key]
        out[f"difference_{key}"] = {"mean": float(d.mean()), "std": float(d.std(ddof=1)),
                                    "max_abs": float(np.abs(d).max())}
        print(f"bfloat16 - float32, {key}: mean {d.mean():+.4f}, sd {d.std(ddof=1):.4f}, largest "
              f"{np.abs(d).max():.4f} nats per image", flush=True)
    if args.out:
        with open(args.out, "w") as f:
            json.dump(out, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
