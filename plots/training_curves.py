#!/usr/bin/env python
"""Any run's TensorBoard scalars against iterations, one panel per group of tags (the README's training curves).

Reads every ``events.out.tfevents.*`` file of a run folder (``model/<netname>/``; a resumed run writes one file per
start, and a tag logged twice at one iteration keeps the later value) with TensorBoard's own event reader, and
draws each ``--panel`` (comma-separated tags) in its own axes. Training scalars, logged every ``--log_frequency``
iterations, are drawn thin with a running mean over ``--smooth`` points; validation scalars (tags starting with
``validation/`` or ``test/``, logged at every visualisation point) as markers.

    python plots/training_curves.py --run model/LVAE_binarized_mnist \\
        --panel elbo,validation/elbo --panel kl/layer0,kl/layer1,kl/layer2 --from_iteration 200 \\
        --out plots/lvae_mnist_3_curves.png

Units are the tags' own (the project's ELBO and KL: nats per image). Exit 2 with one line when the run folder
holds no event file or a tag is not in it.
"""

from __future__ import annotations

import argparse
import glob
import os
import sys

import numpy as np


def read_scalars(run_dir: str) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Every scalar tag of a run: ``{tag: (iterations int64 [n], values float64 [n])}``, sorted by iteration.

    Reads the TF2 summaries (``tf.summary.scalar`` stores tensors) and the TF1 ones (simple values) of every event
    file in ``run_dir`` (not its subfolders). Raises ``FileNotFoundError`` when there is no event file.
    """
    from tensorboard.backend.event_processing import event_accumulator as ea
    from tensorboard.util import tensor_util

    files = sorted(glob.glob(os.path.join(run_dir, "events.out.tfevents.*")))
    if not files:
        raise FileNotFoundError(f"no TensorBoard event file in {run_dir}/")
    points: dict[str, dict[int, float]] = {}
    for path in files:  # event files are named by start time: later starts overwrite earlier values
        acc = ea.EventAccumulator(path, size_guidance={ea.TENSORS: 0, ea.SCALARS: 0})
        acc.Reload()
        tags = acc.Tags()
        for tag in tags.get("tensors", []):
            for event in acc.Tensors(tag):
                value = tensor_util.make_ndarray(event.tensor_proto)
                if value.size == 1:
                    points.setdefault(tag, {})[int(event.step)] = float(value.reshape(()))
        for tag in tags.get("scalars", []):
            for event in acc.Scalars(tag):
                points.setdefault(tag, {})[int(event.step)] = float(event.value)
    out = {}
    for tag, by_step in points.items():
        steps = np.array(sorted(by_step), dtype=np.int64)
        out[tag] = (steps, np.array([by_step[s] for s in steps], dtype=np.float64))
    return out


def running_mean(values: np.ndarray, window: int) -> np.ndarray:
    """Mean of the last ``window`` values at each point (fewer at the start); same length as ``values``."""
    if window <= 1 or len(values) == 0:
        return values
    c = np.cumsum(np.insert(values, 0, 0.0))
    idx = np.arange(1, len(values) + 1)
    lo = np.maximum(idx - window, 0)
    return (c[idx] - c[lo]) / (idx - lo)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--run", required=True, help="a run folder, model/<netname>/")
    p.add_argument("--panel", action="append", required=True,
                   help="comma-separated tags drawn in one panel (repeat for more panels)")
    p.add_argument("--smooth", type=int, default=10, help="running mean over this many logged training points")
    p.add_argument("--from_iteration", type=int, default=0,
                   help="draw from this iteration on (the first steps' large losses flatten the rest)")
    p.add_argument("--title", default=None)
    p.add_argument("--out", required=True, help="the PNG to write")
    args = p.parse_args(argv)
    try:
        scalars = read_scalars(args.run)
    except FileNotFoundError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    panels = [[t.strip() for t in spec.split(",") if t.strip()] for spec in args.panel]
    missing = [t for tags in panels for t in tags if t not in scalars]
    if missing:
        print(f"error: {args.run} has no scalar {', '.join(missing)} (it has: {', '.join(sorted(scalars))})",
              file=sys.stderr)
        return 2
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(panels), figsize=(5.2 * len(panels), 3.8), squeeze=False)
    for ax, tags in zip(axes[0], panels):
        colours = {}
        for tag in tags:
            steps, values = scalars[tag]
            keep = steps >= args.from_iteration
            steps, values = steps[keep], values[keep]
            if tag.startswith(("validation/", "test/")):  # the training tag's colour, where it is drawn too
                base = tag.split("/", 1)[1]
                ax.plot(steps, values, "o--", label=tag, zorder=3, color=colours.get(base), markeredgecolor="k")
            else:
                line, = ax.plot(steps, values, lw=0.6, alpha=0.35)
                colours[tag] = line.get_color()
                ax.plot(steps, running_mean(values, args.smooth), color=line.get_color(), lw=1.6,
                        label=f"{tag} (running mean of {args.smooth})" if args.smooth > 1 else tag)
        ax.set_xlabel("iteration")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(args.title or os.path.basename(os.path.normpath(args.run)), fontsize=10)
    fig.tight_layout()
    os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
    fig.savefig(args.out, dpi=110)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
