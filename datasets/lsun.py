"""``lsun``: an LSUN scene category (bedroom, ...), 64x64x3 in [-1, 1], no labels.

Reproduces ``dataset/dataset_lsun.py`` of the VLadder original (spec ``vladder_original.md`` §2.4): not
LMDB but a folder of pre-converted NumPy chunks, each ``(n, 64, 64, 3)`` with values in [0, 1], mapped
to [-1, 1] as ``x * 2 - 1``. Differences (``docs/fidelity.md``, section Datasets): the chunks are sorted by name
(the original used ``os.listdir`` order), any ``n`` per chunk is allowed (the original assumed 10,000),
and since the original had no test split (test = train) **the last 5% of the images, in sorted order,
are held out as the test split**.

Files (``db_path``), either:

* ``*.npy`` chunks ``(n, 64, 64, 3)``, float in [0, 1] (uint8 0..255 is also accepted). They are opened
  with ``np.load(mmap_mode="r")``: only the batches being read are paged in, never a float copy. Each
  chunk's shape is checked from its header at load.
* image files (jpg/png/webp/bmp, e.g. the ``.webp`` of LSUN's ``export`` script, nested folders allowed),
  sorted by relative path: centre square crop (side = the short side), resized to 64x64 with bilinear
  antialiasing inside ``tf.data``. Used only when the folder holds no ``.npy`` file.
"""

from __future__ import annotations

import os

import numpy as np

from hvae.errors import DatasetError

from .base import (
    ArraySource,
    FileSource,
    ImageDataset,
    centre_square,
    check_image_files,
    decode_rgb_or_grey,
    list_images,
    require_dir,
    resize_uint8,
)

SHAPE = (64, 64, 3)
# where the images come from (the original names none): LSUN's own download script and its export of the LMDB to files
SOURCE = ("https://github.com/fyu/lsun (python3 download.py -c bedroom; python3 data.py export <lmdb> --out_dir "
          "<folder> writes the .webp images this loader reads)")
TEST_FRACTION = 0.05


def held_out_count(n: int) -> int:
    """Images held out as the test split: ``max(1, round(0.05 n))``, the last ones in sorted order."""
    return max(1, int(round(n * TEST_FRACTION)))


def open_chunk(path: str) -> np.ndarray:
    """Memory-map one ``.npy`` chunk and check it.

    Returns:
        read-only memmap ``(n, 64, 64, 3)``, float (values in [0, 1]) or uint8.

    Raises:
        DatasetError: not a readable ``.npy`` (bad header, truncated data), wrong shape or dtype, or a
            first image with values outside [0, 1] (a float chunk saved as 0..255).
    """
    try:
        chunk = np.load(path, mmap_mode="r", allow_pickle=False)
    except Exception as err:  # noqa: BLE001 - numpy raises ValueError/OSError/EOFError for bad files
        raise DatasetError(f"lsun: cannot read {path} as an .npy array: {err}") from None
    if not isinstance(chunk, np.ndarray):
        raise DatasetError(f"lsun: {path} is not a single .npy array")
    if chunk.ndim != 4 or chunk.shape[1:] != SHAPE:
        raise DatasetError(f"lsun: {path} has shape {chunk.shape}, expected (n, 64, 64, 3)")
    if chunk.dtype != np.uint8 and chunk.dtype.kind != "f":
        raise DatasetError(f"lsun: {path} has dtype {chunk.dtype}, expected float in [0, 1] (or uint8)")
    if chunk.dtype.kind == "f" and len(chunk):
        first = np.asarray(chunk[0])
        if first.min() < -1e-3 or first.max() > 1 + 1e-3:
            raise DatasetError(f"lsun: {path} has values {first.min():g}..{first.max():g} in its first image, "
                               f"expected [0, 1]")
    return chunk


def _split_chunks(chunks: list, n_train: int):
    """Cut a list of chunks at image ``n_train``: (train chunks, test chunks), as views."""
    train, test, start = [], [], 0
    for chunk in chunks:
        stop = start + len(chunk)
        if stop <= n_train:
            train.append(chunk)
        elif start >= n_train:
            test.append(chunk)
        else:
            train.append(chunk[:n_train - start])
            test.append(chunk[n_train - start:])
        start = stop
    return train, test


def _decode(contents):
    return resize_uint8(centre_square(decode_rgb_or_grey(contents, 3)), SHAPE[0], antialias=True)


def load(db_path=None) -> ImageDataset:
    """Load an LSUN category from ``.npy`` chunks or image files.

    Args:
        db_path: the folder (``/data/lsun/bedroom``).

    Returns:
        ImageDataset ``lsun``: 64x64x3 in [-1, 1], no labels; train = the first 95% of the images in
        sorted order, test = the last 5% (``notes`` says so).

    Raises:
        DatasetError: missing or empty folder; neither ``.npy`` nor image files; a bad chunk (named, with
            the expected shape); chunks of different dtypes; fewer than 2 images; no readable image.
            Image files failing the structural check are skipped with a warning and a count.
    """
    folder = require_dir(db_path, "lsun", ".npy chunks (n, 64, 64, 3) in [0, 1], or image files", source=SOURCE)
    with os.scandir(folder) as it:
        npys = sorted(os.path.join(folder, e.name) for e in it
                      if e.name.lower().endswith(".npy") and not e.name.startswith(".") and e.is_file())
    if npys:
        chunks = [open_chunk(p) for p in npys]
        dtypes = {str(c.dtype) for c in chunks}
        if len(dtypes) > 1:
            odd = next(p for p, c in zip(npys, chunks) if c.dtype != chunks[0].dtype)
            raise DatasetError(f"lsun: {odd} has dtype {np.load(odd, mmap_mode='r').dtype}, "
                               f"but {npys[0]} has {chunks[0].dtype}; all chunks need one dtype")
        n = sum(len(c) for c in chunks)
        what = f"{len(npys)} .npy chunks"
    else:
        paths = list_images(folder, recursive=True)
        if not paths:
            raise DatasetError(f"lsun: {folder} holds neither .npy chunks (n, 64, 64, 3) nor image files")
        paths = check_image_files(paths, "lsun")
        n = len(paths)
        what = "image files"
    if n < 2:
        raise DatasetError(f"lsun: {folder} holds {n} image(s); at least 2 are needed (the last 5% are the test split)")
    n_test = held_out_count(n)
    n_train = n - n_test
    if npys:
        train_chunks, test_chunks = _split_chunks(chunks, n_train)
        sources = {"train": ArraySource(train_chunks, None, SHAPE), "test": ArraySource(test_chunks, None, SHAPE)}
    else:
        sources = {"train": FileSource(paths[:n_train], None, _decode, skip_errors=True),
                   "test": FileSource(paths[n_train:], None, _decode, skip_errors=True)}
    notes = [f"{n:,} images from {what} in {folder}, sorted by name",
             f"the original had no test split (test = train); here the last {n_test:,} images (5%) are held out as test"]
    return ImageDataset(name="lsun", shape=SHAPE, value_range=(-1.0, 1.0), num_classes=None,
                        sources=sources, notes=notes)
