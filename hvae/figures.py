"""Image grids and panels, written as PNG files (OpenCV) and TensorBoard image summaries.

Every function takes display images: float arrays in [0, 1] (:func:`to_display` maps model
values there), shape ``(N, H, W, C)`` with C = 1 or 3. Canvases are ``(H, W, C)`` float32 in [0, 1].
Saved PNGs are clipped to [0, 1] and scaled by 255 (the original's ``scipy.misc.imsave`` instead
min-max stretched every canvas; see docs/fidelity.md).
"""

from __future__ import annotations

import errno
import os

import cv2
import numpy as np


def to_display(x, value_range) -> np.ndarray:
    """Map model values in ``value_range`` ((0, 1) or (-1, 1)) to [0, 1] for display, clipping the rest."""
    lo, hi = value_range
    return np.clip((np.asarray(x, np.float32) - lo) / (hi - lo), 0.0, 1.0)


def tile(images, num_rows: int, num_cols: int | None = None, fill: float = 0.0) -> np.ndarray:
    """Lay out images row-major on a ``num_rows x num_cols`` grid with no gaps.

    Args:
        images: ``(N, H, W, C)`` in [0, 1]; N <= num_rows * num_cols (empty cells are ``fill``).
    Returns:
        ``(num_rows * H, num_cols * W, C)`` float32.
    """
    images = np.asarray(images, np.float32)
    num_cols = num_cols or num_rows
    n, h, w, c = images.shape
    if n > num_rows * num_cols:
        raise ValueError(f"{n} images do not fit a {num_rows}x{num_cols} grid")
    canvas = np.full((num_rows * h, num_cols * w, c), fill, np.float32)
    for i in range(n):
        r, col = divmod(i, num_cols)
        canvas[r * h:(r + 1) * h, col * w:(col + 1) * w] = images[i]
    return canvas


def separator_value(channels: int) -> float:
    """Background of the original's multi-panel figures: black for grey images, white for colour."""
    return 0.0 if channels == 1 else 1.0


def join(panels, gap: int = 20, fill: float | None = None, axis: int = 1) -> np.ndarray:
    """Join canvases side by side (``axis=1``) or stacked (``axis=0``) with ``gap`` pixels between them.

    ``fill`` defaults to :func:`separator_value` of the panels' channel count.
    """
    panels = [np.asarray(p, np.float32) for p in panels]
    fill = separator_value(panels[0].shape[-1]) if fill is None else fill
    parts = []
    for i, p in enumerate(panels):
        if i:
            shape = list(p.shape)
            shape[axis] = gap
            parts.append(np.full(shape, fill, np.float32))
        parts.append(p)
    return np.concatenate(parts, axis=axis)


def frame(images, color=(1.0, 0.0, 0.0)) -> np.ndarray:
    """Copies of ``images (N, H, W, C)`` with a one-pixel frame of ``color`` (RGB in [0, 1]).

    Grey images are turned into RGB first so that the frame keeps its colour.
    """
    images = np.array(images, np.float32, copy=True)
    if images.shape[-1] == 1:
        images = np.repeat(images, 3, axis=-1)
    color = np.asarray(color, np.float32)
    images[:, 0, :, :] = color
    images[:, -1, :, :] = color
    images[:, :, 0, :] = color
    images[:, :, -1, :] = color
    return images


def to_uint8(canvas) -> np.ndarray:
    """[0, 1] float canvas -> uint8 ``(H, W, C)``, clipped and rounded."""
    return np.clip(np.rint(np.asarray(canvas, np.float32) * 255.0), 0, 255).astype(np.uint8)


def save_png(path: str, canvas) -> str:
    """Write a [0, 1] canvas ``(H, W, 1 or 3)`` (RGB) as a PNG, creating the folder. Returns ``path``.

    On a non-chief worker of a multi-worker job nothing is written (the chief writes the run's figures).

    Raises:
        OSError: the file cannot be written.
    """
    from .runtime import is_chief

    if not is_chief():
        return path
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    img = to_uint8(canvas)
    if img.ndim == 3 and img.shape[-1] == 3:
        img = cv2.cvtColor(img, cv2.COLOR_RGB2BGR)
    elif img.ndim == 3:
        img = img[..., 0]
    if not cv2.imwrite(path, img, [cv2.IMWRITE_PNG_COMPRESSION, 9]):
        raise OSError(errno.EIO, "OpenCV could not write it", path)
    return path


def read_png(path: str) -> np.ndarray:
    """Read a PNG written by :func:`save_png` back as RGB (or grey) uint8 ``(H, W, C)``."""
    img = cv2.imread(path, cv2.IMREAD_UNCHANGED)
    if img is None:
        raise OSError(f"cannot read {path}")
    if img.ndim == 2:
        return img[..., None]
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)

def summary_image(name: str, canvas, step: int) -> None:
    """Write a canvas as a TensorBoard image summary (into the default summary writer, if any)."""
    import tensorflow as tf

    tf.summary.image(name, to_uint8(canvas)[None], step=step)


