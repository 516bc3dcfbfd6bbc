"""The one trainer every model family uses.

It owns what is not specific to a model: the ``tf.function`` training step (optionally XLA-compiled,
optionally mirrored over several devices), the iteration counter, checkpoints (``tf.train.CheckpointManager``:
weights, optimizer state, iteration, best test score), resuming, TensorBoard scalars, the console line,
Ctrl-C / SIGTERM handling and the NaN / Inf guard. A *task* (``hvae.task.Task`` subclasses, one per family)
supplies the model, the optimizer, the loss and what happens at visualisation points and epoch ends.

Why a trainer of our own and not ``model.fit`` with Keras callbacks. Every model is a Keras model that ``fit``
trains (``models.base.HVAEModel.train_step``, the same ``loss_terms``), and the command line could have been
``fit`` plus ``TensorBoard``, ``TerminateOnNaN``, ``BackupAndRestore`` and ``ModelCheckpoint``. It is not, for what
those callbacks do not do: a checkpoint when SIGTERM or Ctrl-C arrives (a preempted or interrupted run loses no
work; ``BackupAndRestore`` saves on a schedule only); a NaN guard that names the term that went bad and keeps the
last good checkpoint the newest (``TerminateOnNaN`` stops, saying neither); figures and validation measurements at
iteration counts, which the originals define (every ``vis_frequency`` steps, at iteration 1), with the run's
step as TensorBoard's step; resuming in the middle of an epoch at the same data position (the shuffling is
seeded per epoch and the skipped batches are never read); and one ``tf.train.CheckpointManager`` layout
(``ckpt-<iteration>``, ``best/``) that ``generate``, ``evaluate`` and ``hvae.load_run`` read. What Keras does
offer is used: its progress bar (``keras.utils.Progbar``), its optimizers, and ``tf.summary`` for TensorBoard.

Task protocol (attributes and methods the trainer uses):
    model, optimizer, dataset, batch_size, run_dir
    loss_terms(images, labels, iteration) -> dict of scalar tensors with key 'loss' (traced in tf.function)
    after_step(trainer, index)            -> None; called after every step (index = 0-based step number, so the
                                             iteration shown everywhere, steps completed, is index + 1)
    end_of_epoch(trainer, epoch)          -> (metrics dict, score or None); lower score = better
"""

from __future__ import annotations

import atexit
import math
import os
import shutil
import signal
import sys
import tempfile
import time

import numpy as np
import tensorflow as tf

from . import runtime
from .errors import CheckpointError, HVAEError, TrainingDiverged, WorkerLost

CHECKPOINT_NAME = "ckpt"
# What a worker sees when another worker of a multi-worker job died or became unreachable.
_LOST_WORKER_ERRORS = (tf.errors.UnavailableError, tf.errors.CancelledError, tf.errors.DeadlineExceededError,
                       tf.errors.AbortedError, tf.errors.InternalError)


class _IterationCheckpointManager(tf.train.CheckpointManager):
    """A ``CheckpointManager`` whose checkpoints are always named after the training iteration
    (``ckpt-<iteration>``), whoever calls ``save`` (the trainer, or TensorFlow's PreemptionCheckpointHandler)."""

    def __init__(self, checkpoint, directory, iteration, **kwargs):
        super().__init__(checkpoint, directory, **kwargs)
        self._iteration = iteration

    def save(self, checkpoint_number=None, check_interval=True, options=None):
        return super().save(checkpoint_number=int(self._iteration.numpy()), check_interval=check_interval,
                            options=options)


class _Preempted(Exception):
    """Raised by the PreemptionCheckpointHandler's exit function once every worker has saved."""


