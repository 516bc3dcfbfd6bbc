"""The figure files of a task (the template's half that writes figures): :class:`Figure`, what a family draws, and
:class:`FigureFiles`, the mixin of :class:`hvae.task.Task` that writes each figure to its files (and a labelled
version), to TensorBoard and, with ``--use_gui``, to a window.

Files: ``<run>/<name>/current.png`` and, at a monitoring pass, ``epoch<index>.png`` (the original VLadder's layout;
a family may choose another, ``figure_paths``); ``generate`` writes ``generated.png`` beside them, never over a
training figure. Imported before TensorFlow starts (no TensorFlow here).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from . import figures


@dataclass
class Figure:
    """One figure as a family draws it (the template writes the files and TensorBoard).

    Attributes:
        canvas: ``(H, W, 1 or 3)`` float32 in [0, 1]: the file the original wrote.
        what: what the figure shows; when given, a labelled version (the run, the iteration and ``what`` as its
            title) is written beside it and sent to TensorBoard instead of the bare canvas.
        panels: the labelled version's panels (default ``[canvas]``), e.g. one per latent layer; ``titles``: one
            title per panel.
        width: inches per panel of the labelled version (default: the panel's pixel width / 100).
        row_labels: ``[(fraction_from_top, text)]`` left of the labelled version's first panel.
    """

    canvas: np.ndarray
    what: str | None = None
    panels: list | None = None
    titles: list | None = None
    width: float | None = None
    row_labels: list | None = None


class FigureFiles:
    """Where and how a task's figures are written (mixed into :class:`hvae.task.Task`, whose ``run_dir``, ``run``,
    ``invocation``, ``settings``, ``schedule``, ``monitor_frequency()`` and trainer it reads)."""

    def figure_index(self, iteration: int, final: bool = False):
        """The number of a monitoring pass's figure files (``epoch<index>.png``): the epoch (epoch schedule) or
        ``iteration // monitor_frequency`` (iteration schedule); None at a final pass between two points."""
        if self.schedule == "epochs":
            spe = self._steps_per_epoch()
            return -(-iteration // spe)   # a partial last epoch counts as the next one
        every = self.monitor_frequency()
        return None if final or not every else iteration // every

    def figure_paths(self, name: str, iteration: int, index) -> list:
        """Where a figure is written: ``<run>/<name>/current.png`` and, at a monitoring pass,
        ``<run>/<name>/epoch<index>.png`` (the original VLadder's layout). ``generate`` writes its own file
        beside them, ``generated.png`` (``generated_best.png`` with ``--best``), never over a training figure."""
        folder = os.path.join(self.run_dir, name)
        if self.invocation.mode == "generate":
            return [os.path.join(folder, "generated_best.png" if self.run.best else "generated.png")]
        return [os.path.join(folder, "current.png")] + (
            [os.path.join(folder, f"epoch{index}.png")] if index is not None else [])

    def labelled_path(self, name: str, paths: list) -> str:
        """Where a figure's labelled version goes: beside its first file, ``<stem>_labelled.png`` (so
        ``current_labelled.png``)."""
        stem, ext = os.path.splitext(paths[0])
        return f"{stem}_labelled{ext}"

    def write_figures(self, drawn: dict, iteration: int, index=None) -> list:
        """Write every :class:`Figure` of ``drawn`` to :meth:`figure_paths` (and its labelled version), send it to
        TensorBoard as ``figures/<name>`` at ``iteration`` and (``--use_gui``) show it. Returns the paths written.

        Raises:
            OSError: a file cannot be written.
        """
        written, shown = [], {}
        for name, fig in drawn.items():
            paths = self.figure_paths(name, iteration, index)
            written += [figures.save_png(path, fig.canvas) for path in paths]
            shown[name] = fig.canvas
            if fig.what is not None:
                title = f"{self.run.netname}, iteration {iteration:,}: {fig.what}"
                shown[name] = figures.render_labelled(fig.panels or [fig.canvas], fig.titles or [""] * len(
                    fig.panels or [fig.canvas]), title, row_labels=fig.row_labels, panel_width_inches=fig.width)
                written.append(figures.save_png(self.labelled_path(name, paths), shown[name]))
            if getattr(self.settings, "use_gui", False):
                figures.show(name, fig.canvas)
        writer = self._trainer.writer if self._trainer is not None else None
        if writer is not None:
            with writer.as_default(step=iteration):
                for name, canvas in shown.items():
                    figures.summary_image(f"figures/{name}", canvas, iteration)
        return written
