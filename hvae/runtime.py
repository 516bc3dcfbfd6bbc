"""Devices, distribution strategy, precision and seeds: what must happen before TensorFlow starts.

``setup(gpus, cpu_devices)`` must run before anything imports TensorFlow: ``--gpus`` is copied into
``CUDA_VISIBLE_DEVICES`` as the original did, and TensorFlow is imported with its start-up chatter
(oneDNN, CUDA-driver probes printed straight to stderr before logging is configured) silenced. Set
``HVAE_TF_VERBOSE=1`` to see that chatter.

Several machines: when the standard ``TF_CONFIG`` environment variable describes a cluster of more than one
task (``{"cluster": {"worker": ["host1:port", "host2:port"]}, "task": {"type": "worker", "index": 0}}``),
training runs under ``tf.distribute.MultiWorkerMirroredStrategy`` (ring all-reduce), the same command on every
machine. The chief (task ``chief``, else worker 0) is the only one that writes the run folder
(:func:`is_chief`: ``config.json``, checkpoints, TensorBoard, figures); the others write what the strategy needs
into temporary folders they delete.
"""

from __future__ import annotations

import json
import os
import sys

from .environment import quiet_stderr
from .errors import ConfigError

_CHIEF = True  # False on the non-chief workers of a multi-worker job (set by setup)
PRECISIONS = ("float32", "tf32", "mixed_float16", "mixed_bfloat16")


class _Prefixed:
    """A text stream that starts every line with ``prefix`` (a non-chief worker's console)."""

    def __init__(self, stream, prefix: str):
        self.stream, self.prefix, self.at_start = stream, prefix, True

    def write(self, text: str) -> int:
        out = []
        for piece in text.splitlines(keepends=True):
            out.append((self.prefix if self.at_start else "") + piece)
            self.at_start = piece.endswith("\n")
        self.stream.write("".join(out))
        return len(text)

    def __getattr__(self, name):
        return getattr(self.stream, name)


def is_chief() -> bool:
    """Whether this process writes the run folder (always, except on non-chief workers of a cluster)."""
    return _CHIEF


def cluster_spec() -> dict | None:
    """The cluster of ``TF_CONFIG`` when it has more than one task: ``{"workers": [...], "task_type": ...,
    "task_index": ..., "chief": bool, "num_workers": n}``; None for a single machine.

    Raises:
        ConfigError: ``TF_CONFIG`` is not valid JSON or does not say which task this process is.
    """
    raw = os.environ.get("TF_CONFIG")
    if not raw:
        return None
    try:
        config = json.loads(raw)
        cluster = config.get("cluster", {})
        task = config.get("task", {})
    except (ValueError, AttributeError):
        raise ConfigError("TF_CONFIG is not valid JSON of the form {\"cluster\": {\"worker\": [...]}, "
                          "\"task\": {\"type\": \"worker\", \"index\": 0}}") from None
    members = list(cluster.get("chief", [])) + list(cluster.get("worker", []))
    if len(members) <= 1:
        return None
    task_type, index = task.get("type"), task.get("index")
    if task_type not in ("chief", "worker") or not isinstance(index, int) or \
            not 0 <= index < len(cluster.get(task_type, [])):
        raise ConfigError(f"TF_CONFIG's task {task!r} is not one of its cluster's chief/worker tasks")
    chief = task_type == "chief" or (task_type == "worker" and index == 0 and not cluster.get("chief"))
    return {"workers": members, "task_type": task_type, "task_index": index, "chief": chief,
            "num_workers": len(members)}


