"""The Ladder VAE's part of the command line: addtt/ladder-vae-pytorch's ``main.py`` + ``evaluate.py``.

    python train.py LVAE train --dataset=binarized_mnist --db_path=DATA/binarized_mnist   # README 3-layer model
    python train.py LVAE train --preset mnist_12 ...                                     # another README model
    python train.py LVAE evaluate --iw_samples=1000        # importance-weighted log-likelihood of the test split
    python train.py LVAE generate                          # samples, reconstructions, sample_mode_layer<i>.png

``train`` resolves the architecture (a named preset, ``--preset``, reproducing a README command line, with any
flag given overriding it: :meth:`models.lvae.LVAEConfig.from_flags`, where the presets live), builds
:class:`models.lvae.LVAE` and Adamax (learning rate :data:`LEARNING_RATE` 3e-4, beta 0.9/0.999,
epsilon 1e-8, optional ``--max_grad_norm`` global clipping), runs the data-dependent initialisation on the first
training batch of a fresh run (``--data_dep_init``), and trains with the shared trainer (batch 64, no schedule,
until ``--max_iterations`` or Ctrl-C, as the original ran until stopped). Every ``--vis_frequency`` iterations
(the original's ``--ts-log-every``, 10,000) it

- measures the validation split (``--test_batch_size`` images per batch) with :class:`hvae.evaluation.Evaluator`:
  ELBO, reconstruction, KL total and per layer, active units per layer, and, every ``--ll_every`` iterations
  (50,000), the importance-weighted bound with ``--ll_samples`` (100) samples; TensorBoard ``validation/...``;
- keeps the best checkpoint by validation ELBO (``model/<netname>/best/``);
- writes ``model/<netname>/images/iteration<N>/``: ``samples.png`` (8x8 prior samples, likelihood draws),
  ``reconstruction.png`` (32 validation images and their reconstructions, interleaved, 8x8) and
  ``sample_mode_layer<i>.png`` for every layer i (12x12: each row shares z above i, layer i drawn per image,
  layers below at their prior mean, the image a likelihood draw), also to TensorBoard.

With ``--validation_size=0`` (e.g. the original's 60,000 binarized-MNIST training images,
``--dataset_option train_split=train+valid``) the passes measure the test split, as the original did, and no
best checkpoint is kept. A finished run reports the test split's ELBO once.

``generate`` writes ``model/<netname>/generate/``: ``samples.png`` (12x12), ``reconstructions.png`` (72 test
images and their reconstructions, 12x12) and ``sample_mode_layer<i>.png`` for every layer (evaluate.py's
``--layer-repr``). ``evaluate`` is the shared importance-weighted evaluation (:meth:`hvae.task.Task.evaluate`).

Data as the original: binarized MNIST with a Bernoulli likelihood; CIFAR-10, SVHN (its ``train`` split, 73,257
images, selected unless ``--dataset_option train_split=...`` says otherwise) and CelebA (centre crop 148 -> 64,
selected unless ``--dataset_option crop=...`` says otherwise) with the 10-component discretized logistic
mixture. Our default keeps binarized MNIST's 10,000 validation images out of training for model selection.
"""

from __future__ import annotations

import os
import sys

import numpy as np

from . import figures
from .errors import ConfigError
from .family import Family, flag
from .runs import save_config_json
from .task import Task

TRAIN = ("train",)
LIKELIHOOD_CHOICES = ("bernoulli", "gaussian", "discr_log", "discr_log_mix")
ADAMAX = dict(beta_1=0.9, beta_2=0.999, epsilon=1e-8)   # PyTorch Adamax defaults (Keras' epsilon is 1e-7)
SAMPLE_ROWS = 8            # boilr save_images: 8x8 prior samples, 32 reconstruction pairs
LAYER_ROWS = 12            # evaluate.py: 12x12 sample_mode_layer grids, 12x12 samples, 72 reconstruction pairs
GRID_PAD = 2               # torchvision make_grid padding
FIXED_SEED = 0             # which validation/test images the reconstruction grids show

