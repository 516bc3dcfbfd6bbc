"""Locked step-for-step parity of our LVAE (models/lvae.py, preset LVAE_mnist_3) with addtt/ladder-vae-pytorch's own
``LadderVAE`` on static binarized MNIST (the TensorFlow side and the orchestrator; the PyTorch side is
``lvae_original.py``, run in the torch venv, which needs boilr 0.7.4 there).

The original is built with the README's mnist_3 command line and initialised as it initialises (PyTorch's defaults
after ``torch.manual_seed``, then its data-dependent initialisation on the first 64 training images); every
parameter and batch-norm statistic is copied into ours (mapped module by module; conv kernels transposed; the
trainable counts checked). Both get the same batches of 64 in the same order and the same reparameterisation
noise (drawn once here; the original's ``Normal.rsample`` is fed from it, ours through
``models.latent.injected_noise``), and train ``--steps`` steps with their own optimisers (the original:
``optim.Adamax(lr=3e-4)``; ours: ``keras.optimizers.Adamax(3e-4, 0.9, 0.999, 1e-8)``, hvae/lvae_task.py's), free
bits 0.5, no warm-up, no clipping (the README's settings). Dropout is 0 by default; ``--dropout 0.2`` (the
README's) locks its masks too: the original's side draws them (per step and module, (B, C) keep flags) and our
SpatialDropout2D layers are given the same ones (mapped module by module). Every step's loss, reconstruction, KL and gradient norm, the first step's
per-tensor gradient differences and the final weights' go to <results>/LVAE<tag>_locked.json, in the format of
laplace_parity.py's locked runs (so that ``laplace_parity.py plot-locked --model LVAE`` draws them); --perturb runs
the original against itself from perturbed weights instead (the float32-chaos reference).

``free`` runs each side with its own seeds (the README's dropout 0.2, its own data order and noise) for
--free_steps steps, the validation ELBO of 1,000 fixed images every --eval_every steps and the IW-K bound on 1,000
fixed test images (laplace_parity.py's free inputs); ``report`` writes LVAE_free.json and LVAE_free.png.

Examples (the original checked out outside the repository, boilr in the torch venv):

    .venv/bin/python benchmarks/parity/lvae_parity.py --original /work/originals/ladder-vae-pytorch --steps 200
    .venv/bin/python benchmarks/parity/lvae_parity.py --original ... --steps 200 --dropout 0.2 --tag _dropout
    .venv/bin/python benchmarks/parity/lvae_parity.py free --original ... --seeds 1 2
    .venv/bin/python benchmarks/parity/lvae_parity.py report
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
DATA = "/work/shared/data/binarized_mnist"
BATCH, Z = 64, 32
LATENT_SIDES = (8, 4, 2)             # mnist_3: 28 -> padded 32, /2 (first layer), /2 per layer (downsample 1 1 1)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog=__doc__.split("\n\n", 1)[1])
    p.add_argument("mode", nargs="?", choices=("locked", "free", "report"), default="locked",
                   help="locked (default): one locked run; free: free runs of both sides, --seeds each; report: "
                        "the free runs' table and figure (laplace_parity.py's report)")
    p.add_argument("--original", help="checkout of addtt/ladder-vae-pytorch (locked, free); nothing is downloaded")
    p.add_argument("--seeds", type=int, nargs="+", default=[1, 2], help="free: seeds per side (default 1 2)")
    p.add_argument("--free_steps", type=int, default=300, help="free: optimiser steps (default 300, the issue's "
                                                               "budget for mnist_3)")
    p.add_argument("--eval_every", type=int, default=50, help="free: validation ELBO every N steps (default 50)")
    p.add_argument("--iw_samples", type=int, default=20, help="free: K of the final bound (default 20)")
    p.add_argument("--steps", type=int, default=200, help="optimiser steps (default 200)")
    p.add_argument("--seed", type=int, default=0, help="seed of the batches, the noise and the original's init")
    p.add_argument("--perturb", type=float, default=0.0, help="the original against itself, its copy's initial "
                                                              "weights times (1 + perturb u), u ~ U(-1, 1)")
    p.add_argument("--data", default=DATA, help=f"binarized MNIST folder (default {DATA})")
    p.add_argument("--torch_python", default=os.environ.get("TORCH_PYTHON", "/work/torch-venv/bin/python"),
                   help="the torch venv's python (default $TORCH_PYTHON or /work/torch-venv/bin/python)")
    p.add_argument("--work", default="/work/runs/parity", help="exchange files (default /work/runs/parity)")
    p.add_argument("--results", default=os.path.join(REPO, "benchmarks", "results", "parity"),
                   help="where the JSON goes (default benchmarks/results/parity)")
    p.add_argument("--tag", default="", help="suffix of the result name")
    p.add_argument("--dropout", type=float, default=0.0,
                   help="locked: the blocks' channel-dropout rate on both sides (default 0; the README's 0.2), its "
                        "masks drawn once by the original's side and given to ours")
    return p.parse_args(argv)


def conv_kernel(w):
    """torch Conv2d (out, in, kh, kw) or ConvTranspose2d (in, out, kh, kw) -> Keras (kh, kw, in, out) or
    (kh, kw, out, in): the same transposition."""
    return w.transpose(2, 3, 1, 0)


def our_leaves(layer):
    """The layers with weights of one of our blocks, in the order of the original's modules."""
    from keras import layers

    if isinstance(layer, (layers.BatchNormalization, layers.Conv2D, layers.Conv2DTranspose)):
        return [layer]
    name = type(layer).__name__
    if name == "ResidualBlock":
        return [op for op in layer.ops if not isinstance(op, layers.SpatialDropout2D)] + \
            ([layer.gate] if layer.gate is not None else [])
    if name == "ResampleBlock":
        return ([layer.pre] if layer.pre is not None else []) + our_leaves(layer.res)
    if name == "Merge":
        return [layer.conv] + (our_leaves(layer.res) if layer.res is not None else [])
    raise TypeError(f"no leaf rule for {name}")


