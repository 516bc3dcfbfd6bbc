"""The VAE collection's part of the command line: the original ``train.py`` of ALPHAYA-Japan/vae.

    python train.py VAE train [flags]              # VAE, CVAE, InfoVAE, MMDVAE (any case)
    python train.py VAE generate                   # reconstruction grid + prior samples
    python train.py VAE generate path/to/image     # one image beside its reconstruction
    python generate.py VAE [path/to/image]         # the same as ``train.py VAE generate``

``train`` builds the model (:mod:`models.vae_collection`) and Adam (beta1 0.5, beta2 0.999, epsilon 1e-8;
learning rate 1e-4 for VAE/CVAE, 1e-3 for InfoVAE/MMDVAE unless ``--learning_rate``), trains it with the
shared :class:`hvae.trainer.Trainer` for ``--epochs`` epochs (a progress bar per epoch) and after every
epoch

- measures the objective and its parts over the whole validation split (``validation/loss``,
  ``validation/elbo`` in nats per image, ... to TensorBoard and the console) and keeps the best checkpoint
  by validation loss (``model/<netname>/best/``); the test split is measured once, when training ends;
- writes the original's grid ``images/<MODEL>/grid_<epoch>.png`` (relative to the current folder): 4 rows
  x 10 columns, rows 1 and 3 twenty fixed test images framed in red, rows 2 and 4 their
  reconstructions, resized to 480x240 with area interpolation (also to TensorBoard).

A run stopped by ``--max_iterations`` in the middle of an epoch gets the same evaluation and grid for
that partial epoch. Run settings go to ``model/<netname>/config.json`` with the image shape, value range
and number of classes, so ``generate`` needs no data flags.

``generate`` restores the newest checkpoint; without an image it reconstructs 64 test images and writes
``images/<MODEL>/grid.png`` (the grid of the first 20) and ``images/<MODEL>/samples.png`` (100 samples
of the prior, 10x10; CVAE: one row per class); with an image (any size, grey or colour, read with
OpenCV) it writes ``images/<MODEL>/<stem>_reconstruction.png``: the framed image beside its
reconstruction at the model's input size. CVAE conditions that image on ``--label`` (default 4).
"""

from __future__ import annotations

import os

import numpy as np

from . import figures
from .errors import ConfigError
from .family import Family, flag
from .runs import save_config_json
from .task import Task

IMAGES_DIR = "images"
GRID_SIZE = (480, 240)        # width, height of the original's grid
GRID_COLUMNS = 10
GRID_IMAGES = 20              # two pairs of rows of 10
GENERATE_IMAGES = 64          # the original's fixed batch
SAMPLE_ROWS = 10
FIXED_SEED = 0                # which test images the grids show
DEFAULT_LABEL = 4             # the original's class for ``generate path`` with CVAE
FRAME_COLOR = (1.0, 0.0, 0.0)
UNLABELLED = ("binarized_mnist", "celebA", "lsun")
LABELLED = ("mnist", "svhn", "cifar10", "digits", "folder")
ADAM = dict(beta_1=0.5, beta_2=0.999, epsilon=1e-8)
# The flags that are model settings (models.vae_collection's configs); None: the config's default.
MODEL_SETTINGS = ("latent_dim", "likelihood", "legacy", "alpha", "lambda_", "mmd_bandwidth")

