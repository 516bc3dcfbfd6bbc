"""The line protocol shared by ``tf_worker.py`` and ``torch_worker.py``, the harness's cases (presets, batches,
binary images), and where the TensorFlow side finds the project and how it trains each case (standard library
only; TensorFlow is imported by the functions that need it).

A worker builds one model and its training step, warms it up, then answers the orchestrator
(``bench.py``) one JSON object per line:

    <- {"ready": true, ...facts about the worker...}     once, after warm-up
    -> {"op": "run", "steps": N}                        time N steps, one at a time
    <- {"times": [seconds, ...]}
    -> {"op": "quit"}

File descriptor 1 is kept for the protocol only: anything the libraries print goes to stderr.

The TensorFlow scripts time the project as it is installed in the TensorFlow venv (``pip install -e .`` from
the clone, the README's set-up), and say so where that installed copy is not the clone this harness lives in.
A helper module: not meant to be run by hand.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
import time

# benchmarks/pytorch/ -> the repository this harness belongs to
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def find_project(prog: str) -> str:
    """The root folder of the installed project (the folder that holds ``hvae/``); exits if it is not installed.

    Only located, not imported: importing ``hvae`` gives TensorFlow's start-up variables the project's defaults
    (``hvae/environment.py``: oneDNN on), and the harness imports TensorFlow first so that each contestant runs
    with exactly the environment ``bench.py`` gave it, as TensorFlow itself would (``TF_ENABLE_ONEDNN_OPTS=1``
    is then a contestant's own setting). Warns on stderr where the installed project is another folder than
    the repository this harness lives in.
    """
    spec = importlib.util.find_spec("hvae")
    if spec is None or not spec.origin:
        sys.exit(f"{prog}: the project (package hvae) is not installed in this Python ({sys.executable}): "
                 f"install it in the TensorFlow venv, e.g. `pip install -r requirements.txt -e .` in {REPO}")
    root = os.path.dirname(os.path.dirname(os.path.abspath(spec.origin)))
    if os.path.realpath(root) != os.path.realpath(REPO):
        print(f"{prog}: note: timing the project installed at {root}, not this harness's repository {REPO}",
              file=sys.stderr)
    return root


# the harness's model cases -> the project's presets: the same models as benchmarks/train_speed.py's cases
PRESETS = {"vladder_mnist": "vladder_mnist", "vae_mlp": "VAE_mnist", "infovae": "InfoVAE_mnist",
           "lvae_mnist_3": "LVAE_mnist_3", "vlae": "VLAE_binarized_mnist"}
# every case's batch, on both sides (each family's command-line default; matmul: the matrix size)
BATCH = {"vladder_mnist": 100, "vae_mlp": 64, "infovae": 64, "lvae_mnist_3": 64, "vlae": 128, "matmul": 2048}
# the cases of binarized MNIST: binary images, ones with this probability (benchmarks/cases.py's binary images);
# the other cases' images are uniform in [0, 1)
BINARY_IMAGES = {"lvae_mnist_3": 0.2, "vlae": 0.2}


def build_model(case: str):
    """The project's model of ``case`` (28x28x1 images in [0, 1]), built: ``models.from_preset``, the family's own
    preset, so that the harness follows the project's constructors. Imports the project (and TensorFlow)."""
    from hvae import models

    return models.from_preset(PRESETS[case], value_range=(0.0, 1.0))


def tf_training(case: str, model):
    """``(optimizer, loss_terms)`` of ``case`` as the project's command line trains it (the TF scripts' step):
    ``loss_terms(images, labels, iteration)`` is the model's objective in training mode (the labels reach the
    VLadder only, the others are unconditional), the optimizer Keras's with the family's constants, its variables
    not yet built:

    * ``vladder_mnist``: Adam(2e-4, 0.9, 0.999, eps 1e-8); ``vae_mlp`` / ``infovae``: Adam(the model class's
      rate, beta1 0.5, 0.999, eps 1e-8), as the collection task;
    * ``lvae_mnist_3``: Adamax(3e-4, 0.9, 0.999, eps 1e-8), as ``hvae/lvae_task.py`` (no ``--max_grad_norm``);
    * ``vlae``: Adam(5e-4, 0.9, 0.999, eps 1e-8), as ``hvae/laplace_task.py``.

    Keras's ``Adam``: where ``benchmarks/shims/fused_adam`` is on ``PYTHONPATH`` it is the project's default
    ``hvae.optimizers.FusedAdam``; the LVAE's Adamax is the project's default as it is.
    """
    import keras

    if case == "vladder_mnist":
        return (keras.optimizers.Adam(2e-4, beta_1=0.9, beta_2=0.999, epsilon=1e-8),
                lambda x, y, t: model.loss_terms(x, y, t, training=True))
    if case == "lvae_mnist_3":
        return (keras.optimizers.Adamax(3e-4, beta_1=0.9, beta_2=0.999, epsilon=1e-8),
                lambda x, y, t: model.loss_terms(x, None, t, training=True))
    if case == "vlae":
        return (keras.optimizers.Adam(5e-4, beta_1=0.9, beta_2=0.999, epsilon=1e-8),
                lambda x, y, t: model.loss_terms(x, None, t, training=True))
    return (keras.optimizers.Adam(type(model).learning_rate, beta_1=0.5, beta_2=0.999, epsilon=1e-8),
            lambda x, y, t: model.loss_terms(x, None, training=True))


def tf_images(case: str, batch: int, seed: int = 3):
    """A fixed batch ``(batch, 28, 28, 1)`` for ``case``: binary (:data:`BINARY_IMAGES`) or uniform in [0, 1)."""
    import tensorflow as tf

    x = tf.random.uniform((batch, 28, 28, 1), 0.0, 1.0, seed=seed)
    return tf.cast(x < BINARY_IMAGES[case], tf.float32) if case in BINARY_IMAGES else x


def protocol_channel():
    """Return a text stream on the original stdout and point fd 1 at stderr from now on."""
    out = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return out


def serve(out, step, info: dict) -> None:
    """Send ``info`` as the ready message, then time ``step()`` (which must block until done) on request."""
    out.write(json.dumps({"ready": True, **info}) + "\n")
    out.flush()
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        msg = json.loads(line)
        if msg.get("op") == "quit":
            break
        if msg.get("op") == "run":
            times = []
            for _ in range(int(msg["steps"])):
                t0 = time.perf_counter()
                step()
                times.append(time.perf_counter() - t0)
            out.write(json.dumps({"times": times}) + "\n")
            out.flush()


def warm_up(step, n: int) -> float:
    """Run ``n`` steps (tracing, compilation, allocator warm-up); returns the seconds taken."""
    t0 = time.perf_counter()
    for _ in range(n):
        step()
    return time.perf_counter() - t0
