"""What every family's task shares: the modes, the run's data, building for use, and ``evaluate``.

A family's task (``hvae/<family>_task.py``) subclasses :class:`Task` and supplies

    build(shape, value_range, num_classes)   -> sets self.model and self.optimizer (strategy scope)
    loss_terms(images, labels, iteration)    -> dict of scalar tensors with 'loss' (the trainer's step)
    train(devices) -> int, generate() -> int  (the family's own training loop hooks and figures)

and may override ``after_step``, ``end_of_epoch`` (the trainer's hooks), ``data_levels``. ``evaluate``
(the likelihood of :mod:`hvae.evaluation`) is the same for every family.

Task modules are imported before TensorFlow starts (see :mod:`hvae.registry`); so is this one: TensorFlow
and the trainer are imported inside the methods.
"""

from __future__ import annotations

import json
import os
import sys

import numpy as np

from .errors import CheckpointError, ConfigError, unwritable
from .runs import load_dataset

EVALUATION_DIR = "evaluation"
EVALUATION_BATCH = 100


class Task:
    """Base of every family's task (see the module docstring).

    Args:
        config: the resolved run configuration (:func:`hvae.cli.resolve`).
        strategy: the ``tf.distribute`` strategy to build and train under.
    """

    def __init__(self, config: dict, strategy):
        self.config = config
        self.strategy = strategy
        self.run_dir = config["run_dir"]
        self.batch_size = int(config["batch_size"])
        self.dataset = None
        self.model = None
        self.optimizer = None
        self._trainer = None
        self.dataset_defaults = {}

    @property
    def family(self):
        """The family's declaration (:class:`hvae.family.Family`): the ``FAMILY`` of the task's module."""
        return sys.modules[type(self).__module__].FAMILY

    # ---- the trainer's hooks (defaults) ------------------------------------------------------------
    def loss_terms(self, images, labels, iteration):
        raise NotImplementedError

    def after_step(self, trainer, index: int) -> None:
        """Called after every training step (``index`` 0-based)."""

    def end_of_epoch(self, trainer, epoch: int):
        """Called after every epoch: ``(metrics, score)``; a lower score is better (None: no best checkpoint)."""
        return {}, None

    # ---- what a family supplies ---------------------------------------------------------------------
    def build(self, shape, value_range, num_classes=None) -> None:
        raise NotImplementedError

    def train(self, devices: str) -> int:
        raise NotImplementedError

    def generate(self) -> int:
        raise NotImplementedError

    def default_compile_mode(self) -> str:
        """The fastest correct way to run this configuration's step on a CPU (``tf.function`` or XLA), as measured
        by ``benchmarks/train_speed.py`` (README, Speed). A family overrides it for a configuration where XLA wins.

        Measured on 2026-11-23 (2 cores, every configuration of every family, interleaved): with the Adam
        families' fused update (:class:`hvae.optimizers.FusedAdam`), ``tf.function`` was the fastest or within
        the noise of XLA everywhere but SA-VAE (the Laplace family overrides it), and XLA was 10-36% slower on the
        32x32 and 64x64 VLadders, the MLP VAE, VLAE and the LVAE."""
        return "function"

    def evaluation_compile_mode(self) -> str:
        """How ``evaluate`` runs its importance sampling: ``--compile`` when given, else ``tf.function``, which
        ``benchmarks/evaluation_speed.py`` measured faster than XLA for every model (1.4-2.4x)."""
        mode = self.config.get("compile") or "auto"
        return "function" if mode == "auto" else mode

    def compile_mode(self) -> str:
        """``--compile``, with ``auto`` (the default) resolved by :meth:`default_compile_mode`."""
        mode = self.config.get("compile") or "auto"
        return self.default_compile_mode() if mode == "auto" else mode

    def data_levels(self) -> int | None:
        """Distinct pixel values of the data the model is evaluated on (2 binary, 256 8-bit, None
        continuous); a family that binarises on the fly returns 2."""
        return self.data().levels

    # ---- shared -----------------------------------------------------------------------------------------
    def main(self, devices: str) -> int:
        """Run the configured mode: ``train``, ``generate`` or ``evaluate``."""
        mode = self.config["mode"]
        if mode == "evaluate":
            return self.evaluate()
        if mode == "generate" and self.config.get("export"):
            return self.export(self.config["export"])
        if mode == "generate":
            return self.generate()
        return self.train(devices)

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
        trainer = self.restore_for_use(best=bool(self.config.get("best")))
        print(f"{self.config['netname']} ({self.config['model']}) at iteration {int(trainer.iteration.numpy())}",
              flush=True)
        self.model.save(path)
        print(f"wrote {path} (keras.models.load_model({path!r}) after importing models)")
        return 0

    def data(self):
        """The run's dataset (loaded once, with its validation split), with the loader options of the family's
        original (``Family.dataset_options``) where the run's ``--dataset_option`` does not set them; those are
        recorded in ``self.dataset_defaults`` and in the config (``dataset_option_defaults``)."""
        if self.dataset is None:
            fam = self.family
            options = dict(self.config.get("dataset_options") or {})
            added = {k: v for k, v in fam.dataset_options.get(self.config["dataset"], {}).items() if k not in options}
            self.dataset_defaults = added
            self.config["dataset_options"] = {**options, **added}
            if added:
                self.config["dataset_option_defaults"] = added
            self.dataset = load_dataset(self.config)
        return self.dataset

    def build_for_use(self) -> None:
        """Build the model from ``config.json``'s image shape and range (no data needed), else from the data."""
        config = self.config
        shape = tuple(config.get("image_shape") or ())
        value_range = tuple(config.get("value_range") or ())
        num_classes = config.get("num_classes")
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
        """A :class:`hvae.trainer.Trainer` with the run's seed, compile mode and frequencies. Under the
        ``mixed_float16`` policy the optimizer gets a dynamic loss scale (``keras.optimizers.LossScaleOptimizer``)."""
        import keras

        from .trainer import Trainer

        if keras.mixed_precision.global_policy().name == "mixed_float16" and \
                not isinstance(self.optimizer, keras.optimizers.LossScaleOptimizer):
            with self.strategy.scope():
                self.optimizer = keras.optimizers.LossScaleOptimizer(self.optimizer)
                self.optimizer.build(self.model.trainable_variables)

        config = self.config
        options = dict(seed=config.get("seed") or 0, compile_mode=self.compile_mode(),
                       checkpoint_frequency=config.get("checkpoint_frequency", 2000),
                       log_frequency=config.get("log_frequency", 20))
        options.update(kwargs)
        self._trainer = Trainer(self, self.strategy, **options)
        return self._trainer

    def restore_for_use(self, best: bool = False):
        """Build, then restore the newest (or best) checkpoint. Returns the trainer.

        Raises:
            CheckpointError: no checkpoint (or no best one), or one of another model.
        """
        if self.model is None:
            self.build_for_use()
        trainer = self.make_trainer()
        trainer.restore(required=True, best=best)
        return trainer

    # ---- evaluate -----------------------------------------------------------------------------------------
    def evaluate(self) -> int:
        """``python train.py MODEL evaluate``: the importance-weighted likelihood of a split.

        Restores the newest checkpoint (``--best``: the best by validation score), evaluates ``--split``
        (test) with ``--iw_samples`` K (1000) and writes ``model/<netname>/evaluation/<split>_k<K>.json``
        (``_n<N>`` with ``--num_images``) and TensorBoard scalars ``evaluation/<split>/...`` at the
        checkpoint's iteration.

        Raises:
            ConfigError: unknown split, a model without a posterior, K < 1.
            CheckpointError: nothing to restore.
        """
        from .evaluation import Evaluator

        config = self.config
        split = config.get("split") or "test"
        k = int(config.get("iw_samples") or 1000)
        data = self.data()
        if split not in data.splits:
            raise ConfigError(f"dataset {data.name} has no {split} split here (it has {', '.join(data.splits)}); "
                              f"the validation split comes from --validation_size")
        if config.get("num_images"):
            wanted, size = int(config["num_images"]), data.sources[split].size
            if wanted > size:
                print(f"--num_images {wanted:,} is more than the {split} split's {size:,} images: evaluating all "
                      f"{size:,}", flush=True)
            data = data.subset(split, wanted)
        best = bool(config.get("best"))
        self.build(data.shape, data.value_range, data.num_classes)
        if not getattr(self.model, "has_posterior", True):
            raise ConfigError(f"{config['model']} has a deterministic encoder: there is no posterior q(z|x) to "
                              f"importance-sample, so no likelihood bound can be computed")
        trainer = self.restore_for_use(best=best)
        checkpoint = (trainer.best_manager if best else trainer.manager).latest_checkpoint
        iteration = int(trainer.iteration.numpy())
        n = data.sources[split].size
        print(f"{config['netname']} ({config['model']}) at iteration {iteration} ({checkpoint}): {split} split, "
              f"{n:,} images, K = {k:,} importance samples", flush=True)
        evaluator = Evaluator(self.model, k, compile_mode=self.evaluation_compile_mode())
        batches = data.batches(split, EVALUATION_BATCH, with_labels=True)
        result = evaluator.evaluate(batches, n, levels=self.data_levels(), image_shape=data.shape,
                                    what=f"{split}, K={k}")
        result["active_units"] = evaluator.active_units(data.batches(split, EVALUATION_BATCH, with_labels=True))
        result.update(netname=config["netname"], model=config["model"], dataset=data.name, split=split,
                      checkpoint=checkpoint, iteration=iteration, best=best, image_shape=list(data.shape),
                      split_notes=[note for note in data.notes if note.startswith(f"{split}:")])
        # the result first: an evaluation can take an hour, and a run folder that cannot be written must not lose it
        print(format_evaluation(result), flush=True)
        try:
            path = self.write_evaluation(result)
        except OSError as err:
            print(json.dumps(result, indent=2, default=_json_default), flush=True)
            raise unwritable(err, "the evaluation was printed above (its summary, then its JSON)") from None
        print(f"wrote {path}")
        return 0

    def write_evaluation(self, result: dict) -> str:
        """Save the evaluation as JSON and TensorBoard scalars; returns the JSON's path."""
        name = f"{result['split']}_k{result['iw_samples']}"
        if any("a fixed random" in note for note in result.get("split_notes", [])):
            name += f"_n{result['num_images']}"
        folder = os.path.join(self.run_dir, EVALUATION_DIR)
        os.makedirs(folder, exist_ok=True)
        path = os.path.join(folder, name + ".json")
        tmp = path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(result, f, indent=2, default=_json_default)
        os.replace(tmp, path)
        if self._trainer is not None:
            prefix = f"evaluation/{result['split']}"
            scalars = {f"{prefix}/iw_bound_k{result['iw_samples']}": result["iw_bound"]["mean"],
                       f"{prefix}/elbo": result["elbo"]["mean"]}
            for l, kl in enumerate(result["kl_per_layer"]):
                scalars[f"{prefix}/kl/layer{l}"] = kl["mean"]
            for l, a in enumerate(result["active_units"]["active"]):
                scalars[f"{prefix}/active_units/layer{l}"] = a
            self._trainer.scalars(scalars, step=result["iteration"])
            self._trainer.writer.flush()
        return path


