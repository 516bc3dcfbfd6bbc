"""The PyTorch side of the Laplace family's parity runs: yookoon/VLAE's OWN model classes, imported from a checkout
of the original (``--original``), trained as its ``experiment.py`` trains them. Runs in the torch venv; started by
``laplace_parity.py`` (the TensorFlow side and the orchestrator), with which it exchanges files only.

    locked: the data ``x (steps, B, 784)`` and the noise of every step from an .npz; writes the initial weights
            (the original's ``initialize_params`` after ``torch.manual_seed(seed)``), every step's loss terms and
            gradient norm, the first step's gradients and the final weights
    free:   its own data order (``DataLoader(shuffle=True)`` over the given training images, the last partial batch
            kept, as ``datasets.MNIST``), its own noise (``torch.manual_seed(seed)``), a validation ELBO every
            ``--eval_every`` steps on given images and a final importance-weighted bound (``importance_sample``
            with ``models.n_importance_sample = K``)

What the original's code needs on a CPU without its GPU stack is shimmed, not edited: ``.cuda()`` is the identity,
``torchvision`` / ``tensorboardX`` / ``colorful`` are stubs (only its summaries and data loaders use them), and the
reparameterisation noise of a locked step is fed by replacing ``torch.randn_like`` during the step (every draw of
``distribution.py`` goes through it). The optimiser is ``experiment.py``'s ``optim.Adam(model.parameters(),
lr=learning_rate, weight_decay=weight_decay)`` with ``run.py``'s defaults (5e-4, 0), and a step is its
``zero_grad(); loss = model(data); loss.backward(); step()``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
import types

# run.py's defaults (yookoon/VLAE 801bb4b), with --output_dist=bernoulli
RUN_DEFAULTS = dict(z_dim=50, hidden_dim=500, learning_rate=5e-4, weight_decay=0.0, batch_size=128, svi_lr=5e-4,
                    n_svi_step=4, n_update=4, update_lr=0.5, n_flow=4, iaf_dim=500)
MODELS = ("VAE", "VLAE", "HF", "IAF", "SAVAE")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog=__doc__.split("\n\n", 1)[1])
    p.add_argument("mode", choices=("locked", "free"), help="locked: given data and noise; free: own order and noise")
    p.add_argument("--original", required=True, help="checkout of yookoon/VLAE (the folder holding models.py)")
    p.add_argument("--model", choices=MODELS, default="VAE", help="the original's model name (default VAE)")
    p.add_argument("--inputs", required=True, help=".npz from laplace_parity.py (locked: x, eps_*; free: train, "
                                                   "valid, test)")
    p.add_argument("--out", required=True, help="output prefix: <out>.json (per step) and <out>_*.npz")
    p.add_argument("--seed", type=int, default=0, help="torch.manual_seed and numpy's seed (default 0)")
    p.add_argument("--eval_every", type=int, default=25, help="free: validation ELBO every N steps (default 25)")
    p.add_argument("--iw_samples", type=int, default=100, help="free: K of the final bound (default 100)")
    p.add_argument("--steps", type=int, default=0, help="free: stop after N steps (0: one epoch)")
    p.add_argument("--perturb", type=float, default=0.0, help="locked: multiply every initial weight by (1 + perturb "
                                                              "* u), u ~ U(-1, 1) (a float32-chaos reference)")
    return p.parse_args(argv)


def load_original(path: str):
    """``(models, experiment)`` of the checkout, importable on a CPU-only torch without the original's extras."""
    import numpy as np  # noqa: F401  (the original imports it)
    import torch
    from torch import nn

    torch.Tensor.cuda = lambda self, *a, **k: self
    nn.Module.cuda = lambda self, *a, **k: self
    class Stub(types.ModuleType):      # any attribute is a placeholder: used only by summaries and data loaders
        def __getattr__(self, attr):
            if attr.startswith("__"):
                raise AttributeError(attr)
            return object

    stubs = ("torchvision", "torchvision.utils", "torchvision.datasets", "torchvision.transforms", "tensorboardX",
             "colorful", "scipy", "scipy.io")
    for name in stubs:
        try:
            __import__(name)
        except ImportError:
            sys.modules[name] = Stub(name)
    for name in stubs:
        if "." in name and isinstance(sys.modules.get(name), Stub):
            parent, child = name.rsplit(".", 1)
            setattr(sys.modules[parent], child, sys.modules[name])
    if not hasattr(torch, "cholesky"):          # removed in some torch versions; the original calls it
        torch.cholesky = lambda a, upper=False: torch.linalg.cholesky(a, upper=upper)
    sys.path.insert(0, os.path.abspath(path))
    import experiment

    import models

    return models, experiment


