"""The Laplace family's part of the command line: ``run.py`` + ``experiment.py`` + ``eval.py`` of yookoon/VLAE
(Park, Kim & Kim, "Variational Laplace Autoencoders", ICML 2019).

    python train.py VLAE train --dataset=binarized_mnist --db_path=DATA/binarized_mnist --output_dist=bernoulli
    python train.py VLAE evaluate [--best]      # importance-weighted log-likelihood, K = 5000 by default
    python train.py VLAE generate [--best]      # or: python generate.py VLAE

Models (:mod:`models.laplace_vae`): ``VLAE``, ``VLAE_VAE`` (the paper's plain VAE baseline; the VAE collection
owns the name ``VAE``), ``HF``, ``IAF``, ``SAVAE``; the original's flags (``--z_dim``, ``--hidden_dim``,
``--output_dist``, ``--logit_transform``, ``--n_update``, ``--update_lr``, ``--n_flow``, ``--iaf_dim``,
``--n_svi_step``, ``--svi_lr``, ``--weight_decay``) keep their names and defaults; a model's own flag given to
another model is an error.

``train`` builds the model and Adam (learning rate 5e-4, PyTorch's betas 0.9/0.999 and epsilon 1e-8; with
``--weight_decay`` w the loss gets w/2 |theta|^2, PyTorch's coupled L2), and on a fresh Gaussian-output run
first passes once over the training split for the per-pixel mean and the decoder's initial log-variance. It
trains on batches of 128 for ``--epochs`` epochs with the shared :class:`hvae.trainer.Trainer` and after every
epoch

- measures the negative one-sample ELBO (the loss), its reconstruction and MC KL parts, and for VLAE the
  reconstruction error -log p(x | z = mu_t) after each update t = 0 .. T, over the whole validation split
  (``validation/...`` in TensorBoard and on the console), and keeps the best checkpoint by that loss
  (``model/<netname>/best/``): the original's per-epoch test pass, on the validation split;
- draws into ``model/<netname>/figures/<name>/current.png`` and ``epoch<k>.png`` (and TensorBoard):
  ``data`` (64 fixed validation images as the model sees them: binarised or dequantised), ``reconstruction``
  (the decoder mean at one posterior sample of each), ``samples`` (decoder means at 64 fixed prior draws),
  ``overview`` (the three with titles) and, for VLAE, ``updates`` (16 images, then the decoder mean at
  mu_0 .. mu_T, one row each).

The test split is measured once, when training ends. ``generate`` restores the newest (``--best``: the best)
checkpoint and draws the same figures into ``current.png``. ``evaluate`` is the shared importance-weighted
evaluation (:meth:`hvae.task.Task.evaluate`) with each model's final posterior as proposal.
"""

from __future__ import annotations

import argparse
import math
import os

import numpy as np

from . import figures
from .errors import ConfigError
from .family import Family, flag
from .runs import save_config_json
from .task import Task

TRAIN = ("train",)
LEARNING_RATE = 5e-4
ADAM = dict(beta_1=0.9, beta_2=0.999, epsilon=1e-8)    # torch.optim.Adam defaults
DEFAULT_EPOCHS = 100
FIGURE_IMAGES = 64
FIGURE_COLUMNS = 8
UPDATE_IMAGES = 16
FIXED_SEED = 0
STATISTICS_BATCH = 1000
MODELS = ("VLAE", "VLAE_VAE", "HF", "IAF", "SAVAE")
# the models' own flags (their defaults and which models take them: the configs of models.laplace_vae)
MODEL_OPTIONS = ("n_update", "update_lr", "update_schedule", "n_flow", "iaf_dim", "n_svi_step", "svi_lr")


def _boolean(text) -> bool:
    """``true/false`` (also 1/0, yes/no, on/off) -> bool; the original's ``type=bool`` read "False" as True."""
    value = str(text).strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


