#!/usr/bin/env python3
"""Interleaved training-speed benchmark: the project's TensorFlow step against a PyTorch twin, on one CPU.

Runs with any Python 3.9+ (standard library only). For each suite it starts one long-lived worker
process per contestant (``tf_worker.py`` under the TensorFlow venv, ``torch_worker.py`` under the
PyTorch venv), lets each build and warm up its step, then runs rounds: in every round each contestant
in turn times ``--steps`` consecutive training steps while the others wait idle, the order reversed
every other round (A B C, C B A, ...) so that slow drifts of the machine's load hit all alike. Only one
worker computes at any moment. Reported per contestant: median seconds/step over all timed steps,
images/s = batch / median, the interquartile range, and the ratio of each contestant to the suite's
reference (its first contestant) as the median over rounds of the per-round ratio of medians. Also
recorded: the load average per round, and the share of the machine's CPU time used by *other*
processes while each contestant ran (from /proc/stat and /proc/<pid>/stat, Linux only). On a shared
machine, ``--quiet-threshold`` waits before each turn for the machine to be nearly idle and
``--max-other`` throws away (and retries) a turn during which other processes took more than that
share of the CPUs; the rejected turns are listed in the JSON.

Where the suite ``matmul`` ran in the same invocation, each model's step is also given as achieved
GFLOP/s (analytic FLOPs of ``flops.py``) and as a fraction of that framework's measured matmul rate.

Usage (from the repository's root; the two Pythons come from arguments or the environment, never from this file;
the project timed is the one installed in the TensorFlow venv, ``pip install -e .`` of this clone):

    export TF_PYTHON=/path/to/tf-venv/bin/python         # venv with the project's requirements and the project
    export TORCH_PYTHON=/path/to/torch-venv/bin/python   # venv with requirements-bench.txt (torch, CPU)
    python3 benchmarks/pytorch/bench.py --suites matmul vladder vae_mlp infovae --rounds 6 --steps 5 \
        --out results.json --quiet-threshold 0.15 --max-wait 180 --max-other 0.1   # a machine shared with other jobs
    python3 benchmarks/pytorch/bench.py --suites vladder --contestants tf:vladder_mnist:function \
        tf:vladder_mnist:function:TF_ENABLE_ONEDNN_OPTS=1 torch:vladder_mnist:eager
    python3 benchmarks/pytorch/bench.py --suites lvae --contestants tf:lvae_mnist_3:function torch:lvae_mnist_3:eager

A contestant is ``FRAMEWORK:CASE:VARIANT[:NAME=VALUE[,NAME=VALUE...]]``: FRAMEWORK ``tf`` or ``torch``;
CASE ``vladder_mnist``, ``vae_mlp``, ``infovae``, ``lvae_mnist_3``, ``vlae`` or ``matmul`` (suites ``vladder``,
``vae_mlp``, ``infovae``, ``lvae``, ``vlae``, ``matmul``); VARIANT ``function``/``xla``/``eager``
(tf) or ``eager``/``compile``/``eager_fused`` (torch); the optional NAME=VALUE pairs are extra
environment variables for that worker (e.g. ``TF_ENABLE_ONEDNN_OPTS=1``, ``XLA_FLAGS=...``;
``PYTHONPATH=benchmarks/shims/fused_adam`` makes that TF contestant's Adam the project's default ``FusedAdam``;
relative ``PYTHONPATH`` entries are taken from the folder bench.py was started in), and items starting with
``--`` are extra worker options (e.g. ``--inter=1`` for TF's inter-op threads, ``--threads=1``,
``--vlae-formulation=original`` for the PyTorch VLAE computed as yookoon/VLAE computes it).

Prints, per suite, a table (contestant, batch, median s/step, img/s, IQR, ratio to the reference, other
processes' CPU share) and writes everything (every step time included) to ``--out`` as JSON.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import time

import flops  # analytic FLOP counts (standard library only)
from worker_common import REPO  # the repository this harness lives in (standard library only)

HERE = os.path.dirname(os.path.abspath(__file__))

SUITES = {
    "matmul": ["tf:matmul:eager", "torch:matmul:eager"],
    "vladder": ["tf:vladder_mnist:function", "tf:vladder_mnist:xla", "torch:vladder_mnist:eager",
                "torch:vladder_mnist:compile"],
    "vae_mlp": ["tf:vae_mlp:function", "tf:vae_mlp:xla", "torch:vae_mlp:eager", "torch:vae_mlp:compile"],
    "infovae": ["tf:infovae:function", "tf:infovae:xla", "torch:infovae:eager", "torch:infovae:compile"],
    "lvae": ["tf:lvae_mnist_3:function", "tf:lvae_mnist_3:xla", "torch:lvae_mnist_3:eager",
             "torch:lvae_mnist_3:compile"],
    "vlae": ["tf:vlae:function", "tf:vlae:xla", "torch:vlae:eager", "torch:vlae:compile"],
}


# ---------------------------------------------------------------------------------------------------
# CPU accounting (Linux /proc; silently absent elsewhere)
# ---------------------------------------------------------------------------------------------------
def _machine_busy_ticks():
    try:
        with open("/proc/stat") as f:
            fields = [int(v) for v in f.readline().split()[1:]]
    except OSError:
        return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    return sum(fields[:8]) - idle


def _process_ticks(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            rest = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return int(rest[11]) + int(rest[12])  # utime + stime (all threads)


# ---------------------------------------------------------------------------------------------------
# Workers
# ---------------------------------------------------------------------------------------------------
class Worker:
    """One contestant: a worker process speaking worker_common's line protocol."""

    def __init__(self, spec: str, args, log):
        parts = spec.split(":", 3)
        if len(parts) < 3 or parts[0] not in ("tf", "torch"):
            raise SystemExit(f"bad contestant {spec!r}: FRAMEWORK:CASE:VARIANT[:ENV=VAL,...]")
        self.spec, self.framework, self.case, self.variant = spec, parts[0], parts[1], parts[2]
        extras = parts[3].split(",") if len(parts) == 4 and parts[3] else []
        self.worker_args = [e for e in extras if e.startswith("--")]  # e.g. --inter=1
        self.extra_env = dict(e.split("=", 1) for e in extras if not e.startswith("--"))
        run_env = dict(self.extra_env)
        if "PYTHONPATH" in run_env:  # relative to where bench.py was started (the workers run in HERE)
            run_env["PYTHONPATH"] = os.pathsep.join(os.path.abspath(q) for q in run_env["PYTHONPATH"].split(os.pathsep))
        python = args.tf_python if self.framework == "tf" else args.torch_python
        if not python:
            raise SystemExit(f"no Python for {self.framework}: set --{self.framework}-python or "
                             f"{'TF_PYTHON' if self.framework == 'tf' else 'TORCH_PYTHON'}")
        script = os.path.join(HERE, "tf_worker.py" if self.framework == "tf" else "torch_worker.py")
        cmd = [python, script, "--case", self.case, "--variant", self.variant, "--threads", str(args.threads),
               "--warmup", str(args.warmup)]
        if self.framework == "tf":
            cmd += ["--inter", str(args.tf_inter)]
        cmd += self.worker_args  # later options win
        env = dict(os.environ)
        env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        env.update(run_env)
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log, text=True,
                                     env=env, cwd=HERE)
        self.info = self._read()
        if not self.info.get("ready"):
            raise SystemExit(f"{spec}: worker did not start: {self.info}")
        project = self.info.get("project")
        if project and os.path.realpath(project) != os.path.realpath(REPO):
            print(f"  note: {spec} times the project installed at {project}, not this repository ({REPO})",
                  flush=True)
        self.times, self.rounds, self.other_cpu = [], [], []

    def _read(self):
        line = self.proc.stdout.readline()
        if not line:
            raise SystemExit(f"{self.spec}: worker exited (rc {self.proc.poll()}); see the log file")
        return json.loads(line)

    def measure(self, steps: int):
        """Time ``steps`` steps; returns (times, share of the machine used by other processes or None)."""
        m0, p0, w0 = _machine_busy_ticks(), _process_ticks(self.proc.pid), time.monotonic()
        self.proc.stdin.write(json.dumps({"op": "run", "steps": steps}) + "\n")
        self.proc.stdin.flush()
        times = self._read()["times"]
        m1, p1, w1 = _machine_busy_ticks(), _process_ticks(self.proc.pid), time.monotonic()
        other = None
        if None not in (m0, m1, p0, p1):
            tick = os.sysconf("SC_CLK_TCK")
            other = max(0, (m1 - m0) - (p1 - p0)) / tick / max(w1 - w0, 1e-9) / (os.cpu_count() or 1)
        return times, other

    def accept(self, times, other):
        self.times += times
        self.rounds.append(statistics.median(times))
        if other is not None:
            self.other_cpu.append(other)

    def close(self):
        try:
            self.proc.stdin.write(json.dumps({"op": "quit"}) + "\n")
            self.proc.stdin.flush()
            self.proc.wait(timeout=60)
        except (OSError, subprocess.TimeoutExpired):
            self.proc.kill()


