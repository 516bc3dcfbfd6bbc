"""The likelihood evaluation every model family shares: ELBO, importance-weighted bound, per-layer KL,
active units, with standard errors.

For each image x of a split and K posterior draws z_k ~ q(z | x) (all latent layers jointly), the model
gives the log importance weights w_k = log p(x, z_k) - log q(z_k | x) (:mod:`hvae.models.latent`). Then

- ELBO(x) = mean_k w_k (the K-sample average of the one-sample ELBO: the same expectation with less
  variance);
- log p̂_K(x) = logsumexp_k w_k - log K, the importance-weighted bound (Burda, Grosse & Salakhutdinov,
  "Importance Weighted Autoencoders", ICLR 2016, eq. 8): ELBO <= log p̂_K <= log p(x) in expectation, rising
  with K towards log p(x);
- per-layer KL: mean_k [log q(z_l | .) - log p(z_l | .)], the layer's share of log q - log p;
- active units (Burda et al. 2016, section 5.2): the latent units u with Cov_x(E_q[u | x]) > 0.01.

Every figure is a mean over the split's images with the standard error of that mean (sample standard
deviation / sqrt(N)). Memory stays bounded for any K: the K samples of a batch are drawn in chunks of at
most ``max_images_per_pass / B``, and the logsumexp is accumulated across chunks in float64.

Units: nats per image. Bits per dimension = nats / (H W C ln 2), given only where the likelihood is a
probability of discrete data (Bernoulli on binary pixels, discretized logistics on 8-bit images); for a
continuous density (Laplace, Gaussian) the number is a density of the input values, not comparable to
discrete likelihoods; a Bernoulli likelihood of grey levels is only a cross-entropy.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import sys
import time

import numpy as np
import tensorflow as tf

from .compare import Comparison, compare  # noqa: F401  (two evaluations on their shared images: hvae.compare)
from .errors import ConfigError, unwritable
from .runs import EVAL_PRECISIONS as PRECISIONS

ACTIVE_UNIT_THRESHOLD = 0.01
DEFAULT_MAX_IMAGES_PER_PASS = 4096
# XLA keeps every intermediate of a pass alive, so its memory grows with the images per pass: the bound that kept the
# LVAE mnist_3 within a few GB (benchmarks/evaluation_speed.py; the figures are in docs/performance.md)
XLA_MAX_IMAGES_PER_PASS = 1000


def density_kind(model, levels: int | None) -> dict:
    """What the evaluated number is, given the model's likelihood and the data's pixel levels.

    Args:
        model: a model of :mod:`hvae.models.latent` (its ``data_density``).
        levels: distinct pixel values of the data (2 binary, 256 8-bit, None continuous).
    Returns:
        ``{"likelihood": ..., "kind": "log-probability" | "density" | "cross-entropy", "discrete": bool,
        "note": one line}``.
    """
    like = model.data_density
    if like == "bernoulli":
        if levels == 2:
            return {"likelihood": like, "kind": "log-probability", "discrete": True,
                    "note": "Bernoulli likelihood of binary pixels: a log-probability of the data (nats, bits/dim)"}
        return {"likelihood": like, "kind": "cross-entropy", "discrete": False,
                "note": "Bernoulli likelihood of grey levels: a cross-entropy, not a log-likelihood of the data "
                        "(the continuous Bernoulli's normaliser is missing)"}
    if like.startswith("discretized_logistic"):
        return {"likelihood": like, "kind": "log-probability", "discrete": True,
                "note": "discretized logistic likelihood of 8-bit pixels: a log-probability (nats, bits/dim)"}
    return {"likelihood": like, "kind": "density", "discrete": False,
            "note": f"{like} likelihood: a log-density of the continuous input values, not a probability of "
                    f"discrete data (no bits/dim; not comparable to Bernoulli or discretized numbers)"}


class _Progress:
    """A progress bar with ETA on a terminal (keras Progbar), a line every 10% otherwise."""

    def __init__(self, total: int, what: str):
        self.total, self.done, self.what = total, 0, what
        self.start = time.time()
        self.tty = sys.stdout.isatty()
        self.next_report = 0.1
        if self.tty:
            from keras.utils import Progbar

            self.bar = Progbar(total, unit_name="image")

    def update(self, n: int, values=None) -> None:
        self.done += n
        if self.tty:
            self.bar.update(self.done, values=values)
        elif self.done >= self.next_report * self.total or self.done == self.total:
            elapsed = time.time() - self.start
            eta = elapsed / self.done * (self.total - self.done)
            shown = "".join(f", {k} {v:.2f}" for k, v in (values or []))
            print(f"{self.what}: {self.done:,}/{self.total:,} images, {elapsed:.0f} s, ETA {eta:.0f} s{shown}",
                  flush=True)
            while self.next_report * self.total <= self.done:
                self.next_report += 0.1


def image_digests(images) -> np.ndarray:
    """A 64-bit hash of each image's float32 values: ``(B, ...)`` images -> ``(B,)`` uint64 (blake2b)."""
    flat = np.ascontiguousarray(np.asarray(images, np.float32).reshape(int(images.shape[0]), -1))
    return np.array([int.from_bytes(hashlib.blake2b(row.tobytes(), digest_size=8).digest(), "little")
                     for row in flat], np.uint64)


