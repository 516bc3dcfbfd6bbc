"""VLadder's part of the command line: the original ``main.py`` + ``trainer.py`` + ``visualize.py``.

Chooses the configuration from ``--netname`` or the dataset's image shape, builds the model and the
Adam optimizer (2e-4, epsilon 1e-8), trains with the shared :class:`hvae.trainer.Trainer`, and every
``vis_frequency`` iterations (and after the first) measures the reconstruction error on the validation
split and draws the original's figures into ``model/<netname>/``:

- ``manifold_samples/`` (2-d layers, MNIST-like data): one 30x30 grid per layer sweeping that layer's
  two dims over [-2, 2], the other layers random per cell;
- ``conditional_samples/`` (other data): one 10x10 grid per layer, that layer random, the others fixed;
- ``samples/`` (CelebA configuration): 10x10 samples from the prior;
- ``reconstruction/`` (``--plot_reconstruction``): rows of original | noisy | reconstruction.

Panels run from the bottom layer (left) to the top layer (right), 20 px apart. Each folder holds
``current.png`` and ``epoch<k>.png`` with k = iteration // vis_frequency; TensorBoard gets the same
images. A finished run reports the reconstruction error of the test split once.
"""

from __future__ import annotations

import os

import numpy as np

from . import figures
from .family import Family, flag
from .runs import save_config_json
from .task import Task

TRAIN = ("train",)
FAMILY = Family(
    name="vladder",
    title="VLadder: the Variational Ladder Autoencoder (Zhao, Song & Ermon, ICML 2017)",
    models=("vladder",),
    task="VLadderTask",
    model_module="models.vladder",
    # the original's CelebA crops went through scipy.misc.imresize as floats, which min-max stretches each crop
    # (docs/fidelity.md, Datasets): the published CelebA models were trained on stretched crops
    dataset_options={"celebA": {"minmax_stretch": True}},
    default_dataset="celebA",
    netname_prefix="vladder",
    defaults=dict(batch_size=100, reg="kl", denoise_train=False, plot_reconstruction=False, vis_frequency=1000,
                  no_train=False, use_gui=False, top_heads="original"),
    flags=(
        flag("--reg", choices=("kl", "mmd"), modes=TRAIN, help="kl: per-layer KL with warm-up (default); mmd: MMD to N(0,I)"),
        flag("--denoise_train", action="store_true", modes=TRAIN, help="corrupt inputs (salt and pepper + Gaussian)"),
        flag("--plot_reconstruction", action="store_true", modes=("train", "generate"), help="also draw original | noisy | reconstruction"),
        flag("--vis_frequency", type=int, modes=TRAIN, help="iterations between validation-and-visualise steps (default 1000)"),
        flag("--no_train", action="store_true", modes=TRAIN, help="restore the newest checkpoint and only draw the figures"),
        flag("--use_gui", action="store_true", modes=("train", "generate"), help="also show the figures in matplotlib windows"),
        flag("--top_heads", choices=("original", "fixed"), modes=TRAIN,
             help="Large layers' top mean/scale heads: original ReLU (default) or linear/sigmoid"),
    ),
    identity_keys=("reg", "denoise_train", "top_heads"),
    run_control_keys=("vis_frequency", "plot_reconstruction", "use_gui", "no_train"),
    model_help={"vladder": "the configuration of --netname (vladder_mnist, vladder_svhn, vladder_celebA, "
                           "vladder_lsun) or of the data's image shape"},
)

LEARNING_RATE = 2e-4
TEST_BATCHES = 5
MANIFOLD_ROWS = 30
GRID_ROWS = 10