def build(models, experiment, name: str, seed: int):
    """The original's model with ``run.py``'s defaults (Bernoulli output), initialised by ``initialize_params``
    after ``torch.manual_seed(seed)`` (``Experiment.__init__`` seeds, ``run()`` initialises), and its optimiser."""
    import numpy as np
    import torch
    from torch import optim

    torch.manual_seed(seed)
    np.random.seed(seed)   # MADE's masks come from numpy's global generator
    d = RUN_DEFAULTS
    model = getattr(models, name)(dataset=None, z_dim=d["z_dim"], output_dist="bernoulli", x_dim=[1, 28, 28],
                                  enc_dim=d["hidden_dim"], dec_dim=d["hidden_dim"], svi_lr=d["svi_lr"],
                                  n_svi_step=d["n_svi_step"], n_update=d["n_update"], update_lr=d["update_lr"],
                                  n_flow=d["n_flow"], iaf_dim=d["iaf_dim"])
    torch.manual_seed(seed)
    experiment.Experiment.initialize_params(types.SimpleNamespace(model=model, output_dist="bernoulli"))
    optimizer = optim.Adam(model.parameters(), lr=d["learning_rate"], weight_decay=d["weight_decay"])
    return model, optimizer


def record_loss(model):
    """Wrap the instance's ``loss`` so that the last call's reconstruction term -mean log p(x|z) is kept."""
    original = model.loss
    seen = {}

    def loss(x, *args):
        value = original(x, *args)
        p_x_z = args[-3]       # loss(x, z, [z_flow,] p_x_z, p_z, q_z_x or log_q_z_x) in every model
        with __import__("torch").no_grad():
            seen["reconstruction"] = float(-p_x_z.log_probability(x.view(-1, 784)).mean())
        seen["loss"] = float(value)
        return value

    model.loss = loss
    return seen


def state(model) -> dict:
    return {k: v.detach().cpu().numpy().copy() for k, v in model.state_dict().items()}


def masked_grad_norm(model) -> tuple:
    """(every parameter's .grad, as torch's global norm; the same with the MADE weights' gradients masked)."""

    total = masked = 0.0
    for name, p in model.named_parameters():
        if p.grad is None:
            continue
        g = p.grad.detach().double()
        total += float((g ** 2).sum())
        if name.startswith("AutoregressiveNN.") and name.endswith((".W.weight", ".V_s.weight", ".V_m.weight")):
            made = model.AutoregressiveNN[int(name.split(".")[1])]
            mask = made.W_mask if name.endswith(".W.weight") else made.V_mask
            g = g * mask.detach().double()
        masked += float((g ** 2).sum())
    return math.sqrt(total), math.sqrt(masked)