def our_dropouts(layer) -> list:
    """The channel-dropout layers of one of our blocks, in the order of the original's ``nn.Dropout2d`` modules."""
    from keras import layers

    name = type(layer).__name__
    if name == "ResidualBlock":
        return [op for op in layer.ops if isinstance(op, layers.SpatialDropout2D)]
    if name == "ResampleBlock":
        return our_dropouts(layer.res)
    if name == "Merge":
        return our_dropouts(layer.res) if layer.res is not None else []
    return []


def module_pairs(model) -> list:
    """``[(our layers, the original's module prefix)]`` in the order of the original's modules."""
    pairs = [([model.stem_conv], "first_bottom_up.0"), ([model.stem_block], "first_bottom_up.2")]
    for i, segment in enumerate(model.bottom_up_layers):
        for j, block in enumerate(segment.blocks):
            pairs.append(([block], f"bottom_up_layers.{i}.net.{j}"))
    for i, td in enumerate(model.top_down_layers):
        p = f"top_down_layers.{i}"
        for j, block in enumerate(td.deterministic):
            pairs.append(([block], f"{p}.deterministic_block.{j}"))
        if td.conv_in_p is not None:
            pairs.append(([td.conv_in_p], f"{p}.stochastic.conv_in_p"))
        pairs.append(([td.conv_in_q], f"{p}.stochastic.conv_in_q"))
        pairs.append(([td.conv_out], f"{p}.stochastic.conv_out"))
        if td.merge is not None:
            pairs.append(([td.merge], f"{p}.merge"))
        if td.skip_merge is not None:
            pairs.append(([td.skip_merge], f"{p}.skip_connection_merger"))
    pairs.append((list(model.final_blocks), "final_top_down"))
    pairs.append(([model.likelihood_conv], "likelihood.parameter_net"))
    return pairs


def dropout_map(model, names: list) -> list:
    """``[(the original's nn.Dropout2d module name, our SpatialDropout2D)]``, every module of both sides paired
    (``names``: the original's, in registration order)."""
    rows, used = [], set()
    for ours, prefix in module_pairs(model):
        mine = [d for layer in ours for d in our_dropouts(layer)]
        theirs = [n for n in names if n.startswith(prefix + ".")]
        if len(mine) != len(theirs):
            raise SystemExit(f"{prefix}: {len(theirs)} original dropout modules, ours {len(mine)}")
        rows += list(zip(theirs, mine))
        used.update(theirs)
    if set(names) - used:
        raise SystemExit(f"original dropout modules left unmapped: {sorted(set(names) - used)}")
    return rows