class VLadderTask(Task):
    """Builds, trains and visualises one VLadder run from a resolved command-line configuration."""

    def __init__(self, config: dict, strategy):
        super().__init__(config, strategy)
        self.vis_frequency = int(config["vis_frequency"])
        self._test_iter = None

    # ---- set-up ---------------------------------------------------------------------------------
    def build(self, shape, value_range, num_classes=None):
        """Choose the configuration (:func:`models.vladder.config_for_run`: the netname's preset or the data's
        shape's, the data's value range and the run's ``--reg`` / ``--denoise_train`` / ``--top_heads``) as
        ``self.arch`` and build model + optimizer (in the strategy's scope).

        Raises:
            ConfigError: the netname's layers do not fit the data's shape, or no layers take it.
        """
        from .optimizers import FusedAdam  # Adam's arithmetic in one fused kernel (README, Speed)

        from models.layers import synchronized_batch_norm
        from models.vladder import VLadder, config_for_run

        self.arch = config_for_run(self.config["netname"], self.config["dataset"], shape, value_range,
                                   reg=self.config["reg"], denoise=bool(self.config["denoise_train"]),
                                   top_heads=self.config["top_heads"])
        lr = self.config.get("learning_rate") or LEARNING_RATE
        with self.strategy.scope(), synchronized_batch_norm(bool(self.config.get("sync_batch_norm"))):
            self.model = VLadder(self.arch, name=self.config["netname"]).build_all()
            # TF1 AdamOptimizer defaults: beta1 0.9, beta2 0.999, epsilon 1e-8 (Keras defaults to 1e-7).
            self.optimizer = FusedAdam(lr, beta_1=0.9, beta_2=0.999, epsilon=1e-8)
            self.optimizer.build(self.model.trainable_variables)
        self.display_range = tuple(value_range)

    def to_display(self, x) -> np.ndarray:
        """Model values -> [0, 1] for the figures."""
        return figures.to_display(x, self.display_range)

    # ---- trainer hooks ----------------------------------------------------------------------------
    def loss_terms(self, images, labels, iteration):
        return self.model.loss_terms(images, labels, iteration, training=True)

    def after_step(self, trainer, index: int) -> None:
        iteration = index + 1  # training steps completed: the number shown everywhere
        if (index == 0 or iteration % trainer.log_frequency == 0) and self.arch.layers == "small":
            import tensorflow as tf

            with trainer.writer.as_default(step=iteration):
                for k in (0, 1):
                    tf.summary.histogram(f"generative{k}/gate", self.model.generatives[k].gate.gate)
        if iteration == 1 or iteration % self.vis_frequency == 0:
            self.test_and_visualize(trainer, iteration)

    # ---- monitoring metric and figures -------------------------------------------------------------
    def monitor_split(self) -> str:
        """The split of the periodic reconstruction error: ``validation`` (``test`` only with
        ``--validation_size=0``)."""
        return "validation" if "validation" in self.dataset.splits else "test"

    def test_error(self, split: str | None = None) -> tuple:
        """Mean of the original's per-pixel squared error over ``TEST_BATCHES`` batches of ``split``
        (default :meth:`monitor_split`), read in a fixed shuffled order that continues from call to call.

        Returns ``(error, first_batch)``: the error in data units per pixel (channels summed) and the
        first batch's ``(clean, noisy, reconstruction)`` for the reconstruction figure.
        """
        split = split or self.monitor_split()
        self._test_iters = getattr(self, "_test_iters", {})
        if split not in self._test_iters:
            ds = self.dataset.batches(split, self.batch_size, shuffle=True, seed=1, drop_remainder=False,
                                      with_labels=False).repeat()
            self._test_iters[split] = iter(ds)
        errors, first = [], None
        for i in range(TEST_BATCHES):
            clean = next(self._test_iters[split])
            err, noisy, x_hat = self.model.reconstruction_error(clean)
            errors.append(float(err))
            if first is None:
                first = (clean.numpy(), noisy.numpy(), x_hat.numpy())
        return float(np.mean(errors)), first

    def figure_panels(self, with_reconstruction_batch=None) -> dict:
        """The configuration's figures as ``{folder: (panels, titles, what)}``: the panels (canvases in
        [0, 1]) the original joins side by side, one title per panel and what the figure shows."""
        out = {}
        dims = self.model.latent_dims
        kinds = self.arch.figures
        titles = figures.layer_titles(len(dims))
        if "manifold" in kinds and all(d == 2 for d in dims):
            panels = [figures.tile(self.to_display(self.model.manifold_samples(k, MANIFOLD_ROWS)), MANIFOLD_ROWS)
                      for k in range(len(dims))]
            out["manifold_samples"] = (panels, titles, "each panel sweeps one layer's 2 latent dims over [-2, 2] "
                                                       "(dim 0 left to right, dim 1 top to bottom); the other "
                                                       "layers are random in every cell")
        elif "manifold" in kinds or "conditional" in kinds:
            fixed = [c[0] for c in self.model.prior_codes(1)]
            panels = [figures.tile(self.to_display(self.model.conditional_samples(k, fixed, GRID_ROWS ** 2)), GRID_ROWS)
                      for k in range(len(dims))]
            out["conditional_samples"] = (panels, titles, "each panel draws one layer from the prior in every "
                                                          "cell; the other layers are fixed")
        if "samples" in kinds:
            panel = figures.tile(self.to_display(self.model.prior_samples(GRID_ROWS ** 2)), GRID_ROWS)
            out["samples"] = ([panel], ["100 samples"], "every layer drawn from the prior")
        if with_reconstruction_batch is not None:
            out["reconstruction"] = ([self.reconstruction_canvas(*with_reconstruction_batch)],
                                     ["original | input | reconstruction"],
                                     "rows: an image, its (noisy) input, its reconstruction")
        return out

    def figures(self, with_reconstruction_batch=None) -> dict:
        """The configuration's figures as the original drew them: ``{folder name: canvas}`` (in [0, 1])."""
        return {folder: figures.join(panels) if len(panels) > 1 else panels[0]
                for folder, (panels, _, _) in self.figure_panels(with_reconstruction_batch).items()}

    def reconstruction_canvas(self, clean, noisy, x_hat, rows: int = 3):
        """Original ``plot_reconstruction``: ``rows`` rows of original | 10 px | noisy | 10 px | reconstruction."""
        lines = [figures.join([self.to_display(clean[i]), self.to_display(noisy[i]), self.to_display(x_hat[i])],
                              gap=10) for i in range(min(rows, len(clean)))]
        return np.concatenate(lines, axis=0)

    def write_figures(self, figure_sets: dict, names: list, iteration: int) -> list:
        """Save each figure as the original's canvas under each of ``names`` in its folder
        (``current.png``, ``epoch<k>.png``), a labelled version ``<folder>/current_labelled.png`` (a title per
        panel, the iteration), and the labelled version to TensorBoard at ``iteration``. Returns the paths."""
        written = []
        labelled = {}
        for folder, (panels, titles, what) in figure_sets.items():
            canvas = figures.join(panels) if len(panels) > 1 else panels[0]
            for name in names:
                written.append(figures.save_png(os.path.join(self.run_dir, folder, name), canvas))
            labelled[folder] = figures.render_labelled(
                panels, titles, f"{self.config['netname']}, iteration {iteration:,}: {folder.replace('_', ' ')} "
                                f"({what})")
            written.append(figures.save_png(os.path.join(self.run_dir, folder, "current_labelled.png"),
                                            labelled[folder]))
            if self.config.get("use_gui"):
                _show(folder, canvas)
        if self._trainer is not None:
            with self._trainer.writer.as_default(step=iteration):
                for folder, canvas in labelled.items():
                    figures.summary_image(folder, canvas, iteration)
        return written

    def test_and_visualize(self, trainer, iteration: int, final: bool = False) -> None:
        """Validation metric and figures after ``iteration`` training steps. Figures at visualisation points
        are named ``epoch<k>.png``, k = iteration // vis_frequency (the original's numbering); a run that ends
        between points (``final``) writes ``iteration<N>.png`` instead."""
        split = self.monitor_split()
        error, first = self.test_error(split)
        print(f"Reconstruction error @{iteration} per pixel ({split}): {error:.6g}", flush=True)
        trainer.scalars({f"{split}/reconstruction_error": error}, step=iteration)
        batch = first if self.config.get("plot_reconstruction") else None
        name = f"iteration{iteration}.png" if final else f"epoch{iteration // self.vis_frequency}.png"
        written = self.write_figures(self.figure_panels(batch), ["current.png", name], iteration)
        shown = ", ".join(os.path.relpath(p, self.run_dir) for p in written)
        print(f"Visualizing {self.run_dir}/: {shown}", flush=True)

    # ---- modes -----------------------------------------------------------------------------------------
    def train(self, devices: str) -> int:
        config = self.config
        data = self.data()
        self.build(data.shape, data.value_range)
        trainer = self.make_trainer()
        resumed = trainer.restore()
        save_config_json(config, {"architecture": self.arch.architecture, "image_shape": list(data.shape),
                                  "value_range": list(data.value_range), "latent_dims": list(self.arch.latent_dims),
                                  "loss_ratio": self.arch.loss_ratio})
        params = sum(int(np.prod(v.shape)) for v in self.model.trainable_variables)
        print(f"{config['netname']}: {self.arch.architecture} layers ({self.arch.layers}), latent dims "
              f"{'/'.join(map(str, self.arch.latent_dims))}, {params:,} parameters, reg {config['reg']}; {devices}")
        print(f"data: {data.describe()}")
        if resumed:
            print(f"resumed from {trainer.latest_checkpoint} at iteration {int(trainer.iteration.numpy())}")
        print(f"writing to {self.run_dir}/ ({self.tensorboard_hint()})", flush=True)
        status = trainer.fit(max_iterations=config.get("max_iterations"))
        last = int(trainer.iteration.numpy())
        if status == "done" and last > 1 and last % self.vis_frequency != 0:
            # a run that ends between visualisation points still leaves figures of its final state
            self.test_and_visualize(trainer, last, final=True)
        if status == "done" and last >= 1 and self.monitor_split() != "test":
            error, _ = self.test_error("test")
            print(f"Reconstruction error @{last} per pixel (test): {error:.6g}", flush=True)
            trainer.scalars({"test/reconstruction_error": error}, step=last)
        print(f"{status} at iteration {int(trainer.iteration.numpy())}; newest checkpoint {trainer.latest_checkpoint}")
        return 0

    def generate(self) -> int:
        """``--no_train`` / ``generate.py``: restore the newest checkpoint and draw the figures once, into each
        figure folder's ``current.png`` (the training's ``epoch<k>.png`` files are left alone)."""
        config = self.config
        trainer = self.restore_for_use(best=bool(config.get("best")))
        iteration = int(trainer.iteration.numpy())
        print(f"{config['netname']} at iteration {iteration} ({trainer.latest_checkpoint})", flush=True)
        batch = None
        if config.get("plot_reconstruction"):
            self.data()
            batch = self.test_error()[1]
        # current.png only: an epoch<k>.png of this folder is the training's figure at iteration k * vis_frequency
        written = self.write_figures(self.figure_panels(batch), ["current.png"], iteration)
        trainer.writer.flush()
        for path in written:
            print(f"wrote {path}")
        return 0