LEARNING_RATE = 3e-4       # the original's Adamax learning rate
# --preset's choices: models.lvae.PRESETS without the LVAE_ prefix. The model module (where the presets are
# defined, with PRESET_SOURCES and the preset each dataset gets) imports TensorFlow, which the declarations below
# may not (hvae.registry); tests/test_lvae.py checks that the two agree.
PRESET_NAMES = ("mnist_3", "mnist_6", "mnist_12", "cifar10_3", "cifar10_6", "cifar10_15", "svhn_15", "celeba_20",
                "original_defaults")
# The one run setting a README command line sets besides the model's: the validation batch of mnist_12.
PRESET_TEST_BATCH_SIZES = {"mnist_12": 2000}
# What config.json records of the resolved model settings, under the flags' names (LVAEConfig.flag_values).
RECORDED_FLAGS = ("zdims", "downsample", "blocks_per_layer", "nfilters", "skip", "gated", "learn_top_prior",
                  "data_dep_init", "freebits", "likelihood")
# What the original's data pipeline did that our loaders make an option (applied unless the user sets it).
DATASET_OPTION_DEFAULTS = {"celebA": {"crop": 148}, "svhn": {"train_split": "train"}}
TEST_BATCH_SIZE = 1000
DEFAULT_IMAGES_PER_PASS = 4096   # hvae.evaluation's default, for 28x28 images

