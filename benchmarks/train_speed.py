#!/usr/bin/env python
"""Training speed of each VLadder configuration on this machine, per way of running the step.

For vladder_mnist, vladder_svhn, vladder_celebA and vladder_lsun at batch 100, the trainer's own step
(``hvae.trainer.Trainer``: forward, loss, gradients, Adam update) runs in eager mode, in
``tf.function`` and in ``tf.function(jit_compile=True)`` (XLA) on a fixed batch in the configuration's
shape. Reports iterations/s and images/s (median over timed steps, after warm-up steps that include
tracing and compilation), the one-off start-up cost, and compares with the input pipelines measured by
``benchmarks/input_pipeline.py`` (the pipeline must outrun training).

Writes ``benchmarks/results/train_speed.json`` and ``benchmarks/results/train_speed.png``.

    python benchmarks/train_speed.py                  # all configurations, all modes (~15 min on 2 cores)
    python benchmarks/train_speed.py --configs vladder_mnist --steps 20
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
sys.path.insert(0, ROOT)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

MODES = ("eager", "function", "xla")


class _BenchTask:
    """The minimum the trainer's step needs: a model, an optimizer and the loss."""

    def __init__(self, model, optimizer, run_dir):
        self.model, self.optimizer, self.run_dir = model, optimizer, run_dir
        self.batch_size = 100

    def loss_terms(self, images, labels, iteration):
        return self.model.loss_terms(images, labels, iteration, training=True)


def measure(config_name: str, mode: str, steps: int, warmup: int, batch: int) -> dict:
    import keras
    import tensorflow as tf

    from hvae.trainer import Trainer
    from models.vladder import CONFIGS, VLadder

    cfg = CONFIGS[config_name]
    value_range = (-1.0, 1.0) if cfg.shape[0] == 64 else (0.0, 1.0)
    tf.random.set_seed(0)
    model = VLadder(cfg, value_range=value_range).build_all()
    optimizer = keras.optimizers.Adam(2e-4, epsilon=1e-8)
    optimizer.build(model.trainable_variables)
    with tempfile.TemporaryDirectory() as run_dir:
        trainer = Trainer(_BenchTask(model, optimizer, run_dir), compile_mode=mode)
        step = trainer._build_step()
        images = tf.random.uniform((batch,) + tuple(cfg.shape), *value_range)
        labels = tf.zeros((batch,), tf.int64)
        start = time.perf_counter()
        for _ in range(warmup):
            float(step(images, labels)["loss"])
        startup = time.perf_counter() - start
        times = []
        for _ in range(steps):
            t0 = time.perf_counter()
            float(step(images, labels)["loss"])
            times.append(time.perf_counter() - t0)
    seconds = statistics.median(times)
    return {"config": config_name, "mode": mode, "batch": batch, "seconds_per_iteration": seconds,
            "iterations_per_second": 1.0 / seconds, "images_per_second": batch / seconds,
            "warmup_seconds": startup, "steps": steps}


