"""``mnist``: LeCun's MNIST, grey levels in [0, 1], as TF1's ``read_data_sets`` served it to VLadder.

Reproduces ``dataset/dataset_mnist.py`` of the VLadder original (spec ``vladder_original.md`` §2.1), which
called ``tensorflow.examples.tutorials.mnist.input_data.read_data_sets("MNIST_data")``:

* the first 5,000 training images become the ``validation`` split (unused by the original), the other
  **55,000 are train**, the 10,000 ``t10k`` images are test;
* 28x28x1, float32 in [0, 1] (raw / 255, grey levels, not binarised), labels 0-9.

Files (``db_path``), looked for in this order:

1. the four idx files of the TF1 layout, gzipped or raw, in ``db_path`` or ``db_path/MNIST_data``:
   ``train-images-idx3-ubyte[.gz]``, ``train-labels-idx1-ubyte[.gz]``, ``t10k-images-idx3-ubyte[.gz]``,
   ``t10k-labels-idx1-ubyte[.gz]``;
2. ``mnist.npz`` as written by ``keras.datasets.mnist`` (keys ``x_train``, ``y_train``, ``x_test``,
   ``y_test``), in ``db_path`` or given as ``db_path`` itself;
3. without ``db_path``: TFDS ``mnist`` (its train order is TFDS's, not the idx order, so its
   validation split is a different 5,000 images than TF1's).

Option ``train_split="test"`` trains on the 10,000 test images (the test split stays those images): the
offline copy of MNIST has no training images. Add ``test_holdout=N`` to keep a fixed random N of them
(seed 0) apart as the test split, for a held-out measurement (MNIST's test set changes writers halfway,
so the held-out images are drawn at random, not taken from the end).
"""

from __future__ import annotations

import gzip
import os
import zlib

import numpy as np

from hvae.errors import DatasetError

from .base import ArraySource, ImageDataset, load_tfds, split_fixed

SHAPE = (28, 28, 1)
FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
URL = "https://storage.googleapis.com/cvdf-datasets/mnist/"
_IDX_MAGIC = {3: 0x00000803, 1: 0x00000801}  # unsigned byte data, 3 or 1 dimensions
TRAIN_SPLITS = ("train", "test")


# --------------------------------------------------------------------------------------------------
# idx files
# --------------------------------------------------------------------------------------------------
def read_idx(path: str, ndim: int) -> np.ndarray:
    """Read one idx file (gzipped if its name ends in ``.gz``, raw otherwise).

    Args:
        path: the file.
        ndim: 3 for images (``N, 28, 28``), 1 for labels (``N``).

    Returns:
        uint8 array of the shape in the header.

    Raises:
        DatasetError: unreadable or truncated gzip, wrong magic number (not an idx file of ``ndim``
            dimensions), or a length that disagrees with the header.
    """
    try:
        if path.endswith(".gz"):
            with gzip.open(path, "rb") as f:
                data = f.read()
        else:
            with open(path, "rb") as f:
                data = f.read()
    except (OSError, EOFError, zlib.error) as err:
        raise DatasetError(f"mnist: cannot read {path}: {err}") from None
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DatasetError(f"mnist: {path} is too short for an idx header ({len(data)} bytes)")
    magic = int.from_bytes(data[:4], "big")
    if magic != _IDX_MAGIC[ndim]:
        what = "images (magic 2051)" if ndim == 3 else "labels (magic 2049)"
        raise DatasetError(f"mnist: {path} is not an idx file of {what}; its magic number is {magic}")
    dims = tuple(int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim))
    expected = int(np.prod(dims))
    if len(data) - header != expected:
        raise DatasetError(f"mnist: {path} holds {len(data) - header:,} bytes of data, its header "
                           f"{'x'.join(map(str, dims))} needs {expected:,} (truncated or corrupt)")
    if ndim == 3 and dims[1:] != (28, 28):
        raise DatasetError(f"mnist: {path} holds {dims[1]}x{dims[2]} images, expected 28x28")
    return np.frombuffer(data, np.uint8, offset=header).reshape(dims)


