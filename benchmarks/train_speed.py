#!/usr/bin/env python
"""Training speed of every model configuration on this machine, per way of running the step, measured so that
the numbers can be trusted: variants interleaved, compilation excluded, the machine's load recorded.

For each case (``benchmarks/cases.py``, built from the presets: the four VLadder configurations, the VAE collection,
the Ladder VAEs, the Laplace family), one long-lived worker process per *variant* builds the trainer's own step
(``hvae.trainer.Trainer``: forward, loss, gradients, optimizer update, iteration += 1) on a fixed batch and warms it
up (tracing and XLA compilation happen there, untimed). Then, in rounds, each variant in turn times ``--steps``
consecutive steps while the other workers wait idle; the order is reversed every other round (A B C, C B A, ...)
so that a slow drift of the machine hits every variant alike. Every worker uses the same thread counts.

A variant is ``MODE[:onednn=0|1][:inter=N][:intra=N][:adam=fused]`` with MODE ``eager``, ``function``
(``tf.function``) or ``xla`` (``tf.function(jit_compile=True)``); ``onednn`` sets ``TF_ENABLE_ONEDNN_OPTS`` before
TensorFlow starts (the project's default is 1: ``hvae/environment.py``); ``adam=fused`` replaces a case's Keras
``Adam`` by ``hvae.optimizers.FusedAdam`` (the same update in TensorFlow's fused kernel).

Reported per case and variant: median seconds per step over every accepted timed step, images/s, the
interquartile range, the ratio to the case's first variant (the median over rounds of the per-round ratio), the
peak resident memory of the worker (its ``VmHWM``: model, optimizer state, one batch and TensorFlow), and per turn
the 1-minute load average and the share of the machine's CPU time that *other* processes took while the variant
ran (``/proc/stat`` minus the worker's own ``/proc/<pid>/stat``). Before a turn the orchestrator waits (up to
``--max-wait`` s) for that share to fall below ``--quiet-threshold``; a turn during which other processes took more
than ``--max-other`` of the CPU is rejected and retried at the end of its round (up to ``--retries`` times), and
every rejection is kept in the JSON with its share.

The machine itself drifts: on this VM the same variant's images/s moved 7–39% between two runs 1.5 hours apart
with nothing else running and no steal time (docs/performance.md: the host's load is invisible from inside). So every turn also
measures a *reference*: the worker's own float32 matmul rate (1024 x 1024 products, best of 5, before and after
the timed steps, same threads), and reports ``images_per_reference_gflop`` = images/s / reference GFLOP/s, the
step's speed in units of the machine's speed at that moment. A turn during which the hypervisor took more than
``--max-steal`` of the VM's CPU (``/proc/stat`` steal) is rejected like a busy one. ``--compare EARLIER LATER``
prints how far every figure of two result files differs (images/s, time vs the first variant, images per
reference-GFLOP) and draws ``<name>_repeat.png``.

Writes ``benchmarks/results/<name>.json`` and ``<name>.png`` (``--name``, default ``train_speed``); ``--replot``
redraws the figure from the JSON.

    python benchmarks/train_speed.py                                    # every case, function / xla x oneDNN on / off
    python benchmarks/train_speed.py --cases vladder_mnist VAE_mnist --variants eager function xla --rounds 6
    python benchmarks/train_speed.py --name repeat_b ...; python benchmarks/train_speed.py --compare \
        benchmarks/results/repeat_a.json benchmarks/results/repeat_b.json   # reproducibility: train_speed_repeat.png
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

DEFAULT_VARIANTS = ("function", "xla", "function:onednn=0", "xla:onednn=0", "function:adam=fused", "xla:adam=fused")
LARGE = ("vladder_celebA", "vladder_lsun")
REFERENCE_N = 1024      # the reference product: (1024 x 1024) @ (1024 x 1024), float32, 2.1 GFLOP
REFERENCE_REPEATS = 5


# --------------------------------------------------------------------------------------------------
# The worker: one case, one variant, a line protocol on stdin / the original stdout
# --------------------------------------------------------------------------------------------------
def parse_variant(variant: str) -> dict:
    """``"xla:onednn=0:inter=1"`` -> ``{"mode": "xla", "onednn": "0", "inter": 1, "intra": None}``."""
    mode, *options = variant.split(":")
    if mode not in ("eager", "function", "xla"):
        raise SystemExit(f"unknown mode {mode!r} in variant {variant!r}")
    out = {"mode": mode, "onednn": "1", "inter": None, "intra": None, "adam": None}
    for item in options:
        key, _, value = item.partition("=")
        if key not in ("onednn", "inter", "intra", "adam"):
            raise SystemExit(f"unknown option {key!r} in variant {variant!r}")
        out[key] = value if key in ("onednn", "adam") else int(value)
    return out


def find_case(name: str):
    """The builder of case ``name`` (:data:`cases.CASES`, built from the presets): ``builder(batch=None)``."""
    from cases import CASES, build_case  # the sibling module (benchmarks/cases.py)

    if name not in CASES:
        raise SystemExit(f"unknown case {name!r}; cases: {', '.join(CASES)}")
    return lambda batch=None: build_case(name, batch)


def all_cases() -> list:
    from cases import CASES

    return list(CASES)


def peak_rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


def worker(case: str, variant: str, batch: int | None, warmup: int) -> int:
    """Build the step, warm it up, then serve ``{"op": "run", "steps": N}`` requests (one JSON line each)."""
    out = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)  # everything the libraries print goes to stderr; fd 1 carries the protocol only
    sys.stdout = sys.stderr
    v = parse_variant(variant)
    import tempfile

    import tensorflow as tf
    from cases import trainer_step

    import hvae  # noqa: F401  (environment defaults; TF_ENABLE_ONEDNN_OPTS comes from the orchestrator)
    from hvae.environment import onednn_enabled

    cores = os.cpu_count() or 1
    tf.config.threading.set_intra_op_parallelism_threads(v["intra"] or cores)
    tf.config.threading.set_inter_op_parallelism_threads(v["inter"] or cores)
    tf.random.set_seed(0)
    built = find_case(case)(batch)
    if v["adam"] == "fused":
        import keras

        from hvae.optimizers import FusedAdam

        if type(built["optimizer"]) is keras.optimizers.Adam:
            built["optimizer"] = FusedAdam.from_config(built["optimizer"].get_config())
            built["optimizer"].build(built["model"].trainable_variables)
    images, labels = built["images"], built["labels"]
    b = int(images.shape[0])
    with tempfile.TemporaryDirectory() as run_dir:
        step_fn = trainer_step(built, run_dir, v["mode"])

        def step():
            float(step_fn(images, labels)["loss"])  # blocks until the step is done

        t0 = time.perf_counter()
        for _ in range(warmup):
            step()
        info = {"ready": True, "case": case, "variant": variant, "batch": b, "warmup_seconds": time.perf_counter() - t0,
                "onednn_enabled": onednn_enabled(), "tensorflow": tf.__version__,
                "parameters": int(sum(int(tf.size(w)) for w in built["model"].trainable_variables)),
                "intra_op_threads": v["intra"] or cores, "inter_op_threads": v["inter"] or cores}
        ref_a = tf.random.stateless_normal((REFERENCE_N, REFERENCE_N), seed=(1, 2))
        ref_b = tf.random.stateless_normal((REFERENCE_N, REFERENCE_N), seed=(3, 4))

        def reference_gflops():
            """This process's float32 matmul rate now (GFLOP/s), the best of a few products: the machine's speed
            at the moment of the turn, with the turn's thread settings."""
            best = float("inf")
            for _ in range(REFERENCE_REPEATS):
                t = time.perf_counter()
                float(tf.reduce_sum(tf.matmul(ref_a, ref_b)))
                best = min(best, time.perf_counter() - t)
            return 2.0 * REFERENCE_N ** 3 / best / 1e9

        reference_gflops()  # warm-up
        out.write(json.dumps(info) + "\n")
        for line in sys.stdin:
            msg = json.loads(line)
            if msg.get("op") == "quit":
                break
            before = reference_gflops()
            times = []
            for _ in range(int(msg["steps"])):
                t = time.perf_counter()
                step()
                times.append(time.perf_counter() - t)
            after = reference_gflops()
            out.write(json.dumps({"times": times, "peak_rss_mb": peak_rss_mb(),
                                  "reference_gflops": statistics.median([before, after])}) + "\n")
    return 0


