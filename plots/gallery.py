#!/usr/bin/env python
"""A gallery of trained runs: one row per run with its model's name, its training budget, samples from the prior
and reconstructions of fixed validation images, each beside its input.

Each argument is a run folder of ``train.py`` (``model/<netname>/``), opened with ``hvae.load_run`` (its newest
checkpoint; ``--best``: the best one by validation score). Every run must be of ``--dataset`` (the figure's title
names it). The samples are ``model.sample(N, seed=--seed)`` (each family's own: the decoder's mean or location at
prior draws; the LVAE's a draw of p(x | z), binary images, as its original's sample grids); the reconstructions are
``model.reconstruct`` (the likelihood's mean at the posterior means) of the same N images of the **validation**
split (the dataset's own, or the images the run held out of its training split), drawn by ``--seed``, never of the
test split. The budget is the checkpoint's iteration count times the run's batch size, and the epochs they make of
the run's training split.

    python plots/gallery.py model/gallery_VAE model/gallery_LVAE2 --out plots/gallery_binarized_mnist.png

``plots/gallery_runs.sh`` trains every model on binarized MNIST at a short budget and then runs this command. A
folder that is not a run, a run of another dataset or a run without a checkpoint is one line on stderr and exit
status 2.
"""

from __future__ import annotations

import argparse
import math
import os
import sys

import numpy as np

DATASET_TITLES = {"binarized_mnist": "binarized MNIST", "mnist": "MNIST", "digits": "scikit-learn's digits",
                  "svhn": "SVHN", "celebA": "CelebA", "lsun": "LSUN", "cifar10": "CIFAR-10"}

# The layout, in pixels of the written PNG (the figure is drawn at DPI dots per inch, so one point = one pixel
# at 72/DPI): every image pixel is SCALE x SCALE pixels.
DPI = 100
SCALE = 2
MARGIN = 14          # around the figure
LABEL_WIDTH = 210    # the column of model names and budgets
HEADER = 62          # the title and the column headings
ROW_GAP = 14         # between rows
MIN_ROW_HEIGHT = 84  # room for a row's label when its images are lower (the images are centred in it)
COLUMN_GAP = 24      # between the label, the samples and the reconstructions
MIN_SAMPLES_WIDTH = 150   # the samples' column at least (room for its heading when N is small)
MIN_PAIRS_WIDTH = 220     # the reconstructions' column at least
CELL_GAP = 2         # between images of the samples' grid (image pixels)
PAIR_GAP = 1         # between an input and its reconstruction (image pixels)
PAIRS_GAP = 6        # between pairs (image pixels)
BACKGROUND = 1.0     # white
SEPARATOR = 0.55     # the grey line between an input and its reconstruction


class GalleryError(Exception):
    """Bad input: the message is the one line printed on stderr (exit status 2)."""


def grid_shape(n: int) -> tuple[int, int]:
    """``(lines, columns)`` of N images: one line up to 3, else two lines of ceil(N / 2)."""
    lines = 1 if n <= 3 else 2
    return lines, math.ceil(n / lines)


def _gapped_grid(tiles: np.ndarray, row_gap: int, col_gap: int) -> np.ndarray:
    """Tiles ``(N, h, w, 3)`` row-major on the :func:`grid_shape` grid, ``row_gap`` / ``col_gap`` pixels of
    BACKGROUND between them: ``(H, W, 3)``."""
    n, h, w, _ = tiles.shape
    lines, cols = grid_shape(n)
    canvas = np.full((lines * h + (lines - 1) * row_gap, cols * w + (cols - 1) * col_gap, 3), BACKGROUND, np.float32)
    for i in range(n):
        r, c = divmod(i, cols)
        y, x = r * (h + row_gap), c * (w + col_gap)
        canvas[y:y + h, x:x + w] = tiles[i]
    return canvas


def samples_canvas(images: np.ndarray) -> np.ndarray:
    """N images ``(N, H, W, C)`` in [0, 1] on the :func:`grid_shape` grid, CELL_GAP apart: ``(h, w, 3)``."""
    from hvae.figures import to_rgb

    return _gapped_grid(to_rgb(images), CELL_GAP, CELL_GAP)


def pairs_canvas(inputs: np.ndarray, reconstructions: np.ndarray) -> np.ndarray:
    """Each input with its reconstruction on its right (a grey line between), the pairs on the
    :func:`grid_shape` grid, PAIRS_GAP apart: ``(h, w, 3)``."""
    from hvae.figures import join, to_rgb

    pairs = np.stack([join([a, b], gap=PAIR_GAP, fill=SEPARATOR)
                      for a, b in zip(to_rgb(inputs), to_rgb(reconstructions))])
    return _gapped_grid(pairs, CELL_GAP, PAIRS_GAP)


