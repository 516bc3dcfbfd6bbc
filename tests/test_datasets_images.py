"""Image-file loaders: celebA, lsun (.npy chunks and image files), folder; the structural file check.

Tests write jpg/png/bmp/webp files (with a corrupt file, a hidden file and a non-image among them) and
``.npy`` chunks, encoding each image's index in its pixel values, and compare what the loaders serve
against numpy / OpenCV references. The CelebA tests on the offline copy skip when it is absent.
"""

from __future__ import annotations

import shutil
import time

import cv2
import numpy as np
import pytest
from conftest import shared_subdir
from formats import write_image

from hvae import datasets
from hvae.datasets import base, celeba, lsun
from hvae.errors import DatasetError


def ordered(ds, split):
    return ds.take(split, ds._source(split).size, seed=None, with_labels=True)


def flat(value: int, h: int, w: int) -> np.ndarray:
    return np.full((h, w, 3), value, np.uint8)


def truncate(path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[:len(data) // 2])


# --------------------------------------------------------------------------------------------------
# the structural check
# --------------------------------------------------------------------------------------------------
def test_image_file_problem(tmp_path):
    rgb = (np.random.RandomState(0).rand(40, 30, 3) * 255).astype(np.uint8)
    for ext in ("jpg", "png", "bmp", "webp"):
        good = tmp_path / f"good.{ext}"
        write_image(good, rgb)
        assert base.image_file_problem(str(good)) is None, ext
        bad = tmp_path / f"bad.{ext}"
        bad.write_bytes(good.read_bytes()[:len(good.read_bytes()) // 2])
        assert "truncated" in base.image_file_problem(str(bad)), ext
    padded = tmp_path / "padded.jpg"  # bytes after the end marker (padding) are allowed
    padded.write_bytes((tmp_path / "good.jpg").read_bytes() + b"\x00" * 200)
    assert base.image_file_problem(str(padded)) is None
    renamed = tmp_path / "really_a_png.jpg"  # recognised by content, not by name
    renamed.write_bytes((tmp_path / "good.png").read_bytes())
    assert base.image_file_problem(str(renamed)) is None
    (tmp_path / "empty.png").write_bytes(b"")
    assert base.image_file_problem(str(tmp_path / "empty.png")) == "empty file"
    (tmp_path / "text.png").write_text("hello")
    assert "not a JPEG" in base.image_file_problem(str(tmp_path / "text.png"))


def test_file_source_survives_a_corrupt_file_that_passes_the_check(tmp_path, capsys):
    for i in range(5):
        write_image(tmp_path / f"{i:06d}.jpg", flat(40 * i + 20, 109, 89))
    # a JPEG start, garbage, and a JPEG end: passes the fast check, fails to decode
    (tmp_path / "000002.jpg").write_bytes(b"\xff\xd8\xff\xe0" + bytes(range(256)) * 4 + b"\xff\xd9")
    ds = datasets.load("celebA", str(tmp_path))
    assert "skipping" not in capsys.readouterr().err  # the check let it through
    assert (ds.train_size, ds.test_size) == (4, 1)
    x, _ = ordered(ds, "train")  # no exception: the pipeline dropped the undecodable image
    assert len(x) == 3
    np.testing.assert_allclose((x[:, 30, 30, 0] + 1) * 127.5, [20, 60, 140], atol=3)


# --------------------------------------------------------------------------------------------------
# celebA
# --------------------------------------------------------------------------------------------------
def test_celeba_crop_box():
    assert celeba.crop_box(218, 178) == (55, 35, 108)  # the original's 108 px at full size
    assert celeba.crop_box(109, 89) == (28, 18, 54)  # halves 27.5, 17.5 round up (Python 2 and 3 agree)
    assert celeba.crop_box(20, 40) == (0, 10, 20)  # landscape: round(24.3) = 24 is capped by the height


def test_celeba_sorted_split_corrupt_hidden(tmp_path, capsys):
    # written in reverse order so that the file system's order differs from the sorted one
    for i in reversed(range(12)):
        write_image(tmp_path / f"{i + 1:06d}.jpg", flat(20 * i + 10, 109, 89))
    write_image(tmp_path / "000013.jpg", flat(0, 109, 89))
    truncate(tmp_path / "000013.jpg")
    write_image(tmp_path / ".000000.jpg", flat(255, 109, 89))  # hidden: ignored
    (tmp_path / "list_attr_celeba.txt").write_text("not an image")
    ds = datasets.load("celeba", str(tmp_path))
    err = capsys.readouterr().err
    assert "000013.jpg" in err and "skipped 1 unreadable image of 13" in err
    assert (ds.name, ds.shape, ds.value_range, ds.num_classes) == ("celebA", (64, 64, 3), (-1.0, 1.0), None)
    assert (ds.train_size, ds.test_size) == (9, 3)  # floor(0.8 * 12) = 9
    x, _ = ordered(ds, "train")
    assert x.dtype == np.float32 and x.shape == (9, 64, 64, 3) and -1 <= x.min() and x.max() <= 1
    np.testing.assert_allclose((x[:, 32, 32, 1] + 1) * 127.5, 20 * np.arange(9) + 10, atol=3)
    xt, _ = ordered(ds, "test")
    np.testing.assert_allclose((xt[:, 32, 32, 1] + 1) * 127.5, 20 * np.arange(9, 12) + 10, atol=3)
    assert datasets.load("celeba", str(tmp_path), image_size=32).take("train", 2).shape == (2, 32, 32, 3)


def test_celeba_crop_is_exact_and_stretch(tmp_path):
    rng = np.random.RandomState(1)
    img = (rng.rand(109, 89, 3) * 100 + 100).astype(np.uint8)  # values 100..199
    write_image(tmp_path / "000001.png", img)
    write_image(tmp_path / "000002.png", img)
    # image_size = the crop side: the resize is the identity and the crop must match numpy exactly
    ds = datasets.load("celebA", str(tmp_path), image_size=54)
    x = ds.take("train", 1, seed=None)[0]
    np.testing.assert_array_equal(np.rint((x + 1) * 127.5).astype(np.uint8), img[28:82, 18:72])
    stretched = datasets.load("celebA", str(tmp_path), image_size=54, minmax_stretch=True).take("train", 1, seed=None)[0]
    crop = img[28:82, 18:72].astype(np.float64)
    expected = ((crop - crop.min()) * 255.0 / (crop.max() - crop.min()) + 0.5).astype(np.uint8)  # scipy bytescale
    np.testing.assert_array_equal(np.rint((stretched + 1) * 127.5).astype(np.uint8), expected)
    assert stretched.min() == -1.0 and stretched.max() == 1.0 and x.min() > -1.0


def test_celeba_full_size_matches_pil_bilinear(tmp_path):
    """At full size (178x218) the 108 px crop shrinks to 64: antialiased, as PIL's bilinear in imresize."""
    image_module = pytest.importorskip("PIL.Image")
    rng = np.random.RandomState(0)
    images = [(rng.rand(218, 178, 3) * 255).astype(np.uint8)]
    images.append(cv2.GaussianBlur(images[0], (0, 0), 2))
    for i, img in enumerate(images + images[:1]):
        write_image(tmp_path / f"{i:06d}.png", img)
    x = datasets.load("celebA", str(tmp_path)).take("train", 2, seed=None)
    for got, img in zip(x, images):
        pil = np.asarray(image_module.fromarray(img[55:163, 35:143]).resize((64, 64), image_module.BILINEAR))
        diff = np.abs(np.rint((got + 1) * 127.5) - pil)
        assert diff.mean() < 0.3 and diff.max() <= 1
        plain = cv2.resize(img[55:163, 35:143], (64, 64), interpolation=cv2.INTER_LINEAR)  # no antialiasing
        assert np.abs(np.rint((got + 1) * 127.5) - plain).mean() > 3 * diff.mean()


def test_celeba_bad_folders(tmp_path):
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(DatasetError, match=f"celebA: {tmp_path} holds no .jpg/.png image"):
        datasets.load("celebA", str(tmp_path))
    write_image(tmp_path / "000001.jpg", flat(9, 109, 89))
    truncate(tmp_path / "000001.jpg")
    with pytest.raises(DatasetError, match=f"celebA: no readable image in {tmp_path}"):
        datasets.load("celebA", str(tmp_path))
    with pytest.raises(DatasetError, match="image_size must be a positive integer"):
        datasets.load("celebA", str(tmp_path), image_size=0)


def test_celeba_shared(shared_data):
    folder = shared_subdir(shared_data, "celeba") / "img_align_celeba_89x109"
    if not folder.is_dir():
        pytest.skip(f"{folder} is absent")
    start = time.perf_counter()
    ds = datasets.load("celebA", str(folder))
    assert time.perf_counter() - start < 10  # the structural check of 10,000 files takes well under a second
    assert (ds.train_size, ds.test_size, ds.shape, ds.value_range) == (8000, 2000, (64, 64, 3), (-1.0, 1.0))
    assert ds._source("train").paths[0].endswith("000001.jpg") and ds._source("test").paths[0].endswith("008001.jpg")
    batches = ds.batches("train", 100, shuffle=True, seed=0, with_labels=False).take(2)
    for batch in batches:
        assert batch.shape == (100, 64, 64, 3) and batch.dtype == "float32"
        assert -1.0 <= float(np.min(batch)) and float(np.max(batch)) <= 1.0
    # one image against an OpenCV reference: decode, crop rows 28:82, cols 18:72, bilinear 54 -> 64
    first = ds.take("train", 1, seed=None)[0]
    bgr = cv2.imread(ds._source("train").paths[0], cv2.IMREAD_COLOR)
    assert bgr.shape == (109, 89, 3)
    ref = cv2.resize(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)[28:82, 18:72], (64, 64), interpolation=cv2.INTER_LINEAR)
    diff = np.abs(np.rint((first + 1) * 127.5) - ref.astype(np.float64))
    assert diff.mean() < 1.0 and diff.max() <= 8  # same crop; decoders and fixed-point rounding differ slightly
    shifted = cv2.resize(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)[30:84, 18:72], (64, 64), interpolation=cv2.INTER_LINEAR)
    assert np.abs(np.rint((first + 1) * 127.5) - shifted).mean() > 2 * diff.mean()  # a 2-row shift is detectable


# --------------------------------------------------------------------------------------------------
# lsun
# --------------------------------------------------------------------------------------------------
def write_chunks(folder, sizes, dtype=np.float32):
    folder.mkdir(parents=True, exist_ok=True)
    start = 0
    for k, n in enumerate(sizes):
        values = (np.arange(start, start + n) % 50) / 50.0
        chunk = np.broadcast_to(values[:, None, None, None], (n, 64, 64, 3)).copy()
        chunk[:, 0, 0, 0] = 1.0
        if dtype == np.uint8:
            chunk = np.rint(chunk * 255)
        np.save(folder / f"bedroom_{k:02d}.npy", chunk.astype(dtype))
        start += n
    return start


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.uint8])
def test_lsun_npy_chunks(tmp_path, dtype):
    n = write_chunks(tmp_path, [7, 5, 0, 28], dtype)  # 40 images, an empty chunk among them
    ds = datasets.load("lsun", str(tmp_path))
    assert (ds.shape, ds.value_range, ds.num_classes) == ((64, 64, 3), (-1.0, 1.0), None)
    assert (ds.train_size, ds.test_size) == (38, 2)  # the last round(0.05 * 40) = 2 are the test split
    assert any("held out as test" in note for note in ds.notes)
    x, _ = ordered(ds, "train")
    expected = (np.arange(38) % 50) / 50.0 * 2 - 1
    np.testing.assert_allclose(x[:, 5, 5, 2], expected, atol=1e-2 if dtype == np.uint8 else 1e-6)
    np.testing.assert_allclose(x[:, 0, 0, 0], 1.0, atol=1e-6)
    xt, _ = ordered(ds, "test")
    np.testing.assert_allclose(xt[:, 5, 5, 2], [38 / 50 * 2 - 1, 39 / 50 * 2 - 1], atol=1e-2)
    assert all(isinstance(a, np.memmap) or isinstance(a.base, np.memmap) for a in ds._source("train")._arrays)
    assert lsun.held_out_count(n) == 2


