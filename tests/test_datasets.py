"""Array-backed loaders: mnist, binarized_mnist, svhn, cifar10, and the TFDS fallback.

Every test writes small files in the real format (idx .gz and raw, .npz, text .amat, MATLAB v5 .mat,
pickled CIFAR batches), with a pixel pattern that encodes each image's index, so that order, splits
and label mapping are checked against what was written. Tests on the offline copy in ``../shared/data``
skip with a reason when it is absent.
"""

from __future__ import annotations

import gzip
import os
import pickle
import tracemalloc

import numpy as np
import pytest
import scipy.io
from conftest import shared_subdir
from formats import pattern_images, write_cifar, write_idx, write_mnist, write_svhn

from hvae import datasets
from hvae.datasets import base
from hvae.errors import DatasetError

# --------------------------------------------------------------------------------------------------
# writers of the real formats
# --------------------------------------------------------------------------------------------------


def ordered(ds: base.ImageDataset, split: str):
    """All images and labels of a split, in file order."""
    return ds.take(split, ds._source(split).size, seed=None, with_labels=True)


# --------------------------------------------------------------------------------------------------
# mnist
# --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("gz", [True, False], ids=["gz", "raw"])
def test_mnist_idx_files(tmp_path, gz):
    write_mnist(tmp_path, gz=gz)
    ds = datasets.load("mnist", str(tmp_path), validation_size=5)
    assert ds.shape == (28, 28, 1) and ds.value_range == (0.0, 1.0) and ds.num_classes == 10
    assert (ds.train_size, ds._source("validation").size, ds.test_size) == (25, 5, 12)
    x, y = ordered(ds, "train")
    assert x.dtype == np.float32 and x.shape == (25, 28, 28, 1)
    # training image k of the split is file image k + 5 (the first 5 are validation), value (k+5)/255
    np.testing.assert_allclose(x[:, 5, 5, 0], (np.arange(25) + 5) / 255.0, atol=1e-6)
    np.testing.assert_allclose(x[:, 0, 0, 0], (255 - np.arange(5, 30)) / 255.0, atol=1e-6)
    np.testing.assert_array_equal(y, np.arange(5, 30) % 10)
    xv, yv = ordered(ds, "validation")
    np.testing.assert_allclose(xv[:, 5, 5, 0], np.arange(5) / 255.0, atol=1e-6)
    np.testing.assert_array_equal(yv, np.arange(5))
    xt, yt = ordered(ds, "test")
    np.testing.assert_allclose(xt[:, 3, 3, 0], (np.arange(12) + 100) / 255.0, atol=1e-6)
    np.testing.assert_array_equal(yt, (np.arange(12) * 3) % 10)


def test_mnist_default_validation_is_first_5000(tmp_path):
    write_mnist(tmp_path / "MNIST_data", n_train=5010, n_test=3)
    ds = datasets.load("mnist", str(tmp_path))  # the TF1 layout's MNIST_data/ subfolder is found
    assert (ds.train_size, ds._source("validation").size, ds.test_size) == (10, 5000, 3)
    x, y = ordered(ds, "train")
    np.testing.assert_allclose(x[:, 9, 9, 0], (np.arange(5000, 5010) % 256) / 255.0, atol=1e-6)
    np.testing.assert_array_equal(y, np.arange(5000, 5010) % 10)


def test_mnist_npz_file_and_folder(tmp_path):
    x_train, x_test = pattern_images(8, (28, 28)), pattern_images(4, (28, 28), offset=50)
    y_train, y_test = np.arange(8) % 10, np.array([9, 8, 7, 6])
    np.savez(tmp_path / "mnist.npz", x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)
    for db in (tmp_path / "mnist.npz", tmp_path):
        ds = datasets.load("mnist", str(db), validation_size=2)
        assert (ds.train_size, ds.test_size) == (6, 4)
        x, y = ordered(ds, "train")
        np.testing.assert_allclose(x[..., 0] * 255, x_train[2:], atol=1e-4)
        np.testing.assert_array_equal(y, y_train[2:])
        xt, yt = ordered(ds, "test")
        np.testing.assert_allclose(xt[..., 0] * 255, x_test, atol=1e-4)
        np.testing.assert_array_equal(yt, y_test)


