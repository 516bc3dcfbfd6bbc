"""``celebA``: CelebA "Aligned & Cropped" faces, centre-cropped and resized to 64x64x3, in [-1, 1].

Reproduces ``dataset/dataset_celeba.py`` of the VLadder original (spec ``vladder_original.md`` §2.3,
``CelebADataset(db_path, crop=True)``) with its defects fixed (see ``docs/fidelity.md``, section Datasets):

* files: a flat folder of jpgs (``img_align_celeba/000001.jpg`` ...), **sorted by name** (the original's
  glob was unsorted, so its split depended on the file system); any number of files (the original
  refused fewer than 100,000);
* split: the first ``floor(0.8 N)`` files are train, the rest test (202,599 files: 162,079 / 40,520);
* option ``crop``: the side of the centre crop on a 178-pixel-wide image, 108 by default (VLadder); 148 is the
  Ladder VAE original's ``CenterCrop(148)`` (addtt/ladder-vae-pytorch ``experiment/data.py``, spec
  ``lvae_and_vlae_laplace.md`` §1.8), scaled the same way (74 px on the 89x109 copy);
* per image, inside ``tf.data``: decode; centre crop of a square of side ``round(108 / 178 * W)`` (108 px
  on the 178x218 originals, 54 px on the 89x109 half-size copy) whose top-left corner is
  ``(round((H - side) / 2), round((W - side) / 2))``; resize to ``image_size`` (64) with bilinear
  interpolation and antialiasing (``tf.image.resize(antialias=True)``, close to PIL's bilinear used by
  ``scipy.misc.imresize``); kept uint8 until the batch is formed; mapped to [-1, 1] as ``x / 127.5 - 1``.

Rounding: every ``round`` above rounds halves up (``floor(x + 0.5)``, computed in integers), as
Python 2's ``round`` of the original. Python 3's ``round`` (halves to even) gives the same numbers for
both CelebA sizes: 178x218 has no halves (side 108, offsets 55 and 35) and on 89x109 the halves 27.5 and
17.5 round to 28 and 18 either way (side 54.0 is exact).

``minmax_stretch=True`` reproduces a side effect of the original: ``imresize`` on a float crop
min-max stretches the crop (all channels together) to 0..255 before resizing (scipy ``bytescale``). The loader's
default is False (the data as stored); VLadder's runs turn it on by default (``Family.dataset_options`` of
``hvae/vladder_task.py``), since the published VLadder CelebA models were trained on stretched crops.
"""

from __future__ import annotations

import numbers

import tensorflow as tf

from hvae.errors import DatasetError

from .base import (
    FileSource,
    ImageDataset,
    check_image_files,
    decode_rgb_or_grey,
    list_images,
    require_dir,
    resize_uint8,
)

# the original README's address; the "Align&Cropped Images" archive img_align_celeba.zip
SOURCE = "http://mmlab.ie.cuhk.edu.hk/projects/CelebA.html (Align&Cropped Images: img_align_celeba.zip, unzipped)"

TRAIN_FRACTION = 0.8
CROP_NUM, CROP_DEN = 108, 178  # the original's 108 px crop of a 178 px wide image
LVAE_CROP = 148                # the Ladder VAE original's CenterCrop(148) of the 178x218 images


def crop_box(height, width, crop: int = CROP_NUM):
    """The original's centre crop, scaled to the image width.

    Works on Python ints and on int32 tensors alike.

    Args:
        crop: the crop's side on a 178-pixel-wide image (108 VLadder, 148 the Ladder VAE original).
    Returns:
        ``(top, left, side)``: ``side = round(crop / 178 * width)`` (not larger than ``height``),
        ``top = round((height - side) / 2)``, ``left = round((width - side) / 2)``, halves rounded up (for
        both crops and both CelebA sizes this equals torchvision's ``CenterCrop`` offsets).
    """
    side = (2 * crop * width + CROP_DEN) // (2 * CROP_DEN)
    if isinstance(side, int):
        side = min(side, height)
    else:
        side = tf.minimum(side, height)
    return (height - side + 1) // 2, (width - side + 1) // 2, side