def test_lsun_bad_chunks(tmp_path):
    write_chunks(tmp_path, [3, 3])
    np.save(tmp_path / "bedroom_05.npy", np.zeros((4, 32, 32, 3), np.float32))
    with pytest.raises(DatasetError, match=r"bedroom_05.npy has shape \(4, 32, 32, 3\), expected \(n, 64, 64, 3\)"):
        datasets.load("lsun", str(tmp_path))
    np.save(tmp_path / "bedroom_05.npy", np.zeros((2, 64, 64, 3), np.float32))
    truncate(tmp_path / "bedroom_05.npy")
    with pytest.raises(DatasetError, match=r"cannot read .*bedroom_05.npy"):
        datasets.load("lsun", str(tmp_path))
    np.save(tmp_path / "bedroom_05.npy", np.full((2, 64, 64, 3), 255.0, np.float32))
    with pytest.raises(DatasetError, match=r"bedroom_05.npy has values 255..255 .*expected \[0, 1\]"):
        datasets.load("lsun", str(tmp_path))
    np.save(tmp_path / "bedroom_05.npy", np.zeros((2, 64, 64, 3), np.float64))
    with pytest.raises(DatasetError, match=r"bedroom_05.npy has dtype float64, but .*bedroom_00.npy has float32"):
        datasets.load("lsun", str(tmp_path))


