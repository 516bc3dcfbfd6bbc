"""Settings TensorFlow reads once, when it is imported: given their defaults here, before it starts.

:func:`apply` sets each variable of :data:`DEFAULTS` that the user's environment does not already set
(``os.environ.setdefault``), so a user overrides any of them by exporting it. It runs when ``hvae``,
``models`` or ``datasets`` is imported; TensorFlow imported earlier by the caller (``import tensorflow`` as
a notebook's first line) has already read its environment, and the defaults then do not apply.

- ``TF_ENABLE_ONEDNN_OPTS=1``: TensorFlow's oneDNN kernels (convolutions, matmuls, fused ops). TensorFlow
  2.21 turns them on by default only on some Intel CPUs; on the AMD CPUs the project is measured on they are
  off by default and the training step is faster with them (``benchmarks/train_speed.py``; the figures are in
  docs/performance.md). Results differ from the Eigen kernels only by floating-point rounding.
- ``TF_CPP_MIN_LOG_LEVEL=2``: no INFO/WARNING lines from TensorFlow's C++ start-up
  (``HVAE_TF_VERBOSE=1`` in :mod:`hvae.runtime` shows them).

Some start-up lines bypass that level (oneDNN's and the CUDA probe's notes, written before TensorFlow's logging
starts, and the "failed call to cuInit" of a machine without a GPU). :func:`quiet_start`, run when ``models`` or
``datasets`` is imported, starts TensorFlow with those silenced, as the command line does, unless the user set
``TF_CPP_MIN_LOG_LEVEL`` or ``HVAE_TF_VERBOSE=1`` (then every line shows).
"""

from __future__ import annotations

import contextlib
import os
import sys

DEFAULTS = {"TF_ENABLE_ONEDNN_OPTS": "1", "TF_CPP_MIN_LOG_LEVEL": "2"}
# the variables of DEFAULTS the user's environment set (before apply), so their choice is respected
USER_SET = frozenset(name for name in DEFAULTS if name in os.environ)


def apply() -> dict:
    """Give each variable of :data:`DEFAULTS` its default where the environment leaves it unset.

    Returns:
        the values in effect, ``{name: value}``.
    """
    for name, value in DEFAULTS.items():
        os.environ.setdefault(name, value)
    return {name: os.environ[name] for name in DEFAULTS}


def onednn_enabled() -> bool | None:
    """Whether TensorFlow runs with its oneDNN kernels (None if it cannot tell; imports TensorFlow)."""
    try:
        from tensorflow.python.util import _pywrap_util_port

        return bool(_pywrap_util_port.IsMklEnabled())
    except Exception:  # private API: best effort
        return None


@contextlib.contextmanager
def quiet_stderr():
    """Send file descriptor 2 to /dev/null for the duration (C++ start-up messages bypass Python); nothing is
    silenced with ``HVAE_TF_VERBOSE=1``."""
    if os.environ.get("HVAE_TF_VERBOSE") == "1":
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def quiet_start() -> None:
    """Import TensorFlow and list its GPUs with the C++ start-up lines silenced (:func:`quiet_stderr`), so a
    Python user sees what the command line shows. Does nothing where TensorFlow is already imported, or where the
    user set ``TF_CPP_MIN_LOG_LEVEL`` or ``HVAE_TF_VERBOSE=1`` (they asked for the lines). Errors of the import
    itself are not hidden: they are raised after stderr is restored."""
    if "tensorflow" in sys.modules or "TF_CPP_MIN_LOG_LEVEL" in USER_SET or os.environ.get("HVAE_TF_VERBOSE") == "1":
        return
    apply()
    with quiet_stderr():
        import tensorflow as tf

        tf.config.list_physical_devices("GPU")
