"""Open a run of ``train.py`` from Python.

    import hvae
    run = hvae.load_run("model/vladder_mnist")          # newest checkpoint; best=True: model/<netname>/best/
    run.model.sample(16)                                 # a Keras model of its family (models.base.HVAEModel)
    run.config["dataset"], run.iteration, run.checkpoint

The model is rebuilt from the typed ``model`` section of the run's ``config.json`` (the configuration it was
trained with, data shape and range included) and its checkpoint's weights, batch-norm statistics and iteration are
restored; no task, optimizer or data is needed. To train on, run ``train.py`` again (it resumes).
"""

from __future__ import annotations

import os
from typing import NamedTuple

from .errors import ConfigError


class Run(NamedTuple):
    """A restored run: ``model`` (built, weights restored), ``config`` (its ``config.json``), ``iteration``
    (training steps completed) and ``checkpoint`` (the path restored)."""

    model: object
    config: dict
    iteration: int
    checkpoint: str


def load_run(run_dir: str, best: bool = False) -> Run:
    """The model of a ``train.py`` run folder with its newest (``best``: best by validation) checkpoint.

    The model is rebuilt from ``config.json``'s typed ``model`` section (its config class, then the model class
    registered for it, :func:`hvae.models.base.build`), without the family's task, and its weights, batch-norm
    statistics and iteration are restored. A folder written before the typed section (``hvae`` 0.2) is opened as
    ``train.py generate`` opens it (through the family's task, which rebuilds the model from the flags).

    Args:
        run_dir: the run folder (``model/<netname>``).
        best: restore ``run_dir/best/`` (the best checkpoint by the validation score) instead of the newest.

    Raises:
        ConfigError: no such folder, no ``config.json`` in it, or a file of an unknown family or model.
        CheckpointError: no checkpoint (or no best one), or one that does not match the model.
    """
    from . import registry
    from .runs import ResolvedRun, load_config_json

    run_dir = os.path.normpath(run_dir)
    saved = load_config_json(run_dir)
    if saved is None:
        raise ConfigError(f"{run_dir} is not a run folder of train.py (no config.json)")
    saved = {**saved, "netname": saved.get("netname") or os.path.basename(run_dir)}
    try:
        fam = registry.family(saved.get("family"))
    except KeyError:
        raise ConfigError(f"{run_dir}/config.json: unknown family {saved.get('family')!r}") from None
    resolved = ResolvedRun.from_flat({**saved, "run_dir": run_dir, "mode": "generate", "best": best}, fam)
    config_class = fam.configs.get(resolved.invocation.model)
    try:
        typed = config_class.from_dict(resolved.model_config) if config_class and resolved.model_config else None
    except (TypeError, ValueError):
        typed = None        # an older layout of the section
    if typed is None:
        return _load_through_task(resolved, saved)
    return _restore(typed, saved, run_dir, best)


def _restore(typed, config: dict, run_dir: str, best: bool) -> Run:
    """Build the model of ``typed`` and restore its variables from the run's checkpoint (the trainer's layout:
    ``tf.train.Checkpoint(model=..., iteration=...)``; the optimizer's slots are left in the file)."""
    import tensorflow as tf

    from .errors import CheckpointError
    from .models.base import build

    folder = os.path.join(run_dir, "best") if best else run_dir
    path = tf.train.latest_checkpoint(folder)
    if path is None:
        raise CheckpointError(f"{run_dir} has no best checkpoint (best/): leave out best=True for the newest" if best
                              else f"{run_dir} has no checkpoint: train it first")
    try:
        model = build(typed)
    except ValueError as err:
        raise ConfigError(f"{run_dir}/config.json: {err}") from None
    iteration = tf.Variable(0, dtype=tf.int64, trainable=False)
    status = tf.train.Checkpoint(model=model, iteration=iteration).restore(path)
    try:
        status.expect_partial().assert_existing_objects_matched()
    except AssertionError as err:
        raise CheckpointError(f"{path} does not match the model of {run_dir}/config.json ({str(err)[:200]})") from None
    return Run(model, config, int(iteration.numpy()), path)


def _load_through_task(resolved, saved: dict) -> Run:
    """Open a run as ``train.py generate`` does: its family's task rebuilds the model of ``resolved`` (a
    :class:`hvae.runs.ResolvedRun`) and restores it; ``saved``: its ``config.json``, flat."""
    from . import registry, runtime

    strategy, _ = runtime.setup()
    task = registry.family(resolved.invocation.family).task_class()(resolved, strategy)
    best = resolved.run.best
    trainer = task.restore_for_use(best=best)
    checkpoint = (trainer.best_manager if best else trainer.manager).latest_checkpoint
    return Run(task.model, saved, int(trainer.iteration.numpy()), checkpoint)
