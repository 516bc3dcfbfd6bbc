"""The small Ladder VAE's part of the command line: the original ``train.ipynb`` of ahmeterdem1/lvae.

    python train.py LVAE2 train --dataset=mnist --db_path=../shared/data/mnist --dataset_option train_split=test
    python train.py LVAE2 evaluate [--iw_samples=K] [--best]
    python train.py LVAE2 generate [--best]          # or: python generate.py LVAE2

28x28x1 data (mnist, binarized_mnist, digits), Adam 1e-3 (PyTorch's constants), ``--epochs`` (3) epochs of 64.
After every epoch: every loss term over the validation split, the best checkpoint by validation ELBO, and the
figures (``model/<netname>/<figure>/current.png``, ``epoch<k>.png``, image grids also ``current_labelled.png``):
``loss`` (every iteration's loss, the notebook's plot), ``reconstructions``, ``latent`` (the 2-d top code by
class: sampled and posterior means), ``samples``, ``samples_shrunk`` (z_top x 0.5), ``line`` (5 decodes from
(-1.5, -1.5) to (1.5, 1.5)), ``manifold`` (15x15 over [-2, 2]^2), ``samples_top`` and ``samples_ladder`` (what each
layer varies). Codes and noise are fixed (seed 0); every iteration's loss is kept in ``loss_history.npy``. Details:
docs/lvae2.md.
"""

from __future__ import annotations

import numpy as np

from . import figures
from .configs.lvae2 import CONFIGS, PRESETS
from .errors import ConfigError
from .family import Family, config_flags, flag_message
from .task import Figure, Task

LEARNING_RATE = 1e-3          # optim.Adam(model.parameters()) defaults
FIXED_SEED = 0
RECONSTRUCTION_IMAGES = 8
GRID = 10
MANIFOLD = 15
MANIFOLD_RANGE = 2.0
LINE_POINTS = 5
LINE_ENDS = ((-1.5, -1.5), (1.5, 1.5))
SCATTER_IMAGES = 10_000
SHAPE = (28, 28, 1)
BETA_FLAGS = ("beta_start", "beta_growth", "beta_max")

FAMILY = Family(
    name="lvae2",
    title="The small Ladder VAE (ahmeterdem1/lvae): two latent layers, 2-d top, 13x13x64 ladder",
    models=("LVAE2",),
    task="LVAE2Task",
    model_module="hvae.models.lvae2",
    default_dataset="mnist",
    defaults=dict(batch_size=64, epochs=3),
    flags=config_flags(CONFIGS),
    configs=CONFIGS,
    model_help={"LVAE2": "small conv Ladder VAE on 28x28 digits (mnist, binarized_mnist, digits)"},
)


def check_options(resolved) -> None:
    """Reject contradictory or invalid settings before any data is read: the model config of the flags given
    (:meth:`~hvae.configs.base.ModelConfig.with_flags` on the preset) is checked as it will be built.

    Raises:
        ConfigError: ``--beta_constant`` together with a warm-up flag; a value the config rejects (a non-positive
            beta, a growth below 1).
    """
    flags = resolved.model_flags
    constant = flags.get("beta_constant")
    given = [f"--{k}" for k in BETA_FLAGS if flags.get(k) is not None]
    if constant is not None and given:
        raise ConfigError(f"--beta_constant replaces the warm-up: it does not go with {', '.join(given)}")
    try:
        PRESETS["LVAE2_mnist"].with_flags(flags)
    except ValueError as err:
        raise ConfigError(flag_message(str(err), CONFIGS)) from None


