#!/usr/bin/env python3
"""Floating-point operations of one training step, counted analytically from the layer shapes.

Counted: the multiply-adds of every Dense / Conv2D / Conv2DTranspose layer, 1 MAC = 2 FLOPs.
* forward: MACs = (output elements) x (fan-in) for Dense and Conv2D; (input elements) x (C_out x k x k)
  for Conv2DTranspose. 'same' padding is counted as computed by im2col/col2im kernels (taps that fall
  on padding or are cropped are included), so this is the work the kernels do, not the "useful" work.
* backward: the gradient w.r.t. the weights costs the forward MACs of each layer; the gradient w.r.t.
  the input costs the forward MACs again, except for layers whose input is the image (no gradient needed).
  So a step is ~3x the forward (exactly: 2 x (fwd + wgrad + dgrad) MACs).
* not counted: batch norm, activations, bias adds, the loss, the KL/MMD terms and the Adam update
  (element-wise, memory-bound; for the VLadder they add up to well under 1 GFLOP per step at batch 100:
  Adam ~ 12 FLOPs x 25.9 M parameters = 0.3 GFLOP, the rest a few tens of MFLOP).

Usage (from the repository's root):
    python3 benchmarks/pytorch/flops.py                   # the analytic table (standard library only)
    $TORCH_PYTHON benchmarks/pytorch/flops.py --check-torch  # + PyTorch's FlopCounterMode on the twin models
    $TF_PYTHON benchmarks/pytorch/flops.py --check-tf        # + TF's graph profiler on the project's step

Prints per model: forward, weight-gradient and input-gradient MACs per image and GFLOP per step.
"""

from __future__ import annotations

import argparse
import os
import sys

BATCH = {"vladder_mnist": 100, "vae_mlp": 64, "infovae": 64}


def dense(n_in, n_out, needs_dgrad=True):
    return ("dense", n_in * n_out, needs_dgrad)


def conv(h_out, w_out, c_in, c_out, k=4, needs_dgrad=True):
    return ("conv", h_out * w_out * c_out * c_in * k * k, needs_dgrad)


def conv_t(h_in, w_in, c_in, c_out, k=4):
    return ("conv_t", h_in * w_in * c_in * c_out * k * k, True)


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
    from worker_common import build_model, find_project

    find_project("flops.py --check-tf")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras
    import tensorflow as tf

    for case in BATCH:
        model = build_model(case)
        if case == "vladder_mnist":
            loss_fn = lambda x: model.loss_terms(x, None, 1, training=True)["loss"]
        else:
            loss_fn = lambda x: model.loss_terms(x, None, training=True)["loss"]
        opt = keras.optimizers.Adam(1e-4)
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
