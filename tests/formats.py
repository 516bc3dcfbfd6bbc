"""Writers of the real file formats, shared by the tests: idx (.gz or raw), SVHN .mat v5, CIFAR-10
pickles, and image files. Image i of a written set encodes i in its pixel values (``pattern_images``) so
that tests can check order, split and labels."""

import gzip
import pickle

import cv2
import numpy as np
import scipy.io


def write_idx(path, array: np.ndarray, gz: bool) -> None:
    """An idx file (magic 0x0803 images / 0x0801 labels, big-endian dims, uint8 data)."""
    array = np.asarray(array, np.uint8)
    header = (0x0800 + array.ndim).to_bytes(4, "big") + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    data = header + array.tobytes()
    if gz:
        with gzip.open(path, "wb") as f:
            f.write(data)
    else:
        path.write_bytes(data)


def pattern_images(n: int, shape, offset: int = 0) -> np.ndarray:
    """uint8 images where image i is filled with (i + offset) % 256 except pixel 0 which is 255 - that."""
    images = np.empty((n,) + tuple(shape), np.uint8)
    for i in range(n):
        images[i] = (i + offset) % 256
        images[i].flat[0] = 255 - (i + offset) % 256
    return images


def write_mnist(folder, n_train=30, n_test=12, gz=True, train_images=True):
    folder.mkdir(parents=True, exist_ok=True)
    ext = ".gz" if gz else ""
    if train_images:
        write_idx(folder / f"train-images-idx3-ubyte{ext}", pattern_images(n_train, (28, 28)), gz)
    write_idx(folder / f"train-labels-idx1-ubyte{ext}", np.arange(n_train) % 10, gz)
    write_idx(folder / f"t10k-images-idx3-ubyte{ext}", pattern_images(n_test, (28, 28), offset=100), gz)
    write_idx(folder / f"t10k-labels-idx1-ubyte{ext}", (np.arange(n_test) * 3) % 10, gz)
    return folder


def write_svhn(path, n: int, offset: int, labels=None):
    images = pattern_images(n, (32, 32, 3), offset)  # (n, 32, 32, 3)
    images[:, 0, 1, 2] = 7  # an asymmetric pixel to catch a wrong transpose
    x = np.ascontiguousarray(np.transpose(images, (1, 2, 3, 0)))  # the file layout (32, 32, 3, N)
    y = np.asarray(labels if labels is not None else (np.arange(n) % 10) + 1, np.uint8).reshape(-1, 1)
    scipy.io.savemat(str(path), {"X": x, "y": y})
    return images


def write_cifar(folder, n=3, names=True):
    folder.mkdir(parents=True, exist_ok=True)
    written = {}
    for k, name in enumerate([f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]):
        images = pattern_images(n, (32, 32, 3), offset=10 * k)
        images[:, 0, 1, 2] = 7
        data = images.transpose(0, 3, 1, 2).reshape(n, 3072)  # channel-major rows, as the real files
        labels = [(10 * k + i) % 10 for i in range(n)]
        with open(folder / name, "wb") as f:
            pickle.dump({b"batch_label": name.encode(), b"labels": labels, b"data": data,
                         b"filenames": [b"x.png"] * n}, f, protocol=2)
        written[name] = (images, labels)
    if names:
        with open(folder / "batches.meta", "wb") as f:
            pickle.dump({b"label_names": [f"class{i}".encode() for i in range(10)], b"num_vis": 3072}, f)
    return written


def write_image(path, rgb: np.ndarray) -> None:
    """Write an RGB (or grey) uint8 image with OpenCV (which wants BGR)."""
    img = rgb if rgb.ndim == 2 else cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
    assert cv2.imwrite(str(path), img)
