"""Every dataset trains VLadder from the command line, with the layers its image shape selects:
28x28x1 -> vladder_mnist (Small), 32x32x3 -> vladder_svhn (Medium), 64x64x3 -> vladder_celebA (Large),
the lsun dataset -> vladder_lsun. Each runs two iterations on small files written in the real format."""

import numpy as np
import pytest
from formats import pattern_images, write_cifar, write_image, write_mnist, write_svhn

from hvae.cli import main
from hvae.runs import load_config_json


def make_mnist(root):
    write_mnist(root / "MNIST_data", n_train=30, n_test=12)
    return ["--dataset=mnist", f"--db_path={root}", "--dataset_option=validation_size=6"]


def make_svhn(root):
    root.mkdir(parents=True, exist_ok=True)
    write_svhn(root / "extra_32x32.mat", 16, 0)
    write_svhn(root / "test_32x32.mat", 8, 50)
    return ["--dataset=svhn", f"--db_path={root}"]


def make_cifar10(root):
    root.mkdir(parents=True, exist_ok=True)
    write_cifar(root, n=4)
    return ["--dataset=cifar10", f"--db_path={root}"]


def make_lsun(root):
    rng = np.random.RandomState(0)
    root.mkdir(parents=True, exist_ok=True)
    for k in range(2):
        np.save(root / f"bedroom_{k}.npy", rng.uniform(size=(10, 64, 64, 3)).astype(np.float32))
    return ["--dataset=lsun", f"--db_path={root}"]


def make_celeba(root):
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.RandomState(1)
    for i in range(12):
        write_image(root / f"{i + 1:06d}.jpg", rng.randint(0, 255, (109, 89, 3), np.uint8))
    return ["--dataset=celebA", f"--db_path={root}"]


def make_folder_grey28(root):
    for split, n in (("train_data", 10), ("test_data", 4)):
        for cls in ("a", "b"):
            (root / split / cls).mkdir(parents=True, exist_ok=True)
            for i, img in enumerate(pattern_images(n, (28, 28))):
                write_image(root / split / cls / f"{i}.png", img)
    return ["--dataset=folder", f"--db_path={root}", "--image_size=28", "--dataset_option=channels=1"]


CASES = {
    "mnist": (make_mnist, "vladder_mnist"),
    "svhn": (make_svhn, "vladder_svhn"),
    "cifar10": (make_cifar10, "vladder_svhn"),
    "lsun": (make_lsun, "vladder_lsun"),
    "celebA": (make_celeba, "vladder_celebA"),
    "folder": (make_folder_grey28, "vladder_mnist"),
}


@pytest.mark.parametrize("name", list(CASES))
def test_dataset_trains_with_the_layers_of_its_shape(tmp_path, monkeypatch, capsys, name):
    make, architecture = CASES[name]
    args = make(tmp_path / "data")
    monkeypatch.chdir(tmp_path)
    # eager: the step is the same as in tf.function (tested elsewhere) and skips tracing the large models
    code = main(args + ["--batch_size=4", "--max_iterations=1", "--vis_frequency=1000", "--netname=run", "--compile=eager"])
    out, err = capsys.readouterr()
    assert code == 0, err
    config = load_config_json(str(tmp_path / "model" / "run"))
    assert config["architecture"] == architecture
    assert (tmp_path / "model" / "run" / "ckpt-1.index").is_file()
    assert "iteration 1/1 |" in out and "Reconstruction error @1" in out  # iteration = steps completed
    figures = {"vladder_mnist": "manifold_samples", "vladder_svhn": "conditional_samples",
               "vladder_celebA": "samples", "vladder_lsun": "conditional_samples"}[architecture]
    assert (tmp_path / "model" / "run" / figures / "current.png").is_file()
