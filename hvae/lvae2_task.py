"""The small Ladder VAE's part of the command line: the original ``train.ipynb`` of ahmeterdem1/lvae.

    python train.py LVAE2 train --dataset=mnist --db_path=../shared/data/mnist --dataset_option train_split=test
    python train.py LVAE2 evaluate [--iw_samples=K] [--best]
    python train.py LVAE2 generate [--best]          # or: python generate.py LVAE2

``train`` builds the model (:mod:`models.lvae2`, 28x28x1 data: mnist, binarized_mnist, digits) and Adam
(lr 1e-3, betas 0.9/0.999, epsilon 1e-8: PyTorch's defaults), and trains it with the shared
:class:`hvae.trainer.Trainer` for ``--epochs`` epochs (3, as the notebook) of batches of 64 (the trainer
drops an epoch's last partial batch; the original kept it). After every epoch it

- measures every loss term over the whole validation split (``validation/...`` in TensorBoard and on the
  console) and keeps the best checkpoint by the validation negative ELBO (``model/<netname>/best/``);
- draws the notebook's figures and ours into ``model/<netname>/<figure>/current.png`` and
  ``epoch<k>.png``; each image grid also as ``current_labelled.png`` (titled with the run, the iteration and
  what it shows), which is the version TensorBoard gets:

  ``loss``             the training loss at every iteration ("Training of the Ladder VAE", fivethirtyeight);
  ``reconstructions``  8 fixed validation images, each beside its reconstruction (4 pairs a row);
  ``latent``           the 2-d top code of the validation images coloured by class: sampled z (left, as the
                       notebook's scatter) and posterior means (right);
  ``samples``          100 prior samples, z_top ~ N(0, I), z_ladder ~ p(z_ladder | z_top);
  ``samples_shrunk``   the same with z_top scaled by 0.5 (the notebook's "shrinked" generation space);
  ``line``             5 decodes along the segment (-1.5, -1.5) -> (1.5, 1.5) of the top code, stacked
                       vertically (the README's examples/laddervae1.png; a row in the labelled version),
                       z_ladder at its mean;
  ``manifold``         a 15x15 grid of the top code over [-2, 2]^2 (z_2 decreasing downwards), z_ladder at its mean;
  ``samples_top``      100 top codes from the prior, z_ladder at its mean (what the top layer varies);
  ``samples_ladder``   10 fixed top codes (rows): z_ladder at its mean, then 9 draws of p(z_ladder | z_top)
                       (what the ladder layer varies).

Codes and noise of the figures are fixed (seed 0), so the figures of successive epochs are comparable.
The loss of every iteration is kept in ``model/<netname>/loss_history.npy`` (resumes continue it). The
test split is measured once, when training ends. ``generate`` restores the newest (``--best``: best)
checkpoint and draws every figure into ``current.png``.
"""

from __future__ import annotations

import os

import numpy as np

from . import figures
from .errors import ConfigError
from .family import Family, flag
from .runs import save_config_json
from .task import Task

LEARNING_RATE = 1e-3          # optim.Adam(model.parameters()) defaults
ADAM = dict(beta_1=0.9, beta_2=0.999, epsilon=1e-8)
FIXED_SEED = 0
RECONSTRUCTION_IMAGES = 8
GRID = 10
MANIFOLD = 15
MANIFOLD_RANGE = 2.0
LINE_POINTS = 5
LINE_ENDS = ((-1.5, -1.5), (1.5, 1.5))
SCATTER_IMAGES = 10_000
HISTORY_FILE = "loss_history.npy"
SHAPE = (28, 28, 1)
LABELLED_WIDTH = {"line": 4.0, "reconstructions": 4.0}   # inches of the labelled version (default: pixels / 100)
BETA_FLAGS = ("beta_start", "beta_growth", "beta_max")
TRAIN = ("train",)

