"""The numbers docs/fidelity.md states about LVAE2, the Laplace family and FusedAdam, pinned.

- The Laplace family's trainable parameter counts at the command line's defaults (Gaussian output, 28x28x1 MNIST):
  VLAE_VAE, VLAE and SAVAE 1,361,885; HF 1,394,585; IAF 2,664,289 (docs/fidelity.md, the Laplace family).
- LVAE2's epochs (docs/fidelity.md, LVAE2 #10, #11): with the default ``mnist`` dataset 55,000 training images =
  859 full batches of 64, validation = the loader's first 5,000 training images; with
  ``--dataset_option validation_size=0 --validation_size=0`` 60,000 images = 937 batches, monitored on the test
  split. MNIST's training images are not in the offline data, so a full-size MNIST is written in the real idx
  format (image i encodes i in two pixels).
- FusedAdam's epsilon (docs/fidelity.md, optimizer kernels): its update is TensorFlow's
  w -= lr sqrt(1 - b2^t) / (1 - b1^t) m / (sqrt(v) + eps), which is torch.optim.Adam's
  w -= lr / (1 - b1^t) m / (sqrt(v / (1 - b2^t)) + eps') with eps' = eps / sqrt(1 - b2^t), not with eps itself.
"""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest
import tensorflow as tf
from formats import write_idx

N_TRAIN, N_TEST = 60_000, 10_000


def _numbered(n: int) -> np.ndarray:
    """uint8 (n, 28, 28) images, image i holding i % 256 at (0, 0) and i // 256 at (0, 1)."""
    images = np.zeros((n, 28, 28), np.uint8)
    index = np.arange(n)
    images[:, 0, 0], images[:, 0, 1] = index % 256, index // 256
    return images


def _index_of(images) -> np.ndarray:
    """The numbers of ``_numbered`` images read back as float32 [0, 1] batches."""
    pixels = np.rint(np.asarray(images)[:, 0, :2, 0] * 255.0).astype(np.int64)
    return pixels[:, 0] + 256 * pixels[:, 1]


@pytest.fixture(scope="module")
def full_mnist(tmp_path_factory):
    """A folder with MNIST's four idx files at full size (60,000 training, 10,000 test images), raw (not gzipped)."""
    folder = tmp_path_factory.mktemp("mnist")
    write_idx(folder / "train-images-idx3-ubyte", _numbered(N_TRAIN), gz=False)
    write_idx(folder / "train-labels-idx1-ubyte", np.arange(N_TRAIN) % 10, gz=False)
    write_idx(folder / "t10k-images-idx3-ubyte", _numbered(N_TEST), gz=False)
    write_idx(folder / "t10k-labels-idx1-ubyte", np.arange(N_TEST) % 10, gz=False)
    return folder


def _task(task_class, argv, tmp_path, monkeypatch):
    """A family's task from a command line, resolved as ``train.py`` resolves it (no run folder is read)."""
    from hvae.cli import resolve

    monkeypatch.chdir(tmp_path)
    return task_class(resolve(argv), tf.distribute.get_strategy())


def _steps_per_epoch(task) -> int:
    """The shared trainer's epoch length for this task's data and batch (``Trainer.steps_per_epoch``)."""
    from hvae.trainer import Trainer

    return Trainer.steps_per_epoch.fget(SimpleNamespace(data=task.data(), batch_size=task.batch_size))


# --------------------------------------------------------------------------------------------------
# the Laplace family's parameter counts at the defaults
# --------------------------------------------------------------------------------------------------
LAPLACE_COUNTS = {"VLAE_VAE": 1_361_885, "VLAE": 1_361_885, "SAVAE": 1_361_885, "HF": 1_394_585, "IAF": 2_664_289}


def test_laplace_parameter_counts_at_the_defaults(full_mnist, tmp_path, monkeypatch):
    """``python train.py MODEL train --db_path=...`` (default dataset mnist, default Gaussian output): the model the
    task builds from the loader's shape and range; the Gaussian output's one learned log-variance is the +1 over the
    Bernoulli counts of tests/test_laplace_vae.py."""
    from hvae.laplace_task import LaplaceTask

    for model, expected in LAPLACE_COUNTS.items():
        task = _task(LaplaceTask, [model, "train", f"--db_path={full_mnist}", f"--netname={model}_t"], tmp_path,
                     monkeypatch)
        assert task.run.dataset == "mnist" and task.resolved.model_flags.get("output_dist") is None   # not given
        data = task.data()
        assert tuple(data.shape) == (28, 28, 1)
        task.build(data.shape, data.value_range, data.num_classes)
        assert task.model.output_dist == "gaussian"
        assert task.model.count_parameters() == expected, model


# --------------------------------------------------------------------------------------------------
# LVAE2's epoch sizes
# --------------------------------------------------------------------------------------------------
def test_lvae2_epoch_with_the_default_mnist_options(full_mnist, tmp_path, monkeypatch):
    from hvae.lvae2_task import LVAE2Task

    task = _task(LVAE2Task, ["LVAE2", "train", f"--db_path={full_mnist}", "--netname=t"], tmp_path, monkeypatch)
    assert task.run.dataset == "mnist" and task.batch_size == 64
    data = task.data()
    assert data.train_size == 55_000 and _steps_per_epoch(task) == 859 == 55_000 // 64
    assert task.monitor_split() == "validation"
    validation = data.take("validation", 5_000, seed=None)                     # in file order
    np.testing.assert_array_equal(_index_of(validation), np.arange(5_000))   # the loader's first 5,000
    np.testing.assert_array_equal(_index_of(data.take("train", 55_000, seed=None)), np.arange(5_000, 60_000))