def _find_idx(folder: str, base: str) -> str | None:
    for name in (base + ".gz", base):
        path = os.path.join(folder, name)
        if os.path.isfile(path):
            return path
    return None


def _check_pair(images: np.ndarray, labels: np.ndarray, what: str) -> None:
    if len(images) != len(labels):
        raise DatasetError(f"mnist: {what} has {len(images):,} images but {len(labels):,} labels")
    if labels.size and labels.max() > 9:
        raise DatasetError(f"mnist: {what} has label {int(labels.max())}, expected 0-9")


def _from_idx(folder: str, train_split: str):
    needed = ["test_images", "test_labels"] + (["train_images", "train_labels"] if train_split == "train" else [])
    paths = {key: _find_idx(folder, FILES[key]) for key in needed}
    missing = [FILES[k] + "[.gz]" for k, p in paths.items() if p is None]
    if missing:
        hint = ""
        if paths.get("train_images") is None and train_split == "train":
            hint = ("; without the training images pass train_split='test' and test_holdout "
                    "(--dataset_option=train_split=test --dataset_option=test_holdout=2000) to train on 8,000 of "
                    "the 10,000 test images and test on the other 2,000")
        raise DatasetError(f"mnist: {folder} lacks {', '.join(missing)}{hint}")
    arrays = {"test": (read_idx(paths["test_images"], 3), read_idx(paths["test_labels"], 1))}
    if train_split == "train":
        arrays["train"] = (read_idx(paths["train_images"], 3), read_idx(paths["train_labels"], 1))
    return arrays, folder


def _from_npz(path: str, train_split: str):
    try:
        with np.load(path, allow_pickle=False) as z:
            keys = set(z.files)
            needed = ["x_test", "y_test"] + (["x_train", "y_train"] if train_split == "train" else [])
            missing = [k for k in needed if k not in keys]
            if missing:
                raise DatasetError(f"mnist: {path} lacks the keys {', '.join(missing)} "
                                   f"(expected x_train, y_train, x_test, y_test as keras.datasets.mnist)")
            arrays = {"test": (z["x_test"], z["y_test"])}
            if train_split == "train":
                arrays["train"] = (z["x_train"], z["y_train"])
    except DatasetError:
        raise
    except Exception as err:  # noqa: BLE001 - zip/npy errors of many kinds
        raise DatasetError(f"mnist: cannot read {path} as an .npz file: {err}") from None
    for split, (x, y) in arrays.items():
        if x.ndim == 4 and x.shape[-1] == 1:
            x = x[..., 0]
        if x.ndim != 3 or x.shape[1:] != (28, 28) or x.dtype != np.uint8:
            raise DatasetError(f"mnist: {path} x_{split} is {x.dtype} {x.shape}, expected uint8 (N, 28, 28)")
        arrays[split] = (x, np.asarray(y).reshape(-1))
    return arrays, path


def _from_tfds(train_split: str):
    splits = ["test"] + (["train"] if train_split == "train" else [])
    hint = (f"download {', '.join(f + '.gz' for f in FILES.values())} from {URL} into a folder "
            f"and pass it with --db_path")
    data = load_tfds("mnist", splits, hint=hint, url=URL)
    return {s: (data[s]["image"][..., 0], data[s]["label"]) for s in splits}, "TFDS mnist"


