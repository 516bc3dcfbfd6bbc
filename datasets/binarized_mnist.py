"""``binarized_mnist``: Larochelle & Murray's statically binarized MNIST, pixels in {0, 1}.

The standard benchmark of the Ladder VAE original (``addtt/ladder-vae-pytorch`` ``static_mnist``, spec
``lvae_and_vlae_laplace.md`` §1.8): ``binarized_mnist_{train,valid,test}.amat``, 50,000 / 10,000 /
10,000 images of 784 pixels each, no labels.

Files (``db_path``): the three ``.amat`` files, in either form, recognised by content, not by name:

* the original whitespace text (one image per line, 784 values 0/1), as on
  ``www.cs.toronto.edu/~larocheh/public/datasets/binarized_mnist/``;
* MATLAB v5 ``.mat`` (``scipy.io.loadmat(path)["X"]``, uint8 ``(N, 784)``), as the offline copy is,
  despite its ``.amat`` name.

Without ``db_path``: TFDS ``binarized_mnist`` (same 50k/10k/10k split).

Splits: ``train`` 50,000, ``validation`` 10,000, ``test`` 10,000; 28x28x1, values {0, 1} (uint8 in memory,
``value_range`` (0, 1)). ``train_split="train+valid"`` trains on all 60,000 as the Ladder-VAE original
(there is then no validation split). The test file is sorted by digit class: shuffle before taking a few.
"""

from __future__ import annotations

import os

import numpy as np

from hvae.errors import DatasetError

from .base import ArraySource, ImageDataset, load_tfds

SHAPE = (28, 28, 1)
PIXELS = 784
FILES = {"train": "binarized_mnist_train.amat", "validation": "binarized_mnist_valid.amat",
         "test": "binarized_mnist_test.amat"}
URL = "http://www.cs.toronto.edu/~larocheh/public/datasets/binarized_mnist/"
TRAIN_SPLITS = ("train", "train+valid")
_BLOCK_LINES = 2048


def _read_mat(path: str) -> np.ndarray:
    import scipy.io

    try:
        mat = scipy.io.loadmat(path, variable_names=["X"])
    except NotImplementedError:  # MATLAB v7.3 (HDF5)
        raise DatasetError(f"binarized_mnist: {path} is a MATLAB v7.3 (HDF5) file; save it as v5 "
                           f"(savemat) or as the original text .amat") from None
    except Exception as err:  # noqa: BLE001 - scipy raises several kinds for corrupt files
        raise DatasetError(f"binarized_mnist: cannot read {path} as a MATLAB file: {err}") from None
    if "X" not in mat:
        raise DatasetError(f"binarized_mnist: {path} has no variable 'X' (expected uint8 (N, 784) of 0/1)")
    x = mat["X"]
    if x.ndim != 2 or x.shape[1] != PIXELS:
        raise DatasetError(f"binarized_mnist: {path} 'X' has shape {x.shape}, expected (N, {PIXELS})")
    if x.size and (x.min() < 0 or x.max() > 1):
        raise DatasetError(f"binarized_mnist: {path} 'X' has values outside {{0, 1}} ({x.min()}..{x.max()})")
    return np.ascontiguousarray(x, dtype=np.uint8)


def _read_text(path: str, data: bytes) -> np.ndarray:
    """Parse the whitespace text form: a vectorised pass for one-character 0/1 tokens, with a
    line-by-line fallback (and exact line numbers) for anything else."""
    raw = np.frombuffer(data, np.uint8)
    newlines = np.flatnonzero(raw == ord("\n"))
    starts = np.concatenate([[0], newlines + 1])
    ends = np.concatenate([newlines, [len(raw)]])
    blocks = []
    for first in range(0, len(starts), _BLOCK_LINES):  # blocks of lines keep the temporaries small
        s, e = starts[first:first + _BLOCK_LINES], ends[first:first + _BLOCK_LINES]
        seg = raw[s[0]:e[-1]]
        is_digit = (seg == ord("0")) | (seg == ord("1"))
        is_space = (seg == ord(" ")) | (seg == ord("\t")) | (seg == ord("\r")) | (seg == ord("\n"))
        if not np.all(is_digit | is_space) or np.any(is_digit[1:] & is_digit[:-1]):
            blocks = None  # not plain one-character 0/1 tokens: the slow, general parse below
            break
        csum = np.concatenate([[0], np.cumsum(is_digit, dtype=np.int64)])
        counts = csum[e - s[0]] - csum[s - s[0]]
        wrong = np.flatnonzero((counts != 0) & (counts != PIXELS))
        if len(wrong):
            line = first + int(wrong[0])
            raise DatasetError(f"binarized_mnist: {path} line {line + 1} has {counts[wrong[0]]} values, expected {PIXELS}")
        blocks.append((seg[is_digit] - ord("0")).astype(np.uint8))
    if blocks is not None:
        values = np.concatenate(blocks)
        if not values.size:
            raise DatasetError(f"binarized_mnist: {path} holds no image")
        return values.reshape(-1, PIXELS)
    rows = []
    for i, line in enumerate(data.decode("ascii", errors="replace").splitlines()):
        tokens = line.split()
        if not tokens:
            continue
        if len(tokens) != PIXELS:
            raise DatasetError(f"binarized_mnist: {path} line {i + 1} has {len(tokens)} values, expected {PIXELS}")
        try:
            row = np.array(tokens, np.float64)
        except ValueError:
            raise DatasetError(f"binarized_mnist: {path} line {i + 1} has a value that is not a number") from None
        if not np.all((row == 0) | (row == 1)):
            raise DatasetError(f"binarized_mnist: {path} line {i + 1} has values other than 0 and 1")
        rows.append(row.astype(np.uint8))
    if not rows:
        raise DatasetError(f"binarized_mnist: {path} holds no image")
    return np.stack(rows)


