"""The speed benchmarks' cases, built from the model presets (``models.preset(name)``): one table for every family.

A case is a preset (with overrides), a batch size, a fixed batch of synthetic images of the preset's shape and
value range, and the optimizer the command line trains that family with (its class from :data:`OPTIMIZERS`, its
learning rate and constants from the family's task class: ``default_learning_rate`` and ``adam``; the collection's
learning rate is the model class's). Keras' own Adam is used where the command line uses
:class:`hvae.optimizers.FusedAdam` (the same update), so that ``train_speed.py``'s ``adam=fused`` variant can
compare the two.

    from benchmarks.cases import CASES, build_case
    built = build_case("VAE_mnist", batch=16)   # dict(model, optimizer, images, labels, loss_terms)

``loss_terms(images, labels, iteration)`` is the training step's objective (the model's ``loss_terms`` in training
mode; labels only for a conditional model), as :meth:`hvae.task.Task.loss_terms`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class Case:
    """One benchmark case.

    Attributes:
        preset: the model preset (``models.preset_names()``).
        overrides: settings changed from the preset (``models.from_preset(preset, **overrides)``).
        batch: the default batch size (the family's command-line default).
        images: ``"uniform"`` (uniform in the value range), ``"binary"`` (Bernoulli pixels with ``p_one``).
        p_one: the share of ones of binary images.
        optimizer: ``"adam"`` or ``"adamax"``.
    """

    preset: str
    batch: int
    images: str = "binary"
    p_one: float = 0.2
    optimizer: str = "adam"
    overrides: dict = field(default_factory=dict)


CASES = {
    # VLadder: batch 100, images uniform in the value range
    **{name: Case(name, 100, images="uniform") for name in ("vladder_mnist", "vladder_svhn", "vladder_celebA",
                                                             "vladder_lsun")},
    # the VAE collection: batch 64, binary 28x28 images (30% ones)
    **{f"{name}_mnist": Case(f"{name}_mnist", 64, p_one=0.3) for name in ("VAE", "CVAE", "InfoVAE", "MMDVAE")},
    # the Ladder VAE: the README's 3- and 12-layer binarized-MNIST models (3,209,153 and 11,607,809 parameters)
    "lvae_mnist_3": Case("LVAE_mnist_3", 64, optimizer="adamax"),
    "lvae_mnist_12": Case("LVAE_mnist_12", 64, optimizer="adamax"),
    # the small Ladder VAE: the defaults, and merged-posterior sampling with the Bernoulli negative ELBO
    "LVAE2": Case("LVAE2_mnist", 64, images="uniform"),
    "LVAE2_paper_nll": Case("LVAE2_mnist", 64, images="uniform", overrides={"sampling": "paper", "recon": "nll"}),
    # the Laplace family: z 50, hidden 500, the Bernoulli output, batch 128
    **{name: Case(f"{name}_binarized_mnist", 128) for name in ("VLAE_VAE", "VLAE", "HF", "IAF", "SAVAE")},
}


def _optimizer(case: Case, model):
    import keras

    from hvae import registry

    family = next(f for f in registry.families() if f.model_module == type(model).__module__)
    task = family.task_class()
    if case.optimizer == "adamax":
        lr = task.default_learning_rate
        return keras.optimizers.Adamax(lr, beta_1=0.9, beta_2=0.999, epsilon=1e-8)
    lr = getattr(type(model), "learning_rate", None) or task.default_learning_rate
    return keras.optimizers.Adam(float(lr), **task.adam)


def build_case(name: str, batch: int | None = None) -> dict:
    """Build case ``name``: ``dict(model, optimizer, images, labels, loss_terms)`` (the optimizer's variables
    created; images float32 ``(batch,) + image_shape``; labels int64 ``(batch,)``, classes 0-9 for a conditional
    model, else zeros).

    Raises:
        KeyError: no such case (the message lists them).
    """
    import tensorflow as tf

    from hvae import models

    if name not in CASES:
        raise KeyError(f"unknown case {name!r}; cases: {', '.join(CASES)}")
    case = CASES[name]
    b = int(batch or case.batch)
    model = models.from_preset(case.preset, **case.overrides)
    optimizer = _optimizer(case, model)
    optimizer.build(model.trainable_variables)
    shape = (b,) + tuple(model.image_shape)
    lo, hi = (float(v) for v in model.value_range)
    rng = np.random.RandomState(0)
    if case.images == "uniform":
        images = lo + (hi - lo) * rng.uniform(size=shape)
    else:
        images = lo + (hi - lo) * (rng.uniform(size=shape) < case.p_one)
    conditional = bool(getattr(model, "conditional", False))
    labels = tf.constant(rng.randint(0, 10, size=b) if conditional else np.zeros(b), tf.int64)
    images = tf.constant(images.astype(np.float32))

    def loss_terms(images, labels, iteration):
        return model.loss_terms(images, labels if conditional else None, iteration, training=True)

    return dict(model=model, optimizer=optimizer, images=images, labels=labels, loss_terms=loss_terms)


def trainer_step(built: dict, run_dir: str, compile_mode: str = "function"):
    """The command line's training step (:class:`hvae.trainer.Trainer`: forward, loss, gradients, optimizer update,
    iteration += 1) of a built case, ``step(images, labels) -> {term: scalar}``; ``run_dir``: the trainer's folder
    (nothing is written there unless a checkpoint is saved)."""
    from hvae.trainer import Trainer

    trainer = Trainer(built["model"], built["optimizer"], None, built["loss_terms"],
                      batch_size=int(built["images"].shape[0]), run_dir=run_dir, compile_mode=compile_mode)
    return trainer._build_step()