TRAIN = ("train",)
FAMILY = Family(
    name="collection",
    title="The VAE collection (ALPHAYA-Japan/vae): VAE, CVAE, InfoVAE, MMD-VAE",
    models=("VAE", "CVAE", "InfoVAE", "MMDVAE"),
    task="CollectionTask",
    model_module="models.vae_collection",
    default_dataset="mnist",
    defaults=dict(batch_size=64, epochs=30, latent_dim=200, label=None, legacy=False, alpha=None, lambda_=None,
                  mmd_bandwidth=None, likelihood="bernoulli"),
    flags=(
        flag("--epochs", modes=TRAIN, type=int, help="training epochs (default 30)"),
        flag("--latent_dim", modes=TRAIN, type=int, help="latent size (default 200)"),
        flag("--label", type=int, modes=("generate",), help="CVAE: class of the image given to generate (default 4)"),
        flag("--legacy", modes=TRAIN, action="store_true",
             help="the original's objectives and decoder wiring, bugs included (see docs/fidelity.md)"),
        flag("--alpha", modes=TRAIN, type=float, help="InfoVAE alpha: KL weight 1-alpha"),
        flag("--lambda", modes=TRAIN, dest="lambda_", type=float, metavar="LAMBDA",
             help="InfoVAE/MMD-VAE lambda: MMD weight alpha+lambda-1"),
        flag("--mmd_bandwidth", modes=TRAIN, type=float, help="MMD kernel exp(-|a-b|^2/bandwidth) (default: latent size)"),
        flag("--likelihood", modes=TRAIN, choices=("bernoulli", "gaussian"), help="p(x|z) of the collection (bernoulli)"),
    ),
    identity_keys=("latent_dim", "legacy", "alpha", "lambda_", "mmd_bandwidth", "likelihood"),
    run_control_keys=("epochs", "label"),
    model_help={"VAE": "MLP VAE (Kingma & Welling 2014)", "CVAE": "conditional VAE, labels as input planes",
                "InfoVAE": "conv VAE with KL + MMD (Zhao, Song & Ermon 2017)",
                "MMDVAE": "conv autoencoder with an MMD prior term, deterministic encoder"},
    generate_image=True,
)


def check_options(config: dict) -> None:
    """Reject flags the chosen model and mode have no use for, before any data is read.

    Raises:
        ConfigError: ``--alpha``/``--lambda``/``--mmd_bandwidth`` on a model without that weight or with
            ``--legacy``; ``--likelihood gaussian`` with ``--legacy``; ``--label`` outside CVAE's
            ``generate IMAGE``; CVAE on a dataset without labels.
    """
    from models.vae_collection import MODELS, OBJECTIVE_SETTINGS

    model = config["model"]
    for key in OBJECTIVE_SETTINGS:
        # the models whose config has this setting (alpha: InfoVAE; lambda_, mmd_bandwidth: InfoVAE and MMDVAE)
        models = tuple(name for name, cls in MODELS.items() if key in cls.config_class.field_names())
        if config.get(key) is None:
            continue
        flag = "--" + key.rstrip("_")
        if model not in models:
            raise ConfigError(f"{flag} does not apply to {model} (only to {' and '.join(models)})")
        if config.get("legacy"):
            raise ConfigError(f"{flag} does not apply with --legacy: the original's objective has fixed weights "
                              f"(leave --legacy out to set {flag})")
    if config.get("legacy") and config.get("likelihood", "bernoulli") != "bernoulli":
        raise ConfigError("--likelihood does not apply with --legacy: the original's reconstruction terms are fixed "
                          "(cross-entropy for VAE/CVAE, squared error for InfoVAE/MMDVAE)")
    if config.get("mmd_bandwidth") is not None and not config["mmd_bandwidth"] > 0:
        raise ConfigError(f"--mmd_bandwidth must be positive, got {config['mmd_bandwidth']}")
    if config.get("label") is not None:
        if model != "CVAE":
            raise ConfigError(f"--label does not apply to {model}: only CVAE is conditioned on a class")
        if config["mode"] != "generate" or not config.get("image"):
            raise ConfigError("--label chooses the class of the image given to 'CVAE generate IMAGE'; "
                              "it does not apply here")
    if model == "CVAE" and config.get("dataset") in UNLABELLED:
        raise ConfigError(_unlabelled_message(config["dataset"]))


def _unlabelled_message(dataset: str) -> str:
    return (f"CVAE needs class labels but dataset {dataset} has none; use a labelled dataset "
            f"({', '.join(LABELLED)})")