FAMILY = Family(
    name="lvae",
    title="Ladder VAE: the deep convolutional Ladder VAE of addtt/ladder-vae-pytorch (after Sønderby et al., "
          "NIPS 2016)",
    models=("LVAE",),
    task="LVAETask",
    model_module="models.lvae",
    dataset_options=DATASET_OPTION_DEFAULTS,
    default_dataset="binarized_mnist",
    defaults=dict(batch_size=64, learning_rate=LEARNING_RATE, seed=42, preset=None, zdims=None, downsample=None,
                  blocks_per_layer=None, nfilters=None, skip=None, gated=None, learn_top_prior=None,
                  data_dep_init=None, freebits=None, test_batch_size=None, no_bn=False, residual_type="bacdbacd",
                  merge_layers="residual", beta_anneal=0, weight_decay=0.0, nonlin="elu", dropout=0.2,
                  analytical_kl=False, no_initial_downscaling=False, likelihood=None, max_grad_norm=None,
                  vis_frequency=10000, ll_every=50000, ll_samples=100),
    flags=(
        flag("--preset", choices=PRESET_NAMES, modes=TRAIN,
             help="a README configuration (default by dataset: mnist_3 for MNIST-like data, cifar10_15, svhn_15, "
                  "celeba_20); flags given override it"),
        flag("--zdims", type=int, nargs="+", metavar="Z", modes=TRAIN,
             help="latent channels per stochastic layer, bottom to top (its length = number of layers)"),
        flag("--downsample", type=int, nargs="+", metavar="N", modes=TRAIN,
             help="x2 downsamplings of each layer's bottom-up segment, bottom to top (one per layer)"),
        flag("--blocks_per_layer", type=int, modes=TRAIN, help="residual blocks per segment (presets 4; original 2)"),
        flag("--nfilters", type=int, modes=TRAIN, help="channels of every deterministic feature map (64)"),
        flag("--no_bn", action="store_true", modes=TRAIN, help="no batch norm in the residual blocks"),
        flag("--skip", action="store_true", modes=TRAIN, help="skip connections in the generative path"),
        flag("--no_skip", dest="skip", action="store_false", modes=TRAIN, help="no skip connections"),
        flag("--gated", action="store_true", modes=TRAIN, help="gated residual blocks"),
        flag("--no_gated", dest="gated", action="store_false", modes=TRAIN, help="ungated residual blocks"),
        flag("--learn_top_prior", action="store_true", modes=TRAIN, help="learn the top layer's prior"),
        flag("--no_learn_top_prior", dest="learn_top_prior", action="store_false", modes=TRAIN,
             help="top prior fixed at N(0, I)"),
        flag("--residual_type", choices=("bacdbacd", "bacdbac", "cabdcabd"), modes=TRAIN,
             help="residual block: b batch norm, a activation, c conv, d dropout (bacdbacd)"),
        flag("--merge_layers", choices=("residual", "linear"), modes=TRAIN,
             help="merge of bottom-up and top-down features (residual)"),
        flag("--beta_anneal", type=int, modes=TRAIN, help="steps of linear KL warm-up 0 -> 1 (0: off)"),
        flag("--data_dep_init", action="store_true", modes=TRAIN,
             help="data-dependent initialisation on the first training batch of a fresh run"),
        flag("--no_data_dep_init", dest="data_dep_init", action="store_false", modes=TRAIN,
             help="PyTorch's default initialisation"),
        flag("--weight_decay", type=float, modes=TRAIN, help="L2 weight decay, PyTorch Adamax's coupled form (0)"),
        flag("--nonlin", choices=("elu", "relu", "leakyrelu", "selu"), modes=TRAIN, help="nonlinearity (elu)"),
        flag("--dropout", type=float, modes=TRAIN, help="channel-dropout rate in the residual blocks (0.2)"),
        flag("--freebits", type=float, modes=TRAIN,
             help="free bits in nats, per layer and per image (presets: 0.5 up to 6 layers, 1.0 above)"),
        flag("--analytical_kl", action="store_true", modes=TRAIN,
             help="closed-form KL in the training objective (evaluation stays Monte Carlo)"),
        flag("--no_initial_downscaling", action="store_true", modes=TRAIN,
             help="no stride-2 stem and no final x2 upsampling"),
        flag("--likelihood", choices=LIKELIHOOD_CHOICES, modes=TRAIN,
             help="p(x|z): bernoulli (binary data), gaussian, discr_log, discr_log_mix (RGB; default for colour)"),
        flag("--max_grad_norm", type=float, modes=TRAIN, help="clip the global gradient norm (off)"),
        flag("--test_batch_size", type=int, modes=TRAIN, help="images per batch of the validation passes (1000)"),
        flag("--vis_frequency", type=int, modes=TRAIN,
             help="iterations between validation passes and figures (the original's --ts-log-every, 10000)"),
        flag("--ll_every", type=int, modes=TRAIN,
             help="iterations between validation passes with --ll_samples importance samples (50000)"),
        flag("--ll_samples", type=int, modes=TRAIN, help="importance samples K at those passes (100)"),
    ),
    identity_keys=("preset", "zdims", "downsample", "blocks_per_layer", "nfilters", "no_bn", "skip", "gated",
                   "learn_top_prior", "residual_type", "merge_layers", "beta_anneal", "data_dep_init",
                   "weight_decay", "nonlin", "dropout", "freebits", "analytical_kl", "no_initial_downscaling",
                   "likelihood", "max_grad_norm"),
    run_control_keys=("vis_frequency", "ll_every", "ll_samples", "test_batch_size"),
    model_help={"LVAE": "the configuration of --preset (mnist_3, mnist_6, mnist_12, cifar10_3/6/15, svhn_15, "
                        "celeba_20, original_defaults) and the flags given"},
)


# --------------------------------------------------------------------------------------------------
# Checking the flags before the data is read
# --------------------------------------------------------------------------------------------------
def preset_of(config: dict, shape=None) -> str:
    """The ``--preset`` of a run (without the ``LVAE_`` prefix): the flag, else the dataset's
    (:func:`models.lvae.resolve_preset`)."""
    from models.lvae import PRESET_PREFIX, resolve_preset

    return resolve_preset(config.get("preset"), config.get("dataset") or "", shape)[len(PRESET_PREFIX):]