def make_decoder(image_size: int = 64, minmax_stretch: bool = False, crop: int = CROP_NUM):
    """The per-image ``tf.data`` function: jpg bytes -> uint8 ``(image_size, image_size, 3)``.

    Args:
        image_size: output side in pixels.
        minmax_stretch: stretch each crop to 0..255 before resizing, as ``scipy.misc.imresize`` did to
            the original's float crops (``(x - min) * 255 / (max - min)``, +0.5, truncated to uint8).
        crop: centre-crop side on a 178-pixel-wide image (see :func:`crop_box`).
    """
    crop_side = int(crop)

    def decode(contents):
        img = decode_rgb_or_grey(contents, 3)
        shape = tf.shape(img)
        top, left, side = crop_box(shape[0], shape[1], crop_side)
        crop = img[top:top + side, left:left + side]
        if minmax_stretch:
            x = tf.cast(crop, tf.float32)
            lo, hi = tf.reduce_min(x), tf.reduce_max(x)
            scale = 255.0 / tf.where(hi > lo, hi - lo, 1.0)
            crop = tf.cast(tf.clip_by_value((x - lo) * scale, 0.0, 255.0) + 0.5, tf.uint8)
        crop.set_shape((None, None, 3))
        return resize_uint8(crop, image_size, antialias=True)

    return decode


def load(db_path=None, image_size: int = 64, minmax_stretch: bool = False, crop: int = CROP_NUM) -> ImageDataset:
    """Load CelebA from a flat folder of aligned-and-cropped images.

    Args:
        db_path: the ``img_align_celeba`` folder (jpg; png/bmp/webp are also accepted), any size of image.
        image_size: output side (64 as VLadder; the VAE collection trains CelebA at 32).
        minmax_stretch: reproduce the original's per-image min-max stretch (default False).
        crop: side of the centre crop on a 178-pixel-wide image: 108 (default, VLadder) or 148 (the Ladder VAE
            original), any integer 1..178.

    Returns:
        ImageDataset ``celebA``: ``image_size`` x ``image_size`` x 3 in [-1, 1], no labels; train = the
        first ``floor(0.8 N)`` readable files in name order, test = the rest.

    Raises:
        DatasetError: missing or empty folder, no image file in it, no readable image, bad
            ``image_size`` or ``crop``. Files that fail the structural check are skipped with a warning each and a
            count; a corrupt file that passes is dropped by the pipeline (``FileSource(skip_errors=True)``).
    """
    if isinstance(image_size, bool) or not isinstance(image_size, numbers.Integral) or image_size < 1:
        raise DatasetError(f"celebA: image_size must be a positive integer, not {image_size!r}")
    image_size = int(image_size)
    if isinstance(crop, bool) or not isinstance(crop, numbers.Integral) or not 1 <= crop <= CROP_DEN:
        raise DatasetError(f"celebA: crop must be an integer from 1 to {CROP_DEN} (pixels on a {CROP_DEN}-wide "
                           f"image: 108 VLadder, {LVAE_CROP} Ladder VAE), not {crop!r}")
    crop = int(crop)
    folder = require_dir(db_path, "celebA", "the aligned-and-cropped jpgs (img_align_celeba/000001.jpg ...)",
                         source=SOURCE)
    paths = list_images(folder)
    if not paths:
        raise DatasetError(f"celebA: {folder} holds no .jpg/.png image (expected img_align_celeba/000001.jpg ...)")
    paths = check_image_files(paths, "celebA")
    n_train = int(len(paths) * TRAIN_FRACTION)
    if n_train == 0 or n_train == len(paths):
        raise DatasetError(f"celebA: {folder} has {len(paths)} readable image(s); at least 2 are needed for a train/test split")
    decode = make_decoder(image_size, minmax_stretch, crop)
    notes = [f"{len(paths):,} images from {folder} sorted by name: first {n_train:,} train, last {len(paths) - n_train:,} test",
             f"centre crop of side round({crop}/178 * width), resized with antialiasing"
             + (", per-image min-max stretch (minmax_stretch=True)" if minmax_stretch else "")]
    return ImageDataset(
        name="celebA", shape=(image_size, image_size, 3), value_range=(-1.0, 1.0), num_classes=None,
        sources={"train": FileSource(paths[:n_train], None, decode, skip_errors=True),
                 "test": FileSource(paths[n_train:], None, decode, skip_errors=True)},
        notes=notes)