def read_amat(path: str) -> np.ndarray:
    """Read one ``binarized_mnist_*.amat`` file in either of its two forms.

    Args:
        path: the file; a MATLAB v5 file is recognised by its ``MATLAB`` header text, anything else is
            parsed as the whitespace text form.

    Returns:
        uint8 ``(N, 784)`` of {0, 1}.

    Raises:
        DatasetError: a ``.mat`` without ``X``, of the wrong shape or with values outside {0, 1}; a text
            line without exactly 784 values (the message gives the line number) or with other values;
            an empty or unreadable file.
    """
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as err:
        raise DatasetError(f"binarized_mnist: cannot read {path}: {err.strerror or err}") from None
    if not data.strip():
        raise DatasetError(f"binarized_mnist: {path} is empty")
    if data[:6] == b"MATLAB":
        return _read_mat(path)
    return _read_text(path, data)


def load(db_path=None, train_split: str = "train") -> ImageDataset:
    """Load statically binarized MNIST.

    Args:
        db_path: folder with the three ``binarized_mnist_*.amat`` files (text or MATLAB v5); None
            reads TFDS ``binarized_mnist``.
        train_split: ``"train"`` (50,000, with a 10,000 ``validation`` split) or ``"train+valid"``
            (60,000, no validation split; the Ladder-VAE original).

    Returns:
        ImageDataset ``binarized_mnist``: 28x28x1, {0, 1}, ``value_range`` (0, 1), no labels
        (``num_classes`` None).

    Raises:
        DatasetError: unknown ``train_split``; missing or empty folder; missing files (listed);
            malformed files (see :func:`read_amat`); a failed TFDS download (one line naming the files).
    """
    if train_split not in TRAIN_SPLITS:
        raise DatasetError(f"binarized_mnist: train_split must be one of {', '.join(TRAIN_SPLITS)}, "
                           f"not {train_split!r}")
    if db_path is None or str(db_path) == "":
        hint = f"download {', '.join(FILES.values())} from {URL} into a folder and pass it with --db_path"
        data = load_tfds("binarized_mnist", list(FILES), hint=hint, url=URL)
        arrays = {s: data[s]["image"].reshape(-1, PIXELS).astype(np.uint8) for s in FILES}
        origin = "TFDS binarized_mnist"
    else:
        from .base import require_dir

        folder = require_dir(db_path, "binarized_mnist", ", ".join(FILES.values()), source=URL)
        missing = [f for f in FILES.values() if not os.path.isfile(os.path.join(folder, f))]
        if missing:
            raise DatasetError(f"binarized_mnist: {folder} lacks {', '.join(missing)}")
        arrays = {s: read_amat(os.path.join(folder, f)) for s, f in FILES.items()}
        origin = folder
    images = {s: a.reshape((-1,) + SHAPE) for s, a in arrays.items()}
    notes = [f"read from {origin}"]
    if train_split == "train+valid":
        sources = {"train": ArraySource([images["train"], images["validation"]], None, SHAPE, raw_max=1),
                   "test": ArraySource(images["test"], None, SHAPE, raw_max=1)}
        notes.append("train_split='train+valid': 60,000 training images (Ladder-VAE original), no validation split")
    else:
        sources = {s: ArraySource(images[s], None, SHAPE, raw_max=1) for s in ("train", "validation", "test")}
    return ImageDataset(name="binarized_mnist", shape=SHAPE, value_range=(0.0, 1.0), num_classes=None,
                        sources=sources, notes=notes)