def figure_size(num_runs: int, samples: int, image_shape=(28, 28)) -> tuple[int, int]:
    """``(width, height)`` in pixels of the PNG of ``num_runs`` rows of ``samples`` images of ``image_shape``."""
    h, w = int(image_shape[0]), int(image_shape[1])
    lines, cols = grid_shape(samples)
    row_h = max((lines * h + (lines - 1) * CELL_GAP) * SCALE, MIN_ROW_HEIGHT)
    samples_w = (cols * w + (cols - 1) * CELL_GAP) * SCALE
    pairs_w = (cols * (2 * w + PAIR_GAP) + (cols - 1) * PAIRS_GAP) * SCALE
    width = (2 * MARGIN + LABEL_WIDTH + 2 * COLUMN_GAP + max(samples_w, MIN_SAMPLES_WIDTH)
             + max(pairs_w, MIN_PAIRS_WIDTH))
    height = 2 * MARGIN + HEADER + num_runs * row_h + (num_runs - 1) * ROW_GAP
    return width, height


def read_run_config(run_dir: str) -> dict:
    """The ``config.json`` settings of a run folder, flat (``dataset``, ``batch_size``, ``model_name``, ...).

    Raises:
        GalleryError: not a folder, or no (readable) ``config.json`` in it.
    """
    from hvae.errors import HVAEError
    from hvae.runs import load_config_json

    if not os.path.isdir(run_dir):
        raise GalleryError(f"{run_dir} is not a folder (give run folders of train.py, model/<netname>)")
    try:
        config = load_config_json(run_dir)
    except HVAEError as e:
        raise GalleryError(str(e)) from None
    if config is None:
        raise GalleryError(f"{run_dir} is not a run folder of train.py (no config.json)")
    return config


def check_dataset(run_dir: str, config: dict, dataset: str) -> None:
    """Raise GalleryError unless the run was trained on ``dataset`` (any case)."""
    trained_on = str(config.get("dataset"))
    if trained_on.lower() != dataset.lower():
        raise GalleryError(f"{run_dir} was trained on {trained_on}, not {dataset} (the gallery's --dataset); "
                           f"leave it out or pass --dataset={trained_on}")


def budget_text(iteration: int, batch_size: int, train_size: int) -> str:
    """``"781 iterations x 64\\n= 1.00 epochs of 50,000 images"``: the training budget of a checkpoint."""
    epochs = iteration * batch_size / train_size if train_size else float("nan")
    return f"{iteration:,} iterations \u00d7 {batch_size}\n= {epochs:.2f} epochs of {train_size:,} images"


def render_row(run_dir: str, samples: int, seed: int, best: bool = False) -> dict:
    """Open one run and draw its row's images.

    Returns:
        ``{"name", "netname", "budget", "samples" (h, w, 3), "pairs" (h, w, 3), "image_shape"}``.

    Raises:
        GalleryError: no checkpoint (or no best one), the data cannot be loaded, or no validation split.
    """
    import keras

    import hvae
    from hvae import datasets
    from hvae.errors import HVAEError
    from hvae.figures import to_display

    try:
        run = hvae.load_run(run_dir, best=best)
        config = run.config
        options = dict(config.get("dataset_options") or {})
        if config.get("image_size"):
            options["image_size"] = config["image_size"]
        data = datasets.load(config["dataset"], config.get("db_path"), **options)
        data = data.with_validation(config.get("validation_size"))
    except HVAEError as e:
        raise GalleryError(f"{run_dir}: {e}") from None
    if "validation" not in data.splits:
        raise GalleryError(f"{run_dir} was trained with --validation_size=0: no validation images to reconstruct "
                           "(the gallery never shows the test split)")
    model = run.model
    keras.utils.set_random_seed(seed)  # the same validation images and prior draws in every row
    images, labels = data.take("validation", samples, seed=seed, with_labels=True)
    conditional = bool(getattr(model, "conditional", False))
    sample_labels = np.arange(samples) % int(model.num_classes) if conditional else None
    keras.utils.set_random_seed(seed)
    drawn = np.asarray(model.sample(samples, labels=sample_labels, seed=seed))
    rebuilt = np.asarray(model.reconstruct(images, labels=labels if conditional else None))
    value_range = tuple(float(v) for v in model.value_range)
    name = config.get("model") or config.get("model_name") or config.get("family") or "?"
    return {"name": name, "netname": config.get("netname") or os.path.basename(run_dir),
            "budget": budget_text(run.iteration, int(config["batch_size"]), data.train_size),
            "samples": samples_canvas(to_display(drawn, value_range)),
            "pairs": pairs_canvas(to_display(images, value_range), to_display(rebuilt, value_range)),
            "image_shape": tuple(images.shape[1:3])}


