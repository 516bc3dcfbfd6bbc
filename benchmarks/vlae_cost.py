#!/usr/bin/env python
"""What the Laplace family costs on this machine: the training step of each model, the VLAE step as a function of
``--n_update`` and ``--z_dim``, the decoder Jacobian by ReLU masks vs ``tf.GradientTape.batch_jacobian``, and the
importance-sampling evaluation's throughput with K = 5000.

Every step is the trainer's own (``hvae.trainer.Trainer``: forward, loss, gradients, Adam update, ``tf.function``)
at batch 128 on static binary 28x28x1 images with the Bernoulli output (``benchmarks/cases.py``'
setting), the original's networks (hidden 500). Reported per case: the median wall time of the timed steps and
the process CPU time per step (both cores' work; on a machine shared with other jobs the wall time is inflated, the
CPU time much less so), images/s, and the projected minutes per epoch of binarized MNIST (390 steps of 128).

Writes ``benchmarks/results/vlae_cost.json`` and ``benchmarks/results/vlae_cost.png``.

    python benchmarks/vlae_cost.py                     # everything (~6-8 min on 2 idle cores)
    python benchmarks/vlae_cost.py --parts models      # one part: models, updates, zdim, jacobian, evaluation
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

import hvae  # noqa: E402,F401  (TensorFlow's environment defaults)

PARTS = ("models", "updates", "zdim", "jacobian", "evaluation")
STEPS_PER_EPOCH = 50_000 // 128
MODELS = ("VLAE_VAE", "VLAE", "HF", "IAF", "SAVAE")


def _images(batch: int):
    import numpy as np
    import tensorflow as tf

    return tf.constant((np.random.RandomState(0).uniform(size=(batch, 28, 28, 1)) < 0.2).astype(np.float32))


def time_step(name: str, batch: int, steps: int, warmup: int, **options) -> dict:
    """Median wall and CPU seconds of the trainer's step for model ``name`` with ``options``."""
    import keras
    import tensorflow as tf
    from cases import trainer_step  # the sibling module (benchmarks/cases.py)

    from hvae.models.laplace_vae import MODELS as CLASSES
    from hvae.models.laplace_vae import PRESETS

    tf.random.set_seed(0)
    model = CLASSES[name](PRESETS[f"{name}_binarized_mnist"].replace(**options)).build_all()
    optimizer = keras.optimizers.Adam(5e-4, epsilon=1e-8)
    optimizer.build(model.trainable_variables)
    images, labels = _images(batch), tf.zeros((batch,), tf.int64)
    with tempfile.TemporaryDirectory() as run_dir:
        built = dict(model=model, optimizer=optimizer, images=images,
                     loss_terms=lambda x, y, t: model.loss_terms(x, training=True))
        step = trainer_step(built, run_dir)
        start = time.perf_counter()
        for _ in range(warmup):
            float(step(images, labels)["loss"])
        warm = time.perf_counter() - start
        walls, cpus = [], []
        for _ in range(steps):
            w0, c0 = time.perf_counter(), time.process_time()
            float(step(images, labels)["loss"])
            walls.append(time.perf_counter() - w0)
            cpus.append(time.process_time() - c0)
    wall, cpu = statistics.median(walls), statistics.median(cpus)
    return {"model": name, "options": options, "batch": batch, "steps": steps, "seconds_per_step": wall,
            "cpu_seconds_per_step": cpu, "images_per_second": batch / wall,
            "minutes_per_epoch": STEPS_PER_EPOCH * wall / 60.0, "warmup_seconds": warm,
            "parameters": model.count_parameters(), "load_average": round(os.getloadavg()[0], 2)}


def time_jacobian(batch: int, steps: int, z_dim: int = 50) -> list:
    """The decoder's Jacobian (B, Z, D) at batch ``batch``: ReLU masks vs ``batch_jacobian``, forward only and
    with a gradient through it (as VLAE's training needs)."""
    import numpy as np
    import tensorflow as tf

    from hvae.models.laplace_vae import LaplaceConfig, LaplaceModel

    model = LaplaceModel(LaplaceConfig(z_dim=z_dim, output_dist="bernoulli")).build_all()
    dec = model.decoder
    z = tf.random.normal((batch, z_dim))

    def masks(z):
        return tf.transpose(dec.call_with_jacobian(z)[1], [0, 2, 1])

    def autodiff(z):
        with tf.GradientTape() as tape:
            tape.watch(z)
            a = dec(z)
        return tape.batch_jacobian(a, z)

    def with_gradient(fn):
        def run(z):
            with tf.GradientTape() as tape:
                j = fn(z)
                loss = tf.reduce_sum(tf.square(j))
            return tape.gradient(loss, dec.trainable_variables)[0]
        return run

    out = []
    difference = float(tf.reduce_max(tf.abs(masks(z) - autodiff(z))))
    for label, fn in (("masks", masks), ("batch_jacobian", autodiff), ("masks + gradient", with_gradient(masks)),
                      ("batch_jacobian + gradient", with_gradient(autodiff))):
        f = tf.function(fn)
        f(z)
        walls, cpus = [], []
        for _ in range(steps):
            w0, c0 = time.perf_counter(), time.process_time()
            np.asarray(f(z))
            walls.append(time.perf_counter() - w0)
            cpus.append(time.process_time() - c0)
        out.append({"method": label, "batch": batch, "z_dim": z_dim, "seconds": statistics.median(walls),
                    "cpu_seconds": statistics.median(cpus), "max_abs_difference": difference})
    return out


