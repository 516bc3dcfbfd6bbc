#!/usr/bin/env python
"""Where the time of the PyTorch twin's training step goes (VLadder MNIST, batch 100, by default).

Run with the PyTorch venv's Python. The counterpart of ``tf_profile.py``, eager mode only:

1. Phases, interleaved over ``--rounds`` rounds (median seconds): the loss alone (forward, autograd
   recording on, as in training), loss + ``backward()``, and the full step (+ the optimizer's step).
2. ``torch.profiler`` over ``--trace-steps`` full steps: self CPU time per aten op, the top ``--top``.

Cases (``--case``): the harness's model cases (``vladder_mnist``, ``vae_mlp``, ``infovae``, ``lvae_mnist_3``,
``vlae``), each with its batch and optimizer (Adam; Adamax for ``lvae_mnist_3``).

    $TORCH_PYTHON benchmarks/pytorch/torch_profile.py [--case vladder_mnist] [--threads 2] [--fused-adam]

Prints the thread settings, the phase table and the op table.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

from bench import wait_for_quiet  # (standard library only)
from worker_common import BATCH, PRESETS  # (standard library only)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--case", default="vladder_mnist", choices=sorted(PRESETS))
    p.add_argument("--batch", type=int, default=None)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--fused-adam", action="store_true", help="Adam's fused CPU kernel (not for lvae_mnist_3: Adamax)")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--steps", type=int, default=3)
    p.add_argument("--trace-steps", type=int, default=3)
    p.add_argument("--top", type=int, default=15)
    p.add_argument("--quiet-threshold", type=float, default=0.15,
                   help="before each round and the trace, wait until other processes use less than this share "
                        "of the CPUs (1 = never wait)")
    p.add_argument("--max-wait", type=float, default=120.0)
    args = p.parse_args()

    import torch
    from torch.profiler import ProfilerActivity, profile
    from torch_models import CASES, example_images, make_optimizer

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    batch = args.batch or BATCH[args.case]
    model = CASES[args.case][0]().train()
    try:
        opt = make_optimizer(args.case, [q for q in model.parameters() if q.requires_grad], fused=args.fused_adam)
    except ValueError as e:
        p.error(str(e))
    x = example_images(args.case, batch)
    beta = torch.tensor(0.5)
    print(f"PyTorch {torch.__version__}; case {args.case} batch {batch}; intra-op {torch.get_num_threads()}, "
          f"inter-op {torch.get_num_interop_threads()}; {type(opt).__name__} (fused {args.fused_adam}); "
          f"load average {os.getloadavg()}",
          flush=True)

    def forward():
        return model.loss(x, beta).item()

    def forward_backward():
        opt.zero_grad(set_to_none=True)
        loss = model.loss(x, beta)
        loss.backward()
        return loss.item()

    def full():
        opt.zero_grad(set_to_none=True)
        loss = model.loss(x, beta)
        loss.backward()
        opt.step()
        return loss.item()

    phases = {"forward": forward, "forward+backward": forward_backward, "full step": full}
    for fn in phases.values():
        for _ in range(2):
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
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        t0 = time.perf_counter()
        for _ in range(args.trace_steps):
            full()
        wall = (time.perf_counter() - t0) / args.trace_steps
    n = args.trace_steps
    rows = sorted(prof.key_averages(), key=lambda e: e.self_cpu_time_total, reverse=True)
    total = sum(e.self_cpu_time_total for e in rows)
    print(f"\nop profile of {n} traced full steps ({1e3 * wall:.1f} ms/step wall while tracing; self CPU time "
          f"{total / 1e3 / n:.1f} ms/step):")
    print(f"  {'aten op':34s} {'ms/step':>8s} {'share':>6s} {'calls/step':>10s}")
    for e in rows[:args.top]:
        print(f"  {e.key[:34]:34s} {e.self_cpu_time_total / 1e3 / n:8.1f} {100 * e.self_cpu_time_total / total:5.1f}% "
              f"{e.count / n:10.0f}")
    rest = sum(e.self_cpu_time_total for e in rows[args.top:])
    print(f"  {'(other ops)':34s} {rest / 1e3 / n:8.1f} {100 * rest / total:5.1f}%")
    return 0


if __name__ == "__main__":
    sys.exit(main())
