"""Step-for-step parity of the Laplace family (models/laplace_vae.py) with yookoon/VLAE's own code, on static
binarized MNIST (the TensorFlow side and the orchestrator; the PyTorch side is ``laplace_original.py``).

    locked  the ORIGINAL's model class (imported from --original by laplace_original.py in the torch venv) is
            initialised as its experiment.py does; its initial weights are copied into our model (every parameter
            mapped, the trainable counts checked); both get the same mini-batches in the same order and the same
            reparameterisation noise (drawn once here, stored in an .npz: the original's torch.randn_like is fed
            from it, ours through models.latent.injected_noise), and train --steps steps with their own optimisers
            (the original: torch.optim.Adam(5e-4); ours: the task's FusedAdam(5e-4, 0.9, 0.999, 1e-8)). Every
            step's loss, reconstruction, KL and gradient norm on both sides, their relative differences, the first
            step's per-tensor gradient differences and the final weights' go to <results>/<model>_locked.json.
    free    each side with its own seeds, data order and noise, one epoch of the 50,000 training images (the
            original: DataLoader(shuffle=True), last partial batch kept, 391 steps; ours: our trainer's shuffled
            batches with the remainder dropped, 390 steps), the validation ELBO (1,000 fixed validation images,
            one draw each) every --eval_every steps and at the end, and the importance-weighted bound (K = 100)
            and ELBO on 1,000 fixed test images. Resumable: a (side, seed) whose JSON exists under --work is
            skipped. One process at a time, one thread each.
    plot-locked  every step's relative differences of locked runs (--compare TAG ...) -> <results>/<model>_locked.png
    report  the free runs' curves (both sides, mean and seed range) -> <results>/<model>_free.png and the final
            bounds' mean +- sd per side and their difference +- its standard error -> <results>/<model>_free.json.

VLAE, locked: our q(z|x) = N(mu_T, Lambda^-1) maps a given eps to z = mu + (chol Lambda)^-T eps, the original to
mu + chol(Lambda^-1) eps (docs/fidelity.md: "sample paths differ"); with --vlae_draw original (the default of a
locked VLAE run) our model's posterior draw uses the original's square root for the run, so that everything else
can be compared step for step; --vlae_draw ours keeps ours (the runs then part at step 1 by construction).

Examples (from the repository root; the original checked out outside it, e.g. at /work/originals/VLAE):

    .venv/bin/python benchmarks/parity/laplace_parity.py locked --original /work/originals/VLAE --model VAE
    .venv/bin/python benchmarks/parity/laplace_parity.py free --original /work/originals/VLAE --model VAE --seeds 1 2 3
    .venv/bin/python benchmarks/parity/laplace_parity.py report --model VAE
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
DATA = "/work/shared/data/binarized_mnist"
MODELS = {"VAE": "VLAE_VAE", "VLAE": "VLAE", "HF": "HF", "IAF": "IAF", "SAVAE": "SAVAE"}   # original -> ours
BATCH, Z, PIXELS = 128, 50, 784
N_SVI_STEP = 4


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog=__doc__.split("\n\n", 1)[1])
    p.add_argument("mode", choices=("locked", "free", "report", "plot-locked"))
    p.add_argument("--compare", nargs="+", default=["", "_chaos"],
                   help="plot-locked: the tags of the locked runs to draw (default: '' and _chaos)")
    p.add_argument("--original", help="checkout of yookoon/VLAE (locked, free); nothing is downloaded")
    p.add_argument("--model", choices=tuple(MODELS) + ("LVAE",), default="VAE",
                   help="the original's name (default VAE; ours: VLAE_VAE for VAE, the same name else; LVAE: "
                        "plot-locked only, of lvae_parity.py's runs)")
    p.add_argument("--steps", type=int, default=200, help="locked: optimiser steps (default 200); free: 0 = one "
                                                          "epoch (default for free)")
    p.add_argument("--seed", type=int, default=0, help="locked: the seed of the batches, the noise and the "
                                                       "original's initialisation (default 0)")
    p.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3], help="free: seeds per side (default 1 2 3)")
    p.add_argument("--side", choices=("both", "ours", "original"), default="both", help="free: which side(s)")
    p.add_argument("--eval_every", type=int, default=25, help="free: validation ELBO every N steps (default 25)")
    p.add_argument("--iw_samples", type=int, default=100, help="free: K of the final bound (default 100)")
    p.add_argument("--vlae_draw", choices=("original", "ours"), default="original",
                   help="locked VLAE: the posterior draw's square root of Lambda^-1 on our side (default original)")
    p.add_argument("--our_adam", choices=("fused", "pytorch"), default="fused",
                   help="locked: our optimiser, the task's FusedAdam (default) or, as a diagnostic, torch.optim.Adam's "
                        "arithmetic written in TensorFlow (epsilon after the bias correction)")
    p.add_argument("--perturb", type=float, default=0.0,
                   help="locked: a reference of float32 chaos: the ORIGINAL against itself, its copy's initial weights "
                        "multiplied by (1 + perturb * u), u ~ U(-1, 1) (e.g. 1e-7, about one float32 ulp); our side "
                        "is not run")
    p.add_argument("--compare_only", action="store_true",
                   help="locked: recompute the comparison from the files of an earlier run under --work")
    p.add_argument("--data", default=DATA, help=f"folder of binarized_mnist_{{train,valid,test}}.amat (default {DATA})")
    p.add_argument("--torch_python", default=os.environ.get("TORCH_PYTHON", "/work/torch-venv/bin/python"),
                   help="the torch venv's python (default $TORCH_PYTHON or /work/torch-venv/bin/python)")
    p.add_argument("--work", default="/work/runs/parity", help="exchange files and free-run logs (default "
                                                               "/work/runs/parity)")
    p.add_argument("--results", default=os.path.join(REPO, "benchmarks", "results", "parity"),
                   help="where the JSON and PNG results go (default benchmarks/results/parity)")
    p.add_argument("--tag", default="", help="suffix of the result names (e.g. a variant of a locked run)")
    return p.parse_args(argv)


# ---- data ---------------------------------------------------------------------------------------------
def load_split(folder: str, split: str):
    """Static binarized MNIST ``(N, 784)`` uint8 {0, 1} (MATLAB files despite the .amat names)."""
    import numpy as np
    import scipy.io

    return np.asarray(scipy.io.loadmat(os.path.join(folder, f"binarized_mnist_{split}.amat"))["X"], np.uint8)


def fixed_subset(x, n: int, seed: int):
    import numpy as np

    return x[np.sort(np.random.RandomState(seed).choice(len(x), n, replace=False))]


# ---- our side -----------------------------------------------------------------------------------------
def start_tensorflow():
    os.environ.setdefault("TF_NUM_INTRAOP_THREADS", "1")
    os.environ.setdefault("TF_NUM_INTEROP_THREADS", "1")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    sys.path.insert(0, REPO)
    import tensorflow as tf

    try:
        tf.config.threading.set_intra_op_parallelism_threads(1)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    except RuntimeError:
        pass
    return tf


def our_model(name: str):
    """Our model of the original's ``name`` with its Bernoulli output on binary data; IAF and SA-VAE with
    ``legacy=True`` (the original's masks and inner step), as the locked and free runs compare the original's
    behaviour."""
    from hvae import models

    overrides = {"legacy": True} if name in ("IAF", "SAVAE") else {}
    return models.from_preset(f"{MODELS[name]}_binarized_mnist", value_range=(0.0, 1.0), **overrides).build_all()


def our_optimizer(model, kind: str = "fused"):
    """``fused``: what LaplaceTask.build_optimizer builds (FusedAdam(5e-4, 0.9, 0.999, 1e-8), epsilon in
    TensorFlow's place); ``pytorch``: a diagnostic only, torch.optim.Adam's arithmetic (epsilon added to the
    bias-corrected sqrt(v)) written in TensorFlow, to measure what the epsilon's place does in a locked run."""
    from hvae.laplace_task import LEARNING_RATE, LaplaceTask
    from hvae.optimizers import FusedAdam

    if kind == "pytorch":
        return TorchStyleAdam(model.trainable_variables, LEARNING_RATE, **LaplaceTask.adam)
    opt = FusedAdam(LEARNING_RATE, **LaplaceTask.adam)      # what LaplaceTask.build_optimizer builds
    opt.build(model.trainable_variables)
    return opt


class TorchStyleAdam:
    """torch.optim.Adam's single-tensor update (torch/optim/adam.py, no weight decay, no amsgrad) in TensorFlow:
    m.lerp_(g, 1 - b1); v = b2 v + (1 - b2) g^2; w -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps).
    Harness-only (a diagnostic of --our_adam pytorch); ``apply_gradients`` as Keras' optimizers."""

    def __init__(self, variables, learning_rate, beta_1, beta_2, epsilon):
        import tensorflow as tf

        self.lr, self.b1, self.b2, self.eps = learning_rate, beta_1, beta_2, epsilon
        self.t = tf.Variable(0.0, trainable=False)
        self.m = [tf.Variable(tf.zeros_like(v), trainable=False) for v in variables]
        self.v = [tf.Variable(tf.zeros_like(v), trainable=False) for v in variables]
        self.index = {id(v): i for i, v in enumerate(variables)}

    def apply_gradients(self, pairs):
        import tensorflow as tf

        t = self.t.assign_add(1.0)
        bc1 = 1.0 - tf.pow(self.b1, t)
        bc2_sqrt = tf.sqrt(1.0 - tf.pow(self.b2, t))
        for g, var in pairs:
            i = self.index[id(var)]
            m = self.m[i].assign_add((1.0 - self.b1) * (g - self.m[i]))
            v = self.v[i].assign(self.b2 * self.v[i] + (1.0 - self.b2) * g * g)
            var.assign_sub((self.lr / bc1) * m / (tf.sqrt(v) / bc2_sqrt + self.eps))


def weight_map(model, name: str) -> list:
    """``[(original state_dict key, our variable, how)]``, how: ``"T"`` (torch Linear (out, in) = our kernel
    transposed), ``"scalar"`` (PReLU's (1,) weight = our scalar slope) or ``""`` (the same array)."""
    rows = []

    def linear(prefix, layer):
        rows.extend([(prefix + ".weight", layer.kernel, "T"), (prefix + ".bias", layer.bias, "")])

    for k, layer in (("hidden0", "hidden0"), ("hidden1", "hidden1"), ("mu", "mean"), ("logvar", "log_var")):
        linear(f"encoder.linear_{k}", getattr(model.encoder, layer))
    for k, layer in (("hidden0", "hidden0"), ("hidden1", "hidden1"), ("mu", "out")):
        linear(f"decoder.linear_{k}", getattr(model.decoder, layer))
    if model.decoder.log_var is not None:
        rows.append(("decoder.logvar", model.decoder.log_var, ""))
    if name == "HF":
        for i, flow in enumerate(model.householder.flows):
            linear(f"householderflow.linear_flows.{i}", flow)
    if name == "IAF":
        for i, made in enumerate(model.made):
            p = f"AutoregressiveNN.{i}."
            rows += [(p + "W.weight", made.w, "T"), (p + "b", made.b, ""), (p + "V_s.weight", made.v_s, "T"),
                     (p + "V_m.weight", made.v_m, "T"), (p + "c_s", made.c_s, ""), (p + "c_m", made.c_m, ""),
                     (p + "relu.weight", made.slope, "scalar"), (p + "W_mask", made.w_mask, "T"),
                     (p + "V_mask", made.v_mask, "T")]
    return rows


def to_ours(value, how):
    import numpy as np

    return value.T if how == "T" else (np.reshape(value, ()) if how == "scalar" else value)


def to_theirs(value, how):
    import numpy as np

    return value.T if how == "T" else (np.reshape(value, (1,)) if how == "scalar" else value)


def copy_weights(model, name: str, weights: dict) -> dict:
    """Assign the original's ``weights`` to ``model``; returns the parameter counts (trainable) of both sides."""
    mapping = weight_map(model, name)
    mapped = {key for key, _, _ in mapping}
    missing = sorted(set(weights) - mapped)
    if missing:
        raise SystemExit(f"original parameters with no counterpart in ours: {missing}")
    for key, var, how in mapping:
        value = to_ours(weights[key], how)
        if tuple(value.shape) != tuple(var.shape):
            raise SystemExit(f"{key}: original {weights[key].shape} -> {value.shape}, ours {var.shape}")
        var.assign(value)
    ours = sum(int(v.shape.num_elements()) for v in model.trainable_variables)
    theirs = sum(int(weights[k].size) for k, var, _ in mapping if var.trainable)
    if ours != theirs:
        raise SystemExit(f"trainable parameter counts differ: ours {ours:,}, the original's {theirs:,}")
    return {"ours": ours, "original": theirs}


def use_original_vlae_draw(model):
    """Our VLAE's posterior draw with the original's square root L = chol(Lambda^-1) (``distribution.Gaussian``),
    for a locked run: z = mu + L eps through models.latent.sample_and_log_prob (the injected eps)."""
    import types

    import tensorflow as tf
    import tensorflow_probability as tfp

    from hvae.models.latent import sample_and_log_prob

    def sample_posterior(self, state, num_samples):
        chol = state["chol"]
        precision = tf.matmul(chol, chol, transpose_b=True)
        lower = tf.linalg.cholesky(tf.linalg.inv(precision))
        dist = tfp.distributions.MultivariateNormalLinearOperator(
            loc=state["loc"], scale=tf.linalg.LinearOperatorLowerTriangular(lower))
        return sample_and_log_prob(dist, num_samples)

    model.sample_posterior = types.MethodType(sample_posterior, model)


def draws_per_step(name: str) -> int:
    return N_SVI_STEP + 1 if name == "SAVAE" else 1


def run_ours_locked(args, inputs: str, initial: str, out: str):
    import numpy as np

    tf = start_tensorflow()
    from hvae.models.latent import injected_noise

    model = our_model(args.model)
    weights = dict(np.load(initial))
    counts = copy_weights(model, args.model, weights)
    if args.model == "VLAE" and args.vlae_draw == "original":
        use_original_vlae_draw(model)
    optimizer = our_optimizer(model, args.our_adam)
    variables = model.trainable_variables
    data = np.load(inputs)
    x_all, eps_all = data["x"], data["eps"]
    draws = eps_all.shape[1]

    @tf.function(autograph=False)
    def step(images, eps):
        noise = [eps[i][None] if i == draws - 1 else eps[i] for i in range(draws)]   # the last draw: K = 1 samples
        with injected_noise(noise):
            with tf.GradientTape() as tape:
                terms = model.loss_terms(images, training=True)
        grads = tape.gradient(terms["loss"], variables)
        grads = [tf.zeros_like(v) if g is None else g for g, v in zip(grads, variables)]
        norm = tf.linalg.global_norm(grads)
        optimizer.apply_gradients(zip(grads, variables))
        return terms, norm, grads

    rows = []
    t0 = time.time()
    index = {id(var): (key, how) for key, var, how in weight_map(model, args.model)}
    for s in range(len(x_all)):
        images = tf.constant(x_all[s].astype(np.float32).reshape(-1, 28, 28, 1))
        terms, norm, grads = step(images, tf.constant(eps_all[s]))
        if s == 0:
            np.savez(out + "_grads0.npz", **{index[id(v)][0]: to_theirs(g.numpy(), index[id(v)][1])
                                             for g, v in zip(grads, variables)})
        rows.append({"step": s + 1, "loss": float(terms["loss"]), "reconstruction": float(terms["reconstruction"]),
                     "kl": float(terms["kl"]), "gradient_norm": float(norm)})
    final = {key: to_theirs(var.numpy(), how) for key, var, how in weight_map(model, args.model)}
    np.savez(out + "_final.npz", **final)
    import keras

    info = {"side": "ours", "model": MODELS[args.model], "tensorflow": tf.__version__, "keras": keras.__version__,
            "seconds": time.time() - t0, "parameters": counts, "optimizer": type(optimizer).__name__, "steps": rows}
    with open(out + ".json", "w") as f:
        json.dump(info, f, indent=1)


def relative(a, b) -> float:
    return abs(a - b) / max(abs(b), 1e-12)


def compare_locked(args, work: str, prefix_o: str, prefix_t: str) -> dict:
    import numpy as np

    ours = json.load(open(prefix_o + ".json"))
    theirs = json.load(open(prefix_t + ".json"))
    keys = ("loss", "reconstruction", "kl", "gradient_norm")
    per_step = []
    for o, t in zip(ours["steps"], theirs["steps"]):
        t_norm = t["gradient_norm_masked"] if args.model == "IAF" else t["gradient_norm"]
        if args.model == "IAF" and "gradient_norm_masked" in o:      # the chaos reference: two originals
            o = {**o, "gradient_norm": o["gradient_norm_masked"]}
        row = {"step": o["step"]}
        for k in keys:
            tv = t_norm if k == "gradient_norm" else t[k]
            row[k] = {"ours": o[k], "original": tv, "relative": relative(o[k], tv)}
        per_step.append(row)
    largest = {k: max(r[k]["relative"] for r in per_step) for k in keys}
    where = {k: max(per_step, key=lambda r: r[k]["relative"])["step"] for k in keys}
    first_over = {}
    for threshold in (1e-5, 1e-4, 1e-3, 1e-2):
        hit = [r["step"] for r in per_step if r["loss"]["relative"] > threshold]
        first_over[f"{threshold:g}"] = hit[0] if hit else None
    g_o, g_t = np.load(prefix_o + "_grads0.npz"), np.load(prefix_t + "_grads0.npz")
    grads0 = {}
    diff2 = ref2 = 0.0
    for k in g_t.files:
        a, b = g_o[k].astype(np.float64), g_t[k].astype(np.float64)
        if args.model == "IAF" and k.endswith((".W.weight", ".V_s.weight", ".V_m.weight")):
            mask = np.load(prefix_t + "_initial.npz")[k.rsplit(".", 2)[0] + (".W_mask" if ".W." in k else ".V_mask")]
            a, b = a * mask, b * mask
        grads0[k] = float(np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-30))
        diff2 += float(np.sum((a - b) ** 2))
        ref2 += float(np.sum(b ** 2))
    w_o, w_t = dict(np.load(prefix_o + "_final.npz")), dict(np.load(prefix_t + "_final.npz"))
    for k in list(w_t):
        if ".W_mask" in k or ".V_mask" in k or not k.endswith((".W.weight", ".V_s.weight", ".V_m.weight")):
            continue
        # MADE: the weights as used (times the mask); the original's masked entries are overwritten by its
        # apply_mask only at the next forward, ours never change
        mask = w_t[k.rsplit(".", 2)[0] + (".W_mask" if k.endswith(".W.weight") else ".V_mask")]
        w_o[k], w_t[k] = w_o[k] * mask, w_t[k] * mask
    final = {k: float(np.linalg.norm(w_o[k].astype(np.float64) - w_t[k]) / max(np.linalg.norm(w_t[k]), 1e-30))
             for k in w_t if k in w_o and not k.endswith("_mask")}
    return {"model": args.model, "ours": MODELS[args.model], "steps": len(per_step), "seed": args.seed,
            "vlae_draw": args.vlae_draw if args.model == "VLAE" else None,
            "parameters": ours["parameters"], "largest_relative_difference": largest,
            "step_of_largest": where, "first_step_loss_relative_over": first_over,
            "step1_gradient_relative_difference_per_tensor": grads0,
            "step1_gradient_relative_difference_all": math.sqrt(diff2 / ref2),
            "final_weight_relative_difference_per_tensor": final,
            "seconds": {"ours": ours["seconds"], "original": theirs["seconds"]},
            "versions": {"tensorflow": ours.get("tensorflow"), "keras": ours.get("keras"), "torch": theirs["torch"]},
            "optimizers": {"ours": ours["optimizer"], "original": theirs["optimizer"]},
            "our_adam": args.our_adam, "perturb": args.perturb,
            "compared": ("the original against itself with perturbed initial weights" if args.perturb
                         else "ours against the original"), "per_step": per_step}


def locked(args):
    import numpy as np

    if not args.original:
        raise SystemExit("locked needs --original (a checkout of yookoon/VLAE)")
    work = os.path.join(args.work, "locked", f"{args.model}{args.tag}_seed{args.seed}")
    os.makedirs(work, exist_ok=True)
    os.makedirs(args.results, exist_ok=True)
    rng = np.random.RandomState(args.seed)
    train = load_split(args.data, "train")
    order = rng.permutation(len(train))
    need = args.steps * BATCH
    order = np.concatenate([order, rng.permutation(len(train))])[:need] if need > len(train) else order[:need]
    x = train[order].reshape(args.steps, BATCH, PIXELS)
    eps = rng.standard_normal((args.steps, draws_per_step(args.model), BATCH, Z)).astype(np.float32)
    inputs = os.path.join(work, "inputs.npz")
    if not args.compare_only:
        np.savez(inputs, x=x, eps=eps, draws_per_step=draws_per_step(args.model))
    prefix_t, prefix_o = os.path.join(work, "original"), os.path.join(work, "ours")
    cmd = [args.torch_python, os.path.join(HERE, "laplace_original.py"), "locked", "--original", args.original,
           "--model", args.model, "--inputs", inputs, "--out", prefix_t, "--seed", str(args.seed)]
    base = os.path.join(args.work, "locked", f"{args.model}_seed{args.seed}")
    if args.perturb and not args.compare_only and os.path.exists(os.path.join(base, "original_final.npz")) \
            and len(np.load(os.path.join(base, "inputs.npz"))["x"]) == args.steps:
        # the untagged run's original (the same seed, batches and noise) is reused: only the perturbed copy runs
        prefix_t = os.path.join(base, "original")
        cmd[cmd.index(inputs)] = os.path.join(base, "inputs.npz")
        print("reusing the original's run of", base, flush=True)
    elif args.compare_only:
        prefix_o = os.path.join(work, "original_perturbed") if args.perturb else prefix_o
        if not os.path.exists(prefix_t + ".json"):       # a perturbed run that reused the untagged run's original
            prefix_t = os.path.join(base, "original")
    else:
        print("original:", " ".join(cmd), flush=True)
        subprocess.run(cmd, check=True)
    if args.compare_only:
        pass
    elif args.perturb:
        prefix_o = os.path.join(work, "original_perturbed")
        subprocess.run(cmd[:-4] + ["--out", prefix_o, "--seed", str(args.seed), "--perturb", str(args.perturb)],
                       check=True)
    else:
        print("ours ...", flush=True)
        run_ours_locked(args, inputs, prefix_t + "_initial.npz", prefix_o)
    result = compare_locked(args, work, prefix_o, prefix_t)
    result["command"] = " ".join(["benchmarks/parity/laplace_parity.py"] + sys.argv[1:])
    path = os.path.join(args.results, f"{args.model}{args.tag}_locked.json")
    if args.compare_only and os.path.exists(path):
        result["command"] = json.load(open(path)).get("command", result["command"])
    with open(path, "w") as f:
        json.dump(result, f, indent=1)
    print(json.dumps({k: result[k] for k in ("model", "steps", "parameters", "largest_relative_difference",
                                             "step_of_largest", "first_step_loss_relative_over")}, indent=1))
    print("step-1 gradients, largest per-tensor relative difference:",
          max(result["step1_gradient_relative_difference_per_tensor"].items(), key=lambda kv: kv[1]))
    print("final weights, largest per-tensor relative difference:",
          max(result["final_weight_relative_difference_per_tensor"].items(), key=lambda kv: kv[1]))
    print("->", path)


# ---- free runs ----------------------------------------------------------------------------------------
def free_inputs(args) -> str:
    import numpy as np

    path = os.path.join(args.work, "free", "inputs.npz")
    if not os.path.exists(path):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        np.savez(path, train=load_split(args.data, "train"),
                 valid=fixed_subset(load_split(args.data, "valid"), 1000, 0),
                 test=fixed_subset(load_split(args.data, "test"), 1000, 0))
    return path


def free_step(tf, model, optimizer, objective):
    """A free run's training step (hvae/trainer.py's replica_step on one replica): ``objective(images, *args)``
    gives the terms, their ``loss`` is differentiated (a None gradient as zeros) and applied; returns the loss.
    Shared by the Laplace family's and the LVAE's free runs (lvae_parity.py)."""
    variables = model.trainable_variables

    @tf.function(autograph=False)
    def step(images, *args):
        with tf.GradientTape() as tape:
            terms = objective(images, *args)
        grads = tape.gradient(terms["loss"], variables)
        grads = [tf.zeros_like(v) if g is None else g for g, v in zip(grads, variables)]
        optimizer.apply_gradients(zip(grads, variables))
        return terms["loss"]

    return step


def log_mean_exp(w):
    """Per row, log of the mean of exp(w) in float64: the importance-weighted bound of ``(N, K)`` log weights."""
    import numpy as np

    w = np.asarray(w, np.float64)
    m = w.max(1, keepdims=True)
    return np.log(np.exp(w - m).mean(1)) + m[:, 0]


def run_ours_free(args, inputs: str, seed: int, out: str):
    import numpy as np

    tf = start_tensorflow()
    import keras

    keras.utils.set_random_seed(seed)
    model = our_model(args.model)
    optimizer = our_optimizer(model)
    data = np.load(inputs)
    train = data["train"].astype(np.float32).reshape(-1, 28, 28, 1)
    valid = tf.constant(data["valid"].astype(np.float32).reshape(-1, 28, 28, 1))
    test = tf.constant(data["test"].astype(np.float32).reshape(-1, 28, 28, 1))
    step = free_step(tf, model, optimizer, lambda images: model.loss_terms(images, training=True))

    @tf.function(autograph=False)
    def neg_elbo(images):
        return model.loss_terms(images, training=False)["loss"]

    @tf.function(autograph=False)
    def log_weights(images):
        return model.importance_terms(images, args.iw_samples)["log_weights"]

    def validation_elbo():
        return -float(np.mean([float(neg_elbo(valid[i:i + 100])) for i in range(0, len(valid), 100)]))

    order = np.random.RandomState(seed).permutation(len(train))
    batches = len(train) // BATCH                          # the trainer drops the remainder
    limit = args.steps or batches
    curve = [{"step": 0, "validation_elbo": validation_elbo()}]
    t0 = time.time()
    for s in range(min(limit, batches)):
        loss = step(tf.constant(train[order[s * BATCH:(s + 1) * BATCH]]))
        if (s + 1) % args.eval_every == 0:
            curve.append({"step": s + 1, "validation_elbo": validation_elbo(), "train_loss": float(loss)})
    steps = min(limit, batches)
    if curve[-1]["step"] != steps:
        curve.append({"step": steps, "validation_elbo": validation_elbo()})
    train_seconds = time.time() - t0
    chunk = max(1, 10000 // args.iw_samples)
    bounds = []
    for i in range(0, len(test), chunk):
        bounds.append(log_mean_exp(log_weights(test[i:i + chunk]).numpy()))
    test_elbo = -float(np.mean([float(neg_elbo(test[i:i + 100])) for i in range(0, len(test), 100)]))
    info = {"side": "ours", "model": MODELS[args.model], "seed": seed, "tensorflow": tf.__version__, "steps": steps,
            "train_seconds": train_seconds, "curve": curve, "test_iw_bound": float(np.concatenate(bounds).mean()),
            "test_elbo": test_elbo, "iw_samples": args.iw_samples, "test_images": int(len(test))}
    with open(out + ".json", "w") as f:
        json.dump(info, f, indent=1)


def free(args):
    if not args.original and args.side != "ours":
        raise SystemExit("free needs --original for the original's side")
    inputs = free_inputs(args)
    folder = os.path.join(args.work, "free", f"{args.model}{args.tag}")
    os.makedirs(folder, exist_ok=True)
    sides = ("original", "ours") if args.side == "both" else (args.side,)
    steps = args.steps if "--steps" in sys.argv else 0
    for seed in args.seeds:
        for side in sides:
            out = os.path.join(folder, f"{side}_seed{seed}")
            if os.path.exists(out + ".json"):
                print(f"{side} seed {seed}: done already ({out}.json)", flush=True)
                continue
            t0 = time.time()
            if side == "original":
                cmd = [args.torch_python, os.path.join(HERE, "laplace_original.py"), "free", "--original",
                       args.original, "--model", args.model, "--inputs", inputs, "--out", out, "--seed", str(seed),
                       "--eval_every", str(args.eval_every), "--iw_samples", str(args.iw_samples),
                       "--steps", str(steps)]
                subprocess.run(cmd, check=True)
            else:
                a = argparse.Namespace(**{**vars(args), "steps": steps})
                cmd = [sys.executable, os.path.abspath(__file__), "_ours_free", json.dumps(vars(a)), inputs,
                       str(seed), out]
                subprocess.run(cmd, check=True)    # a fresh process per run: its own TensorFlow state
            r = json.load(open(out + ".json"))
            print(f"{side} seed {seed}: {r['steps']} steps, IW-{r['iw_samples']} {r['test_iw_bound']:.3f}, "
                  f"ELBO {r['test_elbo']:.3f}, final validation ELBO {r['curve'][-1]['validation_elbo']:.3f} "
                  f"({time.time() - t0:.0f} s)", flush=True)


def report(args):
    import numpy as np

    folder = os.path.join(args.work, "free", f"{args.model}{args.tag}")
    runs = {side: [json.load(open(os.path.join(folder, f))) for f in sorted(os.listdir(folder))
                   if f.startswith(side + "_seed") and f.endswith(".json")] for side in ("original", "ours")}
    lvae = args.model == "LVAE"                  # lvae_parity.py's free runs
    ours_name = "LVAE_mnist_3" if lvae else MODELS[args.model]
    summary = {"model": args.model, "ours": ours_name, "sides": {}}
    for side, rs in runs.items():
        if not rs:
            continue
        iw = np.array([r["test_iw_bound"] for r in rs])
        el = np.array([r["test_elbo"] for r in rs])
        va = np.array([r["curve"][-1]["validation_elbo"] for r in rs])
        sd = (lambda v: float(v.std(ddof=1)) if len(v) > 1 else float("nan"))
        summary["sides"][side] = {
            "seeds": [r["seed"] for r in rs], "steps": [r["steps"] for r in rs],
            "test_iw_bound": [float(v) for v in iw], "test_iw_bound_mean": float(iw.mean()), "test_iw_bound_sd": sd(iw),
            "test_elbo": [float(v) for v in el], "test_elbo_mean": float(el.mean()), "test_elbo_sd": sd(el),
            "final_validation_elbo_mean": float(va.mean()), "final_validation_elbo_sd": sd(va),
            "train_seconds_mean": float(np.mean([r["train_seconds"] for r in rs])),
            "iw_samples": rs[0]["iw_samples"], "test_images": rs[0]["test_images"],
            "versions": {k: rs[0][k] for k in ("torch", "tensorflow") if k in rs[0]}}
    if len(summary["sides"]) == 2:
        o, t = summary["sides"]["ours"], summary["sides"]["original"]
        for key in ("test_iw_bound", "test_elbo"):
            se = math.sqrt(o[key + "_sd"] ** 2 / len(o[key]) + t[key + "_sd"] ** 2 / len(t[key]))
            summary[f"{key}_difference_ours_minus_original"] = {"mean": o[key + "_mean"] - t[key + "_mean"],
                                                                  "standard_error": se}
    os.makedirs(args.results, exist_ok=True)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(11, 4.5))
    means = {}
    for side, colour in (("original", "tab:blue"), ("ours", "tab:red")):
        rs = runs[side]
        if not rs:
            continue
        steps = sorted(set.intersection(*[set(p["step"] for p in r["curve"]) for r in rs]))
        values = np.array([[{p["step"]: p["validation_elbo"] for p in r["curve"]}[s] for s in steps] for r in rs])
        means[side] = dict(zip(steps, values.mean(0)))
        label = {"original": f"original ({'addtt/ladder-vae-pytorch' if lvae else 'yookoon/VLAE'}, PyTorch)",
                 "ours": f"ours ({ours_name}, TF)"}[side]
        for axis in (ax, ax2):
            axis.plot(steps, values.mean(0), color=colour, label=f"{label}: mean of {len(rs)} seeds")
            axis.fill_between(steps, values.min(0), values.max(0), color=colour, alpha=0.2, label="seed range")
    last = max(max(m) for m in means.values()) if means else 1
    ax.set_xlim(0, last)
    first = 50 if lvae else 25
    lows = [min(v for s, v in m.items() if s >= first) for m in means.values() if any(s >= first for s in m)]
    if lows:
        ax.set_ylim(bottom=min(lows) - 5)
    ax2.set_xlim(last / 2, last)
    highs = [v for m in means.values() for s, v in m.items() if s >= last / 2]
    if highs:
        ax2.set_ylim(min(highs) - 3, max(highs) + 3)
    for axis in (ax, ax2):
        axis.set_xlabel(f"optimiser step (batch {64 if lvae else BATCH})")
        axis.grid(alpha=0.3)
    ax.set_ylabel("validation ELBO, nats (1,000 fixed images, one draw)")
    ax2.set_title("second half of the run" if lvae else "second half of the epoch", fontsize=9)
    ax.legend(fontsize=8, loc="lower right")
    budget = f"{max(means.get('ours', means.get('original', {0: 0})))} steps" if lvae else "one epoch"
    title = f"{args.model}: {budget} of static binarized MNIST, free runs (own seeds, data order, noise)"
    if "test_iw_bound_difference_ours_minus_original" in summary:
        d = summary["test_iw_bound_difference_ours_minus_original"]
        title += (f"\ntest IW-{summary['sides']['ours']['iw_samples']} on 1,000 images: ours - original = "
                  f"{d['mean']:+.2f} +- {d['standard_error']:.2f} nats (standard error)")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    png = os.path.join(args.results, f"{args.model}{args.tag}_free.png")
    fig.savefig(png, dpi=110)
    summary["figure"] = os.path.relpath(png, REPO)
    path = os.path.join(args.results, f"{args.model}{args.tag}_free.json")
    with open(path, "w") as f:
        json.dump(summary, f, indent=1)
    print(json.dumps(summary, indent=1))


def plot_locked(args):
    """<results>/<model><tag>_locked.png: every step's relative difference of the loss and of the gradient norm in
    the locked runs ``<model><t>_locked.json`` for t in --compare (ours against the original, and the original
    against itself from perturbed weights: the float32-chaos reference)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    legend_height = 0.25 * len(args.compare) + 0.1      # inches below the plots: one legend line per run
    fig, axes = plt.subplots(1, 2, figsize=(11, 4 + legend_height))
    for tag, colour in zip(args.compare, ("tab:red", "tab:gray", "tab:green", "tab:purple")):
        r = json.load(open(os.path.join(args.results, f"{args.model}{tag}_locked.json")))
        steps = [row["step"] for row in r["per_step"]]
        what = r["compared"] + (f" (perturb {r['perturb']:g})" if r["perturb"] else "") + \
            (", our Adam in PyTorch's arithmetic" if r.get("our_adam") == "pytorch" else "")
        if "dropout" in r:   # the LVAE's runs: with or without the blocks' dropout (its masks locked)
            what += f", dropout {r['dropout']:g}" + (" (masks locked)" if r["dropout"] else "")
        for axis, key in zip(axes, ("loss", "gradient_norm")):
            axis.semilogy(steps, [max(row[key]["relative"], 1e-9) for row in r["per_step"]], color=colour, lw=0.8,
                          label=what)
    for axis, key in zip(axes, ("loss", "gradient norm")):
        axis.set_xlabel("optimiser step (the same batches and noise on both sides)")
        axis.set_ylabel(f"relative difference of the {key}")
        axis.grid(alpha=0.3, which="both")
    fig.legend(*axes[0].get_legend_handles_labels(), loc="lower center", fontsize=8, frameon=False)
    batch = 64 if args.model == "LVAE" else BATCH
    fig.suptitle(f"{args.model}, locked runs (static binarized MNIST, batch {batch}, seed {args.seed})", fontsize=10)
    fig.tight_layout(rect=(0, legend_height / (4 + legend_height), 1, 1))
    png = os.path.join(args.results, f"{args.model}{args.tag}_locked.png")
    fig.savefig(png, dpi=110)
    print("->", png)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "_ours_free":      # internal: one free run of ours, in its own process
        run_ours_free(argparse.Namespace(**json.loads(sys.argv[2])), sys.argv[3], int(sys.argv[4]), sys.argv[5])
        sys.exit(0)
    arguments = parse_args()
    {"locked": locked, "free": free, "report": report, "plot-locked": plot_locked}[arguments.mode](arguments)