def time_evaluation(name: str, images: int, k: int) -> dict:
    """Importance samples per second of the shared evaluator (K = ``k``, one batch of ``images``)."""
    import numpy as np
    import tensorflow as tf

    from hvae.evaluation import Evaluator
    from hvae.models.laplace_vae import MODELS as CLASSES
    from hvae.models.laplace_vae import PRESETS

    model = CLASSES[name](PRESETS[f"{name}_binarized_mnist"]).build_all()
    evaluator = Evaluator(model, k)
    batch = _images(images)
    labels = tf.zeros((images,), tf.int64)
    evaluator.batch_terms(batch[:2], labels[:2])   # tracing
    w0, c0 = time.perf_counter(), time.process_time()
    out = evaluator.batch_terms(batch, labels)
    wall, cpu = time.perf_counter() - w0, time.process_time() - c0
    assert np.isfinite(out["log_px"]).all()
    per_image = wall / images
    return {"model": name, "images": images, "iw_samples": k, "chunk": evaluator.chunk_size(images),
            "seconds": wall, "cpu_seconds": cpu, "importance_samples_per_second": images * k / wall,
            "seconds_per_image": per_image, "hours_for_10000_test_images": per_image * 10_000 / 3600.0,
            "load_average": round(os.getloadavg()[0], 2)}


