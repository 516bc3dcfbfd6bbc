#!/usr/bin/env python3
"""Floating-point operations of one training step, counted analytically from the layer shapes.

Counted: the multiply-adds of every Dense / Conv2D / Conv2DTranspose layer, 1 MAC = 2 FLOPs, and the VLAE's
batched matrix products (the decoder Jacobian by ReLU masks, J^T W2 and J^T W3, the precision J^T V J and the
Newton gradient J^T r, each of its T + 1 = 5 posterior evaluations; counted as layers whose "weight" is the
right-hand factor, both factors needing gradients).
* forward: MACs = (output elements) x (fan-in) for Dense and Conv2D; (input elements) x (C_out x k x k)
  for Conv2DTranspose. 'same' padding is counted as computed by im2col/col2im kernels (taps that fall
  on padding or are cropped are included), so this is the work the kernels do, not the "useful" work.
* backward: the gradient w.r.t. the weights costs the forward MACs of each layer; the gradient w.r.t.
  the input costs the forward MACs again, except for layers whose input is the image (no gradient needed).
  So a step is ~3x the forward (exactly: 2 x (fwd + wgrad + dgrad) MACs).
* not counted: batch norm, activations, bias adds, the loss, the KL/MMD terms and the Adam update
  (element-wise, memory-bound; for the VLadder they add up to well under 1 GFLOP per step at batch 100:
  Adam ~ 12 FLOPs x 25.9 M parameters = 0.3 GFLOP, the rest a few tens of MFLOP); the LVAE's bilinear
  upsampling; the VLAE's Cholesky factorisations and triangular solves (Z^3/3 ~ 42 k MACs per 50x50 factor; with
  their backward about 0.2% of its step: FlopCounterMode counts 134.69 GFLOP against the analytic 134.40) and
  its encoder's unused log-variance head (no gradient).
* the LVAE is counted on its padded 32x32 input (the stem reads the zero-padded image, as the kernels do).

Usage (from the repository's root):
    python3 benchmarks/pytorch/flops.py                   # the analytic table (standard library only)
    $TORCH_PYTHON benchmarks/pytorch/flops.py --check-torch  # + PyTorch's FlopCounterMode on the twin models
    $TF_PYTHON benchmarks/pytorch/flops.py --check-tf        # + TF's graph profiler on the project's step

TF's graph profiler over-counts the VLAE (506 GFLOP against the analytic 134.40 and FlopCounterMode's 134.69): its
statistic of ``BatchMatMulV2`` seems to ignore ``adj_x``, and counts the weight gradients of the Jacobian products
(``jt^T @ grad``, inner dimension Z = 50) with the inner dimension H = 500, 10 times over.

Prints per model: forward, weight-gradient and input-gradient MACs per image and GFLOP per step.
"""

from __future__ import annotations

import argparse
import os
import sys

from worker_common import BATCH as _BATCH  # (standard library only)

BATCH = {case: b for case, b in _BATCH.items() if case != "matmul"}


def dense(n_in, n_out, needs_dgrad=True):
    return ("dense", n_in * n_out, needs_dgrad)


def conv(h_out, w_out, c_in, c_out, k=4, needs_dgrad=True):
    return ("conv", h_out * w_out * c_out * c_in * k * k, needs_dgrad)


def conv_t(h_in, w_in, c_in, c_out, k=4):
    return ("conv_t", h_in * w_in * c_in * c_out * k * k, True)


def matmul(m, k, n):
    """A product (m x k) @ (k x n) per image whose two factors both need gradients."""
    return ("matmul", m * k * n, True)


def _lvae_layers(z=32, c=64, blocks=4, downsample=(1, 1, 1), size=32):
    """LVAE_mnist_3 (models/lvae.py): gated residual blocks of two 3x3 convs and a 1x1 gate conv to 2C."""

    def res(h, gated=True):
        return [conv(h, h, c, c, k=3)] * 2 + ([conv(h, h, c, 2 * c, k=1)] if gated else [])

    def merge(h):
        return [conv(h, h, 2 * c, c, k=1)] + res(h)

    h = size // 2
    L = [conv(h, h, 1, c, k=5, needs_dgrad=False)] + res(h, gated=False)     # stem (never gated)
    latent = []
    for d in downsample:                                                    # bottom-up segments
        for b in range(blocks):
            if b < d:
                h //= 2
                L.append(conv(h, h, c, c, k=3))
            L += res(h)
        latent.append(h)
    for i in reversed(range(len(downsample))):                              # top-down layers
        h, top = latent[i], i == len(downsample) - 1
        L += [conv(h, h, c, 2 * z, k=3), conv(h, h, z, c, k=3)]             # posterior conv, conv_out
        if not top:
            L += [conv(h, h, c, 2 * z, k=3)] + merge(h) + merge(h)          # prior conv, merge, skip merge
        for b in range(blocks):
            if b < downsample[i]:
                L.append(conv_t(h, h, c, c, k=3))
                h *= 2
            L += res(h)
    L += res(size) * blocks                                                 # final blocks after the x2 upsampling
    L.append(conv(28, 28, c, 1, k=3))                                       # Bernoulli logits (cropped)
    return L