# --------------------------------------------------------------------------------------------------
# The orchestrator (no TensorFlow here)
# --------------------------------------------------------------------------------------------------
def _cpu_jiffies():
    """``(total, busy, steal)`` jiffies of the machine since boot; steal is the time the hypervisor gave this VM's
    CPUs to someone else, not counted as busy."""
    with open("/proc/stat") as f:
        parts = [int(x) for x in f.readline().split()[1:]]
    parts = parts[:8]  # user nice system idle iowait irq softirq steal (guest time is inside user)
    idle = parts[3] + parts[4]
    return sum(parts), sum(parts) - idle - parts[7], parts[7]


def _proc_jiffies(pid: int) -> int:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime (threads included)


def other_share(seconds: float = 1.0, exclude: int | None = None) -> float:
    """Share of the machine's CPU time taken by other processes over ``seconds``."""
    t0, b0, _ = _cpu_jiffies()
    p0 = _proc_jiffies(exclude) if exclude else 0
    time.sleep(seconds)
    t1, b1, _ = _cpu_jiffies()
    p1 = _proc_jiffies(exclude) if exclude else 0
    return max(0.0, ((b1 - b0) - (p1 - p0)) / max(t1 - t0, 1))


class Contestant:
    def __init__(self, case, variant, batch, warmup):
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", TF_ENABLE_ONEDNN_OPTS=parse_variant(variant)["onednn"])
        cmd = [sys.executable, os.path.abspath(__file__), "--worker", case, variant, "--warmup", str(warmup)]
        if batch:
            cmd += ["--batch", str(batch)]
        self.variant = variant
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                     text=True, bufsize=1, env=env)
        line = self.proc.stdout.readline()
        if not line:
            raise SystemExit(f"worker {case} {variant} failed to start")
        self.info = json.loads(line)
        wanted = parse_variant(variant)["onednn"] == "1"
        if self.info.get("onednn_enabled") not in (None, wanted):  # the variant must be what it says
            raise SystemExit(f"worker {case} {variant}: oneDNN is {'on' if self.info['onednn_enabled'] else 'off'}")

    def run(self, steps: int) -> dict:
        start_total, start_busy, start_steal = _cpu_jiffies()
        start_own = _proc_jiffies(self.proc.pid)
        load = os.getloadavg()[0]
        self.proc.stdin.write(json.dumps({"op": "run", "steps": steps}) + "\n")
        self.proc.stdin.flush()
        reply = json.loads(self.proc.stdout.readline())
        total, busy, steal = _cpu_jiffies()
        own = _proc_jiffies(self.proc.pid)
        reply["other_share"] = max(0.0, ((busy - start_busy) - (own - start_own)) / max(total - start_total, 1))
        reply["steal_share"] = (steal - start_steal) / max(total - start_total, 1)
        reply["load_average"] = load
        return reply

    def close(self):
        try:
            self.proc.stdin.write(json.dumps({"op": "quit"}) + "\n")
            self.proc.stdin.flush()
            self.proc.wait(timeout=60)
        except Exception:  # noqa: BLE001
            self.proc.kill()