class LVAE2Task(Task):
    """Builds, trains, evaluates and draws one LVAE2 run from a resolved command-line configuration (the hooks of
    :class:`hvae.task.Task`; epoch schedule, Adam 1e-3 with PyTorch's constants)."""

    default_learning_rate = LEARNING_RATE
    keep_loss_history = True     # the notebook's loss curve: every iteration's loss (model/<netname>/loss_history.npy)

    def __init__(self, resolved, strategy):
        check_options(resolved)
        super().__init__(resolved, strategy)
        self._fixed = None

    def build_model(self, shape, value_range, num_classes=None):
        """:class:`hvae.models.lvae2.LVAE2` of this run's flags and the data's shape and range (flags left out keep the
        preset's: :meth:`~hvae.configs.base.ModelConfig.with_flags` on ``LVAE2_mnist``).

        Raises:
            ConfigError: images other than 28x28x1.
            ValueError: a bad option.
        """
        from hvae.models.lvae2 import LVAE2

        if shape != SHAPE:
            raise ConfigError(f"LVAE2 has the original's layers for 28x28x1 images; dataset {self.run.dataset} "
                              f"gives {'x'.join(map(str, shape))} (use mnist, binarized_mnist or digits)")
        base = self.saved_model_config() or PRESETS["LVAE2_mnist"]
        config = base.with_flags(self.resolved.model_flags, image_shape=tuple(shape), value_range=tuple(value_range))
        return LVAE2(config, name="LVAE2").build_all()

    def recorded(self) -> dict:
        return {"beta_schedule": self.model.beta.describe()}

    def describe(self) -> str:
        m, c = self.model, self.model.config
        rec = {"l2norm": "the original's L2 norm of the whole batch", "mse": "summed squared error per image",
               "nll": f"-log p(x|z) ({c.likelihood})"}[c.recon]
        ladder = ("KL(common || encoder)" if c.sampling == "repo" else "KL(posterior || top-down prior)")
        return (f"LVAE2, {m.count_parameters():,} parameters; loss = {rec} + beta (KL_top + ladder {ladder}); "
                f"{m.beta.describe()}; sampling {c.sampling}, merge {c.merge}; Adam lr {self.learning_rate:g}")

    def measure(self, split: str, iteration: int) -> dict:
        """Every loss term over a whole split at the current beta, per image (one posterior draw each). With
        ``recon='l2norm'`` the loss and reconstruction depend on the batch size: they are averaged over the full
        batches only (over the one smaller batch if the split has no full batch)."""
        means, rows = self.split_means(split, iteration=iteration)
        full = [v for n, v in rows if n == self.batch_size] or [v for _, v in rows[:1]]
        if self.model.config.recon == "l2norm" and full:
            means.update({k: sum(v[k] for v in full) / len(full) for k in ("loss", "reconstruction")})
        return means

    def score(self, split: str, metrics: dict):
        return -metrics["elbo"]

    def monitor(self, state, final: bool = False) -> dict:
        """The template's pass, with the epoch's mean training loss (``train/epoch_mean_loss``) first."""
        step, spe = state.iteration, state.steps_per_epoch
        losses = np.asarray(self.loss_history.values[(-(-step // spe) - 1) * spe:step], np.float64)
        losses = losses[np.isfinite(losses)]
        self._epoch_mean = float(losses.mean()) if losses.size else float("nan")
        if losses.size:
            state.scalars({"train/epoch_mean_loss": self._epoch_mean}, step=step)
        return super().monitor(state, final)

    def monitor_line(self, split: str, metrics: dict, iteration: int) -> str:
        """The notebook's epoch line, then the split's terms."""
        epoch = -(-iteration // self._steps_per_epoch())
        last = self.loss_history.values[iteration - 1] if 0 < iteration <= len(self.loss_history.values) else float("nan")
        return (f"Epoch: {epoch:03d}/{self.run.epochs or 0:03d} || Loss: {last:.4f} (last batch); "
                f"mean over the epoch {self._epoch_mean:.4f} (iteration {iteration})\n"
                f"  {self.describe_metrics(split, metrics)}")

    @staticmethod
    def describe_metrics(split: str, m: dict) -> str:
        return (f"{split}: loss {m['loss']:.4f}, ELBO {m['elbo']:.2f} nats/image, KL top {m['kl_top']:.3f}, "
                f"KL ladder {m['kl_ladder']:.2f}, squared error {m['squared_error']:.2f}/image, beta {m['beta']:.3g}")

    def fixed_codes(self) -> dict:
        """The figures' fixed top codes and ladder noise (seed 0)."""
        if self._fixed is None:
            rng = np.random.RandomState(FIXED_SEED)
            n = GRID * GRID
            self._fixed = {
                "z": rng.randn(n, 2).astype(np.float32),
                "noise": rng.randn(n, 13, 13, 64).astype(np.float32),
                "rows": rng.randn(GRID, 2).astype(np.float32),
                "top_noise": rng.randn(RECONSTRUCTION_IMAGES, 2).astype(np.float32),
            }
        return self._fixed

    def draw_figures(self, iteration: int, split: str) -> dict:
        """Every figure of the module docstring as :class:`hvae.task.Figure` (the matplotlib ones carry their own
        titles; the line's labelled version is a row instead of the original's column)."""
        import tensorflow as tf

        m, f = self.model, self.fixed_codes()
        show = self.to_display
        out = {"loss": Figure(figures.curve_canvas(self.loss_history.values, "Training of the Ladder VAE"))}
        images = self.data().take(split, RECONSTRUCTION_IMAGES, seed=FIXED_SEED)
        fwd = m.forward(images, top_noise=tf.constant(f["top_noise"][:len(images)]))
        recon = m.from_unit(fwd.decoding.mean_image).numpy()
        pairs = np.stack([show(images), show(recon)], axis=1).reshape((-1,) + SHAPE)
        out["reconstructions"] = Figure(figures.tile(pairs, int(np.ceil(len(pairs) / 8)), 8, fill=1.0),
                                        f"{len(images)} fixed {split} images, each followed by its reconstruction "
                                        f"(z_top ~ q(z_top|x), z_ladder drawn as in training)", width=4.0)
        out["latent"] = Figure(self.latent_canvas(split))
        out["samples"] = Figure(figures.tile(show(m.decode_top(f["z"], "sample", f["noise"])), GRID),
                                "prior samples: z_top ~ N(0, I), z_ladder ~ p(z_ladder | z_top)")
        out["samples_shrunk"] = Figure(figures.tile(show(m.decode_top(0.5 * f["z"], "sample", f["noise"])), GRID),
                                       "prior samples from the shrunk space: z_top ~ N(0, 0.25 I), "
                                       "z_ladder ~ p(z_ladder | z_top)")
        (a0, a1), (b0, b1) = LINE_ENDS
        s = np.linspace(0.0, 1.0, LINE_POINTS)[:, None]
        line = (1 - s) * np.array([a0, a1]) + s * np.array([b0, b1])
        line_images = show(m.decode_top(line, "mean"))
        out["line"] = Figure(figures.tile(line_images, LINE_POINTS, 1),
                             f"a line in latent space: z_top from ({a0:g}, {a1:g}) (left) to ({b0:g}, {b1:g}) (right), "
                             f"z_ladder at its mean", panels=[figures.tile(line_images, 1, LINE_POINTS)], width=4.0)
        v = np.linspace(-MANIFOLD_RANGE, MANIFOLD_RANGE, MANIFOLD)
        grid = np.array([[x, y] for y in v[::-1] for x in v], np.float32)
        out["manifold"] = Figure(figures.tile(show(m.decode_top(grid, "mean")), MANIFOLD),
                                 f"z_top over [-{MANIFOLD_RANGE:g}, {MANIFOLD_RANGE:g}]^2 (z_1 left to right, z_2 bottom "
                                 f"to top), z_ladder at its mean")
        out["samples_top"] = Figure(figures.tile(show(m.decode_top(f["z"], "mean")), GRID),
                                    "the top layer varies: z_top ~ N(0, I), z_ladder at its mean")
        rows = np.repeat(f["rows"], GRID, axis=0)
        ladder = m.decode_top(rows, "sample", f["noise"]).numpy().reshape((GRID, GRID) + SHAPE)
        ladder[:, 0] = m.decode_top(f["rows"], "mean").numpy()
        out["samples_ladder"] = Figure(figures.tile(show(ladder.reshape((-1,) + SHAPE)), GRID),
                                       "the ladder layer varies: one fixed z_top per row; column 1 z_ladder at its "
                                       "mean, columns 2-10 z_ladder ~ p(z_ladder | z_top)")
        return out

    def latent_canvas(self, split: str) -> np.ndarray:
        """The notebook's ``plot_latent_space_with_labels`` over (at most 10,000 of) ``split``: sampled z_top
        (left) and posterior means (right), one colour per class."""
        sampled, means, labels = [], [], []
        seen = 0
        for images, y in self.dataset.batches(split, 500, with_labels=True):
            enc = self.model.bottom_up(images)
            sampled.append(enc.top_posterior.sample().numpy())
            means.append(enc.top_mean.numpy())
            labels.append(y.numpy())
            seen += int(images.shape[0])
            if seen >= SCATTER_IMAGES:
                break
        sampled, means, labels = (np.concatenate(a)[:SCATTER_IMAGES] for a in (sampled, means, labels))
        return figures.scatter_canvas([(sampled, f"top latent z_top, {split}: sampled z (as the notebook)"),
                                       (means, f"top latent z_top, {split}: posterior means")],
                                      labels if self.dataset.num_classes else None)

    def evaluation_notes(self) -> list:
        """What the evaluated bound means for this run: the ladder layer's proposal and, for a run not trained
        on a likelihood, that the number reads the same network as ``--likelihood``."""
        c = self.model.config
        notes = []
        if c.sampling == "repo":
            notes.append("--sampling repo: z_ladder is drawn from the decoder's own p(z_ladder | z_top), which is "
                         "therefore the proposal (layer 0's log q - log p is 0)")
        if c.recon != "nll":
            notes.append(f"trained with --recon {c.recon}, not on a likelihood: the bound is that of the same network "
                         f"read as a {c.likelihood} likelihood p(x|z)")
        return notes