def weight_map(model, torch_leaves) -> list:
    """``[(original state_dict key, our variable, how)]`` (how: conv, vector, prior)."""
    from keras import layers

    pairs = [([leaf for layer in ours for leaf in our_leaves(layer)], prefix) for ours, prefix in module_pairs(model)]
    rows = [(f"top_down_layers.{i}.top_prior_params", td.top_prior, "prior")
            for i, td in enumerate(model.top_down_layers) if td.top]
    used = set()
    for ours, prefix in pairs:
        theirs = [(name, kind) for name, kind in torch_leaves if name == prefix or name.startswith(prefix + ".")]
        if len(theirs) != len(ours):
            raise SystemExit(f"{prefix}: {len(theirs)} original modules with weights, ours {len(ours)}")
        for leaf, (name, kind) in zip(ours, theirs):
            used.add(name)
            if isinstance(leaf, layers.BatchNormalization):
                if kind != "BatchNorm2d":
                    raise SystemExit(f"{name}: {kind} against our batch norm {leaf.path}")
                rows += [(f"{name}.weight", leaf.gamma, "vector"), (f"{name}.bias", leaf.beta, "vector"),
                         (f"{name}.running_mean", leaf.moving_mean, "vector"),
                         (f"{name}.running_var", leaf.moving_variance, "vector")]
            else:
                if kind not in ("Conv2d", "ConvTranspose2d"):
                    raise SystemExit(f"{name}: {kind} against our convolution {leaf.path}")
                rows += [(f"{name}.weight", leaf.kernel, "conv"), (f"{name}.bias", leaf.bias, "vector")]
    unused = [name for name, _ in torch_leaves if name not in used]
    if unused:
        raise SystemExit(f"original modules with weights left unmapped: {unused}")
    return rows


def to_ours(value, how):
    return conv_kernel(value) if how == "conv" else (value.transpose(0, 2, 3, 1) if how == "prior" else value)


def to_theirs(value, how):
    return value.transpose(3, 2, 0, 1) if how == "conv" else (value.transpose(0, 3, 1, 2) if how == "prior"
                                                               else value)


def run_ours(args, inputs: str, prefix_t: str, out: str):
    import numpy as np

    sys.path.insert(0, HERE)
    from laplace_parity import start_tensorflow

    tf = start_tensorflow()
    import keras

    from hvae import models
    from hvae.lvae_task import LEARNING_RATE
    from hvae.models.latent import injected_noise

    model = models.from_preset("LVAE_mnist_3", value_range=(0.0, 1.0), dropout=args.dropout or None)
    masks = {}                       # our SpatialDropout2D -> (the original's keep flags (steps, B, C), a variable)
    if args.dropout:
        drawn = np.load(prefix_t + "_dropout.npz")
        for name, layer in dropout_map(model, list(drawn.files)):
            keep = drawn[name]
            var = tf.Variable(tf.zeros(keep.shape[1:], tf.float32), trainable=False)
            masks[name] = (keep, var)

            def call(inputs, training=None, var=var, rate=layer.rate):    # tf.nn.dropout's arithmetic
                if not training:
                    return inputs
                return tf.where(var[:, None, None, :] > 0, inputs * (1.0 / (1.0 - rate)), tf.zeros_like(inputs))

            layer.call = call
    weights = dict(np.load(prefix_t + "_initial.npz"))
    mapping = weight_map(model, json.load(open(prefix_t + "_leaves.json")))
    for key, var, how in mapping:
        value = to_ours(weights[key], how)
        if tuple(value.shape) != tuple(var.shape):
            raise SystemExit(f"{key}: original {weights[key].shape} -> {value.shape}, ours {tuple(var.shape)}")
        var.assign(value)
    mapped = {key for key, _, _ in mapping}
    left = sorted(k for k in weights if k not in mapped and not k.endswith("num_batches_tracked"))
    if left:
        raise SystemExit(f"original tensors left unmapped: {left}")
    ours_count = sum(int(v.shape.num_elements()) for v in model.trainable_variables)
    theirs_count = sum(int(weights[k].size) for k, var, _ in mapping if var.trainable)
    if ours_count != theirs_count:
        raise SystemExit(f"trainable parameter counts differ: ours {ours_count:,}, the original's {theirs_count:,}")
    optimizer = keras.optimizers.Adamax(LEARNING_RATE, beta_1=0.9, beta_2=0.999, epsilon=1e-8)
    variables = model.trainable_variables
    optimizer.build(variables)
    data = np.load(inputs)
    x_all = data["x"]
    eps_all = [data[f"eps_{i}"] for i in range(int(data["layers"]))]

    @tf.function(autograph=False)
    def step(images, t, *eps):
        with injected_noise(list(eps)):
            with tf.GradientTape() as tape:
                terms = model.loss_terms(images, None, t, training=True)
        grads = tape.gradient(terms["loss"], variables)
        grads = [tf.zeros_like(v) if g is None else g for g, v in zip(grads, variables)]
        norm = tf.linalg.global_norm(grads)
        optimizer.apply_gradients(zip(grads, variables))
        return terms, norm, grads

    index = {id(var): (key, how) for key, var, how in mapping}
    rows = []
    t0 = time.time()
    for s in range(len(x_all)):
        images = tf.constant(x_all[s].astype(np.float32).reshape(-1, 28, 28, 1))
        for keep, var in masks.values():
            var.assign(keep[s].astype(np.float32))
        terms, norm, grads = step(images, tf.constant(s + 1, tf.int64), *[tf.constant(e[s]) for e in eps_all])
        if s == 0:
            np.savez(out + "_grads0.npz", **{index[id(v)][0]: to_theirs(g.numpy(), index[id(v)][1])
                                             for g, v in zip(grads, variables)})
        rows.append({"step": s + 1, "loss": float(terms["loss"]), "reconstruction": float(terms["reconstruction"]),
                     "kl": float(terms["kl"]), "kl_free_bits": float(terms["kl_free_bits"]),
                     "gradient_norm": float(norm)})
    np.savez(out + "_final.npz", **{key: to_theirs(var.numpy(), how) for key, var, how in mapping})
    info = {"side": "ours", "model": "LVAE_mnist_3", "tensorflow": tf.__version__, "keras": keras.__version__,
            "seconds": time.time() - t0, "parameters": {"ours": ours_count, "original": theirs_count},
            "optimizer": type(optimizer).__name__, "steps": rows}
    with open(out + ".json", "w") as f:
        json.dump(info, f, indent=1)


