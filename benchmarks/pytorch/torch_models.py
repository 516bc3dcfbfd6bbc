"""PyTorch re-implementations of three models of the project, for speed comparison only.

Each class mirrors, layer for layer, a Keras model of the project (``models/vladder.py``,
``models/vae_collection.py``) and the original TF1 code it ports (spec ``vladder_original.md`` §3):

* :class:`VLadderSmall`   the ``vladder_mnist`` configuration (Small layers, latents 2/2/2, loss_ratio 8,
  KL regulariser with warm-up ``beta_t = 1 - exp(-t/2000)``); 25,907,853 trainable parameters.
* :class:`MLPVAE`         the collection's ``VAE`` (non-legacy: Dense 392 tanh, Dense 196, mean/log-var
  heads; decoder Dense 196 ReLU, Dense HWC logits; Bernoulli likelihood on logits + analytic KL).
* :class:`InfoVAE`        the collection's ``InfoVAE`` (conv 64, conv 128, Dense 512, lrelu 0.2; std =
  max(sigmoid, 0.001); decoder Dense 1024, Dense HWC/16*128, deconv 64 ReLU, deconv C; objective
  R + (1 - alpha) KL + (alpha + lambda - 1) MMD, alpha 0, lambda 1000, bandwidth D).

PyTorch idioms: ``nn.Module``, NCHW tensors, ``nn.BatchNorm{1,2}d(eps=1e-3, momentum=0.001)`` (PyTorch's
momentum is 1 - Keras' 0.999) with the scale (gamma) frozen at 1 and only the offset (beta) trainable,
as Keras ``BatchNormalization(center=True, scale=False)``. 'same' padding of the 4x4 stride-2 (transposed)
convolutions is ``padding=1``, which gives the same output sizes and the same zero padding as TF.

Each model's ``loss(x, beta)`` returns the scalar training objective for one batch (``x`` NCHW in [0, 1]);
``beta`` (a 0-d tensor) is the KL warm-up weight of the VLadder and is ignored by the others.

    $TORCH_PYTHON benchmarks/pytorch/torch_models.py      # prints each model's trainable parameter count
"""

from __future__ import annotations

import math

if __name__ == "__main__":  # run as a script: read the (no) options, and answer --help, before importing torch
    import argparse

    argparse.ArgumentParser(description=__doc__.split("\n\n")[0]).parse_args()

import torch
import torch.nn.functional as F
from torch import nn

# ---------------------------------------------------------------------------------------------------
# VLadder building blocks (models/layers.py of the project)
# ---------------------------------------------------------------------------------------------------
BN_EPS = 1e-3
BN_MOMENTUM = 1.0 - 0.999  # PyTorch convention: weight of the new batch statistic
LRELU = 0.1
SIGMA_OFFSET = 0.001


def _bn(n: int, dims: int) -> nn.Module:
    """Batch norm with a learned offset and no learned scale (contrib batch_norm defaults)."""
    bn = (nn.BatchNorm1d if dims == 1 else nn.BatchNorm2d)(n, eps=BN_EPS, momentum=BN_MOMENTUM)
    bn.weight.requires_grad_(False)  # gamma fixed at 1: scale=False
    return bn


def _normal_(layer: nn.Module) -> nn.Module:
    nn.init.normal_(layer.weight, 0.0, 0.02)
    nn.init.zeros_(layer.bias)
    return layer


def _glorot_(layer: nn.Module) -> nn.Module:
    nn.init.xavier_uniform_(layer.weight)
    nn.init.zeros_(layer.bias)
    return layer


class NormedBlock(nn.Module):
    """linear -> BN (beta only) -> activation. ``always_train_bn``: batch statistics even in eval mode."""

    def __init__(self, linear: nn.Module, n: int, dims: int, act: str, always_train_bn: bool = False):
        super().__init__()
        self.linear = _normal_(linear)
        self.bn = _bn(n, dims)
        self.act = act
        self.always_train_bn = always_train_bn

    def forward(self, x):
        x = self.linear(x)
        if self.always_train_bn and not self.training:
            bn = self.bn
            x = F.batch_norm(x, bn.running_mean, bn.running_var, bn.weight, bn.bias, True, bn.momentum, bn.eps)
        else:
            x = self.bn(x)
        if self.act == "lrelu":
            return F.leaky_relu(x, LRELU)
        if self.act == "relu":
            return F.relu(x)
        return x


