"""The Laplace family's command line: yookoon/VLAE (Park, Kim & Kim, "Variational Laplace Autoencoders", ICML 2019).

    python train.py VLAE train --dataset=binarized_mnist --db_path=DATA/binarized_mnist --output_dist=bernoulli
    python train.py VLAE evaluate [--best]      # importance-weighted log-likelihood, K = 5000 by default
    python train.py VLAE generate [--best]      # or: python generate.py VLAE

Models (:mod:`models.laplace_vae`): ``VLAE``, ``VLAE_VAE`` (the paper's VAE baseline), ``HF``, ``IAF``, ``SAVAE``,
with the original's flags. ``train``: Adam 5e-4, batch 128, ``--epochs`` (100); after each epoch the validation
negative ELBO (the best checkpoint's score) and ``model/<netname>/figures/<name>/current.png``, ``epoch<k>.png``.
Details: docs/laplace.md.
"""

from __future__ import annotations

import argparse
import math
import os

import numpy as np

from . import figures
from .errors import ConfigError
from .family import Family, flag
from .task import Figure, Task

TRAIN = ("train",)
LEARNING_RATE = 5e-4           # Adam with torch.optim.Adam's betas and epsilon: the template's default constants
FIGURE_IMAGES, FIGURE_COLUMNS, UPDATE_IMAGES, FIXED_SEED = 64, 8, 16, 0   # the figures' images, fixed by the seed
# the models' own flags (their defaults and which models take them: the configs of models.laplace_vae)
MODEL_OPTIONS = ("n_update", "update_lr", "update_schedule", "n_flow", "iaf_dim", "n_svi_step", "svi_lr")


def _boolean(text) -> bool:
    """``true/false`` (also 1/0, yes/no, on/off) -> bool; the original's ``type=bool`` read "False" as True."""
    value = str(text).strip().lower()
    if value not in ("1", "true", "yes", "on", "0", "false", "no", "off"):
        raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")
    return value in ("1", "true", "yes", "on")


