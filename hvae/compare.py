"""Two likelihood evaluations compared on the images they share: the paired difference of the bounds.

``python train.py MODEL evaluate`` writes, beside its JSON, every image's importance-weighted bound and ELBO
(``model/<netname>/evaluation/<split>_k<K>[_n<N>].npz``: :func:`hvae.evaluation.write_evaluation`). Two models
evaluated on the same images are compared image by image: the mean of the per-image differences with the standard
error of *that* mean, which is much smaller than the two evaluations' own standard errors when the models agree on
which images are hard (the image-to-image spread cancels)::

    python -m hvae.compare model/VAE_a model/VAE_b --iw_samples=1000     # or: hvae-compare ...
    python -m hvae.compare model/VAE_a/evaluation/test_k1000.json model/VAE_b/evaluation/test_k1000.json

In Python, :func:`compare` returns a :class:`Comparison`. Two evaluations are compared only if they have the same
K, the same dataset and split, the same kind of number (log-probability, density, cross-entropy) and share at least
one image whose pixels are the same in both; otherwise one line says why (:class:`hvae.errors.ConfigError`). No
TensorFlow here: comparing two files takes a moment.
"""

from __future__ import annotations

import argparse
import glob
import json
import math
import os
import re
import sys
from dataclasses import dataclass

import numpy as np

from .errors import ConfigError, HVAEError

EVALUATION_DIR = "evaluation"   # (hvae.evaluation.EVALUATION_DIR: this module imports no TensorFlow)
FILE_NAME = re.compile(r"(?P<split>[a-z]+)_k(?P<k>\d+)(?:_n(?P<n>\d+))?(?:_(?P<precision>bfloat16))?\.json")


@dataclass(frozen=True)
class Comparison:
    """Evaluation A against evaluation B on the images they share (nats per image; differences are A - B).

    Attributes:
        path_a, path_b: the two evaluations' JSON files; ``run_a``, ``run_b``: their runs and checkpoints in words.
        dataset, split: where the images come from; ``iw_samples``: K of both bounds.
        kind: what the bound is (``log-probability``, ``density`` or ``cross-entropy``: :func:`hvae.evaluation.
            density_kind`).
        shared: images evaluated by both; ``count_a``, ``count_b``: images evaluated by each.
        bound_a, bound_b, elbo_a, elbo_b: each evaluation's mean over the shared images.
        bound_difference, elbo_difference: the mean of the per-image differences A - B (equal to the difference of
            the two means over the shared images).
        bound_sem, elbo_sem: the standard error of that mean (sample standard deviation of the differences /
            sqrt(shared); NaN for one shared image).
    """

    path_a: str
    path_b: str
    run_a: str
    run_b: str
    dataset: str
    split: str
    iw_samples: int
    kind: str
    shared: int
    count_a: int
    count_b: int
    bound_a: float
    bound_b: float
    bound_difference: float
    bound_sem: float
    elbo_a: float
    elbo_b: float
    elbo_difference: float
    elbo_sem: float

    def lines(self) -> list:
        """The comparison as console lines: A, B, the shared images, then one line per bound (the K-sample bound,
        the ELBO)."""
        k = self.iw_samples
        return [
            f"A: {self.path_a} ({self.run_a})",
            f"B: {self.path_b} ({self.run_b})",
            f"{self.dataset} {self.split} split, K = {k:,}, {self.kind}: {self.shared:,} shared images "
            f"(A {self.count_a:,}, B {self.count_b:,})",
            f"IW bound (K = {k:,}): A - B = {self.bound_difference:+.3f} ± {self.bound_sem:.3f} nats/image "
            f"(A {self.bound_a:.3f}, B {self.bound_b:.3f} over the shared images)",
            f"ELBO: A - B = {self.elbo_difference:+.3f} ± {self.elbo_sem:.3f} nats/image "
            f"(A {self.elbo_a:.3f}, B {self.elbo_b:.3f} over the shared images)",
        ]

    def __str__(self) -> str:
        return "\n".join(self.lines())


