"""The PyTorch side of the LVAE's locked parity run: addtt/ladder-vae-pytorch's OWN ``LadderVAE``, imported from a
checkout of the original (``--original``), built with the README's mnist_3 command line and trained as boilr's
trainer trains it. Runs in the torch venv (it needs ``boilr`` 0.7.4, the original's training framework, installed
there: ``pip install --no-deps boilr==0.7.4``); started by ``lvae_parity.py``, with which it exchanges files only.

The model: ``LadderVAE(1, z_dims=[32, 32, 32], blocks_per_layer=4, downsample=[1, 1, 1], nonlin='elu',
merge_type='residual', batchnorm=True, stochastic_skip=True, n_filters=64, dropout=0.0, res_block_type='bacdbacd',
free_bits=0.5, learn_top_prior=True, img_shape=(28, 28), likelihood_form='bernoulli', gated=True)`` (the README's
``--zdims 32 32 32 --downsample 1 1 1 --nonlin elu --skip --blocks-per-layer 4 --gated --freebits 0.5
--learn-top-prior --data-dep-init``, the rest experiment_manager.py's defaults) with dropout 0 instead of 0.2: the
dropout masks are random draws the harness does not lock (the original's own ``--dropout 0`` cannot run with its
default 'bacdbacd' block: it becomes None and ``nn.Dropout2d(None)`` raises; p = 0 is the identity). Initialised by
PyTorch's defaults after ``torch.manual_seed(seed)`` and, with ``--data-dep-init`` as the README,
``boilr.nn.init.data_dependent_init`` on the first 64 training images (experiment_manager.py's ``_make_model``).

The step (boilr/trainer.py): ``optimizer.zero_grad(); out = forward_pass(x); out['loss'].backward(); [clip if
--max-grad-norm: unset]; optimizer.step(); model.increment_global_step()`` with ``loss = mean(-ll) + kl_loss * beta``
(beta 1: ``--beta-anneal`` 0) and ``optim.Adamax(params, lr=3e-4, weight_decay=0)``. The reparameterisation noise of
each step comes from the .npz: ``torch.distributions.normal._standard_normal`` (what ``Normal.rsample`` calls) is
replaced during the step.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
import types

README_MODEL = dict(z_dims=[32, 32, 32], blocks_per_layer=4, downsample=[1, 1, 1], nonlin="elu", merge_type="residual",
                    batchnorm=True, stochastic_skip=True, n_filters=64, dropout=0.0, res_block_type="bacdbacd",
                    free_bits=0.5, learn_top_prior=True, img_shape=(28, 28), likelihood_form="bernoulli", gated=True)
LEARNING_RATE, BATCH = 3e-4, 64


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog=__doc__.split("\n\n", 1)[1])
    p.add_argument("--original", required=True, help="checkout of addtt/ladder-vae-pytorch (the folder of main.py)")
    p.add_argument("--inputs", required=True, help=".npz from lvae_parity.py: x (steps, B, 784), ddi (64, 784), "
                                                   "eps_<layer> (steps, B, h, w, z) NHWC")
    p.add_argument("--out", required=True, help="output prefix: <out>.json and <out>_{initial,grads0,final}.npz")
    p.add_argument("--seed", type=int, default=0, help="torch.manual_seed before the model is built (default 0)")
    p.add_argument("--perturb", type=float, default=0.0, help="multiply every initial weight by (1 + perturb * u), "
                                                              "u ~ U(-1, 1) (a float32-chaos reference)")
    p.add_argument("--no_ddi", action="store_true", help="skip the data-dependent initialisation")
    p.add_argument("--dropout", type=float, default=0.0,
                   help="locked: the blocks' channel-dropout rate (default 0; the README's is 0.2). Its masks are "
                        "drawn here (numpy RandomState(seed + 1), per step and module, (B, C) keep flags), applied "
                        "as F.dropout2d applies them (x * (keep / (1 - p))) and saved to <out>_dropout.npz for ours")
    p.add_argument("--free", action="store_true",
                   help="a free run instead: the README's dropout 0.2, the original's own noise, batches of 64 in an "
                        "order of its own (torch.randperm after torch.manual_seed(seed)); --inputs holds train, valid "
                        "and test (laplace_parity.py's free inputs)")
    p.add_argument("--steps", type=int, default=300, help="free: optimiser steps (default 300)")
    p.add_argument("--eval_every", type=int, default=50, help="free: validation ELBO every N steps (default 50)")
    p.add_argument("--iw_samples", type=int, default=20, help="free: K of the final bound (default 20)")
    return p.parse_args(argv)


def load_original(path: str):
    import torch  # noqa: F401

    class Stub(types.ModuleType):      # any attribute is a placeholder: plotting, logging and data-set packages
        def __getattr__(self, attr):
            if attr.startswith("__"):
                raise AttributeError(attr)
            return object

    for name in ("matplotlib", "matplotlib.pyplot", "seaborn", "multiobject", "multiobject.pytorch", "torchvision",
                 "torchvision.utils", "torchvision.datasets", "torchvision.transforms", "tqdm", "tensorboardX", "PIL"):
        try:
            __import__(name)
        except ImportError:
            import importlib.machinery

            sys.modules[name] = Stub(name)
            sys.modules[name].__spec__ = importlib.machinery.ModuleSpec(name, None)   # torch._dynamo looks
    sys.path.insert(0, os.path.abspath(path))
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from boilr.nn.init import data_dependent_init

        from models.lvae import LadderVAE
    return LadderVAE, data_dependent_init


def main(args):
    import numpy as np
    import torch
    import torch.distributions.normal as normal_module
    from torch import optim

    torch.set_num_threads(1)
    LadderVAE, data_dependent_init = load_original(args.original)
    data = np.load(args.inputs)
    torch.manual_seed(args.seed)
    np.random.seed(args.seed)
    model = LadderVAE(1, **{**README_MODEL, "dropout": args.dropout or 0.0})
    if not args.no_ddi:
        ddi = torch.from_numpy(data["ddi"].astype(np.float32).reshape(-1, 1, 28, 28))
        data_dependent_init(model, {"x": ddi})
    if args.perturb:
        rng = np.random.RandomState(12345)
        with torch.no_grad():
            for p in model.parameters():
                p.mul_(1.0 + args.perturb * torch.from_numpy(rng.uniform(-1, 1, p.shape).astype(np.float32)))
    np.savez(args.out + "_initial.npz", **{k: v.detach().numpy().copy() for k, v in model.state_dict().items()})
    leaves = [[name, type(m).__name__] for name, m in model.named_modules()
              if isinstance(m, (torch.nn.Conv2d, torch.nn.ConvTranspose2d, torch.nn.BatchNorm2d))]
    with open(args.out + "_leaves.json", "w") as f:       # the modules with parameters, in registration order
        json.dump(leaves, f)
    optimizer = optim.Adamax(model.parameters(), lr=LEARNING_RATE, weight_decay=0.0)
    x_all = data["x"]
    masks, called = {}, []        # the dropout keep flags of every step and module; the modules called this step
    if args.dropout:
        p_drop = args.dropout
        drop_rng = np.random.RandomState(args.seed + 1)
        drops = [(name, m) for name, m in model.named_modules() if isinstance(m, torch.nn.Dropout2d)]
        for name, module in drops:
            def forward(x, name=name):
                if not model.training:
                    return x
                if name in called:
                    raise ValueError(f"dropout module {name} called twice in one step")
                called.append(name)
                keep = (drop_rng.uniform(size=tuple(x.shape[:2])) >= p_drop).astype(np.uint8)   # (B, C)
                masks.setdefault(name, []).append(keep)
                return x * (torch.from_numpy(keep).to(x.dtype)[:, :, None, None] / (1.0 - p_drop))

            module.forward = forward
    layers = int(data["layers"])
    eps_all = [data[f"eps_{i}"] for i in range(layers)]        # in the order of the draws: the top layer first
    real = normal_module._standard_normal
    rows = []
    t0 = time.time()
    for step in range(len(x_all)):
        queue = [torch.from_numpy(np.ascontiguousarray(e[step].transpose(0, 3, 1, 2))) for e in eps_all]

        def standard_normal(shape, dtype, device):
            eps = queue.pop(0)
            if tuple(eps.shape) != tuple(shape):
                raise ValueError(f"step {step}: injected noise {tuple(eps.shape)} for a draw of {tuple(shape)}")
            return eps.to(dtype)

        normal_module._standard_normal = standard_normal
        called.clear()
        try:
            model.train()
            x = torch.from_numpy(x_all[step].astype(np.float32).reshape(-1, 1, 28, 28))
            optimizer.zero_grad()
            out = model(x)                                     # LVAEExperiment.forward_pass
            recons = (-out["ll"]).mean()
            loss = recons + out["kl_loss"] * 1.0
            loss.backward()
            norm = math.sqrt(sum(float((p.grad.double() ** 2).sum()) for p in model.parameters()
                                 if p.grad is not None))
            if step == 0:
                np.savez(args.out + "_grads0.npz", **{k: p.grad.detach().numpy().copy()
                                                      for k, p in model.named_parameters() if p.grad is not None})
            optimizer.step()
            model.increment_global_step()
        finally:
            normal_module._standard_normal = real
        if queue:
            raise ValueError(f"step {step}: {len(queue)} injected draws unused")
        rows.append({"step": step + 1, "loss": float(loss), "reconstruction": float(recons),
                     "kl": float(out["kl"]), "kl_free_bits": float(out["kl_loss"]), "gradient_norm": norm})
    if args.dropout:
        np.savez(args.out + "_dropout.npz", **{name: np.stack(v) for name, v in masks.items()})   # (steps, B, C)
        if len(masks) != len(drops):
            raise ValueError(f"{len(drops) - len(masks)} dropout modules never called")
    np.savez(args.out + "_final.npz", **{k: v.detach().numpy().copy() for k, v in model.state_dict().items()})
    info = {"side": "original", "model": "LadderVAE", "torch": torch.__version__, "seconds": time.time() - t0,
            "parameters": sum(p.numel() for p in model.parameters() if p.requires_grad), "perturb": args.perturb,
            "dropout": args.dropout,
            "optimizer": repr(optimizer).replace("\n", " "), "steps": rows}
    with open(args.out + ".json", "w") as f:
        json.dump(info, f, indent=1)


def free(args):
    """A free run: the original as its trainer trains it (README settings, dropout 0.2, its own seeds), the one-draw
    validation ELBO of the fixed validation images every ``--eval_every`` steps (``model.eval()``: batch-norm
    running statistics, no dropout), and at the end boilr's ``test_procedure``: K forward passes per test image,
    ``elbo_sep = -(recons_sep + kl_sep)``, the bound ``logsumexp_k elbo_sep - log K`` and the ELBO (mean of the
    K passes' ``elbo_sep``)."""
    import numpy as np
    import torch
    from torch import optim

    torch.set_num_threads(1)
    LadderVAE, data_dependent_init = load_original(args.original)
    data = np.load(args.inputs)
    train = data["train"]
    valid = torch.from_numpy(data["valid"].astype(np.float32).reshape(-1, 1, 28, 28))
    test = torch.from_numpy(data["test"].astype(np.float32).reshape(-1, 1, 28, 28))
    torch.manual_seed(args.seed)
    np.random.seed(args.seed)
    model = LadderVAE(1, **{**README_MODEL, "dropout": 0.2})
    data_dependent_init(model, {"x": torch.from_numpy(train[:BATCH].astype(np.float32).reshape(-1, 1, 28, 28))})
    optimizer = optim.Adamax(model.parameters(), lr=LEARNING_RATE, weight_decay=0.0)

    def elbo_sep(x):
        out = model(x)
        return -(-out["ll"] + out["kl_sep"])

    def validation_elbo():
        model.eval()
        with torch.no_grad():
            value = float(torch.cat([elbo_sep(valid[i:i + 100]) for i in range(0, len(valid), 100)]).mean())
        model.train()
        return value

    order = torch.randperm(len(train)).numpy()
    curve = [{"step": 0, "validation_elbo": validation_elbo()}]
    model.train()
    t0 = time.time()
    for step in range(args.steps):
        x = torch.from_numpy(train[order[step * BATCH:(step + 1) * BATCH]].astype(np.float32).reshape(-1, 1, 28, 28))
        optimizer.zero_grad()
        out = model(x)
        loss = (-out["ll"]).mean() + out["kl_loss"] * 1.0
        loss.backward()
        optimizer.step()
        model.increment_global_step()
        if (step + 1) % args.eval_every == 0 or step + 1 == args.steps:
            curve.append({"step": step + 1, "validation_elbo": validation_elbo(), "train_loss": float(loss)})
    train_seconds = time.time() - t0
    model.eval()
    with torch.no_grad():
        sep = torch.stack([torch.cat([elbo_sep(test[i:i + 100]) for i in range(0, len(test), 100)])
                           for _ in range(args.iw_samples)], dim=1).double()          # (N, K)
    bound = float((torch.logsumexp(sep, dim=1) - math.log(args.iw_samples)).mean())
    info = {"side": "original", "model": "LadderVAE", "seed": args.seed, "torch": torch.__version__,
            "steps": args.steps, "train_seconds": train_seconds, "curve": curve, "test_iw_bound": bound,
            "test_elbo": float(sep.mean()), "iw_samples": args.iw_samples, "test_images": int(len(test)),
            "seconds": time.time() - t0}
    with open(args.out + ".json", "w") as f:
        json.dump(info, f, indent=1)


if __name__ == "__main__":
    a = parse_args()
    free(a) if a.free else main(a)
