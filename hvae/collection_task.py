"""The VAE collection's command line (ALPHAYA-Japan/vae's ``train.py``): VAE, CVAE, InfoVAE, MMD-VAE.

    python train.py VAE train [flags]              # VAE, CVAE, InfoVAE, MMDVAE (any case)
    python train.py VAE generate [path/to/image]   # images/VAE/grid.png, samples.png; an image: its reconstruction

Adam (beta1 0.5), ``--epochs`` (30) epochs of 64; after every epoch the validation split, the best checkpoint by
validation loss and the original's grid ``images/<MODEL>/grid_<epoch>.png`` (another ``--netname``:
``images/<netname>/``). See docs/collection.md.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from . import figures
from .configs.collection import CONFIGS, OBJECTIVE_SETTINGS
from .errors import ConfigError
from .family import Family, Settings, config_flags, option
from .task import Figure, Task

IMAGES_DIR, DEFAULT_LABEL = "images", 4   # the original's figure folder and class for ``CVAE generate IMAGE``
GRID_SIZE = (480, 240)        # width, height of the original's grid
GRID_COLUMNS = 10
GRID_IMAGES = 20              # two pairs of rows of 10
GENERATE_IMAGES = 64          # the original's fixed batch
SAMPLE_ROWS = 10
FIXED_SEED = 0                # which test images the grids show
FRAME_COLOR = (1.0, 0.0, 0.0)
UNLABELLED = ("binarized_mnist", "celebA", "lsun")
UNLABELLED_MESSAGE = ("CVAE needs class labels but dataset {} has none; use a labelled dataset (mnist, svhn, cifar10, "
                      "digits, folder)")
GRID_ROWS = [(0.125, "test images\n(red frame)"), (0.375, "their\nreconstructions"),
             (0.625, "test images\n(red frame)"), (0.875, "their\nreconstructions")]

TRAIN = ("train",)


@dataclass(frozen=True)
class CollectionSettings(Settings):
    """The collection's one setting besides its models': the class of CVAE's ``generate IMAGE``."""

    label: int | None = option(help="CVAE: class of the image given to generate (default 4)", modes=("generate",),
                               control=True, type=int)


FAMILY = Family(
    name="collection",
    title="The VAE collection (ALPHAYA-Japan/vae): VAE, CVAE, InfoVAE, MMD-VAE",
    models=("VAE", "CVAE", "InfoVAE", "MMDVAE"),
    task="CollectionTask",
    model_module="hvae.models.vae_collection",
    default_dataset="mnist",
    defaults=dict(batch_size=64, epochs=30),
    settings=CollectionSettings,
    flags=config_flags(CONFIGS),
    model_help={"VAE": "MLP VAE (Kingma & Welling 2014)", "CVAE": "conditional VAE, labels as input planes",
                "InfoVAE": "conv VAE with KL + MMD (Zhao, Song & Ermon 2017)",
                "MMDVAE": "conv autoencoder with an MMD prior term, deterministic encoder"},
    generate_image=True,
    configs=CONFIGS,
)


def check_options(resolved) -> None:
    """Reject flags the chosen model and mode have no use for, before any data is read.

    Raises:
        ConfigError: ``--alpha``/``--lambda``/``--mmd_bandwidth`` on a model without that weight or with
            ``--legacy``; ``--likelihood gaussian`` with ``--legacy``; ``--label`` outside CVAE's
            ``generate IMAGE``; CVAE on a dataset without labels.
    """
    model, given = resolved.invocation.model, resolved.model_flags
    for key in OBJECTIVE_SETTINGS:
        if given.get(key) is None:
            continue
        flag = "--" + key.rstrip("_")
        if given.get("legacy"):
            raise ConfigError(f"{flag} does not apply with --legacy: the original's objective has fixed weights "
                              f"(leave --legacy out to set {flag})")
    if given.get("legacy") and given.get("likelihood") not in (None, "bernoulli"):
        raise ConfigError("--likelihood does not apply with --legacy: the original's reconstruction terms are fixed "
                          "(cross-entropy for VAE/CVAE, squared error for InfoVAE/MMDVAE)")
    if resolved.settings.label is not None:
        if model != "CVAE":
            raise ConfigError(f"--label does not apply to {model}: only CVAE is conditioned on a class")
        if resolved.invocation.mode != "generate" or not resolved.invocation.image:
            raise ConfigError("--label chooses the class of the image given to 'CVAE generate IMAGE'; "
                              "it does not apply here")
    if model == "CVAE" and resolved.run.dataset in UNLABELLED:
        raise ConfigError(UNLABELLED_MESSAGE.format(resolved.run.dataset))