def load_evaluation(path: str) -> tuple:
    """An evaluation's JSON and its per-image arrays.

    Args:
        path: the evaluation's ``.json`` (or its ``.npz``).
    Returns:
        ``(result, arrays)``: the JSON as a dict, and ``{"bound", "elbo": (N,) float64 nats, "image_index": (N,)
        int64, "image_digest": (N,) uint64}`` in the split's order.
    Raises:
        ConfigError: a missing or unreadable file, or an evaluation written without per-image values.
    """
    stem = path[:-len(".npz")] if path.endswith(".npz") else path[:-len(".json")] if path.endswith(".json") else path
    json_path, npz_path = stem + ".json", stem + ".npz"
    if not os.path.isfile(json_path):
        raise ConfigError(f"no evaluation {json_path}: give an evaluation's .json (model/<netname>/evaluation/...) "
                          f"or a run folder")
    try:
        with open(json_path) as f:
            result = json.load(f)
    except (OSError, ValueError) as err:
        raise ConfigError(f"cannot read {json_path}: {err}") from None
    if not os.path.isfile(npz_path):
        raise ConfigError(f"{json_path} has no per-image values ({os.path.basename(npz_path)}): it was written "
                          f"before evaluate saved them; evaluate the run again")
    try:
        with np.load(npz_path) as npz:
            arrays = {key: np.asarray(npz[key]) for key in ("bound", "elbo", "image_index", "image_digest")}
    except (OSError, ValueError, KeyError) as err:
        raise ConfigError(f"cannot read {npz_path}: {err}") from None
    return result, arrays


def find_evaluation(where: str, split: str = "test", iw_samples: int | None = None, num_images: int | None = None,
                    precision: str = "float32") -> str:
    """The evaluation JSON that ``where`` names.

    Args:
        where: an evaluation's ``.json`` / ``.npz`` (returned as the ``.json``), a run folder (``model/<netname>``),
            its ``evaluation/`` folder, or a netname (``model/<netname>`` from the current folder).
        split, iw_samples, num_images, precision: which of the folder's evaluations (``<split>_k<K>[_n<N>]
            [_bfloat16].json``); None: any, as long as one file is left.
    Raises:
        ConfigError: nothing there, no evaluation that matches, or several (the line lists them).
    """
    if where.endswith((".json", ".npz")):
        return where[:-4] + ".json" if where.endswith(".npz") else where
    folder = where
    if not os.path.isdir(folder) and os.path.isdir(os.path.join("model", where)):
        folder = os.path.join("model", where)
    if not os.path.isdir(folder):
        raise ConfigError(f"{where!r} is neither an evaluation's .json (or .npz) nor a run folder")
    if os.path.isdir(os.path.join(folder, EVALUATION_DIR)):
        folder = os.path.join(folder, EVALUATION_DIR)
    found, chosen = [], []
    for path in sorted(glob.glob(os.path.join(folder, "*.json"))):
        m = FILE_NAME.fullmatch(os.path.basename(path))
        if not m:
            continue
        found.append(os.path.basename(path))
        if (m["split"] == split and (iw_samples is None or int(m["k"]) == iw_samples)
                and (num_images is None or (m["n"] is not None and int(m["n"]) == num_images))
                and (m["precision"] or "float32") == precision):
            chosen.append(path)
    what = f"the {split} split" + (f" with K = {iw_samples}" if iw_samples else "") + (
        f", {num_images} images" if num_images else "") + (f" in {precision}" if precision != "float32" else "")
    if not chosen:
        has = f" (it has {', '.join(found)})" if found else ""
        raise ConfigError(f"no evaluation of {what} in {folder}{has}: run python train.py MODEL evaluate first, or "
                          f"choose with --split / --iw_samples / --num_images")
    if len(chosen) > 1:
        names = ", ".join(os.path.basename(p) for p in chosen)
        raise ConfigError(f"several evaluations of {what} in {folder} ({names}): choose one with --iw_samples or "
                          f"--num_images, or give the .json")
    return chosen[0]


def _run_words(result: dict) -> str:
    best = ", best checkpoint" if result.get("best") else ""
    return f"{result.get('netname')}, {result.get('model')}, iteration {result.get('iteration')}{best}"


def _paired(a: np.ndarray, b: np.ndarray) -> tuple:
    d = np.asarray(a, np.float64) - np.asarray(b, np.float64)
    sem = float(d.std(ddof=1) / math.sqrt(len(d))) if len(d) > 1 else float("nan")
    return float(d.mean()), sem


