#!/usr/bin/env python
"""What Keras 3's Adam costs in the project's VLadder MNIST step, against TensorFlow's fused Adam kernel.

Run with the TensorFlow venv's Python, in which the project is installed (``pip install -e .``). Three steps on
the same model and batch (100 x 28x28x1), timed interleaved over ``--rounds`` rounds after warm-up (medians
printed):

* ``project``: the project's own step (``hvae.trainer.Trainer._build_step()``, Keras 3 ``Adam``, which
  updates each variable with ~12 separate element-wise ops);
* ``fused``: the same loss, gradients, global norm and iteration counter, but every variable updated by
  one ``tf.raw_ops.ResourceApplyAdam`` (TensorFlow's fused, multi-threaded Adam kernel, the one tf.keras
  2 used) with the same hyper-parameters (2e-4, 0.9, 0.999, 1e-8);
* ``no update``: loss, gradients and global norm only (the floor).

    $TF_PYTHON benchmarks/pytorch/tf_adam_experiment.py [--variant function|xla] [--rounds 6]
    TF_ENABLE_ONEDNN_OPTS=1 $TF_PYTHON benchmarks/pytorch/tf_adam_experiment.py

Prints the medians (ms/step, img/s) and the machine's busy share before each round.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time

from bench import wait_for_quiet  # (standard library only)
from worker_common import build_model, find_project


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--variant", default="function", choices=("function", "xla"))
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--rounds", type=int, default=6)
    p.add_argument("--steps", type=int, default=4)
    p.add_argument("--quiet-threshold", type=float, default=0.15)
    p.add_argument("--max-wait", type=float, default=120.0)
    args = p.parse_args()
    find_project(os.path.basename(__file__))
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras
    import tensorflow as tf

    from hvae.trainer import Trainer

    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    batch = 100
    tf.random.set_seed(0)
    model = build_model("vladder_mnist")
    optimizer = keras.optimizers.Adam(2e-4, beta_1=0.9, beta_2=0.999, epsilon=1e-8)
    optimizer.build(model.trainable_variables)

    def loss_terms(images, labels, iteration):
        return model.loss_terms(images, labels, iteration, training=True)

    tmp = tempfile.TemporaryDirectory(prefix="tfadam_")
    trainer = Trainer(model, optimizer, None, loss_terms, batch_size=batch, run_dir=tmp.name,
                      compile_mode=args.variant)
    project_step = trainer._build_step()

    variables = model.trainable_variables
    slots_m = [tf.Variable(tf.zeros(v.shape), trainable=False) for v in variables]
    slots_v = [tf.Variable(tf.zeros(v.shape), trainable=False) for v in variables]
    counter = tf.Variable(0, dtype=tf.int64, trainable=False)
    jit = args.variant == "xla"

    def grads_of(x):
        with tf.GradientTape() as tape:
            terms = model.loss_terms(x, None, counter + 1, training=True)
        grads = tape.gradient(terms["loss"], variables)
        return terms, grads, tf.linalg.global_norm(grads)

    @tf.function(autograph=False, jit_compile=jit)
    def fused_step(x):
        terms, grads, norm = grads_of(x)
        t = tf.cast(counter + 1, tf.float32)
        b1p, b2p = tf.pow(0.9, t), tf.pow(0.999, t)
        for v, m, s, g in zip(variables, slots_m, slots_v, grads):
            tf.raw_ops.ResourceApplyAdam(var=v.value.handle, m=m.handle, v=s.handle, beta1_power=b1p,
                                         beta2_power=b2p, lr=2e-4, beta1=0.9, beta2=0.999, epsilon=1e-8, grad=g)
        counter.assign_add(1)
        return terms["loss"] + 0.0 * norm

    @tf.function(autograph=False, jit_compile=jit)
    def no_update(x):
        terms, _, norm = grads_of(x)
        return terms["loss"] + 0.0 * norm

    x = tf.random.uniform((batch, 28, 28, 1), 0.0, 1.0, seed=3)
    labels = tf.zeros((batch,), tf.int64)
    steps = {"project (Keras 3 Adam)": lambda: float(project_step(x, labels)["loss"]),
             "fused ResourceApplyAdam": lambda: float(fused_step(x)),
             "no update (loss+grads+norm)": lambda: float(no_update(x))}
    for fn in steps.values():
        for _ in range(3):
            fn()
    times, busy = {k: [] for k in steps}, []
    for r in range(args.rounds):
        busy.append(wait_for_quiet(args.quiet_threshold, args.max_wait)[1] if args.quiet_threshold < 1 else None)
        for name in (list(steps) if r % 2 == 0 else list(steps)[::-1]):
            for _ in range(args.steps):
                t0 = time.perf_counter()
                steps[name]()
                times[name].append(time.perf_counter() - t0)
    print(f"TensorFlow {tf.__version__}, variant {args.variant}, TF_ENABLE_ONEDNN_OPTS="
          f"{os.environ.get('TF_ENABLE_ONEDNN_OPTS', 'unset')}, {args.rounds} rounds x {args.steps} steps; machine busy "
          f"before each round: {', '.join('-' if b is None else f'{100 * b:.0f}%' for b in busy)}")
    for name, ts in times.items():
        med = statistics.median(ts)
        print(f"  {name:30s} {1e3 * med:8.1f} ms/step  {batch / med:7.1f} img/s")
    tmp.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
