"""``folder``: images in class folders, the layout of the VAE collection (``ALPHAYA-Japan/vae``).

Reproduces ``utils/loader.py`` of that original (spec ``vae_collection_and_simple_lvae.md`` §A.3, §A.10,
§A.11 items 14-16): ``db_path/train_data/<class>/<image>`` (and ``db_path/test_data/<class>/<image>``),
label = the position of the class folder in the sorted list of class folders, each image read in colour
with OpenCV exactly as the original (``cv2.imdecode`` colour, BGR -> RGB, ``cv2.resize`` to 32x32 with
``INTER_LINEAR``), scaled to [0, 1] (x / 255). The original's MNIST is such a folder tree of PNGs
(``data/MNIST.zip``): its pixels come out identical.

Fixed defects (``docs/fidelity.md``, section Datasets): classes are the non-hidden **sub-directories** only (the
original counted every entry, ``.DS_Store`` included, which added a bogus class); image files are matched by
extension case-insensitively (png/jpg/jpeg/bmp/webp; the original's ``*g`` glob missed ``.PNG`` and caught
any name ending in g); hidden files are ignored.

Splits: ``test_data`` is the test split when it exists (the original never read it); otherwise a fixed
20% of ``train_data`` (seed 0) is held out, as the original's 20% validation split.
"""

from __future__ import annotations

import numbers
import os

import numpy as np

from hvae.errors import DatasetError

from .base import (
    FileSource,
    ImageDataset,
    check_image_files,
    list_images,
    require_dir,
    split_fixed,
)

HELD_OUT = 0.2
LAYOUT = "train_data/<class>/*.png (and test_data/<class>/*.png)"


def class_folders(root: str) -> list:
    """Names of the non-hidden sub-directories of ``root``, sorted (the class order)."""
    with os.scandir(root) as it:
        return sorted(e.name for e in it if e.is_dir() and not e.name.startswith("."))


def scan_split(root: str, classes: list | None = None):
    """List the images of one split folder.

    Args:
        root: ``train_data`` or ``test_data``.
        classes: the class names (from ``train_data``); None to take ``root``'s own sub-directories.

    Returns:
        ``(classes, paths, labels)``: class names; readable image paths sorted by class then name;
        int64 labels (index in ``classes``).

    Raises:
        DatasetError: no class folder; a class folder of ``test_data`` unknown to ``train_data``; a
            class folder with no image file or no readable image.
    """
    own = class_folders(root)
    if not own:
        raise DatasetError(f"folder: {root} has no class sub-folder (expected {LAYOUT})")
    if classes is None:
        classes = own
    unknown = [c for c in own if c not in classes]
    if unknown:
        raise DatasetError(f"folder: {root} has class folder(s) {', '.join(unknown)} that train_data lacks")
    paths, labels = [], []
    for c in own:
        class_dir = os.path.join(root, c)
        found = list_images(class_dir)
        if not found:
            raise DatasetError(f"folder: class folder {class_dir} holds no image (.png/.jpg/.jpeg/.bmp/.webp)")
        found = check_image_files(found, f"folder class {c!r}")
        paths += found
        labels += [classes.index(c)] * len(found)
    return classes, paths, np.asarray(labels, np.int64)


def decode_with_opencv(contents: bytes, image_size: int, channels: int) -> np.ndarray:
    """The original loader's decoding, with OpenCV: bytes -> uint8 ``(image_size, image_size, channels)``.

    Colour (``channels=3``): ``cv2.imdecode(IMREAD_COLOR)`` (grey images repeated, alpha dropped), BGR -> RGB;
    grey (``channels=1``): ``IMREAD_GRAYSCALE``; then ``cv2.resize(INTER_LINEAR)``, the original's call.

    Raises:
        ValueError: the bytes are not an image OpenCV can decode.
    """
    import cv2

    data = np.frombuffer(contents, np.uint8)
    img = cv2.imdecode(data, cv2.IMREAD_COLOR if channels == 3 else cv2.IMREAD_GRAYSCALE)
    if img is None:
        raise ValueError("not an image OpenCV can decode")
    if channels == 3:
        img = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
    img = cv2.resize(img, (image_size, image_size), interpolation=cv2.INTER_LINEAR)
    return img.reshape(image_size, image_size, channels)


def make_decoder(image_size: int, channels: int):
    """The per-image ``tf.data`` function: bytes -> uint8 ``(image_size, image_size, channels)``, decoded and
    resized by OpenCV (:func:`decode_with_opencv`, inside ``tf.numpy_function``) so that the pixels are the
    original loader's, bit for bit.
    """
    import tensorflow as tf

    def decode(contents):
        img = tf.numpy_function(lambda b: decode_with_opencv(b, image_size, channels), [contents], tf.uint8,
                                stateful=False)
        img.set_shape((image_size, image_size, channels))
        return img

    return decode


def load(db_path=None, image_size: int = 32, channels: int = 3) -> ImageDataset:
    """Load an image-folder dataset.

    Args:
        db_path: the folder holding ``train_data/`` (and optionally ``test_data/``).
        image_size: side of the square output (32 as the original).
        channels: 3 (colour, the original) or 1 (grey).

    Returns:
        ImageDataset ``folder``: ``image_size`` x ``image_size`` x ``channels`` in [0, 1], labels = class
        index, ``class_names`` = the folder names.

    Raises:
        DatasetError: bad options; missing or empty ``db_path``; no ``train_data``; see :func:`scan_split`.
            Images failing the structural check are skipped with a warning and a count; a corrupt image
            passing it is dropped by the pipeline.
    """
    if isinstance(image_size, bool) or not isinstance(image_size, numbers.Integral) or image_size < 1:
        raise DatasetError(f"folder: image_size must be a positive integer, not {image_size!r}")
    image_size = int(image_size)
    if channels not in (1, 3):
        raise DatasetError(f"folder: channels must be 1 or 3, not {channels!r}")
    root = require_dir(db_path, "folder", LAYOUT)
    train_dir, test_dir = os.path.join(root, "train_data"), os.path.join(root, "test_data")
    if not os.path.isdir(train_dir):
        raise DatasetError(f"folder: {root} has no train_data folder (expected {LAYOUT})")
    classes, paths, labels = scan_split(train_dir)
    decode = make_decoder(image_size, channels)
    notes = [f"{len(classes)} classes: {', '.join(classes[:10])}{' ...' if len(classes) > 10 else ''}"]
    if os.path.isdir(test_dir):
        _, test_paths, test_labels = scan_split(test_dir, classes)
        train = FileSource(paths, labels, decode, skip_errors=True)
        test = FileSource(test_paths, test_labels, decode, skip_errors=True)
        notes.append(f"test split = {test_dir}")
    else:
        train_idx, test_idx = split_fixed(len(paths), 1.0 - HELD_OUT, seed=0)
        if not len(train_idx) or not len(test_idx):
            raise DatasetError(f"folder: {train_dir} holds {len(paths)} readable image(s), too few to hold out "
                               f"20% as a test split (add a test_data folder or more images)")
        train = FileSource([paths[i] for i in train_idx], labels[train_idx], decode, skip_errors=True)
        test = FileSource([paths[i] for i in test_idx], labels[test_idx], decode, skip_errors=True)
        notes.append(f"no test_data folder: a fixed 20% of train_data (seed 0, {len(test_idx):,} images) is the test split")
    return ImageDataset(name="folder", shape=(image_size, image_size, channels), value_range=(0.0, 1.0),
                        num_classes=len(classes), class_names=classes, sources={"train": train, "test": test},
                        notes=notes)
