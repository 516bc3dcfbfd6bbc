"""The one interface every dataset loader returns, and the two kinds of source behind it.

A loader (one module per dataset in this package) finds and checks its files, then returns an
:class:`ImageDataset`. The dataset never holds a float32 copy of its images: a *source* keeps them as
uint8 arrays (or memory-mapped ``.npy`` files, or a list of image files decoded inside ``tf.data``), and
:meth:`ImageDataset.batches` converts to float32 only once a batch is formed.

Shapes and units
    images: float32, NHWC, values in ``value_range`` ((0, 1) or (-1, 1)).
    labels: int64 class indices in ``[0, num_classes)``, or absent where the dataset has none.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np
import tensorflow as tf

from hvae.errors import DatasetError

AUTOTUNE = tf.data.AUTOTUNE


def warn(message: str) -> None:
    """Print a one-line warning on stderr (loaders use it for skipped files)."""
    print(f"warning: {message}", file=sys.stderr)


# --------------------------------------------------------------------------------------------------
# Sources: where the pixels of one split come from
# --------------------------------------------------------------------------------------------------
class Source:
    """The images of one split, in a fixed order, before any conversion to float.

    Subclasses implement :meth:`load_batches`, which turns a dataset of int64 indices into a dataset of
    ``(raw_images, labels)`` batches, raw images being uint8 (or float in [0, 1] for ``.npy`` chunks)
    of shape ``(B, H, W, C)``.

    Attributes:
        size: number of images.
        labels: int64 array of shape ``(size,)``, or None for an unlabelled split.
        raw_max: the raw value that maps to the top of the range (255 for uint8, 1.0 for [0,1] floats).
    """

    size: int
    labels: np.ndarray | None
    raw_max: float = 255.0

    def load_batches(self, indices: tf.data.Dataset, batch_size: int, drop_remainder: bool) -> tf.data.Dataset:
        raise NotImplementedError

    def label_tensor(self, idx: tf.Tensor) -> tf.Tensor:
        """Labels of a batch of indices (zeros where the split has no labels)."""
        if self.labels is None:
            return tf.zeros_like(idx)
        return tf.gather(tf.constant(self.labels, tf.int64), idx)


class ArraySource(Source):
    """Images held in a numpy array (possibly memory-mapped), gathered a whole batch at a time.

    Gathering happens in ``tf.numpy_function`` on batches of indices, so the array is never embedded in
    the TensorFlow graph (no 2 GB limit) and never copied as float.

    Args:
        images: array indexable by an index array along ``axis``; ``take(idx)`` must yield
            ``(B, H, W, C)`` once ``transpose`` is applied. For SVHN the ``.mat`` layout is
            ``(H, W, C, N)``: pass ``axis=3, transpose=(3, 0, 1, 2)``.
        labels: int64 ``(N,)`` or None.
        shape: ``(H, W, C)`` of one image.
        axis: the axis of ``images`` that indexes examples.
        transpose: permutation applied after the gather to give ``(B, H, W, C)``.
    """

    def __init__(self, images, labels, shape, axis: int = 0, transpose: Sequence[int] | None = None):
        self.images = images
        self.labels = None if labels is None else np.asarray(labels, np.int64)
        self.shape = tuple(int(s) for s in shape)
        self.axis = axis
        self.transpose = transpose
        self.size = int(images.shape[axis])
        self.dtype = np.dtype(images.dtype)
        self.raw_max = 255.0 if self.dtype == np.uint8 else 1.0
        if self.labels is not None and len(self.labels) != self.size:
            raise DatasetError(f"{len(self.labels)} labels for {self.size} images")

    def _gather(self, idx: np.ndarray) -> np.ndarray:
        # Sorted reads are much faster on memory-mapped files; restore the requested order afterwards.
        order = np.argsort(idx, kind="stable")
        batch = np.take(self.images, idx[order], axis=self.axis)
        if self.transpose is not None:
            batch = np.transpose(batch, self.transpose)
        out = np.empty_like(batch)
        out[order] = batch
        return np.ascontiguousarray(out.reshape((len(idx),) + self.shape))

    def load_batches(self, indices, batch_size, drop_remainder):
        tf_dtype = tf.as_dtype(self.dtype)
        shape = self.shape

        def gather(idx):
            images = tf.numpy_function(self._gather, [idx], tf_dtype, stateful=False)
            images.set_shape((None,) + shape)
            return images, self.label_tensor(idx)

        return indices.batch(batch_size, drop_remainder=drop_remainder).map(gather, num_parallel_calls=AUTOTUNE)


class FileSource(Source):
    """Images stored one per file, read and decoded inside ``tf.data`` with parallel calls.

    Args:
        paths: file paths, in the split's order.
        labels: int64 ``(N,)`` or None.
        decode: ``decode(bytes) -> uint8 (H, W, C)`` built from TensorFlow ops (decode, crop, resize),
            with a static output shape.
    """

    def __init__(self, paths: Sequence[str], labels, decode: Callable[[tf.Tensor], tf.Tensor]):
        self.paths = [str(p) for p in paths]
        self.labels = None if labels is None else np.asarray(labels, np.int64)
        self.decode = decode
        self.size = len(self.paths)

    def load_batches(self, indices, batch_size, drop_remainder):
        paths = tf.constant(self.paths)

        def load(i):
            return self.decode(tf.io.read_file(tf.gather(paths, i))), tf.squeeze(self.label_tensor(tf.reshape(i, [1])), 0)

        return indices.map(load, num_parallel_calls=AUTOTUNE).batch(batch_size, drop_remainder=drop_remainder)


# --------------------------------------------------------------------------------------------------
# The dataset object every loader returns
# --------------------------------------------------------------------------------------------------
@dataclass
class ImageDataset:
    """A dataset with a train and a test split, served as float32 NHWC batches.

    Attributes:
        name: canonical name (``mnist``, ``celebA``, ...).
        shape: ``(H, W, C)`` of one image.
        value_range: ``(0, 1)`` or ``(-1, 1)``: the range of the float images the model sees.
        num_classes: number of classes, or None when the data has no labels.
        sources: ``{"train": Source, "test": Source, ...}``; a ``validation`` split where the original has one.
        class_names: names of the classes (folder names, digits), or None.
        notes: what the loader did that a user should know (the split, held-out images).
    """

    name: str
    shape: tuple
    value_range: tuple
    num_classes: int | None
    sources: dict
    class_names: list | None = None
    notes: list = field(default_factory=list)

    # ---- sizes -------------------------------------------------------------------------------------
    @property
    def train_size(self) -> int:
        return self.sources["train"].size

    @property
    def test_size(self) -> int:
        return self.sources["test"].size

    @property
    def splits(self) -> list:
        return list(self.sources)

    @property
    def labelled(self) -> bool:
        return self.num_classes is not None

    # ---- pipelines ---------------------------------------------------------------------------------
    def batches(self, split: str = "train", batch_size: int = 100, *, shuffle: bool = False, seed: int | None = None,
                drop_remainder: bool = False, skip_batches: int = 0, with_labels: bool = True,
                prefetch: bool = True) -> tf.data.Dataset:
        """One pass over a split as float32 batches.

        Shuffling permutes indices before anything is read, so it costs nothing for large sets, and
        ``skip_batches`` skips whole batches before they are read (resuming mid-epoch is cheap).

        Args:
            split: ``train``, ``test`` (or ``validation`` where it exists).
            batch_size: images per batch.
            shuffle: permute the split (seeded by ``seed``; a fresh permutation for each new dataset).
            drop_remainder: drop a last, smaller batch.
            skip_batches: number of leading batches to leave out.
            with_labels: yield ``(images, labels)``; otherwise ``images`` only.

        Returns:
            ``tf.data.Dataset`` of float32 ``(B, H, W, C)`` images in ``value_range`` (and int64 ``(B,)`` labels).

        Raises:
            DatasetError: unknown split.
        """
        source = self._source(split)
        indices = tf.data.Dataset.range(source.size)
        if shuffle:
            indices = indices.shuffle(source.size, seed=seed, reshuffle_each_iteration=False)
        if skip_batches:
            indices = indices.skip(skip_batches * batch_size)
        ds = source.load_batches(indices, batch_size, drop_remainder)
        lo, hi = self.value_range
        scale = (hi - lo) / source.raw_max

        def to_float(images, labels):
            images = tf.cast(images, tf.float32) * scale + lo
            return (images, labels) if with_labels else images

        ds = ds.map(to_float, num_parallel_calls=AUTOTUNE)
        return ds.prefetch(AUTOTUNE) if prefetch else ds

    @property
    def train(self) -> tf.data.Dataset:
        """The training split, unbatched: ``(image (H,W,C) float32, label int64)`` in file order."""
        return self.batches("train", 256).unbatch()

    @property
    def test(self) -> tf.data.Dataset:
        """The test split, unbatched: ``(image, label)`` in file order."""
        return self.batches("test", 256).unbatch()

    def take(self, split: str, n: int, *, seed: int | None = 0, with_labels: bool = False):
        """The first ``n`` images of a split (after a seeded shuffle, or in file order if ``seed`` is None).

        Returns:
            float32 numpy ``(n, H, W, C)`` (and int64 labels ``(n,)`` with ``with_labels``).
        """
        n = min(n, self._source(split).size)
        images, labels = next(iter(self.batches(split, n, shuffle=seed is not None, seed=seed)))
        return (images.numpy(), labels.numpy()) if with_labels else images.numpy()

    def to_display(self, x):
        """Map model values (``value_range``) to [0, 1] for plotting, clipping what falls outside."""
        lo, hi = self.value_range
        return np.clip((np.asarray(x, np.float32) - lo) / (hi - lo), 0.0, 1.0)

    def describe(self) -> str:
        """A one-line summary: name, shape, range, split sizes."""
        h, w, c = self.shape
        parts = [f"{self.name}: {h}x{w}x{c} in [{self.value_range[0]:g},{self.value_range[1]:g}]"]
        parts += [f"{split} {src.size:,}" for split, src in self.sources.items()]
        if self.num_classes:
            parts.append(f"{self.num_classes} classes")
        return ", ".join(parts)

    def _source(self, split: str) -> Source:
        if split not in self.sources:
            raise DatasetError(f"dataset {self.name} has no split {split!r}; it has {', '.join(self.sources)}")
        return self.sources[split]


# --------------------------------------------------------------------------------------------------
# Helpers shared by loaders
# --------------------------------------------------------------------------------------------------
def require_dir(db_path, name: str, expected: str) -> str:
    """Check that ``db_path`` is a non-empty directory.

    Raises:
        DatasetError: ``db_path`` is None, missing, not a directory or empty; the message says what
            the folder should hold (``expected``).
    """
    if db_path is None or str(db_path) == "":
        raise DatasetError(f"dataset {name} needs --db_path: a folder with {expected}")
    path = os.path.expanduser(str(db_path))
    if not os.path.exists(path):
        raise DatasetError(f"--db_path {path} does not exist (dataset {name} expects a folder with {expected})")
    if not os.path.isdir(path):
        raise DatasetError(f"--db_path {path} is not a folder (dataset {name} expects a folder with {expected})")
    if not any(not e.startswith(".") for e in os.listdir(path)):
        raise DatasetError(f"--db_path {path} is empty (dataset {name} expects {expected})")
    return path


def split_fixed(n: int, fraction: float, seed: int = 0):
    """A fixed random split of ``range(n)``: returns ``(first, second)`` index arrays, sorted,
    with ``round(n * fraction)`` indices in ``first``."""
    perm = np.random.RandomState(seed).permutation(n)
    k = int(round(n * fraction))
    return np.sort(perm[:k]), np.sort(perm[k:])
