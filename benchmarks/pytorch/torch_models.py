"""PyTorch re-implementations of five models of the project, for speed comparison only.

Each class mirrors, layer for layer, a Keras model of the project (``models/vladder.py``,
``models/vae_collection.py``, ``models/lvae.py``, ``models/laplace_vae.py``) and the original code it ports
(TF1 for the VLadder, spec ``vladder_original.md`` §3; PyTorch for the Ladder VAE and the VLAE):

* :class:`VLadderSmall`   the ``vladder_mnist`` configuration (Small layers, latents 2/2/2, loss_ratio 8,
  KL regulariser with warm-up ``beta_t = 1 - exp(-t/2000)``); 25,907,853 trainable parameters.
* :class:`MLPVAE`         the collection's ``VAE`` (non-legacy: Dense 392 tanh, Dense 196, mean/log-var
  heads; decoder Dense 196 ReLU, Dense HWC logits; Bernoulli likelihood on logits + analytic KL).
* :class:`InfoVAE`        the collection's ``InfoVAE`` (conv 64, conv 128, Dense 512, lrelu 0.2; std =
  max(sigmoid, 0.001); decoder Dense 1024, Dense HWC/16*128, deconv 64 ReLU, deconv C; objective
  R + (1 - alpha) KL + (alpha + lambda - 1) MMD, alpha 0, lambda 1000, bandwidth D).
* :class:`LadderVAE`      the preset ``LVAE_mnist_3`` (addtt/ladder-vae-pytorch's README model: 3 stochastic
  layers of 32 channels, downsample 1 1 1, 4 gated ``bacdbacd`` residual blocks per layer, 64 filters, ELU,
  dropout 0.2, skip connections, residual merges, learned top prior, free bits 0.5, Bernoulli likelihood);
  3,209,153 trainable parameters. Adapted from the original's code (MIT License, below).
* :class:`VLAE`           the preset ``VLAE_binarized_mnist`` (yookoon/VLAE: MLP 784-500-500-50 encoder and
  50-500-500-784 decoder, T = 4 damped Newton updates of the posterior mode through the decoder's Jacobian
  by ReLU masks, full-covariance Gaussian posterior, Bernoulli output); 1,361,884 trainable parameters (the
  encoder's unused log-variance head included, as ours and the original's). Adapted from the original's
  code (MIT License, below).

PyTorch idioms: ``nn.Module``, NCHW tensors. VLadder: ``nn.BatchNorm{1,2}d(eps=1e-3, momentum=0.001)``
(PyTorch's momentum is 1 - Keras' 0.999) with the scale (gamma) frozen at 1 and only the offset (beta)
trainable, as Keras ``BatchNormalization(center=True, scale=False)``; 'same' padding of the 4x4 stride-2
(transposed) convolutions is ``padding=1``, which gives the same output sizes and the same zero padding as
TF. The Ladder VAE uses PyTorch's own layer defaults (``BatchNorm2d`` eps 1e-5, momentum 0.1, affine;
default initialisation), which our port reproduces.

Each model's ``loss(x, beta)`` returns the scalar training objective for one batch (``x`` NCHW in [0, 1]);
``beta`` (a 0-d tensor) is the KL warm-up weight of the VLadder and is ignored by the others (the Ladder
VAE preset has no KL warm-up, ``beta_anneal`` 0). :func:`make_optimizer` builds each case's optimizer
(Adam, or Adamax for the Ladder VAE) with the project's constants.

Licences of the adapted code: addtt/ladder-vae-pytorch (``lib/nn.py``, ``lib/stochastic.py``,
``models/lvae_layers.py``, ``models/lvae.py`` at a27d45c) is MIT-licensed, Copyright (c) 2019 Andrea Dittadi;
yookoon/VLAE (``network.py``, ``models.py``, ``distribution.py`` at 801bb4b) is MIT-licensed, Copyright (c)
2019 yookoon park. Both licences permit this adaptation with the copyright notice kept (here and in the
README beside this file).

    $TORCH_PYTHON benchmarks/pytorch/torch_models.py      # each twin's trainable parameters; exit 1 if one differs
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
# The deep Ladder VAE (models/lvae.py), preset LVAE_mnist_3. Adapted from addtt/ladder-vae-pytorch (MIT License,
# Copyright (c) 2019 Andrea Dittadi): lib/nn.py (ResidualBlock, GateLayer2d), lib/stochastic.py
# (NormalStochasticBlock2d, kl_normal_mc), models/lvae_layers.py (TopDownLayer, BottomUpLayer,
# ResBlockWithResampling, MergeLayer, SkipConnectionMerger), models/lvae.py (LadderVAE) and boilr's
# free_bits_kl / Interpolate. Module names follow our port (models/lvae.py) so that the two read side by side.
# ---------------------------------------------------------------------------------------------------
LOG_2PI = math.log(2.0 * math.pi)
NONLINEARITIES = {"elu": nn.ELU, "relu": nn.ReLU, "leakyrelu": nn.LeakyReLU, "selu": nn.SELU}
FREE_BITS_EPSILON = 1e-6  # boilr free_bits_kl: below this, no free bits


def _normal_log_prob(z, mean, log_var):
    """log N(z; mean, exp(log_var)) element-wise (torch.distributions.Normal's formula, without its checks)."""
    return -0.5 * ((z - mean).square() * torch.exp(-log_var) + log_var + LOG_2PI)


class GateLayer2d(nn.Module):
    """1x1 conv to 2C channels, then ``act(a) * sigmoid(g)`` (original lib/nn.py)."""

    def __init__(self, channels: int, nonlin):
        super().__init__()
        self.conv = nn.Conv2d(channels, 2 * channels, 1)
        self.nonlin = nonlin()

    def forward(self, x):
        a, g = self.conv(x).chunk(2, dim=1)
        return self.nonlin(a) * torch.sigmoid(g)


class ResidualBlock(nn.Module):
    """``x + branch(x)``: [BN -> act -> conv 3x3 -> Dropout2d] x 2 (``bacdbacd``; ``bacdbac``: no second
    dropout; ``cabdcabd``: conv -> act -> BN -> dropout), optionally ended by a :class:`GateLayer2d`."""

    def __init__(self, channels: int, nonlin, batchnorm: bool = True, block_type: str = "bacdbacd",
                 dropout: float | None = None, gated: bool = False):
        super().__init__()
        if block_type not in ("bacdbacd", "bacdbac", "cabdcabd"):
            raise ValueError(f"unknown residual block type {block_type!r}")
        modules = []
        for i in range(2):
            conv = nn.Conv2d(channels, channels, 3, padding=1)
            bn = [nn.BatchNorm2d(channels)] if batchnorm else []
            drop = [nn.Dropout2d(dropout)] if dropout is not None and (block_type != "bacdbac" or i == 0) else []
            modules += (bn + [nonlin(), conv] if block_type != "cabdcabd" else [conv, nonlin()] + bn) + drop
        if gated:
            modules.append(GateLayer2d(channels, nonlin))
        self.block = nn.Sequential(*modules)

    def forward(self, x):
        return self.block(x) + x


class ResampleBlock(nn.Module):
    """Optional 3x3 stride-2 conv (bottom-up) or transposed conv (top-down, output_padding 1), then a
    :class:`ResidualBlock` (original ``ResBlockWithResampling`` with c_in = c_out)."""

    def __init__(self, mode: str, channels: int, resample: bool = False, **res):
        super().__init__()
        if not resample:
            self.pre = None
        elif mode == "bottom-up":
            self.pre = nn.Conv2d(channels, channels, 3, stride=2, padding=1)
        else:
            self.pre = nn.ConvTranspose2d(channels, channels, 3, stride=2, padding=1, output_padding=1)
        self.res = ResidualBlock(channels, **res)

    def forward(self, x):
        return self.res(x if self.pre is None else self.pre(x))


class Merge(nn.Module):
    """concat(a, b) (2C) -> 1x1 conv to C, then (``residual``) an always gated residual block (original
    ``MergeLayer`` / ``SkipConnectionMerger``)."""

    def __init__(self, channels: int, merge_type: str = "residual", **res):
        super().__init__()
        self.conv = nn.Conv2d(2 * channels, channels, 1)
        self.res = ResidualBlock(channels, gated=True, **res) if merge_type == "residual" else None

    def forward(self, a, b):
        h = self.conv(torch.cat((a, b), dim=1))
        return h if self.res is None else self.res(h)


class TopDownLayer(nn.Module):
    """One stochastic layer of the top-down inference pass (original ``TopDownLayer`` with its
    ``NormalStochasticBlock2d``): prior from the top tensor or conv(h_above); posterior conv(merge(d_i,
    h_above)) (top: conv(d_top)); z ~ q by reparameterisation; the one-sample KL log q(z) - log p(z) per image;
    conv_out(z), the skip merge with h_above, the deterministic blocks."""

    def __init__(self, z_dim: int, channels: int, blocks: int, downsample: int, top: bool, top_prior_shape,
                 learn_top_prior: bool, skip: bool, merge_type: str, gated: bool, **res):
        super().__init__()
        self.top = top
        if top:
            self.top_prior = nn.Parameter(torch.zeros(top_prior_shape), requires_grad=learn_top_prior)
            self.conv_in_p = self.merge = self.skip_merge = None
        else:
            self.conv_in_p = nn.Conv2d(channels, 2 * z_dim, 3, padding=1)
            self.merge = Merge(channels, merge_type, **res)
            self.skip_merge = Merge(channels, "residual", **res) if skip else None
        self.conv_in_q = nn.Conv2d(channels, 2 * z_dim, 3, padding=1)
        self.conv_out = nn.Conv2d(z_dim, channels, 3, padding=1)
        self.deterministic = nn.Sequential(*[ResampleBlock("top-down", channels, resample=b < downsample,
                                                           gated=gated, **res) for b in range(blocks)])

    def forward(self, h_above, bu_value):
        p_params = self.top_prior if self.top else self.conv_in_p(h_above)
        q_params = self.conv_in_q(bu_value if self.top else self.merge(bu_value, h_above))
        p_mean, p_log_var = p_params.chunk(2, dim=1)
        q_mean, q_log_var = q_params.chunk(2, dim=1)
        z = q_mean + torch.exp(q_log_var / 2) * torch.randn_like(q_mean)
        kl = (_normal_log_prob(z, q_mean, q_log_var) - _normal_log_prob(z, p_mean, p_log_var)).sum((1, 2, 3))
        y = self.conv_out(z)
        if self.skip_merge is not None:
            y = self.skip_merge(y, h_above)
        return self.deterministic(y), kl


class LadderVAE(nn.Module):
    """The Ladder VAE of addtt/ladder-vae-pytorch as our ``models/lvae.py``; defaults: the preset ``LVAE_mnist_3``
    on ``(C, H, W)`` = (1, 28, 28) images (padded to 32x32 and cropped back, as the original)."""

    def __init__(self, image_shape=(1, 28, 28), z_dims=(32, 32, 32), downsample=(1, 1, 1), blocks_per_layer: int = 4,
                 n_filters: int = 64, nonlin: str = "elu", batchnorm: bool = True, skip: bool = True,
                 gated: bool = True, learn_top_prior: bool = True, residual_type: str = "bacdbacd",
                 merge_layers: str = "residual", dropout: float | None = 0.2, free_bits: float = 0.5):
        super().__init__()
        c, h, w = image_shape
        self.image_shape, self.free_bits = tuple(image_shape), float(free_bits)
        factor = 2 ** sum(downsample) * 2  # with the stride-2 stem
        self.padded = tuple(((s - 1) // factor + 1) * factor for s in (h, w))
        act = NONLINEARITIES[nonlin]
        res = dict(nonlin=act, batchnorm=batchnorm, block_type=residual_type,
                   dropout=dropout if dropout is not None and dropout >= 1e-5 else None)
        C = n_filters
        self.stem = nn.Sequential(nn.Conv2d(c, C, 5, stride=2, padding=2), act(),
                                  ResampleBlock("bottom-up", C, gated=False, **res))
        self.bottom_up_layers = nn.ModuleList([
            nn.Sequential(*[ResampleBlock("bottom-up", C, resample=b < d, gated=gated, **res)
                            for b in range(blocks_per_layer)]) for d in downsample])
        top_prior_shape = (1, 2 * z_dims[-1], self.padded[0] // factor, self.padded[1] // factor)
        self.top_down_layers = nn.ModuleList([
            TopDownLayer(z, C, blocks_per_layer, d, top=(i == len(z_dims) - 1), top_prior_shape=top_prior_shape,
                         learn_top_prior=learn_top_prior, skip=skip, merge_type=merge_layers, gated=gated, **res)
            for i, (z, d) in enumerate(zip(z_dims, downsample))])
        self.final = nn.Sequential(nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False),
                                   *[ResampleBlock("top-down", C, gated=gated, **res) for _ in range(blocks_per_layer)])
        self.likelihood_conv = nn.Conv2d(C, c, 3, padding=1)  # Bernoulli logits

    def loss(self, x, beta=None):
        """mean_n R_n + sum_l mean_n max(KL_nl, free_bits): R the Bernoulli NLL of x (summed over pixels), KL the
        per-layer one-sample KL; beta (the KL warm-up) is 1 (beta_anneal 0) and the argument is ignored."""
        _, h, w = self.image_shape
        dr, dc = self.padded[0] - h, self.padded[1] - w
        d = self.stem(F.pad(x, (dc // 2, dc - dc // 2, dr // 2, dr - dr // 2)))
        bu_values = []
        for layer in self.bottom_up_layers:
            d = layer(d)
            bu_values.append(d)
        g, kls = None, [None] * len(bu_values)
        for i in reversed(range(len(bu_values))):
            g, kls[i] = self.top_down_layers[i](g, bu_values[i])
        g = self.final(g)[:, :, dr // 2:dr // 2 + h, dc // 2:dc // 2 + w]
        reconstruction = _bernoulli_nll(self.likelihood_conv(g), x)          # (B,)
        kl = torch.stack(kls, dim=1)                                         # (B, L)
        if self.free_bits >= FREE_BITS_EPSILON:
            kl = kl.clamp(min=self.free_bits)
        return reconstruction.mean() + kl.mean(0).sum()


# ---------------------------------------------------------------------------------------------------
# The Variational Laplace Autoencoder (models/laplace_vae.py), preset VLAE_binarized_mnist. Adapted from yookoon/VLAE
# (MIT License, Copyright (c) 2019 yookoon park): network.py (BaseEncoder, BaseDecoder with compute_jacobian),
# models.py (VLAE.solve_mu, VLAE.forward), distribution.py (Bernoulli, Gaussian), experiment.py
# (initialize_params).
# ---------------------------------------------------------------------------------------------------
KAIMING_A = 2.0 ** (1.0 / 3.0)  # initialize_params: kaiming_uniform_(a=2^(1/3), mode='fan_out')
BERNOULLI_EPS = 1e-5


class VLAE(nn.Module):
    """VLAE with the Bernoulli output on flattened ``(C, H, W)`` images.

    ``formulation="project"`` (default) computes what our ``models/laplace_vae.py`` computes: the transposed
    Jacobian J^T (B, Z, D) by ReLU masks, each damped Newton step by a Cholesky factor and ``cholesky_solve``,
    q = N(mu_T, Lambda^-1) sampled as mu_T + L^-T eps (a triangular solve) with log q from eps and diag(L).
    ``formulation="original"`` computes as yookoon/VLAE does: J (B, D, Z) by ``W @ (mask * W)``,
    ``torch.inverse(precision)`` for each step, and q's Cholesky factor as ``cholesky(inverse(precision))``,
    log q from the quadratic form in the precision (the same numbers; more work).
    """

    def __init__(self, image_shape=(1, 28, 28), z_dim: int = 50, hidden_dim: int = 500, n_update: int = 4,
                 update_lr: float = 0.5, formulation: str = "project"):
        super().__init__()
        if formulation not in ("project", "original"):
            raise ValueError(f"formulation must be 'project' or 'original', not {formulation!r}")
        d = int(math.prod(image_shape))
        self.z_dim, self.n_update, self.update_lr, self.formulation = z_dim, n_update, update_lr, formulation
        self.encoder_hidden0 = nn.Linear(d, hidden_dim)
        self.encoder_hidden1 = nn.Linear(hidden_dim, hidden_dim)
        self.encoder_mean = nn.Linear(hidden_dim, z_dim)
        self.encoder_log_var = nn.Linear(hidden_dim, z_dim)  # unused by the VLAE's posterior (as ours, the original's)
        self.decoder_hidden0 = nn.Linear(z_dim, hidden_dim)
        self.decoder_hidden1 = nn.Linear(hidden_dim, hidden_dim)
        self.decoder_out = nn.Linear(hidden_dim, d)
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.kaiming_uniform_(m.weight, a=KAIMING_A, mode="fan_out")  # biases: PyTorch's default
        self.register_buffer("eye", torch.eye(z_dim), persistent=False)

    def update_rate(self, t: int) -> float:
        return self.update_lr / (t + 1)

    def decode(self, z):
        return self.decoder_out(F.relu(self.decoder_hidden1(F.relu(self.decoder_hidden0(z)))))

    def decode_with_jacobian(self, z):
        """``a (B, D)`` and ``J^T (B, Z, D)`` (project) or ``J (B, D, Z)`` (original) by the ReLU masks."""
        h1 = F.relu(self.decoder_hidden0(z))
        h2 = F.relu(self.decoder_hidden1(h1))
        a = self.decoder_out(h2)
        m1, m2 = (h1 > 0.0).to(z.dtype), (h2 > 0.0).to(z.dtype)
        if self.formulation == "project":
            jt = self.decoder_hidden0.weight.t()[None] * m1[:, None, :]                  # (B, Z, H)
            jt = torch.matmul(jt, self.decoder_hidden1.weight.t()) * m2[:, None, :]      # (B, Z, H)
            return a, torch.matmul(jt, self.decoder_out.weight.t())                      # (B, Z, D)
        j = m1[..., None] * self.decoder_hidden0.weight                                  # (B, H, Z)
        j = m2[..., None] * torch.matmul(self.decoder_hidden1.weight, j)                 # (B, H, Z)
        return a, torch.matmul(self.decoder_out.weight, j)                               # (B, D, Z)

    @staticmethod
    def _variance_inverse(a):
        """v = p(1 - p) + 1e-5 with p = clamp(sigmoid(a), 1e-5, 1 - 1e-5) (the Bernoulli Fisher weights)."""
        p = torch.sigmoid(a).clamp(BERNOULLI_EPS, 1.0 - BERNOULLI_EPS)
        return p * (1.0 - p) + BERNOULLI_EPS

    def _project_posterior(self, x, mu):
        for t in range(self.n_update + 1):
            a, jt = self.decode_with_jacobian(mu)
            precision = torch.matmul(jt * self._variance_inverse(a)[:, None, :], jt.transpose(1, 2)) + self.eye
            chol = torch.linalg.cholesky(precision)
            if t == self.n_update:
                break
            gradient = torch.matmul(jt, (x - torch.sigmoid(a))[..., None]) - mu[..., None]
            mu = mu + self.update_rate(t) * torch.cholesky_solve(gradient, chol)[..., 0]
        eps = torch.randn_like(mu)
        z = mu + torch.linalg.solve_triangular(chol.transpose(1, 2), eps[..., None], upper=True)[..., 0]
        log_q = (-0.5 * self.z_dim * LOG_2PI + torch.log(torch.diagonal(chol, dim1=1, dim2=2)).sum(1)
                 - 0.5 * eps.square().sum(1))
        return z, log_q

    def _original_posterior(self, x, mu):
        for t in range(self.n_update + 1):
            a, j = self.decode_with_jacobian(mu)
            var_inv = torch.exp(torch.log(self._variance_inverse(a))).unsqueeze(1)   # exp(-logvar), as the original
            precision = torch.matmul(j.transpose(1, 2) * var_inv, j) + self.eye
            if t == self.n_update:
                break
            # solve_mu (Bernoulli); its unused 'bias' term is left out
            step = torch.matmul(j.transpose(1, 2), (x - torch.sigmoid(a))[..., None]) - mu[..., None]
            mu_new = torch.matmul(torch.inverse(precision), step)[..., 0] + mu
            lr = self.update_rate(t)
            mu = (1 - lr) * mu + lr * mu_new
        chol = torch.linalg.cholesky(torch.inverse(precision))   # distribution.Gaussian: L = chol(Sigma)
        z = mu + torch.matmul(chol, torch.randn_like(mu)[..., None])[..., 0]
        d = (z - mu)[:, None, :]
        quadratic = torch.matmul(torch.matmul(d, precision), d.transpose(1, 2)).sum((1, 2))
        log_q = -0.5 * (self.z_dim * LOG_2PI + 2.0 * torch.log(torch.diagonal(chol, dim1=1, dim2=2)).sum(1)
                        + quadratic)
        return z, log_q

    def loss(self, x, beta=None):
        """The negative one-sample ELBO, batch mean: -log p(x|z) + log q(z|x) - log p(z), z ~ q (Monte-Carlo KL)."""
        x = x.flatten(1)
        h = F.relu(self.encoder_hidden1(F.relu(self.encoder_hidden0(x))))
        mu, _ = self.encoder_mean(h), self.encoder_log_var(h)   # the encoder's forward computes both heads
        posterior = self._project_posterior if self.formulation == "project" else self._original_posterior
        z, log_q = posterior(x, mu)
        log_p = -0.5 * (self.z_dim * LOG_2PI + z.square().sum(1))
        p = torch.sigmoid(self.decode(z)).clamp(BERNOULLI_EPS, 1.0 - BERNOULLI_EPS)
        log_likelihood = (x * torch.log(p) + (1.0 - x) * torch.log(1.0 - p)).sum(1)
        return (-log_likelihood + log_q - log_p).mean()


# ---------------------------------------------------------------------------------------------------
# Registry used by torch_worker.py: name -> (constructor, input shape NCHW without batch, optimizer kwargs);
# the optimizer is torch.optim.Adam unless OPTIMIZERS names another (make_optimizer)
# ---------------------------------------------------------------------------------------------------
CASES = {
    "vladder_mnist": (VLadderSmall, (1, 28, 28), dict(lr=2e-4, betas=(0.9, 0.999), eps=1e-8)),
    "vae_mlp": (MLPVAE, (1, 28, 28), dict(lr=1e-4, betas=(0.5, 0.999), eps=1e-8)),
    "infovae": (InfoVAE, (1, 28, 28), dict(lr=1e-3, betas=(0.5, 0.999), eps=1e-8)),
    # the original's Adamax(lr 3e-4) with PyTorch's constants, as hvae/lvae_task.py (no gradient clipping)
    "lvae_mnist_3": (LadderVAE, (1, 28, 28), dict(lr=3e-4, betas=(0.9, 0.999), eps=1e-8)),
    # the original's Adam(lr 5e-4) with PyTorch's constants, as hvae/laplace_task.py
    "vlae": (VLAE, (1, 28, 28), dict(lr=5e-4, betas=(0.9, 0.999), eps=1e-8)),
}
OPTIMIZERS = {"lvae_mnist_3": "Adamax"}
# each twin's trainable parameters, the same as our model's (tests/test_benchmark_tools.py checks ours against these
# numbers; `python torch_models.py` checks the twins)
PARAMETERS = {"vladder_mnist": 25_907_853, "vae_mlp": 657_392, "infovae": 10_316_049, "lvae_mnist_3": 3_209_153,
              "vlae": 1_361_884}


def trainable_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def make_optimizer(case: str, params, fused: bool = False):
    """The case's optimizer over ``params``: ``torch.optim.Adam`` (``fused=True``: its fused CPU kernel) or
    ``torch.optim.Adamax`` (PyTorch has no fused Adamax: ``fused=True`` raises ValueError)."""
    kwargs = CASES[case][2]
    if OPTIMIZERS.get(case, "Adam") == "Adamax":
        if fused:
            raise ValueError(f"case {case} trains with Adamax, which PyTorch has no fused kernel for: use eager")
        return torch.optim.Adamax(params, **kwargs)
    return torch.optim.Adam(params, fused=fused or None, **kwargs)


def example_images(case: str, batch: int):
    """A fixed batch for ``case`` (NCHW): binary pixels (ones with probability ``BINARY_IMAGES[case]``) for the
    binarized-MNIST cases, else uniform in [0, 1) (worker_common.BINARY_IMAGES; the TF side draws the same way)."""
    from worker_common import BINARY_IMAGES

    x = torch.rand((batch,) + tuple(CASES[case][1]))
    return (x < BINARY_IMAGES[case]).float() if case in BINARY_IMAGES else x


if __name__ == "__main__":
    wrong = 0
    for name, (cls, shape, _) in CASES.items():
        n = trainable_parameters(cls())
        wrong += n != PARAMETERS[name]
        note = "" if n == PARAMETERS[name] else f"  (expected {PARAMETERS[name]:,d}: differs from our model)"
        print(f"{name:15s} {n:>12,d} trainable parameters{note}")
    raise SystemExit(1 if wrong else 0)