FAMILY = Family(
    name="lvae2",
    title="The small Ladder VAE (ahmeterdem1/lvae): two latent layers, 2-d top, 13x13x64 ladder",
    models=("LVAE2",),
    task="LVAE2Task",
    model_module="models.lvae2",
    default_dataset="mnist",
    defaults=dict(batch_size=64, epochs=3, sampling="repo", merge="precision", recon="l2norm", likelihood="bernoulli",
                  beta_start=None, beta_growth=None, beta_max=None, beta_constant=None),
    flags=(
        flag("--epochs", modes=TRAIN, type=int, help="training epochs (default 3)"),
        flag("--sampling", modes=TRAIN, choices=("repo", "paper"),
             help="LVAE2: repo (default): the decoder samples its own ladder Gaussian, ladder KL(common||encoder), "
                  "as the original; paper: it samples the merged posterior, KL(posterior||prior) (Sonderby et al.)"),
        flag("--merge", modes=TRAIN, choices=("precision", "legacy"),
             help="LVAE2: precision-weighted merge of the ladder Gaussians (default) or the original's wrong formula"),
        flag("--recon", modes=TRAIN, choices=("l2norm", "mse", "nll"),
             help="LVAE2 reconstruction term: l2norm (default: the original's L2 norm of the whole batch), mse "
                  "(summed squared error per image) or nll (-log p(x|z) of --likelihood)"),
        flag("--likelihood", modes=TRAIN, choices=("bernoulli", "gaussian"),
             help="p(x|z): bernoulli (default) or gaussian N(mean, 0.1^2); evaluate uses it, --recon nll trains it"),
        flag("--beta_start", modes=TRAIN, type=float, help="LVAE2 KL warm-up: first beta (default 1e-4)"),
        flag("--beta_growth", modes=TRAIN, type=float, help="LVAE2 KL warm-up: factor per iteration (default 1.001)"),
        flag("--beta_max", modes=TRAIN, type=float,
             help="LVAE2 KL warm-up: no growth once beta reaches this (default 0.5)"),
        flag("--beta_constant", modes=TRAIN, type=float,
             help="LVAE2: a constant beta instead of the warm-up (1e-3 reproduces the original's HEAD)"),
    ),
    identity_keys=("sampling", "merge", "recon", "likelihood", "beta_start", "beta_growth", "beta_max",
                   "beta_constant"),
    run_control_keys=("epochs",),
    model_help={"LVAE2": "small conv Ladder VAE on 28x28 digits (mnist, binarized_mnist, digits)"},
)


def check_options(config: dict) -> None:
    """Reject contradictory or out-of-range settings before any data is read.

    Raises:
        ConfigError: ``--beta_constant`` together with a warm-up flag; a non-positive beta, a growth below 1.
    """
    constant = config.get("beta_constant")
    given = [f"--{k}" for k in BETA_FLAGS if config.get(k) is not None]
    if constant is not None and given:
        raise ConfigError(f"--beta_constant replaces the warm-up: it does not go with {', '.join(given)}")
    for key in ("beta_constant", "beta_start", "beta_max"):
        if config.get(key) is not None and not config[key] > 0:
            raise ConfigError(f"--{key} must be positive, got {config[key]}")
    if config.get("beta_growth") is not None and not config["beta_growth"] >= 1.0:
        raise ConfigError(f"--beta_growth must be at least 1 (beta is multiplied by it every iteration), "
                          f"got {config['beta_growth']}")