def test_mnist_train_split_test_needs_no_training_images(tmp_path):
    write_mnist(tmp_path, n_test=7, train_images=False)
    ds = datasets.load("mnist", str(tmp_path), train_split="test")
    assert ds.train_size == ds.test_size == 7 and "validation" not in ds.splits
    _, y = ordered(ds, "train")
    np.testing.assert_array_equal(y, (np.arange(7) * 3) % 10)
    with pytest.raises(DatasetError, match=r"train-images-idx3-ubyte.*train_split='test'") as err:
        datasets.load("mnist", str(tmp_path))
    assert str(tmp_path) in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize("damage, match", [
    ("truncate_gz", "cannot read .*t10k-images-idx3-ubyte.gz"),
    ("bad_magic", "t10k-images-idx3-ubyte.gz is not an idx file of images"),
    ("short_data", "t10k-images-idx3-ubyte.gz holds .* bytes of data"),
    ("label_count", "has 12 images but 11 labels"),
])
def test_mnist_bad_files(tmp_path, damage, match):
    write_mnist(tmp_path)
    images = tmp_path / "t10k-images-idx3-ubyte.gz"
    if damage == "truncate_gz":
        images.write_bytes(images.read_bytes()[:len(images.read_bytes()) // 2])
    elif damage == "bad_magic":
        write_idx(images, np.zeros((12, 28, 28, 1)), gz=True)  # a 4-d idx is not an image file
    elif damage == "short_data":
        data = gzip.decompress(images.read_bytes())
        images.write_bytes(gzip.compress(data[:-28]))
    else:
        write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", np.zeros(11), gz=True)
    with pytest.raises(DatasetError, match=match):
        datasets.load("mnist", str(tmp_path), validation_size=5)


def test_mnist_missing_files_and_bad_npz(tmp_path):
    with pytest.raises(DatasetError, match="neither the idx files"):
        (tmp_path / "README").write_text("x")
        datasets.load("mnist", str(tmp_path))
    np.savez(tmp_path / "mnist.npz", x_train=np.zeros((3, 28, 28), np.uint8), y_train=np.zeros(3))
    with pytest.raises(DatasetError, match=r"mnist.npz lacks the keys x_test, y_test"):
        datasets.load("mnist", str(tmp_path))
    np.savez(tmp_path / "bad.npz", x_train=np.zeros((3, 32, 32), np.uint8), y_train=np.zeros(3),
             x_test=np.zeros((3, 32, 32), np.uint8), y_test=np.zeros(3))
    with pytest.raises(DatasetError, match=r"bad.npz x_\w+ is uint8 \(3, 32, 32\)"):
        datasets.load("mnist", str(tmp_path / "bad.npz"), validation_size=1)
    with pytest.raises(DatasetError, match="train_split must be one of"):
        datasets.load("mnist", str(tmp_path), train_split="valid")


def test_mnist_shared_test_images(shared_data):
    folder = shared_subdir(shared_data, "mnist")
    ds = datasets.load("mnist", str(folder), train_split="test")
    assert ds.train_size == ds.test_size == 10_000
    x, y = ds.take("test", 200, seed=None, with_labels=True)
    assert x.shape == (200, 28, 28, 1) and x.min() == 0.0 and x.max() == 1.0
    np.testing.assert_array_equal(y[:10], [7, 2, 1, 0, 4, 1, 4, 9, 5, 9])  # the well-known first t10k labels
    assert len(np.unique(x)) > 100  # grey levels, not binarised
    if not (folder / "train-images-idx3-ubyte.gz").exists():
        with pytest.raises(DatasetError, match=r"lacks train-images-idx3-ubyte\[.gz\].*train_split='test'"):
            datasets.load("mnist", str(folder))


# --------------------------------------------------------------------------------------------------
# binarized_mnist
# --------------------------------------------------------------------------------------------------
def binary_rows(n: int, offset: int) -> np.ndarray:
    """(n, 784) of {0,1}; row i holds i + offset in binary in its first 12 pixels, 1 in the last."""
    rows = np.zeros((n, 784), np.uint8)
    for i in range(n):
        rows[i, :12] = [(i + offset) >> b & 1 for b in range(12)]
        rows[i, -1] = 1
    return rows


def decode_index(images: np.ndarray) -> np.ndarray:
    flat = images.reshape(len(images), -1)
    return (flat[:, :12] * (1 << np.arange(12))).sum(1).astype(int)


def write_amat(path, rows, form):
    if form == "text":
        path.write_text("".join(" ".join(str(v) for v in r) + "\n" for r in rows))
    else:
        scipy.io.savemat(str(path), {"X": rows}, do_compression=True)


@pytest.mark.parametrize("forms", [("text", "text", "text"), ("mat", "mat", "mat"), ("text", "mat", "text")])
def test_binarized_mnist_text_and_mat(tmp_path, forms):
    sizes = {"train": 6, "valid": 3, "test": 2}
    for (split, n), form, offset in zip(sizes.items(), forms, (0, 100, 200)):
        write_amat(tmp_path / f"binarized_mnist_{split}.amat", binary_rows(n, offset), form)
    ds = datasets.load("binarized_mnist", str(tmp_path))
    assert ds.num_classes is None and ds.value_range == (0.0, 1.0) and ds.shape == (28, 28, 1)
    assert (ds.train_size, ds._source("validation").size, ds.test_size) == (6, 3, 2)
    x = ds.take("train", 6, seed=None)
    assert x.dtype == np.float32 and set(np.unique(x)) == {0.0, 1.0}
    np.testing.assert_array_equal(decode_index(x), np.arange(6))
    np.testing.assert_array_equal(x.reshape(6, -1)[:, -1], 1)
    np.testing.assert_array_equal(decode_index(ds.take("validation", 3, seed=None)), 100 + np.arange(3))
    np.testing.assert_array_equal(decode_index(ds.take("test", 2, seed=None)), [200, 201])
    both = datasets.load("binarized_mnist", str(tmp_path), train_split="train+valid")
    assert both.train_size == 9 and "validation" not in both.splits
    np.testing.assert_array_equal(decode_index(both.take("train", 9, seed=None)), list(range(6)) + [100, 101, 102])


def test_binarized_mnist_bad_files(tmp_path):
    for split in ("train", "valid", "test"):
        write_amat(tmp_path / f"binarized_mnist_{split}.amat", binary_rows(3, 0), "text")
    bad = tmp_path / "binarized_mnist_valid.amat"
    lines = bad.read_text().splitlines()
    lines[1] = lines[1].rsplit(" ", 1)[0]  # 783 values on line 2
    bad.write_text("\n".join(lines) + "\n")
    with pytest.raises(DatasetError, match=r"binarized_mnist_valid.amat line 2 has 783 values, expected 784"):
        datasets.load("binarized_mnist", str(tmp_path))
    lines[1] = " ".join(["0.5"] * 784)  # the general (slow) parser: right length, wrong values
    bad.write_text("\n".join(lines) + "\n")
    with pytest.raises(DatasetError, match=r"binarized_mnist_valid.amat line 2 has values other than 0 and 1"):
        datasets.load("binarized_mnist", str(tmp_path))
    scipy.io.savemat(str(bad), {"images": binary_rows(3, 0)})
    with pytest.raises(DatasetError, match=r"binarized_mnist_valid.amat has no variable 'X'"):
        datasets.load("binarized_mnist", str(tmp_path))
    scipy.io.savemat(str(bad), {"X": np.zeros((3, 28, 28), np.uint8)})
    with pytest.raises(DatasetError, match=r"binarized_mnist_valid.amat 'X' has shape \(3, 28, 28\)"):
        datasets.load("binarized_mnist", str(tmp_path))
    bad.unlink()
    with pytest.raises(DatasetError, match=r"lacks binarized_mnist_valid.amat"):
        datasets.load("binarized_mnist", str(tmp_path))


def test_binarized_mnist_shared(shared_data):
    ds = datasets.load("binarized_mnist", str(shared_subdir(shared_data, "binarized_mnist")))
    assert (ds.train_size, ds._source("validation").size, ds.test_size) == (50_000, 10_000, 10_000)
    assert ds.num_classes is None
    src = ds._source("train")
    assert src.dtype == np.uint8 and src.raw_max == 1.0
    x = ds.take("test", 500, seed=0)
    assert x.shape == (500, 28, 28, 1) and set(np.unique(x)) == {0.0, 1.0}
    assert 0.05 < x.mean() < 0.25  # MNIST strokes cover ~13% of the pixels


# --------------------------------------------------------------------------------------------------
# svhn
# --------------------------------------------------------------------------------------------------


def test_svhn_splits_labels_layout(tmp_path):
    train = write_svhn(tmp_path / "train_32x32.mat", 5, 0, labels=[10, 1, 2, 3, 10])
    write_svhn(tmp_path / "test_32x32.mat", 4, 50)
    extra = write_svhn(tmp_path / "extra_32x32.mat", 6, 100)
    ds = datasets.load("svhn", str(tmp_path))  # default: train = extra, as the VLadder original
    assert (ds.train_size, ds.test_size, ds.shape, ds.num_classes) == (6, 4, (32, 32, 3), 10)
    x, y = ordered(ds, "train")
    np.testing.assert_allclose(x * 255, extra, atol=1e-3)
    np.testing.assert_array_equal(y, [1, 2, 3, 4, 5, 6])
    src = ds._source("train")  # the .mat array itself, uint8 (32, 32, 3, N), no float copy
    assert src._arrays[0].dtype == np.uint8 and src._arrays[0].shape == (32, 32, 3, 6)
    both = datasets.load("svhn", str(tmp_path), train_split="train+extra")
    x, y = ordered(both, "train")
    np.testing.assert_allclose(x * 255, np.concatenate([train, extra]), atol=1e-3)
    np.testing.assert_array_equal(y, [0, 1, 2, 3, 0, 1, 2, 3, 4, 5, 6])  # 10 -> 0
    np.testing.assert_array_equal(ordered(both, "test")[1], [1, 2, 3, 4])


def test_svhn_opens_only_needed_files(tmp_path):
    write_svhn(tmp_path / "train_32x32.mat", 3, 0)
    write_svhn(tmp_path / "test_32x32.mat", 2, 0)
    (tmp_path / "extra_32x32.mat").write_bytes(b"not a mat file")
    assert datasets.load("svhn", str(tmp_path), train_split="train").train_size == 3
    with pytest.raises(DatasetError, match=r"cannot read .*extra_32x32.mat"):
        datasets.load("svhn", str(tmp_path))


def test_svhn_bad_files(tmp_path):
    write_svhn(tmp_path / "extra_32x32.mat", 3, 0)
    with pytest.raises(DatasetError, match=r"lacks test_32x32.mat"):
        datasets.load("svhn", str(tmp_path))
    scipy.io.savemat(str(tmp_path / "test_32x32.mat"), {"images": np.zeros((32, 32, 3, 2), np.uint8)})
    with pytest.raises(DatasetError, match=r"test_32x32.mat has no key 'X'"):
        datasets.load("svhn", str(tmp_path))
    scipy.io.savemat(str(tmp_path / "test_32x32.mat"), {"X": np.zeros((2, 32, 32, 3), np.uint8), "y": np.ones((2, 1))})
    with pytest.raises(DatasetError, match=r"test_32x32.mat X is uint8 \(2, 32, 32, 3\), expected uint8 \(32, 32, 3, N\)"):
        datasets.load("svhn", str(tmp_path))
    with pytest.raises(DatasetError, match="train_split must be one of"):
        datasets.load("svhn", str(tmp_path), train_split="all")


# --------------------------------------------------------------------------------------------------
# cifar10
# --------------------------------------------------------------------------------------------------


def test_cifar10_batches(tmp_path):
    written = write_cifar(tmp_path / "cifar-10-batches-py")
    ds = datasets.load("cifar10", str(tmp_path))  # finds the cifar-10-batches-py subfolder
    assert (ds.train_size, ds.test_size, ds.shape, ds.num_classes) == (15, 3, (32, 32, 3), 10)
    assert ds.class_names == [f"class{i}" for i in range(10)]
    x, y = ordered(ds, "train")
    expected = np.concatenate([written[f"data_batch_{i}"][0] for i in range(1, 6)])
    np.testing.assert_allclose(x * 255, expected, atol=1e-3)
    np.testing.assert_array_equal(y, np.concatenate([written[f"data_batch_{i}"][1] for i in range(1, 6)]))
    xt, yt = ordered(ds, "test")
    np.testing.assert_allclose(xt * 255, written["test_batch"][0], atol=1e-3)
    np.testing.assert_array_equal(yt, written["test_batch"][1])


def test_cifar10_bad_files(tmp_path):
    write_cifar(tmp_path, names=False)
    assert datasets.load("cifar10", str(tmp_path)).class_names[0] == "airplane"
    (tmp_path / "data_batch_3").unlink()
    with pytest.raises(DatasetError, match=r"lacks data_batch_3"):
        datasets.load("cifar10", str(tmp_path))
    (tmp_path / "data_batch_3").write_bytes(b"\x80\x02garbage")
    with pytest.raises(DatasetError, match=r"cannot read .*data_batch_3"):
        datasets.load("cifar10", str(tmp_path))
    with open(tmp_path / "data_batch_3", "wb") as f:
        pickle.dump({b"labels": [0, 1], b"data": np.zeros((2, 1024), np.uint8)}, f)
    with pytest.raises(DatasetError, match=r"data_batch_3 data is uint8 \(2, 1024\), expected uint8 \(n, 3072\)"):
        datasets.load("cifar10", str(tmp_path))
    with open(tmp_path / "data_batch_3", "wb") as f:
        pickle.dump({b"labels": [0], b"data": np.zeros((1, 3072), np.uint8), b"x": os.getcwd}, f)
    with pytest.raises(DatasetError, match=r"data_batch_3.*refusing to load"):  # no code runs from a pickle
        datasets.load("cifar10", str(tmp_path))


# --------------------------------------------------------------------------------------------------
# TFDS fallback
# --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name, url", [
    ("mnist", "storage.googleapis.com/cvdf-datasets/mnist"),
    ("binarized_mnist", "www.cs.toronto.edu/~larocheh"),
    ("cifar10", "www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"),
])
def test_tfds_offline_gives_one_line(monkeypatch, name, url):
    tfds = pytest.importorskip("tensorflow_datasets")

    class Offline:
        def is_prepared(self):
            return False

        def download_and_prepare(self):
            raise ConnectionError("Max retries exceeded with url\n(Caused by NameResolutionError)")

    monkeypatch.setattr(tfds, "builder", lambda *a, **k: Offline())
    monkeypatch.setattr(base, "_probe", lambda url: None)  # as if the host answered: the download itself fails
    with pytest.raises(DatasetError) as err:
        datasets.load(name)
    message = str(err.value)
    assert "\n" not in message and url in message and "--db_path" in message and "ConnectionError" in message


