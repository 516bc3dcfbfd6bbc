#!/usr/bin/env python
"""Where the time of the project's TensorFlow training step goes (VLadder MNIST, batch 100, by default).

Run with the TensorFlow venv's Python, in which the project is installed (``pip install -e .``). Environment
variables that change TensorFlow (``TF_ENABLE_ONEDNN_OPTS=1``, ``XLA_FLAGS=...``) are read by TensorFlow itself:
set them on the command line to compare (``PYTHONPATH=benchmarks/shims/fused_adam`` times the project's default
optimizer, ``FusedAdam``, instead of Keras's ``Adam``).

1. Phases, interleaved over ``--rounds`` rounds (median seconds): the loss alone (forward, in
   ``tf.function``), loss + gradients (forward + backward, no update), and the project's full trainer
   step (``hvae.trainer.Trainer._build_step()``, which adds the global norm, the optimizer and the counter).
   Backward = (fwd+bwd) - fwd; update = step - (fwd+bwd).
2. An op-level profile of ``--trace-steps`` full steps with ``tf.profiler.experimental`` (the trace's
   XPlane is parsed here: time per TensorFlow op type summed over the executor's threads, the top
   ``--top`` printed with their share, calls per step and ms per step; then the same time split by
   name scope into forward, backward, optimizer and gradient norm). Ops of the two inter-op threads
   overlap, so the summed op time exceeds the wall time; the shares are what to read.
Before each round and the trace it waits (at most ``--max-wait`` s) for other processes to leave the
machine nearly idle (``--quiet-threshold``).

    $TF_PYTHON benchmarks/pytorch/tf_profile.py [--case vladder_mnist] [--variant function|xla]
    TF_ENABLE_ONEDNN_OPTS=1 $TF_PYTHON benchmarks/pytorch/tf_profile.py   # the same with oneDNN kernels

Prints the thread settings and whether oneDNN is on, the phase table and the op table.
"""

from __future__ import annotations

import argparse
import collections
import glob
import os
import statistics
import sys
import tempfile
import time

from bench import wait_for_quiet  # (standard library only)
from worker_common import BATCH, PRESETS, build_model, find_project, tf_images, tf_training


def build(case, variant, batch):
    import tensorflow as tf

    from hvae.trainer import Trainer

    tf.random.set_seed(0)
    model = build_model(case)
    optimizer, terms = tf_training(case, model)
    loss_terms = lambda x, t: terms(x, None, t)
    optimizer.build(model.trainable_variables)

    tmp = tempfile.TemporaryDirectory(prefix="tfprof_")
    trainer = Trainer(model, optimizer, None, lambda images, labels, iteration: loss_terms(images, iteration),
                      batch_size=batch, run_dir=tmp.name, compile_mode=variant)
    step = trainer._build_step()
    variables = model.trainable_variables
    jit = variant == "xla"

    @tf.function(autograph=False, jit_compile=jit)
    def forward(x):
        return loss_terms(x, 1)["loss"]

    @tf.function(autograph=False, jit_compile=jit)
    def forward_backward(x):
        with tf.GradientTape() as tape:
            loss = loss_terms(x, 1)["loss"]
        return tf.linalg.global_norm(tape.gradient(loss, variables))

    x = tf_images(case, batch)
    labels = tf.zeros((batch,), tf.int64)
    phases = {"forward": lambda: float(forward(x)), "forward+backward": lambda: float(forward_backward(x)),
              "full step": lambda: float(step(x, labels)["loss"])}
    return phases, tmp


def parse_xplane(logdir, steps):
    """Sum the durations of op events (named 'name:OpType') per op type over the executor's threads."""
    from tensorflow.tsl.profiler.protobuf import xplane_pb2

    files = glob.glob(os.path.join(logdir, "**", "*.xplane.pb"), recursive=True)
    per_type, calls, per_part = collections.Counter(), collections.Counter(), collections.Counter()
    for path in files:
        space = xplane_pb2.XSpace()
        with open(path, "rb") as f:
            space.ParseFromString(f.read())
        for plane in space.planes:
            if not plane.name.startswith("/host:CPU"):
                continue
            for line in plane.lines:
                if not line.name.startswith("tf_Compute"):
                    continue
                for ev in line.events:
                    md = plane.event_metadata[ev.metadata_id]
                    if ":" not in md.name or "::" in md.name:
                        continue
                    op_type = md.display_name or md.name.rsplit(":", 1)[1]
                    per_type[op_type] += ev.duration_ps / 1e12
                    calls[op_type] += 1
                    per_part[_part(md.name, op_type)] += ev.duration_ps / 1e12
    return per_type, calls, per_part


