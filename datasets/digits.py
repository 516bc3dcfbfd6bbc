"""``digits``: scikit-learn's bundled 8x8 handwritten digits, upsampled to MNIST's 28x28x1.

Real data that needs no files and no network: the offline default for quick starts and smoke runs.
1,797 images of the UCI optical digits (16 grey levels), each resized to 20x20 (bilinear, OpenCV) and
centred in a 28x28 frame as MNIST centres its digits in a 20x20 box. Values in [0, 1]. A fixed 80/20
split (seed 0): 1,438 train, 359 test, labels 0-9.

Source: ``sklearn.datasets.load_digits`` (Alpaydin & Kaynak, UCI "Optical Recognition of Handwritten Digits").
"""

from __future__ import annotations

import cv2
import numpy as np

from .base import ArraySource, ImageDataset, split_fixed

TRAIN_FRACTION = 0.8


def _upsample(images8: np.ndarray) -> np.ndarray:
    """(N, 8, 8) values 0..16 -> uint8 (N, 28, 28, 1): 20x20 bilinear, 4-pixel black border."""
    out = np.zeros((len(images8), 28, 28, 1), np.uint8)
    for i, img in enumerate(images8):
        big = cv2.resize((img / 16.0).astype(np.float32), (20, 20), interpolation=cv2.INTER_LINEAR)
        out[i, 4:24, 4:24, 0] = np.clip(np.rint(big * 255.0), 0, 255).astype(np.uint8)
    return out


def load(db_path=None) -> ImageDataset:
    """Load the digits dataset (``db_path`` is ignored: the data ships with scikit-learn)."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    images = _upsample(bunch.images)
    labels = bunch.target.astype(np.int64)
    train_idx, test_idx = split_fixed(len(images), TRAIN_FRACTION, seed=0)
    shape = (28, 28, 1)
    return ImageDataset(
        name="digits",
        shape=shape,
        value_range=(0.0, 1.0),
        num_classes=10,
        class_names=[str(d) for d in range(10)],
        sources={
            "train": ArraySource(images[train_idx], labels[train_idx], shape),
            "test": ArraySource(images[test_idx], labels[test_idx], shape),
        },
        notes=["scikit-learn digits, 8x8 upsampled to 28x28, fixed 80/20 split (seed 0)"],
    )