def plot(info: dict, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 2, figsize=(12, 8.5))
    vae = next((r for r in info.get("models", []) if r["model"] == "VLAE_VAE"), None)
    for ax, key, option, label in ((axes[0, 0], "updates", "n_update", "--n_update T (z_dim 50)"),
                                   (axes[0, 1], "zdim", "z_dim", "--z_dim (n_update 4)")):
        rows = info.get(key, [])
        if not rows:
            ax.set_visible(False)
            continue
        x = [r["options"][option] for r in rows]
        ax.plot(x, [r["seconds_per_step"] for r in rows], "o-", label="wall seconds per step")
        ax.plot(x, [r["cpu_seconds_per_step"] for r in rows], "s--", label="CPU seconds per step (both cores)")
        if vae:
            ax.axhline(vae["cpu_seconds_per_step"], color="gray", ls=":",
                       label=f"VLAE_VAE, CPU ({vae['cpu_seconds_per_step']:.3f} s)")
        for xi, r in zip(x, rows):
            ax.annotate(f"{r['minutes_per_epoch']:.0f} min/epoch", (xi, r["seconds_per_step"]), fontsize=7,
                        textcoords="offset points", xytext=(0, 6), ha="center")
        ax.set_xlabel(label)
        ax.set_ylabel("seconds per VLAE training step (batch 128)")
        ax.set_xticks(x)
        ax.set_ylim(bottom=0)
        ax.legend(fontsize=8, loc="upper left")
        ax.set_title(f"VLAE step vs {option} (load average {rows[0].get('load_average', '?')})", fontsize=10)
    ax = axes[1, 0]
    rows = info.get("models", [])
    if rows:
        names = [r["model"] for r in rows]
        wall = [r["seconds_per_step"] for r in rows]
        cpu = [r["cpu_seconds_per_step"] for r in rows]
        xs = range(len(rows))
        ax.bar([i - 0.2 for i in xs], wall, 0.4, label="wall")
        ax.bar([i + 0.2 for i in xs], cpu, 0.4, label="CPU (both cores)")
        for i, r in enumerate(rows):
            ax.text(i, max(wall[i], cpu[i]) * 1.15, f"{r['images_per_second']:.0f} img/s\n"
                    f"{r['minutes_per_epoch']:.1f} min/ep", ha="center", va="bottom", fontsize=7)
        ax.set_yscale("log")
        ax.set_ylim(top=max(wall + cpu) * 6)
        ax.set_xticks(list(xs))
        ax.set_xticklabels(names)
        ax.set_ylabel("seconds per training step (log scale)")
        ax.set_title(f"training step per model, Bernoulli, batch 128 (load average "
                     f"{rows[0].get('load_average', '?')})", fontsize=10)
        ax.legend(fontsize=8, loc="upper right")
    ax = axes[1, 1]
    rows = info.get("evaluation", [])
    if rows:
        names = [r["model"] for r in rows]
        rate = [r["importance_samples_per_second"] / 1000.0 for r in rows]
        ax.bar(range(len(rows)), rate, color="C2")
        for i, r in enumerate(rows):
            ax.text(i, rate[i] * 1.02, f"{r['hours_for_10000_test_images']:.1f} h /\n10k images", ha="center",
                    va="bottom", fontsize=7)
        ax.set_xticks(range(len(rows)))
        ax.set_xticklabels(names)
        ax.set_ylim(top=max(rate) * 1.3)
        ax.set_ylabel("thousand importance samples / s")
        ax.set_title(f"evaluate, K = {rows[0]['iw_samples']}, batches of {rows[0]['images']} images (load average "
                     f"{rows[0].get('load_average', '?')})", fontsize=10)
    fig.suptitle(f"Laplace family cost on this machine ({info.get('cpus')} CPUs, TensorFlow {info.get('tensorflow')}); "
                 f"the machine was shared: wall times are inflated, CPU seconds less so", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--parts", nargs="+", default=list(PARTS), choices=PARTS)
    parser.add_argument("--steps", type=int, default=5, help="timed steps per case (default 5)")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--eval_images", type=int, default=100, help="images of the evaluation batch (100)")
    parser.add_argument("--iw_samples", type=int, default=5000)
    parser.add_argument("--out", default=os.path.join(ROOT, "benchmarks", "results"))
    parser.add_argument("--replot", action="store_true", help="redraw the figure from vlae_cost.json")
    args = parser.parse_args(argv)
    if args.replot:
        with open(os.path.join(args.out, "vlae_cost.json")) as f:
            plot(json.load(f), os.path.join(args.out, "vlae_cost.png"))
        return 0

    import platform

    import tensorflow as tf

    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, "vlae_cost.json")
    info = {}
    if os.path.exists(path):       # keep the parts not re-measured
        with open(path) as f:
            info = json.load(f)
    info.update({"machine": platform.processor() or platform.machine(), "cpus": os.cpu_count(),
                 "tensorflow": tf.__version__, "load_average": round(os.getloadavg()[0], 2)})

    def show(r):
        print(f"{r['model']:9s} {json.dumps(r['options']):38s} {r['seconds_per_step']:7.3f} s/step wall, "
              f"{r['cpu_seconds_per_step']:7.3f} CPU-s, {r['images_per_second']:8.1f} img/s, "
              f"{r['minutes_per_epoch']:6.1f} min/epoch", flush=True)

    if "models" in args.parts:
        info["models"] = []
        for name in MODELS:
            r = time_step(name, args.batch, args.steps if name == "VLAE" else 4 * args.steps, args.warmup)
            info["models"].append(r)
            show(r)
    if "updates" in args.parts:
        info["updates"] = []
        for t in (0, 1, 2, 4, 8):
            r = time_step("VLAE", args.batch, args.steps, args.warmup, n_update=t)
            info["updates"].append(r)
            show(r)
    if "zdim" in args.parts:
        info["zdim"] = []
        for z in (10, 50, 100):
            r = time_step("VLAE", args.batch, args.steps, args.warmup, z_dim=z)
            info["zdim"].append(r)
            show(r)
    if "jacobian" in args.parts:
        info["jacobian"] = time_jacobian(args.batch, args.steps)
        for r in info["jacobian"]:
            print(f"jacobian {r['method']:28s} {r['seconds']:.3f} s wall, {r['cpu_seconds']:.3f} CPU-s "
                  f"(batch {r['batch']}, max |difference| {r['max_abs_difference']:.1e})", flush=True)
    if "evaluation" in args.parts:
        info["evaluation"] = []
        for name in MODELS:
            r = time_evaluation(name, args.eval_images, args.iw_samples)
            info["evaluation"].append(r)
            print(f"evaluate {name:9s} K={r['iw_samples']} {r['importance_samples_per_second']:9.0f} samples/s, "
                  f"{r['seconds_per_image']:.2f} s/image -> {r['hours_for_10000_test_images']:.1f} h for 10,000 "
                  f"test images (chunk {r['chunk']})", flush=True)
    with open(path, "w") as f:
        json.dump(info, f, indent=2)
    plot(info, os.path.join(args.out, "vlae_cost.png"))
    print(f"wrote {path} and vlae_cost.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
