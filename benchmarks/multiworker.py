#!/usr/bin/env python
"""What multi-worker training costs: images/s with one process and with two local workers, and the bytes each
worker exchanges per step.

Part 1 (``--speed``): ``train.py`` on ``digits`` for ``--iterations`` iterations, once as a single process and once
as two worker processes on 127.0.0.1 (``TF_CONFIG``, ring all-reduce over gRPC), for the cases given; the
steady-state images/s is the median of the console's images/s after the first log line. On one 2-core machine two
workers cannot be faster than one (they share the cores and add the all-reduce): the difference is the
communication and synchronisation overhead per step, which is what a user needs to judge a real cluster.

Part 2 (always): for every benchmark case, the gradient bytes per step (trainable parameters x 4, float32) and what
one worker sends (and receives) per step with a ring all-reduce over N workers, 2 (N - 1) / N of the gradient,
for N = 2, 4, 8, plus the time that takes at 1 and 10 Gbit/s.

Writes ``benchmarks/results/multiworker.json`` and ``multiworker.png``.

    python benchmarks/multiworker.py --speed                 # ~10 min on 2 cores
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

SPEED_CASES = {  # name: (batch per worker, train.py arguments)
    "vladder_mnist": (100, ["--dataset=digits", "--batch_size=100"]),
    "VAE_mnist": (64, ["VAE", "train", "--dataset=digits", "--epochs=1000"]),  # the collection's batch
}


def _rate(log: str, batch: int) -> float:
    """Steady-state images/s from a console: the trainer's ``| N images/s`` lines, or Keras's ``- N ms/step``
    epoch lines (the collection), skipping the first (tracing).

    Raises:
        RuntimeError: the run printed neither (it failed: the end of its console is in the message).
    """
    rates = [float(m) for m in re.findall(r"\|\s+([\d.]+) images/s", log)]
    rates += [batch * 1000.0 / float(m) for m in re.findall(r" - ([\d.]+)ms/step", log)]
    if not rates:
        raise RuntimeError("no speed in the run's console:\n" + log[-2000:])
    return statistics.median(rates[1:] or rates)


def run_speed(name: str, batch: int, argv: list, iterations: int, workers: int) -> float:
    with tempfile.TemporaryDirectory() as cwd:
        args = [sys.executable, os.path.join(ROOT, "train.py")] + argv + [
            f"--max_iterations={iterations}", "--log_frequency=10", "--checkpoint_frequency=100000", "--seed=1",
            f"--netname=bench_{name}"] + (["--vis_frequency=100000"] if "VAE" not in argv else [])
        env = dict(os.environ, PYTHONPATH=ROOT)
        if workers == 1:
            out = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=3600)
            return _rate(out.stdout + out.stderr, batch)
        from hvae.runtime import local_cluster

        procs = [subprocess.Popen(args, cwd=cwd, env=dict(env, TF_CONFIG=tf_config), stdout=subprocess.PIPE,
                                  stderr=subprocess.DEVNULL, text=True) for tf_config in local_cluster(workers)]
        outs = [p.communicate(timeout=3600)[0] for p in procs]
        return _rate(outs[0], batch)


def gradient_bytes() -> list:
    from train_speed import all_cases, find_case  # the sibling script

    import hvae  # noqa: F401

    rows = []
    for case in all_cases():
        built = find_case(case)(None)
        params = int(sum(int(v.shape.num_elements()) for v in built["model"].trainable_variables))
        grad = 4 * params
        row = {"case": case, "parameters": params, "gradient_mb": grad / 1e6}
        for n in (2, 4, 8):
            sent = 2 * (n - 1) / n * grad
            row[f"ring_sent_mb_{n}_workers"] = sent / 1e6
            row[f"seconds_at_1gbit_{n}_workers"] = sent * 8 / 1e9
            row[f"seconds_at_10gbit_{n}_workers"] = sent * 8 / 1e10
        rows.append(row)
        print(f"{case:22s} {params:>12,d} parameters  {grad / 1e6:8.1f} MB of gradient per step; a worker of 8 sends "
              f"{row['ring_sent_mb_8_workers']:.1f} MB ({row['seconds_at_1gbit_8_workers']:.2f} s at 1 Gbit/s)",
              flush=True)
    return rows


def plot(speed: dict, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    cases = list(speed)
    fig, ax = plt.subplots(figsize=(6, 4))
    for j, workers in enumerate(("1", "2")):
        vals = [speed[c][workers] for c in cases]
        bars = ax.bar(np.arange(len(cases)) + (j - 0.5) * 0.38, vals, 0.38,
                      label=f"{workers} process" if workers == "1" else "2 local workers (ring all-reduce)")
        for b, v in zip(bars, vals):
            ax.text(b.get_x() + b.get_width() / 2, v, f"{v:.0f}", ha="center", va="bottom", fontsize=8)
    ax.set_xticks(np.arange(len(cases)))
    ax.set_xticklabels(cases)
    ax.set_ylabel("training images / s (global batch)")
    ax.set_title("One 2-core machine: one process vs two workers (benchmarks/multiworker.py)", fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--speed", action="store_true", help="also measure images/s with 1 and 2 local workers")
    p.add_argument("--iterations", type=int, default=80)
    p.add_argument("--out", default=os.path.join(ROOT, "benchmarks", "results"))
    args = p.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    result = {"gradients": gradient_bytes()}
    if args.speed:
        result["images_per_second"] = {}
        for name, (batch, argv_) in SPEED_CASES.items():
            one = run_speed(name, batch, argv_, args.iterations, 1)
            two = run_speed(name, batch, argv_, args.iterations, 2)
            result["images_per_second"][name] = {"1": one, "2": two}
            print(f"{name}: 1 process {one:.1f} images/s, 2 workers {two:.1f} images/s", flush=True)
        plot(result["images_per_second"], os.path.join(args.out, "multiworker.png"))
    with open(os.path.join(args.out, "multiworker.json"), "w") as f:
        json.dump(result, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