# --------------------------------------------------------------------------------------------------
# Labelled figures (matplotlib): the original canvases with titles, for TensorBoard and the README
# --------------------------------------------------------------------------------------------------
def render_labelled(panels, titles, suptitle: str, row_labels=None, panel_width_inches: float | None = None,
                    dpi: int = 100) -> np.ndarray:
    """Draw canvases side by side with a title over each and one title over all (matplotlib, Agg).

    Args:
        panels: list of ``(H, W, C)`` canvases in [0, 1] (C = 1 or 3), all of one height.
        titles: one title per panel (e.g. ``"layer 0 (bottom)"``).
        suptitle: the figure's title (what it shows, the run and iteration).
        row_labels: optional ``[(fraction_from_top, text), ...]`` written left of the first panel.
        panel_width_inches: width of each panel (default: the panel's own pixel width, at most 6 inches).
    Returns:
        ``(H', W', 3)`` float32 RGB canvas in [0, 1].
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    import textwrap

    import matplotlib.pyplot as plt

    panels = [np.asarray(p, np.float32) for p in panels]
    h, w = panels[0].shape[:2]
    if panel_width_inches is None:
        panel_width_inches = min(w / dpi, 6.0)
    height = panel_width_inches * h / w
    left = 1.4 if row_labels else 0.1
    width = left + panel_width_inches * len(panels) + 0.1 * len(panels)
    lines = textwrap.wrap(suptitle, width=max(30, int(width * 11)))
    top = 0.35 + 0.2 * len(lines)
    fig = plt.figure(figsize=(width, height + top + 0.1), dpi=dpi)
    fig.text(0.5, 1 - 0.12 / (height + top + 0.1), "\n".join(lines), ha="center", va="top", fontsize=10)
    width_total = fig.get_figwidth()
    for i, (panel, title) in enumerate(zip(panels, titles)):
        x0 = (left + i * (panel_width_inches + 0.1)) / width_total
        ax = fig.add_axes((x0, 0.1 / (height + top + 0.1), panel_width_inches / width_total,
                           height / (height + top + 0.1)))
        image = panel[..., 0] if panel.shape[-1] == 1 else panel
        ax.imshow(np.clip(image, 0, 1), cmap="gray" if panel.shape[-1] == 1 else None, vmin=0, vmax=1,
                  interpolation="nearest")
        ax.set_title(title, fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
        if i == 0 and row_labels:
            for frac, text in row_labels:
                ax.text(-0.03, 1 - frac, text, transform=ax.transAxes, ha="right", va="center", fontsize=8)
    fig.canvas.draw()
    rgba = np.asarray(fig.canvas.buffer_rgba(), np.float32)[..., :3] / 255.0
    plt.close(fig)
    return rgba


def layer_titles(num_layers: int) -> list:
    """``["layer 0 (bottom)", "layer 1", ..., "layer L-1 (top)"]``."""
    titles = [f"layer {k}" for k in range(num_layers)]
    titles[0] += " (bottom)"
    if num_layers > 1:
        titles[-1] += " (top)"
    return titles


def show(name: str, canvas) -> None:
    """``--use_gui``: show a figure in a matplotlib window named ``name`` without blocking."""
    import matplotlib.pyplot as plt

    plt.ion()
    fig = plt.figure(name)
    fig.clf()
    ax = fig.add_subplot(1, 1, 1)
    ax.imshow(canvas[..., 0] if canvas.shape[-1] == 1 else canvas, cmap="gray" if canvas.shape[-1] == 1 else None)
    ax.set_axis_off()
    plt.pause(0.001)


def render(fig) -> np.ndarray:
    """A matplotlib ``Figure`` -> RGB canvas ``(H, W, 3)`` float32 in [0, 1] (Agg, no pyplot state)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[..., :3].astype(np.float32) / 255.0


def curve_canvas(values, title: str, xlabel: str = "Iterations", ylabel: str = "Loss",
                 style: str = "fivethirtyeight", size=(9, 5.5), dpi: int = 80) -> np.ndarray:
    """A line plot of ``values`` (one per iteration, from 1) as an RGB canvas in [0, 1] (matplotlib ``style``);
    "no training history" where there are none."""
    import matplotlib.style
    from matplotlib.figure import Figure as PlotFigure

    with matplotlib.style.context(style):
        fig = PlotFigure(figsize=size, dpi=dpi)
        ax = fig.add_subplot(1, 1, 1)
        values = np.asarray(values, np.float64)
        if values.size:
            ax.plot(np.arange(1, values.size + 1), values, linewidth=1.5)
        else:
            ax.text(0.5, 0.5, "no training history", ha="center", va="center", transform=ax.transAxes)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.set_title(title)
        fig.tight_layout()
        return render(fig)