def fc_bn(n_in: int, n: int, act: str, always_train_bn: bool = False) -> NormedBlock:
    return NormedBlock(nn.Linear(n_in, n), n, 1, act, always_train_bn)


def conv_bn_lrelu(c_in: int, c: int, stride: int) -> NormedBlock:
    return NormedBlock(nn.Conv2d(c_in, c, 4, stride, padding=1), c, 2, "lrelu")


def conv_t_bn_lrelu(c_in: int, c: int, stride: int) -> NormedBlock:
    return NormedBlock(nn.ConvTranspose2d(c_in, c, 4, stride, padding=1), c, 2, "lrelu")


def dense(n_in: int, n: int) -> nn.Linear:
    """A plain contrib fully_connected layer: Glorot-uniform, zero bias."""
    return _glorot_(nn.Linear(n_in, n))


class LadderHead(nn.Module):
    """q(z_k | h_k): body, flatten, mean = Dense(d), scale = sigmoid(Dense(d)) + 0.001."""

    def __init__(self, body: list, n_feat: int, d: int):
        super().__init__()
        self.body = nn.Sequential(*body, nn.Flatten())
        self.mean = dense(n_feat, d)
        self.scale = dense(n_feat, d)

    def forward(self, h):
        f = self.body(h)
        return self.mean(f), torch.sigmoid(self.scale(f)) + SIGMA_OFFSET


class Generative(nn.Module):
    """f_k(g_{k+1}, z_k): embed z_k, gated add ``g + gate * e`` (gate (1024,) init 0.1), then the body."""

    def __init__(self, body: list, embed: nn.Module | None = None, width: int = 1024):
        super().__init__()
        self.embed = embed
        self.gate = nn.Parameter(torch.full((width,), 0.1)) if embed is not None else None
        self.body = nn.Sequential(*body)

    def forward(self, upper, z):
        if upper is None:
            return self.body(z)
        return self.body(upper + self.gate * self.embed(z))


class Unflatten(nn.Module):
    def __init__(self, shape):
        super().__init__()
        self.shape = tuple(shape)

    def forward(self, x):
        return x.view((-1,) + self.shape)


class OutputLayer(nn.Module):
    """Last transposed conv (4x4, Glorot-uniform), sigmoid, affine map to ``value_range``."""

    def __init__(self, c_in: int, c: int, stride: int, value_range=(0.0, 1.0)):
        super().__init__()
        self.conv = _glorot_(nn.ConvTranspose2d(c_in, c, 4, stride, padding=1))
        self.lo, self.hi = (float(v) for v in value_range)

    def forward(self, x):
        return self.lo + (self.hi - self.lo) * torch.sigmoid(self.conv(x))