def test_lvae2_epoch_of_all_60000_training_images(full_mnist, tmp_path, monkeypatch):
    from hvae.lvae2_task import LVAE2Task

    argv = ["LVAE2", "train", f"--db_path={full_mnist}", "--netname=t", "--dataset_option", "validation_size=0",
            "--validation_size=0"]
    task = _task(LVAE2Task, argv, tmp_path, monkeypatch)
    data = task.data()
    assert data.train_size == 60_000 and _steps_per_epoch(task) == 937 == 60_000 // 64
    assert "validation" not in data.splits and task.monitor_split() == "test"
    # the loader's option alone is not enough: the project's validation policy then holds out a random 10%
    task = _task(LVAE2Task, argv[:-1], tmp_path, monkeypatch)
    assert task.data().train_size == 54_000 and _steps_per_epoch(task) == 843


# --------------------------------------------------------------------------------------------------
# FusedAdam's epsilon
# --------------------------------------------------------------------------------------------------
LR, BETA_1, BETA_2, EPSILON = 1e-3, 0.9, 0.999, 1e-8
# The values the kernel receives: the Keras learning-rate variable is float32, and FusedAdam's tf.cast of a Python
# float makes a float32 tensor first, so even for a float64 variable the hyperparameters arrive float32-rounded.
LR32, B1, B2, EPS = (float(np.float32(x)) for x in (LR, BETA_1, BETA_2, EPSILON))
# one gradient per step; per element from ordinary (1e-2) to tiny (1e-7), where epsilon matters
GRADIENTS = np.array([[1e-2, -3e-4, 1e-6, 3e-7, -1e-7],
                      [8e-3, -2e-4, 2e-6, 1e-7, -2e-7],
                      [-5e-3, 1e-4, 1e-6, 3e-7, -1e-7]])


def _tf_update(m, v, t):
    """TensorFlow's ApplyAdam (and Keras' Adam): epsilon added to sqrt(v) before the bias correction."""
    return LR32 * math.sqrt(1 - B2 ** t) / (1 - B1 ** t) * m / (np.sqrt(v) + EPS)


def _torch_update(m, v, t, eps):
    """torch.optim.Adam: epsilon added to the bias-corrected sqrt(v_hat)."""
    return LR32 / (1 - B1 ** t) * m / (np.sqrt(v) / math.sqrt(1 - B2 ** t) + eps)


def test_fused_adam_epsilon_is_tensorflows_form():
    from hvae.optimizers import FusedAdam

    w0 = np.array([0.5, -0.25, 0.125, 1.0, -1.0])
    var = tf.Variable(w0, dtype=tf.float64)   # float64, so that the comparison is not limited by float32 rounding
    optimizer = FusedAdam(LR, beta_1=BETA_1, beta_2=BETA_2, epsilon=EPSILON)
    optimizer.build([var])
    m, v, w = np.zeros(5), np.zeros(5), w0.copy()
    for t, g in enumerate(GRADIENTS, start=1):
        optimizer.apply_gradients([(tf.constant(g, tf.float64), var)])
        m = B1 * m + (1 - B1) * g
        v = B2 * v + (1 - B2) * g * g
        update = w - var.numpy()        # what FusedAdam subtracted at step t
        w = var.numpy()
        np.testing.assert_allclose(update, _tf_update(m, v, t), rtol=1e-10, atol=0)
        effective = EPS / math.sqrt(1 - B2 ** t)
        np.testing.assert_allclose(update, _torch_update(m, v, t, effective), rtol=1e-10, atol=0)
        raw = _torch_update(m, v, t, EPS)
        relative = np.abs(update - raw) / np.abs(raw)
        assert relative[0] < 1e-4             # an ordinary gradient: the two forms agree to 3e-5 or better
        assert relative[3:].min() > 0.3       # gradients of 1e-7 to 3e-7: they differ by a third or more
        # the effective epsilon read back from FusedAdam's own update (torch's form solved for eps)
        implied = LR32 / (1 - B1 ** t) * m / update - np.sqrt(v) / math.sqrt(1 - B2 ** t)
        np.testing.assert_allclose(implied, effective, rtol=1e-4)
    # the size of the effect as docs/fidelity.md states it (exact hyperparameters)
    assert EPSILON / math.sqrt(1 - BETA_2) == pytest.approx(3.162e-7, rel=1e-3)             # step 1
    assert EPSILON / math.sqrt(1 - BETA_2 ** 100) == pytest.approx(3.24e-8, rel=1e-2)       # step 100
    assert EPSILON / math.sqrt(1 - BETA_2 ** 1000) == pytest.approx(1.258e-8, rel=1e-3)     # step 1,000
    assert EPSILON / math.sqrt(1 - BETA_2 ** 10000) == pytest.approx(1.0e-8, rel=1e-4)      # towards 1e-8