def compare(path_a: str, path_b: str) -> Comparison:
    """Compare evaluation A with evaluation B on the images both evaluated (module docstring).

    Args:
        path_a, path_b: two evaluations' ``.json`` files (their ``.npz`` beside them; :func:`find_evaluation` turns a
            run folder into one).
    Returns:
        a :class:`Comparison` (nats per image, A - B).
    Raises:
        ConfigError: a file missing or without per-image values; K, the dataset, the split or the kind of bound
            differ; no shared image; or shared images whose pixels differ (other loader options). One line each.
    """
    (ra, a), (rb, b) = load_evaluation(path_a), load_evaluation(path_b)
    why = "cannot compare A and B"
    if int(ra["iw_samples"]) != int(rb["iw_samples"]):
        raise ConfigError(f"{why}: their K differ (A: K = {ra['iw_samples']}, B: K = {rb['iw_samples']}); a bound "
                          f"rises with K, so evaluate both with the same --iw_samples")
    if ra.get("dataset") != rb.get("dataset"):
        raise ConfigError(f"{why}: their datasets differ (A: {ra.get('dataset')}, B: {rb.get('dataset')})")
    if ra["split"] != rb["split"]:
        raise ConfigError(f"{why}: their splits differ (A: {ra['split']}, B: {rb['split']})")
    kind_a, kind_b = ra["density"]["kind"], rb["density"]["kind"]
    if kind_a != kind_b:
        raise ConfigError(f"{why}: A's bound is a {kind_a}, B's a {kind_b} (different likelihoods: not the same "
                          f"quantity)")
    size_a, size_b = (r.get("images", {}).get("split_size") for r in (ra, rb))
    if size_a is not None and size_b is not None and size_a != size_b:
        raise ConfigError(f"{why}: their {ra['split']} splits differ ({size_a:,} and {size_b:,} images: another "
                          f"--validation_size or loader option)")
    shared, ia, ib = np.intersect1d(a["image_index"], b["image_index"], assume_unique=True, return_indices=True)
    if not len(shared):
        raise ConfigError(f"{why}: they share no images of the {ra['split']} split (A evaluated "
                          f"{len(a['image_index']):,}, B {len(b['image_index']):,}, none in common)")
    differ = int((a["image_digest"][ia] != b["image_digest"][ib]).sum())
    if differ:
        raise ConfigError(f"{why}: {differ:,} of their {len(shared):,} shared images have different pixels (the "
                          f"data was loaded with other options: {ra.get('images', {}).get('dataset_options')} and "
                          f"{rb.get('images', {}).get('dataset_options')})")
    bound_d, bound_sem = _paired(a["bound"][ia], b["bound"][ib])
    elbo_d, elbo_sem = _paired(a["elbo"][ia], b["elbo"][ib])
    return Comparison(path_a=path_a, path_b=path_b, run_a=_run_words(ra), run_b=_run_words(rb),
                      dataset=ra["dataset"], split=ra["split"], iw_samples=int(ra["iw_samples"]), kind=kind_a,
                      shared=len(shared), count_a=len(a["bound"]), count_b=len(b["bound"]),
                      bound_a=float(a["bound"][ia].mean()), bound_b=float(b["bound"][ib].mean()),
                      bound_difference=bound_d, bound_sem=bound_sem, elbo_a=float(a["elbo"][ia].mean()),
                      elbo_b=float(b["elbo"][ib].mean()), elbo_difference=elbo_d, elbo_sem=elbo_sem)


class _Parser(argparse.ArgumentParser):
    """argparse that reports a usage error in one line (exit status 2), as ``train.py``'s."""

    def error(self, message):
        raise ConfigError(f"{message} (see {self.prog} --help)")


def build_parser(prog: str) -> argparse.ArgumentParser:
    """The command line of :func:`main`."""
    p = _Parser(prog=prog, description="Compare two likelihood evaluations (python train.py MODEL evaluate) on the "
                                       "images they share: the paired difference A - B of the importance-weighted "
                                       "bounds and of the ELBOs, ± its standard error, in nats per image.")
    p.add_argument("a", metavar="A", help="an evaluation's .json, or a run folder (model/<netname>) or netname")
    p.add_argument("b", metavar="B", help="the same for the second evaluation")
    p.add_argument("--split", default="test", choices=("test", "validation", "train"),
                   help="in a run folder: the evaluated split (test)")
    p.add_argument("--iw_samples", type=int, default=None, help="in a run folder: K (needed where several exist)")
    p.add_argument("--num_images", type=int, default=None,
                   help="in a run folder: the evaluation of --num_images N (where several exist)")
    p.add_argument("--eval_precision", default="float32", choices=("float32", "bfloat16"),
                   help="in a run folder: the evaluation's precision (float32)")
    return p


def main(argv=None, prog: str = "hvae-compare") -> int:
    """``python -m hvae.compare A B [--split S] [--iw_samples K] [--num_images N]``: print the comparison (a line for
    the shared images, one per bound). Returns the exit status: 0, or 2 with one line on stderr."""
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        args = build_parser(prog).parse_args(argv)
        paths = [find_evaluation(w, args.split, args.iw_samples, args.num_images, args.eval_precision)
                 for w in (args.a, args.b)]
        print(compare(*paths), flush=True)
        return 0
    except SystemExit as exit_:   # --help
        return int(exit_.code or 0)
    except HVAEError as err:
        print(f"{prog}: error: {err}", file=sys.stderr)
        return err.exit_code


def compare_script() -> int:
    """The ``hvae-compare`` console script (``pip install``)."""
    return main(sys.argv[1:], prog="hvae-compare")


if __name__ == "__main__":
    sys.exit(main(prog="python -m hvae.compare"))