class VLadderSmall(nn.Module):
    """VLadder, ``vladder_mnist`` configuration (Small layers, 28x28x1, latents 2/2/2, loss_ratio 8)."""

    def __init__(self, latent_dims=(2, 2, 2), loss_ratio: float = 8.0, value_range=(0.0, 1.0)):
        super().__init__()
        d = latent_dims
        self.loss_ratio = float(loss_ratio)
        self.ladders = nn.ModuleList([
            LadderHead([conv_bn_lrelu(1, 64, 2), conv_bn_lrelu(64, 128, 2)], 7 * 7 * 128, d[0]),
            LadderHead([fc_bn(1024, 1024, "lrelu"), fc_bn(1024, 1024, "lrelu")], 1024, d[1]),
            LadderHead([fc_bn(1024, 1024, "lrelu"), fc_bn(1024, 1024, "lrelu")], 1024, d[2]),
        ])
        self.inferences = nn.ModuleList([
            nn.Sequential(conv_bn_lrelu(1, 64, 2), conv_bn_lrelu(64, 128, 2), nn.Flatten(), dense(7 * 7 * 128, 1024)),
            nn.Sequential(fc_bn(1024, 1024, "lrelu"), fc_bn(1024, 1024, "lrelu"), dense(1024, 1024)),
        ])
        self.generatives = nn.ModuleList([
            Generative([fc_bn(1024, 7 * 7 * 128, "relu"), Unflatten((128, 7, 7)), conv_t_bn_lrelu(128, 64, 2),
                        OutputLayer(64, 1, 2, value_range)],
                       embed=fc_bn(d[0], 1024, "lrelu", always_train_bn=True)),
            Generative([fc_bn(1024, 1024, "relu"), fc_bn(1024, 1024, "relu"), dense(1024, 1024)],
                       embed=fc_bn(d[1], 1024, "relu")),
            Generative([fc_bn(d[2], 1024, "relu"), fc_bn(1024, 1024, "relu"), dense(1024, 1024)]),
        ])

    def encode(self, x):
        """Bottom-up: list of (mean, scale) per layer."""
        params, h = [], x
        for k in range(3):
            params.append(self.ladders[k](h))
            if k < 2:
                h = self.inferences[k](h)
        return params

    def decode(self, codes):
        g = None
        for k in reversed(range(3)):
            g = self.generatives[k](g, codes[k])
        return g

    def loss(self, x, beta):
        """beta * sum_k KL(q(z_k|x) || N(0,I)) + loss_ratio * sum|x - x_hat|, batch means."""
        params = self.encode(x)
        codes = [m + s * torch.randn_like(s) for m, s in params]
        x_hat = self.decode(codes)
        recon = self.loss_ratio * (x - x_hat).abs().flatten(1).sum(1).mean()
        kl = sum((-torch.log(s) + 0.5 * s.square() + 0.5 * m.square() - 0.5).sum(1).mean() for m, s in params)
        return beta * kl + recon


def kl_warmup(t: int, tau: float = 2000.0) -> float:
    return 1.0 - math.exp(-t / tau)


# ---------------------------------------------------------------------------------------------------
# The VAE collection (models/vae_collection.py): initialisers and bias 0.05 as the project
# ---------------------------------------------------------------------------------------------------
BIAS_INIT = 0.05


def _cdense(n_in, n, init="glorot"):
    layer = nn.Linear(n_in, n)
    if init == "glorot":
        nn.init.xavier_uniform_(layer.weight)
    else:
        nn.init.normal_(layer.weight, 0.0, 0.02)
    nn.init.constant_(layer.bias, BIAS_INIT)
    return layer


def _cconv(cls, c_in, c):
    layer = cls(c_in, c, 4, 2, padding=1)
    nn.init.trunc_normal_(layer.weight, 0.0, 0.02, -0.04, 0.04)
    nn.init.constant_(layer.bias, BIAS_INIT)
    return layer


def _bernoulli_nll(logits, x):
    """-log Bernoulli(x; logits) summed over pixels, per example."""
    return F.binary_cross_entropy_with_logits(logits, x, reduction="none").flatten(1).sum(1)


def _kl_std_normal(mean, std):
    return (-torch.log(std) + 0.5 * std.square() + 0.5 * mean.square() - 0.5).sum(1)


def _mmd(x, y, bandwidth):
    def k(a, b):
        return torch.exp(-(a[:, None, :] - b[None, :, :]).square().sum(-1) / bandwidth)

    return k(x, x).mean() + k(y, y).mean() - 2.0 * k(x, y).mean()


