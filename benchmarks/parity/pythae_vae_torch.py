"""pythae's reproduction of Rezende & Mohamed's VAE, in plain PyTorch, on the same files as this port's run.

Source: clementchadebec/benchmark_VAE, ``examples/scripts/reproducibility/vae.py`` (the networks 784-400-40,
ReLU, sigmoid Bernoulli output; pythae's ``VAE`` loss: binary cross-entropy summed over pixels + closed-form KL,
mean over the batch; ``BaseTrainer``: Adam 1e-4, batch 100, shuffled each epoch, ``MultiStepLR`` milestones
200, 350, 500, 750, 1000 with gamma 10^(-1/5) stepped once an epoch, 500 epochs, seed 123; the validation loss
each epoch and the best model by it; ``VAE.get_nll``: K = 200 draws from q, log-sum-exp minus log K, the
Gaussian constants cancelling). pythae's own package is not needed: its trainer adds nothing on CPU that changes
the numbers (no clipping, no AMP, the scheduler stepped after each epoch).

Run in the second environment (``requirements-bench.txt``), one thread, resumable (a checkpoint each 10 epochs):

    torch-venv/bin/python benchmarks/parity/pythae_vae_torch.py --data ../shared/data/binarized_mnist \
        --out /tmp/pythae_vae

Writes ``log.txt`` (one line an epoch: validation loss, reconstruction, KL in nats/image) and ``result.json``
(log p(x) >= with K = 200 on the 10,000 test images for the best-by-validation and the final model).
"""
import argparse
import json
import os
import time

import numpy as np


def load(folder, split):
    """One split of static binarized MNIST as a float32 tensor [N, 784] in {0, 1}, from the original text
    ``.amat`` or from the MATLAB v5 file of the same name (as ``datasets/binarized_mnist.py`` reads both)."""
    import torch

    path = os.path.join(folder, f"binarized_mnist_{split}.amat")
    with open(path, "rb") as f:
        matlab = f.read(6) == b"MATLAB"
    if matlab:
        import scipy.io
        return torch.tensor(scipy.io.loadmat(path)["X"].astype(np.float32))
    return torch.tensor(np.loadtxt(path, dtype=np.float32))


def vae_class():
    """The model class (PyTorch is imported here, so that ``--help`` answers without it)."""
    import torch
    import torch.nn as nn
    import torch.nn.functional as F

    class VAE(nn.Module):
        """pythae's script's Encoder / Decoder (one hidden layer of 400 ReLU units, 40 latent units)."""

        def __init__(self):
            super().__init__()
            self.enc = nn.Sequential(nn.Linear(784, 400), nn.ReLU())
            self.mu = nn.Linear(400, 40)
            self.log_var = nn.Linear(400, 40)
            self.dec = nn.Sequential(nn.Linear(40, 400), nn.ReLU(), nn.Linear(400, 784), nn.Sigmoid())

        def loss(self, x):
            """pythae VAE.loss_function with reconstruction_loss='bce': mean over the batch of BCE + KL (nats)."""
            h = self.enc(x)
            mu, log_var = self.mu(h), self.log_var(h)
            z = mu + torch.exp(0.5 * log_var) * torch.randn_like(mu)
            recon = F.binary_cross_entropy(self.dec(z), x, reduction="none").sum(-1)
            kl = -0.5 * torch.sum(1 + log_var - mu.pow(2) - log_var.exp(), dim=-1)
            return (recon + kl).mean(), recon.mean(), kl.mean()

        @torch.no_grad()
        def nll(self, data, k=200, batch=100):
            """pythae VAE.get_nll: mean over images of log p(x) >= logsumexp(log w) - log K, K draws from q (nats)."""
            out = []
            for x in data:
                x_rep = x.unsqueeze(0).expand(batch, -1)
                log_w = []
                for _ in range(max(1, k // batch)):
                    h = self.enc(x_rep)
                    mu, log_var = self.mu(h), self.log_var(h)
                    z = mu + torch.exp(0.5 * log_var) * torch.randn_like(mu)
                    log_q = -0.5 * (log_var + (z - mu) ** 2 / torch.exp(log_var)).sum(-1)
                    log_p_z = -0.5 * (z ** 2).sum(-1)
                    log_px_z = -F.binary_cross_entropy(self.dec(z), x_rep, reduction="none").sum(-1)
                    log_w.append(log_px_z + log_p_z - log_q)
                log_w = torch.cat(log_w)
                out.append((torch.logsumexp(log_w, 0) - np.log(len(log_w))).item())
            return float(np.mean(out)), float(np.std(out) / np.sqrt(len(out)))

    return VAE


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", required=True, help="folder with binarized_mnist_{train,valid,test}.amat")
    parser.add_argument("--out", required=True, help="folder for the log, checkpoints and result.json")
    parser.add_argument("--epochs", type=int, default=500)
    args = parser.parse_args()
    import torch

    VAE = vae_class()
    torch.set_num_threads(1)
    os.makedirs(args.out, exist_ok=True)
    train, valid, test = (load(args.data, s) for s in ("train", "valid", "test"))

    torch.manual_seed(123)
    model = VAE()
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    sched = torch.optim.lr_scheduler.MultiStepLR(opt, milestones=[200, 350, 500, 750, 1000], gamma=10 ** (-1 / 5))
    state_path, best_path = os.path.join(args.out, "state.pt"), os.path.join(args.out, "best.pt")
    start, best = 1, float("inf")
    if os.path.exists(state_path):
        state = torch.load(state_path, weights_only=False)
        model.load_state_dict(state["model"]), opt.load_state_dict(state["opt"]), sched.load_state_dict(state["sched"])
        torch.set_rng_state(state["rng"])
        start, best = state["epoch"] + 1, state["best"]
    log = open(os.path.join(args.out, "log.txt"), "a")
    for epoch in range(start, args.epochs + 1):
        t0 = time.time()
        model.train()
        perm = torch.randperm(len(train))
        for i in range(0, len(train), 100):
            loss, _, _ = model.loss(train[perm[i:i + 100]])
            opt.zero_grad()
            loss.backward()
            opt.step()
        sched.step()
        with torch.no_grad():
            parts = [model.loss(valid[i:i + 100]) for i in range(0, len(valid), 100)]
        v = [float(np.mean([p[j].item() for p in parts])) for j in range(3)]
        new_best = v[0] < best
        if new_best:
            best = v[0]
            torch.save({"model": model.state_dict(), "epoch": epoch}, best_path)
        print(f"epoch {epoch} validation loss {v[0]:.3f} reconstruction {v[1]:.3f} kl {v[2]:.3f} "
              f"lr {opt.param_groups[0]['lr']:.3g}{' (best)' if new_best else ''} ({time.time() - t0:.1f} s)",
              file=log, flush=True)
        if epoch % 10 == 0 or epoch == args.epochs:
            torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "sched": sched.state_dict(),
                        "rng": torch.get_rng_state(), "epoch": epoch, "best": best}, state_path + ".tmp")
            os.replace(state_path + ".tmp", state_path)
    result = {}
    for name in ("final", "best"):
        if name == "best":
            saved = torch.load(best_path, weights_only=False)
            model.load_state_dict(saved["model"])
            result["best_epoch"] = saved["epoch"]
        model.eval()
        torch.manual_seed(0)
        t0 = time.time()
        mean, se = model.nll(test)
        result[name] = {"log_px_k200": mean, "standard_error": se, "seconds": round(time.time() - t0, 1)}
        print(name, result[name], file=log, flush=True)
    json.dump(result, open(os.path.join(args.out, "result.json"), "w"), indent=1)


if __name__ == "__main__":
    main()