def test_lsun_image_files(tmp_path, capsys):
    for i in range(19):  # nested folders, as LSUN's export script writes them
        sub = tmp_path / f"{i % 3}"
        sub.mkdir(exist_ok=True)
        img = flat(10 * i + 5, 48, 80)
        img[:, :16] = 255  # the side bands fall outside the centre square
        img[:, -16:] = 0
        write_image(sub / f"img{i:03d}.{'webp' if i % 2 else 'png'}", img)
    (tmp_path / "1" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 50)
    ds = datasets.load("lsun", str(tmp_path))
    assert "broken.png" in capsys.readouterr().err
    empty = tmp_path / "only_broken"
    empty.mkdir()
    (empty / "a.webp").write_bytes(b"RIFF\xff\x00\x00\x00WEBPVP8 ")
    with pytest.raises(DatasetError, match=f"lsun: no readable image in {empty}"):
        datasets.load("lsun", str(empty))
    assert (ds.train_size, ds.test_size, ds.shape) == (18, 1, (64, 64, 3))
    x, _ = ordered(ds, "train")
    order = sorted(range(19), key=lambda i: (i % 3, i))  # sorted by relative path
    np.testing.assert_allclose((x[:, :, :, 0] + 1) * 127.5, np.broadcast_to(
        (10 * np.array(order[:18]) + 5.0)[:, None, None], (18, 64, 64)), atol=2)