def test_batch_size_of(config: dict, preset: str) -> int:
    """``--test_batch_size``, else the preset's (mnist_12: 2000), else 1000."""
    return int(config.get("test_batch_size") or PRESET_TEST_BATCH_SIZES.get(preset) or TEST_BATCH_SIZE)


def check_options(config: dict) -> None:
    """What can be checked before any data is read (the checks that need the image follow in
    :meth:`LVAETask.build`): the preset completed by the flags given (:func:`models.lvae.check_settings`), and
    the run's own settings.

    Raises:
        ConfigError: ``--zdims`` and ``--downsample`` of different lengths (as given or as completed by the
            preset), a downsample entry larger than ``--blocks_per_layer`` or negative, negative free bits,
            dropout outside [0, 1), a count below 1, ``--max_grad_norm`` <= 0, negative warm-up or weight decay.
    """
    from models.lvae import PRESETS, LVAEConfig, check_settings

    preset = preset_of(config)
    given = LVAEConfig.flag_overrides(config)
    settings = {**PRESETS[f"LVAE_{preset}"].to_dict(), **given}
    zdims, downsample = settings["z_dims"], settings["downsample"]
    if "z_dims" in given and "downsample" not in given and len(zdims) != len(downsample):
        raise ConfigError(f"--zdims has {len(zdims)} entries but preset {preset}'s downsample list has "
                          f"{len(downsample)} ({' '.join(map(str, downsample))}): give --downsample too, one entry per "
                          f"layer")
    try:
        check_settings(settings)
    except ValueError as err:
        raise ConfigError(str(err)) from None
    for key in ("test_batch_size", "vis_frequency", "ll_every", "ll_samples"):
        value = config.get(key)
        if value is not None and value < 1:
            raise ConfigError(f"--{key} must be at least 1, got {value}")
    if config.get("max_grad_norm") is not None and not config["max_grad_norm"] > 0:
        raise ConfigError(f"--max_grad_norm must be positive, got {config['max_grad_norm']}")


def data_warnings(likelihood: str, dataset) -> list:
    """One-line warnings about a likelihood that fits the data only loosely (printed, not raised)."""
    out = []
    like = likelihood
    if like == "bernoulli" and dataset.levels != 2:
        kind = "grey levels" if dataset.levels else "continuous values"
        out.append(f"--likelihood bernoulli on the {kind} of {dataset.name}: the loss and every 'log-likelihood' are "
                   f"cross-entropies, not log-probabilities of the data (use binarized data, or --likelihood "
                   f"discr_log)")
    if like in ("discr_log", "discr_log_mix") and dataset.levels != 256:
        kind = "binary pixels" if dataset.levels == 2 else "continuous values"
        out.append(f"--likelihood {like} assumes 8-bit pixels but {dataset.name} has {kind}: values are binned "
                   f"to k/255")
    return out


