"""Open a run of ``train.py`` from Python.

    import hvae
    run = hvae.load_run("model/vladder_mnist")          # newest checkpoint; best=True: model/<netname>/best/
    run.model.sample(16)                                 # a Keras model of its family (models.base.HVAEModel)
    run.config["dataset"], run.iteration, run.checkpoint

The model is built exactly as ``train.py`` builds it for that run (the family's task reads ``config.json``),
then its checkpoint is restored (weights and batch-norm statistics; the optimizer's state too, so
``run.model.optimizer`` continues where training stopped).
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

    Args:
        run_dir: the run folder (``model/<netname>``).
        best: restore ``run_dir/best/`` (the best checkpoint by the validation score) instead of the newest.

    Raises:
        ConfigError: no such folder or no ``config.json`` in it.
        CheckpointError: no checkpoint (or no best one), or one that does not match the model.
    """
    from . import registry, runtime
    from .runs import load_config_json

    run_dir = os.path.normpath(run_dir)
    config = load_config_json(run_dir)
    if config is None:
        raise ConfigError(f"{run_dir} is not a run folder of train.py (no config.json)")
    config = {**config, "run_dir": run_dir, "mode": "generate", "best": best,
              "netname": config.get("netname") or os.path.basename(run_dir)}
    strategy, _ = runtime.setup()
    task = registry.family(config["family"]).task_class()(config, strategy)
    trainer = task.restore_for_use(best=best)
    checkpoint = (trainer.best_manager if best else trainer.manager).latest_checkpoint
    return Run(task.model, config, int(trainer.iteration.numpy()), checkpoint)
