#!/usr/bin/env python
"""Throughput of the shared likelihood evaluation (importance samples per second) for every family's models.

For each case of ``benchmarks/cases.py`` (the model as it trains, built from its preset), ``hvae.evaluation.Evaluator``
importance-samples a fixed batch of 100 images with K samples per image (in chunks of at most 4,096 decoded images
per pass, as ``python train.py MODEL evaluate``), in ``tf.function`` and with XLA, after one warm-up batch
(tracing and compilation excluded). Each case and mode runs in a process of its own. Reported: importance samples
per second (K x images / seconds, median of ``--repeats`` batches; mode ``bfloat16`` is ``tf.function`` with the
LVAE's bfloat16 convolutions, ``evaluate --eval_precision=bfloat16``), the process's peak resident memory (its
``VmHWM``: model, the passes' intermediates and TensorFlow), the 1-minute load average and the share of the CPU
other processes took meanwhile.

Writes ``benchmarks/results/evaluation_speed.json`` and ``evaluation_speed.png``.

    python benchmarks/evaluation_speed.py                      # every case, K = 100, function and XLA
    python benchmarks/evaluation_speed.py --cases VAE_mnist vladder_mnist --k 1000
    python benchmarks/evaluation_speed.py --profile lvae_mnist_3 bfloat16 --images 20   # where one batch's time goes
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

from train_speed import _cpu_jiffies, all_cases, find_case, peak_rss_mb  # noqa: E402  (the sibling script)


def make_evaluator(model, k: int, mode: str):
    """The shared evaluator in ``mode``: ``eager``, ``function``, ``xla``, or ``bfloat16`` (``tf.function`` with
    ``precision='bfloat16'``, as ``evaluate --eval_precision=bfloat16``). Raises ConfigError as the evaluator does."""
    from hvae.evaluation import Evaluator

    if mode == "bfloat16":
        return Evaluator(model, k, compile_mode="function", precision="bfloat16")
    return Evaluator(model, k, compile_mode=mode)


def measure(case: str, k: int, mode: str, repeats: int, images: int) -> dict:
    import numpy as np

    from hvae.errors import ConfigError

    built = find_case(case)(images)
    model = built["model"]
    x, y = built["images"], built["labels"]
    if not getattr(model, "has_posterior", True):
        return {"case": case, "mode": mode, "skipped": "no posterior (deterministic encoder)"}
    try:
        evaluator = make_evaluator(model, k, mode)
    except ConfigError as err:   # bfloat16 for a model without that path
        return {"case": case, "mode": mode, "skipped": str(err)}
    t0 = time.perf_counter()
    evaluator.batch_terms(x, y)
    warmup = time.perf_counter() - t0
    rates, others = [], []
    for _ in range(repeats):
        total0, busy0, _ = _cpu_jiffies()
        own0 = sum(os.times()[:2])
        t = time.perf_counter()
        evaluator.batch_terms(x, y)
        seconds = time.perf_counter() - t
        total1, busy1, _ = _cpu_jiffies()
        own1 = sum(os.times()[:2])
        ticks = os.sysconf("SC_CLK_TCK")
        others.append(max(0.0, ((busy1 - busy0) - (own1 - own0) * ticks) / max(total1 - total0, 1)))
        rates.append(int(x.shape[0]) * k / seconds)
    return {"case": case, "mode": mode, "iw_samples": k, "images": int(x.shape[0]),
            "importance_samples_per_second": statistics.median(rates), "spread": [min(rates), max(rates)],
            "warmup_seconds": warmup, "load_average": os.getloadavg()[0], "other_share": float(np.median(others)),
            "max_images_per_pass": evaluator.max_images_per_pass, "peak_rss_mb": peak_rss_mb()}


def profile(case: str, k: int, mode: str, images: int, top: int = 12) -> None:
    """Print where one batch's time goes: an op-level trace (``tf.profiler``) of one ``batch_terms`` call after a
    warm-up, op time per TensorFlow op type summed over the executor's threads (``benchmarks/pytorch/tf_profile.py``'s
    parser), with the batch's wall time."""
    import tempfile

    import tensorflow as tf

    sys.path.insert(0, os.path.join(ROOT, "benchmarks", "pytorch"))
    from tf_profile import parse_xplane

    built = find_case(case)(images)
    x, y = built["images"], built["labels"]
    evaluator = make_evaluator(built["model"], k, mode)
    evaluator.batch_terms(x, y)
    logdir = tempfile.mkdtemp(prefix="evaluation_profile_")
    tf.profiler.experimental.start(logdir)
    t = time.perf_counter()
    evaluator.batch_terms(x, y)
    seconds = time.perf_counter() - t
    tf.profiler.experimental.stop()
    per_type, calls, _ = parse_xplane(logdir, 1)
    total = sum(per_type.values())
    print(f"{case} {mode}: K = {k} on {images} images, {seconds:.2f} s wall, "
          f"{images * k / seconds:,.0f} importance samples/s; op time {total:.2f} s summed over threads")
    for name, value in per_type.most_common(top):
        print(f"  {name:40s} {value:7.2f} s {100 * value / total:5.1f}%  {calls[name]} calls")