def grid(images01, num_cols: int, pad: int = GRID_PAD) -> np.ndarray:
    """torchvision ``make_grid`` with boilr's padding colour: ``pad`` pixels around and between the images,
    white if the median border intensity of the images is below 0.2, else black (``img_grid_pad_value``).

    Args:
        images01: ``(N, H, W, C)`` in [0, 1].
    Returns:
        ``(rows (H + pad) + pad, cols (W + pad) + pad, C)`` float32.
    """
    x = np.clip(np.asarray(images01, np.float32), 0.0, 1.0)
    n, h, w, c = x.shape
    grey = x.mean(axis=-1)
    border = np.concatenate([grey[:, 0].ravel(), grey[:, h - 1].ravel(), grey[:, 1:h - 1, 0].ravel(),
                             grey[:, 1:h - 1, w - 1].ravel()])
    lower_median = np.partition(border, (len(border) - 1) // 2)[(len(border) - 1) // 2]
    fill = 1.0 if lower_median < 0.2 else 0.0
    rows = -(-n // num_cols)
    canvas = np.full((rows * (h + pad) + pad, num_cols * (w + pad) + pad, c), fill, np.float32)
    for i in range(n):
        r, col = divmod(i, num_cols)
        canvas[pad + r * (h + pad):pad + r * (h + pad) + h, pad + col * (w + pad):pad + col * (w + pad) + w] = x[i]
    return canvas


def interleave(inputs, reconstructions) -> np.ndarray:
    """``[x0, r0, x1, r1, ...]``: input / reconstruction pairs side by side in a grid."""
    inputs, reconstructions = np.asarray(inputs), np.asarray(reconstructions)
    out = np.empty((2 * len(inputs),) + inputs.shape[1:], np.float32)
    out[0::2], out[1::2] = inputs, reconstructions
    return out


# --------------------------------------------------------------------------------------------------
# The task
# --------------------------------------------------------------------------------------------------
class LVAETask(Task):
    """Builds, trains, monitors and draws one Ladder VAE run from a resolved command-line configuration."""

    def __init__(self, config: dict, strategy):
        if config.get("mode") == "train":
            check_options(config)
        super().__init__(config, strategy)
        self.vis_frequency = int(config.get("vis_frequency") or 10000)
        self.ll_every = int(config.get("ll_every") or 50000)
        self.ll_samples = int(config.get("ll_samples") or 100)
        self.preset = None
        self.test_batch_size = None
        self._evaluators = {}
        self._last_validation = None

    # ---- set-up ---------------------------------------------------------------------------------------
    def learning_rate(self) -> float:
        """``--learning_rate``, else the original's :data:`LEARNING_RATE`."""
        return float(self.config.get("learning_rate") or LEARNING_RATE)

    def build(self, shape, value_range, num_classes=None) -> None:
        """Resolve the configuration (:meth:`models.lvae.LVAEConfig.from_flags` on the data's image shape and
        value range), check it and build model + Adamax.

        Raises:
            ConfigError: a configuration the image cannot take (see :func:`models.lvae.check_architecture`).
        """
        import keras

        from models.lvae import LVAE, LVAEConfig

        config = self.config
        self.preset = preset_of(config, tuple(shape))
        self.test_batch_size = test_batch_size_of(config, self.preset)
        try:
            model_config = LVAEConfig.from_flags(config, tuple(shape), tuple(value_range))
            with self.strategy.scope():
                self.model = LVAE(model_config, name="LVAE").build_all()
                self.optimizer = keras.optimizers.Adamax(self.learning_rate(),
                                                         global_clipnorm=config.get("max_grad_norm"), **ADAMAX)
                self.optimizer.build(self.model.trainable_variables)
        except ValueError as err:
            raise ConfigError(f"LVAE: {err}") from None
        self.display_range = tuple(float(v) for v in value_range)

    def resolved_settings(self) -> dict:
        """What config.json records beyond the flags: the resolved architecture and data settings."""
        from models.lvae import PRESET_SOURCES

        m = self.model
        flags = m.config.flag_values()
        extra = {k: flags[k] for k in RECORDED_FLAGS}
        extra.update(test_batch_size=self.test_batch_size, preset=self.preset)
        extra.update(image_shape=list(m.image_shape), value_range=list(m.value_range), num_classes=None,
                     learning_rate=self.learning_rate(), parameters=m.count_parameters(),
                     padded_shape=list(m.padded_shape), top_shape=list(m.top_shape),
                     latent_shapes=[list(s) for s in m.latent_shapes()],
                     dataset_option_defaults=self.dataset_defaults, preset_source=PRESET_SOURCES[f"LVAE_{self.preset}"])
        return extra

    def describe(self) -> str:
        m = self.model
        shapes = ", ".join(f"{h}x{w}x{z}" for h, w, z in m.latent_shapes())
        flags = [name for name, on in (("skip", m.skip), ("gated", m.gated), ("learned top prior", m.learn_top_prior),
                                       ("data-dependent init", m.data_dep_init), ("no batch norm", not m.batch_norm),
                                       ("analytic KL", m.analytical_kl)) if on]
        return (f"LVAE (preset {self.preset}): {m.num_layers} stochastic layers ({shapes}, bottom to top), "
                f"{m.blocks_per_layer} blocks/layer, {m.n_filters} filters, {', '.join(flags) or 'plain'}, "
                f"{m.residual_type}, {m.nonlin}, dropout {m.dropout or 0:g}, free bits {m.free_bits:g} nats, "
                f"{m.likelihood} likelihood; {m.count_parameters():,} parameters")

    def to_display(self, x) -> np.ndarray:
        return figures.to_display(x, self.display_range)

    # ---- trainer hooks -----------------------------------------------------------------------------------
    def loss_terms(self, images, labels, iteration):
        return self.model.loss_terms(images, None, iteration, training=True)

    def after_step(self, trainer, index: int) -> None:
        iteration = index + 1
        if iteration % self.vis_frequency == 0 or iteration % self.ll_every == 0:
            self.validate_and_draw(trainer, iteration)

    # ---- validation passes -----------------------------------------------------------------------------
    def monitor_split(self) -> str:
        """``validation``; ``test`` only with ``--validation_size=0`` (the original monitored the test set)."""
        return "validation" if "validation" in self.dataset.splits else "test"

    def evaluator(self, k: int):
        from .evaluation import Evaluator

        if k not in self._evaluators:
            # images per pass: the shared 4,096 for 28x28 images, scaled down with the image area (a 64x64 model
            # holds 32x32 feature maps), at least one batch
            h, w, _ = self.model.image_shape
            per_pass = max(self.test_batch_size, DEFAULT_IMAGES_PER_PASS * 28 * 28 // (h * w))
            self._evaluators[k] = Evaluator(self.model, k, max_images_per_pass=per_pass,
                                            compile_mode=self.evaluation_compile_mode())
        return self._evaluators[k]

    def measure(self, split: str, k: int, active_units: bool = True) -> dict:
        """ELBO, reconstruction, KL (total, per layer), active units and (K > 1) the IW bound of a whole split."""
        data = self.dataset
        batch = self.test_batch_size
        ev = self.evaluator(k)
        result = ev.evaluate(data.batches(split, batch, with_labels=True), data.sources[split].size,
                             levels=data.levels, image_shape=data.shape, progress=False, what=f"{split}, K={k}")
        if active_units:
            result["active_units"] = ev.active_units(data.batches(split, batch, with_labels=True))
        return result

    def scalars_of(self, split: str, result: dict) -> dict:
        out = {f"{split}/elbo": result["elbo"]["mean"],
               f"{split}/reconstruction": -result["log_likelihood_given_z"]["mean"],
               f"{split}/kl": result["kl_total"]["mean"]}
        for i, kl in enumerate(result["kl_per_layer"]):
            out[f"{split}/kl/layer{i}"] = kl["mean"]
        for i, a in enumerate((result.get("active_units") or {}).get("active", [])):
            out[f"{split}/active_units/layer{i}"] = a
        if result["iw_samples"] > 1:
            out[f"{split}/iw_bound_k{result['iw_samples']}"] = result["iw_bound"]["mean"]
        if result.get("bits_per_dim"):
            out[f"{split}/bits_per_dim_elbo"] = result["bits_per_dim"]["elbo"]
        return out

    @staticmethod
    def describe_result(split: str, result: dict) -> str:
        per_layer = ", ".join(f"{kl['mean']:.2f}" for kl in result["kl_per_layer"])
        text = (f"{split} ELBO {result['elbo']['mean']:.2f} ± {result['elbo']['sem']:.2f} nats/image, reconstruction "
                f"{-result['log_likelihood_given_z']['mean']:.2f}, KL {result['kl_total']['mean']:.2f} "
                f"(per layer {per_layer})")
        if result["iw_samples"] > 1:
            text += f"; log p(x) >= {result['iw_bound']['mean']:.2f} (K = {result['iw_samples']})"
        au = result.get("active_units")
        if au:
            text += f"; active units {', '.join(f'{a}/{u}' for a, u in zip(au['active'], au['units']))}"
        return text

    def validate_and_draw(self, trainer, iteration: int) -> None:
        """Validation metrics, the best checkpoint and the figures after ``iteration`` steps."""
        split = self.monitor_split()
        k = self.ll_samples if iteration % self.ll_every == 0 else 1
        result = self.measure(split, k)
        trainer.scalars(self.scalars_of(split, result), step=iteration)
        line = f"iteration {iteration}: {self.describe_result(split, result)}"
        if split == "validation" and trainer.save_best(-result["elbo"]["mean"]):
            line += " (new best)"
        print(line, flush=True)
        written = self.write_figures(os.path.join(self.run_dir, "images", f"iteration{iteration}"),
                                     self.training_figures(split), iteration)
        print(f"wrote {os.path.relpath(os.path.dirname(written[0]), self.run_dir)}/: "
              f"{', '.join(os.path.basename(p) for p in written)}", flush=True)
        self._last_validation = iteration

    # ---- figures --------------------------------------------------------------------------------------------
    def reconstruction_pairs(self, split: str, n: int) -> np.ndarray:
        """``n`` fixed images of ``split`` (a seeded shuffle) interleaved with their reconstructions, [0, 1]."""
        images = self.data().take(split, n, seed=FIXED_SEED)
        recons = self.model.reconstruct(images, sample_latents=True).numpy()   # as the original's figures
        return interleave(self.to_display(images), self.to_display(recons))

    def layer_figures(self, rows: int = LAYER_ROWS) -> dict:
        """``{"sample_mode_layer<i>": canvas}`` for every layer (rows x rows images each)."""
        return {f"sample_mode_layer{i}": grid(self.to_display(self.model.layer_samples(i, rows, rows).numpy()), rows)
                for i in range(self.model.num_layers)}

    def training_figures(self, split: str) -> dict:
        out = {"samples": grid(self.to_display(self.model.sample(SAMPLE_ROWS ** 2).numpy()), SAMPLE_ROWS),
               "reconstruction": grid(self.reconstruction_pairs(split, SAMPLE_ROWS ** 2 // 2), SAMPLE_ROWS)}
        out.update(self.layer_figures())
        return out

    def write_figures(self, folder: str, canvases: dict, iteration: int) -> list:
        """Save ``<folder>/<name>.png`` for each canvas and send them to TensorBoard; returns the paths."""
        written = [figures.save_png(os.path.join(folder, f"{name}.png"), canvas) for name, canvas in canvases.items()]
        if self._trainer is not None:
            with self._trainer.writer.as_default(step=iteration):
                for name, canvas in canvases.items():
                    figures.summary_image(name, canvas, iteration)
        return written

    # ---- modes ----------------------------------------------------------------------------------------------
    def train(self, devices: str) -> int:
        config = self.config
        data = self.data()
        self.build(data.shape, data.value_range, data.num_classes)
        for warning in data_warnings(self.model.likelihood, data):
            print(f"warning: {warning}", file=sys.stderr, flush=True)
        trainer = self.make_trainer()
        resumed = trainer.restore()
        if not resumed and self.model.data_dep_init:
            first = data.take("train", self.batch_size, seed=config.get("seed") or 0)
            self.model.data_dependent_init(first)
            print(f"data-dependent initialisation on the first {len(first)} training images", flush=True)
        save_config_json(config, self.resolved_settings())
        print(f"{config['netname']}: {self.describe()}; Adamax lr {self.learning_rate():g}, "
              f"batch {self.batch_size}; {devices}")
        print(f"data: {data.describe()}" + (f" (LVAE data options: {self.dataset_defaults})" if self.dataset_defaults
                                           else ""))
        if self.monitor_split() == "test":
            print("no validation split: the validation passes measure the test split (as the original) and no best "
                  "checkpoint is kept")
        if resumed:
            print(f"resumed from {trainer.latest_checkpoint} at iteration {int(trainer.iteration.numpy())}")
        print(f"writing to {self.run_dir}/ ({self.tensorboard_hint()})", flush=True)
        start = int(trainer.iteration.numpy())
        status = trainer.fit(max_iterations=config.get("max_iterations"))
        last = int(trainer.iteration.numpy())
        if status == "done" and last > start and self._last_validation != last:
            self.validate_and_draw(trainer, last)
        if status == "done" and last > start and self.monitor_split() != "test":
            result = self.measure("test", 1, active_units=False)
            trainer.scalars(self.scalars_of("test", result), step=last)
            print(f"end of training (iteration {last}): {self.describe_result('test', result)}")
        trainer.writer.flush()
        print(f"{status} at iteration {last}; newest checkpoint {trainer.latest_checkpoint}")
        return 0

    def generate(self) -> int:
        """Restore the newest (``--best``: best) checkpoint and write ``model/<netname>/generate/``: 12x12
        samples, 72 test reconstructions, ``sample_mode_layer<i>.png`` for every layer.

        Raises:
            CheckpointError: nothing to restore.
        """
        config = self.config
        trainer = self.restore_for_use(best=bool(config.get("best")))
        iteration = int(trainer.iteration.numpy())
        print(f"{config['netname']} at iteration {iteration} ({trainer.latest_checkpoint})", flush=True)
        n = LAYER_ROWS * LAYER_ROWS
        canvases = {"samples": grid(self.to_display(self.model.sample(n).numpy()), LAYER_ROWS),
                    "reconstructions": grid(self.reconstruction_pairs("test", n // 2), LAYER_ROWS)}
        canvases.update(self.layer_figures())
        written = self.write_figures(os.path.join(self.run_dir, "generate"), canvases, iteration)
        trainer.writer.flush()
        for path in written:
            print(f"wrote {path}")
        return 0



# --------------------------------------------------------------------------------------------------
# the lead's speed benchmark
# --------------------------------------------------------------------------------------------------
def benchmark_cases() -> dict:
    """``{case: builder}`` for the speed benchmark: ``lvae_mnist_3`` (the README 3-layer binarized-MNIST model,
    3,209,153 parameters) and ``lvae_mnist_12`` (the 12-layer one, 11,607,809). ``builder(batch=None)`` returns
    ``dict(model, optimizer, images, labels, loss_terms)``: Adamax at :data:`LEARNING_RATE`, batch 64 unless given, static binary
    28x28x1 images (20% ones), ``loss_terms(images, labels, iteration)`` the training objective."""

    def case(preset):
        def builder(batch=None):
            import keras
            import tensorflow as tf

            from models.lvae import LVAE

            b = int(batch or 64)
            model = LVAE.from_preset(f"LVAE_{preset}")
            optimizer = keras.optimizers.Adamax(LEARNING_RATE, **ADAMAX)
            optimizer.build(model.trainable_variables)
            rng = np.random.RandomState(0)
            images = tf.constant((rng.uniform(size=(b, 28, 28, 1)) < 0.2).astype(np.float32))
            labels = tf.zeros((b,), tf.int64)

            def loss_terms(images, labels, iteration):
                return model.loss_terms(images, None, iteration, training=True)

            return dict(model=model, optimizer=optimizer, images=images, labels=labels, loss_terms=loss_terms)

        return builder

    return {f"lvae_{preset}": case(preset) for preset in ("mnist_3", "mnist_12")}

__all__ = ["FAMILY", "LVAETask", "LEARNING_RATE", "PRESET_NAMES", "check_options", "grid", "benchmark_cases"]