# --------------------------------------------------------------------------------------------------
def load(db_path=None, train_split: str = "train", validation_size: int = 5000, test_holdout: int = 0) -> ImageDataset:
    """Load MNIST.

    Args:
        db_path: folder with the idx files (or with ``MNIST_data/``, or with ``mnist.npz``), or the
            ``.npz`` file; None reads TFDS ``mnist`` (downloading it if it is not prepared).
        train_split: ``"train"`` (default: the last 60,000 - ``validation_size`` training images) or
            ``"test"`` (train on the 10,000 test images; needs no training files).
        validation_size: how many leading training images form the ``validation`` split (TF1
            ``read_data_sets`` default 5,000); ignored with ``train_split="test"``.
        test_holdout: with ``train_split="test"``, this many test images (a fixed random choice, seed 0)
            form the test split and the others the train split; 0 (default) trains and tests on all 10,000.

    Returns:
        ImageDataset ``mnist``: 28x28x1 in [0, 1], 10 classes; splits ``train`` (55,000), ``validation``
        (5,000), ``test`` (10,000), or ``train`` = ``test`` (10,000) with ``train_split="test"``.
        Pixels stay uint8 in memory.

    Raises:
        DatasetError: unknown ``train_split``; missing files (listed, with the ``train_split='test'``
            hint when the training images are missing); malformed idx or npz files; images and labels
            that disagree; a failed TFDS download (one line naming the files to fetch).
    """
    if train_split not in TRAIN_SPLITS:
        raise DatasetError(f"mnist: train_split must be one of {', '.join(TRAIN_SPLITS)}, not {train_split!r}")
    if test_holdout and train_split != "test":
        raise DatasetError("mnist: test_holdout applies only with train_split='test'")
    if db_path is None or str(db_path) == "":
        arrays, origin = _from_tfds(train_split)
    else:
        path = os.path.expanduser(str(db_path))
        if os.path.isfile(path) and path.endswith(".npz"):
            arrays, origin = _from_npz(path, train_split)
        elif not os.path.isdir(path):
            raise DatasetError(f"mnist: --db_path {path} is neither a folder with the idx files nor an .npz file")
        else:
            folder = path
            if _find_idx(folder, FILES["test_images"]) is None and os.path.isdir(os.path.join(path, "MNIST_data")):
                folder = os.path.join(path, "MNIST_data")
            has_idx = any(_find_idx(folder, f) for f in FILES.values())
            npz = os.path.join(path, "mnist.npz")
            if not has_idx and os.path.isfile(npz):
                arrays, origin = _from_npz(npz, train_split)
            elif not has_idx:
                raise DatasetError(f"mnist: {path} has neither the idx files ({', '.join(FILES.values())}, "
                                   f".gz or raw) nor mnist.npz")
            else:
                arrays, origin = _from_idx(folder, train_split)

    for split, (x, y) in arrays.items():
        _check_pair(x, y, f"{origin} ({split})")
    test_x, test_y = arrays["test"]
    test = ArraySource(test_x[..., None], test_y, SHAPE)
    notes = []
    if train_split == "test" and test_holdout:
        if not 0 < test_holdout < len(test_x):
            raise DatasetError(f"mnist: test_holdout {test_holdout} must be in (0, {len(test_x)})")
        held, kept = split_fixed(len(test_x), test_holdout / len(test_x), seed=0)
        sources = {"train": ArraySource(test_x[kept, :, :, None], test_y[kept], SHAPE),
                   "test": ArraySource(test_x[held, :, :, None], test_y[held], SHAPE)}
        notes.append(f"train_split='test', test_holdout={test_holdout}: training on {len(kept):,} test images, "
                     f"testing on the other {len(held):,} (fixed random choice, seed 0)")
    elif train_split == "test":
        sources = {"train": test, "test": test}
        notes.append("warning: train_split='test' without test_holdout trains on the 10,000 test images and tests on "
                     "the same images, so test numbers measure the training set; --dataset_option test_holdout=2000 "
                     "keeps 2,000 of them apart for testing")
    else:
        train_x, train_y = arrays["train"]
        if not 0 <= validation_size < len(train_x):
            raise DatasetError(f"mnist: validation_size {validation_size} must be in [0, {len(train_x)}) "
                               f"for {len(train_x):,} training images")
        sources = {"train": ArraySource(train_x[validation_size:, :, :, None], train_y[validation_size:], SHAPE)}
        if validation_size:
            sources["validation"] = ArraySource(train_x[:validation_size, :, :, None], train_y[:validation_size], SHAPE)
        sources["test"] = test
        notes.append(f"the first {validation_size:,} training images are the validation split (TF1 read_data_sets)")
    notes.append(f"read from {origin}")
    return ImageDataset(name="mnist", shape=SHAPE, value_range=(0.0, 1.0), num_classes=10,
                        class_names=[str(d) for d in range(10)], sources=sources, notes=notes)