FAMILY = Family(
    name="laplace",
    title="The Laplace family (yookoon/VLAE, Park, Kim & Kim, ICML 2019): VLAE and its baselines VAE, HF, IAF, "
          "SA-VAE",
    models=MODELS,
    task="LaplaceTask",
    default_dataset="mnist",
    defaults=dict(batch_size=128, learning_rate=LEARNING_RATE, iw_samples=5000, epochs=DEFAULT_EPOCHS,
                  output_dist="gaussian", logit_transform=False, z_dim=50, hidden_dim=500, weight_decay=0.0,
                  legacy=False, **{key: None for key in MODEL_OPTIONS}),
    flags=(
        flag("--epochs", type=int, modes=TRAIN,
             help=f"training epochs (default {DEFAULT_EPOCHS}; the original 2000, about 52 GPU-hours for VLAE)"),
        flag("--output_dist", choices=("gaussian", "bernoulli"), modes=TRAIN,
             help="p(x|z): gaussian (default; pixels minus the training mean, one learned variance) or bernoulli "
                  "(grey images; binarised afresh at every use unless already binary)"),
        flag("--logit_transform", type=_boolean, nargs="?", const=True, modes=TRAIN, metavar="BOOL",
             help="gaussian output: dequantise 8-bit pixels and model logit(0.05 + 0.9 x) (--logit_transform or "
                  "--logit_transform=true/false)"),
        flag("--z_dim", type=int, modes=TRAIN, help="latent units (default 50)"),
        flag("--hidden_dim", type=int, modes=TRAIN, help="hidden units of encoder and decoder layers (default 500)"),
        flag("--weight_decay", type=float, modes=TRAIN, help="Adam L2 weight decay, PyTorch-style (default 0)"),
        flag("--n_update", type=int, modes=TRAIN,
             help="VLAE: damped Newton updates of the posterior mode (default 4; 0: Laplace at the encoder mean)"),
        flag("--update_lr", type=float, modes=TRAIN, help="VLAE: update damping alpha_t = update_lr/(t+1) (0.5)"),
        flag("--update_schedule", choices=("harmonic", "geometric"), modes=TRAIN,
             help="VLAE: harmonic update_lr/(t+1) (default, the current code) or geometric 0.9^t (the first "
                  "release's; alone it does not reproduce the original README figure's runs: docs/fidelity.md)"),
        flag("--n_flow", type=int, modes=TRAIN, help="HF: Householder reflections; IAF: flow steps (default 4)"),
        flag("--iaf_dim", type=int, modes=TRAIN, help="IAF: MADE hidden units (default 500)"),
        flag("--n_svi_step", type=int, modes=TRAIN, help="SAVAE: inner gradient steps on the ELBO (default 4)"),
        flag("--svi_lr", type=float, modes=TRAIN,
             help="SAVAE: inner step size (default 5e-4; the original's help suggests 0.1 for MNIST)"),
        flag("--legacy", action="store_true", modes=TRAIN,
             help="IAF: the original's masks, which cut the encoder context off the flow; SAVAE: the original's "
                  "inner step, which descends the ELBO and is scaled by 1/batch (see docs/fidelity.md)"),
    ),
    identity_keys=("output_dist", "logit_transform", "z_dim", "hidden_dim", "weight_decay", "legacy")
    + tuple(MODEL_OPTIONS),
    run_control_keys=("epochs",),
    model_help={"VLAE": "Variational Laplace Autoencoder: full-covariance Gaussian posterior at the Newton-refined "
                        "mode (Park et al. 2019)",
                "VLAE_VAE": "the VLAE paper's VAE baseline (MLP 500-500, z 50)",
                "HF": "VAE + Householder flow (Tomczak & Welling 2016)",
                "IAF": "VAE + inverse autoregressive flow (Kingma et al. 2016)",
                "SAVAE": "semi-amortised VAE, gradient refinement of q (Kim et al. 2018)"},
    model_module="models.laplace_vae",
)