def wait_quiet(threshold: float, max_wait: float) -> float:
    """Wait until other processes take less than ``threshold`` of the CPU (at most ``max_wait`` s); returns the
    last share measured."""
    deadline = time.time() + max_wait
    share = other_share(1.0)
    while share > threshold and time.time() < deadline:
        share = other_share(2.0)
    return share


def _quartiles(values):
    q = statistics.quantiles(values, n=4) if len(values) >= 2 else [values[0]] * 3
    return q[0], q[2]


def measure_case(case, variants, rounds, steps, batch, warmup, args) -> dict:
    contestants = []
    try:
        for v in variants:
            contestants.append(Contestant(case, v, batch, warmup))
            print(f"  {case} {v}: ready (warm-up {contestants[-1].info['warmup_seconds']:.1f} s)", flush=True)
        turns = {c.variant: [] for c in contestants}
        rejected = []
        for r in range(rounds):
            order = contestants if r % 2 == 0 else list(reversed(contestants))
            pending = [(c, 0) for c in order]
            while pending:
                c, tries = pending.pop(0)
                wait_quiet(args.quiet_threshold, args.max_wait)
                reply = c.run(steps)
                reply["round"] = r
                busy = reply["other_share"] > args.max_other or reply["steal_share"] > args.max_steal
                if busy and tries < args.retries:
                    rejected.append({"variant": c.variant, "round": r, "other_share": reply["other_share"],
                                     "steal_share": reply["steal_share"], "load_average": reply["load_average"]})
                    pending.append((c, tries + 1))
                    continue
                reply["flagged"] = busy
                turns[c.variant].append(reply)
        out = {"case": case, "batch": contestants[0].info["batch"], "parameters": contestants[0].info["parameters"],
               "rounds": rounds, "steps_per_turn": steps, "variants": [], "rejected_turns": rejected}
        ref = variants[0]
        for c in contestants:
            times = [t for turn in turns[c.variant] for t in turn["times"]]
            med = statistics.median(times)
            q1, q3 = _quartiles(times)
            ratios = [statistics.median(a["times"]) / statistics.median(b["times"])
                      for a, b in zip(turns[c.variant], turns[ref])]
            # Per turn: images/s divided by the reference matmul rate of the same moment, in images per
            # reference-GFLOP; what remains when the machine as a whole runs faster or slower than in another run.
            normalized = [out["batch"] / statistics.median(t["times"]) / t["reference_gflops"] for t in turns[c.variant]]
            out["variants"].append({
                "variant": c.variant, "seconds_per_step": med, "images_per_second": out["batch"] / med,
                "iqr_seconds": [q1, q3], "time_vs_first_variant": statistics.median(ratios),
                "reference_gflops": statistics.median(t["reference_gflops"] for t in turns[c.variant]),
                "images_per_reference_gflop": statistics.median(normalized),
                "peak_rss_mb": max(t["peak_rss_mb"] for t in turns[c.variant]),
                "warmup_seconds": c.info["warmup_seconds"], "onednn_enabled": c.info["onednn_enabled"],
                "threads": [c.info["intra_op_threads"], c.info["inter_op_threads"]],
                "turns": [{k: t[k] for k in ("round", "other_share", "steal_share", "load_average", "reference_gflops",
                                             "flagged")} for t in turns[c.variant]],
                "times": times})
        return out
    finally:
        for c in contestants:
            c.close()


