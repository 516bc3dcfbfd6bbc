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
"""

from __future__ import annotations

import os

DEFAULTS = {"TF_ENABLE_ONEDNN_OPTS": "1", "TF_CPP_MIN_LOG_LEVEL": "2"}


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