def test_tfds_probe_fails_fast(monkeypatch, tmp_path):
    tfds = pytest.importorskip("tensorflow_datasets")
    calls = []

    class NotPrepared:
        def is_prepared(self):
            return False

        def download_and_prepare(self):
            calls.append("download")

    def no_network(*args, **kwargs):
        raise OSError("[Errno -2] Name or service not known")

    monkeypatch.setattr(tfds, "builder", lambda *a, **k: NotPrepared())
    for var in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr("socket.create_connection", no_network)
    monkeypatch.setenv("TFDS_DATA_DIR", str(tmp_path))  # nothing prepared there
    with pytest.raises(DatasetError, match=r"^dataset mnist: not prepared in .* cannot be reached \(OSError.*"
                                           r"storage.googleapis.com.*--db_path$"):
        datasets.load("mnist")
    assert calls == []  # never started the minutes-long retrying download


@pytest.mark.parametrize("name, source", [
    ("svhn", "http://ufldl.stanford.edu/housenumbers/"),
    ("celebA", "mmlab.ie.cuhk.edu.hk/projects/CelebA.html"),
    ("lsun", "github.com/fyu/lsun"),
])
def test_missing_db_path_says_where_to_get_the_files(name, source, tmp_path):
    """A dataset that needs files says, in one line and before any download attempt, what the folder must hold,
    where to get it and which flag takes it; also when the given folder does not exist."""
    for db_path in (None, str(tmp_path / "nowhere")):
        with pytest.raises(DatasetError) as err:
            datasets.load(name, db_path=db_path)
        message = str(err.value)
        assert "\n" not in message and source in message and "--db_path" in message, message