def _show(name: str, canvas) -> None:
    """``--use_gui``: show a figure in a matplotlib window without blocking."""
    import matplotlib.pyplot as plt

    plt.ion()
    fig = plt.figure(name)
    fig.clf()
    ax = fig.add_subplot(1, 1, 1)
    ax.imshow(canvas[..., 0] if canvas.shape[-1] == 1 else canvas, cmap="gray" if canvas.shape[-1] == 1 else None)
    ax.set_axis_off()
    plt.pause(0.001)


def benchmark_cases() -> dict:
    """``{configuration: builder}`` for ``benchmarks/train_speed.py``; ``builder(batch=None)`` returns
    ``dict(model, optimizer, images, labels, loss_terms)``: the configuration's model and the run's Adam (2e-4,
    epsilon 1e-8), a fixed batch (default 100) of uniform images in its value range, and the trainer's objective."""

    def case(name):
        def builder(batch=None):
            import keras
            import tensorflow as tf

            from models.vladder import VLadder

            model = VLadder.from_preset(name)
            optimizer = keras.optimizers.Adam(LEARNING_RATE, beta_1=0.9, beta_2=0.999, epsilon=1e-8)
            optimizer.build(model.trainable_variables)
            b = int(batch or 100)
            lo, hi = model.value_range
            images = tf.random.stateless_uniform((b,) + tuple(model.config.image_shape), seed=(0, 1), minval=lo, maxval=hi)

            def loss_terms(images, labels, iteration):
                return model.loss_terms(images, labels, iteration, training=True)

            return dict(model=model, optimizer=optimizer, images=images, labels=tf.zeros((b,), tf.int64),
                        loss_terms=loss_terms)

        return builder

    return {name: case(name) for name in ("vladder_mnist", "vladder_svhn", "vladder_celebA", "vladder_lsun")}
