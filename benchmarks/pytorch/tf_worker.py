"""TensorFlow side of the benchmark: the project's own training step, served to ``bench.py``.

Started by ``bench.py`` with the TensorFlow venv's Python, in which the project is installed (``pip install -e .``
from the clone, as the README's set-up); the step is built exactly as ``benchmarks/train_speed.py`` builds it:

* ``vladder_mnist``: the project's preset ``vladder_mnist`` (``models.from_preset``), Keras Adam(2e-4, eps 1e-8),
  the step of ``hvae.trainer.Trainer._build_step()`` (forward, loss, gradients, Adam update,
  iteration += 1), batch 100 of 28x28x1 uniform [0, 1) images.
* ``vae_mlp`` / ``infovae``: ``models.vae_collection.VAE`` / ``InfoVAE`` at (28, 28, 1), latent 200, Adam
  as the project's collection task (beta1 0.5, eps 1e-8, lr 1e-4 / 1e-3), the same trainer step, batch 64.
* ``lvae_mnist_3``: the preset ``LVAE_mnist_3`` (``models/lvae.py``, 3,209,153 parameters), Keras Adamax(3e-4,
  eps 1e-8) as ``hvae/lvae_task.py``, batch 64 of binary 28x28x1 images (20% ones). The preset's data-dependent
  initialisation (a one-off on the first batch of a run, ``LVAETask.on_start``) is not part of the step and not run.
* ``vlae``: the preset ``VLAE_binarized_mnist`` (``models/laplace_vae.py``, T = 4 mode updates, 1,361,884
  parameters), Keras Adam(5e-4, eps 1e-8) as ``hvae/laplace_task.py``, batch 128 of binary images (20% ones).
* ``matmul``: ``tf.linalg.matmul`` of two fixed 2048x2048 float32 matrices (one matmul per "step").

Variants (``--variant``): ``function`` (tf.function, the project's default), ``xla``
(``compile_mode='xla'``: the replica step in ``tf.function(jit_compile=True)``) and ``eager``.

Threads: ``--threads`` sets TensorFlow's intra-op pool (``tf.config.threading``); ``--inter`` the
inter-op pool (0 = TensorFlow's default, one per core). Environment variables such as
``TF_ENABLE_ONEDNN_OPTS`` or ``XLA_FLAGS`` are passed through by ``bench.py``.

Manual use (prints the protocol's ready line, then waits for commands on stdin):

    $TF_PYTHON benchmarks/pytorch/tf_worker.py --case vladder_mnist --variant function
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile

from worker_common import BATCH, build_model, find_project, protocol_channel, serve, tf_images, tf_training, warm_up


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--case", required=True, choices=sorted(BATCH))
    p.add_argument("--variant", default="function", choices=("function", "xla", "eager"))
    p.add_argument("--batch", type=int, default=None)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--inter", type=int, default=0)
    p.add_argument("--warmup", type=int, default=5)
    args = p.parse_args()
    out = protocol_channel()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    project = find_project("tf_worker") if args.case != "matmul" else None

    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    tf.config.threading.set_inter_op_parallelism_threads(args.inter)
    batch = args.batch or BATCH[args.case]
    info = {"framework": "tensorflow", "version": tf.__version__, "case": args.case, "variant": args.variant,
            "batch": batch, "intra_op_threads": args.threads, "inter_op_threads": args.inter,
            "onednn_env": os.environ.get("TF_ENABLE_ONEDNN_OPTS", "(unset)")}
    if project:
        info["project"] = project
    try:
        from tensorflow.python.util import _pywrap_util_port

        info["onednn_enabled"] = bool(_pywrap_util_port.IsMklEnabled())
    except Exception:  # private API: best effort
        pass

    if args.case == "matmul":
        a = tf.random.normal((batch, batch), seed=1)
        b = tf.random.normal((batch, batch), seed=2)

        def step():
            c = tf.linalg.matmul(a, b)
            return float(c[0, 0])

        info["flops_per_step"] = 2.0 * batch ** 3
    else:
        from hvae.trainer import Trainer

        tf.random.set_seed(0)
        model = build_model(args.case)
        optimizer, call = tf_training(args.case, model)
        optimizer.build(model.trainable_variables)
        # keras.optimizers.Adam (or Adamax), or hvae.optimizers.FusedAdam where benchmarks/shims/fused_adam is on
        # PYTHONPATH
        info["optimizer"] = f"{type(optimizer).__module__}.{type(optimizer).__name__}"
        info["trainable_parameters"] = int(sum(int(v.shape.num_elements()) for v in model.trainable_variables))
        run_dir = tempfile.TemporaryDirectory(prefix="tfbench_")  # checkpoints are never written; removed at exit
        trainer = Trainer(model, optimizer, None, call, batch_size=batch, run_dir=run_dir.name,
                          compile_mode=args.variant)
        train_step = trainer._build_step()
        images = tf_images(args.case, batch)
        labels = tf.zeros((batch,), tf.int64)

        def step():
            return float(train_step(images, labels)["loss"])

    info["warmup_steps"] = args.warmup
    info["warmup_seconds"] = warm_up(step, args.warmup)
    serve(out, step, info)
    return 0


if __name__ == "__main__":
    sys.exit(main())