def _mean_sem(values: np.ndarray) -> dict:
    values = np.asarray(values, np.float64)
    n = len(values)
    sem = float(values.std(ddof=1) / math.sqrt(n)) if n > 1 else float("nan")
    return {"mean": float(values.mean()), "sem": sem}


class Evaluator:
    """Evaluates one model over whole splits (see the module docstring).

    Args:
        model: a model of :mod:`hvae.models.latent` with ``has_posterior``.
        num_samples: K, importance samples per image (>= 1).
        max_images_per_pass: bound on K_chunk * B, the images decoded in one pass (memory); at most
            :data:`XLA_MAX_IMAGES_PER_PASS` under XLA, which holds a whole pass's intermediates at once.
        compile_mode: ``'function'`` (default), ``'xla'`` or ``'eager'``.
        precision: ``'float32'`` (default) or ``'bfloat16'``: the passes run inside the model's
            ``reduced_precision('bfloat16')`` (the LVAE's: its residual blocks' convolutions in bfloat16, every
            log-probability in float32); the log-weights and their sums stay float32 / float64.

    Raises:
        ConfigError: K < 1, a model without a posterior, or bfloat16 for a model without ``reduced_precision``.
    """

    def __init__(self, model, num_samples: int, *, max_images_per_pass: int = DEFAULT_MAX_IMAGES_PER_PASS,
                 compile_mode: str = "function", precision: str = "float32"):
        if int(num_samples) < 1:
            raise ConfigError(f"--iw_samples must be at least 1, got {num_samples}")
        if not getattr(model, "has_posterior", False):
            raise ConfigError(f"{model.name} has a deterministic encoder: there is no posterior q(z|x) to "
                              f"importance-sample, so no likelihood bound can be computed")
        if precision not in PRECISIONS:
            raise ConfigError(f"--eval_precision must be one of {', '.join(PRECISIONS)}, not {precision!r}")
        if precision != "float32":
            if not callable(getattr(model, "reduced_precision", None)):
                raise ConfigError(f"--eval_precision {precision} is implemented for the LVAE's convolutions only; "
                                  f"{model.name} evaluates in float32 (leave the flag out)")
            try:
                with model.reduced_precision(precision):
                    pass
            except ValueError as err:
                raise ConfigError(f"--eval_precision {precision}: {err}") from None
        self.model = model
        self.precision = precision
        self.num_samples = int(num_samples)
        self.max_images_per_pass = int(max_images_per_pass)
        if compile_mode == "xla":
            self.max_images_per_pass = min(self.max_images_per_pass, XLA_MAX_IMAGES_PER_PASS)

        def scope():
            return contextlib.nullcontext() if precision == "float32" else model.reduced_precision(precision)

        def terms(images, labels, k, proposal=None):
            with scope():
                if proposal is None:
                    return model.importance_terms(images, k, labels)
                return model.importance_terms(images, k, labels, proposal=proposal)

        def propose(images, labels):
            with scope():
                return model.importance_proposal(images, labels)

        def means(images, labels):
            return model.posterior_means(images, labels)

        # optional (models.latent): a proposal computed once per batch and shared by its chunks of samples
        has_proposal = callable(getattr(model, "importance_proposal", None))
        if compile_mode == "eager":
            self._terms, self._means = terms, means
            self._propose = propose if has_proposal else None
        else:
            jit = compile_mode == "xla"
            # k is a Python int: one trace per chunk size (the full chunks and a last, smaller one)
            self._terms = tf.function(terms, jit_compile=jit, reduce_retracing=True, autograph=False)
            self._means = tf.function(means, reduce_retracing=True, autograph=False)
            self._propose = tf.function(propose, reduce_retracing=True, autograph=False) if has_proposal else None

    def chunk_size(self, batch: int) -> int:
        """Samples drawn per pass for a batch of ``batch`` images."""
        return max(1, min(self.num_samples, self.max_images_per_pass // max(1, batch)))

    def batch_terms(self, images, labels=None) -> dict:
        """Per-image figures of one batch, in float64 numpy.

        Returns:
            ``log_px (B,)`` the IW bound, ``elbo (B,)``, ``log_likelihood (B,)`` mean_k log p(x|z_k),
            ``layer_kl (B, L)`` mean_k per layer.
        """
        b = int(images.shape[0])
        chunk = self.chunk_size(b)
        running_max = np.full(b, -np.inf)
        running_sum = np.zeros(b)
        total_w = np.zeros(b)
        total_ll = np.zeros(b)
        total_kl = None
        drawn = 0
        proposal = self._propose(images, labels) if self._propose is not None else None
        while drawn < self.num_samples:
            k = min(chunk, self.num_samples - drawn)
            out = self._terms(images, labels, k, proposal)
            w = out["log_weights"].numpy().astype(np.float64)  # (B, k)
            new_max = np.maximum(running_max, w.max(axis=1))
            running_sum = running_sum * np.exp(running_max - new_max) + np.exp(w - new_max[:, None]).sum(axis=1)
            running_max = new_max
            total_w += w.sum(axis=1)
            total_ll += out["log_likelihood"].numpy().astype(np.float64).sum(axis=1)
            kl = out["layer_kl"].numpy().astype(np.float64).sum(axis=1)  # (B, L)
            total_kl = kl if total_kl is None else total_kl + kl
            drawn += k
        log_px = running_max + np.log(running_sum) - math.log(self.num_samples)
        return {"log_px": log_px, "elbo": total_w / self.num_samples, "log_likelihood": total_ll / self.num_samples,
                "layer_kl": total_kl / self.num_samples}

    def evaluate(self, batches, num_images: int, *, levels: int | None, image_shape, progress: bool = True,
                 what: str = "evaluate", per_image: bool = False) -> dict:
        """Evaluate over every batch of a split.

        Args:
            batches: iterable of ``(images, labels)`` (labels may be unused), in the model's value range.
            num_images: the split's size (for the progress bar).
            levels: the data's pixel levels (see :func:`density_kind`).
            image_shape: ``(H, W, C)``, for bits per dimension.
            per_image: also return ``result["per_image"]``: ``bound (N,)`` and ``elbo (N,)`` float64 nats, in the
                batches' order, and ``image_digest (N,)`` uint64, a hash of each image's float32 values (two
                evaluations of the same images have the same digests; see :func:`compare`).
        Returns:
            the results dict (see :func:`hvae.task.Task.evaluate` for the JSON it becomes).
        """
        kind = density_kind(self.model, levels)
        bar = _Progress(num_images, what) if progress else None
        parts = {"log_px": [], "elbo": [], "log_likelihood": [], "layer_kl": []}
        digests = []
        start = time.time()
        steady_start, steady_images = None, 0  # throughput leaves out the first batch (it includes tracing)
        for images, labels in batches:
            out = self.batch_terms(images, labels)
            if per_image:
                digests.append(image_digests(images))
            for key in parts:
                parts[key].append(out[key])
            if steady_start is None:
                steady_start = time.time()
            else:
                steady_images += int(images.shape[0])
            if bar is not None:
                so_far = np.concatenate(parts["log_px"])
                bar.update(int(images.shape[0]), values=[("log p", float(so_far.mean()))])
        seconds = time.time() - start
        if not parts["log_px"]:
            raise ConfigError("the split has no images to evaluate")
        arrays = {k: np.concatenate(v) for k, v in parts.items()}
        n = len(arrays["log_px"])
        dims = int(np.prod(image_shape))
        result = {
            "num_images": n,
            "iw_samples": self.num_samples,
            "precision": self.precision,
            "units": "nats per image",
            "density": kind,
            "iw_bound": _mean_sem(arrays["log_px"]),
            "elbo": _mean_sem(arrays["elbo"]),
            "log_likelihood_given_z": _mean_sem(arrays["log_likelihood"]),
            "kl_per_layer": [_mean_sem(arrays["layer_kl"][:, l]) for l in range(arrays["layer_kl"].shape[1])],
            "kl_total": _mean_sem(arrays["layer_kl"].sum(axis=1)),
            "seconds": seconds,
            "importance_samples_per_second": (steady_images * self.num_samples / max(time.time() - steady_start, 1e-9)
                                              if steady_images else n * self.num_samples / max(seconds, 1e-9)),
        }
        result["nll"] = {"mean": -result["iw_bound"]["mean"], "sem": result["iw_bound"]["sem"]}
        if kind["discrete"]:
            scale = 1.0 / (dims * math.log(2.0))
            result["bits_per_dim"] = {"iw_bound": -result["iw_bound"]["mean"] * scale,
                                      "elbo": -result["elbo"]["mean"] * scale,
                                      "sem": result["iw_bound"]["sem"] * scale}
        else:
            result["bits_per_dim"] = None
        if per_image:
            result["per_image"] = {"bound": arrays["log_px"], "elbo": arrays["elbo"],
                                   "image_digest": np.concatenate(digests)}
        return result

    def active_units(self, batches) -> dict:
        """Active units per layer: ``{"active": [a_l], "units": [n_l], "threshold": 0.01}``.

        Cov_x(E_q[u | x]) is the variance over the split's images of each unit's posterior mean,
        accumulated in float64 (sum and sum of squares).
        """
        sums = sq = None
        count = 0
        for images, labels in batches:
            means = [tf.reshape(m, (tf.shape(m)[0], -1)).numpy().astype(np.float64)
                     for m in self._means(images, labels)]
            if sums is None:
                sums = [np.zeros(m.shape[1]) for m in means]
                sq = [np.zeros(m.shape[1]) for m in means]
            for l, m in enumerate(means):
                sums[l] += m.sum(axis=0)
                sq[l] += np.square(m).sum(axis=0)
            count += int(images.shape[0])
        if not count:
            return {"active": [], "units": [], "threshold": ACTIVE_UNIT_THRESHOLD}
        active = []
        for s, q in zip(sums, sq):
            var = q / count - np.square(s / count)
            var = var * count / max(count - 1, 1)  # unbiased covariance
            active.append(int((var > ACTIVE_UNIT_THRESHOLD).sum()))
        return {"active": active, "units": [len(s) for s in sums], "threshold": ACTIVE_UNIT_THRESHOLD}

# ---- one run's evaluation: the command line's evaluate, its files and its summary -----------------------------------
EVALUATION_DIR = "evaluation"   # <run>/evaluation/
EVALUATION_BATCH = 100
SUBSET_SEED = 0          # evaluate --num_images: the seed of the fixed random subset (nested: N < M shares N images)


def index_hash(image_index) -> str:
    """The SHA-256 of the evaluated images' positions in their split (int64 little-endian), in hex: two evaluations
    of the same images have the same hash."""
    import hashlib

    return hashlib.sha256(np.asarray(image_index, "<i8").tobytes()).hexdigest()


def evaluate_run(task) -> int:
    """``python train.py MODEL evaluate`` of a run (``task``: its :class:`hvae.task.Task`): the importance-weighted
    likelihood of a split.

    Restores the newest checkpoint (``--best``: the best by validation score), evaluates ``--split``
    (test) with ``--iw_samples`` K (1000) and writes ``model/<netname>/evaluation/<split>_k<K>.json``
    (``_n<N>`` with ``--num_images``), beside it ``<split>_k<K>[_n<N>].npz`` with every image's bound and
    ELBO (:func:`write_evaluation`; :func:`hvae.compare.compare` pairs two of them), and TensorBoard scalars
    ``evaluation/<split>/...`` at the checkpoint's iteration. The JSON's ``images`` records which images were
    evaluated: the split, their count, the subset's seed and a hash of their indices.

    Raises:
        ConfigError: unknown split, a model without a posterior, K < 1.
        CheckpointError: nothing to restore (or ``--best`` of a run without a validation split).
    """
    run = task.run
    split, k = run.split, run.iw_samples
    data = task.data()
    if split not in data.splits:
        raise ConfigError(f"dataset {data.name} has no {split} split here (it has {', '.join(data.splits)}); "
                          f"the validation split comes from --validation_size")
    whole = data.sources[split]
    if run.num_images:
        wanted, size = run.num_images, data.sources[split].size
        if wanted > size:
            print(f"--num_images {wanted:,} is more than the {split} split's {size:,} images: evaluating all "
                  f"{size:,}", flush=True)
        data = data.subset(split, wanted, seed=SUBSET_SEED)
    subset = data.sources[split] is not whole
    image_index = np.asarray(data.sources[split].indices, np.int64) if subset else np.arange(whole.size)
    best = run.best
    task.build(data.shape, data.value_range, data.num_classes)
    if not getattr(task.model, "has_posterior", True):
        raise ConfigError(f"{task.name} has a deterministic encoder: there is no posterior q(z|x) to "
                          f"importance-sample, so no likelihood bound can be computed")
    trainer = task.restore_for_use(best=best)
    checkpoint = (trainer.best_manager if best else trainer.manager).latest_checkpoint
    iteration = int(trainer.iteration.numpy())
    n = data.sources[split].size
    print(f"{run.netname} ({task.name}) at iteration {iteration} ({checkpoint}): {split} split, "
          f"{n:,} images, K = {k:,} importance samples", flush=True)
    evaluator = Evaluator(task.model, k, compile_mode=task.evaluation_compile_mode(),
                          precision=run.eval_precision)
    batches = data.batches(split, EVALUATION_BATCH, with_labels=True)
    result = evaluator.evaluate(batches, n, levels=task.data_levels(), image_shape=data.shape,
                                what=f"{split}, K={k}", per_image=True)
    per_image = {**result.pop("per_image"), "image_index": image_index}
    result["images"] = {"split": split, "count": n, "split_size": whole.size,
                        "subset": {"seed": SUBSET_SEED} if subset else None,
                        "index_sha256": index_hash(image_index), "dataset": data.name,
                        "dataset_options": task.dataset_options}
    result["active_units"] = evaluator.active_units(data.batches(split, EVALUATION_BATCH, with_labels=True))
    result.update(netname=run.netname, model=task.name, dataset=data.name, split=split,
                  checkpoint=checkpoint, iteration=iteration, best=best, image_shape=list(data.shape),
                  split_notes=[note for note in data.notes if note.startswith(f"{split}:")])
    notes = task.evaluation_notes()
    if notes:
        result["notes"] = notes
    # the result first: an evaluation can take an hour, and a run folder that cannot be written must not lose it
    print(format_evaluation(result), flush=True)
    try:
        path = write_evaluation(os.path.join(task.run_dir, EVALUATION_DIR), result, per_image)
        task.log_scalars(evaluation_scalars(result), step=result["iteration"])
    except OSError as err:
        print(json.dumps(result, indent=2, default=json_default), flush=True)
        raise unwritable(err, "the evaluation was printed above (its summary, then its JSON)") from None
    print(f"wrote {path}")
    return 0


def evaluation_scalars(result: dict) -> dict:
    """An evaluation's TensorBoard scalars: ``evaluation/<split>[_<precision>]/`` the bound (``iw_bound_k<K>``), the
    ELBO, each layer's KL and active units (nats, counts), from :func:`evaluate_run`'s ``result``."""
    low = "" if result.get("precision", "float32") == "float32" else f"_{result['precision']}"
    prefix = f"evaluation/{result['split']}{low}"
    scalars = {f"{prefix}/iw_bound_k{result['iw_samples']}": result["iw_bound"]["mean"],
               f"{prefix}/elbo": result["elbo"]["mean"]}
    for l, kl in enumerate(result["kl_per_layer"]):
        scalars[f"{prefix}/kl/layer{l}"] = kl["mean"]
    for l, a in enumerate(result["active_units"]["active"]):
        scalars[f"{prefix}/active_units/layer{l}"] = a
    return scalars


def write_evaluation(folder: str, result: dict, per_image: dict | None = None) -> str:
    """Save an evaluation as JSON in ``folder`` (``<split>_k<K>[_n<N>][_bfloat16].json``); returns its path.

    Args:
        result: the evaluation (:func:`evaluate_run`).
        per_image: ``bound``, ``elbo`` ``(N,)`` float64 nats, ``image_index`` ``(N,)`` int64 (the images'
            positions in the split) and ``image_digest`` ``(N,)`` uint64 (:func:`image_digests`), in the split's
            order: written beside the JSON, the same stem with ``.npz``, with the split, K, the dataset's name and
            the index hash (:func:`hvae.compare.load_evaluation` reads it), and named in the JSON's
            ``images.per_image_file``.

    Raises:
        OSError: a file cannot be written.
    """
    precision = result.get("precision", "float32")
    low = "" if precision == "float32" else f"_{precision}"   # a bfloat16 evaluation never replaces a float32 one
    name = f"{result['split']}_k{result['iw_samples']}"
    if any("a fixed random" in note for note in result.get("split_notes", [])):
        name += f"_n{result['num_images']}"
    name += low
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, name + ".json")
    if per_image is not None:
        arrays = {key: np.asarray(per_image[key], dtype) for key, dtype in
                  (("bound", np.float64), ("elbo", np.float64), ("image_index", np.int64),
                   ("image_digest", np.uint64))}
        info = result["images"]
        with open(os.path.join(folder, name + ".npz.tmp"), "wb") as f:
            np.savez(f, **arrays, split=np.str_(result["split"]), iw_samples=np.int64(result["iw_samples"]),
                     dataset=np.str_(info["dataset"]), split_size=np.int64(info["split_size"]),
                     index_sha256=np.str_(info["index_sha256"]), precision=np.str_(result["precision"]),
                     density_kind=np.str_(result["density"]["kind"]), netname=np.str_(result["netname"]),
                     iteration=np.int64(result["iteration"]))
        os.replace(os.path.join(folder, name + ".npz.tmp"), os.path.join(folder, name + ".npz"))
        result["images"]["per_image_file"] = name + ".npz"
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(result, f, indent=2, default=json_default)
    os.replace(tmp, path)
    return path


def json_default(value):
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    return str(value)


def format_evaluation(result: dict) -> str:
    """A few lines summarising an evaluation (nats per image, ± one standard error)."""
    iw, elbo = result["iw_bound"], result["elbo"]
    k = result["iw_samples"]
    kind = result["density"]["kind"]
    name = {"log-probability": "log p(x)", "density": "log-density", "cross-entropy": "-cross-entropy"}[kind]
    low = "" if result.get("precision", "float32") == "float32" else f", {result['precision']} convolutions"
    lines = [f"  {name} >= {iw['mean']:.2f} ± {iw['sem']:.2f} nats/image (importance-weighted bound, K = {k:,}{low}); "
             f"ELBO {elbo['mean']:.2f} ± {elbo['sem']:.2f}"]
    if result.get("bits_per_dim"):
        b = result["bits_per_dim"]
        lines.append(f"  bits/dim {b['iw_bound']:.4f} ± {b['sem']:.4f} (ELBO {b['elbo']:.4f})")
    kls = ", ".join(f"{kl['mean']:.2f}" for kl in result["kl_per_layer"])
    au = result.get("active_units") or {}
    units = ", ".join(f"{a}/{u}" for a, u in zip(au.get("active", []), au.get("units", [])))
    lines.append(f"  KL per layer (bottom to top): {kls} nats; active units: {units}")
    lines.append(f"  {result['density']['note']}")
    lines.append(f"  {result['seconds']:.1f} s, {result['importance_samples_per_second']:,.0f} importance samples/s")
    lines += [f"note: {note}" for note in result.get("notes", [])]
    return "\n".join(lines)