class MLPVAE(nn.Module):
    """The collection's VAE (non-legacy) for ``(C, H, W)`` images, latent ``d``."""

    def __init__(self, image_shape=(1, 28, 28), latent_dim: int = 200):
        super().__init__()
        self.pixels = int(math.prod(image_shape))
        self.image_shape = tuple(image_shape)
        self.encoder_hidden1 = _cdense(self.pixels, 392)
        self.encoder_hidden2 = _cdense(392, 196)
        self.mean_head = _cdense(196, latent_dim)
        self.log_var_head = _cdense(196, latent_dim)
        self.decoder_hidden = _cdense(latent_dim, 196)
        self.decoder_out = _cdense(196, self.pixels)

    def loss(self, x, beta=None):
        h = self.encoder_hidden2(torch.tanh(self.encoder_hidden1(x.flatten(1))))
        mean, log_var = self.mean_head(h), self.log_var_head(h)
        std = torch.exp(0.5 * log_var)
        z = mean + std * torch.randn_like(std)
        logits = self.decoder_out(F.relu(self.decoder_hidden(z))).view((-1,) + self.image_shape)
        return _bernoulli_nll(logits, x).mean() + _kl_std_normal(mean, std).mean()


class InfoVAE(nn.Module):
    """The collection's InfoVAE (non-legacy, alpha 0, lambda 1000, bandwidth D) for ``(C, H, W)`` images."""

    def __init__(self, image_shape=(1, 28, 28), latent_dim: int = 200, alpha: float = 0.0, lambda_: float = 1000.0):
        super().__init__()
        c, h, w = image_shape
        self.image_shape = tuple(image_shape)
        self.alpha, self.lambda_, self.bandwidth = alpha, lambda_, float(latent_dim)
        self.conv1 = _cconv(nn.Conv2d, c, 64)
        self.conv2 = _cconv(nn.Conv2d, 64, 128)
        self.encoder_dense = _cdense((h // 4) * (w // 4) * 128, 512, "normal")
        self.mean_head = _cdense(512, latent_dim)
        self.std_head = _cdense(512, latent_dim)
        self.decoder_dense1 = _cdense(latent_dim, 1024, "normal")
        self.decoder_dense2 = _cdense(1024, (h // 4) * (w // 4) * 128, "normal")
        self.deconv1 = _cconv(nn.ConvTranspose2d, 128, 64)
        self.deconv2 = _cconv(nn.ConvTranspose2d, 64, c)

    def loss(self, x, beta=None):
        c, h, w = self.image_shape
        f = F.leaky_relu(self.conv2(F.leaky_relu(self.conv1(x), 0.2)), 0.2)
        f = F.leaky_relu(self.encoder_dense(f.flatten(1)), 0.2)
        mean, std = self.mean_head(f), torch.clamp_min(torch.sigmoid(self.std_head(f)), 0.001)
        z = mean + std * torch.randn_like(std)
        g = F.relu(self.decoder_dense2(F.relu(self.decoder_dense1(z)))).view(-1, 128, h // 4, w // 4)
        logits = self.deconv2(F.relu(self.deconv1(g)))
        nll = _bernoulli_nll(logits, x).mean()
        kl = _kl_std_normal(mean, std).mean()
        mmd = _mmd(z, torch.randn_like(z), self.bandwidth)
        return nll + (1.0 - self.alpha) * kl + (self.alpha + self.lambda_ - 1.0) * mmd


# ---------------------------------------------------------------------------------------------------
# Registry used by torch_worker.py: name -> (constructor, input shape NCHW without batch, Adam kwargs)
# ---------------------------------------------------------------------------------------------------
CASES = {
    "vladder_mnist": (VLadderSmall, (1, 28, 28), dict(lr=2e-4, betas=(0.9, 0.999), eps=1e-8)),
    "vae_mlp": (MLPVAE, (1, 28, 28), dict(lr=1e-4, betas=(0.5, 0.999), eps=1e-8)),
    "infovae": (InfoVAE, (1, 28, 28), dict(lr=1e-3, betas=(0.5, 0.999), eps=1e-8)),
}


def trainable_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


if __name__ == "__main__":
    for name, (cls, shape, _) in CASES.items():
        print(f"{name:15s} {trainable_parameters(cls()):>12,d} trainable parameters")
