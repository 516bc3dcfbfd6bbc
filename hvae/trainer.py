"""The one trainer every model family uses.

It owns what is not specific to a model: the ``tf.function`` training step (optionally XLA-compiled,
optionally mirrored over several devices), the iteration counter, checkpoints (``tf.train.CheckpointManager``:
weights, optimizer state, iteration, best test score), resuming, TensorBoard scalars, the console line,
Ctrl-C / SIGTERM handling and the NaN / Inf guard. The family's task (``hvae.task.Task``)
supplies the model, the optimizer, the loss and callbacks for visualisation points and epoch ends.

Why a trainer of our own and not ``model.fit`` with Keras callbacks. Every model is a Keras model that ``fit``
trains (``hvae.models.base.HVAEModel.train_step``, the same ``loss_terms``), and the command line could have been
``fit`` plus ``TensorBoard``, ``TerminateOnNaN``, ``BackupAndRestore`` and ``ModelCheckpoint``. It is not, for what
those callbacks do not do: a checkpoint when SIGTERM or Ctrl-C arrives (a preempted or interrupted run loses no
work; ``BackupAndRestore`` saves on a schedule only); a NaN guard that names the term that went bad and keeps the
last good checkpoint the newest (``TerminateOnNaN`` stops, saying neither); figures and validation measurements at
iteration counts, which the originals define (every ``vis_frequency`` steps, at iteration 1), with the run's
step as TensorBoard's step; resuming in the middle of an epoch at the same data position (the shuffling is
seeded per epoch and the skipped batches are never read); and one ``tf.train.CheckpointManager`` layout
(``ckpt-<iteration>``, ``best/``) that ``generate``, ``evaluate`` and ``hvae.load_run`` read. What Keras does
offer is used: its optimizers, and ``tf.summary`` for TensorBoard.

What the trainer takes: the model and its optimizer (built in the strategy's scope), the data
(:class:`hvae.datasets.base.ImageDataset`: its ``train`` split), the objective ``loss_terms(images, labels, iteration)`` ->
dict of scalar tensors with ``loss`` (traced in ``tf.function``), and callbacks. A callback is any object with some of

    on_step(state)                  after every step (state.iteration = steps completed)
    on_epoch_end(state) -> (metrics, score) or None     after every full epoch; a lower score is better: a new
                                    best keeps a copy of the checkpoint in ``best/``

They get a :class:`TrainState` (the iteration, the epoch, TensorBoard, the best checkpoint, the console), not the
trainer: hooks get state, they do not own the loop (pythae's ``TrainingCallback``). The console is one format for
every family (:mod:`hvae.progress`).
"""

from __future__ import annotations

import atexit
import math
import os
import shutil
import signal
import sys
import tempfile

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


class TrainState:
    """What a callback sees of the training (see the module docstring): read-only numbers and four services.

    Attributes:
        iteration: training steps completed (the number shown on the console, in TensorBoard and in checkpoint names).
        values: the last step's loss terms and gradient norm (floats).
        steps_per_epoch: full batches of one epoch (the trainer drops an epoch's last partial batch).
        target: the iteration training stops at (``max_iterations`` / ``epochs``, the nearer; None: until stopped).
        log_frequency, checkpoint_frequency: the run's frequencies (iterations).
        run_dir: the run folder.
    """

    def __init__(self, trainer):
        self._trainer = trainer
        self.iteration = int(trainer.iteration.numpy())
        self.steps_per_epoch = trainer.steps_per_epoch
        self.target = None
        self.log_frequency = trainer.log_frequency
        self.checkpoint_frequency = trainer.checkpoint_frequency
        self.run_dir = trainer.run_dir
        self.values = {}
        self.progress = None

    @property
    def epoch(self) -> int:
        """Full epochs completed."""
        return self.iteration // self.steps_per_epoch

    @property
    def writer(self):
        """The run folder's TensorBoard writer."""
        return self._trainer.writer

    def scalars(self, values: dict, step: int | None = None) -> None:
        """TensorBoard scalars at ``step`` (default: this iteration)."""
        self._trainer.scalars(values, step=self.iteration if step is None else step)

    def save_best(self, score: float) -> bool:
        """Keep the current state as the best checkpoint if ``score`` (lower is better) beats the best so far."""
        return self._trainer.save_best(score)

    def print(self, text: str = "") -> None:
        """Print a line of the family's own (ending the progress bar's line first on a terminal)."""
        if self.progress is not None:
            self.progress.print(text)
        else:
            print(text, flush=True)


