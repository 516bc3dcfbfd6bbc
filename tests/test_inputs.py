"""Inputs checked where they enter the library: the Python API's entry points (``encode``, ``loss_terms``,
``reconstruct``, ``log_importance_weights``, ``fit``) refuse a batch that is not what the model takes with one
``ValueError`` that says what was expected, never a TensorFlow trace; and ``from hvae import models`` starts TensorFlow
without its C++ start-up lines, as the command line does.
"""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from hvae import models

# one small preset per family (the checks live once, in models.base, for every family)
PRESETS = ["VAE_mnist", "CVAE_mnist", "VLAE_VAE_binarized_mnist", "LVAE2_mnist", "LVAE_mnist_3", "vladder_mnist"]
_MODELS: dict = {}


def model_and_batch(name):
    if name not in _MODELS:
        tf.keras.utils.set_random_seed(0)
        model = models.from_preset(name)
        images, labels = model.example_inputs(2)
        _MODELS[name] = (model, np.asarray(images), None if labels is None else np.asarray(labels))
    return _MODELS[name]


@pytest.mark.parametrize("name", PRESETS)
def test_eight_bit_images_are_refused_with_the_range(name):
    """Images in 0..255 (the ELBO would be a large positive number) -> one line naming the values seen, the model's
    value range and what to do."""
    model, x, y = model_and_batch(name)
    lo, hi = model.value_range
    bad = np.full_like(x, 200.0)
    for call in (lambda: model.log_importance_weights(bad, 2, labels=y),
                 lambda: model.loss_terms(bad, y),
                 lambda: model.encode(bad, y)):
        with pytest.raises(ValueError) as err:
            call()
        message = str(err.value)
        assert "\n" not in message and "[200, 200]" in message and f"[{lo:g}, {hi:g}]" in message, message
    assert "log_importance_weights" in str(pytest.raises(ValueError, model.log_importance_weights, bad, 2,
                                                         labels=y).value)


@pytest.mark.parametrize("name", PRESETS)
def test_wrong_shape_dtype_and_k_are_refused(name):
    model, x, y = model_and_batch(name)
    shape = ", ".join(str(d) for d in x.shape[1:])
    with pytest.raises(ValueError, match=rf"images of shape \(2, 5, .*expected \(B, {shape}\)"):
        model.loss_terms(x[:, :5], y)
    with pytest.raises(ValueError, match=rf"images of shape .*expected \(B, {shape}\)"):
        model.reconstruct(x[0], None if y is None else y[:1])
    with pytest.raises(ValueError, match=r"images of dtype uint8; expected floats"):
        model.encode(x.astype(np.uint8), y)
    for k in (0, -3, 2.5):
        with pytest.raises(ValueError, match=r"num_samples must be an integer >= 1"):
            model.log_importance_weights(x, k, labels=y)


@pytest.mark.parametrize("name", PRESETS)
def test_good_inputs_pass_and_give_finite_numbers(name):
    """The checks let the model's own example batch through (numpy and tensors alike), inside a traced function
    too (where only shapes and dtypes can be checked)."""
    model, x, y = model_and_batch(name)
    weights = model.log_importance_weights(x, 3, labels=y)
    assert weights.shape == (2, 3) and np.all(np.isfinite(weights))
    traced = tf.function(lambda images: model.loss_terms(images, None if y is None else tf.constant(y))["loss"])
    assert np.isfinite(float(traced(tf.constant(x))))


def test_conditional_model_needs_labels_in_range():
    model, x, _ = model_and_batch("CVAE_mnist")
    with pytest.raises(ValueError, match=r"CVAE is conditional and needs labels"):
        model.loss_terms(x)
    with pytest.raises(ValueError, match=r"labels span 0\.\.10, expected 0\.\.9"):
        model.loss_terms(x, np.array([0, 10]))
    with pytest.raises(ValueError, match=r"expected \(2,\) integers"):
        model.loss_terms(x, np.array([0.0, 1.0]))


def test_fit_checks_its_first_batch():
    model, x, _ = model_and_batch("VAE_mnist")
    model.compile(optimizer="adam")
    with pytest.raises(ValueError, match=r"VAE.fit: image values span \[0, 255\].*divide by 255"):
        model.fit(tf.data.Dataset.from_tensor_slices(np.arange(2 * 784, dtype=np.float32).reshape(2, 28, 28, 1)
                                                     % 256).batch(2), epochs=1, verbose=0)
    with pytest.raises(ValueError, match=r"VAE.fit: images of shape \(4, 784\)"):
        model.fit(np.zeros((4, 784), np.float32), epochs=1, verbose=0)


def _stderr_of(code: str, **env) -> str:
    environment = {k: v for k, v in os.environ.items() if k not in ("TF_CPP_MIN_LOG_LEVEL", "HVAE_TF_VERBOSE")}
    environment.update(env)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=environment,
                          cwd=os.path.dirname(os.path.abspath(__file__)), timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stderr


def test_import_models_is_quiet_unless_the_user_asks():
    """``from hvae import models`` and a first model print nothing on stderr (TensorFlow's C++ start-up lines are silenced as
    on the command line); with TF_CPP_MIN_LOG_LEVEL set by the user, TensorFlow's lines show as they asked."""
    code = "from hvae import models; m = models.from_preset('VAE_mnist'); m.loss_terms(*m.example_inputs(2))"
    assert _stderr_of(code) == ""
    assert _stderr_of(code, TF_CPP_MIN_LOG_LEVEL="0") != ""