def scatter_canvas(panels, labels=None, size=(12, 5.5), dpi: int = 80) -> np.ndarray:
    """2-d points side by side, one Tableau colour per class (alpha 0.5), as an RGB canvas in [0, 1].

    Args:
        panels: ``[(points (N, 2), title)]``, one subplot each.
        labels: ``(N,)`` integer classes of the points (None: one colour, no legend).
    """
    from matplotlib import colors as mcolors
    from matplotlib.figure import Figure as PlotFigure

    fig = PlotFigure(figsize=size, dpi=dpi)
    colours = list(mcolors.TABLEAU_COLORS.values())
    classes = sorted(set(np.asarray(labels).tolist())) if labels is not None else [None]
    for i, (points, title) in enumerate(panels):
        ax = fig.add_subplot(1, len(panels), i + 1)
        for c in classes:
            mask = np.ones(len(points), bool) if c is None else np.asarray(labels) == c
            ax.scatter(points[mask, 0], points[mask, 1], s=4, alpha=0.5, label=None if c is None else str(c),
                       color=colours[(c or 0) % len(colours)])
        ax.set_title(title, fontsize=10)
        if labels is not None:
            ax.legend(fontsize=7, markerscale=3, loc="upper right")
    return render(fig)


def padded_grid(images, num_cols: int, pad: int = 2) -> np.ndarray:
    """torchvision's ``make_grid`` with boilr's padding colour: ``pad`` pixels around and between the images,
    white if the (lower) median of the images' border intensities is below 0.2, else black.

    Args:
        images: ``(N, H, W, C)`` in [0, 1] (clipped); filled row-major, ``num_cols`` a row.
    Returns:
        ``(rows (H + pad) + pad, num_cols (W + pad) + pad, C)`` float32, rows = ceil(N / num_cols).
    """
    x = np.clip(np.asarray(images, np.float32), 0.0, 1.0)
    n, h, w, c = x.shape
    grey = x.mean(axis=-1)
    border = np.concatenate([grey[:, 0].ravel(), grey[:, h - 1].ravel(), grey[:, 1:h - 1, 0].ravel(),
                             grey[:, 1:h - 1, w - 1].ravel()])
    lower_median = np.partition(border, (len(border) - 1) // 2)[(len(border) - 1) // 2]
    rows = -(-n // num_cols)
    canvas = np.full((rows * (h + pad) + pad, num_cols * (w + pad) + pad, c), 1.0 if lower_median < 0.2 else 0.0,
                     np.float32)
    for i in range(n):
        r, col = divmod(i, num_cols)
        canvas[pad + r * (h + pad):pad + r * (h + pad) + h, pad + col * (w + pad):pad + col * (w + pad) + w] = x[i]
    return canvas


def interleave(first, second) -> np.ndarray:
    """``[a0, b0, a1, b1, ...]`` of two ``(N, H, W, C)`` arrays (e.g. inputs and their reconstructions), float32
    ``(2N, H, W, C)``."""
    first, second = np.asarray(first), np.asarray(second)
    out = np.empty((2 * len(first),) + first.shape[1:], np.float32)
    out[0::2], out[1::2] = first, second
    return out


def read_image(path: str) -> np.ndarray:
    """An image file OpenCV decodes (png, jpg, bmp, ...; any size) as RGB uint8 ``(H, W, 3)`` (a grey file gives
    three equal channels, alpha is dropped).

    Raises:
        ConfigError: the path does not exist, is a folder, or is not an image OpenCV can decode.
    """
    from .errors import ConfigError

    if not os.path.exists(path):
        raise ConfigError(f"image {path} does not exist")
    if os.path.isdir(path):
        raise ConfigError(f"{path} is a folder; generate takes one image file (png, jpg, ...)")
    data = np.fromfile(path, np.uint8) if os.path.getsize(path) else np.zeros(0, np.uint8)
    img = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    if img is None:
        raise ConfigError(f"{path} is not an image OpenCV can read (png, jpg, bmp, ...)")
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def fit_image(rgb, shape) -> np.ndarray:
    """An RGB uint8 image of any size -> a ``shape = (H, W, C)`` canvas in [0, 1]: bilinear resize (OpenCV), then
    for C = 1 OpenCV's grey weights.

    Raises:
        ValueError: C is neither 1 nor 3.
    """
    h, w, c = shape
    if c not in (1, 3):
        raise ValueError(f"{c}-channel images: only 1 (grey) or 3 (RGB) channels can be fitted")
    img = cv2.resize(np.asarray(rgb, np.uint8), (w, h), interpolation=cv2.INTER_LINEAR)
    if c == 1:
        img = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)[..., None]
    return img.astype(np.float32) / 255.0


def to_rgb(images: np.ndarray) -> np.ndarray:
    """``(..., H, W, 1 or 3)`` -> three channels (a grey image repeated)."""
    return np.repeat(images, 3, axis=-1) if images.shape[-1] == 1 else images