def local_cluster(num_workers: int) -> list:
    """``TF_CONFIG`` values for ``num_workers`` worker processes on this machine, one per worker (index i for
    worker i, worker 0 the chief), on ports of 127.0.0.1 free when called: how the tests and
    ``benchmarks/multiworker.py`` start a cluster of local processes. Returns a list of JSON strings."""
    import socket

    socks = [socket.socket() for _ in range(num_workers)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    workers = [f"127.0.0.1:{s.getsockname()[1]}" for s in socks]
    for s in socks:
        s.close()
    return [json.dumps({"cluster": {"worker": workers}, "task": {"type": "worker", "index": i}})
            for i in range(num_workers)]


def apply_precision(precision: str | None) -> str:
    """Set the numerical precision before any model is built; returns the setting applied.

    - ``float32`` (default): full float32; TensorFloat-32 matmuls and convolutions are turned off (TensorFlow
      turns them on by default on Ampere and newer GPUs; the originals trained in float32).
    - ``tf32``: TensorFloat-32 allowed (faster on recent GPUs, 10-bit mantissa inside matmuls).
    - ``mixed_float16`` / ``mixed_bfloat16``: Keras mixed precision: layers compute in 16 bits and keep float32
      weights; the models cast what feeds their distributions back to float32, so the loss is computed in
      float32; float16 also gets a dynamic loss scale (``keras.optimizers.LossScaleOptimizer``, by the trainer).

    Raises:
        ConfigError: an unknown precision.
    """
    precision = precision or "float32"
    if precision not in PRECISIONS:
        raise ConfigError(f"--precision must be one of {', '.join(PRECISIONS)}, not {precision!r}")
    import keras
    import tensorflow as tf

    tf.config.experimental.enable_tensor_float_32_execution(precision == "tf32")
    keras.mixed_precision.set_global_policy(precision if precision.startswith("mixed") else "float32")
    return precision


_quiet_stderr = quiet_stderr  # (hvae.environment's; C++ start-up messages bypass Python)


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


def setup(gpus: str | None = None, cpu_devices: int | None = None, seed: int | None = None,
          precision: str | None = None, batch_size: int | None = None):
    """Select devices, import TensorFlow and return the ``tf.distribute`` strategy to train under.

    With a multi-task ``TF_CONFIG`` (:func:`cluster_spec`) the strategy is ``MultiWorkerMirroredStrategy`` over
    every worker's devices, and a line says which worker this is, how many replicas train and the global batch.

    Args:
        gpus: the ``--gpus`` flag (``'0,1'``); copied to ``CUDA_VISIBLE_DEVICES`` before TensorFlow starts.
            With more than one visible GPU the batch is split across them (``MirroredStrategy``).
        cpu_devices: split the CPU into this many logical devices and mirror over them (to test
            multi-device training on a machine without GPUs).
        seed: if given, seeds Python, NumPy and TensorFlow (``keras.utils.set_random_seed``).
        precision: see :func:`apply_precision` (default float32).
        batch_size: the global batch, for the multi-worker line (``--batch_size`` stays the global batch).

    Returns:
        ``(strategy, description)``: the strategy and a one-line description of the devices.

    Raises:
        ConfigError: malformed ``--gpus``, ``--cpu_devices`` or ``TF_CONFIG``; ``--cpu_devices`` with a cluster; a
            global batch that does not split evenly over the replicas.
    """
    global _CHIEF
    ids = parse_gpus(gpus)
    cluster = cluster_spec()
    if cluster is not None and cpu_devices and cpu_devices > 1:
        raise ConfigError("--cpu_devices does not combine with a multi-worker TF_CONFIG (each worker uses its own "
                          "devices)")
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
    if cluster is not None:
        options = tf.distribute.experimental.CommunicationOptions(
            implementation=tf.distribute.experimental.CommunicationImplementation.RING)
        strategy = tf.distribute.MultiWorkerMirroredStrategy(communication_options=options)
        _CHIEF = cluster["chief"]
        replicas = strategy.num_replicas_in_sync
        if batch_size and batch_size % replicas:
            raise ConfigError(f"--batch_size {batch_size} (the global batch) does not split evenly over {replicas} "
                              f"replicas")
        if not _CHIEF:  # its console mirrors the chief's; say whose files the paths are
            sys.stdout = _Prefixed(sys.stdout, f"[worker {cluster['task_index']}, the chief writes the files] ")
        per = f" ({batch_size // replicas} per replica)" if batch_size else ""
        description = (f"worker {cluster['task_index']} of {cluster['num_workers']}"
                       f"{' (chief: writes the run folder)' if _CHIEF else ''} [{cluster['task_type']}], "
                       f"{replicas} replicas in sync, global batch {batch_size or '?'}{per}")
    elif cpu_devices and cpu_devices > 1:
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
    apply_precision(precision)
    if seed is not None:
        import keras

        keras.utils.set_random_seed(int(seed))
    return strategy, description


def finish_cluster(strategy, status: int) -> None:
    """End a multi-worker process cleanly: wait for every worker (a barrier), then let the non-chief workers
    leave at once (``os._exit`` after flushing), before the chief's coordination service goes away (a worker
    still alive when it does logs an RPC error). No-op outside a cluster.
    """
    import tensorflow as tf

    if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return
    def one():
        return tf.distribute.get_replica_context().all_reduce(tf.distribute.ReduceOp.SUM, tf.ones(()))

    try:
        strategy.reduce(tf.distribute.ReduceOp.SUM, strategy.run(tf.function(one)), axis=None)
    except tf.errors.OpError as err:
        print(f"warning: a worker was lost after this one finished ({type(err).__name__}); this worker's work is "
              f"complete", file=sys.stderr)
    sys.stdout.flush()
    sys.stderr.flush()
    if not is_chief():
        import atexit

        atexit._run_exitfuncs()  # the temporary checkpoint folder
        os._exit(status)
    # the chief: the others are leaving; the coordination service would log their departure as an error
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
