"""The Laplace family's command line: yookoon/VLAE (Park, Kim & Kim, "Variational Laplace Autoencoders", ICML 2019).

    python train.py VLAE train --dataset=binarized_mnist --db_path=DATA/binarized_mnist --output_dist=bernoulli
    python train.py VLAE evaluate [--best]      # importance-weighted log-likelihood, K = 5000 by default
    python train.py VLAE generate [--best]      # or: python generate.py VLAE

Models (:mod:`hvae.models.laplace_vae`): ``VLAE``, ``VLAE_VAE`` (the paper's VAE baseline), ``HF``, ``IAF``, ``SAVAE``,
with the original's flags. ``train``: Adam 5e-4, batch 128, ``--epochs`` (100); after each epoch the validation
negative ELBO (the best checkpoint's score) and ``model/<netname>/figures/<name>/current.png``, ``epoch<k>.png``.
Details: docs/laplace.md.
"""

from __future__ import annotations

import os

import numpy as np

from . import figures
from .configs.laplace import CONFIGS
from .errors import ConfigError
from .family import Family, config_flags, flag_message
from .task import Figure, Task

LEARNING_RATE = 5e-4           # Adam with torch.optim.Adam's betas and epsilon: the template's default constants
FIGURE_IMAGES, FIGURE_COLUMNS, UPDATE_IMAGES, FIXED_SEED = 64, 8, 16, 0   # the figures' images, fixed by the seed


FAMILY = Family(
    name="laplace",
    title="The Laplace family (yookoon/VLAE, Park, Kim & Kim, ICML 2019): VLAE and its baselines VAE, HF, IAF, SA-VAE",
    models=("VLAE", "VLAE_VAE", "HF", "IAF", "SAVAE"),
    task="LaplaceTask",
    default_dataset="mnist",
    defaults=dict(batch_size=128, learning_rate=LEARNING_RATE, iw_samples=5000, epochs=100),
    flags=config_flags(CONFIGS),   # the five models' settings, made from their configs' fields (hvae/configs/laplace.py)
    configs=CONFIGS,
    model_help={"VLAE": "Variational Laplace Autoencoder: full-covariance Gaussian posterior at the Newton-refined "
                        "mode (Park et al. 2019)",
                "VLAE_VAE": "the VLAE paper's VAE baseline (MLP 500-500, z 50)",
                "HF": "VAE + Householder flow (Tomczak & Welling 2016)",
                "IAF": "VAE + inverse autoregressive flow (Kingma et al. 2016)",
                "SAVAE": "semi-amortised VAE, gradient refinement of q (Kim et al. 2018)"},
    model_module="hvae.models.laplace_vae",
)


def check_options(resolved) -> None:
    """Reject contradictory or invalid settings before any data is read: the model config of the flags given is
    checked as it will be built (no TensorFlow: :mod:`hvae.configs.laplace`).

    Raises:
        ConfigError: a value the config rejects, two flags that contradict, a precision the family cannot run.
    """
    given, precision = resolved.model_flags, resolved.run.precision
    if str(precision or "float32").startswith("mixed"):
        raise ConfigError(f"--precision {precision} does not apply to the Laplace family: VLAE's Newton "
                          f"iteration and Cholesky factors, and the flows' log-determinants, run in float32")
    if given.get("update_schedule") == "geometric" and given.get("update_lr") is not None:
        raise ConfigError("--update_lr does not apply to --update_schedule geometric (alpha_t = 0.9^t)")
    if given.get("logit_transform") and given.get("output_dist") == "bernoulli":
        raise ConfigError("--logit_transform applies to --output_dist gaussian only (the Bernoulli output models "
                          "binary pixels)")
    try:
        CONFIGS[resolved.invocation.model]().with_flags(given)
    except ValueError as err:
        raise ConfigError(flag_message(str(err), CONFIGS)) from None


