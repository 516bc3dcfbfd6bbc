"""The one task template: train / generate / evaluate / export, monitoring and figure writing, for every family.

A family's task (``hvae/<family>_task.py``) subclasses :class:`Task` and supplies hooks; the template owns the
rest (the data, building in the strategy's scope, the trainer, resuming, ``config.json``, the console, the figures'
files and TensorBoard, the likelihood evaluation, the Keras export). The whole interface on one screen:

    required
      build_model(shape, value_range, num_classes) -> model      the family's Keras model (built)
      measure(split, iteration) -> {name: float}                   metrics over a split (monitoring)
      draw_figures(iteration, split) -> {name: Figure}             the figures (canvases; nothing written)
    optional (defaults in brackets)
      build_optimizer() -> optimizer            [FusedAdam(learning_rate, 0.9, 0.999, 1e-8), TF1 / PyTorch Adam]
      default_learning_rate: float              [1e-3]
      loss_terms(images, labels, iteration)     [the model's training objective]
      schedule: "epochs" | "iterations"         [epochs: monitor after every epoch; iterations: every
                                                 monitor_frequency() steps and (monitor_first) after step 1]
      describe() -> str                         [the model's class and parameter count]: the header line
      recorded() -> dict                        [{}]: what config.json records beyond the settings
      monitor_line(split, metrics, iteration)   [``iteration N (epoch E): <split> <metrics>``]
      test_line(metrics, iteration)             [``end of training (iteration N): test <metrics>``]
      score(split, metrics) -> float | None     [None: no best checkpoint]; lower is better
      measure_test(iteration) -> dict           [measure("test", iteration)]: once, when training ends
      evaluation_notes() -> [str]               [none]: what evaluate's bound means for this run
      on_start(resumed) -> [lines]              [nothing]: data-dependent initialisation, statistics, history
      on_step(state)                            [the iteration schedule's monitoring]
      figure_paths(name, iteration, index)      [<run>/<name>/current.png and epoch<index>.png] (hvae.task_figures)
      generate() -> int                         [restore, draw_figures, write]; the collection adds IMAGE

Monitoring (:meth:`Task.monitor`) measures :meth:`monitor_split` (``validation``; ``test`` only with
``--validation_size=0``), writes ``<split>/<metric>`` scalars, keeps the best checkpoint by :meth:`score` (on the
validation split only: nothing is selected on the test split, and a run without a validation split has no
``best/``), prints
:meth:`monitor_line` and writes the figures. A finished training run is monitored once more where its last step was
not, and its test split measured once. Task modules are imported before TensorFlow starts (see
:mod:`hvae.registry`); so is this one: TensorFlow, Keras and the trainer are imported inside the methods.
"""

from __future__ import annotations

import os
import sys

import numpy as np

from . import figures
from .errors import CheckpointError, ConfigError
from .loss_history import LossHistory
from .runs import DEFAULT_LR_DECAY, Invocation, ResolvedRun, RunConfig, load_dataset, save_config_json
from .task_figures import Figure, FigureFiles  # noqa: F401  (Figure: re-exported for the families)

NO_VALIDATION_NOTE = ("no validation split (--validation_size=0): monitoring measures the test split (its lines say "
                      "test) and no best checkpoint is kept; generate and evaluate use the newest checkpoint")


