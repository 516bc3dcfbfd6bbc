"""Images per second of each loader's training pipeline on this machine.

Iterates ``ImageDataset.batches("train", 100, shuffle=True)`` as a trainer would (float32 batches
materialised on the host, a fresh seeded permutation each epoch) for ``--seconds`` per loader, after
one warm-up batch, and reports the rate, the load time (file listing and checks) and the first-batch
latency.

Data:
* real, from ``../shared/data`` (skipped with a printed reason where absent): CelebA jpgs 89x109 ->
  64x64x3; binarized MNIST (.mat form); MNIST test images (``train_split="test"``);
* ``digits`` (scikit-learn, no files);
* synthetic files in the real formats, written to a temporary folder: SVHN ``.mat`` (20,000 images),
  LSUN ``.npy`` chunks (4 x 1,000 float32), CIFAR-10 pickles (5 x 2,000), an image folder of 2,000
  28x28 PNGs in 10 classes (-> 32x32x3, the VAE collection's MNIST).

Writes ``benchmarks/results/input_pipeline.json`` (or ``--out``) and a bar chart next to it (``.png``), and
prints a markdown table. The CPU may be shared with other jobs: the load average is recorded.

    python benchmarks/input_pipeline.py [--seconds 8] [--out benchmarks/results/input_pipeline.json] [--replot]
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import platform
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402  (after the environment default above)

SHARED = Path(os.environ.get("HVAE_SHARED_DATA", ROOT.parent / "shared" / "data"))
BATCH = 100


# --------------------------------------------------------------------------------------------------
# synthetic files in the real formats
# --------------------------------------------------------------------------------------------------
def _rng_images(n, shape, seed):
    return np.random.RandomState(seed).randint(0, 256, size=(n,) + shape, dtype=np.uint8)


def make_svhn(folder: Path, n_train=20_000, n_test=2_000) -> Path:
    import scipy.io

    folder.mkdir(parents=True, exist_ok=True)
    for name, n in (("extra_32x32.mat", n_train), ("test_32x32.mat", n_test)):
        x = np.ascontiguousarray(np.transpose(_rng_images(n, (32, 32, 3), n), (1, 2, 3, 0)))
        y = (np.arange(n) % 10 + 1).astype(np.uint8).reshape(-1, 1)
        scipy.io.savemat(str(folder / name), {"X": x, "y": y})
    return folder


def make_lsun(folder: Path, chunks=4, per_chunk=1_000) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for k in range(chunks):
        np.save(folder / f"chunk_{k:03d}.npy", _rng_images(per_chunk, (64, 64, 3), k).astype(np.float32) / 255.0)
    return folder


def make_cifar(folder: Path, per_batch=2_000) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for k, name in enumerate([f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]):
        data = _rng_images(per_batch, (3072,), k)
        with open(folder / name, "wb") as f:
            pickle.dump({b"data": data, b"labels": list(np.arange(per_batch) % 10)}, f, protocol=2)
    return folder


def make_folder(folder: Path, n=2_000) -> Path:
    import cv2

    digits = _rng_images(n, (28, 28), 7)
    for i in range(n):
        d = folder / "train_data" / str(i % 10)
        d.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(d / f"{i:05d}.png"), digits[i])
    return folder


# --------------------------------------------------------------------------------------------------
def measure(name: str, load, seconds: float) -> dict:
    """Load a dataset and iterate its shuffled training batches for ``seconds``."""
    t0 = time.perf_counter()
    ds = load()
    load_s = time.perf_counter() - t0
    epoch, images, batches = 0, 0, 0
    t1 = time.perf_counter()
    first = None
    start = None
    while True:
        for x in ds.batches("train", BATCH, shuffle=True, seed=epoch, drop_remainder=True, with_labels=False):
            if first is None:  # warm-up: pipeline construction, thread start, first reads
                first = time.perf_counter() - t1
                start = time.perf_counter()
                continue
            images += int(x.shape[0])
            batches += 1
            if time.perf_counter() - start >= seconds:
                break
        else:
            epoch += 1
            continue
        break
    elapsed = time.perf_counter() - start
    return {"name": name, "describe": ds.describe(), "images_per_second": images / elapsed, "images": images,
            "batches": batches, "seconds": elapsed, "load_seconds": load_s, "first_batch_seconds": first,
            "shape": list(ds.shape)}


def chart(results: list, path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [r["label"] for r in results]
    rates = [r["images_per_second"] for r in results]
    fig, ax = plt.subplots(figsize=(8, 0.55 * len(results) + 1.4))
    bars = ax.barh(names[::-1], rates[::-1], color=["#4c72b0" if r["data"] == "real" else "#dd8452"
                                                    for r in results[::-1]])
    ax.set_xscale("log")
    ax.set_xlabel("training images per second (batch 100, shuffled), log scale")
    ax.set_title(title, fontsize=10)
    for bar, rate in zip(bars, rates[::-1]):
        ax.text(bar.get_width() * 1.05, bar.get_y() + bar.get_height() / 2, f"{rate:,.0f}", va="center", fontsize=9)
    import math

    # bars start at a round value at least 3 times below the smallest rate, so that every bar shows
    ax.set_xlim(left=10 ** math.floor(math.log10(min(rates) / 3)), right=max(rates) * 4)
    from matplotlib.patches import Patch

    ax.legend(handles=[Patch(color="#4c72b0", label="real data"), Patch(color="#dd8452", label="synthetic files")],
              loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _title(meta: dict) -> str:
    before, after = meta["load_average_before"][0], meta["load_average_after"][0]
    shared = ", CPU shared with other jobs" if max(before, after) > 0.5 * meta["cpus"] else ""
    return (f"training input pipelines, {meta['cpus']} CPU cores, batch {meta['batch_size']} shuffled\n"
            f"load average {before:.1f} -> {after:.1f}{shared} ({meta['date']})")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=8.0, help="measuring time per loader (default 8)")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "input_pipeline.json"),
                        help="JSON output path; the chart goes next to it with a .png suffix")
    parser.add_argument("--replot", action="store_true", help="only redraw the chart from the JSON at --out")
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if args.replot:
        saved = json.loads(out.read_text())
        chart(saved["results"], out.with_suffix(".png"), _title(saved["meta"]))
        print(f"wrote {out.with_suffix('.png')}")
        return 0

    import tensorflow as tf

    from hvae import datasets

    load_before = os.getloadavg()
    tmp = Path(tempfile.mkdtemp(prefix="hvae_bench_"))
    celeba = SHARED / "celeba" / "img_align_celeba_89x109"
    plan = [  # (label, data kind, loader or skip reason, source description)
        ("celebA 64x64 (jpg files)", "real", celeba, lambda: datasets.load("celebA", str(celeba)),
         "10,000 CelebA jpgs 89x109: decode, crop 54 px, bilinear to 64"),
        ("binarized_mnist", "real", SHARED / "binarized_mnist",
         lambda: datasets.load("binarized_mnist", str(SHARED / "binarized_mnist")), "50,000 x 784 uint8 in memory"),
        ("mnist (test images)", "real", SHARED / "mnist",
         lambda: datasets.load("mnist", str(SHARED / "mnist"), train_split="test"), "10,000 idx images in memory"),
        ("digits", "real", None, lambda: datasets.load("digits"), "1,438 sklearn digits in memory"),
        ("svhn (.mat)", "synthetic", None, lambda: datasets.load("svhn", str(make_svhn(tmp / "svhn"))),
         "20,000 images, uint8 (32,32,3,N) gathered on axis 3"),
        ("lsun (.npy chunks)", "synthetic", None, lambda: datasets.load("lsun", str(make_lsun(tmp / "lsun"))),
         "4 x 1,000 float32 chunks, memory-mapped"),
        ("cifar10 (pickles)", "synthetic", None, lambda: datasets.load("cifar10", str(make_cifar(tmp / "cifar"))),
         "5 x 2,000 images in memory"),
        ("folder (png)", "synthetic", None, lambda: datasets.load("folder", str(make_folder(tmp / "folder"))),
         "2,000 28x28 grey PNGs in 10 classes -> 32x32x3"),
    ]
    results, skipped = [], []
    try:
        for label, kind, needs, load, what in plan:
            if needs is not None and not Path(needs).exists():
                reason = f"{needs} is absent"
                print(f"skip {label}: {reason}")
                skipped.append({"label": label, "reason": reason})
                continue
            print(f"measuring {label} ...", flush=True)
            r = measure(label, load, args.seconds)
            r.update(label=label, data=kind, what=what)
            results.append(r)
    finally:
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)

    load_after = os.getloadavg()
    meta = {"machine": platform.machine(), "cpus": os.cpu_count(), "python": platform.python_version(),
            "tensorflow": tf.__version__, "batch_size": BATCH, "seconds_per_loader": args.seconds,
            "load_average_before": load_before, "load_average_after": load_after,
            "date": time.strftime("%Y-%m-%d %H:%M:%S")}
    out.write_text(json.dumps({"meta": meta, "results": results, "skipped": skipped}, indent=2) + "\n")
    if results:
        chart(results, out.with_suffix(".png"), _title(meta))

    print()
    print("| loader | data | images/s | load (s) | first batch (s) | what |")
    print("|---|---|---:|---:|---:|---|")
    for r in results:
        print(f"| {r['label']} | {r['data']} | {r['images_per_second']:,.0f} | {r['load_seconds']:.2f} | "
              f"{r['first_batch_seconds']:.2f} | {r['what']} |")
    for s in skipped:
        print(f"| {s['label']} | skipped | - | - | - | {s['reason']} |")
    print(f"\nload average {load_before[0]:.2f} before, {load_after[0]:.2f} after; {os.cpu_count()} CPUs")
    print(f"wrote {out} and {out.with_suffix('.png')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