def _vlae_layers(z=50, hidden=500, d=784, n_update=4):
    """VLAE_binarized_mnist (models/laplace_vae.py): encoder, T + 1 decoder passes with the Jacobian and the
    precision (T with the Newton gradient), the decoder at the posterior draw."""
    decoder = [dense(z, hidden), dense(hidden, hidden), dense(hidden, d)]
    L = [dense(d, hidden, needs_dgrad=False), dense(hidden, hidden), dense(hidden, z)]
    for t in range(n_update + 1):
        L += decoder + [matmul(z, hidden, hidden), matmul(z, hidden, d), matmul(z, d, z)]
        if t < n_update:
            L.append(matmul(z, d, 1))
    return L + decoder


def layers(case: str):
    """(kind, forward MACs per image, needs input gradient) of every linear layer of ``case``."""
    if case == "vladder_mnist":
        L = []
        for _ in range(2):  # ladder0 and inference0 both read x: conv 28->14 (1->64), conv 14->7 (64->128)
            L += [conv(14, 14, 1, 64, needs_dgrad=False), conv(7, 7, 64, 128)]
        L += [dense(6272, 2), dense(6272, 2)]                   # ladder0 mean / scale heads
        L += [dense(6272, 1024)]                                # inference0 output
        L += [dense(1024, 1024)] * 2 + [dense(1024, 2)] * 2     # ladder1
        L += [dense(1024, 1024)] * 3                            # inference1
        L += [dense(1024, 1024)] * 2 + [dense(1024, 2)] * 2     # ladder2
        L += [dense(2, 1024), dense(1024, 1024), dense(1024, 1024)]          # generative2
        L += [dense(2, 1024)] + [dense(1024, 1024)] * 3                      # generative1 (embed + body)
        L += [dense(2, 1024), dense(1024, 6272), conv_t(7, 7, 128, 64), conv_t(14, 14, 64, 1)]  # generative0
        return L
    if case == "vae_mlp":
        return [dense(784, 392, needs_dgrad=False), dense(392, 196), dense(196, 200), dense(196, 200),
                dense(200, 196), dense(196, 784)]
    if case == "infovae":
        return [conv(14, 14, 1, 64, needs_dgrad=False), conv(7, 7, 64, 128), dense(6272, 512), dense(512, 200),
                dense(512, 200), dense(200, 1024), dense(1024, 6272), conv_t(7, 7, 128, 64), conv_t(14, 14, 64, 1)]
    if case == "lvae_mnist_3":
        return _lvae_layers()
    if case == "vlae":
        return _vlae_layers()
    raise KeyError(case)


def counts(case: str):
    """(forward, weight-gradient, input-gradient) MACs per image."""
    L = layers(case)
    fwd = sum(m for _, m, _ in L)
    return fwd, fwd, sum(m for _, m, d in L if d)


def train_step_flops(case: str, batch: int) -> float:
    fwd, wgrad, dgrad = counts(case)
    return 2.0 * (fwd + wgrad + dgrad) * batch


def matmul_flops(n: int) -> float:
    return 2.0 * n ** 3


def check_torch():
    import torch
    from torch.utils.flop_counter import FlopCounterMode
    from torch_models import CASES

    for case, (cls, shape, _) in CASES.items():
        model = cls().train()
        x = torch.rand((BATCH[case],) + tuple(shape))
        counter = FlopCounterMode(display=False)
        with counter:
            model.loss(x, torch.tensor(0.5)).backward()
        print(f"  torch FlopCounterMode {case:14s} {counter.get_total_flops() / 1e9:8.2f} GFLOP per step "
              f"(forward + backward; analytic {train_step_flops(case, BATCH[case]) / 1e9:.2f})")


def check_tf():
    from worker_common import build_model, find_project, tf_training

    find_project("flops.py --check-tf")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    for case in BATCH:
        model = build_model(case)
        opt, loss_terms = tf_training(case, model)
        loss_fn = lambda x: loss_terms(x, None, 1)["loss"]
        opt.build(model.trainable_variables)

        @tf.function(autograph=False)
        def step(x):
            with tf.GradientTape() as tape:
                loss = loss_fn(x)
            grads = tape.gradient(loss, model.trainable_variables)
            opt.apply_gradients(zip(grads, model.trainable_variables))
            return loss

        graph = step.get_concrete_function(tf.TensorSpec((BATCH[case], 28, 28, 1), tf.float32)).graph
        opts = tf.compat.v1.profiler.ProfileOptionBuilder.float_operation()
        opts["output"] = "none"
        prof = tf.compat.v1.profiler.profile(graph, options=opts)
        print(f"  tf.profiler float_operation {case:14s} {prof.total_float_ops / 1e9:8.2f} GFLOP per step "
              f"(all ops with a registered FLOP count; analytic {train_step_flops(case, BATCH[case]) / 1e9:.2f})")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--check-torch", action="store_true")
    p.add_argument("--check-tf", action="store_true")
    args = p.parse_args()
    print(f"{'model':15s} {'batch':>5s} {'fwd MMAC/img':>12s} {'wgrad':>8s} {'dgrad':>8s} {'GFLOP/step':>10s} "
          f"{'(step/fwd)':>10s}")
    for case, batch in BATCH.items():
        fwd, wg, dg = counts(case)
        total = train_step_flops(case, batch)
        print(f"{case:15s} {batch:5d} {fwd / 1e6:12.2f} {wg / 1e6:8.2f} {dg / 1e6:8.2f} {total / 1e9:10.2f} "
              f"{(fwd + wg + dg) / fwd:10.2f}")
    if args.check_torch:
        check_torch()
    if args.check_tf:
        check_tf()
    return 0


if __name__ == "__main__":
    sys.exit(main())