class Trainer:
    """Trains a model on a dataset's ``train`` split (see the module docstring).

    Args:
        model, optimizer: built in ``strategy``'s scope (the optimizer's variables too).
        data: the dataset (``batches``, ``train_size``, ``name``).
        loss_terms: ``(images, labels, iteration) -> {"loss": ..., ...}``, the objective of one step.
        batch_size: images per step (global, over every replica).
        run_dir: the run folder (checkpoints, TensorBoard).
        strategy: a ``tf.distribute`` strategy (default: the current one).
        callbacks: objects with ``on_step(state)`` and/or ``on_epoch_end(state)``.
        seed: base seed of the data order (epoch e is shuffled with ``seed * 100003 + e``).
        compile_mode: ``'eager'``, ``'function'`` (``tf.function``) or ``'xla'`` (``jit_compile=True``).
        checkpoint_frequency: save every this many iterations (and at every stop).
        log_frequency: console line and TensorBoard scalars every this many iterations.
        keep_checkpoints: how many recent checkpoints to keep.
        progress_bar: draw the console's progress as a bar (default: when standard output is a terminal).
    """

    def __init__(self, model, optimizer, data, loss_terms, *, batch_size: int, run_dir: str, strategy=None,
                 callbacks=(), seed: int = 0, compile_mode: str = "function", checkpoint_frequency: int = 2000,
                 log_frequency: int = 20, keep_checkpoints: int = 2, progress_bar: bool | None = None):
        self.model = model
        self.optimizer = optimizer
        self.data = data
        self.loss_terms = loss_terms
        self.batch_size = int(batch_size)
        self.callbacks = list(callbacks)
        self.progress_bar = progress_bar
        self.strategy = strategy or tf.distribute.get_strategy()
        self.replicas = self.strategy.num_replicas_in_sync
        self.seed = int(seed)
        self.compile_mode = compile_mode
        self.checkpoint_frequency = int(checkpoint_frequency)
        self.log_frequency = int(log_frequency)
        self.run_dir = run_dir
        self.multi_worker = isinstance(self.strategy, tf.distribute.MultiWorkerMirroredStrategy)
        self.is_chief = runtime.is_chief()
        with self.strategy.scope():
            self.iteration = tf.Variable(0, dtype=tf.int64, trainable=False, name="iteration")
            self.best_score = tf.Variable(np.inf, dtype=tf.float64, trainable=False, name="best_score")
        self.checkpoint = tf.train.Checkpoint(model=model, optimizer=optimizer, iteration=self.iteration,
                                              best_score=self.best_score)
        # Every worker of a cluster saves (saving may run collective ops), but only the chief into the run folder;
        # the others into a temporary folder removed at exit. Every worker restores from the run folder (a
        # folder the cluster shares: see docs/performance.md, several devices and machines).
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
            raise CheckpointError(f"checkpoint {path} does not match model {self.model.name}: {first[:300]} "
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
        strategy, optimizer, loss_terms = self.strategy, self.optimizer, self.loss_terms
        variables = self.model.trainable_variables
        replicas = self.replicas

        import keras

        loss_scaled = isinstance(optimizer, keras.optimizers.LossScaleOptimizer)

        def replica_step(images, labels, t):
            with tf.GradientTape() as tape:
                terms = loss_terms(images, labels, t)
                scaled = terms["loss"] / replicas
                if loss_scaled:  # mixed_float16: the optimizer unscales (and skips steps with non-finite grads)
                    scaled = optimizer.scale_loss(scaled)
            grads = tape.gradient(scaled, variables)
            grads = [tf.zeros_like(v) if g is None else g for g, v in zip(grads, variables)]
            terms = {k: tf.cast(v, tf.float32) for k, v in terms.items()}
            norm = tf.linalg.global_norm(grads) * replicas
            if loss_scaled:
                # a step whose scaled gradient overflowed is skipped by the optimizer (and the scale lowered): that
                # is the loss scale doing its work, not a diverging run, so its norm is reported as 0
                scale = tf.cast(optimizer.dynamic_scale, norm.dtype)
                norm = tf.where(tf.math.is_finite(norm), norm / scale, tf.zeros_like(norm))
                terms["loss_scale"] = tf.cast(scale, tf.float32)
            terms["gradient_norm"] = norm
            optimizer.apply_gradients(zip(grads, variables))
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
            return self.data.batches("train", self.batch_size, shuffle=True, seed=seed,
                                             drop_remainder=True, skip_batches=skip_batches)
        per_replica = self.batch_size // self.replicas
        if per_replica * self.replicas != self.batch_size:
            raise HVAEError(f"--batch_size {self.batch_size} does not split evenly over {self.replicas} replicas")
        dataset = self.data

        def dataset_fn(context):
            local = self.replicas // context.num_input_pipelines
            first = context.input_pipeline_id * local
            return dataset.batches("train", per_replica, shuffle=True, seed=seed, skip_batches=skip_batches,
                                   shard=(first, local, self.replicas))

        return self.strategy.distribute_datasets_from_function(dataset_fn)

    @property
    def steps_per_epoch(self) -> int:
        return self.data.train_size // self.batch_size

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
            raise HVAEError(f"dataset {self.data.name} has {self.data.train_size} training images, "
                            f"fewer than one batch of {self.batch_size}: lower --batch_size")
        limits = [x for x in (max_iterations, epochs * spe if epochs else None) if x is not None]
        total = min(limits) if limits else None
        if self._step_fn is None:
            self._step_fn = self._build_step()
        it = int(self.iteration.numpy())
        if total is not None and it >= total:
            by_epochs = epochs and epochs * spe == total and (max_iterations is None or max_iterations > total)
            why = (f"--epochs {epochs} x {spe} iterations an epoch" if by_epochs else f"--max_iterations {total}")
            print(f"already trained for {it} iterations (target {total}: {why}); nothing to do; a larger "
                  f"{'--epochs' if by_epochs else '--max_iterations'} trains on")
            return "done"
        self._install_signal_handlers()
        self._preemption = self._preemption_handler() if self.multi_worker else None
        from .progress import Progress

        state = self.state = TrainState(self)
        state.target = total
        progress = state.progress = Progress(self.batch_size, spe, total=total, epochs=epochs, bar=self.progress_bar)
        progress.start(it)
        first = it
        try:
            while total is None or it < total:
                epoch, offset = divmod(it, spe)
                for images, labels in self.train_batches(epoch, offset):
                    terms = self._preemption.run(self._step_fn, images, labels) if self._preemption else \
                        self._step_fn(images, labels)
                    it += 1
                    values = {k: float(v) for k, v in terms.items()}
                    state.iteration, state.values = it, values
                    self._check_finite(values, it)
                    # one numbering everywhere: iteration = training steps completed (console, TensorBoard,
                    # checkpoints); a line after this invocation's first step and every log_frequency
                    log = it == first + 1 or it % self.log_frequency == 0
                    progress.update(it, values, log)
                    if log:
                        rate = progress.rate if it > first + 1 else None
                        self.scalars(values if rate is None else {**values, "images_per_second": rate}, step=it)
                    for callback in self.callbacks:
                        if hasattr(callback, "on_step"):
                            callback.on_step(state)
                    if it % self.checkpoint_frequency == 0:
                        self.save()
                    if self._stop_signal is not None or (total is not None and it >= total):
                        break
                if self._stop_signal is not None:
                    path = self.save()
                    progress.print(f"stopped by {self._stop_signal} at iteration {it}; checkpoint {path} written. "
                                   f"Run the same command again to resume.")
                    return "stopped"
                if it % spe == 0:
                    for callback in self.callbacks:
                        result = callback.on_epoch_end(state) if hasattr(callback, "on_epoch_end") else None
                        if result is not None and result[1] is not None:
                            self.save_best(result[1])
                    if self._stop_signal is not None:
                        path = self.save()
                        progress.print(f"stopped by {self._stop_signal} at iteration {it}; checkpoint {path} written.")
                        return "stopped"
            self.save()
            progress.end_line()
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
            progress.end_line()
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
        for v in self.model.variables:
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