class Task(FigureFiles):
    """Base of every family's task (see the module docstring).

    Args:
        resolved: the typed run (:class:`hvae.runs.ResolvedRun`, of :func:`hvae.cli.resolve`): ``self.run``,
            ``self.settings`` and ``self.invocation`` are its parts.
        strategy: the ``tf.distribute`` strategy to build and train under.
    """

    schedule = "epochs"
    monitor_first = False
    keep_loss_history = False    # every iteration's loss in self.loss_history (hvae.loss_history, a trainer callback)
    default_learning_rate = 1e-3
    adam = dict(beta_1=0.9, beta_2=0.999, epsilon=1e-8)

    def __init__(self, resolved: ResolvedRun, strategy):
        self.resolved = resolved
        self.strategy = strategy
        self.run_dir = self.invocation.run_dir
        self.batch_size = int(self.run.batch_size)
        self.dataset = None
        self.model = None
        self.optimizer = None
        self._trainer = None
        self._state = None
        self._last_monitor = None
        self._compiled = {}
        self.loss_history = LossHistory(self.run_dir) if self.keep_loss_history else None
        self.dataset_defaults = {}
        self.num_classes = None
        self.display_range = (0.0, 1.0)
        self.image = None             # generate IMAGE's image (RGB uint8), read by generate()

    @property
    def run(self) -> RunConfig:
        """The engine's settings of the run (``--batch_size``, ``--seed``, ...)."""
        return self.resolved.run

    @property
    def settings(self):
        """The family's own typed settings (``Family.settings``: ``--vis_frequency``, ``--preset``, ...)."""
        return self.resolved.settings

    @property
    def invocation(self) -> Invocation:
        """The model, the mode, ``generate``'s image and the run folder."""
        return self.resolved.invocation

    @property
    def family(self):
        """The family's declaration (:class:`hvae.family.Family`): the ``FAMILY`` of the task's module."""
        return sys.modules[type(self).__module__].FAMILY

    @property
    def name(self) -> str:
        """The model's name (``VAE``, ``LVAE``, ...)."""
        return self.invocation.model

    @property
    def learning_rate(self) -> float:
        """``--learning_rate``, else the family's original value (:attr:`default_learning_rate`)."""
        return float(self.run.learning_rate or self.default_learning_rate)

    def learning_rate_steps(self) -> tuple | None:
        """``--lr_milestones`` / ``--lr_decay`` as ``(boundaries, values)`` in optimizer steps
        (:func:`hvae.runs.learning_rate_steps`), or None for a constant rate. The boundaries recorded in
        ``config.json`` (``lr_boundaries``) are used where present, so that ``evaluate`` and ``generate`` build the
        training run's optimizer without reading the training split; else they come from the data's steps per
        epoch (training images // batch size)."""
        if not self.run.lr_milestones:
            return None
        from .runs import learning_rate_steps

        recorded = self.resolved.lr_boundaries
        boundaries, values = learning_rate_steps(self.learning_rate, self.run.lr_milestones, self.run.lr_decay,
                                                 1 if recorded else self._steps_per_epoch())
        return ([int(b) for b in recorded] if recorded else boundaries), values

    @property
    def learning_rate_schedule(self):
        """What the optimizer takes as its learning rate: :attr:`learning_rate` (a float), or with
        ``--lr_milestones`` a ``keras.optimizers.schedules.PiecewiseConstantDecay`` of the optimizer's step
        (:meth:`learning_rate_steps`), which the checkpoint's ``optimizer.iterations`` restores."""
        steps = self.learning_rate_steps()
        if steps is None:
            return self.learning_rate
        import keras

        return keras.optimizers.schedules.PiecewiseConstantDecay(*steps)

    # ---- hooks (see the module docstring) ----------------------------------------------------------------------
    def build_model(self, shape, value_range, num_classes=None):
        raise NotImplementedError

    def saved_model_config(self):
        """The typed model config of the run folder's ``config.json`` (its ``model`` section, read back into the
        family's config class), or None for a fresh run or a folder written before the typed configs. A resumed,
        generated or evaluated run is built from it: the flags given can only repeat it (the command line
        rejects a flag that contradicts it), so nothing is rebuilt from a rule that may have changed since."""
        saved = self.resolved.model_config
        config_class = self.family.configs.get(self.name)
        if not saved or config_class is None:
            return None
        try:
            return config_class.from_dict(saved)
        except (TypeError, ValueError):
            return None   # an older layout of the section: the family's rule rebuilds it, as before

    def build_optimizer(self):
        """Adam with the originals' constants (TF1's and PyTorch's epsilon 1e-8), in one fused kernel, at
        :attr:`learning_rate_schedule`."""
        from .optimizers import FusedAdam  # Adam's arithmetic in one fused kernel (docs/performance.md)

        return FusedAdam(self.learning_rate_schedule, **self.adam)

    def loss_terms(self, images, labels, iteration):
        """The training step's objective: the model's ``loss_terms`` in training mode (labels for a conditional
        model only)."""
        labels = labels if getattr(self.model, "conditional", False) else None
        return self.model.loss_terms(images, labels, iteration, training=True)

    def measure(self, split: str, iteration: int) -> dict:
        raise NotImplementedError

    def draw_figures(self, iteration: int, split: str) -> dict:
        raise NotImplementedError

    def describe(self) -> str:
        return f"{self.name}, {self.model.count_parameters():,} parameters"

    def recorded(self) -> dict:
        return {}

    def describe_metrics(self, split: str, metrics: dict) -> str:
        return f"{split} " + ", ".join(f"{k} {v:.4g}" for k, v in metrics.items())

    def monitor_line(self, split: str, metrics: dict, iteration: int) -> str:
        epoch = iteration / self._steps_per_epoch() if self.dataset is not None else 0
        return f"iteration {iteration} (epoch {epoch:.2f}): {self.describe_metrics(split, metrics)}"

    def test_line(self, metrics: dict, iteration: int) -> str:
        return f"end of training (iteration {iteration}): {self.describe_metrics('test', metrics)}"

    def score(self, split: str, metrics: dict):
        return None

    def evaluation_notes(self) -> list:
        """What the evaluated bound means for this run beyond the density's kind (recorded as ``notes`` in the
        evaluation's JSON and printed); default none."""
        return []

    def measure_test(self, iteration: int) -> dict:
        """The test split's metrics, measured once when training ends (default :meth:`measure`)."""
        return self.measure("test", iteration)

    def on_start(self, resumed: bool) -> list:
        return []

    def monitor_frequency(self) -> int | None:
        """The iteration schedule's steps between monitoring passes (``--vis_frequency``)."""
        return getattr(self.settings, "vis_frequency", None)

    def default_compile_mode(self) -> str:
        """The fastest correct way to run this configuration's step on a CPU (``tf.function`` or XLA), as measured
        by ``benchmarks/train_speed.py``: ``tf.function``, which a family overrides for a configuration where XLA
        wins (SA-VAE). The measurements are in docs/performance.md ("Every configuration")."""
        return "function"

    def evaluation_compile_mode(self) -> str:
        """How ``evaluate`` runs its importance sampling: ``--compile`` when given, else ``tf.function``, which
        ``benchmarks/evaluation_speed.py`` measured faster than XLA for every model (docs/performance.md,
        "Evaluation speed")."""
        mode = self.run.compile
        return "function" if mode == "auto" else mode

    def compile_mode(self) -> str:
        """``--compile``, with ``auto`` (the default) resolved by :meth:`default_compile_mode`."""
        mode = self.run.compile
        return self.default_compile_mode() if mode == "auto" else mode

    def data_levels(self) -> int | None:
        """Distinct pixel values of the data the model is evaluated on (2 binary, 256 8-bit, None
        continuous); a family that binarises on the fly returns 2."""
        return self.data().levels

    def check_data(self, data) -> None:
        """Reject data the family cannot train on (before building); raise ``ConfigError``."""

    # ---- the trainer's callbacks ---------------------------------------------------------------------------------
    def on_step(self, state) -> None:
        """The iteration schedule: monitor after step 1 (:attr:`monitor_first`) and every
        :meth:`monitor_frequency` steps."""
        if self.schedule != "iterations":
            return
        every = self.monitor_frequency()
        if (self.monitor_first and state.iteration == 1) or (every and state.iteration % every == 0):
            self.monitor(state)

    def on_epoch_end(self, state):
        """The epoch schedule: monitor after every epoch. Returns ``(metrics, None)``: the best checkpoint is kept
        by :meth:`monitor` itself."""
        if self.schedule != "epochs":
            return None
        return self.monitor(state), None

    # ---- shared ---------------------------------------------------------------------------------------------------
    def monitor_split(self) -> str:
        """``validation``; ``test`` only where the data has no validation split (``--validation_size=0``)."""
        return "validation" if "validation" in self.data().splits else "test"

    def to_display(self, x) -> np.ndarray:
        """Model values -> [0, 1] for the figures (the data's value range)."""
        return figures.to_display(x, self.display_range)

    def print(self, text: str = "") -> None:
        """A line on the console (through the progress display while training)."""
        if self._state is not None:
            self._state.print(text)
        else:
            print(text, flush=True)

    def monitor(self, state, final: bool = False) -> dict:
        """One monitoring pass after ``state.iteration`` steps: measure :meth:`monitor_split`, TensorBoard
        ``<split>/<metric>``, the best checkpoint by :meth:`score` (on the validation split only: a run without one
        keeps none), the console line, the figures. Returns the metrics."""
        iteration = state.iteration
        split = self.monitor_split()
        metrics = self.measure(split, iteration)
        state.scalars({f"{split}/{k}": v for k, v in metrics.items()}, step=iteration)
        line = self.monitor_line(split, metrics, iteration)
        score = self.score(split, metrics) if split == "validation" else None   # nothing is selected on the test split
        if score is not None and state.save_best(score):
            line += " (new best)"
        self.print(line)
        drawn = self.draw_figures(iteration, split)
        if drawn:
            written = self.write_figures(drawn, iteration, self.figure_index(iteration, final))
            inside = all(os.path.abspath(p).startswith(os.path.abspath(self.run_dir) + os.sep) for p in written)
            shown = ", ".join(os.path.relpath(p, self.run_dir) if inside else p for p in written)
            self.print(f"figures in {self.run_dir}/: {shown}" if inside else f"figures: {shown}")
        self._last_monitor = iteration
        if self.loss_history is not None:
            self.loss_history.save()
        return metrics

    def split_means(self, split: str, terms=None, iteration: int = 1, seed: int | None = None):
        """Each scalar of ``terms(images, labels, iteration)`` (default: the model's ``loss_terms`` in eval mode,
        labels for a conditional model only) averaged over a whole split, per image (a batch weighted by its size),
        in ``tf.function`` (compiled once per ``terms``).

        Args:
            split: the split to read.
            terms: ``(images, labels, iteration) -> {name: scalar}``; a function or bound method (one compiled
                ``tf.function`` is kept per function: do not pass a new lambda at every call).
            iteration: the schedules' iteration (KL warm-up, beta), at least 1.
            seed: read the split in one fixed shuffled order (batch-level terms such as MMD need batches drawn like
                the training ones); None: in order.
        Returns:
            ``(means, rows)``: ``{term: mean}`` and ``[(batch size, {term: value})]`` per batch.
        """
        import tensorflow as tf

        if terms is None:
            model = self.model
            conditional = bool(getattr(model, "conditional", False))

            def terms(images, labels, it):
                return model.loss_terms(images, labels if conditional else None, it, training=False)

            key = "loss_terms"
        else:
            key = terms
        compiled = self._compiled.get(key)
        if compiled is None:
            compiled = self._compiled[key] = tf.function(terms, reduce_retracing=True)
        it = tf.constant(max(int(iteration), 1), tf.int64)
        sums, count, rows = {}, 0, []
        for images, labels in self.data().batches(split, self.batch_size, shuffle=seed is not None, seed=seed,
                                                   drop_remainder=False, with_labels=True):
            n = int(images.shape[0])
            values = {k: float(v) for k, v in compiled(images, labels, it).items()}
            rows.append((n, values))
            for k, v in values.items():
                sums[k] = sums.get(k, 0.0) + v * n
            count += n
        return {k: v / max(count, 1) for k, v in sums.items()}, rows

    def _steps_per_epoch(self) -> int:
        return max(self.data().train_size // self.batch_size, 1)

    # ---- modes ----------------------------------------------------------------------------------------------------
    def main(self, devices: str) -> int:
        """Run the configured mode: ``train``, ``generate`` or ``evaluate``."""
        mode = self.invocation.mode
        if mode == "evaluate":
            return self.evaluate()
        if mode == "generate" and self.run.export:
            return self.export(self.run.export)
        if mode == "generate":
            return self.generate()
        return self.train(devices)

    def train(self, devices: str) -> int:
        """``python train.py MODEL train``: data, build, restore the newest checkpoint (a resumed run continues at
        its iteration and data position), ``config.json``, train with monitoring, then monitor the final state
        (where the last step was not monitored) and measure the test split once."""
        data = self.data()
        self.check_data(data)
        self.build(data.shape, data.value_range, data.num_classes)
        trainer = self.make_trainer()
        resumed = trainer.restore()
        start = int(trainer.iteration.numpy())
        if self.loss_history is not None:
            self.loss_history.load(start)
        notes = self.on_start(resumed)
        self.save_config()
        print(f"{self.run.netname}: {self.describe()}; batch {self.batch_size}; {devices}")
        print(f"data: {data.describe()}")
        for note in notes:
            print(note)
        if self.monitor_split() == "test":
            print(NO_VALIDATION_NOTE)
        if resumed:
            print(f"resumed from {trainer.latest_checkpoint} at iteration {start}")
        steps = self.learning_rate_steps()
        if steps is not None:
            now = float(keras_learning_rate(self.optimizer))
            print(f"learning rate {now:g} at optimizer step {int(self.optimizer.iterations.numpy())}; "
                  f"x {self.run.lr_decay or DEFAULT_LR_DECAY:g} after epochs "
                  f"{', '.join(map(str, self.run.lr_milestones))} (steps {', '.join(str(b + 1) for b in steps[0])})")
        print(f"writing to {self.run_dir}/ ({self.tensorboard_hint()})", flush=True)
        status = trainer.fit(max_iterations=self.run.max_iterations, epochs=self.run.epochs)
        self._state = None
        last = int(trainer.iteration.numpy())
        if status == "done" and last > start:
            state = trainer.state
            if self._last_monitor != last:
                self.monitor(state, final=True)
            if self.monitor_split() != "test":
                metrics = self.measure_test(last)
                trainer.scalars({f"test/{k}": v for k, v in metrics.items()}, step=last)
                print(self.test_line(metrics, last), flush=True)
        self.on_end()
        trainer.writer.flush()
        epoch = f" (epoch {last / trainer.steps_per_epoch:.2f})" if self.schedule == "epochs" else ""
        print(f"{status} at iteration {last}{epoch}; newest checkpoint {trainer.latest_checkpoint}")
        return 0

    def on_end(self) -> None:
        """After training (done or stopped): save what the family keeps beside the checkpoints."""
        if self.loss_history is not None:
            self.loss_history.save()

    def generate(self) -> int:
        """Restore the newest (``--best``: the best) checkpoint and draw every figure into ``generated.png``
        (:meth:`figure_paths`; a training run's ``current.png`` and ``epoch<k>.png`` files are left alone). ``generate IMAGE`` (a family with
        ``Family.generate_image``) reads the image into ``self.image`` (RGB uint8) first, for ``draw_figures``.

        Raises:
            ConfigError: the image cannot be read.
            CheckpointError: nothing to restore.
            DatasetError: the run's dataset cannot be loaded (figures of data need it).
        """
        if self.invocation.image:   # generate IMAGE (Family.generate_image): read first, a bad path fails fast
            self.image = figures.read_image(self.invocation.image)
        trainer = self.restore_for_use(best=self.run.best)
        iteration = int(trainer.iteration.numpy())
        which = " (best checkpoint)" if self.run.best else ""
        print(f"{self.run.netname} ({self.name}) at iteration {iteration}{which} "
              f"({(trainer.best_manager if self.run.best else trainer.manager).latest_checkpoint})", flush=True)
        written = self.write_figures(self.draw_figures(iteration, self.generate_split()), iteration, None)
        trainer.writer.flush()
        for path in written:
            print(f"wrote {path}")
        return 0

    def generate_split(self) -> str:
        """The split ``generate``'s figures of data show (the monitored one)."""
        return self.monitor_split()

    def export(self, path: str) -> int:
        """``generate --export PATH.keras``: restore the newest (``--best``: best) checkpoint and save the model as
        a Keras file (architecture, weights, batch-norm statistics, the objective's settings).

        Raises:
            ConfigError: the path does not end in ``.keras`` or its folder does not exist.
        """
        if not str(path).endswith(".keras"):
            raise ConfigError(f"--export writes a Keras file: give a path ending in .keras, not {path!r}")
        folder = os.path.dirname(os.path.abspath(path))
        if not os.path.isdir(folder):
            raise ConfigError(f"--export: folder {folder} does not exist")
        trainer = self.restore_for_use(best=self.run.best)
        print(f"{self.run.netname} ({self.name}) at iteration {int(trainer.iteration.numpy())}",
              flush=True)
        self.model.save(path)
        print(f"wrote {path} (keras.models.load_model({path!r}) after importing models)")
        return 0

    @property
    def dataset_options(self) -> dict:
        """The loader options of the run: ``--dataset_option``'s, and the family original's that it does not set
        (:attr:`dataset_defaults`, known once :meth:`data` has run)."""
        return {**self.resolved.dataset_options, **self.dataset_defaults}

    def data(self):
        """The run's dataset (loaded once, with its validation split), with the loader options of the family's
        original (``Family.dataset_options``) where the run's ``--dataset_option`` does not set them; those are
        recorded in ``self.dataset_defaults`` and in ``config.json`` (``dataset_option_defaults``)."""
        if self.dataset is None:
            fam = self.family
            options = self.resolved.dataset_options
            self.dataset_defaults = {k: v for k, v in fam.dataset_options.get(self.run.dataset, {}).items()
                                     if k not in options}
            self.dataset = load_dataset(self.run, self.dataset_options)
            for note in self.dataset.notes:   # what the data choice means for the numbers, said once
                if note.startswith("warning:"):
                    print(note, file=sys.stderr, flush=True)
        return self.dataset

    def build(self, shape, value_range, num_classes=None) -> None:
        """Build the model (:meth:`build_model`) and its optimizer (:meth:`build_optimizer`, variables created) in
        the strategy's scope, batch norm synchronised over replicas with ``--sync_batch_norm``.

        Raises:
            ConfigError: the model rejects a setting (its ``ValueError``, in one line).
        """
        from hvae.models.layers import synchronized_batch_norm

        self.num_classes = num_classes
        self.display_range = tuple(float(v) for v in value_range)
        try:
            with self.strategy.scope(), synchronized_batch_norm(self.run.sync_batch_norm):
                self.model = self.build_model(tuple(int(s) for s in shape), self.display_range, num_classes)
                self.optimizer = self.build_optimizer()
                self.optimizer.build(self.model.trainable_variables)
        except ValueError as err:
            raise ConfigError(f"{self.name}: {err}") from None

    def save_config(self) -> str:
        """Write ``config.json``: the settings, the data's shape, range and classes, and :meth:`recorded`."""
        m = self.model
        extra = {"image_shape": list(m.image_shape), "value_range": list(self.display_range),
                 "num_classes": self.num_classes, "learning_rate": self.learning_rate,
                 "parameters": m.count_parameters()}
        if hasattr(m, "config") and hasattr(m.config, "to_dict"):
            extra["model_config"] = m.config.to_dict()
        steps = self.learning_rate_steps()
        if steps is not None:
            extra.update(lr_boundaries=steps[0], lr_values=steps[1])
        extra["dataset_options"] = self.dataset_options
        if self.dataset_defaults:
            extra["dataset_option_defaults"] = self.dataset_defaults
        extra.update(self.recorded())
        fam = self.family
        # each model setting once, in the typed ``model`` section under its field name (not again as a flag)
        model_flags = fam.model_flag_dests if "model_config" in extra else set()
        return save_config_json(self.resolved, extra, settings_keys=(fam.flag_dests | set(fam.defaults)) - model_flags,
                                leave_out=model_flags)

    def build_for_use(self) -> None:
        """Build the model from ``config.json``'s image shape and range (no data needed), else from the data."""
        shape = tuple(self.resolved.image_shape or ())
        value_range = tuple(self.resolved.value_range or ())
        num_classes = self.resolved.num_classes
        if not shape or not value_range:
            data = self.data()
            shape, value_range, num_classes = data.shape, data.value_range, data.num_classes
        self.build(shape, value_range, num_classes)

    def tensorboard_hint(self) -> str:
        """How to look at this run in TensorBoard: its own folder, or ``model/`` for every run side by side (each
        named by its netname; TensorBoard's run filter picks a family, e.g. ``vladder``)."""
        parent = os.path.dirname(self.run_dir) or "."
        return f"tensorboard --logdir={self.run_dir}, or --logdir={parent} to compare every run"

    def make_trainer(self, **kwargs):
        """A :class:`hvae.trainer.Trainer` of the model, the data and this task's callbacks (:meth:`on_step`,
        :meth:`on_epoch_end`), with the run's seed, compile mode and frequencies. Under the ``mixed_float16``
        policy the optimizer gets a dynamic loss scale (``keras.optimizers.LossScaleOptimizer``)."""
        import keras

        from .trainer import Trainer

        if keras.mixed_precision.global_policy().name == "mixed_float16" and \
                not isinstance(self.optimizer, keras.optimizers.LossScaleOptimizer):
            with self.strategy.scope():
                self.optimizer = keras.optimizers.LossScaleOptimizer(self.optimizer)
                self.optimizer.build(self.model.trainable_variables)

        run = self.run
        options = dict(seed=run.seed or 0, compile_mode=self.compile_mode(),
                       checkpoint_frequency=run.checkpoint_frequency, log_frequency=run.log_frequency)
        options.update(kwargs)
        task = self

        class _Callbacks:
            def on_step(self, state):
                task._state = state
                task.on_step(state)

            def on_epoch_end(self, state):
                task._state = state
                return task.on_epoch_end(state)

        data = self.dataset if self.dataset is not None else _NoData()
        self._trainer = Trainer(self.model, self.optimizer, data, self.loss_terms, batch_size=self.batch_size,
                                run_dir=self.run_dir, strategy=self.strategy,
                               callbacks=[c for c in (self.loss_history, _Callbacks()) if c is not None], **options)
        return self._trainer

    def restore_for_use(self, best: bool = False):
        """Build, then restore the newest (or best) checkpoint. Returns the trainer.

        Raises:
            CheckpointError: no checkpoint (or no best one: none is kept without a validation split, nor by a
                family that scores nothing, VLadder), or one of another model.
        """
        if best and self.run.validation_size == 0:
            raise CheckpointError(f"{self.run_dir} has no best checkpoint: the run had no validation split "
                                  f"(--validation_size=0), and none is chosen on the test split; leave out --best "
                                  f"for the newest checkpoint")
        if best and type(self).score is Task.score:   # the family scores nothing: it never keeps a best checkpoint
            raise CheckpointError(f"{self.name} keeps no best checkpoint (as its original, it keeps the newest ones "
                                  f"only): leave out --best for the newest checkpoint of {self.run_dir}")
        if self.model is None:
            self.build_for_use()
        trainer = self.make_trainer()
        trainer.restore(required=True, best=best)
        if self.loss_history is not None:
            self.loss_history.load(int(trainer.iteration.numpy()))
        return trainer

    # ---- evaluate (hvae.evaluation: the evaluator, its files and its summary) -------------------------------------
    def evaluate(self) -> int:
        """``python train.py MODEL evaluate``: :func:`hvae.evaluation.evaluate_run` of this run."""
        from .evaluation import evaluate_run

        return evaluate_run(self)

    def log_scalars(self, scalars: dict, step: int) -> None:
        """Write ``{tag: value}`` to the run's TensorBoard events at ``step`` (nothing before a trainer exists)."""
        if self._trainer is not None:
            self._trainer.scalars(scalars, step=step)
            self._trainer.writer.flush()


class _NoData:
    """The data of a trainer that restores and never trains (generate, evaluate, export without a dataset)."""

    name = "none"
    train_size = 0


def keras_learning_rate(optimizer) -> float:
    """The learning rate ``optimizer`` applies at its next step (its schedule at ``optimizer.iterations``; the
    inner optimizer's under a ``LossScaleOptimizer``)."""
    inner = getattr(optimizer, "inner_optimizer", optimizer)
    return float(inner.learning_rate.numpy() if hasattr(inner.learning_rate, "numpy") else inner.learning_rate)


__all__ = ["Task", "CheckpointError"]