def _part(name, op_type):
    """Which part of the step an op belongs to, from its name scope."""
    scope = name.split("/", 1)[0].lower()
    if scope.startswith("gradient_tape") or op_type == "AddN":
        return "backward (gradient_tape/*, AddN)"
    if scope.startswith("adam"):  # adam/* (and adamax/*)
        return "optimizer (adam/*)"
    if "global_norm" in name or op_type == "L2Loss":
        return "gradient norm (global_norm)"
    return "forward, loss and the rest"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--case", default="vladder_mnist", choices=sorted(PRESETS))
    p.add_argument("--variant", default="function", choices=("function", "xla"))
    p.add_argument("--batch", type=int, default=None)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--inter", type=int, default=0)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--steps", type=int, default=3, help="timed calls per phase per round")
    p.add_argument("--trace-steps", type=int, default=3)
    p.add_argument("--top", type=int, default=15)
    p.add_argument("--quiet-threshold", type=float, default=0.15,
                   help="before each round and the trace, wait until other processes use less than this share "
                        "of the CPUs (1 = never wait)")
    p.add_argument("--max-wait", type=float, default=120.0)
    args = p.parse_args()
    find_project(os.path.basename(__file__))
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    tf.config.threading.set_inter_op_parallelism_threads(args.inter)
    try:
        from tensorflow.python.util import _pywrap_util_port

        onednn = bool(_pywrap_util_port.IsMklEnabled())
    except Exception:
        onednn = "unknown"
    batch = args.batch or BATCH[args.case]
    print(f"TensorFlow {tf.__version__}; case {args.case} batch {batch} variant {args.variant}; intra-op "
          f"{args.threads}, inter-op {args.inter or 'default'}; oneDNN enabled: {onednn} "
          f"(TF_ENABLE_ONEDNN_OPTS={os.environ.get('TF_ENABLE_ONEDNN_OPTS', 'unset')}); "
          f"XLA_FLAGS={os.environ.get('XLA_FLAGS', 'unset')}; load average {os.getloadavg()}", flush=True)
    phases, tmp = build(args.case, args.variant, batch)
    for fn in phases.values():  # trace / compile, warm up
        for _ in range(3):
            fn()
    times = {k: [] for k in phases}
    busy = []
    for r in range(args.rounds):
        busy.append(wait_for_quiet(args.quiet_threshold, args.max_wait)[1] if args.quiet_threshold < 1 else None)
        for name in (list(phases) if r % 2 == 0 else list(phases)[::-1]):
            for _ in range(args.steps):
                t0 = time.perf_counter()
                phases[name]()
                times[name].append(time.perf_counter() - t0)
    med = {k: statistics.median(v) for k, v in times.items()}
    print(f"\nphase medians over {args.rounds} x {args.steps} calls (load average now {os.getloadavg()[0]:.2f}; "
          f"machine busy before each round: {', '.join('-' if b is None else f'{100 * b:.0f}%' for b in busy)}):")
    print(f"  forward              {1e3 * med['forward']:8.1f} ms")
    print(f"  backward (diff)      {1e3 * (med['forward+backward'] - med['forward']):8.1f} ms")
    print(f"  update etc. (diff)   {1e3 * (med['full step'] - med['forward+backward']):8.1f} ms")
    print(f"  full step            {1e3 * med['full step']:8.1f} ms  = {batch / med['full step']:.1f} img/s")

    if args.quiet_threshold < 1:
        wait_for_quiet(args.quiet_threshold, args.max_wait)
    logdir = tempfile.mkdtemp(prefix="tftrace_")
    tf.profiler.experimental.start(logdir)
    t0 = time.perf_counter()
    for _ in range(args.trace_steps):
        phases["full step"]()
    wall = (time.perf_counter() - t0) / args.trace_steps
    tf.profiler.experimental.stop()
    per_type, calls, per_part = parse_xplane(logdir, args.trace_steps)
    total = sum(per_type.values())
    n = args.trace_steps
    print(f"\nop profile of {n} traced full steps ({1e3 * wall:.1f} ms/step wall while tracing; op time summed "
          f"over executor threads {1e3 * total / n:.1f} ms/step):")
    print(f"  {'op type':34s} {'ms/step':>8s} {'share':>6s} {'calls/step':>10s}")
    for op, sec in per_type.most_common(args.top):
        print(f"  {op:34s} {1e3 * sec / n:8.1f} {100 * sec / total:5.1f}% {calls[op] / n:10.0f}")
    rest = total - sum(s for _, s in per_type.most_common(args.top))
    print(f"  {'(other op types)':34s} {1e3 * rest / n:8.1f} {100 * rest / total:5.1f}%")
    print(f"\n  {'part of the step (by name scope)':34s} {'ms/step':>8s} {'share':>6s}")
    for part, sec in per_part.most_common():
        print(f"  {part:34s} {1e3 * sec / n:8.1f} {100 * sec / total:5.1f}%")
    tmp.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