def check_options(config: dict) -> None:
    """Reject contradictory or out-of-range settings before any data is read.

    Raises:
        ConfigError: a model's own flag given to another model, ``--legacy`` outside IAF/SAVAE, a negative count,
            a non-positive step size, ``--logit_transform`` with the Bernoulli output, ``--update_lr`` with the
            geometric schedule.
    """
    from models.laplace_vae import models_with_setting

    model = config["model"]
    for key in MODEL_OPTIONS:
        models = models_with_setting(key)
        if config.get(key) is not None and model not in models:
            raise ConfigError(f"--{key} does not apply to {model} (only to {' and '.join(models)})")
    legacy_models = models_with_setting("legacy")
    if config.get("legacy") and model not in legacy_models:
        raise ConfigError(f"--legacy does not apply to {model}: it restores the original's IAF masks and SA-VAE step "
                          f"(models {' and '.join(legacy_models)})")
    minimum = {"z_dim": 2 if model == "IAF" else 1, "hidden_dim": 1, "n_update": 0, "n_flow": 1, "iaf_dim": 1,
               "n_svi_step": 0}
    for key, low in minimum.items():
        value = config.get(key)
        if value is not None and value < low:
            why = " (MADE needs an order of at least 2 units)" if key == "z_dim" and model == "IAF" else ""
            raise ConfigError(f"--{key} must be an integer >= {low}, got {value}{why}")
    for key in ("update_lr", "svi_lr"):
        value = config.get(key)
        if value is not None and not (value > 0 and math.isfinite(value)):
            raise ConfigError(f"--{key} must be positive, got {value}")
    wd = config.get("weight_decay") or 0.0
    if not (wd >= 0 and math.isfinite(wd)):
        raise ConfigError(f"--weight_decay must be 0 or more, got {wd}")
    if config.get("logit_transform") and config.get("output_dist") == "bernoulli":
        raise ConfigError("--logit_transform applies to --output_dist gaussian only (the Bernoulli output models "
                          "binary pixels)")
    if str(config.get("precision") or "float32").startswith("mixed"):
        raise ConfigError(f"--precision {config['precision']} does not apply to the Laplace family: VLAE's Newton "
                          f"iteration and Cholesky factors, and the flows' log-determinants, run in float32")
    if config.get("update_schedule") == "geometric" and config.get("update_lr") is not None:
        raise ConfigError("--update_lr does not apply to --update_schedule geometric (alpha_t = 0.9^t)")


