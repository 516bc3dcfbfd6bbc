"""The one interface every dataset loader returns, and the two kinds of source behind it (those in
:mod:`hvae.datasets.sources`, re-exported here).

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
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import tensorflow as tf

from hvae.errors import DatasetError

from .sources import AUTOTUNE, ArraySource, FileSource, Source, SubsetSource  # noqa: F401  (re-exported)

DEFAULT_VALIDATION_FRACTION = 0.1   # held out for validation where a dataset has no validation split
MAX_DEFAULT_VALIDATION = 10_000


def warn(message: str) -> None:
    """Print a one-line warning on stderr (loaders use it for skipped files)."""
    print(f"warning: {message}", file=sys.stderr)


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
        """Number of training images."""
        return self.sources["train"].size

    @property
    def test_size(self) -> int:
        """Number of test images."""
        return self.sources["test"].size

    @property
    def splits(self) -> list:
        """Names of the splits (``train``, ``test``, and ``validation`` where there is one)."""
        return list(self.sources)

    @property
    def labelled(self) -> bool:
        """Whether the images have class labels."""
        return self.num_classes is not None

    @property
    def levels(self) -> int | None:
        """Distinct values a pixel takes in the stored data: 2 (binary), 256 (8-bit images) or None
        (continuous, e.g. LSUN's float ``.npy`` chunks)."""
        return self.sources["train"].levels

    @property
    def binary(self) -> bool:
        """Whether every pixel is 0 or 1 (statically binarized data): a Bernoulli likelihood is then a
        probability of the data; on grey levels it is only a cross-entropy."""
        return self.levels == 2

    # ---- held-out splits ---------------------------------------------------------------------------
    def with_validation(self, size: int | None = None, *, seed: int = 0) -> ImageDataset:
        """This dataset with the ``validation`` split used for model selection and monitoring.

        Args:
            size: None: the dataset's own validation split where it has one, else a fixed random
                :data:`DEFAULT_VALIDATION_FRACTION` of the training images (at most
                :data:`MAX_DEFAULT_VALIDATION`, at least 1) held out from training; 0: no validation
                split (a dataset's own one is dropped); N: N images (a fixed random subset of the own
                validation split, or N training images held out).
            seed: seed of the fixed random choice (the same images for every run).

        Returns:
            a new :class:`ImageDataset` (this one is unchanged); ``notes`` say what was held out.

        Raises:
            DatasetError: a negative size, or one that leaves no training image or exceeds the own split.
        """
        sources = dict(self.sources)
        notes = list(self.notes)
        own = sources.get("validation")
        if size is not None and size < 0:
            raise DatasetError(f"--validation_size must be 0 or more, got {size}")
        if size == 0:
            sources.pop("validation", None)
            notes.append("no validation split (--validation_size=0): nothing is held out for model selection")
        elif own is not None:
            if size is not None and size != own.size:
                if size > own.size:
                    raise DatasetError(f"--validation_size {size:,} exceeds {self.name}'s validation split of "
                                       f"{own.size:,} images")
                pick = np.sort(np.random.RandomState(seed).permutation(own.size)[:size])
                sources["validation"] = SubsetSource(own, pick)
                notes.append(f"validation: a fixed {size:,} of the dataset's {own.size:,} validation images")
        else:
            train = sources["train"]
            n = size if size is not None else min(MAX_DEFAULT_VALIDATION,
                                                  max(1, int(round(train.size * DEFAULT_VALIDATION_FRACTION))))
            if n >= train.size:
                raise DatasetError(f"--validation_size {n:,} leaves no training image ({self.name} has "
                                   f"{train.size:,})")
            held, kept = split_fixed(train.size, n / train.size, seed=seed)
            sources["train"] = SubsetSource(train, kept)
            sources["validation"] = SubsetSource(train, held)
            notes.append(f"validation: a fixed random {len(held):,} of the {train.size:,} training images held out "
                         f"(--validation_size; seed {seed})")
        return ImageDataset(name=self.name, shape=self.shape, value_range=self.value_range,
                            num_classes=self.num_classes, sources=sources, class_names=self.class_names, notes=notes)

    def subset(self, split: str, n: int, *, seed: int = 0) -> ImageDataset:
        """This dataset with ``split`` cut to a fixed random ``n`` of its images (evaluation on part of a split).

        Raises:
            DatasetError: unknown split, or ``n`` < 1.
        """
        source = self._source(split)
        if n < 1:
            raise DatasetError(f"--num_images must be at least 1, got {n}")
        if n >= source.size:
            return self
        pick = np.sort(np.random.RandomState(seed).permutation(source.size)[:n])
        sources = {**self.sources, split: SubsetSource(source, pick)}
        notes = self.notes + [f"{split}: a fixed random {n:,} of its {source.size:,} images (seed {seed})"]
        return ImageDataset(name=self.name, shape=self.shape, value_range=self.value_range,
                            num_classes=self.num_classes, sources=sources, class_names=self.class_names, notes=notes)

    # ---- pipelines ---------------------------------------------------------------------------------
    def batches(self, split: str = "train", batch_size: int = 100, *, shuffle: bool = False, seed: int | None = None,
                drop_remainder: bool = False, skip_batches: int = 0, with_labels: bool = True,
                prefetch: bool = True, shard: tuple | None = None) -> tf.data.Dataset:
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
            shard: ``(first, count, total)``: split each batch of ``batch_size * total`` indices (after the
                shuffle, and the skip of ``skip_batches`` such batches) into ``total`` slices of ``batch_size`` and
                keep slices ``first .. first + count - 1``, one batch each, in order. A worker of a multi-worker job
                reads only its replicas' images, and every global batch holds the same images as in a
                one-process run with the same seed (``drop_remainder`` is implied).

        Returns:
            ``tf.data.Dataset`` of float32 ``(B, H, W, C)`` images in ``value_range`` (and int64 ``(B,)`` labels).

        Raises:
            DatasetError: unknown split.
        """
        source = self._source(split)
        indices = tf.data.Dataset.range(source.size)
        if shuffle:
            indices = indices.shuffle(source.size, seed=seed, reshuffle_each_iteration=False)
        if shard is not None:
            first, count, total = (int(v) for v in shard)
            if not (0 <= first and count >= 1 and first + count <= total):
                raise DatasetError(f"shard {shard} is not (first, count, total) with first + count <= total")
            if skip_batches:
                indices = indices.skip(skip_batches * batch_size * total)
            lo, hi = first * batch_size, (first + count) * batch_size
            indices = indices.batch(batch_size * total, drop_remainder=True).map(lambda idx: idx[lo:hi]).unbatch()
            drop_remainder = True
        elif skip_batches:
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
def require_dir(db_path, name: str, expected: str, source: str | None = None) -> str:
    """Check that ``db_path`` is a non-empty directory.

    Args:
        db_path: the ``--db_path`` given (None or ``''``: not given).
        name: the dataset's name, for the message.
        expected: what the folder should hold (``"train_32x32.mat, test_32x32.mat"``).
        source: where to get those files (an address and what to download there); every message ends with it.

    Raises:
        DatasetError: ``db_path`` is None, missing, not a directory or empty; the one-line message says what
            the folder should hold (``expected``), where to get it (``source``) and to pass it with --db_path.
    """
    get = f"; get them from {source}" if source else ""
    if db_path is None or str(db_path) == "":
        raise DatasetError(f"dataset {name} needs --db_path: a folder with {expected}{get}, then pass "
                           f"--db_path=/path/to/that/folder")
    path = os.path.expanduser(str(db_path))
    if not os.path.exists(path):
        raise DatasetError(f"--db_path {os.path.abspath(path)} does not exist (dataset {name} expects a folder "
                           f"with {expected}{get})")
    if not os.path.isdir(path):
        raise DatasetError(f"--db_path {os.path.abspath(path)} is not a folder (dataset {name} expects a folder "
                           f"with {expected}{get})")
    if not any(not e.startswith(".") for e in os.listdir(path)):
        raise DatasetError(f"--db_path {os.path.abspath(path)} is empty (dataset {name} expects {expected}{get})")
    return path


def split_fixed(n: int, fraction: float, seed: int = 0):
    """A fixed random split of ``range(n)``: returns ``(first, second)`` index arrays, sorted,
    with ``round(n * fraction)`` indices in ``first``."""
    perm = np.random.RandomState(seed).permutation(n)
    k = int(round(n * fraction))
    return np.sort(perm[:k]), np.sort(perm[k:])


def describe_count(n: int, noun: str) -> str:
    """``"1 image"`` / ``"10,002 images"``."""
    return f"{n:,} {noun}" if n == 1 else f"{n:,} {noun}s"


# --------------------------------------------------------------------------------------------------
# Image files: listing, a fast structural check, decoding inside tf.data
# --------------------------------------------------------------------------------------------------
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".webp")
_TAIL_BYTES = 1024  # how far from the end an end marker (JPEG EOI, PNG IEND) may sit: trailing padding


def is_image_name(name: str, extensions: Sequence[str] = IMAGE_EXTENSIONS) -> bool:
    """True for a non-hidden file name with one of ``extensions`` (case-insensitive)."""
    return not name.startswith(".") and name.lower().endswith(tuple(extensions))


def list_images(folder: str, recursive: bool = False, extensions: Sequence[str] = IMAGE_EXTENSIONS) -> list:
    """Image files of ``folder``, sorted by path, hidden files and hidden folders left out.

    Args:
        folder: the folder to list.
        recursive: also list sub-folders (LSUN's ``export`` writes nested folders).
        extensions: accepted endings, matched case-insensitively.

    Returns:
        sorted list of full paths (sorted by the path relative to ``folder``).
    """
    if not recursive:
        with os.scandir(folder) as it:
            return sorted(os.path.join(folder, e.name) for e in it if is_image_name(e.name, extensions) and e.is_file())
    found = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        found += [os.path.join(root, f) for f in files if is_image_name(f, extensions)]
    return sorted(found, key=lambda p: os.path.relpath(p, folder))


def image_file_problem(path: str) -> str | None:
    """A fast structural check of one image file, reading only its first and last bytes.

    JPEG: starts with ``FF D8 FF`` and the end-of-image marker ``FF D9`` lies in the last 1 KiB (so
    trailing padding is allowed; a truncated JPEG ends in entropy-coded data, where ``FF D9`` cannot
    occur). PNG: the 8-byte signature and an ``IEND`` chunk in the last 1 KiB. BMP: ``BM`` and a declared
    file size not larger than the file. WebP: ``RIFF....WEBP`` and a RIFF size that fits in the file.
    The format is recognised by content, not by the file's extension.

    Returns:
        None if the file looks complete, else a short reason (``"truncated JPEG (no end marker)"``).
        A file that passes can still fail to decode; :class:`FileSource` ``skip_errors`` covers that.
    """
    try:
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            head = f.read(32)
            f.seek(max(0, size - _TAIL_BYTES))
            tail = f.read()
    except OSError as err:
        return f"cannot be read ({err.strerror or err})"
    if size == 0:
        return "empty file"
    if head[:3] == b"\xff\xd8\xff":
        return None if b"\xff\xd9" in tail else "truncated JPEG (no end-of-image marker FFD9)"
    if head[:8] == b"\x89PNG\r\n\x1a\n":
        return None if b"IEND" in tail else "truncated PNG (no IEND chunk)"
    if head[:2] == b"BM" and len(head) >= 14:
        declared = int.from_bytes(head[2:6], "little")
        return None if declared <= size else f"truncated BMP ({size:,} of {declared:,} bytes)"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        declared = int.from_bytes(head[4:8], "little") + 8
        return None if declared <= size else f"truncated WebP ({size:,} of {declared:,} bytes)"
    return "not a JPEG, PNG, BMP or WebP file"


def check_image_files(paths: Sequence[str], what: str) -> list:
    """Keep the files that pass :func:`image_file_problem`, warning about each one skipped.

    Each skipped file gets a warning naming it and the reason, then one summary line
    (``"celebA: skipped 2 unreadable images of 10,002"``).

    Args:
        paths: candidate image files.
        what: what the files are, for the messages (``"celebA"``, ``"folder class 'cat'"``).

    Returns:
        the good paths, in the given order.

    Raises:
        DatasetError: no file passes.
    """
    good, bad = [], 0
    for p in paths:
        problem = image_file_problem(p)
        if problem is None:
            good.append(p)
        else:
            bad += 1
            warn(f"{what}: skipping {p}: {problem}")
    if bad:
        warn(f"{what}: skipped {bad:,} unreadable {'image' if bad == 1 else 'images'} of {len(paths):,}")
    if not good:
        where = os.path.dirname(paths[0]) if paths else "?"
        raise DatasetError(f"{what}: no readable image in {where} ({describe_count(len(paths), 'file')} checked)")
    return good


def decode_rgb_or_grey(contents: tf.Tensor, channels: int = 3) -> tf.Tensor:
    """Decode a JPEG/PNG/BMP/WebP (TensorFlow ops) to uint8 ``(H, W, channels)``, as OpenCV's imread.

    ``channels=3``: grey images are repeated to 3 channels and an alpha channel is dropped
    (``cv2.IMREAD_COLOR``, whose BGR we flip to RGB). ``channels=1``: RGB is converted to grey with
    ``tf.image.rgb_to_grayscale`` (ITU-R 601 weights, as ``cv2.IMREAD_GRAYSCALE``; values can differ by 1).
    """
    img = tf.io.decode_image(contents, channels=0, expand_animations=False, dtype=tf.uint8)
    img = tf.cond(tf.shape(img)[2] >= 3, lambda: img[:, :, :3], lambda: tf.image.grayscale_to_rgb(img[:, :, :1]))
    img.set_shape((None, None, 3))
    if channels == 1:
        grey = tf.image.rgb_to_grayscale(tf.cast(img, tf.float32))
        img = tf.cast(tf.clip_by_value(tf.floor(grey + 0.5), 0.0, 255.0), tf.uint8)
    elif channels != 3:
        raise DatasetError(f"channels must be 1 or 3, not {channels!r}")
    return img


def resize_uint8(image: tf.Tensor, size: int, antialias: bool) -> tf.Tensor:
    """Bilinear resize (half-pixel centres) to ``(size, size)``, rounded back to uint8.

    ``antialias=True`` widens the filter when shrinking, as PIL's bilinear (``scipy.misc.imresize``);
    ``antialias=False`` is plain 2-tap bilinear, as OpenCV's ``INTER_LINEAR``. When no side shrinks the
    two agree (to 1e-4) and the plain kernel is used: TensorFlow's antialiased kernel costs about 0.5 ms
    of CPU per 89x109 CelebA image, more than all the rest of its decoding (0.33 ms).
    """
    size2 = (size, size)
    if antialias:
        shape = tf.shape(image)
        shrinks = tf.logical_or(shape[0] > size, shape[1] > size)
        x = tf.cond(shrinks, lambda: tf.image.resize(image, size2, method="bilinear", antialias=True),
                    lambda: tf.image.resize(image, size2, method="bilinear"))
    else:
        x = tf.image.resize(image, size2, method="bilinear")
    x = tf.cast(tf.clip_by_value(tf.floor(x + 0.5), 0.0, 255.0), tf.uint8)
    return tf.ensure_shape(x, (size, size, image.shape[-1]))


def centre_square(image: tf.Tensor) -> tf.Tensor:
    """The central square of side ``min(H, W)``; the offset ``(H - side) // 2`` rounds down."""
    shape = tf.shape(image)
    h, w = shape[0], shape[1]
    side = tf.minimum(h, w)
    return image[(h - side) // 2:(h - side) // 2 + side, (w - side) // 2:(w - side) // 2 + side]


# --------------------------------------------------------------------------------------------------
# TFDS fallback (mnist, binarized_mnist, cifar10 without --db_path)
# --------------------------------------------------------------------------------------------------
def _probe(url: str, timeout: float = 5.0) -> None:
    """Raise OSError fast when ``url``'s host cannot be reached (TFDS would retry for minutes)."""
    import socket
    from urllib.parse import urlparse

    if any(os.environ.get(v) for v in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy")):
        return  # behind a proxy a direct connection says nothing; let TFDS try
    host = urlparse(url).hostname
    socket.create_connection((host, 443), timeout=timeout).close()


def tfds_data_dir() -> str:
    """The folder TFDS prepares datasets in: ``TFDS_DATA_DIR``, else ``~/tensorflow_datasets``."""
    return os.environ.get("TFDS_DATA_DIR") or os.path.join(os.path.expanduser("~"), "tensorflow_datasets")


def tfds_prepared(name: str) -> bool:
    """Whether some version of TFDS dataset ``name`` is prepared in :func:`tfds_data_dir` (its
    ``dataset_info.json`` written), judged from the files alone, without importing TFDS."""
    import glob

    return bool(glob.glob(os.path.join(tfds_data_dir(), name, "*", "dataset_info.json")))


def load_tfds(name: str, splits: Sequence[str], *, hint: str, url: str) -> dict:
    """Read TFDS splits into numpy arrays, preparing the dataset first if it is not yet prepared.

    ``tfds.builder(name)`` uses ``TFDS_DATA_DIR`` (default ``~/tensorflow_datasets``); a dataset already
    prepared there is read without network. Otherwise a 5-second connection probe to ``url``'s host
    runs first, before TFDS is even imported, so that an offline machine fails at once (no download attempt,
    no library warning) instead of after minutes of retries.

    Args:
        name: TFDS name (``mnist``).
        splits: TFDS split names to read.
        hint: what a user should do instead, ending the error message
            (``"download ... from <url> and pass their folder with --db_path"``).
        url: the download address of the files (its host is probed).

    Returns:
        ``{split: {feature: numpy array}}`` (``image`` uint8 ``(N, H, W, C)``, ``label`` int64 ``(N,)``).

    Raises:
        DatasetError: one line naming the files to download and ``--db_path``, whatever went wrong
            (no tensorflow_datasets, no network, a failed download or read).
    """
    if not tfds_prepared(name):
        # nothing prepared on disk: a download is needed. Fail at once when the host cannot be reached, before
        # TFDS is imported (seconds) and logs its own warnings.
        try:
            _probe(url)
        except OSError as err:
            raise DatasetError(f"dataset {name}: not prepared in {tfds_data_dir()} and {url} cannot be reached "
                               f"({type(err).__name__}: {err}); {hint}") from None
    try:
        import absl.logging
        import tensorflow_datasets as tfds

        absl.logging.set_verbosity(absl.logging.ERROR)  # TFDS's notes about half-written folders
        builder = tfds.builder(name)
        if not builder.is_prepared():
            builder.download_and_prepare()
        out = {}
        for split in splits:
            parts = {}
            for batch in tfds.as_numpy(builder.as_dataset(split=split).batch(4096)):
                for key in ("image", "label"):
                    if key in batch:
                        parts.setdefault(key, []).append(batch[key])
            if "image" not in parts:
                raise ValueError(f"split {split!r} is empty")
            out[split] = {key: np.concatenate(v) for key, v in parts.items()}
        return out
    except Exception as err:  # noqa: BLE001 - every failure becomes the same actionable message
        reason = (str(err).strip().splitlines() or [""])[0][:160]
        raise DatasetError(
            f"dataset {name}: TFDS could not provide {name!r} ({type(err).__name__}: {reason}); {hint}") from None