def compare(args, prefix_o: str, prefix_t: str) -> dict:
    import numpy as np

    sys.path.insert(0, HERE)
    from laplace_parity import relative

    ours, theirs = json.load(open(prefix_o + ".json")), json.load(open(prefix_t + ".json"))
    keys = ("loss", "reconstruction", "kl", "kl_free_bits", "gradient_norm")
    per_step = [{"step": o["step"], **{k: {"ours": o[k], "original": t[k], "relative": relative(o[k], t[k])}
                                       for k in keys}} for o, t in zip(ours["steps"], theirs["steps"])]
    largest = {k: max(r[k]["relative"] for r in per_step) for k in keys}
    where = {k: max(per_step, key=lambda r: r[k]["relative"])["step"] for k in keys}
    first_over = {f"{th:g}": next((r["step"] for r in per_step if r["loss"]["relative"] > th), None)
                  for th in (1e-5, 1e-4, 1e-3, 1e-2)}
    g_o, g_t = np.load(prefix_o + "_grads0.npz"), np.load(prefix_t + "_grads0.npz")
    grads0 = {k: float(np.linalg.norm(g_o[k].astype(np.float64) - g_t[k]) / max(np.linalg.norm(g_t[k]), 1e-30))
              for k in g_t.files if k in g_o.files}
    keys0 = [k for k in g_t.files if k in g_o.files]
    global0 = float(np.sqrt(sum(np.sum((g_o[k].astype(np.float64) - g_t[k]) ** 2) for k in keys0))
                    / np.sqrt(sum(np.sum(g_t[k].astype(np.float64) ** 2) for k in keys0)))
    w_o, w_t = np.load(prefix_o + "_final.npz"), np.load(prefix_t + "_final.npz")
    final = {k: float(np.linalg.norm(w_o[k].astype(np.float64) - w_t[k]) / max(np.linalg.norm(w_t[k]), 1e-30))
             for k in w_t.files if k in w_o.files and not k.endswith("num_batches_tracked")}
    return {"model": "LVAE", "ours": "LVAE_mnist_3", "steps": len(per_step), "seed": args.seed,
            "parameters": ours["parameters"], "largest_relative_difference": largest, "step_of_largest": where,
            "first_step_loss_relative_over": first_over, "step1_gradient_relative_difference_per_tensor": grads0,
            "step1_gradient_relative_difference_all": global0,
            "final_weight_relative_difference_per_tensor": final,
            "seconds": {"ours": ours["seconds"], "original": theirs["seconds"]},
            "versions": {"tensorflow": ours.get("tensorflow"), "keras": ours.get("keras"), "torch": theirs["torch"]},
            "optimizers": {"ours": ours["optimizer"], "original": theirs["optimizer"]}, "our_adam": None,
            "perturb": args.perturb, "compared": ("the original against itself with perturbed initial weights"
                                                  if args.perturb else "ours against the original"),
            "dropout": args.dropout, "per_step": per_step}