def test_tfds_prepared_data_is_converted(monkeypatch):
    tfds = pytest.importorskip("tensorflow_datasets")
    monkeypatch.setattr(base, "_probe", lambda url: None)
    with tfds.testing.mock_data(num_examples=12):
        mnist = datasets.load("mnist", validation_size=2)
        binarized = datasets.load("binarized_mnist")
        cifar = datasets.load("cifar10")
    assert (mnist.train_size, mnist.test_size, mnist.shape) == (10, 12, (28, 28, 1))
    x, y = mnist.take("train", 4, with_labels=True)
    assert x.dtype == np.float32 and 0 <= x.min() and x.max() <= 1 and y.dtype == np.int64 and y.max() < 10
    assert binarized.train_size == 12 and binarized.num_classes is None and binarized._source("train").raw_max == 1
    assert cifar.shape == (32, 32, 3) and cifar._source("train").dtype == np.uint8


# --------------------------------------------------------------------------------------------------
# registry and common checks
# --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["binarized_mnist", "svhn", "celebA", "lsun", "folder", "cifar10"])
def test_missing_or_empty_db_path(tmp_path, name):
    with pytest.raises(DatasetError, match=f"{tmp_path / 'nowhere'} does not exist"):
        datasets.load(name, str(tmp_path / "nowhere"))
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / ".DS_Store").write_text("")
    with pytest.raises(DatasetError, match=f"{tmp_path / 'empty'} is empty"):
        datasets.load(name, str(tmp_path / "empty"))


