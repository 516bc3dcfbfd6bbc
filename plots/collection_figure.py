"""Put the VAE collection's generated figures side by side, one row per run, for the README.

Each run folder is where ``python train.py MODEL train`` and ``python train.py MODEL generate`` ran: it holds
``images/<MODEL>/grid.png`` (twenty test images and their reconstructions) and ``images/<MODEL>/samples.png``
(prior samples; CVAE one row per class).

    python plots/collection_figure.py --out plots/collection_binarized_mnist.png \
        "VAE, 30 epochs=runs/VAE:VAE" "InfoVAE, 10 epochs=runs/InfoVAE:InfoVAE"

Each row is ``title=run_folder:MODEL``. Raises SystemExit with one line when a figure is missing.
"""

from __future__ import annotations

import argparse
import os
import sys

import matplotlib
import numpy as np

matplotlib.use("Agg")
import matplotlib.pyplot as plt


def _read(path: str):
    import cv2

    image = cv2.imread(path, cv2.IMREAD_COLOR)
    if image is None:
        sys.exit(f"error: {path} is missing or not an image (run `python train.py MODEL generate` there first)")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("rows", nargs="+", help="title=run_folder:MODEL")
    parser.add_argument("--out", required=True, help="PNG to write")
    args = parser.parse_args(argv)
    rows = []
    for spec in args.rows:
        title, _, rest = spec.rpartition("=")
        folder, _, model = rest.rpartition(":")
        if not title or not folder or not model:
            sys.exit(f"error: row {spec!r} is not title=run_folder:MODEL")
        images = os.path.join(folder, "images", model)
        rows.append((title, _read(os.path.join(images, "grid.png")), _read(os.path.join(images, "samples.png"))))
    fig, axes = plt.subplots(len(rows), 2, figsize=(9.6, 3.0 * len(rows)), dpi=100, squeeze=False,
                             gridspec_kw={"width_ratios": [2, 1.25]})
    for (title, grid, samples), (left, right) in zip(rows, axes):
        left.imshow(grid, interpolation="nearest")
        left.set_title(f"{title}: test images (red frame) and reconstructions", fontsize=9)
        right.imshow(samples, interpolation="nearest")
        right.set_title("samples from the prior", fontsize=9)
        for ax in (left, right):
            ax.set_axis_off()
    fig.tight_layout()
    fig.canvas.draw()
    canvas = np.asarray(fig.canvas.buffer_rgba())[..., :3] / 255.0
    from hvae.figures import save_png

    save_png(args.out, canvas)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