def run_ours_free(args, inputs: str, seed: int, out: str):
    """Our free run: LVAE_mnist_3 as hvae/lvae_task.py trains it (the preset's dropout 0.2, the data-dependent
    initialisation on the first 64 training images, Adamax(3e-4), loss_terms at iteration t), own seed, noise and
    batch order; the one-draw validation ELBO every --eval_every steps; at the end the bound of K importance
    weights (``log_importance_weights``) and their mean (the ELBO) on the fixed test images."""
    import numpy as np

    sys.path.insert(0, HERE)
    from laplace_parity import free_step, log_mean_exp, start_tensorflow

    tf = start_tensorflow()
    import keras

    from hvae import models
    from hvae.lvae_task import LEARNING_RATE

    keras.utils.set_random_seed(seed)
    model = models.from_preset("LVAE_mnist_3", value_range=(0.0, 1.0))
    data = np.load(inputs)
    train = data["train"].astype(np.float32).reshape(-1, 28, 28, 1)
    valid = tf.constant(data["valid"].astype(np.float32).reshape(-1, 28, 28, 1))
    test = tf.constant(data["test"].astype(np.float32).reshape(-1, 28, 28, 1))
    model.data_dependent_init(tf.constant(train[:BATCH]))
    optimizer = keras.optimizers.Adamax(LEARNING_RATE, beta_1=0.9, beta_2=0.999, epsilon=1e-8)
    optimizer.build(model.trainable_variables)
    step = free_step(tf, model, optimizer, lambda images, t: model.loss_terms(images, None, t, training=True))

    @tf.function(autograph=False)
    def elbo(images):
        return model.loss_terms(images, None, 1, training=False)["elbo"]

    @tf.function(autograph=False)
    def log_weights(images):
        return model.log_importance_weights(images, args.iw_samples)

    def validation_elbo():
        return float(np.mean([float(elbo(valid[i:i + 100])) for i in range(0, len(valid), 100)]))

    order = np.random.RandomState(seed).permutation(len(train))
    curve = [{"step": 0, "validation_elbo": validation_elbo()}]
    t0 = time.time()
    for s in range(args.free_steps):
        loss = step(tf.constant(train[order[s * BATCH:(s + 1) * BATCH]]), tf.constant(s + 1, tf.int64))
        if (s + 1) % args.eval_every == 0 or s + 1 == args.free_steps:
            curve.append({"step": s + 1, "validation_elbo": validation_elbo(), "train_loss": float(loss)})
    train_seconds = time.time() - t0
    w = np.concatenate([log_weights(test[i:i + 100]).numpy() for i in range(0, len(test), 100)]).astype(np.float64)
    bound = float(log_mean_exp(w).mean())
    model.save(out + "_model.keras")          # for later measurements on a trained model (bfloat16's accuracy)
    info = {"side": "ours", "model": "LVAE_mnist_3", "seed": seed, "tensorflow": tf.__version__,
            "steps": args.free_steps, "train_seconds": train_seconds, "curve": curve, "test_iw_bound": bound,
            "test_elbo": float(w.mean()), "iw_samples": args.iw_samples, "test_images": int(len(test)),
            "seconds": time.time() - t0}
    with open(out + ".json", "w") as f:
        json.dump(info, f, indent=1)


def free(args):
    """Free runs, each side with its own seeds (resumable: a finished (side, seed) is skipped), on the fixed
    validation and test images of laplace_parity.py's free runs."""
    sys.path.insert(0, HERE)
    from laplace_parity import free_inputs

    if not args.original:
        raise SystemExit("free needs --original (a checkout of addtt/ladder-vae-pytorch)")
    inputs = free_inputs(args)
    folder = os.path.join(args.work, "free", f"LVAE{args.tag}")
    os.makedirs(folder, exist_ok=True)
    for seed in args.seeds:
        for side in ("original", "ours"):
            out = os.path.join(folder, f"{side}_seed{seed}")
            if os.path.exists(out + ".json"):
                print(f"{side} seed {seed}: done already ({out}.json)", flush=True)
                continue
            if side == "original":
                subprocess.run([args.torch_python, os.path.join(HERE, "lvae_original.py"), "--free", "--original",
                                args.original, "--inputs", inputs, "--out", out, "--seed", str(seed), "--steps",
                                str(args.free_steps), "--eval_every", str(args.eval_every), "--iw_samples",
                                str(args.iw_samples)], check=True)
            else:
                subprocess.run([sys.executable, os.path.abspath(__file__), "_ours_free", json.dumps(vars(args)),
                                inputs, str(seed), out], check=True)   # a fresh process: its own TensorFlow state
            r = json.load(open(out + ".json"))
            print(f"{side} seed {seed}: {r['steps']} steps, IW-{r['iw_samples']} {r['test_iw_bound']:.3f}, ELBO "
                  f"{r['test_elbo']:.3f}, final validation ELBO {r['curve'][-1]['validation_elbo']:.3f} "
                  f"({r['seconds']:.0f} s)", flush=True)