def locked(args):
    import numpy as np
    import torch

    torch.set_num_threads(1)
    models, experiment = load_original(args.original)
    model, optimizer = build(models, experiment, args.model, args.seed)
    data = np.load(args.inputs)
    x_all = data["x"]
    draws = int(data["draws_per_step"])
    eps_all = data["eps"]                     # (steps, draws, B, Z)
    if args.perturb:
        rng = np.random.RandomState(12345)
        with torch.no_grad():
            for p in model.parameters():
                if p.requires_grad:
                    p.mul_(1.0 + args.perturb * torch.from_numpy(rng.uniform(-1, 1, p.shape).astype(np.float32)))
    np.savez(args.out + "_initial.npz", **state(model))
    seen = record_loss(model)
    real_randn_like = torch.randn_like
    rows = []
    t0 = time.time()
    for step in range(len(x_all)):
        queue = [torch.from_numpy(eps_all[step, i]) for i in range(draws)]

        def randn_like(t, *a, **k):
            eps = queue.pop(0)
            if tuple(eps.shape) != tuple(t.shape):
                raise ValueError(f"step {step}: injected noise {tuple(eps.shape)} for a draw of {tuple(t.shape)}")
            return eps.to(t.dtype)

        torch.randn_like = randn_like
        try:
            model.train()
            data_x = torch.from_numpy(x_all[step].astype(np.float32))
            optimizer.zero_grad()
            loss = model(data_x)
            loss.backward()
            assert not np.isnan(loss.item())
            norm, norm_masked = masked_grad_norm(model)
            if step == 0:
                np.savez(args.out + "_grads0.npz", **{k: p.grad.detach().numpy().copy()
                                                      for k, p in model.named_parameters() if p.grad is not None})
            optimizer.step()
        finally:
            torch.randn_like = real_randn_like
        if queue:
            raise ValueError(f"step {step}: {len(queue)} injected draws unused")
        rows.append({"step": step + 1, "loss": float(loss), "reconstruction": seen["reconstruction"],
                     "kl": float(loss) - seen["reconstruction"], "gradient_norm": norm,
                     "gradient_norm_masked": norm_masked})
    np.savez(args.out + "_final.npz", **state(model))
    info = {"side": "original", "model": args.model, "torch": torch.__version__, "seconds": time.time() - t0,
            "parameters": sum(p.numel() for p in model.parameters() if p.requires_grad), "perturb": args.perturb,
            "optimizer": repr(optimizer).replace("\n", " "), "steps": rows}
    with open(args.out + ".json", "w") as f:
        json.dump(info, f, indent=1)


def free(args):
    import numpy as np
    import torch
    from torch.utils.data import DataLoader, TensorDataset

    torch.set_num_threads(1)
    models, experiment = load_original(args.original)
    model, optimizer = build(models, experiment, args.model, args.seed)
    data = np.load(args.inputs)
    train = torch.from_numpy(data["train"].astype(np.float32))
    valid = torch.from_numpy(data["valid"].astype(np.float32))
    test = torch.from_numpy(data["test"].astype(np.float32))
    loader = DataLoader(TensorDataset(train, torch.zeros(len(train))), batch_size=RUN_DEFAULTS["batch_size"],
                        shuffle=True)

    def validation_elbo():
        model.eval()
        total = 0.0
        with torch.no_grad() if args.model != "SAVAE" else torch.enable_grad():
            for i in range(0, len(valid), 100):
                batch = valid[i:i + 100]
                total += float(model(batch)) * len(batch)
        model.train()
        return -total / len(valid)

    curve = []
    step = 0
    t0 = time.time()
    model.train()
    curve.append({"step": 0, "validation_elbo": validation_elbo()})
    for batch_idx, (x, _) in enumerate(loader):      # experiment.train_epoch's loop (preprocess: binary data as is)
        optimizer.zero_grad()
        loss = model(x)
        loss.backward()
        assert not np.isnan(loss.item())
        optimizer.step()
        step += 1
        if step % args.eval_every == 0:
            curve.append({"step": step, "validation_elbo": validation_elbo(), "train_loss": float(loss)})
        if args.steps and step >= args.steps:
            break
    if curve[-1]["step"] != step:
        curve.append({"step": step, "validation_elbo": validation_elbo()})
    train_seconds = time.time() - t0
    models.n_importance_sample = args.iw_samples
    model.eval()
    total = 0.0
    chunk = max(1, 10000 // args.iw_samples)
    with torch.no_grad() if args.model != "SAVAE" else torch.enable_grad():
        for i in range(0, len(test), chunk):
            total += float(model.importance_sample(test[i:i + chunk]))
    test_elbo = 0.0
    with torch.no_grad() if args.model != "SAVAE" else torch.enable_grad():
        for i in range(0, len(test), 100):
            test_elbo += -float(model(test[i:i + 100])) * len(test[i:i + 100])
    info = {"side": "original", "model": args.model, "seed": args.seed, "torch": torch.__version__, "steps": step,
            "train_seconds": train_seconds, "curve": curve, "test_iw_bound": total / len(test),
            "test_elbo": test_elbo / len(test), "iw_samples": args.iw_samples, "test_images": len(test)}
    with open(args.out + ".json", "w") as f:
        json.dump(info, f, indent=1)


if __name__ == "__main__":
    arguments = parse_args()
    locked(arguments) if arguments.mode == "locked" else free(arguments)