def draw(rows: list, dataset: str, samples: int, out: str) -> tuple[int, int]:
    """Write the gallery of ``rows`` (from :func:`render_row`) to the PNG ``out``; returns its ``(width, height)``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    width, height = figure_size(len(rows), samples, rows[0]["image_shape"])
    fig = plt.figure(figsize=(width / DPI, height / DPI), dpi=DPI, facecolor="white")

    def axes(x, y, w, h):  # pixels from the top left
        ax = fig.add_axes((x / width, 1 - (y + h) / height, w / width, h / height))
        ax.set_axis_off()
        return ax

    title = DATASET_TITLES.get(dataset, dataset)
    fig.text(MARGIN / width, 1 - MARGIN / height, f"{title}: samples and reconstructions", fontsize=13,
             fontweight="bold", va="top")
    samples_x = MARGIN + LABEL_WIDTH + COLUMN_GAP
    samples_w = max(rows[0]["samples"].shape[1] * SCALE, MIN_SAMPLES_WIDTH)
    pairs_x = samples_x + samples_w + COLUMN_GAP
    heading_y = 1 - (MARGIN + HEADER - 6) / height
    for x, text in ((MARGIN, "model (run)\ntraining budget"), (samples_x, f"{samples} samples\nfrom the prior"),
                    (pairs_x, f"{samples} validation images, each\nbeside its reconstruction (right)")):
        fig.text(x / width, heading_y, text, fontsize=9.5, va="bottom", color="0.2")
    y = MARGIN + HEADER
    for row in rows:
        images_h = row["samples"].shape[0] * SCALE
        row_h = max(images_h, MIN_ROW_HEIGHT)
        for x, canvas in ((samples_x, row["samples"]), (pairs_x, row["pairs"])):
            axes(x, y + (row_h - images_h) // 2, canvas.shape[1] * SCALE, images_h).imshow(
                canvas, interpolation="nearest", vmin=0, vmax=1)
        label_y = 1 - (y + row_h / 2) / height
        fig.text(MARGIN / width, label_y, row["name"], fontsize=12, fontweight="bold", va="bottom")
        fig.text(MARGIN / width, label_y - 2 / height, f"({row['netname']})\n{row['budget']}", fontsize=8.5,
                 va="top", linespacing=1.25, color="0.15")
        y += row_h + ROW_GAP
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    fig.savefig(out, dpi=DPI, facecolor="white")
    plt.close(fig)
    return width, height


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("runs", nargs="+", metavar="RUN", help="run folders of train.py (model/<netname>), one row each")
    p.add_argument("--dataset", default="binarized_mnist",
                   help="the dataset every run was trained on, named in the title (binarized_mnist)")
    p.add_argument("--out", default=None,
                   help="the PNG to write (default: gallery_<dataset>.png beside this script, in plots/)")
    p.add_argument("--samples", type=int, default=8, help="samples and reconstructions per run (8)")
    p.add_argument("--seed", type=int, default=0, help="seed of the prior draws and of the validation images (0)")
    p.add_argument("--best", action="store_true", help="each run's best checkpoint (model/<netname>/best/)")
    args = p.parse_args(argv)
    out = args.out or os.path.join(os.path.dirname(os.path.abspath(__file__)), f"gallery_{args.dataset}.png")
    try:
        if args.samples < 1:
            raise GalleryError(f"--samples must be 1 or more, got {args.samples}")
        import hvae  # noqa: F401  (TensorFlow's quiet defaults before it starts)

        for run_dir in args.runs:  # every folder checked before any model is built
            check_dataset(run_dir, read_run_config(run_dir), args.dataset)
        rows = []
        for run_dir in args.runs:
            row = render_row(run_dir, args.samples, args.seed, best=args.best)
            rows.append(row)
            print(f"row {len(rows)}: {row['name']} ({row['netname']}), {row['budget'].replace(chr(10), ' ')}")
        if len({row["image_shape"] for row in rows}) > 1:
            raise GalleryError("the runs have images of different sizes: "
                               + ", ".join(f"{r['netname']} {r['image_shape']}" for r in rows))
        width, height = draw(rows, args.dataset, args.samples, out)
    except GalleryError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"wrote {out} ({width}x{height}, {len(rows)} rows)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