def measure_in_process(case: str, k: int, mode: str, repeats: int, images: int) -> dict:
    """:func:`measure` in a new process (so that its peak memory is the case's own)."""
    argv = [sys.executable, os.path.abspath(__file__), "--worker", case, mode, "--k", str(k), "--repeats",
            str(repeats), "--images", str(images)]
    proc = subprocess.run(argv, capture_output=True, text=True)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if proc.returncode or not lines:
        return {"case": case, "mode": mode, "skipped": f"worker failed (exit {proc.returncode}): "
                                                      f"{(proc.stderr.strip().splitlines() or [''])[-1][:200]}"}
    return json.loads(lines[-1])


def plot(results: list, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    rows = [r for r in results if "skipped" not in r]
    cases = list(dict.fromkeys(r["case"] for r in rows))
    modes = list(dict.fromkeys(r["mode"] for r in rows))
    fig, ax = plt.subplots(figsize=(max(8, 0.8 * len(cases) + 3), 4.5))
    width = 0.8 / len(modes)
    for j, mode in enumerate(modes):
        vals = [next((r["importance_samples_per_second"] for r in rows if r["case"] == c and r["mode"] == mode), 0)
                for c in cases]
        ax.bar(np.arange(len(cases)) + (j - (len(modes) - 1) / 2) * width, vals, width, label=mode)
    ax.set_yscale("log")
    ax.set_xticks(np.arange(len(cases)))
    ax.set_xticklabels(cases, rotation=35, ha="right", fontsize=8)
    ax.set_ylabel("importance samples / s (log scale)")
    k = rows[0]["iw_samples"] if rows else "?"
    n = rows[0]["images"] if rows else "?"
    ax.set_title(f"Likelihood evaluation on 2 CPU cores (K = {k}, batches of {n} images; benchmarks/evaluation_speed.py)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--cases", nargs="+")
    p.add_argument("--modes", nargs="+", default=["function", "xla"], choices=("eager", "function", "xla", "bfloat16"),
                   help="bfloat16: tf.function with evaluate --eval_precision=bfloat16 (the LVAE only)")
    p.add_argument("--k", type=int, default=100)
    p.add_argument("--images", type=int, default=100)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--out", default=os.path.join(ROOT, "benchmarks", "results"))
    p.add_argument("--merge", action="store_true", help="keep the results of other cases (and modes) in the JSON")
    p.add_argument("--worker", nargs=2, metavar=("CASE", "MODE"), help=argparse.SUPPRESS)
    p.add_argument("--profile", nargs=2, metavar=("CASE", "MODE"),
                   help="print the op profile of one batch of CASE in MODE instead of measuring")
    args = p.parse_args(argv)
    import hvae  # noqa: F401  (TensorFlow's environment defaults)

    if args.profile:
        profile(args.profile[0], args.k, args.profile[1], args.images)
        return 0

    if args.worker:   # one measurement, printed as one JSON line
        print(json.dumps(measure(args.worker[0], args.k, args.worker[1], args.repeats, args.images)), flush=True)
        return 0

    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, "evaluation_speed.json")
    results, runs = [], [vars(args)]
    if args.merge and os.path.exists(path):  # keep the other cases' results of earlier runs
        with open(path) as f:
            old = json.load(f)
        results, runs = old["results"], old.get("runs", [old.get("settings")]) + runs
    for case in args.cases or all_cases():
        for mode in args.modes:
            r = measure_in_process(case, args.k, mode, args.repeats, args.images)
            r["settings"] = {"k": args.k, "images": args.images, "repeats": args.repeats}
            results = [x for x in results if (x.get("case"), x.get("mode")) != (r.get("case"), r.get("mode"))] + [r]
            if "skipped" in r:
                print(f"{case:22s} {mode:9s} skipped: {r['skipped']}", flush=True)
            else:
                print(f"{case:22s} {mode:9s} {r['importance_samples_per_second']:12,.0f} importance samples/s, peak "
                      f"{r['peak_rss_mb']:,.0f} MB (other processes {r['other_share']:.0%})", flush=True)
            with open(path, "w") as f:  # after every measurement: a killed run keeps what it measured
                json.dump({"runs": runs, "results": results}, f, indent=1)
    plot(results, os.path.join(args.out, "evaluation_speed.png"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