class LaplaceTask(Task):
    """Builds, trains, evaluates and draws one run of the Laplace family from a resolved configuration."""

    def __init__(self, config: dict, strategy):
        check_options(config)
        super().__init__(config, strategy)
        self.name = config["model"]
        self.figures_dir = os.path.join(self.run_dir, "figures")
        self._monitor_fn = None
        self._figure_images = None
        self._statistics = None

    # ---- set-up -------------------------------------------------------------------------------------------
    @property
    def learning_rate(self) -> float:
        return float(self.config.get("learning_rate") or LEARNING_RATE)

    @property
    def weight_decay(self) -> float:
        return float(self.config.get("weight_decay") or 0.0)

    @property
    def bernoulli(self) -> bool:
        return self.config.get("output_dist", "gaussian") == "bernoulli"

    def model_config(self, shape, value_range):
        """The model's config (:mod:`models.laplace_vae`) from the run's flags (None: the config's default; the
        other models' flags are not its settings) and the data's image shape and value range.

        Raises:
            ValueError: an invalid setting.
        """
        from models.laplace_vae import MODELS as CLASSES

        return CLASSES[self.name].config_class.from_settings(
            self.config, image_shape=tuple(int(s) for s in shape), value_range=tuple(float(v) for v in value_range),
            logit_transform=bool(self.config.get("logit_transform")),
            binarize=self.binarize() if self.bernoulli else None)

    def binarize(self) -> bool:
        """Whether the Bernoulli model binarises its input at every use (grey data; not already binary data).
        Read from ``config.json`` once trained."""
        if not self.bernoulli:
            return False
        if self.config.get("binarize") is not None:
            return bool(self.config["binarize"])
        return not self.data().binary

    def default_compile_mode(self) -> str:
        """XLA for SA-VAE (its step with the inner refinement: 6% faster than ``tf.function`` with FusedAdam,
        interquartile ranges apart, ``benchmarks/train_speed.py`` on 2026-11-23); ``tf.function`` for the others
        (XLA 19% slower for VLAE, within noise or slower for the rest)."""
        return "xla" if self.name == "SAVAE" else "function"

    def build(self, shape, value_range, num_classes=None) -> None:
        """Build model and optimizer in the strategy's scope (the data statistics are set by :meth:`train`).

        Raises:
            ConfigError: the Bernoulli output on colour images, or a bad option.
        """
        from .optimizers import FusedAdam  # Adam's arithmetic in one fused kernel (README, Speed)

        from models.laplace_vae import MODELS as CLASSES

        shape = tuple(int(s) for s in shape)
        if self.bernoulli and shape[-1] != 1:
            raise ConfigError(f"--output_dist bernoulli takes grey images (the original binarises MNIST only); dataset "
                              f"{self.config['dataset']} has {shape[-1]} channels: use --output_dist gaussian")
        try:
            model_config = self.model_config(shape, value_range)
            with self.strategy.scope():
                self.model = CLASSES[self.name](model_config, name=self.name).build_all()
                self.optimizer = FusedAdam(self.learning_rate, **ADAM)
                self.optimizer.build(self.model.trainable_variables)
        except ValueError as err:
            raise ConfigError(f"{self.name}: {err}") from None
        self.num_classes = num_classes
        self.display_range = tuple(float(v) for v in value_range)

    def check_data(self, data) -> None:
        """Raises ConfigError for ``--logit_transform`` on data that is not 8-bit (binary or float pixels)."""
        if self.config.get("logit_transform") and data.levels != 256:
            kind = "binary" if data.levels == 2 else "not 8-bit"
            raise ConfigError(f"--logit_transform dequantises 8-bit pixels, but {data.name}'s pixels are {kind}; "
                              f"leave it out")

    def data_statistics(self, data) -> dict:
        """One pass over the training split in the model's data space (one noisy pass with the logit transform):
        the per-pixel mean and log of the average per-pixel variance (``datasets.py``; float64 sums)."""
        import tensorflow as tf

        from models.laplace_vae import dequantize, logit_squeeze

        s1 = s2 = None
        n = 0
        for images in data.batches("train", STATISTICS_BATCH, with_labels=False):
            u = self.model.to_unit(images)
            if self.model.logit_transform:
                u = logit_squeeze(dequantize(u))
            u = tf.cast(u, tf.float64).numpy()
            s1 = u.sum(0) if s1 is None else s1 + u.sum(0)
            s2 = (u ** 2).sum(0) if s2 is None else s2 + (u ** 2).sum(0)
            n += len(u)
        mean = s1 / n
        variance = float(np.mean(np.maximum(s2 / n - mean ** 2, 0.0)))
        return {"pixel_mean": mean.astype(np.float32), "log_variance": math.log(max(variance, 1e-12)),
                "variance": variance}

    def resolved_settings(self) -> dict:
        """What config.json records beyond the flags: the data's shape and range, the resolved options."""
        m = self.model
        extra = {"image_shape": list(m.image_shape), "value_range": list(m.value_range),
                 "num_classes": self.num_classes, "learning_rate": self.learning_rate,
                 "parameters": m.count_parameters(), "binarize": m.binarize}
        extra.update(m.config.own_settings())
        if self._statistics is not None:
            extra["initial_output_log_variance"] = self._statistics["log_variance"]
        return extra

    def describe_model(self) -> str:
        m = self.model.config
        parts = {"VLAE": lambda: (f"T = {m.n_update} updates, alpha_t = "
                                  + ("0.9^t" if m.update_schedule == "geometric" else f"{m.update_lr:g}/(t+1)")),
                 "HF": lambda: f"{m.n_flow} Householder reflections",
                 "IAF": lambda: f"{m.n_flow} IAF steps of {m.iaf_dim} units" + (" (legacy masks)" if m.legacy else ""),
                 "SAVAE": lambda: f"{m.n_svi_step} inner steps of {m.svi_lr:g}" + (" (legacy)" if m.legacy else ""),
                 "VLAE_VAE": lambda: "diagonal Gaussian posterior"}[self.name]()
        data = ("Bernoulli output" + (", dynamic binarisation" if m.resolved_binarize else "")
                if m.output_dist == "bernoulli" else
                "Gaussian output" + (", logit transform" if m.logit_transform else ""))
        return f"{self.name} ({parts}; z {m.z_dim}, hidden {m.hidden_dim}; {data})"

    def to_display(self, x) -> np.ndarray:
        return figures.to_display(np.asarray(x), self.display_range)

    # ---- trainer hooks ------------------------------------------------------------------------------------
    def loss_terms(self, images, labels, iteration):
        """The model's negative ELBO terms; with ``--weight_decay`` w the loss adds w/2 sum theta^2."""
        terms = self.model.loss_terms(images, training=True)
        if self.weight_decay:
            import tensorflow as tf

            penalty = 0.5 * self.weight_decay * tf.add_n([tf.reduce_sum(tf.square(v))
                                                          for v in self.model.trainable_variables])
            terms = {**terms, "loss": terms["loss"] + penalty, "weight_decay": penalty}
        return terms

    def data_levels(self):
        """2 for the Bernoulli output (binary pixels, static or dynamically binarised); None (a density) else."""
        return 2 if self.bernoulli else None

    def monitor_split(self) -> str:
        """``validation`` (``test`` only with ``--validation_size=0``)."""
        return "validation" if "validation" in self.data().splits else "test"

    def end_of_epoch(self, trainer, epoch: int):
        """Validation metrics and the figures; the score is the validation negative ELBO."""
        step = int(trainer.iteration.numpy())
        split = self.monitor_split()
        metrics = self.split_metrics(split)
        trainer.scalars({f"{split}/{k}": v for k, v in metrics.items()}, step=step)
        self.write_figures(self.draw_figures(f"epoch {epoch}, iteration {step:,}"), epoch, step)
        print(f"epoch {epoch} (iteration {step}): {self.describe_metrics(split, metrics)}; figures in "
              f"{self.figures_dir}/", flush=True)
        return metrics, metrics["loss"]

    @staticmethod
    def describe_metrics(split: str, m: dict) -> str:
        text = (f"{split} loss {m['loss']:.3f} (negative ELBO, nats/image): reconstruction {m['reconstruction']:.3f}, "
                f"KL {m['kl']:.3f}")
        trace = [m[k] for k in sorted((k for k in m if k.startswith("reconstruction_mu/")),
                                      key=lambda k: int(k.split("/")[1]))]
        if trace:
            text += "; -log p(x|mu_t), t = 0..T: " + ", ".join(f"{v:.2f}" for v in trace)
        return text

    # ---- measurements -------------------------------------------------------------------------------------
    def split_metrics(self, split: str) -> dict:
        """Every monitored term averaged over a whole split, per image (one posterior draw each)."""
        import tensorflow as tf

        if self._monitor_fn is None:
            self._monitor_fn = tf.function(self.model.monitor_terms, reduce_retracing=True)
        sums, count = {}, 0
        for images in self.data().batches(split, self.batch_size, with_labels=False):
            n = int(images.shape[0])
            for key, value in self._monitor_fn(images).items():
                sums[key] = sums.get(key, 0.0) + float(value) * n
            count += n
        return {k: v / max(count, 1) for k, v in sums.items()}

    # ---- figures --------------------------------------------------------------------------------------------
    def figure_images(self) -> np.ndarray:
        """64 fixed images of the monitored split (a seeded shuffle)."""
        if self._figure_images is None:
            self._figure_images = self.data().take(self.monitor_split(), FIGURE_IMAGES, seed=FIXED_SEED)
        return self._figure_images

    def draw_figures(self, when: str) -> dict:
        """``{name: [0, 1] canvas}``: data, reconstruction, samples, overview (and VLAE's updates). The images and
        the prior draws are fixed (seed 0), so the figures of successive epochs are comparable; binarisation or
        dequantisation noise and posterior draws are fresh, as the original's."""
        import tensorflow as tf

        m = self.model
        images = self.figure_images()
        n = len(images)
        rows = int(math.ceil(n / FIGURE_COLUMNS))
        x = m.preprocess(tf.constant(images))
        z, _ = m.sample_posterior(m.fit_posterior(x), 1)
        data = self.to_display(m.to_images(x))
        reconstruction = self.to_display(m.to_images(m.decoder_mean(m.decoder(z[0]))))
        prior = np.random.RandomState(FIXED_SEED).randn(FIGURE_IMAGES, m.z_dim).astype(np.float32)
        samples = self.to_display(m.to_images(m.decoder_mean(m.decoder(tf.constant(prior)))))
        out = {"data": figures.tile(data, rows, FIGURE_COLUMNS),
               "reconstruction": figures.tile(reconstruction, rows, FIGURE_COLUMNS),
               "samples": figures.tile(samples, FIGURE_IMAGES // FIGURE_COLUMNS, FIGURE_COLUMNS)}
        out["overview"] = figures.render_labelled(
            [out["data"], out["reconstruction"], out["samples"]],
            ["data (as the model sees it)", "reconstruction (one posterior draw)", "samples (prior draws)"],
            f"{self.config['netname']}: {self.describe_model()}, {when}", panel_width_inches=2.6)
        if self.name == "VLAE":
            first, means = m.update_means(tf.constant(images[:UPDATE_IMAGES]))
            grid = np.concatenate([self.to_display(first)] + [self.to_display(v) for v in means])
            out["updates"] = figures.tile(grid, len(means) + 1, min(UPDATE_IMAGES, n))
        return out

    def write_figures(self, canvases: dict, index: int | None, step: int) -> list:
        """Save each canvas as ``figures/<name>/current.png`` (and ``epoch<index>.png``) and to TensorBoard."""
        written = []
        for name, canvas in canvases.items():
            written += figures.save_versions(os.path.join(self.figures_dir, name), canvas, index)
        if self._trainer is not None:
            with self._trainer.writer.as_default(step=step):
                for name, canvas in canvases.items():
                    figures.summary_image(f"figures/{name}", canvas, step)
        return written

    # ---- modes ----------------------------------------------------------------------------------------------------
    def train(self, devices: str) -> int:
        config = self.config
        data = self.data()
        self.check_data(data)
        self.build(data.shape, data.value_range, data.num_classes)
        trainer = self.make_trainer(progress="bar")
        resumed = trainer.restore()
        if not resumed and self.model.output_dist == "gaussian":
            self._statistics = self.data_statistics(data)
            self.model.set_data_statistics(self._statistics["pixel_mean"], self._statistics["log_variance"])
        save_config_json(config, self.resolved_settings())
        print(f"{config['netname']}: {self.describe_model()}, {self.model.count_parameters():,} parameters; loss = "
              f"negative one-sample ELBO (Monte-Carlo KL); Adam lr {self.learning_rate:g}"
              + (f", weight decay {self.weight_decay:g}" if self.weight_decay else "")
              + f"; batch {self.batch_size}; {devices}")
        print(f"data: {data.describe()}")
        if self._statistics is not None:
            print(f"data statistics (training split): average per-pixel variance {self._statistics['variance']:.5g}"
                  f" -> initial output log-variance {self._statistics['log_variance']:.4f}")
        if resumed:
            print(f"resumed from {trainer.latest_checkpoint} at iteration {int(trainer.iteration.numpy())}")
        print(f"writing to {self.run_dir}/ ({self.tensorboard_hint()})", flush=True)
        start = int(trainer.iteration.numpy())
        status = trainer.fit(max_iterations=config.get("max_iterations"), epochs=config["epochs"])
        it, spe = int(trainer.iteration.numpy()), trainer.steps_per_epoch
        if status == "done" and it > start and it % spe:
            print()  # the progress bar of the partial epoch did not end its line
            metrics, score = self.end_of_epoch(trainer, it // spe + 1)
            trainer.save_best(score)
        if status == "done" and it > start and self.monitor_split() != "test":
            metrics = self.split_metrics("test")
            trainer.scalars({f"test/{k}": v for k, v in metrics.items()}, step=it)
            print(f"end of training (iteration {it}): {self.describe_metrics('test', metrics)}")
        trainer.writer.flush()
        print(f"{status} at iteration {it} (epoch {it / spe:.2f}); newest checkpoint {trainer.latest_checkpoint}")
        return 0

    def generate(self) -> int:
        """Restore the newest (``--best``: the best) checkpoint and draw the figures into ``current.png``.

        Raises:
            CheckpointError: nothing to restore.
            DatasetError: the run's dataset cannot be loaded (the data and reconstruction figures need it).
        """
        config = self.config
        self.data()
        trainer = self.restore_for_use(best=bool(config.get("best")))
        iteration = int(trainer.iteration.numpy())
        which = " (best checkpoint by validation loss)" if config.get("best") else ""
        print(f"{config['netname']} ({self.name}) at iteration {iteration}{which}", flush=True)
        written = self.write_figures(self.draw_figures(f"iteration {iteration:,}{which}"), None, iteration)
        trainer.writer.flush()
        for path in written:
            print(f"wrote {path}")
        return 0


# --------------------------------------------------------------------------------------------------
# the lead's speed benchmark
# --------------------------------------------------------------------------------------------------
def benchmark_cases() -> dict:
    """``{model: builder}`` for the five models; ``builder(batch=None)`` returns ``dict(model, optimizer, images,
    labels, loss_terms)`` with ``loss_terms(images, labels, iteration)`` the training step's objective: the
    original's networks (z 50, hidden 500) with the Bernoulli output on static binary 28x28x1 images, batch 128
    unless given, Adam 5e-4."""

    def case(name):
        def builder(batch=None):
            import keras
            import tensorflow as tf

            from models.laplace_vae import MODELS as CLASSES
            from models.laplace_vae import PRESETS

            b = int(batch or 128)
            model = CLASSES[name](PRESETS[f"{name}_binarized_mnist"]).build_all()
            optimizer = keras.optimizers.Adam(LEARNING_RATE, **ADAM)
            optimizer.build(model.trainable_variables)
            rng = np.random.RandomState(0)
            images = tf.constant((rng.uniform(size=(b, 28, 28, 1)) < 0.2).astype(np.float32))
            labels = tf.zeros((b,), tf.int64)

            def loss_terms(images, labels, iteration):
                return model.loss_terms(images, training=True)

            return dict(model=model, optimizer=optimizer, images=images, labels=labels, loss_terms=loss_terms)

        return builder

    return {name: case(name) for name in MODELS}