def plot(results: list, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    cases = [r["case"] for r in results]
    variants = list(dict.fromkeys(v["variant"] for r in results for v in r["variants"]))
    fig, ax = plt.subplots(figsize=(max(9, 0.9 * len(cases) + 3), 5))
    width = 0.8 / len(variants)
    for j, variant in enumerate(variants):
        vals, lo, hi = [], [], []
        for r in results:
            row = next((v for v in r["variants"] if v["variant"] == variant), None)
            if row is None:
                vals.append(0), lo.append(0), hi.append(0)
                continue
            ips = row["images_per_second"]
            vals.append(ips)
            lo.append(ips - r["batch"] / row["iqr_seconds"][1])
            hi.append(r["batch"] / row["iqr_seconds"][0] - ips)
        x = np.arange(len(cases)) + (j - (len(variants) - 1) / 2) * width
        ax.bar(x, vals, width, yerr=[lo, hi], capsize=2, label=variant)
    ax.set_yscale("log")
    ax.set_xticks(np.arange(len(cases)))
    ax.set_xticklabels(cases, rotation=35, ha="right", fontsize=8)
    ax.set_ylabel("training images / s (log scale; bars: interquartile range)")
    ax.set_title("Training step on this CPU, variants interleaved (benchmarks/train_speed.py)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


COMPARED = (("images_per_second", "images/s"), ("time_vs_first_variant", "time vs the first variant"),
            ("images_per_reference_gflop", "images per reference-GFLOP"))


def compare(earlier: str, later: str, tolerance: float = 0.10, figure: str | None = None) -> int:
    """Print, per case and variant present in both result files, each reported figure of both runs and their
    relative difference (later / earlier - 1), marking those beyond ``tolerance``; then the largest difference
    per figure; ``figure``: also draw the changes there. Returns 0 (a report, not a test)."""
    runs = []
    for path in (earlier, later):
        try:
            with open(path) as f:
                runs.append({(r["case"], v["variant"]): v for r in json.load(f)["results"] for v in r["variants"]})
        except (OSError, ValueError, KeyError) as e:
            raise SystemExit(f"--compare: cannot read {path}: {e}")
    common = [k for k in runs[0] if k in runs[1]]
    if not common:
        raise SystemExit("--compare: the two files share no case and variant")
    worst = {key: 0.0 for key, _ in COMPARED}
    changes = {key: [] for key, _ in COMPARED}
    print("| case | variant | " + " | ".join(f"{label}: earlier, later, change" for _, label in COMPARED) + " |")
    print("|---|---|" + "---|" * len(COMPARED))
    for k in common:
        cells = []
        for key, _ in COMPARED:
            a, b = runs[0][k].get(key), runs[1][k].get(key)
            if a is None or b is None:
                cells.append("– (not in both)")
                continue
            change = b / a - 1.0
            worst[key] = max(worst[key], abs(change))
            changes[key].append(change)
            cells.append(f"{a:.4g}, {b:.4g}, {change:+.1%}{' **beyond**' if abs(change) > tolerance else ''}")
        print(f"| {k[0]} | {k[1]} | " + " | ".join(cells) + " |")
    for key, label in COMPARED:
        verdict = "within" if worst[key] <= tolerance else "beyond"
        print(f"largest change of {label}: {worst[key]:.1%} ({verdict} {tolerance:.0%})")
    if figure:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        import numpy as np

        fig, ax = plt.subplots(figsize=(max(8, 0.7 * len(common) + 3), 4.5))
        width = 0.8 / len(COMPARED)
        for j, (key, label) in enumerate(COMPARED):
            x = np.arange(len(changes[key])) + (j - (len(COMPARED) - 1) / 2) * width
            ax.bar(x, 100 * np.array(changes[key]), width, label=label)
        ax.axhspan(-100 * tolerance, 100 * tolerance, color="0.9", zorder=0, label=f"±{tolerance:.0%}")
        ax.axhline(0, color="k", lw=0.5)
        ax.set_xticks(np.arange(len(common)))
        ax.set_xticklabels([f"{c}\n{v}" for c, v in common], rotation=35, ha="right", fontsize=7)
        ax.set_ylabel("later run / earlier run - 1 (%)")
        ax.set_title(f"Run-to-run change: {os.path.basename(earlier)} -> {os.path.basename(later)}", fontsize=9)
        ax.legend(fontsize=7)
        fig.tight_layout()
        fig.savefig(figure, dpi=110)
        print(f"figure: {figure}")
    return 0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--worker", nargs=2, metavar=("CASE", "VARIANT"), help=argparse.SUPPRESS)
    p.add_argument("--cases", nargs="+", help="default: every family's benchmark cases")
    p.add_argument("--variants", nargs="+", default=list(DEFAULT_VARIANTS))
    p.add_argument("--rounds", type=int, default=4)
    p.add_argument("--steps", type=int, help="timed steps per turn (default: 8, 2 for the 64x64 VLadder)")
    p.add_argument("--batch", type=int, help="default: each case's own")
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--quiet-threshold", type=float, default=0.1)
    p.add_argument("--max-wait", type=float, default=120)
    p.add_argument("--max-other", type=float, default=0.15)
    p.add_argument("--max-steal", type=float, default=0.05,
                   help="reject a turn during which the hypervisor took more than this share of the VM's CPU")
    p.add_argument("--retries", type=int, default=3)
    p.add_argument("--compare", nargs=2, metavar=("EARLIER.json", "LATER.json"),
                   help="how far two runs' results differ, per case and variant (no measurement)")
    p.add_argument("--tolerance", type=float, default=0.10, help="--compare: the reproducibility asked for")
    p.add_argument("--out", default=os.path.join(ROOT, "benchmarks", "results"))
    p.add_argument("--replot", action="store_true")
    p.add_argument("--name", default="train_speed",
                   help="result files <out>/<name>.json and .png (--compare: <name>_repeat.png)")
    args = p.parse_args(argv)
    if args.worker:
        return worker(args.worker[0], args.worker[1], args.batch, args.warmup)
    if args.compare:
        return compare(*args.compare, tolerance=args.tolerance,
                       figure=os.path.join(args.out, f"{args.name}_repeat.png"))
    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, f"{args.name}.json")
    if args.replot:
        with open(path) as f:
            plot(json.load(f)["results"], os.path.join(args.out, f"{args.name}.png"))
        return 0
    cases = args.cases or all_cases()
    results, started = [], time.time()
    for case in cases:
        steps = args.steps or (2 if case in LARGE else 8)
        print(f"{case}: {', '.join(args.variants)}; {args.rounds} rounds of {steps} steps", flush=True)
        r = measure_case(case, args.variants, args.rounds, steps, args.batch, args.warmup, args)
        results.append(r)
        for v in r["variants"]:
            flagged = sum(t["flagged"] for t in v["turns"])
            print(f"  {v['variant']:22s} {v['seconds_per_step']:8.4f} s/step {v['images_per_second']:9.1f} img/s  "
                  f"x{v['time_vs_first_variant']:.2f}  {v['images_per_reference_gflop']:.3f} img/ref-GFLOP "
                  f"(reference {v['reference_gflops']:.0f} GFLOP/s)  peak {v['peak_rss_mb']:.0f} MB"
                  f"{f'  ({flagged} flagged turns)' if flagged else ''}", flush=True)
        info = {"cpus": os.cpu_count(), "minutes": (time.time() - started) / 60, "settings": vars(args),
                "results": results}
        with open(path, "w") as f:
            json.dump(info, f, indent=1)
    plot(results, os.path.join(args.out, f"{args.name}.png"))
    print("\n| case | batch | " + " | ".join(args.variants) + " | fastest | peak memory |")
    print("|---|---|" + "---|" * len(args.variants) + "---|---|")
    for r in results:
        row = {v["variant"]: v for v in r["variants"]}
        best = min(row.values(), key=lambda v: v["seconds_per_step"])
        cells = " | ".join(f"{row[v]['images_per_second']:.1f}" for v in args.variants)
        print(f"| {r['case']} | {r['batch']} | {cells} | {best['variant']} | {max(v['peak_rss_mb'] for v in row.values()):.0f} MB |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