class CollectionTask(Task):
    """Builds, trains and draws one VAE-collection run from a resolved command-line configuration."""

    def __init__(self, config: dict, strategy):
        check_options(config)
        super().__init__(config, strategy)
        self.name = config["model"]
        # images/<MODEL>/ as the original for the default run; another --netname gets images/<netname>/ so that
        # two runs of one model do not overwrite each other's figures
        default = f"{self.name}_{config['dataset']}"
        self.images_dir = os.path.join(IMAGES_DIR, self.name if config["netname"] == default else config["netname"])
        self._eval_fn = None
        self._grid_batch = None

    # ---- set-up ---------------------------------------------------------------------------------
    @property
    def learning_rate(self) -> float:
        from models.vae_collection import MODELS

        return float(self.config.get("learning_rate") or MODELS[self.name].learning_rate)

    def build(self, shape, value_range, num_classes=None):
        """Build model and optimizer in the strategy's scope.

        Raises:
            ConfigError: the model cannot take this shape or these options; CVAE without classes.
        """
        from .optimizers import FusedAdam  # Adam's arithmetic in one fused kernel (README, Speed)

        from models.vae_collection import MODELS

        config = self.config
        cls = MODELS[self.name]
        if cls.conditional and not num_classes:
            raise ConfigError(_unlabelled_message(config["dataset"]))
        settings = {k: config.get(k) for k in MODEL_SETTINGS}
        try:
            model_config = cls.config_class.from_settings(settings, shape, value_range, num_classes)
            with self.strategy.scope():
                self.model = cls(model_config, name=self.name).build_all()
                self.optimizer = FusedAdam(self.learning_rate, **ADAM)
                self.optimizer.build(self.model.trainable_variables)
        except ValueError as err:
            raise ConfigError(f"{self.name}: {err}") from None
        self.num_classes = num_classes
        self.display_range = tuple(float(v) for v in value_range)

    def resolved_settings(self) -> dict:
        """What config.json records beyond the flags: the data's shape and range, and the values the
        defaults resolved to (learning rate, InfoVAE/MMD-VAE weights and bandwidth)."""
        m = self.model
        extra = {"image_shape": list(m.image_shape), "value_range": list(m.value_range),
                 "num_classes": self.num_classes, "learning_rate": self.learning_rate, "label": None,
                 "parameters": m.count_parameters()}
        if not m.legacy:
            from models.vae_collection import OBJECTIVE_SETTINGS

            for key in OBJECTIVE_SETTINGS:
                if key in m.config.field_names():
                    extra[key] = getattr(m, key)  # the value the default resolved to
        return extra

    def describe_objective(self) -> str:
        m = self.model
        like = "Bernoulli" if m.likelihood_kind == "bernoulli" else "Gaussian(sigma 0.1)"
        if m.legacy:
            return {"VAE": "the original's summed cross-entropy + its exp(l/2) 'KL' (--legacy)",
                    "CVAE": "the original's summed cross-entropy + its exp(l/2) 'KL' (--legacy)",
                    "InfoVAE": "the original's mean squared error + 0.001 x mean KL (--legacy)",
                    "MMDVAE": f"the original's mean squared error + MMD, bandwidth {m.latent_dim ** 2} (--legacy)"}[self.name]
        if self.name in ("VAE", "CVAE"):
            return f"negative ELBO, {like} likelihood"
        if self.name == "InfoVAE":
            return (f"{like} NLL + {1 - m.alpha:g} KL + {m.alpha + m.lambda_ - 1:g} MMD "
                    f"(alpha {m.alpha:g}, lambda {m.lambda_:g}, bandwidth {m.mmd_bandwidth:g})")
        return f"{like} NLL + {m.lambda_:g} MMD (bandwidth {m.mmd_bandwidth:g})"

    def to_display(self, x) -> np.ndarray:
        """Model values -> [0, 1] for the figures."""
        return figures.to_display(x, self.display_range)

    # ---- trainer hooks ----------------------------------------------------------------------------
    def loss_terms(self, images, labels, iteration):
        return self.model.loss_terms(images, labels if self.model.conditional else None, training=True)

    def monitor_split(self) -> str:
        """The split measured after every epoch: ``validation`` (``test`` only with ``--validation_size=0``)."""
        return "validation" if "validation" in self.dataset.splits else "test"

    def end_of_epoch(self, trainer, epoch: int):
        """Metrics over the whole validation split, the epoch's grid; the score is the validation loss."""
        step = int(trainer.iteration.numpy())
        split = self.monitor_split()
        metrics = self.split_metrics(split)
        trainer.scalars({f"{split}/{k}": v for k, v in metrics.items()}, step=step)
        canvas = self.grid_canvas(*self.grid_batch())
        path = figures.save_png(os.path.join(self.images_dir, f"grid_{epoch}.png"), canvas)
        labelled = self.labelled_grid(canvas, f"epoch {epoch}, iteration {step:,}")
        figures.save_png(os.path.join(self.images_dir, "grid_labelled.png"), labelled)
        with trainer.writer.as_default(step=step):
            figures.summary_image("grid", labelled, step)
        print(f"epoch {epoch} (iteration {step}): {self.describe_metrics(split, metrics)}; wrote {path}", flush=True)
        return metrics, metrics["loss"]

    @staticmethod
    def describe_metrics(split: str, metrics: dict) -> str:
        shown = ", ".join(f"{k} {v:.4g}" for k, v in metrics.items() if k not in ("loss", "elbo"))
        elbo = f", {split} ELBO {metrics['elbo']:.2f} nats/image" if "elbo" in metrics else ""
        return f"{split} loss {metrics['loss']:.4f}{elbo} ({shown})"

    # ---- evaluation and figures -----------------------------------------------------------------------
    def split_metrics(self, split: str) -> dict:
        """Every loss term averaged over a whole split (per image; the last batch may be smaller).

        The split is read in one fixed shuffled order: batch-level terms (MMD) need batches drawn like the
        training ones, and binarized MNIST's test split is sorted by digit (a batch of one class is far from
        the prior in MMD however good the model)."""
        import tensorflow as tf

        if self._eval_fn is None:
            model = self.model

            def terms(images, labels):
                return model.loss_terms(images, labels if model.conditional else None, training=False)

            self._eval_fn = tf.function(terms, reduce_retracing=True)
        sums, count = {}, 0
        for images, labels in self.dataset.batches(split, self.batch_size, shuffle=True, seed=FIXED_SEED,
                                                    drop_remainder=False, with_labels=True):
            n = int(images.shape[0])
            for key, value in self._eval_fn(images, labels).items():
                sums[key] = sums.get(key, 0.0) + float(value) * n
            count += n
        return {k: v / max(count, 1) for k, v in sums.items()}

    def grid_batch(self):
        """The twenty fixed test images (a seeded shuffle of the test split), their labels and reconstructions."""
        if self._grid_batch is None:
            self._grid_batch = self.dataset.take("test", GRID_IMAGES, seed=FIXED_SEED, with_labels=True)
        images, labels = self._grid_batch
        return images, self.reconstruct(images, labels)

    def reconstruct(self, images, labels):
        """The grids' reconstructions: the mean image of one posterior sample (as the original)."""
        return self.model.reconstruct(images, labels if self.model.conditional else None, sample=True).numpy()

    def grid_canvas(self, images, reconstructions) -> np.ndarray:
        """The original's grid (A.8) as a [0, 1] RGB canvas of 480x240.

        Rows 1 and 3: ground truth 0-9 and 10-19 with a one-pixel red frame; rows 2 and 4: their
        reconstructions. The 4x10 mosaic is resized with area interpolation and truncated to 1/255 steps.
        """
        import cv2

        truth = figures.frame(self.to_display(images[:GRID_IMAGES]), FRAME_COLOR)
        recon = _rgb(self.to_display(reconstructions[:GRID_IMAGES]))
        empty = np.zeros((GRID_COLUMNS,) + truth.shape[1:], np.float32)
        rows = []
        for start in range(0, GRID_IMAGES, GRID_COLUMNS):
            for part in (truth, recon):
                row = part[start:start + GRID_COLUMNS]
                rows.append(np.concatenate([row, empty[:GRID_COLUMNS - len(row)]]))
        mosaic = figures.tile(np.concatenate(rows), len(rows), GRID_COLUMNS)
        resized = cv2.resize(mosaic, GRID_SIZE, interpolation=cv2.INTER_AREA)
        return np.floor(np.clip(resized, 0.0, 1.0) * 255.0) / 255.0

    def labelled_grid(self, canvas, when: str) -> np.ndarray:
        """The grid with a title and row labels (matplotlib), for TensorBoard and the README."""
        rows = [(0.125, "test images\n(red frame)"), (0.375, "their\nreconstructions"),
                (0.625, "test images\n(red frame)"), (0.875, "their\nreconstructions")]
        return figures.render_labelled([canvas], [""], f"{self.config['netname']} ({self.name}), {when}: 20 fixed "
                                                      f"test images and their reconstructions", row_labels=rows,
                                       panel_width_inches=6.0)

    def labelled_samples(self, canvas, when: str) -> np.ndarray:
        """The prior samples with a title (CVAE: a label per row)."""
        rows = None
        if self.model.conditional:
            rows = [((i + 0.5) / self.num_classes, f"class {i}") for i in range(self.num_classes)]
        return figures.render_labelled([canvas], [""], f"{self.config['netname']} ({self.name}), {when}: samples "
                                                      f"from the prior" + (", one row per class" if rows else ""),
                                       row_labels=rows, panel_width_inches=4.0)

    def samples_canvas(self) -> np.ndarray:
        """100 images from the prior on a 10x10 grid; CVAE: one row of 10 per class."""
        if self.model.conditional:
            labels = np.repeat(np.arange(self.num_classes), SAMPLE_ROWS)
            images = self.model.sample(len(labels), labels=labels).numpy()
            return figures.tile(self.to_display(images), self.num_classes, SAMPLE_ROWS)
        images = self.model.sample(SAMPLE_ROWS * SAMPLE_ROWS).numpy()
        return figures.tile(self.to_display(images), SAMPLE_ROWS)

    # ---- main -----------------------------------------------------------------------------------------
    def train(self, devices: str) -> int:
        config = self.config
        data = self.data()
        if self.name == "CVAE" and not data.num_classes:
            raise ConfigError(_unlabelled_message(data.name))
        self.build(data.shape, data.value_range, data.num_classes)
        trainer = self.make_trainer(progress="bar")
        resumed = trainer.restore()
        save_config_json(config, self.resolved_settings())
        print(f"{config['netname']}: {self.name}{' (legacy)' if self.model.legacy else ''}, latent {self.model.latent_dim}, "
              f"{self.model.count_parameters():,} parameters; loss = {self.describe_objective()}; "
              f"Adam lr {self.learning_rate:g}; {devices}")
        print(f"data: {data.describe()}")
        if resumed:
            print(f"resumed from {trainer.latest_checkpoint} at iteration {int(trainer.iteration.numpy())}")
        print(f"writing to {self.run_dir}/ ({self.tensorboard_hint()}) and {self.images_dir}/", flush=True)
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
        """Restore the newest checkpoint (``--best``: the best by validation loss) and write the reconstruction
        grid and samples, or one image's reconstruction.

        Raises:
            CheckpointError: no checkpoint (or no best one) to restore, or one of another model.
        """
        config = self.config
        image = config.get("image")
        if image:
            source = self.read_image_checked(image)  # before building: a bad path fails fast
        trainer = self.restore_for_use(best=bool(config.get("best")))
        iteration = int(trainer.iteration.numpy())
        which = " (best checkpoint by validation loss)" if config.get("best") else ""
        print(f"{config['netname']} ({self.name}) at iteration {iteration}{which}", flush=True)
        written = self.generate_image(image, source) if image else self.generate_grid(iteration)
        for path in written:
            print(f"wrote {path}")
        return 0

    def generate_grid(self, iteration: int = 0) -> list:
        images, labels = self.data().take("test", GENERATE_IMAGES, seed=FIXED_SEED, with_labels=True)
        reconstructions = self.reconstruct(images, labels)
        grid_canvas = self.grid_canvas(images, reconstructions)
        samples_canvas = self.samples_canvas()
        when = f"iteration {iteration:,}"
        return [figures.save_png(os.path.join(self.images_dir, "grid.png"), grid_canvas),
                figures.save_png(os.path.join(self.images_dir, "samples.png"), samples_canvas),
                figures.save_png(os.path.join(self.images_dir, "grid_labelled.png"), self.labelled_grid(grid_canvas, when)),
                figures.save_png(os.path.join(self.images_dir, "samples_labelled.png"),
                                 self.labelled_samples(samples_canvas, when))]

    def read_image_checked(self, path: str) -> np.ndarray:
        """Read an image file with OpenCV as RGB uint8 ``(H, W, 3)`` (grey files give 3 equal channels).

        Raises:
            ConfigError: the path does not exist, is a folder, or is not an image OpenCV can decode.
        """
        import cv2

        if not os.path.exists(path):
            raise ConfigError(f"image {path} does not exist")
        if os.path.isdir(path):
            raise ConfigError(f"{path} is a folder; generate takes one image file (png, jpg, ...)")
        data = np.fromfile(path, np.uint8) if os.path.getsize(path) else np.zeros(0, np.uint8)
        img = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
        if img is None:
            raise ConfigError(f"{path} is not an image OpenCV can read (png, jpg, bmp, ...)")
        return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)

    def prepare_image(self, rgb: np.ndarray) -> np.ndarray:
        """RGB uint8 of any size -> ``(H, W, C)`` float32 in the model's value range (bilinear resize,
        colour -> grey with OpenCV's weights for one-channel models)."""
        import cv2

        h, w, c = self.model.image_shape
        img = cv2.resize(rgb, (w, h), interpolation=cv2.INTER_LINEAR)
        if c == 1:
            img = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)[..., None]
        elif c != 3:
            raise ConfigError(f"{self.name} takes {c}-channel images; generate IMAGE handles 1 or 3 channels")
        lo, hi = self.display_range
        return (lo + (hi - lo) * img.astype(np.float32) / 255.0).astype(np.float32)

    def generate_image(self, path: str, rgb: np.ndarray) -> list:
        labels = None
        if self.model.conditional:
            label = DEFAULT_LABEL if self.config.get("label") is None else int(self.config["label"])
            if not 0 <= label < self.num_classes:
                raise ConfigError(f"--label {label} is out of range: this CVAE has classes 0-{self.num_classes - 1}")
            labels = np.array([label], np.int64)
            print(f"conditioning on class {label}")
        h, w, c = self.model.image_shape
        grey = bool((rgb[..., 0] == rgb[..., 1]).all() and (rgb[..., 1] == rgb[..., 2]).all())
        if (c == 1 and not grey) or rgb.shape[:2] != (h, w):
            print(f"{os.path.basename(path)}: {rgb.shape[0]}x{rgb.shape[1]} {'grey' if grey else 'colour'} image -> "
                  f"{h}x{w} {'grey' if c == 1 else 'colour'} (the model's input)")
        x = self.prepare_image(rgb)[None]
        reconstruction = self.reconstruct(x, labels)
        canvas = np.concatenate([figures.frame(self.to_display(x), FRAME_COLOR)[0],
                                 _rgb(self.to_display(reconstruction))[0]], axis=1)
        stem = os.path.splitext(os.path.basename(path))[0]
        return [figures.save_png(os.path.join(self.images_dir, f"{stem}_reconstruction.png"), canvas)]