def _json_default(value):
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    return str(value)


def format_evaluation(result: dict) -> str:
    """A few lines summarising an evaluation (nats per image, ± one standard error)."""
    iw, elbo = result["iw_bound"], result["elbo"]
    k = result["iw_samples"]
    kind = result["density"]["kind"]
    name = {"log-probability": "log p(x)", "density": "log-density", "cross-entropy": "-cross-entropy"}[kind]
    lines = [f"  {name} >= {iw['mean']:.2f} ± {iw['sem']:.2f} nats/image (importance-weighted bound, K = {k:,}); "
             f"ELBO {elbo['mean']:.2f} ± {elbo['sem']:.2f}"]
    if result.get("bits_per_dim"):
        b = result["bits_per_dim"]
        lines.append(f"  bits/dim {b['iw_bound']:.4f} ± {b['sem']:.4f} (ELBO {b['elbo']:.4f})")
    kls = ", ".join(f"{kl['mean']:.2f}" for kl in result["kl_per_layer"])
    au = result.get("active_units") or {}
    units = ", ".join(f"{a}/{u}" for a, u in zip(au.get("active", []), au.get("units", [])))
    lines.append(f"  KL per layer (bottom to top): {kls} nats; active units: {units}")
    lines.append(f"  {result['density']['note']}")
    lines.append(f"  {result['seconds']:.1f} s, {result['importance_samples_per_second']:,.0f} importance samples/s")
    return "\n".join(lines)


__all__ = ["Task", "format_evaluation", "CheckpointError"]