def plot(results: list, pipelines: dict, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    configs = list(dict.fromkeys(r["config"] for r in results))
    fig, ax = plt.subplots(figsize=(9, 4.5))
    width = 0.8 / len(MODES)
    for j, mode in enumerate(MODES):
        vals = [next((r["images_per_second"] for r in results if r["config"] == c and r["mode"] == mode), 0)
                for c in configs]
        bars = ax.bar(np.arange(len(configs)) + (j - 1) * width, vals, width, label=mode)
        for b, v in zip(bars, vals):
            if v:
                ax.text(b.get_x() + b.get_width() / 2, v * 1.05, f"{v:.0f}" if v >= 10 else f"{v:.1f}",
                        ha="center", va="bottom", fontsize=7)
    ax.set_yscale("log")
    ax.set_xticks(np.arange(len(configs)))
    ax.set_xticklabels(configs)
    ax.set_ylabel("training images / s (batch 100, log scale)")
    ax.set_title("VLadder training step on this CPU: eager vs tf.function vs XLA")
    if pipelines:
        for i, c in enumerate(configs):
            rate = pipelines.get(c)
            if rate:
                ax.plot([i - 0.45, i + 0.45], [rate, rate], "k--", lw=1)
        ax.plot([], [], "k--", lw=1, label="input pipeline of that data")
    ax.legend(fontsize=8, loc="upper right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def pipeline_rates(results_dir: str) -> dict:
    """Images/s of the input pipeline that feeds each configuration (from input_pipeline.json)."""
    path = os.path.join(results_dir, "input_pipeline.json")
    if not os.path.exists(path):
        return {}
    with open(path) as f:
        data = json.load(f)
    rows = data.get("results", data) if isinstance(data, dict) else data
    by_name = {}
    for row in rows:
        name = str(row.get("name", "")).split(" ")[0].lower()  # "celebA 64x64 (jpg files)" -> "celeba"
        rate = row.get("images_per_second")
        if rate:
            by_name[name] = rate
    pick = lambda *names: next((by_name[n] for n in names if n in by_name), None)
    return {"vladder_mnist": pick("binarized_mnist", "mnist"), "vladder_svhn": pick("svhn"),
            "vladder_celebA": pick("celeba"), "vladder_lsun": pick("lsun")}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--configs", nargs="+", default=["vladder_mnist", "vladder_svhn", "vladder_celebA",
                                                          "vladder_lsun"])
    parser.add_argument("--modes", nargs="+", default=list(MODES), choices=MODES)
    parser.add_argument("--steps", type=int, default=None, help="timed steps (default: 10 small, 3 large)")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--out", default=os.path.join(ROOT, "benchmarks", "results"))
    parser.add_argument("--replot", action="store_true",
                        help="redraw the chart from train_speed.json and the current input_pipeline.json")
    args = parser.parse_args(argv)

    os.makedirs(args.out, exist_ok=True)
    if args.replot:
        with open(os.path.join(args.out, "train_speed.json")) as f:
            info = json.load(f)
        info["input_pipeline_images_per_second"] = pipeline_rates(args.out)
        with open(os.path.join(args.out, "train_speed.json"), "w") as f:
            json.dump(info, f, indent=2)
        plot(info["results"], info["input_pipeline_images_per_second"], os.path.join(args.out, "train_speed.png"))
        return 0
    results = []
    for name in args.configs:
        for mode in args.modes:
            steps = args.steps or (3 if name in ("vladder_celebA", "vladder_lsun") else 10)
            r = measure(name, mode, steps, args.warmup, args.batch)
            results.append(r)
            print(f"{name:15s} {mode:9s} {r['seconds_per_iteration']:7.3f} s/it  {r['iterations_per_second']:6.2f} it/s"
                  f"  {r['images_per_second']:7.1f} img/s  (warm-up {r['warmup_seconds']:.1f} s)", flush=True)
    pipelines = pipeline_rates(args.out)
    import platform

    import tensorflow as tf

    info = {"machine": platform.processor() or platform.machine(), "cpus": os.cpu_count(), "tensorflow": tf.__version__,
            "results": results, "input_pipeline_images_per_second": pipelines}
    with open(os.path.join(args.out, "train_speed.json"), "w") as f:
        json.dump(info, f, indent=2)
    plot(results, pipelines, os.path.join(args.out, "train_speed.png"))
    print("\n| configuration | eager img/s | tf.function img/s | XLA img/s | fastest | input pipeline img/s |")
    print("|---|---|---|---|---|---|")
    for name in args.configs:
        row = {r["mode"]: r["images_per_second"] for r in results if r["config"] == name}
        best = max(row, key=row.get)
        cells = " | ".join(f"{row[m]:.1f}" if m in row else "-" for m in MODES)
        pipe = pipelines.get(name)
        print(f"| {name} | {cells} | {best} | {pipe:.0f} |" if pipe else f"| {name} | {cells} | {best} | - |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
