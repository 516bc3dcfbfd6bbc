"""Dataset loaders: ``hvae.datasets.load(name, db_path=None, **options)``.

One module per dataset; each exposes ``load(db_path=None, **options) -> ImageDataset``. Names are
case-insensitive (``celebA`` and ``celeba`` both work).

| name            | files (``db_path``)                                         | shape     | range   |
|-----------------|-------------------------------------------------------------|-----------|---------|
| mnist           | ``MNIST_data/`` idx files (.gz or raw) or ``mnist.npz``; TFDS | 28x28x1   | [0,1]   |
| binarized_mnist | ``binarized_mnist_{train,valid,test}.amat`` (text or .mat); TFDS | 28x28x1 | {0,1} |
| svhn            | ``{train,test,extra}_32x32.mat``                             | 32x32x3   | [0,1]   |
| celebA          | flat folder of aligned-and-cropped jpgs                      | 64x64x3   | [-1,1]  |
| lsun            | ``.npy`` chunks (n,64,64,3) in [0,1], or image files         | 64x64x3   | [-1,1]  |
| cifar10         | python-pickle batches; TFDS                                  | 32x32x3   | [0,1]   |
| folder          | ``train_data/<class>/*``, ``test_data/<class>/*``            | image_size| [0,1]   |
| digits          | none (scikit-learn's bundled 8x8 digits, upsampled)          | 28x28x1   | [0,1]   |
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from hvae.environment import quiet_start
from hvae.errors import DatasetError  # importing hvae sets TensorFlow's environment defaults first

quiet_start()  # TensorFlow started without its C++ start-up lines, as on the command line

if TYPE_CHECKING:
    from .base import ImageDataset

# canonical name -> module name
_LOADERS = {
    "mnist": "mnist",
    "binarized_mnist": "binarized_mnist",
    "svhn": "svhn",
    "celebA": "celeba",
    "lsun": "lsun",
    "cifar10": "cifar10",
    "folder": "folder",
    "digits": "digits",
}

NAMES = tuple(_LOADERS)


def canonical_name(name: str) -> str:
    """The canonical spelling of a dataset name (``CELEBA`` -> ``celebA``).

    Raises:
        DatasetError: unknown name; the message lists the valid ones.
    """
    for canonical in _LOADERS:
        if str(name).lower() == canonical.lower():
            return canonical
    raise DatasetError(f"unknown dataset {name!r}; valid names: {', '.join(NAMES)}")


def load(name: str, db_path: str | None = None, **options) -> ImageDataset:
    """Load a dataset by name.

    Args:
        name: one of :data:`NAMES`, any case.
        db_path: the folder (or file) holding the dataset's files; None for the loaders that can fall
            back on TFDS or need no files.
        **options: loader-specific options (``train_split`` for svhn, ``image_size`` for folder, ...);
            an option the loader does not know is an error.

    Returns:
        An :class:`ImageDataset`.

    Raises:
        DatasetError: unknown name or option, missing or malformed files, failed download.
    """
    canonical = canonical_name(name)
    module = importlib.import_module(f"{__name__}.{_LOADERS[canonical]}")
    valid = options_of(canonical)
    unknown = sorted(set(options) - set(valid)) if valid is not None else []
    if unknown:
        raise DatasetError(f"dataset {canonical} has no option {unknown[0]!r}; its options: "
                           f"{', '.join(valid) or 'none'}")
    return module.load(db_path, **options)


def options_of(name: str) -> tuple | None:
    """The options (keyword arguments besides ``db_path``) the loader of dataset ``name`` takes, in its order; None
    where it takes any (``**kwargs``)."""
    import inspect

    module = importlib.import_module(f"{__name__}.{_LOADERS[canonical_name(name)]}")
    parameters = list(inspect.signature(module.load).parameters.values())[1:]
    if any(p.kind is p.VAR_KEYWORD for p in parameters):
        return None
    return tuple(p.name for p in parameters)


def __getattr__(attr):
    # ImageDataset imports TensorFlow: load it only when asked, so that resolving a dataset name (the
    # command line does it before choosing devices) does not start TensorFlow.
    if attr == "ImageDataset":
        from .base import ImageDataset

        return ImageDataset
    raise AttributeError(f"module {__name__!r} has no attribute {attr!r}")


__all__ = ["NAMES", "DatasetError", "ImageDataset", "canonical_name", "load", "options_of"]