def _rgb(images: np.ndarray) -> np.ndarray:
    return np.repeat(images, 3, axis=-1) if images.shape[-1] == 1 else images


def benchmark_cases() -> dict:
    """``{case: builder}`` for ``benchmarks/train_speed.py``: VAE, CVAE, InfoVAE and MMD-VAE on 28x28x1 binary images
    (latent 200, batch 64 unless given, the run's Adam and learning rate); ``builder(batch=None)`` returns
    ``dict(model, optimizer, images, labels, loss_terms)``."""

    def case(name):
        def builder(batch=None):
            import keras
            import tensorflow as tf

            from models.vae_collection import MODELS

            model = MODELS[name].from_preset(f"{name}_mnist")
            optimizer = keras.optimizers.Adam(MODELS[name].learning_rate, **ADAM)
            optimizer.build(model.trainable_variables)
            b = int(batch or 64)
            images = tf.cast(tf.random.stateless_uniform((b, 28, 28, 1), seed=(0, 1)) < 0.3, tf.float32)
            labels = tf.random.stateless_uniform((b,), seed=(0, 2), maxval=10, dtype=tf.int64)

            def loss_terms(images, labels, iteration):
                return model.loss_terms(images, labels if model.conditional else None, training=True)

            return dict(model=model, optimizer=optimizer, images=images, labels=labels, loss_terms=loss_terms)

        return builder

    return {f"{name}_mnist": case(name) for name in ("VAE", "CVAE", "InfoVAE", "MMDVAE")}