class LVAE2Task(Task):
    """Builds, trains, evaluates and draws one LVAE2 run from a resolved command-line configuration."""

    def __init__(self, config: dict, strategy):
        check_options(config)
        super().__init__(config, strategy)
        self.history: list = []
        self._eval_fn = None
        self._last_loss = None
        self._fixed = None

    # ---- set-up ---------------------------------------------------------------------------------------
    @property
    def learning_rate(self) -> float:
        return float(self.config.get("learning_rate") or LEARNING_RATE)

    def model_config(self, shape, value_range):
        """The model's :class:`models.lvae2.LVAE2Config` of this run's flags and the data's shape and range
        (:meth:`LVAE2Config.from_settings`: flags left out, e.g. the beta warm-up's, keep the defaults).

        Raises:
            ValueError: an invalid setting.
        """
        from models.lvae2 import LVAE2Config

        return LVAE2Config.from_settings(self.config, shape, value_range)

    def build(self, shape, value_range, num_classes=None) -> None:
        """Build model and optimizer in the strategy's scope.

        Raises:
            ConfigError: images other than 28x28x1, or a bad option.
        """
        import tensorflow as tf

        from .optimizers import FusedAdam  # Adam's arithmetic in one fused kernel (README, Speed)

        from models.lvae2 import LVAE2

        shape = tuple(int(s) for s in shape)
        if shape != SHAPE:
            raise ConfigError(f"LVAE2 has the original's layers for 28x28x1 images; dataset {self.config['dataset']} "
                              f"gives {'x'.join(map(str, shape))} (use mnist, binarized_mnist or digits)")
        try:
            model_config = self.model_config(shape, value_range)
            with self.strategy.scope():
                self.model = LVAE2(model_config, name="LVAE2").build_all()
                self.optimizer = FusedAdam(self.learning_rate, **ADAM)
                self.optimizer.build(self.model.trainable_variables)
                self._last_loss = tf.Variable(0.0, trainable=False, name="last_loss",
                                              aggregation=tf.VariableAggregation.MEAN)
        except ValueError as err:
            raise ConfigError(f"LVAE2: {err}") from None
        self.num_classes = num_classes
        self.display_range = tuple(float(v) for v in value_range)

    def resolved_settings(self) -> dict:
        """What config.json records beyond the flags."""
        m = self.model
        return {"image_shape": list(m.image_shape), "value_range": list(m.value_range), "num_classes": self.num_classes,
                "learning_rate": self.learning_rate, "parameters": m.count_parameters(),
                "beta_schedule": m.beta.describe()}

    def describe_objective(self) -> str:
        m, c = self.model, self.model.config
        rec = {"l2norm": "the original's L2 norm of the whole batch", "mse": "summed squared error per image",
               "nll": f"-log p(x|z) ({c.likelihood})"}[c.recon]
        ladder = ("KL(common || encoder)" if c.sampling == "repo" else "KL(posterior || top-down prior)")
        return (f"{rec} + beta (KL_top + ladder {ladder}); {m.beta.describe()}; sampling {c.sampling}, "
                f"merge {c.merge}")

    def to_display(self, x) -> np.ndarray:
        return figures.to_display(x, self.display_range)

    # ---- trainer hooks -------------------------------------------------------------------------------------
    def loss_terms(self, images, labels, iteration):
        terms = self.model.loss_terms(images, None, iteration, training=True)
        self._last_loss.assign(terms["loss"])   # read by after_step for the per-iteration loss curve
        return terms

    def after_step(self, trainer, index: int) -> None:
        self.history.append(float(self._last_loss.numpy()))
        if (index + 1) % trainer.checkpoint_frequency == 0:
            self.save_history()

    def monitor_split(self) -> str:
        """``validation`` (``test`` only with ``--validation_size=0``)."""
        return "validation" if "validation" in self.dataset.splits else "test"

    def end_of_epoch(self, trainer, epoch: int):
        """Validation metrics, the figures, the loss history; the score is the validation negative ELBO."""
        step = int(trainer.iteration.numpy())
        split = self.monitor_split()
        metrics = self.split_metrics(split, step)
        trainer.scalars({f"{split}/{k}": v for k, v in metrics.items()}, step=step)
        spe = trainer.steps_per_epoch
        start = (epoch - 1) * spe
        epoch_losses = np.asarray(self.history[start:step], np.float64)
        epoch_losses = epoch_losses[np.isfinite(epoch_losses)]
        train_mean = float(epoch_losses.mean()) if epoch_losses.size else float("nan")
        if epoch_losses.size:
            trainer.scalars({"train/epoch_mean_loss": train_mean}, step=step)
        self.write_figures(self.draw_figures(), epoch, step)
        self.save_history()
        epochs = self.config.get("epochs")
        last = self.history[step - 1] if 0 < step <= len(self.history) else float("nan")
        print(f"Epoch: {epoch:03d}/{int(epochs or 0):03d} || Loss: {last:.4f} (last batch); mean over the epoch "
              f"{train_mean:.4f} (iteration {step})", flush=True)
        print(f"  {self.describe_metrics(split, metrics)}; figures in {self.run_dir}/", flush=True)
        return metrics, -metrics["elbo"]

    @staticmethod
    def describe_metrics(split: str, m: dict) -> str:
        return (f"{split}: loss {m['loss']:.4f}, ELBO {m['elbo']:.2f} nats/image, KL top {m['kl_top']:.3f}, "
                f"KL ladder {m['kl_ladder']:.2f}, squared error {m['squared_error']:.2f}/image, beta {m['beta']:.3g}")

    # ---- measurements ------------------------------------------------------------------------------------------
    def split_metrics(self, split: str, iteration: int) -> dict:
        """Every loss term over a whole split at the current beta, per image (one posterior draw each).

        With ``recon='l2norm'`` the loss and reconstruction depend on the batch size: they are averaged over
        the full batches only (over the one smaller batch if the split has no full batch).
        """
        import tensorflow as tf

        if self._eval_fn is None:
            model = self.model

            def terms(images, it):
                return model.loss_terms(images, None, it, training=False)

            self._eval_fn = tf.function(terms, input_signature=(tf.TensorSpec((None,) + SHAPE, tf.float32),
                                                                tf.TensorSpec((), tf.int64)))
        it = tf.constant(max(int(iteration), 1), tf.int64)
        sums, count, batch_sums, full = {}, 0, {}, 0
        size = self.dataset.sources[split].size
        for images in self.dataset.batches(split, self.batch_size, with_labels=False):
            n = int(images.shape[0])
            values = {k: float(v) for k, v in self._eval_fn(images, it).items()}
            for key, value in values.items():
                sums[key] = sums.get(key, 0.0) + value * n
            count += n
            if n == self.batch_size or size < self.batch_size:
                for key in ("loss", "reconstruction"):
                    batch_sums[key] = batch_sums.get(key, 0.0) + values[key]
                full += 1
        out = {k: v / max(count, 1) for k, v in sums.items()}
        if self.model.config.recon == "l2norm" and full:
            out.update({k: v / full for k, v in batch_sums.items()})
        return out

    # ---- loss history -----------------------------------------------------------------------------------------
    def history_path(self) -> str:
        return os.path.join(self.run_dir, HISTORY_FILE)

    def load_history(self, iteration: int) -> None:
        """The saved per-iteration losses, cut or padded (NaN) to ``iteration`` entries."""
        path = self.history_path()
        values = np.load(path).astype(np.float64).tolist() if os.path.exists(path) else []
        values = values[:iteration]
        self.history = values + [float("nan")] * (iteration - len(values))

    def save_history(self) -> None:
        os.makedirs(self.run_dir, exist_ok=True)
        tmp = self.history_path() + ".tmp.npy"
        np.save(tmp, np.asarray(self.history, np.float32))
        os.replace(tmp, self.history_path())

    # ---- figures --------------------------------------------------------------------------------------------------
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

    def draw_figures(self) -> dict:
        """Every figure of the module docstring as ``{name: (canvas, what[, labelled_panel])}``: a [0, 1] canvas
        and, for the image grids, what it shows (the title of its labelled version; None for the matplotlib
        figures, which carry their own titles) and optionally another layout for the labelled version (the
        line: a row instead of the original's column)."""
        import tensorflow as tf

        m, f = self.model, self.fixed_codes()
        show = self.to_display
        out = {"loss": (loss_canvas(self.history), None)}
        split = self.monitor_split()
        images = self.dataset.take(split, RECONSTRUCTION_IMAGES, seed=FIXED_SEED)
        fwd = m.forward(images, top_noise=tf.constant(f["top_noise"][:len(images)]))
        recon = m.from_unit(fwd.decoding.mean_image).numpy()
        pairs = np.stack([show(images), show(recon)], axis=1).reshape((-1,) + SHAPE)
        out["reconstructions"] = (figures.tile(pairs, int(np.ceil(len(pairs) / 8)), 8, fill=1.0),
                                  f"{len(images)} fixed {split} images, each followed by its reconstruction "
                                  f"(z_top ~ q(z_top|x), z_ladder drawn as in training)")
        out["latent"] = (self.latent_canvas(split), None)
        out["samples"] = (figures.tile(show(m.decode_top(f["z"], "sample", f["noise"])), GRID),
                          "prior samples: z_top ~ N(0, I), z_ladder ~ p(z_ladder | z_top)")
        out["samples_shrunk"] = (figures.tile(show(m.decode_top(0.5 * f["z"], "sample", f["noise"])), GRID),
                                 "prior samples from the shrunk space: z_top ~ N(0, 0.25 I), "
                                 "z_ladder ~ p(z_ladder | z_top)")
        (a0, a1), (b0, b1) = LINE_ENDS
        s = np.linspace(0.0, 1.0, LINE_POINTS)[:, None]
        line = (1 - s) * np.array([a0, a1]) + s * np.array([b0, b1])
        line_images = show(m.decode_top(line, "mean"))
        out["line"] = (figures.tile(line_images, LINE_POINTS, 1),
                       f"a line in latent space: z_top from ({a0:g}, {a1:g}) (left) to ({b0:g}, {b1:g}) (right), "
                       f"z_ladder at its mean", figures.tile(line_images, 1, LINE_POINTS))
        v = np.linspace(-MANIFOLD_RANGE, MANIFOLD_RANGE, MANIFOLD)
        grid = np.array([[x, y] for y in v[::-1] for x in v], np.float32)
        out["manifold"] = (figures.tile(show(m.decode_top(grid, "mean")), MANIFOLD),
                           f"z_top over [-{MANIFOLD_RANGE:g}, {MANIFOLD_RANGE:g}]^2 (z_1 left to right, z_2 bottom "
                           f"to top), z_ladder at its mean")
        out["samples_top"] = (figures.tile(show(m.decode_top(f["z"], "mean")), GRID),
                              "the top layer varies: z_top ~ N(0, I), z_ladder at its mean")
        rows = np.repeat(f["rows"], GRID, axis=0)
        ladder = m.decode_top(rows, "sample", f["noise"]).numpy().reshape((GRID, GRID) + SHAPE)
        ladder[:, 0] = m.decode_top(f["rows"], "mean").numpy()
        out["samples_ladder"] = (figures.tile(show(ladder.reshape((-1,) + SHAPE)), GRID),
                                 "the ladder layer varies: one fixed z_top per row; column 1 z_ladder at its mean, "
                                 "columns 2-10 z_ladder ~ p(z_ladder | z_top)")
        return out

    def latent_canvas(self, split: str) -> np.ndarray:
        """The notebook's ``plot_latent_space_with_labels`` over (at most 10,000 of) ``split``: sampled z_top
        (left) and posterior means (right), one Tableau colour per class, alpha 0.5."""
        from matplotlib import colors as mcolors
        from matplotlib.figure import Figure

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
        fig = Figure(figsize=(12, 5.5), dpi=80)
        colours = list(mcolors.TABLEAU_COLORS.values())
        classes = sorted(set(labels.tolist())) if self.dataset.num_classes else [None]
        for i, (points, title) in enumerate(((sampled, "sampled z (as the notebook)"), (means, "posterior means"))):
            ax = fig.add_subplot(1, 2, i + 1)
            for c in classes:
                mask = np.ones(len(points), bool) if c is None else labels == c
                ax.scatter(points[mask, 0], points[mask, 1], s=4, alpha=0.5, label=None if c is None else str(c),
                           color=colours[(c or 0) % len(colours)])
            ax.set_title(f"top latent z_top, {split}: {title}", fontsize=10)
            if c is not None:
                ax.legend(fontsize=7, markerscale=3, loc="upper right")
        return render(fig)

    def write_figures(self, drawn: dict, index: int | None, iteration: int) -> list:
        """Save each figure as ``<run>/<name>/current.png`` (and ``epoch<index>.png``), the image grids also as
        ``current_labelled.png`` (with a title: the run, the iteration, what it shows), and the labelled
        versions to TensorBoard at ``iteration``. Returns the paths written."""
        written, shown = [], {}
        for name, (canvas, what, *alternative) in drawn.items():
            written += figures.save_versions(os.path.join(self.run_dir, name), canvas, index)
            shown[name] = canvas
            if what is not None:
                width = LABELLED_WIDTH.get(name)
                panel = alternative[0] if alternative else canvas
                shown[name] = figures.render_labelled([panel], [""], f"{self.config['netname']}, iteration "
                                                                     f"{iteration:,}: {what}",
                                                      panel_width_inches=width)
                written.append(figures.save_png(os.path.join(self.run_dir, name, "current_labelled.png"), shown[name]))
        if self._trainer is not None:
            with self._trainer.writer.as_default(step=iteration):
                for name, canvas in shown.items():
                    figures.summary_image(f"figures/{name}", canvas, iteration)
        return written

    # ---- modes ------------------------------------------------------------------------------------------------------
    def train(self, devices: str) -> int:
        config = self.config
        data = self.data()
        self.build(data.shape, data.value_range, data.num_classes)
        trainer = self.make_trainer(progress="bar")
        resumed = trainer.restore()
        start = int(trainer.iteration.numpy())
        self.load_history(start)
        save_config_json(config, self.resolved_settings())
        print(f"{config['netname']}: LVAE2, {self.model.count_parameters():,} parameters; loss = "
              f"{self.describe_objective()}; Adam lr {self.learning_rate:g}; batch {self.batch_size}; {devices}")
        print(f"data: {data.describe()}")
        if resumed:
            print(f"resumed from {trainer.latest_checkpoint} at iteration {start}")
        print(f"writing to {self.run_dir}/ ({self.tensorboard_hint()})", flush=True)
        status = trainer.fit(max_iterations=config.get("max_iterations"), epochs=config["epochs"])
        it, spe = int(trainer.iteration.numpy()), trainer.steps_per_epoch
        if status == "done" and it > start and it % spe:
            print()  # the progress bar of the partial epoch did not end its line
            metrics, score = self.end_of_epoch(trainer, it // spe + 1)
            trainer.save_best(score)
        self.save_history()
        if status == "done" and it > start and self.monitor_split() != "test":
            metrics = self.split_metrics("test", it)
            trainer.scalars({f"test/{k}": v for k, v in metrics.items()}, step=it)
            print(f"end of training (iteration {it}): {self.describe_metrics('test', metrics)}")
        trainer.writer.flush()
        print(f"{status} at iteration {it} (epoch {it / spe:.2f}); newest checkpoint {trainer.latest_checkpoint}")
        return 0

    def generate(self) -> int:
        """Restore the newest (``--best``: the best) checkpoint and draw every figure into ``current.png``.

        Raises:
            CheckpointError: nothing to restore.
            DatasetError: the run's dataset cannot be loaded (reconstructions and the scatter need it).
        """
        config = self.config
        self.data()
        trainer = self.restore_for_use(best=bool(config.get("best")))
        iteration = int(trainer.iteration.numpy())
        self.load_history(iteration)
        which = " (best checkpoint by validation ELBO)" if config.get("best") else ""
        print(f"{config['netname']} (LVAE2) at iteration {iteration}{which}", flush=True)
        written = self.write_figures(self.draw_figures(), None, iteration)
        trainer.writer.flush()
        for path in written:
            print(f"wrote {path}")
        return 0

    def evaluation_notes(self) -> list:
        """What the evaluated bound means for this run: the ladder layer's proposal and, for a run not trained
        on a likelihood, that the number reads the same network as ``--likelihood``."""
        config = self.config
        notes = []
        if config.get("sampling", "repo") == "repo":
            notes.append("--sampling repo: z_ladder is drawn from the decoder's own p(z_ladder | z_top), which is "
                         "therefore the proposal (layer 0's log q - log p is 0)")
        if config.get("recon", "l2norm") != "nll":
            notes.append(f"trained with --recon {config.get('recon', 'l2norm')}, not on a likelihood: the bound is "
                         f"that of the same network read as a {config.get('likelihood', 'bernoulli')} likelihood "
                         f"p(x|z)")
        return notes

    def write_evaluation(self, result: dict) -> str:
        """The shared evaluation's JSON and TensorBoard scalars (:meth:`hvae.task.Task.write_evaluation`), with
        :meth:`evaluation_notes` recorded (``notes``) and printed."""
        result["notes"] = self.evaluation_notes()
        for note in result["notes"]:
            print(f"note: {note}")
        return super().write_evaluation(result)


# --------------------------------------------------------------------------------------------------
# matplotlib figures as canvases
# --------------------------------------------------------------------------------------------------
def render(fig) -> np.ndarray:
    """A matplotlib ``Figure`` -> RGB canvas ``(H, W, 3)`` float32 in [0, 1] (Agg, no pyplot state)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[..., :3].astype(np.float32) / 255.0


def loss_canvas(history) -> np.ndarray:
    """The notebook's loss curve: every iteration's training loss, 'fivethirtyeight' style."""
    import matplotlib.style
    from matplotlib.figure import Figure

    with matplotlib.style.context("fivethirtyeight"):
        fig = Figure(figsize=(9, 5.5), dpi=80)
        ax = fig.add_subplot(1, 1, 1)
        values = np.asarray(history, np.float64)
        if values.size:
            ax.plot(np.arange(1, values.size + 1), values, linewidth=1.5)
        else:
            ax.text(0.5, 0.5, "no training history", ha="center", va="center", transform=ax.transAxes)
        ax.set_xlabel("Iterations")
        ax.set_ylabel("Loss")
        ax.set_title("Training of the Ladder VAE")
        fig.tight_layout()
        return render(fig)


# --------------------------------------------------------------------------------------------------
# the lead's speed benchmark
# --------------------------------------------------------------------------------------------------
def benchmark_cases() -> dict:
    """``{case: builder}``; ``builder(batch=None)`` returns ``dict(model, optimizer, images, labels,
    loss_terms)`` with ``loss_terms(images, labels, iteration)`` the training step's objective.

    Cases: ``LVAE2`` (the defaults: repo sampling, whole-batch L2 norm, warm-up) and ``LVAE2_paper_nll``
    (merged-posterior sampling, Bernoulli negative ELBO). Batch 64 unless given; images uniform in [0, 1]."""

    def case(**options):
        def builder(batch=None):
            import keras
            import tensorflow as tf

            from models.lvae2 import LVAE2, LVAE2Config

            b = int(batch or 64)
            model = LVAE2(LVAE2Config(**options)).build_all()
            optimizer = keras.optimizers.Adam(LEARNING_RATE, **ADAM)
            optimizer.build(model.trainable_variables)
            images = tf.constant(np.random.RandomState(0).uniform(size=(b,) + SHAPE).astype(np.float32))
            labels = tf.zeros((b,), tf.int64)

            def loss_terms(images, labels, iteration):
                return model.loss_terms(images, None, iteration, training=True)

            return dict(model=model, optimizer=optimizer, images=images, labels=labels, loss_terms=loss_terms)

        return builder

    return {"LVAE2": case(), "LVAE2_paper_nll": case(sampling="paper", recon="nll")}