FAMILY = Family(
    name="laplace",
    title="The Laplace family (yookoon/VLAE, Park, Kim & Kim, ICML 2019): VLAE and its baselines VAE, HF, IAF, SA-VAE",
    models=("VLAE", "VLAE_VAE", "HF", "IAF", "SAVAE"),
    task="LaplaceTask",
    default_dataset="mnist",
    defaults=dict(batch_size=128, learning_rate=LEARNING_RATE, iw_samples=5000, epochs=100,
                  output_dist="gaussian", logit_transform=False, z_dim=50, hidden_dim=500, hidden_layers=2,
                  init="original", weight_decay=0.0,
                  legacy=False, **{key: None for key in MODEL_OPTIONS}),
    flags=(
        flag("--output_dist", choices=("gaussian", "bernoulli"), modes=TRAIN,
             help="p(x|z): gaussian (default; pixels minus the training mean, one learned variance) or bernoulli "
                  "(grey images; binarised afresh at every use unless already binary)"),
        flag("--logit_transform", type=_boolean, nargs="?", const=True, modes=TRAIN, metavar="BOOL",
             help="gaussian output: dequantise 8-bit pixels and model logit(0.05 + 0.9 x) (--logit_transform or "
                  "--logit_transform=true/false)"),
        flag("--z_dim", type=int, modes=TRAIN, help="latent units (default 50)"),
        flag("--hidden_dim", type=int, modes=TRAIN, help="hidden units of encoder and decoder layers (default 500)"),
        flag("--hidden_layers", type=int, modes=TRAIN,
             help="hidden layers of encoder and of decoder (default 2, the original's; 1: Rezende & Mohamed's VAE)"),
        flag("--init", choices=("original", "torch_default"), modes=TRAIN,
             help="encoder and decoder weights: original (default; the original's Kaiming-uniform, fan-out) or "
                  "torch_default (PyTorch's nn.Linear default U(+-1/sqrt(fan_in)), as pythae's VAE)"),
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
    identity_keys=("output_dist", "logit_transform", "z_dim", "hidden_dim", "hidden_layers", "init", "weight_decay",
                   "legacy", *MODEL_OPTIONS),
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
        ConfigError: a model's flag given to another model, a value out of range, two flags that contradict.
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
    minimum = {"z_dim": 2 if model == "IAF" else 1, "hidden_dim": 1, "hidden_layers": 1, "n_update": 0, "n_flow": 1,
               "iaf_dim": 1, "n_svi_step": 0}
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
    """One run of the Laplace family: the hooks of :class:`hvae.task.Task` (epoch schedule, Adam 5e-4)."""

    default_learning_rate = LEARNING_RATE

    def __init__(self, config: dict, strategy):
        check_options(config)
        super().__init__(config, strategy)
        self._figure_images = self._statistics = None

    weight_decay = property(lambda self: float(self.config.get("weight_decay") or 0.0), doc="``--weight_decay``.")
    bernoulli = property(lambda self: self.config.get("output_dist") == "bernoulli", doc="The Bernoulli output.")

    def build_model(self, shape, value_range, num_classes=None):
        """The model of the run's flags and the data's shape and range; a Bernoulli model binarises its input at
        every use unless the data is binary (``binarize`` of ``config.json`` once trained). Raises ConfigError for
        the Bernoulli output on colour images, ValueError for an invalid setting."""
        from models.laplace_vae import MODELS as CLASSES

        if self.bernoulli and shape[-1] != 1:
            raise ConfigError(f"--output_dist bernoulli takes grey images (the original binarises MNIST only); dataset "
                              f"{self.config['dataset']} has {shape[-1]} channels: use --output_dist gaussian")
        binarize = self.config.get("binarize")
        if self.bernoulli and binarize is None:
            binarize = not self.data().binary
        config = CLASSES[self.name].config_class.from_settings(
            self.config, image_shape=shape, value_range=value_range,
            logit_transform=bool(self.config.get("logit_transform")),
            binarize=bool(binarize) if self.bernoulli else None)
        return CLASSES[self.name](config, name=self.name).build_all()

    def default_compile_mode(self) -> str:
        """XLA for SA-VAE (faster there by ``benchmarks/train_speed.py``; docs/performance.md), tf.function for the
        others."""
        return "xla" if self.name == "SAVAE" else "function"

    def check_data(self, data) -> None:
        """Raises ConfigError for ``--logit_transform`` on data that is not 8-bit (binary or float pixels)."""
        if self.config.get("logit_transform") and data.levels != 256:
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
        stats = {"initial_output_log_variance": self._statistics["log_variance"]} if self._statistics else {}
        return {"binarize": self.model.binarize, **self.model.config.own_settings(), **stats}

    def describe(self) -> str:
        return (f"{self.model.describe()}, {self.model.count_parameters():,} parameters; loss = negative one-sample "
                f"ELBO (Monte-Carlo KL); Adam lr {self.learning_rate:g}"
                + (f", weight decay {self.weight_decay:g}" if self.weight_decay else ""))

    def loss_terms(self, images, labels, iteration):
        """The model's negative ELBO terms; ``--weight_decay`` w adds w/2 sum theta^2 (PyTorch's coupled L2)."""
        terms = self.model.loss_terms(images, training=True)
        if self.weight_decay:
            import tensorflow as tf

            penalty = 0.5 * self.weight_decay * tf.add_n([tf.reduce_sum(tf.square(v))
                                                          for v in self.model.trainable_variables])
            terms = {**terms, "loss": terms["loss"] + penalty, "weight_decay": penalty}
        return terms

    def measure(self, split: str, iteration: int) -> dict:
        """Every monitored term averaged over a whole split, per image (one posterior draw each)."""
        return self.split_means(split, self.monitor_terms, iteration)[0]

    def monitor_terms(self, images, labels, iteration):
        """The model's monitored terms (:meth:`models.laplace_vae.LaplaceModel.monitor_terms`)."""
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
        when = f"iteration {iteration:,}" + (" (best checkpoint by validation loss)" if self.config.get("best") else "")
        if self.config.get("mode") == "train":
            when = f"epoch {self.figure_index(iteration)}, {when}"
        titles = ["data (as the model sees it)", "reconstruction (one posterior draw)", "samples (prior draws)"]
        grids["overview"] = figures.render_labelled(list(grids.values()), titles, f"{self.config['netname']}: "
                                                    f"{m.describe()}, {when}", panel_width_inches=2.6)
        if self.name == "VLAE":
            first, means = m.update_means(images[:UPDATE_IMAGES])
            grid = np.concatenate([self.to_display(v) for v in [first] + means])
            grids["updates"] = figures.tile(grid, len(means) + 1, min(UPDATE_IMAGES, len(images)))
        return {name: Figure(canvas) for name, canvas in grids.items()}