# --------------------------------------------------------------------------------------------------
# folder
# --------------------------------------------------------------------------------------------------
def make_tree(root, split, counts, size=(28, 28)):
    """root/split/<class>/*: image k of class c is a gradient plus 30*c + 3*k."""
    made = {}
    for c, (name, n) in enumerate(counts.items()):
        d = root / split / name
        d.mkdir(parents=True, exist_ok=True)
        for k in range(n):
            grad = np.linspace(0, 100, size[0] * size[1]).reshape(size)
            grey = (grad + 30 * c + 3 * k).astype(np.uint8)
            rgb = np.stack([grey, grey // 2, 255 - grey], -1).astype(np.uint8)
            ext = ["png", "PNG", "jpg", "bmp"][k % 4]
            write_image(d / f"{k:03d}.{ext}", rgb)
            made[(name, k)] = (d / f"{k:03d}.{ext}", rgb)
    return made


def test_folder_classes_labels_and_cv2_parity(tmp_path, capsys):
    made = make_tree(tmp_path, "train_data", {"3": 4, "1": 5})
    make_tree(tmp_path, "test_data", {"1": 2, "3": 3})
    (tmp_path / "train_data" / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1")  # counted as a class by the original
    (tmp_path / "train_data" / ".ipynb_checkpoints").mkdir()
    (tmp_path / "train_data" / "1" / ".hidden.png").write_bytes(b"junk")
    (tmp_path / "train_data" / "1" / "readme.txt").write_text("x")
    write_image(tmp_path / "train_data" / "3" / "zz_broken.png", flat(1, 28, 28))
    truncate(tmp_path / "train_data" / "3" / "zz_broken.png")
    ds = datasets.load("folder", str(tmp_path))
    err = capsys.readouterr().err
    assert "zz_broken.png" in err and "skipped 1 unreadable image of 5" in err
    assert ds.class_names == ["1", "3"] and ds.num_classes == 2
    assert (ds.train_size, ds.test_size, ds.shape, ds.value_range) == (9, 5, (32, 32, 3), (0.0, 1.0))
    x, y = ordered(ds, "train")
    np.testing.assert_array_equal(y, [0] * 5 + [1] * 4)
    np.testing.assert_array_equal(ordered(ds, "test")[1], [0, 0, 1, 1, 1])
    keys = [("1", k) for k in range(5)] + [("3", k) for k in range(4)]
    for got, key in zip(x, keys):  # the original's loader: imread, BGR->RGB, INTER_LINEAR to 32x32, /255
        path, _ = made[key]
        ref = cv2.resize(cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB), (32, 32), interpolation=cv2.INTER_LINEAR)
        np.testing.assert_array_equal(np.rint(got * 255), ref, err_msg=str(key))  # bit for bit, JPEG included
    grey = datasets.load("folder", str(tmp_path), channels=1, image_size=16)
    g, _ = ordered(grey, "train")
    assert g.shape == (9, 16, 16, 1)
    path, _ = made[("1", 0)]
    ref = cv2.resize(cv2.imread(str(path), cv2.IMREAD_GRAYSCALE), (16, 16), interpolation=cv2.INTER_LINEAR)
    np.testing.assert_array_equal(np.rint(g[0, :, :, 0] * 255), ref)


def test_folder_without_test_data_holds_out_20_percent(tmp_path):
    make_tree(tmp_path, "train_data", {"a": 10, "b": 10})
    ds = datasets.load("folder", str(tmp_path))
    assert (ds.train_size, ds.test_size) == (16, 4)
    assert any("20%" in note for note in ds.notes)
    again = datasets.load("folder", str(tmp_path))
    assert again._source("test").paths == ds._source("test").paths  # fixed (seed 0)
    assert not set(ds._source("test").paths) & set(ds._source("train").paths)


def test_folder_bad_layouts(tmp_path):
    (tmp_path / "images").mkdir()
    with pytest.raises(DatasetError, match=f"folder: {tmp_path} has no train_data folder"):
        datasets.load("folder", str(tmp_path))
    make_tree(tmp_path, "train_data", {"a": 2})
    (tmp_path / "train_data" / "b").mkdir()
    (tmp_path / "train_data" / "b" / "notes.txt").write_text("x")
    with pytest.raises(DatasetError, match=f"class folder {tmp_path / 'train_data' / 'b'} holds no image"):
        datasets.load("folder", str(tmp_path))
    write_image(tmp_path / "train_data" / "b" / "x.png", flat(3, 8, 8))
    make_tree(tmp_path, "test_data", {"c": 1})
    with pytest.raises(DatasetError, match=r"test_data has class folder\(s\) c that train_data lacks"):
        datasets.load("folder", str(tmp_path))
    with pytest.raises(DatasetError, match="channels must be 1 or 3"):
        datasets.load("folder", str(tmp_path), channels=4)
    shutil.rmtree(tmp_path / "test_data")
    truncate(tmp_path / "train_data" / "b" / "x.png")  # the class's only image is unreadable
    with pytest.raises(DatasetError, match=f"folder class 'b': no readable image in {tmp_path / 'train_data' / 'b'}"):
        datasets.load("folder", str(tmp_path))
