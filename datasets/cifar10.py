"""``cifar10``: CIFAR-10, 32x32x3 in [0, 1], labels 0-9, 50,000 train / 10,000 test.

Not in the VLadder original; added by its fork ``mlko53/Variational-Ladder-Autoencoder`` (spec
``vladder_original.md`` §2.5, §5.3) and used by the Ladder-VAE and VLAE originals (torchvision, ``ToTensor``:
values k/255; spec ``lvae_and_vlae_laplace.md`` §1.8, §2.7).

Files (``db_path`` or ``db_path/cifar-10-batches-py``): the python-pickle batches of
https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz (extracted): ``data_batch_1`` ... ``data_batch_5``,
``test_batch``, and optionally ``batches.meta`` (class names). Each batch is a dict with ``data`` uint8
``(n, 3072)`` (channel-major: 1024 red, 1024 green, 1024 blue, rows of 32) and ``labels`` (n ints).
The pickles are read with a restricted unpickler that only rebuilds numpy arrays, lists and dicts.

Without ``db_path``: TFDS ``cifar10``.
"""

from __future__ import annotations

import os
import pickle

import numpy as np

from hvae.errors import DatasetError

from .base import ArraySource, ImageDataset, load_tfds, require_dir

SHAPE = (32, 32, 3)
TRAIN_FILES = [f"data_batch_{i}" for i in range(1, 6)]
TEST_FILE = "test_batch"
META_FILE = "batches.meta"
URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
DEFAULT_NAMES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]

# what a CIFAR pickle may reference (numpy 1 and numpy 2 module names)
_ALLOWED = {("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode"),
            ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
            ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar")}


class _SafeUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        if (module, name) in _ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}")


def _get(d: dict, key: str):
    """A key of a CIFAR dict, stored as bytes (python 2 pickles) or str."""
    return d[key.encode()] if key.encode() in d else d.get(key)


def read_batch(path: str):
    """Read one pickled CIFAR-10 batch.

    Returns:
        ``(images, labels)``: uint8 ``(n, 32, 32, 3)`` (HWC, contiguous), int64 ``(n,)``.

    Raises:
        DatasetError: not a pickle of a dict, no ``data`` or ``labels``, ``data`` not uint8 ``(n, 3072)``,
            label count or values (0-9) wrong.
    """
    try:
        with open(path, "rb") as f:
            batch = _SafeUnpickler(f, encoding="bytes").load()
    except Exception as err:  # noqa: BLE001 - corrupt pickles raise many kinds
        raise DatasetError(f"cifar10: cannot read {path} as a CIFAR python batch: {err}") from None
    if not isinstance(batch, dict):
        raise DatasetError(f"cifar10: {path} holds a {type(batch).__name__}, expected a dict with data and labels")
    data, labels = _get(batch, "data"), _get(batch, "labels")
    if data is None or labels is None:
        raise DatasetError(f"cifar10: {path} lacks 'data' or 'labels'")
    data = np.asarray(data)
    if data.ndim != 2 or data.shape[1] != 3072 or data.dtype != np.uint8:
        raise DatasetError(f"cifar10: {path} data is {data.dtype} {data.shape}, expected uint8 (n, 3072)")
    labels = np.asarray(labels, np.int64).reshape(-1)
    if len(labels) != len(data):
        raise DatasetError(f"cifar10: {path} has {len(data):,} images but {len(labels):,} labels")
    if len(labels) and (labels.min() < 0 or labels.max() > 9):
        raise DatasetError(f"cifar10: {path} has labels {labels.min()}..{labels.max()}, expected 0-9")
    return data, labels


def _class_names(folder: str) -> list:
    path = os.path.join(folder, META_FILE)
    if not os.path.isfile(path):
        return list(DEFAULT_NAMES)
    try:
        with open(path, "rb") as f:
            meta = _SafeUnpickler(f, encoding="bytes").load()
        names = [n.decode() if isinstance(n, bytes) else str(n) for n in _get(meta, "label_names")]
    except Exception as err:  # noqa: BLE001
        raise DatasetError(f"cifar10: cannot read class names from {path}: {err}") from None
    if len(names) != 10:
        raise DatasetError(f"cifar10: {path} lists {len(names)} class names, expected 10")
    return names


def _to_hwc(data: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))


def load(db_path=None) -> ImageDataset:
    """Load CIFAR-10.

    Args:
        db_path: folder with the python batches (or with ``cifar-10-batches-py/``); None reads TFDS
            ``cifar10``.

    Returns:
        ImageDataset ``cifar10``: 32x32x3 in [0, 1], 10 classes (names from ``batches.meta`` if present);
        train 50,000 (the five batches in order), test 10,000.

    Raises:
        DatasetError: missing or empty folder; missing batches (listed); malformed batches
            (see :func:`read_batch`); a failed TFDS download (one line naming the file to fetch).
    """
    if db_path is None or str(db_path) == "":
        hint = f"download {URL}, extract it and pass the cifar-10-batches-py folder with --db_path"
        data = load_tfds("cifar10", ["train", "test"], hint=hint, url=URL)
        arrays = {s: (data[s]["image"].astype(np.uint8), data[s]["label"]) for s in ("train", "test")}
        names, origin = list(DEFAULT_NAMES), "TFDS cifar10"
    else:
        folder = require_dir(db_path, "cifar10", "data_batch_1..5 and test_batch (cifar-10-batches-py)",
                             source=f"{URL} (extract it)")
        sub = os.path.join(folder, "cifar-10-batches-py")
        if not os.path.isfile(os.path.join(folder, TEST_FILE)) and os.path.isdir(sub):
            folder = sub
        missing = [f for f in TRAIN_FILES + [TEST_FILE] if not os.path.isfile(os.path.join(folder, f))]
        if missing:
            raise DatasetError(f"cifar10: {folder} lacks {', '.join(missing)} (extract {URL})")
        train = [read_batch(os.path.join(folder, f)) for f in TRAIN_FILES]
        test = read_batch(os.path.join(folder, TEST_FILE))
        arrays = {"train": (_to_hwc(np.concatenate([b[0] for b in train])), np.concatenate([b[1] for b in train])),
                  "test": (_to_hwc(test[0]), test[1])}
        del train, test
        names, origin = _class_names(folder), folder
    sources = {s: ArraySource(x, y, SHAPE) for s, (x, y) in arrays.items()}
    return ImageDataset(name="cifar10", shape=SHAPE, value_range=(0.0, 1.0), num_classes=10, class_names=names,
                        sources=sources, notes=[f"read from {origin}"])