def test_unknown_option_is_an_error_that_lists_the_options(tmp_path):
    with pytest.raises(DatasetError, match="has no option 'use_extra'; its options: train_split$"):
        datasets.load("svhn", str(tmp_path), use_extra=True)
    with pytest.raises(DatasetError, match="its options: train_split, validation_size, test_holdout$"):
        datasets.load("mnist", str(tmp_path), trian_split="test")   # checked before any file is read
    with pytest.raises(DatasetError, match="has no option 'crop'; its options: none$"):
        datasets.load("digits", None, crop=148)


def test_training_on_the_test_images_says_so(shared_data):
    """MNIST's offline copy has only the test images: train_split='test' alone trains and tests on the same
    images, which the dataset says in a warning note (the command line prints it); test_holdout keeps some apart."""
    folder = shared_data / "mnist"
    if not folder.exists():
        pytest.skip(f"{folder} is absent")
    same = datasets.load("mnist", str(folder), train_split="test")
    assert any(n.startswith("warning: train_split='test' without test_holdout") for n in same.notes)
    held = datasets.load("mnist", str(folder), train_split="test", test_holdout=2000)
    assert not any(n.startswith("warning:") for n in held.notes)


def test_array_source_chunks_and_order():
    a, b = np.arange(3 * 4).reshape(3, 2, 2, 1), 100 + np.arange(2 * 4).reshape(2, 2, 2, 1)
    src = base.ArraySource([a.astype(np.uint8), b.astype(np.uint8)], None, (2, 2, 1))
    assert src.size == 5
    got = src._gather(np.array([4, 0, 3, 1]))
    np.testing.assert_array_equal(got, np.stack([b[1], a[0], b[0], a[1]]))
    with pytest.raises(DatasetError, match="differ in dtype"):
        base.ArraySource([a.astype(np.uint8), b.astype(np.float32)], None, (2, 2, 1))


