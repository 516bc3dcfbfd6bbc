"""Image grids and panels, written as PNG files (OpenCV) and TensorBoard image summaries.

Every function takes display images: float arrays in [0, 1] (``ImageDataset.to_display`` maps model
values there), shape ``(N, H, W, C)`` with C = 1 or 3. Canvases are ``(H, W, C)`` float32 in [0, 1].
Saved PNGs are clipped to [0, 1] and scaled by 255 (the original's ``scipy.misc.imsave`` instead
min-max stretched every canvas; see docs/fidelity.md).
"""

from __future__ import annotations

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

    Raises:
        OSError: the file cannot be written.
    """
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    img = to_uint8(canvas)
    if img.ndim == 3 and img.shape[-1] == 3:
        img = cv2.cvtColor(img, cv2.COLOR_RGB2BGR)
    elif img.ndim == 3:
        img = img[..., 0]
    if not cv2.imwrite(path, img, [cv2.IMWRITE_PNG_COMPRESSION, 9]):
        raise OSError(f"cannot write {path}")
    return path


def read_png(path: str) -> np.ndarray:
    """Read a PNG written by :func:`save_png` back as RGB (or grey) uint8 ``(H, W, C)``."""
    img = cv2.imread(path, cv2.IMREAD_UNCHANGED)
    if img is None:
        raise OSError(f"cannot read {path}")
    if img.ndim == 2:
        return img[..., None]
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def save_versions(folder: str, canvas, index: int | None) -> list:
    """The original's figure layout: ``folder/current.png`` (overwritten) and ``folder/epoch<index>.png``
    (``index`` None: ``current.png`` only). Returns the paths written."""
    names = ["current.png"] if index is None else ["current.png", f"epoch{index}.png"]
    return [save_png(os.path.join(folder, name), canvas) for name in names]


def summary_image(name: str, canvas, step: int) -> None:
    """Write a canvas as a TensorBoard image summary (into the default summary writer, if any)."""
    import tensorflow as tf

    tf.summary.image(name, to_uint8(canvas)[None], step=step)