def machine_busy_share(seconds: float = 1.0):
    """Share of the machine's CPU time that was busy over the next ``seconds`` (None without /proc)."""
    b0, t0 = _machine_busy_ticks(), time.monotonic()
    time.sleep(seconds)
    b1, t1 = _machine_busy_ticks(), time.monotonic()
    if None in (b0, b1):
        return None
    return (b1 - b0) / os.sysconf("SC_CLK_TCK") / (t1 - t0) / (os.cpu_count() or 1)


def wait_for_quiet(threshold: float, max_wait: float):
    """Sleep until other processes use less than ``threshold`` of the machine (1 s samples), at most
    ``max_wait`` seconds. Our workers are idle meanwhile. Returns (seconds waited, last busy share)."""
    start = time.monotonic()
    while True:
        share = machine_busy_share()
        if share is None or share < threshold or time.monotonic() - start >= max_wait:
            return time.monotonic() - start, share


def quartiles(xs):
    q = statistics.quantiles(xs, n=4) if len(xs) > 1 else [xs[0]] * 3
    return q[0], q[2]


def run_suite(name, specs, args, log):
    print(f"\n== suite {name}: {len(specs)} contestants, {args.rounds} rounds x >= {args.steps} steps "
          f"(+{args.warmup} warm-up), {args.threads} intra-op threads", flush=True)
    workers = []
    try:
        for spec in specs:  # start one at a time: start-ups do not overlap
            t0 = time.monotonic()
            w = Worker(spec, args, log)
            workers.append(w)
            print(f"  ready {spec:55s} start+warm-up {time.monotonic() - t0:6.1f} s "
                  f"(warm-up {w.info['warmup_seconds']:.1f} s)", flush=True)
        for w in workers:  # steps per turn: at least --steps, and enough for --min-turn seconds
            times, _ = w.measure(3)
            w.steps = max(args.steps, math.ceil(args.min_turn / max(statistics.median(times), 1e-6)))
        print("  steps per turn: " + ", ".join(f"{w.steps}" for w in workers), flush=True)
        loads, waits, rejected = [], [], []
        for r in range(args.rounds):
            order = workers if r % 2 == 0 else workers[::-1]
            for w in order:
                for attempt in range(args.retries + 1):
                    if args.quiet_threshold < 1:
                        waited, share = wait_for_quiet(args.quiet_threshold, args.max_wait)
                        waits.append({"round": r + 1, "contestant": w.spec, "waited_s": waited,
                                      "busy_share_before": share})
                        if waited > 1.5:
                            print(f"  (waited {waited:.0f} s for a quieter machine; busy share now "
                                  f"{'-' if share is None else f'{100 * share:.0f}%'})", flush=True)
                    time.sleep(args.gap)
                    times, other = w.measure(w.steps)
                    if other is None or other <= args.max_other or attempt == args.retries:
                        w.accept(times, other)
                        break
                    rejected.append({"round": r + 1, "contestant": w.spec, "other_cpu_share": other,
                                     "median_s": statistics.median(times)})
                    print(f"  (turn of {w.spec} rejected: other processes used {100 * other:.0f}% of the CPUs; "
                          f"retrying)", flush=True)
            loads.append(os.getloadavg()[0] if hasattr(os, "getloadavg") else None)
            cells = "  ".join(f"{w.rounds[-1]:.3f}" for w in workers)
            print(f"  round {r + 1}/{args.rounds}: s/step {cells}   load1 {loads[-1]:.2f}", flush=True)
    finally:
        for w in workers:
            w.close()
    ref = workers[0]
    rows = []
    for w in workers:
        med = statistics.median(w.times)
        q1, q3 = quartiles(w.times)
        ratio = statistics.median(a / b for a, b in zip(w.rounds, ref.rounds))  # >1: slower than the reference
        row = {"contestant": w.spec, "framework": w.framework, "case": w.case, "variant": w.variant,
               "env": w.extra_env, "worker_args": w.worker_args, "batch": w.info["batch"], "median_s": med, "q1_s": q1, "q3_s": q3,
               "images_per_s": w.info["batch"] / med, "time_ratio_to_ref": ratio,
               "other_cpu_share_median": statistics.median(w.other_cpu) if w.other_cpu else None,
               "steps_per_turn": w.steps, "round_medians_s": w.rounds, "times_s": w.times, "info": w.info}
        rows.append(row)
    print(f"\n  {'contestant':55s} {'batch':>5s} {'s/step':>8s} {'img/s|GF/s':>9s} {'IQR s':>15s} "
          f"{'x ref time':>10s} {'other CPU':>9s}")
    for row in rows:
        rate = row["images_per_s"] if row["case"] != "matmul" else flops.matmul_flops(row["batch"]) / row["median_s"] / 1e9
        unit = "" if row["case"] != "matmul" else " GF/s"
        other = f"{100 * row['other_cpu_share_median']:.0f}%" if row["other_cpu_share_median"] is not None else "-"
        print(f"  {row['contestant']:55s} {row['batch']:5d} {row['median_s']:8.4f} {rate:9.1f}{unit} "
              f"{row['q1_s']:7.4f}-{row['q3_s']:7.4f} {row['time_ratio_to_ref']:10.3f} {other:>9s}")
    return {"suite": name, "rows": rows, "load1_per_round": loads, "quiet_waits": waits, "rejected_turns": rejected}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--suites", nargs="+", default=["matmul", "vladder", "vae_mlp", "infovae"], choices=sorted(SUITES),
                   help="the suites to run (default: matmul vladder vae_mlp infovae; lvae and vlae on request)")
    p.add_argument("--contestants", nargs="+",
                   help="replace the suite's contestants (one suite only): each FRAMEWORK:CASE:VARIANT[:EXTRA,...] "
                        "with FRAMEWORK tf|torch, CASE vladder_mnist|vae_mlp|infovae|lvae_mnist_3|vlae|matmul, VARIANT "
                        "function|xla|eager (tf) or eager|compile|eager_fused (torch), EXTRA an environment "
                        "variable NAME=VALUE or a worker option --NAME=VALUE (README.md beside this file)")
    p.add_argument("--rounds", type=int, default=6)
    p.add_argument("--steps", type=int, default=5, help="timed steps per contestant per round (at least)")
    p.add_argument("--min-turn", type=float, default=1.0,
                   help="more steps per turn for fast steps, so that a turn lasts at least this many seconds "
                        "(calibrated on 3 steps after warm-up)")
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--threads", type=int, default=2, help="intra-op threads of both frameworks")
    p.add_argument("--tf-inter", type=int, default=0, help="TF inter-op threads (0: TF's default)")
    p.add_argument("--gap", type=float, default=0.5, help="seconds of idle between turns")
    p.add_argument("--quiet-threshold", type=float, default=1.0,
                   help="before each turn wait until the machine is busy less than this share of its CPUs "
                        "(e.g. 0.15; 1 = never wait)")
    p.add_argument("--max-wait", type=float, default=300.0, help="longest wait for a quiet machine per turn (s)")
    p.add_argument("--max-other", type=float, default=1.0,
                   help="reject and retry a turn during which other processes used more than this share of the "
                        "CPUs (e.g. 0.1; 1 = keep every turn)")
    p.add_argument("--retries", type=int, default=3, help="retries of a rejected turn (the last try is kept)")
    p.add_argument("--tf-python", default=os.environ.get("TF_PYTHON"),
                   help="Python of the venv with the project's requirements and the project installed "
                        "(default: $TF_PYTHON)")
    p.add_argument("--torch-python", default=os.environ.get("TORCH_PYTHON"),
                   help="Python of the venv with requirements-bench.txt (default: $TORCH_PYTHON)")
    p.add_argument("--out", help="JSON file for all results")
    p.add_argument("--log", default=None, help="file for the workers' stderr (default: bench_workers.log beside --out "
                                              "or in the current folder)")
    args = p.parse_args()
    if args.contestants and len(args.suites) != 1:
        p.error("--contestants replaces one suite's contestants: give exactly one --suites")
    log_path = args.log or os.path.join(os.path.dirname(os.path.abspath(args.out)) if args.out else os.getcwd(),
                                        "bench_workers.log")
    print(f"machine: {platform.machine()} {platform.processor() or ''} {os.cpu_count()} CPUs; "
          f"load average at start {os.getloadavg()}; workers' stderr -> {log_path}")
    results = {"started": time.strftime("%Y-%m-%d %H:%M:%S"), "cpus": os.cpu_count(),
               "load_at_start": os.getloadavg(), "args": {k: v for k, v in vars(args).items()
                                                          if k not in ("tf_python", "torch_python")},
               "suites": []}
    with open(log_path, "a") as log:
        for name in args.suites:
            specs = args.contestants or SUITES[name]
            results["suites"].append(run_suite(name, specs, args, log))
    results["load_at_end"] = os.getloadavg()
    # utilisation: each model step's analytic FLOPs against the same framework's measured matmul rate
    peaks = {}
    for suite in results["suites"]:
        for row in suite["rows"]:
            if row["case"] == "matmul" and not row["env"]:
                peaks[row["framework"]] = flops.matmul_flops(row["batch"]) / row["median_s"]
    if peaks:
        best = max(peaks.values())
        print("\nmatmul 2048 (measured, this run): " + ", ".join(f"{k} {v / 1e9:.1f} GFLOP/s" for k, v in peaks.items()))
        print(f"  {'contestant':55s} {'GFLOP/step':>10s} {'GFLOP/s':>8s} {'of own mm':>9s} {'of best mm':>10s}")
        for suite in results["suites"]:
            for row in suite["rows"]:
                if row["case"] == "matmul":
                    continue
                f = flops.train_step_flops(row["case"], row["batch"])
                achieved = f / row["median_s"]
                own = peaks.get(row["framework"])
                row.update(step_flops=f, achieved_flops_per_s=achieved,
                           utilisation_own_matmul=achieved / own if own else None,
                           utilisation_best_matmul=achieved / best)
                own_s = f"{100 * achieved / own:8.1f}%" if own else "        -"
                print(f"  {row['contestant']:55s} {f / 1e9:10.2f} {achieved / 1e9:8.1f} {own_s} "
                      f"{100 * achieved / best:9.1f}%")
    print(f"\nload average at end {os.getloadavg()}")
    if args.out:
        with open(args.out, "w") as f:
            json.dump(results, f, indent=1)
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
