"""The Ladder VAE's command line: addtt/ladder-vae-pytorch's ``main.py`` + ``evaluate.py`` (details: docs/lvae.md).

    python train.py LVAE train --dataset=binarized_mnist --db_path=DATA/binarized_mnist [--preset mnist_12 ...]
    python train.py LVAE evaluate --iw_samples=1000        # importance-weighted log-likelihood of the test split
    python train.py LVAE generate       # model/<netname>/generate/: 12x12 samples, 72 test reconstructions, layers

Every ``--vis_frequency`` iterations ``train`` measures the validation split (K = ``--ll_samples`` every
``--ll_every``), keeps the best checkpoint by its ELBO and draws ``model/<netname>/images/iteration<N>/``.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass

from .configs.lvae import CONFIGS, PRESET_PREFIX, PRESETS
from .errors import ConfigError
from .family import Family, Settings, config_flags, option
from .figures import interleave, padded_grid
from .task import Figure, Task

TRAIN = ("train",)
SAMPLE_ROWS = 8            # boilr save_images: 8x8 prior samples, 32 reconstruction pairs
LAYER_ROWS = 12            # evaluate.py: 12x12 sample_mode_layer grids, 12x12 samples, 72 reconstruction pairs
FIXED_SEED = 0             # which validation/test images the reconstruction grids show
LEARNING_RATE = 3e-4       # the original's Adamax learning rate
# --preset's choices: the presets (hvae.configs.lvae.PRESETS, no TensorFlow) without their LVAE_ prefix
PRESET_NAMES = tuple(name[len(PRESET_PREFIX):] for name in PRESETS)
PRESET_TEST_BATCH_SIZES = {"mnist_12": 2000}   # the one run setting a README command line sets besides the model's
DATASET_OPTION_DEFAULTS = {"celebA": {"crop": 148}, "svhn": {"train_split": "train"}}   # the original's data


@dataclass(frozen=True)
class LVAESettings(Settings):
    """The LVAE's settings besides its model's (:class:`hvae.configs.lvae.LVAEConfig`): the preset, gradient
    clipping, and the validation passes' schedule and batch (the originals' ``--ts-log-every``, ``--ll-every``,
    ``--ll-samples``, ``--test-batch-size``)."""

    preset: str | None = option(help="a README configuration (default by dataset: mnist_3 for MNIST-like data, "
                                     "cifar10_15, svhn_15, celeba_20); flags given override it", modes=TRAIN,
                                identity=True, choices=PRESET_NAMES)
    max_grad_norm: float | None = option(help="clip the global gradient norm (off)", modes=TRAIN, identity=True,
                                         positive=True, type=float)
    test_batch_size: int | None = option(help="images per batch of the validation passes (1000; the preset's where "
                                              "it sets one)", modes=TRAIN, control=True, minimum=1, type=int)
    vis_frequency: int = option(10000, help="iterations between validation passes and figures (the original's "
                                            "--ts-log-every, 10000)", modes=TRAIN, control=True, minimum=1, type=int)
    ll_every: int = option(50000, help="iterations between validation passes with --ll_samples importance samples "
                                       "(50000)", modes=TRAIN, control=True, minimum=1, type=int)
    ll_samples: int = option(100, help="importance samples K at those passes (100)", modes=TRAIN, control=True,
                             minimum=1, type=int)


FAMILY = Family(
    name="lvae",
    title="Ladder VAE: the deep convolutional Ladder VAE of addtt/ladder-vae-pytorch (after Sønderby et al., "
          "NIPS 2016)",
    models=("LVAE",),
    task="LVAETask",
    model_module="hvae.models.lvae",
    dataset_options=DATASET_OPTION_DEFAULTS,
    default_dataset="binarized_mnist",
    settings=LVAESettings,
    defaults=dict(batch_size=64, learning_rate=LEARNING_RATE, seed=42),
    flags=config_flags(CONFIGS),   # the model's settings, made from LVAEConfig's fields (None: the preset's)
    configs=CONFIGS,
    model_help={"LVAE": "the configuration of --preset (mnist_3, mnist_6, mnist_12, cifar10_3/6/15, svhn_15, "
                        "celeba_20, original_defaults) and the flags given"},
)


def preset_flags(resolved) -> dict:
    """What :meth:`hvae.configs.lvae.LVAEConfig.from_flags` and ``check_flags`` read of a run: the model flags given,
    ``--preset`` and the dataset (which choose the preset)."""
    return {**resolved.model_flags, "preset": resolved.settings.preset, "dataset": resolved.run.dataset}


def check_options(resolved) -> None:
    """Raises ConfigError before any data is read: what ``LVAEConfig.check_flags`` rejects (no TensorFlow: the
    config is :mod:`hvae.configs.lvae`; the ranges of the run settings are :class:`LVAESettings`' fields, checked
    by the command line)."""
    from hvae.configs.lvae import LVAEConfig

    try:
        LVAEConfig.check_flags(preset_flags(resolved))
    except ValueError as err:
        raise ConfigError(str(err)) from None


class LVAETask(Task):
    """Builds, trains, monitors and draws one Ladder VAE run (the hooks of :class:`hvae.task.Task`)."""

    schedule = "iterations"
    default_learning_rate = LEARNING_RATE

    def __init__(self, resolved, strategy):
        if resolved.invocation.mode == "train":
            check_options(resolved)
        super().__init__(resolved, strategy)
        own = self.settings
        self.vis_frequency, self.ll_every, self.ll_samples = own.vis_frequency, own.ll_every, own.ll_samples
        self.preset = self.test_batch_size = None
        self.generating = self.invocation.mode == "generate"   # generate's figures are larger, in generate/
        self._evaluators, self._results = {}, {}

    def build_model(self, shape, value_range, num_classes=None):
        """:class:`hvae.models.lvae.LVAE` of the preset and flags on the data's shape and range (resolves the preset and
        ``--test_batch_size``). Raises ValueError: a configuration :meth:`hvae.configs.lvae.LVAEConfig.from_flags`
        rejects."""
        from hvae.configs.lvae import PRESET_PREFIX, LVAEConfig, resolve_preset
        from hvae.models.lvae import LVAE

        self.preset = resolve_preset(self.settings.preset, self.run.dataset or "", shape)[len(PRESET_PREFIX):]
        self.test_batch_size = self.settings.test_batch_size or PRESET_TEST_BATCH_SIZES.get(self.preset, 1000)
        saved = self.saved_model_config()   # a resumed, generated or evaluated run: the config it was built with
        return LVAE(LVAEConfig.from_flags(preset_flags(self.resolved), shape, value_range, base=saved), name="LVAE").build_all()

    def build_optimizer(self):
        """Adamax with PyTorch's constants (epsilon 1e-8), the global gradient norm clipped at ``--max_grad_norm``."""
        import keras

        return keras.optimizers.Adamax(self.learning_rate_schedule, beta_1=0.9, beta_2=0.999, epsilon=1e-8,
                                       global_clipnorm=self.settings.max_grad_norm)

    def recorded(self) -> dict:
        """The resolved preset and run settings (the architecture is config.json's ``model`` section); no classes
        (unconditional)."""
        from hvae.configs.lvae import PRESET_SOURCES

        m = self.model
        return {"test_batch_size": self.test_batch_size, "preset": self.preset,
                "num_classes": None, "padded_shape": list(m.padded_shape), "top_shape": list(m.top_shape),
                "latent_shapes": [list(s) for s in m.latent_shapes()], "dataset_option_defaults": self.dataset_defaults,
                "preset_source": PRESET_SOURCES[f"LVAE_{self.preset}"]}

    def describe(self) -> str:
        return f"LVAE (preset {self.preset}): {self.model.describe()}; Adamax lr {self.learning_rate:g}"

    def on_start(self, resumed: bool) -> list:
        """Warnings (standard error), the data-dependent initialisation of a fresh run, the notes to print."""
        data, notes = self.data(), []
        for warning in self.model.likelihood_warnings(data.levels, data.name):
            print(f"warning: {warning}", file=sys.stderr, flush=True)
        if not resumed and self.model.data_dep_init:
            first = data.take("train", self.batch_size, seed=self.run.seed or 0)
            self.model.data_dependent_init(first)
            notes.append(f"data-dependent initialisation on the first {len(first)} training images")
        if self.dataset_defaults:
            notes.append(f"LVAE data options: {self.dataset_defaults}")
        return notes

    def on_step(self, state) -> None:
        """A validation pass every ``--vis_frequency`` and every ``--ll_every`` iterations."""
        if state.iteration % self.vis_frequency == 0 or state.iteration % self.ll_every == 0:
            self.monitor(state)

    def measure(self, split: str, iteration: int, k: int | None = None, active_units: bool = True,
                progress: bool = False) -> dict:
        """ELBO, reconstruction, KL (total, per layer), active units, IW bound (K = ``--ll_samples`` at multiples of
        ``--ll_every``, else 1) of a whole split as scalars; the whole result is kept for :meth:`describe_metrics`.
        ``progress``: progress lines while it runs; also on for K > 1 and for splits of 5,000 images or more (such a
        pass takes from many seconds to minutes on a CPU)."""
        from .evaluation import DEFAULT_MAX_IMAGES_PER_PASS, Evaluator

        k = k or (self.ll_samples if iteration % self.ll_every == 0 else 1)
        if k not in self._evaluators:   # images per pass: 4,096 for 28x28 images, fewer for larger, at least a batch
            h, w, _ = self.model.image_shape
            per_pass = max(self.test_batch_size, DEFAULT_MAX_IMAGES_PER_PASS * 28 * 28 // (h * w))
            self._evaluators[k] = Evaluator(self.model, k, max_images_per_pass=per_pass,
                                            compile_mode=self.evaluation_compile_mode())
        data, batch, ev = self.data(), self.test_batch_size, self._evaluators[k]
        progress = progress or k > 1 or data.sources[split].size >= 5000   # a pass of many seconds says how far it is
        r = self._results[split] = ev.evaluate(data.batches(split, batch, with_labels=True), data.sources[split].size,
                                               levels=data.levels, image_shape=data.shape, progress=progress,
                                               what=f"{split}, K={k}")
        if active_units:
            r["active_units"] = ev.active_units(data.batches(split, batch, with_labels=True))
        out = {"elbo": r["elbo"]["mean"], "reconstruction": -r["log_likelihood_given_z"]["mean"],
               "kl": r["kl_total"]["mean"], **{f"kl/layer{i}": kl["mean"] for i, kl in enumerate(r["kl_per_layer"])},
               **{f"active_units/layer{i}": a for i, a in enumerate((r.get("active_units") or {}).get("active", []))},
               **({f"iw_bound_k{k}": r["iw_bound"]["mean"]} if k > 1 else {})}
        return {**out, **({"bits_per_dim_elbo": r["bits_per_dim"]["elbo"]} if r.get("bits_per_dim") else {})}

    def measure_test(self, iteration: int) -> dict:
        """The end-of-training pass over the test split (K = 1), with a progress line."""
        return self.measure("test", iteration, k=1, active_units=False, progress=True)

    def score(self, split: str, metrics: dict):
        return -metrics["elbo"] if split == "validation" else None

    def describe_metrics(self, split: str, metrics: dict) -> str:
        r = self._results[split]
        per_layer = ", ".join(f"{kl['mean']:.2f}" for kl in r["kl_per_layer"])
        text = (f"{split} ELBO {r['elbo']['mean']:.2f} ± {r['elbo']['sem']:.2f} nats/image, reconstruction "
                f"{-r['log_likelihood_given_z']['mean']:.2f}, KL {r['kl_total']['mean']:.2f} (per layer {per_layer})")
        if r["iw_samples"] > 1:
            text += f"; log p(x) >= {r['iw_bound']['mean']:.2f} (K = {r['iw_samples']})"
        au = r.get("active_units")
        units = ", ".join(f"{a}/{u}" for a, u in zip(au["active"], au["units"])) if au else ""
        return text + (f"; active units {units}" if au else "")

    def monitor_line(self, split: str, metrics: dict, iteration: int) -> str:
        return f"iteration {iteration}: {self.describe_metrics(split, metrics)}"

    def draw_figures(self, iteration: int, split: str) -> dict:
        """Prior samples, fixed images of ``split`` beside their reconstructions (latents sampled, as the original) and
        ``sample_mode_layer<i>`` (12x12); ``generate``: 12x12 samples, 72 pairs (``reconstructions``), else 8x8, 32."""
        m, rows = self.model, LAYER_ROWS if self.generating else SAMPLE_ROWS

        def grid(images, cols):
            return Figure(padded_grid(self.to_display(images), cols))

        out = {"samples": grid(m.sample(rows * rows).numpy(), rows)}
        images = self.data().take(split, rows * rows // 2, seed=FIXED_SEED)
        pairs = interleave(images, m.reconstruct(images, sample_latents=True).numpy())
        out["reconstructions" if self.generating else "reconstruction"] = grid(pairs, rows)
        return {**out, **{f"sample_mode_layer{i}": grid(m.layer_samples(i, LAYER_ROWS, LAYER_ROWS).numpy(), LAYER_ROWS)
                          for i in range(m.num_layers)}}

    def generate_split(self) -> str:
        return "test"

    def figure_paths(self, name: str, iteration: int, index) -> list:
        """``<run>/images/iteration<N>/<name>.png`` while training, ``<run>/generate/<name>.png`` for generate."""
        folder = "generate" if self.generating else os.path.join("images", f"iteration{iteration}")
        return [os.path.join(self.run_dir, folder, f"{name}.png")]


__all__ = ["FAMILY", "LVAETask", "LEARNING_RATE", "PRESET_NAMES", "check_options"]