def test_array_source_gathers_fortran_layout_without_copying_it():
    """SVHN's (32, 32, 3, N) Fortran-ordered array: a batch must not copy the array (np.take would)."""
    images = np.zeros((32, 32, 3, 20_000), np.uint8, order="F")
    idx = np.array([19_999, 5, 12_345, 0])
    images[..., idx] = np.random.RandomState(0).randint(0, 256, (32, 32, 3, 4), dtype=np.uint8)
    src = base.ArraySource(images, None, (32, 32, 3), axis=3, transpose=(3, 0, 1, 2))
    tracemalloc.start()
    try:
        batch = src._gather(idx)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    np.testing.assert_array_equal(batch, np.transpose(images[..., idx], (3, 0, 1, 2)))
    assert peak < images.nbytes / 10, f"gathering 4 images allocated {peak:,} bytes"


def test_mnist_test_holdout_gives_a_disjoint_fixed_split(shared_data):
    folder = shared_data / "mnist"
    if not folder.exists():
        pytest.skip(f"{folder} is absent")
    ds = datasets.load("mnist", str(folder), train_split="test", test_holdout=2000)
    assert (ds.train_size, ds.test_size) == (8000, 2000)
    train = next(iter(ds.batches("train", 8000)))[0].numpy().reshape(8000, -1)
    test, labels = (t.numpy() for t in next(iter(ds.batches("test", 2000))))
    assert np.all(np.bincount(labels, minlength=10) > 100)  # every class is held out
    # no held-out image is among the training images
    train_keys = {row.tobytes() for row in (train * 255).round().astype(np.uint8)}
    assert not any(row.tobytes() in train_keys for row in (test.reshape(2000, -1) * 255).round().astype(np.uint8))
    again = datasets.load("mnist", str(folder), train_split="test", test_holdout=2000)
    np.testing.assert_array_equal(next(iter(again.batches("test", 2000)))[1].numpy(), labels)
    with pytest.raises(DatasetError, match="test_holdout applies only"):
        datasets.load("mnist", str(folder), test_holdout=10)