class CollectionTask(Task):
    """One VAE-collection run (the hooks of :class:`hvae.task.Task`): epoch schedule, Adam with the original's
    constants at the model class's learning rate, figures in the original's ``images/<MODEL>/``."""

    adam = dict(beta_1=0.5, beta_2=0.999, epsilon=1e-8)

    def __init__(self, resolved, strategy):
        from hvae.models.vae_collection import MODELS

        check_options(resolved)
        super().__init__(resolved, strategy)
        self.default_learning_rate = MODELS[self.name].learning_rate
        # images/<MODEL>/ as the original for the original's run (the default name on the original's MNIST); any
        # other run, another dataset's default-named one included, gets images/<netname>/, so that no two runs
        # write one folder
        original = f"{self.name}_{FAMILY.default_dataset}"
        self.images_dir = os.path.join(IMAGES_DIR, self.name if self.run.netname == original else self.run.netname)
        self._grid_batch = None

    def check_data(self, data) -> None:
        if self.name == "CVAE" and not data.num_classes:
            raise ConfigError(UNLABELLED_MESSAGE.format(data.name))

    def build_model(self, shape, value_range, num_classes=None):
        """The run's model (:data:`hvae.models.vae_collection.MODELS`) of its flags and the data's shape, range and
        classes, built. Raises ValueError: a setting the model rejects (InfoVAE's sides not multiples of 4)."""
        from hvae.models.vae_collection import MODELS

        # the saved run's config, else the model's defaults (the original's preset); the flags given; the data
        base = self.saved_model_config() or CONFIGS[self.name]()
        data = {"image_shape": tuple(shape), "value_range": tuple(value_range)}
        if "num_classes" in base.field_names():
            data["num_classes"] = num_classes
        return MODELS[self.name](base.with_flags(self.resolved.model_flags, **data), name=self.name).build_all()

    def recorded(self) -> dict:
        """The values InfoVAE's / MMD-VAE's weights and bandwidth resolved to (their flags' None: the default)."""
        from hvae.models.vae_collection import OBJECTIVE_SETTINGS

        m = self.model
        return {} if m.legacy else {k: getattr(m, k) for k in OBJECTIVE_SETTINGS if k in m.config.field_names()}

    def describe(self) -> str:
        m = self.model
        return (f"{self.name}{' (legacy)' if m.legacy else ''}, latent {m.latent_dim}, {m.count_parameters():,} "
                f"parameters; loss = {m.describe_objective()}; Adam lr {self.learning_rate:g}")

    def on_start(self, resumed: bool) -> list:
        return [f"figures: {self.images_dir}/"]

    def measure(self, split: str, iteration: int) -> dict:
        """Every loss term averaged over a whole split, per image, read in one fixed shuffled order: batch-level
        terms (MMD) need batches drawn like the training ones, and binarized MNIST's test split is sorted by digit
        (a batch of one class is far from the prior in MMD however good the model)."""
        return self.split_means(split, seed=FIXED_SEED)[0]

    def score(self, split: str, metrics: dict):
        return metrics["loss"]

    @staticmethod
    def describe_metrics(split: str, metrics: dict) -> str:
        shown = ", ".join(f"{k} {v:.4g}" for k, v in metrics.items() if k not in ("loss", "elbo"))
        elbo = f", {split} ELBO {metrics['elbo']:.2f} nats/image" if "elbo" in metrics else ""
        return f"{split} loss {metrics['loss']:.4f}{elbo} ({shown})"

    def monitor_line(self, split: str, metrics: dict, iteration: int) -> str:
        return f"epoch {self.figure_index(iteration)} (iteration {iteration}): {self.describe_metrics(split, metrics)}"

    def figure_paths(self, name: str, iteration: int, index) -> list:
        """``images/<MODEL>/<name>_<epoch>.png`` while training, ``<name>.png`` from ``generate``."""
        return [os.path.join(self.images_dir, f"{name}.png" if index is None else f"{name}_{index}.png")]

    def labelled_path(self, name: str, paths: list) -> str:
        """``<name>_labelled.png`` while training; ``generate``'s own ``<name>_generated_labelled.png``."""
        generated = "_generated" if self.invocation.mode == "generate" else ""
        return os.path.join(self.images_dir, f"{name}{generated}_labelled.png")

    def draw_figures(self, iteration: int, split: str) -> dict:
        """The grid of 20 fixed test images and their reconstructions (whatever the split); ``generate``
        reconstructs the original's batch of 64 (the grid shows its first 20) and adds 100 prior samples;
        ``generate IMAGE`` draws only ``<stem>_reconstruction`` (:meth:`image_canvas`)."""
        if self.image is not None:
            path = self.invocation.image
            return {f"{os.path.splitext(os.path.basename(path))[0]}_reconstruction": Figure(self.image_canvas(path))}
        generating = self.invocation.mode == "generate"
        if generating or self._grid_batch is None:
            self._grid_batch = self.data().take("test", GENERATE_IMAGES if generating else GRID_IMAGES,
                                                seed=FIXED_SEED, with_labels=True)
        images, labels = self._grid_batch
        out = {"grid": Figure(self.grid_canvas(images, self.reconstruct(images, labels)), f"{self.name}, "
                              f"{GRID_IMAGES} fixed test images and their reconstructions", row_labels=GRID_ROWS,
                              width=6.0)}
        if generating:
            k = self.num_classes if self.model.conditional else 0
            out["samples"] = Figure(self.samples_canvas(), f"{self.name}, samples from the prior"
                                    + (", one row per class" if k else ""), width=4.0,
                                    row_labels=[((i + 0.5) / k, f"class {i}") for i in range(k)] or None)
        return out

    def reconstruct(self, images, labels):
        """The figures' reconstructions: the mean image of one posterior sample (as the original)."""
        return self.model.reconstruct(images, labels if self.model.conditional else None, sample=True).numpy()

    def grid_canvas(self, images, reconstructions) -> np.ndarray:
        """The original's grid (A.8) as a [0, 1] RGB canvas of 480x240.

        Rows 1 and 3: ground truth 0-9 and 10-19 with a one-pixel red frame; rows 2 and 4: their
        reconstructions. The 4x10 mosaic is resized with area interpolation and truncated to 1/255 steps.
        """
        import cv2

        truth = figures.frame(self.to_display(images[:GRID_IMAGES]), FRAME_COLOR)
        recon = figures.to_rgb(self.to_display(reconstructions[:GRID_IMAGES]))
        blocks = [np.concatenate([a, np.zeros((GRID_IMAGES - len(a),) + a.shape[1:], np.float32)]).reshape(
            (-1, GRID_COLUMNS) + a.shape[1:]) for a in (truth, recon)]      # rows of 10, empty cells black
        rows = np.stack(blocks, axis=1).reshape((-1,) + truth.shape[1:])    # truth, reconstructions, truth, ...
        mosaic = figures.tile(rows, len(rows) // GRID_COLUMNS, GRID_COLUMNS)
        resized = cv2.resize(mosaic, GRID_SIZE, interpolation=cv2.INTER_AREA)
        return np.floor(np.clip(resized, 0.0, 1.0) * 255.0) / 255.0

    def samples_canvas(self) -> np.ndarray:
        """100 images from the prior on a 10x10 grid; CVAE: one row of 10 per class."""
        rows = self.num_classes if self.model.conditional else SAMPLE_ROWS
        labels = np.repeat(np.arange(rows), SAMPLE_ROWS) if self.model.conditional else None
        return figures.tile(self.to_display(self.model.sample(rows * SAMPLE_ROWS, labels=labels).numpy()), rows,
                            SAMPLE_ROWS)

    def generate_split(self) -> str:
        return "test"   # the figures' images are the test split's (an image given to generate needs no data)

    def image_canvas(self, path: str) -> np.ndarray:
        """``generate IMAGE``'s image (``self.image``, RGB uint8 of any size), framed in red, beside its
        reconstruction at the model's input size
        (bilinear resize, OpenCV's grey weights for a grey model; CVAE: conditioned on ``--label``, default 4).

        Raises:
            ConfigError: ``--label`` out of range.
        """
        labels, rgb = None, self.image
        if self.model.conditional:
            label = DEFAULT_LABEL if self.settings.label is None else self.settings.label
            if not 0 <= label < self.num_classes:
                raise ConfigError(f"--label {label} is out of range: this CVAE has classes 0-{self.num_classes - 1}")
            labels = np.array([label], np.int64)
            default = " (the original's default; --label N chooses another)" if self.settings.label is None else ""
            print(f"conditioning on class {label}{default}")
        (h, w, c), (lo, hi) = self.model.image_shape, self.display_range
        grey = bool((rgb[..., 0] == rgb[..., 1]).all() and (rgb[..., 1] == rgb[..., 2]).all())
        if (c == 1 and not grey) or rgb.shape[:2] != (h, w):
            print(f"{os.path.basename(path)}: {rgb.shape[0]}x{rgb.shape[1]} {'grey' if grey else 'colour'} image -> "
                  f"{h}x{w} {'grey' if c == 1 else 'colour'} (the model's input)")
        x = (lo + (hi - lo) * figures.fit_image(rgb, (h, w, c)))[None]
        return np.concatenate([figures.frame(self.to_display(x), FRAME_COLOR)[0],
                               figures.to_rgb(self.to_display(self.reconstruct(x, labels)))[0]], axis=1)