class Trainer:
    """Trains a task's model on its dataset.

    Args:
        task: see the module docstring.
        strategy: a ``tf.distribute`` strategy; the model and optimizer must have been built in its scope.
        seed: base seed of the data order (epoch e is shuffled with ``seed * 100003 + e``).
        compile_mode: ``'eager'``, ``'function'`` (``tf.function``) or ``'xla'`` (``jit_compile=True``).
        checkpoint_frequency: save every this many iterations (and at every stop).
        log_frequency: console line and TensorBoard scalars every this many iterations.
        progress: ``'lines'`` (a console line every ``log_frequency``) or ``'bar'`` (a progress bar per epoch).
        keep_checkpoints: how many recent checkpoints to keep.
    """

    def __init__(self, task, strategy=None, *, seed: int = 0, compile_mode: str = "function",
                 checkpoint_frequency: int = 2000, log_frequency: int = 20, progress: str = "lines",
                 keep_checkpoints: int = 2):
        self.task = task
        self.strategy = strategy or tf.distribute.get_strategy()
        self.replicas = self.strategy.num_replicas_in_sync
        self.seed = int(seed)
        self.compile_mode = compile_mode
        self.checkpoint_frequency = int(checkpoint_frequency)
        self.log_frequency = int(log_frequency)
        self.progress = progress
        self.run_dir = task.run_dir
        self.multi_worker = isinstance(self.strategy, tf.distribute.MultiWorkerMirroredStrategy)
        self.is_chief = runtime.is_chief()
        with self.strategy.scope():
            self.iteration = tf.Variable(0, dtype=tf.int64, trainable=False, name="iteration")
            self.best_score = tf.Variable(np.inf, dtype=tf.float64, trainable=False, name="best_score")
        self.checkpoint = tf.train.Checkpoint(model=task.model, optimizer=task.optimizer, iteration=self.iteration,
                                              best_score=self.best_score)
        # Every worker of a cluster saves (saving may run collective ops), but only the chief into the run folder;
        # the others into a temporary folder removed at exit. Every worker restores from the run folder (a
        # folder the cluster shares: see the README's multi-worker section).
        save_dir = self.run_dir if self.is_chief else tempfile.mkdtemp(prefix="hvae_worker_")
        if not self.is_chief:
            atexit.register(shutil.rmtree, save_dir, True)
        self.manager = _IterationCheckpointManager(self.checkpoint, save_dir, self.iteration,
                                                   max_to_keep=keep_checkpoints, checkpoint_name=CHECKPOINT_NAME)
        self.best_manager = _IterationCheckpointManager(self.checkpoint, os.path.join(save_dir, "best"), self.iteration,
                                                        max_to_keep=1, checkpoint_name=CHECKPOINT_NAME)
        self.read_manager = self.manager if self.is_chief else tf.train.CheckpointManager(
            self.checkpoint, self.run_dir, max_to_keep=None, checkpoint_name=CHECKPOINT_NAME)
        self.read_best_manager = self.best_manager if self.is_chief else tf.train.CheckpointManager(
            self.checkpoint, os.path.join(self.run_dir, "best"), max_to_keep=None, checkpoint_name=CHECKPOINT_NAME)
        self._writer = None
        self._step_fn = None
        self._stop_signal = None
        self._preemption = None

    # ---- TensorBoard ----------------------------------------------------------------------------
    @property
    def writer(self):
        """The run folder's TensorBoard writer (created on first use; earlier event files are kept)."""
        if self._writer is None:
            # only the chief of a cluster writes TensorBoard files
            self._writer = (tf.summary.create_file_writer(self.run_dir) if self.is_chief
                            else tf.summary.create_noop_writer())
        return self._writer

    def scalars(self, values: dict, step: int | None = None) -> None:
        """Write scalars to TensorBoard at ``step`` (default: the current iteration)."""
        step = int(self.iteration.numpy()) if step is None else step
        with self.writer.as_default(step=step):
            for name, value in values.items():
                tf.summary.scalar(name, value)

    # ---- checkpoints ----------------------------------------------------------------------------
    @property
    def latest_checkpoint(self) -> str | None:
        """The newest checkpoint of the run folder (read from disk: on a non-chief worker the chief writes it)."""
        return self.read_manager.latest_checkpoint if self.is_chief else tf.train.latest_checkpoint(self.run_dir)

    def restore(self, path: str | None = None, required: bool = False, best: bool = False) -> bool:
        """Restore the newest checkpoint of the run folder (``best``: the one in ``run_dir/best/``, kept by
        :meth:`save_best`), or ``path``.

        The model and optimizer must already be built, so that a checkpoint of another architecture
        fails here rather than later.

        Returns:
            True if a checkpoint was restored, False if there is none (and ``required`` is False).
        Raises:
            CheckpointError: ``required`` and no checkpoint exists, or the checkpoint does not match the model.
        """
        path = path or (self.read_best_manager if best else self.read_manager).latest_checkpoint
        if path is None:
            if required and best:
                raise CheckpointError(f"no best checkpoint in {self.run_dir}/best/: it is written after the first "
                                      f"validation measurement")
            if required:
                raise CheckpointError(f"no checkpoint in {self.run_dir}: train this model first "
                                      f"(python train.py ... with the same --netname)")
            return False
        status = None
        try:
            status = self.checkpoint.restore(path)
            status.assert_existing_objects_matched()
        except (ValueError, AssertionError, tf.errors.OpError) as err:
            if status is not None:
                status.expect_partial()  # no wall of "unrestored value" warnings after the one-line error
            first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise CheckpointError(f"checkpoint {path} does not match model {self.task.model.name}: {first[:300]} "
                                  f"(use --restart to start fresh, or another --netname)") from None
        return True

    def save(self) -> str:
        """Write a checkpoint now (weights, optimizer state, iteration, best score); returns its path."""
        return self.manager.save()

    def save_best(self, score: float) -> bool:
        """Keep a copy of the current state in ``run_dir/best/`` if ``score`` beats the best so far."""
        if not math.isfinite(score) or score >= float(self.best_score.numpy()):
            return False
        self.best_score.assign(score)
        self.best_manager.save()
        return True

    # ---- the training step ------------------------------------------------------------------------
    def _build_step(self):
        task, strategy = self.task, self.strategy
        variables = task.model.trainable_variables
        replicas = self.replicas

        import keras

        loss_scaled = isinstance(task.optimizer, keras.optimizers.LossScaleOptimizer)

        def replica_step(images, labels, t):
            with tf.GradientTape() as tape:
                terms = task.loss_terms(images, labels, t)
                scaled = terms["loss"] / replicas
                if loss_scaled:  # mixed_float16: the optimizer unscales (and skips steps with non-finite grads)
                    scaled = task.optimizer.scale_loss(scaled)
            grads = tape.gradient(scaled, variables)
            grads = [tf.zeros_like(v) if g is None else g for g, v in zip(grads, variables)]
            terms = {k: tf.cast(v, tf.float32) for k, v in terms.items()}
            norm = tf.linalg.global_norm(grads) * replicas
            if loss_scaled:
                # a step whose scaled gradient overflowed is skipped by the optimizer (and the scale lowered): that
                # is the loss scale doing its work, not a diverging run, so its norm is reported as 0
                scale = tf.cast(task.optimizer.dynamic_scale, norm.dtype)
                norm = tf.where(tf.math.is_finite(norm), norm / scale, tf.zeros_like(norm))
                terms["loss_scale"] = tf.cast(scale, tf.float32)
            terms["gradient_norm"] = norm
            task.optimizer.apply_gradients(zip(grads, variables))
            return terms

        # The step has no tensor-dependent Python control flow, so autograph's source rewriting is not needed.
        if self.compile_mode == "xla":
            replica_step = tf.function(replica_step, jit_compile=True, autograph=False)

        def step(images, labels):
            t = self.iteration + 1
            if replicas > 1:
                per_replica = strategy.run(replica_step, args=(images, labels, t))
                terms = {k: strategy.reduce(tf.distribute.ReduceOp.MEAN, v, axis=None) for k, v in per_replica.items()}
            else:
                terms = replica_step(images, labels, t)
            self.iteration.assign_add(1)
            return terms

        return step if self.compile_mode == "eager" else tf.function(step, autograph=False)

    def train_batches(self, epoch: int, skip_batches: int = 0):
        """The shuffled training batches of one epoch (drop_remainder), distributed over the replicas.

        With several replicas each input pipeline (one per worker) reads only its own replicas' slices of every
        global batch (``ImageDataset.batches(shard=...)``), so a global batch holds the same images whatever the
        number of workers and devices, and no worker reads another's images.
        """
        seed = self.seed * 100003 + epoch
        if self.replicas == 1:
            return self.task.dataset.batches("train", self.task.batch_size, shuffle=True, seed=seed,
                                             drop_remainder=True, skip_batches=skip_batches)
        per_replica = self.task.batch_size // self.replicas
        if per_replica * self.replicas != self.task.batch_size:
            raise HVAEError(f"--batch_size {self.task.batch_size} does not split evenly over {self.replicas} replicas")
        dataset = self.task.dataset

        def dataset_fn(context):
            local = self.replicas // context.num_input_pipelines
            first = context.input_pipeline_id * local
            return dataset.batches("train", per_replica, shuffle=True, seed=seed, skip_batches=skip_batches,
                                   shard=(first, local, self.replicas))

        return self.strategy.distribute_datasets_from_function(dataset_fn)

    @property
    def steps_per_epoch(self) -> int:
        return self.task.dataset.train_size // self.task.batch_size

    # ---- the loop -----------------------------------------------------------------------------------
    def fit(self, max_iterations: int | None = None, epochs: int | None = None) -> str:
        """Train until ``max_iterations`` (total, counting earlier runs), ``epochs`` or a stop signal.

        Returns:
            ``'done'`` or ``'stopped'`` (Ctrl-C / SIGTERM; a checkpoint was written).
        Raises:
            TrainingDiverged: a loss term or the gradient became NaN or Inf (nothing is saved, so the last
                good checkpoint stays the newest).
            HVAEError: the training split holds fewer images than one batch.
        """
        spe = self.steps_per_epoch
        if spe == 0:
            raise HVAEError(f"dataset {self.task.dataset.name} has {self.task.dataset.train_size} training images, "
                            f"fewer than one batch of {self.task.batch_size}: lower --batch_size")
        limits = [x for x in (max_iterations, epochs * spe if epochs else None) if x is not None]
        total = min(limits) if limits else None
        if self._step_fn is None:
            self._step_fn = self._build_step()
        it = int(self.iteration.numpy())
        if total is not None and it >= total:
            print(f"already trained for {it} iterations (target {total}); nothing to do")
            return "done"
        self._install_signal_handlers()
        self._preemption = self._preemption_handler() if self.multi_worker else None
        bar = None
        try:
            last_time, last_it, first = time.time(), it, it
            while total is None or it < total:
                epoch, offset = divmod(it, spe)
                if self.progress == "bar":
                    from keras.utils import Progbar

                    # a live bar on a terminal; one summary line per epoch in a log file
                    bar = Progbar(spe, unit_name="step", verbose=1 if sys.stdout.isatty() else 2)
                    print(f"epoch {epoch + 1}" + (f"/{epochs}" if epochs else ""))
                for images, labels in self.train_batches(epoch, offset):
                    terms = self._preemption.run(self._step_fn, images, labels) if self._preemption else \
                        self._step_fn(images, labels)
                    index = it
                    it += 1
                    values = {k: float(v) for k, v in terms.items()}
                    self._check_finite(values, it)
                    # one numbering everywhere: iteration = training steps completed (console, TensorBoard,
                    # checkpoints); a line after this invocation's first step and every log_frequency
                    if index == first or it % self.log_frequency == 0:
                        now = time.time()
                        # the first step of a run includes tracing: no meaningful speed yet
                        rate = None if index == first else (it - last_it) * self.task.batch_size / max(now - last_time, 1e-9)
                        last_time, last_it = now, it
                        self.scalars(values if rate is None else {**values, "images_per_second": rate}, step=it)
                        if self.progress == "lines":
                            self._print_line(it, rate, values)
                    if bar is not None:
                        bar.update(it - epoch * spe, values=[("loss", values["loss"])])
                    self.task.after_step(self, index)
                    if it % self.checkpoint_frequency == 0:
                        self.save()
                    if self._stop_signal is not None or (total is not None and it >= total):
                        break
                if self._stop_signal is not None:
                    path = self.save()
                    print(f"\nstopped by {self._stop_signal} at iteration {it}; checkpoint {path} written. "
                          f"Run the same command again to resume.")
                    return "stopped"
                if it % spe == 0:
                    metrics, score = self.task.end_of_epoch(self, it // spe)
                    if score is not None and self.save_best(score):
                        metrics = {**metrics, "new_best": True}
                    if self._stop_signal is not None:
                        path = self.save()
                        print(f"stopped by {self._stop_signal} at iteration {it}; checkpoint {path} written.")
                        return "stopped"
            self.save()
            if self.multi_worker:
                print(f"final weights checksum {self.weights_checksum()} (the same on every worker)", flush=True)
            return "done"
        except _Preempted:
            print(f"\nSIGTERM received by a worker of the cluster: every worker saved a checkpoint at iteration "
                  f"{int(self.iteration.numpy())}; run the same command on every worker to resume.", flush=True)
            return "stopped"
        except _LOST_WORKER_ERRORS as err:
            if not self.multi_worker:
                raise
            raise WorkerLost(f"lost a worker of the cluster after iteration {it} ({type(err).__name__} in a collective "
                             f"operation: a worker stopped or cannot be reached); "
                             f"restart every worker with the same command: training resumes from the newest "
                             f"checkpoint in {self.run_dir}") from None
        finally:
            self._restore_signal_handlers()
            self.writer.flush()

    def _preemption_handler(self):
        """On a cluster, TensorFlow's ``PreemptionCheckpointHandler``: when any worker receives SIGTERM (a
        preemption notice), every worker saves a checkpoint at the same step (the chief into the run folder, through
        :attr:`manager`), then the run stops (:class:`_Preempted`). It replaces this trainer's own SIGTERM handler
        there (one worker saving alone would leave the others waiting in a collective)."""

        def stop():
            raise _Preempted()

        config = tf.distribute.experimental.TerminationConfig(exit_fn=stop)
        return tf.distribute.experimental.PreemptionCheckpointHandler(self.strategy.cluster_resolver, self.manager,
                                                                       termination_config=config)

    def weights_checksum(self) -> str:
        """A short SHA-1 of every model variable's bytes (trainable and batch-norm statistics), to check that the
        workers of a cluster hold identical weights."""
        import hashlib

        digest = hashlib.sha1()
        for v in self.task.model.variables:
            digest.update(np.ascontiguousarray(v.numpy()).tobytes())
        return digest.hexdigest()[:16]

    # ---- helpers --------------------------------------------------------------------------------------
    def _check_finite(self, values: dict, it: int) -> None:
        bad = [k for k, v in values.items() if not math.isfinite(v)]
        if not bad:
            return
        name = next((k for k in bad if k != "gradient_norm"), bad[0])
        what = "NaN" if math.isnan(values[name]) else "Inf"
        term = "the gradient" if name == "gradient_norm" else f"loss term '{name}'"
        last = self.latest_checkpoint
        kept = (f"the last good checkpoint {last} is kept" if last else "no checkpoint had been written yet")
        self.writer.flush()
        raise TrainingDiverged(f"{term} became {what} at iteration {it}; training stopped and {kept}")

    def _print_line(self, iteration: int, rate: float | None, values: dict) -> None:
        shown = " | ".join(f"{k} {v:.4g}" for k, v in values.items() if k != "gradient_norm")
        speed = "      -" if rate is None else f"{rate:7.1f}"
        print(f"iteration {iteration:>7d} | {speed} images/s | {shown}", flush=True)

    def _install_signal_handlers(self) -> None:
        self._stop_signal = None
        self._previous = {}

        def handler(signum, frame):
            name = signal.Signals(signum).name
            if self._stop_signal is not None and signum == signal.SIGINT:
                raise KeyboardInterrupt  # a second Ctrl-C aborts at once
            self._stop_signal = name
            print(f"\n{name} received: finishing this iteration, then saving a checkpoint "
                  f"(press Ctrl-C again to abort without saving)", file=sys.stderr, flush=True)

        # on a cluster SIGTERM belongs to the PreemptionCheckpointHandler (see _preemption_handler)
        for sig in (signal.SIGINT,) if self.multi_worker else (signal.SIGINT, signal.SIGTERM):
            try:
                self._previous[sig] = signal.signal(sig, handler)
            except ValueError:  # not in the main thread
                pass

    def _restore_signal_handlers(self) -> None:
        for sig, previous in getattr(self, "_previous", {}).items():
            signal.signal(sig, previous)
        self._previous = {}
