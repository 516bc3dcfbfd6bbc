"""``svhn``: Street View House Numbers, cropped digits, 32x32x3 in [0, 1], labels 0-9.

Reproduces ``dataset/dataset_svhn.py`` of the VLadder original (spec ``vladder_original.md`` §2.2):
``SVHNDataset(db_path, use_extra=True)`` trained on ``extra_32x32.mat`` (531,131 images) and tested on
``test_32x32.mat`` (26,032); ``train_32x32.mat`` (73,257) was never opened.

Files (``db_path``): ``train_32x32.mat``, ``test_32x32.mat``, ``extra_32x32.mat`` from
http://ufldl.stanford.edu/housenumbers/ (MATLAB v5; key ``X`` uint8 ``(32, 32, 3, N)``, key ``y``
``(N, 1)`` with labels 1..10, where 10 is the digit 0). Only the files the chosen ``train_split`` needs
are opened.

Memory: the ``(32, 32, 3, N)`` uint8 arrays are kept as loaded (extra is 1.6 GB); batches are gathered
along the last axis and transposed (``ArraySource(axis=3, transpose=(3, 0, 1, 2))``), so there is never
a float copy nor a second uint8 copy (``train+extra`` reads both arrays in place, without concatenating).
"""

from __future__ import annotations

import os

import numpy as np

from hvae.errors import DatasetError

from .base import ArraySource, ImageDataset, require_dir

SHAPE = (32, 32, 3)
FILES = {"train": "train_32x32.mat", "test": "test_32x32.mat", "extra": "extra_32x32.mat"}
TRAIN_SPLITS = {"extra": ("extra",), "train": ("train",), "train+extra": ("train", "extra")}
URL = "http://ufldl.stanford.edu/housenumbers/"


def read_svhn_mat(path: str):
    """Read one SVHN ``.mat`` file.

    Returns:
        ``(images, labels)``: uint8 ``(32, 32, 3, N)`` exactly as stored (no copy), int64 ``(N,)`` in
        0-9 (the file's label 10 becomes 0).

    Raises:
        DatasetError: unreadable file or MATLAB v7.3; no key ``X`` or ``y``; ``X`` not uint8
            ``(32, 32, 3, N)``; ``y`` of another length or with values outside 1..10.
    """
    import scipy.io

    try:
        mat = scipy.io.loadmat(path, variable_names=["X", "y"])
    except NotImplementedError:
        raise DatasetError(f"svhn: {path} is a MATLAB v7.3 (HDF5) file; expected the v5 .mat of {URL}") from None
    except Exception as err:  # noqa: BLE001 - scipy raises several kinds for corrupt files
        raise DatasetError(f"svhn: cannot read {path} as a MATLAB file: {err}") from None
    for key in ("X", "y"):
        if key not in mat:
            raise DatasetError(f"svhn: {path} has no key {key!r} (expected X uint8 (32, 32, 3, N) and y (N, 1))")
    images, y = mat["X"], mat["y"]
    if images.ndim != 4 or images.shape[:3] != SHAPE or images.dtype != np.uint8:
        raise DatasetError(f"svhn: {path} X is {images.dtype} {images.shape}, expected uint8 (32, 32, 3, N)")
    n = images.shape[3]
    labels = np.asarray(y).reshape(-1).astype(np.int64)
    if len(labels) != n:
        raise DatasetError(f"svhn: {path} has {n:,} images in X but {len(labels):,} labels in y")
    if n and (labels.min() < 1 or labels.max() > 10):
        raise DatasetError(f"svhn: {path} y has values {labels.min()}..{labels.max()}, expected 1..10")
    labels[labels == 10] = 0
    return images, labels


def load(db_path=None, train_split: str = "extra") -> ImageDataset:
    """Load SVHN (cropped digits).

    Args:
        db_path: folder with the ``.mat`` files.
        train_split: ``"extra"`` (default, 531,131 images: the VLadder original), ``"train"`` (73,257: the
            Ladder-VAE and VLAE originals) or ``"train+extra"`` (604,388).

    Returns:
        ImageDataset ``svhn``: 32x32x3 in [0, 1], labels 0-9 (10 classes); test = ``test_32x32.mat``.

    Raises:
        DatasetError: unknown ``train_split``; missing or empty folder; missing files (listed, with
            where to download them); malformed files (see :func:`read_svhn_mat`).
    """
    if train_split not in TRAIN_SPLITS:
        raise DatasetError(f"svhn: train_split must be one of {', '.join(TRAIN_SPLITS)}, not {train_split!r}")
    folder = require_dir(db_path, "svhn", "train_32x32.mat, test_32x32.mat, extra_32x32.mat", source=URL)
    needed = TRAIN_SPLITS[train_split] + ("test",)
    missing = [FILES[k] for k in needed if not os.path.isfile(os.path.join(folder, FILES[k]))]
    if missing:
        raise DatasetError(f"svhn: {folder} lacks {', '.join(missing)} (train_split={train_split!r}; "
                           f"download from {URL})")
    parts = {k: read_svhn_mat(os.path.join(folder, FILES[k])) for k in needed}
    train_parts = [parts[k] for k in TRAIN_SPLITS[train_split]]
    train = ArraySource([p[0] for p in train_parts], np.concatenate([p[1] for p in train_parts]), SHAPE,
                        axis=3, transpose=(3, 0, 1, 2))
    test = ArraySource(parts["test"][0], parts["test"][1], SHAPE, axis=3, transpose=(3, 0, 1, 2))
    notes = [f"train = {' + '.join(FILES[k] for k in TRAIN_SPLITS[train_split])}, test = {FILES['test']}",
             "labels: the files' 10 (digit 0) is mapped to 0"]
    return ImageDataset(name="svhn", shape=SHAPE, value_range=(0.0, 1.0), num_classes=10,
                        class_names=[str(d) for d in range(10)], sources={"train": train, "test": test}, notes=notes)
