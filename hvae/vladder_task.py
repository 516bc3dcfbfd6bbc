"""VLadder's part of the command line: the original ``main.py`` + ``trainer.py`` + ``visualize.py``.

    python train.py vladder train --dataset=mnist --db_path=DIR [--netname=vladder_mnist] [--plot_reconstruction]
    python train.py vladder generate --netname=vladder_mnist     # or: python generate.py, or train --no_train
    python train.py vladder evaluate --netname=vladder_mnist [--iw_samples=K]

The layers come from ``--netname`` (vladder_mnist, vladder_svhn, vladder_celebA, vladder_lsun) or from the data's
image shape; Adam 2e-4 (TF1's constants). Every ``--vis_frequency`` iterations (and after the first) the
reconstruction error of the validation split is printed and the original's figures are drawn into
``model/<netname>/``:

- ``manifold_samples/`` (2-d layers, MNIST-like data): one 30x30 grid per layer sweeping that layer's
  two dims over [-2, 2], the other layers random per cell;
- ``conditional_samples/`` (other data): one 10x10 grid per layer, that layer random, the others fixed;
- ``samples/`` (CelebA configuration): 10x10 samples from the prior;
- ``reconstruction/`` (``--plot_reconstruction``): rows of original | noisy | reconstruction.

Panels run from the bottom layer (left) to the top layer (right), 20 px apart. Each folder holds
``current.png``, ``current_labelled.png`` (a title per panel; TensorBoard's ``figures/<folder>``) and
``epoch<k>.png`` with k = iteration // vis_frequency (a run that ends between two points: ``iteration<N>.png``).
A finished run reports the reconstruction error of the test split once. ``generate`` writes ``generated.png`` (and
``generated_labelled.png``) beside them, never over a training figure.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from . import figures
from .configs.vladder import CONFIGS
from .family import Family, Settings, config_flags, option
from .task import Figure, Task

TRAIN = ("train",)


@dataclass(frozen=True)
class VLadderSettings(Settings):
    """VLadder's settings besides its model's (:class:`hvae.configs.vladder.VLadderConfig`): how often it
    validates and draws, and how the figures are shown (the original's ``--vis_frequency``, ``--no_train``,
    ``--use_gui``, ``--plot_reconstruction``); none defines the run."""

    plot_reconstruction: bool = option(False, help="also draw original | noisy | reconstruction",
                                       modes=("train", "generate"), control=True, action="store_true")
    vis_frequency: int = option(1000, help="iterations between validation-and-visualise steps (default 1000)",
                                modes=TRAIN, control=True, minimum=1, type=int)
    no_train: bool = option(False, help="restore the newest checkpoint and only draw the figures", modes=TRAIN,
                            control=True, action="store_true")
    use_gui: bool = option(False, help="also show the figures in matplotlib windows", modes=("train", "generate"),
                           control=True, action="store_true")


FAMILY = Family(
    name="vladder",
    title="VLadder: the Variational Ladder Autoencoder (Zhao, Song & Ermon, ICML 2017)",
    models=("vladder",),
    task="VLadderTask",
    model_module="hvae.models.vladder",
    # the original's CelebA crops went through scipy.misc.imresize as floats, which min-max stretches each crop
    # (docs/fidelity.md, Datasets): the published CelebA models were trained on stretched crops
    dataset_options={"celebA": {"minmax_stretch": True}},
    default_dataset="celebA",
    netname_prefix="vladder",
    settings=VLadderSettings,
    defaults=dict(batch_size=100),
    flags=config_flags(CONFIGS),
    configs=CONFIGS,
    model_help={"vladder": "the configuration of --netname (vladder_mnist, vladder_svhn, vladder_celebA, "
                           "vladder_lsun) or of the data's image shape"},
)

LEARNING_RATE = 2e-4
TEST_BATCHES = 5
MANIFOLD_ROWS = 30
GRID_ROWS = 10


class VLadderTask(Task):
    """Builds, trains and visualises one VLadder run from a resolved command-line configuration (the hooks of
    :class:`hvae.task.Task`; iteration schedule, Adam 2e-4 with TF1's constants)."""

    schedule = "iterations"
    monitor_first = True
    default_learning_rate = LEARNING_RATE

    def __init__(self, config: dict, strategy):
        super().__init__(config, strategy)
        self.arch = None
        self._test_iters = {}
        #: the first batch ``(clean, noisy, reconstruction)`` of the last :meth:`measure`, for the reconstruction
        #: figure (None: :meth:`draw_figures` reads one)
        self.reconstruction_batch = None

    # ---- set-up ---------------------------------------------------------------------------------
    def build_model(self, shape, value_range, num_classes=None):
        """The configuration (:func:`hvae.models.vladder.config_for_run`: the netname's preset or the data's shape's,
        the data's value range and the run's ``--reg`` / ``--denoise_train`` / ``--top_heads``) as ``self.arch``,
        and its model (built).

        Raises:
            ConfigError: the netname's layers do not fit the data's shape, or no layers take it.
        """
        from hvae.models.vladder import VLadder, config_for_run

        base = self.saved_model_config() or config_for_run(self.run.netname, self.run.dataset, shape,
                                                           value_range)
        self.arch = base.with_flags(self.resolved.model_flags, image_shape=tuple(int(s) for s in shape),
                                    value_range=tuple(float(v) for v in value_range))
        return VLadder(self.arch, name=self.run.netname).build_all()

    def describe(self) -> str:
        a = self.arch
        return (f"{a.architecture} layers ({a.layers}), latent dims {'/'.join(map(str, a.latent_dims))}, "
                f"{self.model.count_parameters():,} parameters, reg {self.model.config.reg}")

    def recorded(self) -> dict:
        return {"architecture": self.arch.architecture, "latent_dims": list(self.arch.latent_dims),
                "loss_ratio": self.arch.loss_ratio}

    # ---- trainer hook ---------------------------------------------------------------------------
    def on_step(self, state) -> None:
        """The Small layers' gate histograms (iteration 1 and every ``--log_frequency``), then the template's
        monitoring."""
        if (state.iteration == 1 or state.iteration % state.log_frequency == 0) and self.arch.layers == "small":
            import tensorflow as tf

            with state.writer.as_default(step=state.iteration):
                for k in (0, 1):
                    tf.summary.histogram(f"generative{k}/gate", self.model.generatives[k].gate.gate)
        super().on_step(state)

    # ---- monitoring metric --------------------------------------------------------------------------
    def test_error(self, split: str | None = None) -> tuple:
        """Mean of the original's per-pixel squared error over ``TEST_BATCHES`` batches of ``split``
        (default :meth:`monitor_split`), read in a fixed shuffled order that continues from call to call.

        Returns ``(error, first_batch)``: the error in data units per pixel (channels summed) and the
        first batch's ``(clean, noisy, reconstruction)`` for the reconstruction figure.
        """
        split = split or self.monitor_split()
        if split not in self._test_iters:
            ds = self.data().batches(split, self.batch_size, shuffle=True, seed=1, drop_remainder=False,
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

    def measure(self, split: str, iteration: int) -> dict:
        """``{"reconstruction_error": ...}`` of :meth:`test_error` (its first batch kept for the figure)."""
        error, self.reconstruction_batch = self.test_error(split)
        return {"reconstruction_error": error}

    def monitor_line(self, split: str, metrics: dict, iteration: int) -> str:
        return f"Reconstruction error @{iteration} per pixel ({split}): {metrics['reconstruction_error']:.6g}"

    def test_line(self, metrics: dict, iteration: int) -> str:
        return self.monitor_line("test", metrics, iteration)

    # ---- figures ---------------------------------------------------------------------------------------
    def draw_figures(self, iteration: int, split: str) -> dict:
        """The configuration's figures (module docstring) as :class:`hvae.task.Figure`: the canvas the original
        wrote (panels joined 20 px apart) and the panels with one title each for the labelled version."""
        dims, kinds = self.model.latent_dims, self.arch.figures
        show, titles, drawn = self.to_display, figures.layer_titles(len(dims)), {}
        if "manifold" in kinds and all(d == 2 for d in dims):
            panels = [figures.tile(show(self.model.manifold_samples(k, MANIFOLD_ROWS)), MANIFOLD_ROWS)
                      for k in range(len(dims))]
            drawn["manifold_samples"] = (panels, titles, "each panel sweeps one layer's 2 latent dims over [-2, 2] "
                                                         "(dim 0 left to right, dim 1 top to bottom); the other "
                                                         "layers are random in every cell")
        elif "manifold" in kinds or "conditional" in kinds:
            fixed = [c[0] for c in self.model.prior_codes(1)]
            panels = [figures.tile(show(self.model.conditional_samples(k, fixed, GRID_ROWS ** 2)), GRID_ROWS)
                      for k in range(len(dims))]
            drawn["conditional_samples"] = (panels, titles, "each panel draws one layer from the prior in every "
                                                            "cell; the other layers are fixed")
        if "samples" in kinds:
            panel = figures.tile(show(self.model.prior_samples(GRID_ROWS ** 2)), GRID_ROWS)
            drawn["samples"] = ([panel], ["100 samples"], "every layer drawn from the prior")
        if self.settings.plot_reconstruction:
            batch = self.reconstruction_batch
            batch = self.test_error(split)[1] if batch is None else batch
            drawn["reconstruction"] = ([self.reconstruction_canvas(*batch)], ["original | input | reconstruction"],
                                       "rows: an image, its (noisy) input, its reconstruction")
        return {folder: Figure(figures.join(panels) if len(panels) > 1 else panels[0],
                               f"{folder.replace('_', ' ')} ({what})", panels=panels, titles=titles)
                for folder, (panels, titles, what) in drawn.items()}

    def reconstruction_canvas(self, clean, noisy, x_hat, rows: int = 3):
        """Original ``plot_reconstruction``: ``rows`` rows of original | 10 px | noisy | 10 px | reconstruction."""
        lines = [figures.join([self.to_display(clean[i]), self.to_display(noisy[i]), self.to_display(x_hat[i])],
                              gap=10) for i in range(min(rows, len(clean)))]
        return np.concatenate(lines, axis=0)

    def figure_index(self, iteration: int, final: bool = False):
        """k = iteration // vis_frequency; ``"final"`` at a final pass between two points (see figure_paths)."""
        return "final" if final else super().figure_index(iteration)

    def figure_paths(self, name: str, iteration: int, index) -> list:
        """``<run>/<name>/current.png`` and ``epoch<k>.png`` (k = iteration // vis_frequency); a final pass
        between two points writes ``iteration<N>.png`` instead of ``epoch<k>.png``."""
        if index != "final":
            return super().figure_paths(name, iteration, index)
        return super().figure_paths(name, iteration, None) + [os.path.join(self.run_dir, name,
                                                                           f"iteration{iteration}.png")]

    def generate_split(self):
        """The monitored split with ``--plot_reconstruction``; otherwise None (no figure needs the data)."""
        return self.monitor_split() if self.settings.plot_reconstruction else None