class LaplaceTask(Task):
    """One run of the Laplace family: the hooks of :class:`hvae.task.Task` (epoch schedule, Adam 5e-4)."""

    default_learning_rate = LEARNING_RATE

    def __init__(self, resolved, strategy):
        check_options(resolved)
        super().__init__(resolved, strategy)
        self._figure_images = self._statistics = None

    @property
    def bernoulli(self) -> bool:
        """The Bernoulli output (of the saved model config, else of ``--output_dist``)."""
        saved = self.saved_model_config()
        return (saved.output_dist if saved else self.resolved.model_flags.get("output_dist")) == "bernoulli"

    def build_model(self, shape, value_range, num_classes=None):
        """The model of the run's flags and the data's shape and range; a Bernoulli model binarises its input at
        every use unless the data is binary (``binarize`` of ``config.json`` once trained). Raises ConfigError for
        the Bernoulli output on colour images, ValueError for an invalid setting."""
        from hvae.models.laplace_vae import MODELS as CLASSES

        if self.bernoulli and shape[-1] != 1:
            raise ConfigError(f"--output_dist bernoulli takes grey images (the original binarises MNIST only); dataset "
                              f"{self.run.dataset} has {shape[-1]} channels: use --output_dist gaussian")
        data = {"image_shape": tuple(shape), "value_range": tuple(value_range)}
        base = self.saved_model_config()   # a resumed, generated or evaluated run: the config it was built with
        if base is None:
            base = CONFIGS[self.name]()
            if self.bernoulli:
                data["binarize"] = not self.data().binary
        return CLASSES[self.name](base.with_flags(self.resolved.model_flags, **data), name=self.name).build_all()

    def default_compile_mode(self) -> str:
        """XLA for SA-VAE (faster there by ``benchmarks/train_speed.py``; docs/performance.md), tf.function for the
        others."""
        return "xla" if self.name == "SAVAE" else "function"

    def check_data(self, data) -> None:
        """Raises ConfigError for ``--logit_transform`` on data that is not 8-bit (binary or float pixels)."""
        if self.resolved.model_flags.get("logit_transform") and data.levels != 256:
            kind = "binary" if data.levels == 2 else "not 8-bit"
            raise ConfigError(f"--logit_transform dequantises 8-bit pixels, but {data.name}'s pixels are {kind}; "
                              f"leave it out")

    def data_levels(self):
        """2 for the Bernoulli output (binary pixels, static or dynamically binarised); None (a density) else."""
        return 2 if self.bernoulli else None

    def on_start(self, resumed: bool) -> list:
        """A fresh Gaussian-output run: the training split's pixel mean and initial output log-variance, set now."""
        if resumed or self.model.output_dist != "gaussian":
            return []
        s = self._statistics = self.model.data_statistics(self.data().batches("train", 1000, with_labels=False))
        self.model.set_data_statistics(s["pixel_mean"], s["log_variance"])
        return [f"data statistics (training split): average per-pixel variance {s['variance']:.5g} -> initial "
                f"output log-variance {s['log_variance']:.4f}"]

    def recorded(self) -> dict:
        """The initial output log-variance of a fresh Gaussian-output run (the model section holds the settings)."""
        return {"initial_output_log_variance": self._statistics["log_variance"]} if self._statistics else {}

    def describe(self) -> str:
        return (f"{self.model.describe()}, {self.model.count_parameters():,} parameters; loss = negative one-sample "
                f"ELBO (Monte-Carlo KL); Adam lr {self.learning_rate:g}"
                + (f", weight decay {self.model.config.weight_decay:g}" if self.model.config.weight_decay else ""))

    def measure(self, split: str, iteration: int) -> dict:
        """Every monitored term averaged over a whole split, per image (one posterior draw each)."""
        return self.split_means(split, self.monitor_terms, iteration)[0]

    def monitor_terms(self, images, labels, iteration):
        """The model's monitored terms (:meth:`hvae.models.laplace_vae.LaplaceModel.monitor_terms`)."""
        return self.model.monitor_terms(images)

    def score(self, split: str, metrics: dict):
        return metrics["loss"]

    def monitor_line(self, split: str, metrics: dict, iteration: int) -> str:
        return f"epoch {self.figure_index(iteration)} (iteration {iteration}): {self.describe_metrics(split, metrics)}"

    def describe_metrics(self, split: str, m: dict) -> str:
        text = (f"{split} loss {m['loss']:.3f} (negative ELBO, nats/image): reconstruction {m['reconstruction']:.3f}, "
                f"KL {m['kl']:.3f}")
        trace = [m[f"reconstruction_mu/{t}"] for t in range(len(m)) if f"reconstruction_mu/{t}" in m]   # t = 0..T
        return text + ("; -log p(x|mu_t), t = 0..T: " + ", ".join(f"{v:.2f}" for v in trace) if trace else "")

    def figure_paths(self, name: str, iteration: int, index) -> list:
        """``<run>/figures/<name>/current.png`` and ``epoch<index>.png``."""
        return super().figure_paths(os.path.join("figures", name), iteration, index)

    def draw_figures(self, iteration: int, split: str) -> dict:
        """``data`` (64 fixed images of ``split`` as the model sees them), ``reconstruction``, ``samples`` (64 fixed
        prior draws), ``overview`` (the three, titled), VLAE's ``updates`` (16 images, then the decoder mean at mu_0
        .. mu_T, a row each); binarisation, dequantisation noise and posterior draws are fresh, as the original's."""
        if self._figure_images is None:
            self._figure_images = self.data().take(split, FIGURE_IMAGES, seed=FIXED_SEED)
        images, m = self._figure_images, self.model
        prior = np.random.RandomState(FIXED_SEED).randn(FIGURE_IMAGES, m.z_dim).astype(np.float32)
        grids = {name: figures.tile(self.to_display(v), -(-len(v) // FIGURE_COLUMNS), FIGURE_COLUMNS)
                 for name, v in zip(("data", "reconstruction", "samples"), m.figure_images(images, prior))}
        when = f"iteration {iteration:,}" + (" (best checkpoint by validation loss)" if self.run.best else "")
        if self.invocation.mode == "train":
            when = f"epoch {self.figure_index(iteration)}, {when}"
        titles = ["data (as the model sees it)", "reconstruction (one posterior draw)", "samples (prior draws)"]
        grids["overview"] = figures.render_labelled(list(grids.values()), titles, f"{self.run.netname}: "
                                                    f"{m.describe()}, {when}", panel_width_inches=2.6)
        if self.name == "VLAE":
            first, means = m.update_means(images[:UPDATE_IMAGES])
            grid = np.concatenate([self.to_display(v) for v in [first] + means])
            grids["updates"] = figures.tile(grid, len(means) + 1, min(UPDATE_IMAGES, len(images)))
        return {name: Figure(canvas) for name, canvas in grids.items()}
