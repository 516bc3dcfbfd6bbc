"""The sources behind an :class:`hvae.datasets.base.ImageDataset` (from :mod:`hvae.datasets.base`, which
re-exports every name here): where the pixels of one split come from, kept as stored until a batch is formed.

- :class:`Source`: the interface, ``load_batches`` (int64 indices -> raw ``(images, labels)`` batches);
- :class:`ArraySource`: uint8 (or float) numpy arrays, possibly memory-mapped ``.npy`` files or several arrays read
  as one, gathered a batch at a time in ``tf.numpy_function``;
- :class:`FileSource`: one image per file, read and decoded inside ``tf.data``;
- :class:`SubsetSource`: a fixed subset of another source (a held-out validation split, part of a split).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import tensorflow as tf

from hvae.errors import DatasetError

AUTOTUNE = tf.data.AUTOTUNE


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
    levels: int | None = 256  # distinct pixel values of the stored data (None: continuous)

    def load_batches(self, indices: tf.data.Dataset, batch_size: int, drop_remainder: bool) -> tf.data.Dataset:
        """Turn a dataset of int64 indices into ``(raw_images (B, H, W, C), labels (B,))`` batches."""
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
            ``(H, W, C, N)``: pass ``axis=3, transpose=(3, 0, 1, 2)``. May also be a list or tuple of
            such arrays (all of one dtype), read as if concatenated along ``axis`` without copying them
            (``.npy`` chunks of LSUN, SVHN ``train+extra``).
        labels: int64 ``(N,)`` or None.
        shape: ``(H, W, C)`` of one image.
        axis: the axis of ``images`` that indexes examples.
        transpose: permutation applied after the gather to give ``(B, H, W, C)``.
        raw_max: the raw value that maps to the top of ``value_range``; default 255 for uint8 arrays and
            1.0 for float arrays (binarized MNIST passes 1 for its uint8 {0, 1} pixels).

    Raises:
        DatasetError: labels and images disagree in number, or the arrays of a list differ in dtype.
    """

    def __init__(self, images, labels, shape, axis: int = 0, transpose: Sequence[int] | None = None,
                 raw_max: float | None = None):
        self.images = images
        arrays = list(images) if isinstance(images, (list, tuple)) else [images]
        if not arrays:
            raise DatasetError("ArraySource needs at least one array")
        self._arrays = arrays
        self._offsets = np.cumsum([0] + [int(a.shape[axis]) for a in arrays])
        self.labels = None if labels is None else np.asarray(labels, np.int64)
        self.shape = tuple(int(s) for s in shape)
        self.axis = axis
        self.transpose = transpose
        self.size = int(self._offsets[-1])
        self.dtype = np.dtype(arrays[0].dtype)
        if any(np.dtype(a.dtype) != self.dtype for a in arrays):
            raise DatasetError(f"arrays of one split differ in dtype: {sorted({str(a.dtype) for a in arrays})}")
        self.raw_max = float(raw_max) if raw_max is not None else (255.0 if self.dtype == np.uint8 else 1.0)
        if self.labels is not None and len(self.labels) != self.size:
            raise DatasetError(f"{len(self.labels)} labels for {self.size} images")
        if self.dtype == np.uint8:
            self.levels = int(self.raw_max) + 1  # 256 for 8-bit images, 2 for {0, 1} pixels
        else:
            self.levels = None  # floats (LSUN .npy chunks): no known quantisation

    def _take(self, array, idx: np.ndarray) -> np.ndarray:
        # Fancy indexing, not np.take: np.take first copies a non-C-contiguous array whole (the Fortran-
        # ordered SVHN .mat arrays: 1.6 GB for extra, at every batch).
        return array[(slice(None),) * self.axis + (idx,)]

    def _take_sorted(self, idx: np.ndarray) -> np.ndarray:
        """Gather ``idx`` (sorted ascending) along ``axis`` from the (virtually concatenated) arrays."""
        if len(self._arrays) == 1:
            return self._take(self._arrays[0], idx)
        chunk = np.searchsorted(self._offsets, idx, side="right") - 1
        parts = [self._take(self._arrays[c], idx[chunk == c] - self._offsets[c]) for c in np.unique(chunk)]
        return parts[0] if len(parts) == 1 else np.concatenate(parts, axis=self.axis)

    def _gather(self, idx: np.ndarray) -> np.ndarray:
        # Sorted reads are much faster on memory-mapped files; restore the requested order afterwards.
        order = np.argsort(idx, kind="stable")
        batch = self._take_sorted(idx[order])
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
        skip_errors: drop an image whose read or decode fails inside the pipeline
            (``Dataset.ignore_errors(log_warning=True)`` after the decode map) instead of stopping the
            iteration. Loaders check every file's structure at load time (:func:`check_image_files`);
            this is the safety net for a corrupt file that passes that check. A batch then takes the
            next image instead, so an epoch may have slightly fewer than ``size`` images.
    """

    def __init__(self, paths: Sequence[str], labels, decode: Callable[[tf.Tensor], tf.Tensor],
                 skip_errors: bool = False):
        self.paths = [str(p) for p in paths]
        self.labels = None if labels is None else np.asarray(labels, np.int64)
        self.decode = decode
        self.size = len(self.paths)
        self.skip_errors = skip_errors

    def load_batches(self, indices, batch_size, drop_remainder):
        paths = tf.constant(self.paths)

        def load(i):
            return self.decode(tf.io.read_file(tf.gather(paths, i))), tf.squeeze(self.label_tensor(tf.reshape(i, [1])), 0)

        ds = indices.map(load, num_parallel_calls=AUTOTUNE)
        if self.skip_errors:
            ds = ds.ignore_errors(log_warning=True)
        return ds.batch(batch_size, drop_remainder=drop_remainder)


class SubsetSource(Source):
    """A fixed subset of another source's images, in the order of ``indices`` (a held-out split).

    Args:
        parent: the source to take the images from.
        indices: int64 positions in ``parent`` (``(n,)``).
    """

    def __init__(self, parent: Source, indices):
        self.parent = parent
        self.indices = np.asarray(indices, np.int64)
        self.size = len(self.indices)
        self.raw_max = parent.raw_max
        self.levels = parent.levels
        self.labels = None if parent.labels is None else parent.labels[self.indices]

    def load_batches(self, indices, batch_size, drop_remainder):
        table = tf.constant(self.indices)
        return self.parent.load_batches(indices.map(lambda i: tf.gather(table, i)), batch_size, drop_remainder)