def main(args):
    import numpy as np

    if args.mode == "free":
        return free(args)
    if args.mode == "report":
        sys.path.insert(0, HERE)
        from laplace_parity import report

        return report(argparse.Namespace(**{**vars(args), "model": "LVAE"}))
    if not args.original:
        raise SystemExit("a locked run needs --original (a checkout of addtt/ladder-vae-pytorch)")

    sys.path.insert(0, HERE)
    from laplace_parity import load_split

    work = os.path.join(args.work, "locked", f"LVAE{args.tag}_seed{args.seed}")
    os.makedirs(work, exist_ok=True)
    os.makedirs(args.results, exist_ok=True)
    rng = np.random.RandomState(args.seed)
    train = load_split(args.data, "train")
    order = rng.permutation(len(train))[:args.steps * BATCH]
    x = train[order].reshape(args.steps, BATCH, 784)
    eps = {f"eps_{k}": rng.standard_normal((args.steps, BATCH, side, side, Z)).astype(np.float32)
           for k, side in enumerate(reversed(LATENT_SIDES))}        # eps_0: the top layer, drawn first
    inputs = os.path.join(work, "inputs.npz")
    np.savez(inputs, x=x, ddi=train[:BATCH], layers=len(LATENT_SIDES), **eps)
    prefix_t, prefix_o = os.path.join(work, "original"), os.path.join(work, "ours")
    cmd = [args.torch_python, os.path.join(HERE, "lvae_original.py"), "--original", args.original, "--inputs", inputs,
           "--out", prefix_t, "--seed", str(args.seed), "--dropout", str(args.dropout)]
    base = os.path.join(args.work, "locked", f"LVAE_seed{args.seed}")
    if args.perturb and os.path.exists(os.path.join(base, "original_final.npz")) \
            and len(np.load(os.path.join(base, "inputs.npz"))["x"]) == args.steps \
            and json.load(open(os.path.join(base, "original.json"))).get("dropout", 0.0) == args.dropout:
        # the untagged run's original (the same seed, batches and noise) is reused: only the perturbed copy runs
        prefix_t = os.path.join(base, "original")
        cmd[cmd.index(inputs)] = os.path.join(base, "inputs.npz")
        print("reusing the original's run of", base, flush=True)
    else:
        print("original:", " ".join(cmd), flush=True)
        subprocess.run(cmd, check=True)
    if args.perturb:
        prefix_o = os.path.join(work, "original_perturbed")
        subprocess.run(cmd[:-6] + ["--out", prefix_o, "--seed", str(args.seed), "--dropout", str(args.dropout),
                                   "--perturb", str(args.perturb)], check=True)
    else:
        print("ours ...", flush=True)
        run_ours(args, inputs, prefix_t, prefix_o)
    result = compare(args, prefix_o, prefix_t)
    result["command"] = " ".join(["benchmarks/parity/lvae_parity.py"] + sys.argv[1:])
    path = os.path.join(args.results, f"LVAE{args.tag}_locked.json")
    with open(path, "w") as f:
        json.dump(result, f, indent=1)
    print(json.dumps({k: result[k] for k in ("steps", "parameters", "largest_relative_difference",
                                             "step_of_largest", "first_step_loss_relative_over")}, indent=1))
    print("step-1 gradients, largest per-tensor relative difference:",
          max(result["step1_gradient_relative_difference_per_tensor"].items(), key=lambda kv: kv[1]))
    print("->", path)


if __name__ == "__main__":
    if len(sys.argv) == 6 and sys.argv[1] == "_ours_free":
        run_ours_free(argparse.Namespace(**json.loads(sys.argv[2])), sys.argv[3], int(sys.argv[4]), sys.argv[5])
    else:
        main(parse_args())
