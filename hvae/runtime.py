"""Devices, distribution strategy and seeds: what must happen before TensorFlow starts.

``setup(gpus, cpu_devices)`` must run before anything imports TensorFlow: ``--gpus`` is copied into
``CUDA_VISIBLE_DEVICES`` as the original did, and TensorFlow is imported with its start-up chatter
(oneDNN, CUDA-driver probes printed straight to stderr before logging is configured) silenced. Set
``HVAE_TF_VERBOSE=1`` to see that chatter.
"""

from __future__ import annotations

import contextlib
import os
import sys

from .errors import ConfigError


@contextlib.contextmanager
def _quiet_stderr():
    """Send file descriptor 2 to /dev/null for the duration (C++ start-up messages bypass Python)."""
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


def parse_gpus(gpus: str | None) -> list:
    """``'0,1'`` -> ``['0', '1']``; empty or None -> ``[]``.

    Raises:
        ConfigError: an entry that is not a non-negative integer.
    """
    if not gpus:
        return []
    ids = [g.strip() for g in str(gpus).split(",") if g.strip()]
    for g in ids:
        if not g.isdigit():
            raise ConfigError(f"--gpus must be a comma-separated list of GPU numbers such as 0,1; got {gpus!r}")
    return ids


def setup(gpus: str | None = None, cpu_devices: int | None = None, seed: int | None = None):
    """Select devices, import TensorFlow and return the ``tf.distribute`` strategy to train under.

    Args:
        gpus: the ``--gpus`` flag (``'0,1'``); copied to ``CUDA_VISIBLE_DEVICES`` before TensorFlow starts.
            With more than one visible GPU the batch is split across them (``MirroredStrategy``).
        cpu_devices: split the CPU into this many logical devices and mirror over them (to test
            multi-device training on a machine without GPUs).
        seed: if given, seeds Python, NumPy and TensorFlow (``keras.utils.set_random_seed``).

    Returns:
        ``(strategy, description)``: the strategy and a one-line description of the devices.

    Raises:
        ConfigError: malformed ``--gpus`` or ``--cpu_devices``.
    """
    ids = parse_gpus(gpus)
    if ids:
        os.environ["CUDA_VISIBLE_DEVICES"] = ",".join(ids)
    from .environment import apply

    apply()
    with _quiet_stderr():
        import tensorflow as tf

        physical_gpus = tf.config.list_physical_devices("GPU")
    for gpu in physical_gpus:
        try:
            tf.config.experimental.set_memory_growth(gpu, True)
        except (ValueError, RuntimeError):
            pass
    if cpu_devices is not None and cpu_devices < 1:
        raise ConfigError(f"--cpu_devices must be at least 1, got {cpu_devices}")
    if cpu_devices and cpu_devices > 1:
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * cpu_devices)
        names = [f"/cpu:{i}" for i in range(cpu_devices)]
        strategy = tf.distribute.MirroredStrategy(names)
        description = f"mirrored over {cpu_devices} logical CPU devices"
    elif len(physical_gpus) > 1:
        strategy = tf.distribute.MirroredStrategy()
        description = f"mirrored over {len(physical_gpus)} GPUs ({','.join(ids) or 'all visible'})"
    else:
        strategy = tf.distribute.get_strategy()
        description = "1 GPU" if physical_gpus else "CPU"
        if ids and not physical_gpus:
            print(f"warning: --gpus={gpus} given but TensorFlow sees no GPU; running on the CPU", file=sys.stderr)
    if seed is not None:
        import keras

        keras.utils.set_random_seed(int(seed))
    return strategy, description
