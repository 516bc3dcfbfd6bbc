#!/usr/bin/env python
"""Speed of the individual heavy kernels of the VLadder MNIST step (batch 100), in either framework.

Run it once with the TensorFlow venv's Python (``--framework tf``) and once with the PyTorch venv's
(``--framework torch``); set ``TF_ENABLE_ONEDNN_OPTS=1`` on the TF run to see TensorFlow's oneDNN kernels.
Each kernel is called on fixed random float32 inputs, ``--reps`` times after 2 warm-up calls, and the
median time is given with the achieved GFLOP/s (2 x MACs / time). The kernels are those of the three
biggest layer types, forward (fwd), input gradient (dgrad) and weight gradient (wgrad):

* dense 6272->1024 (inference0's output layer; generative0's 1024->6272 is its transpose) and 1024->1024;
* conv 4x4/2 14x14x64 -> 7x7x128 ('same'), and the transposed conv 7x7x128 -> 14x14x64 of generative0.

TensorFlow kernels: ``tf.linalg.matmul`` with the transposes the gradient tape uses, ``tf.nn.conv2d``,
``tf.nn.conv2d_backprop_filter``/``_input`` (NHWC, the layout Keras uses on CPU) and
``tf.nn.conv2d_transpose``. PyTorch: ``torch.mm`` on the same shapes, ``F.conv2d``,
``torch.ops.aten.convolution_backward`` and ``F.conv_transpose2d`` (NCHW).

    $TF_PYTHON benchmarks/pytorch/op_microbench.py --framework tf [--threads 2]
    $TORCH_PYTHON benchmarks/pytorch/op_microbench.py --framework torch
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

B = 100


def kernels_tf():
    import tensorflow as tf

    r = lambda *s: tf.random.normal(s)
    x1, w1, dy1 = r(B, 6272), r(6272, 1024), r(B, 1024)
    x2, w2, dy2 = r(B, 1024), r(1024, 1024), r(B, 1024)
    xc, kc, dyc = r(B, 14, 14, 64), r(4, 4, 64, 128), r(B, 7, 7, 128)
    xt, kt = r(B, 7, 7, 128), r(4, 4, 64, 128)  # conv_transpose filter: (h, w, out, in)
    return {
        "dense 6272->1024 fwd": (lambda: tf.linalg.matmul(x1, w1), B * 6272 * 1024),
        "dense 6272->1024 dgrad": (lambda: tf.linalg.matmul(dy1, w1, transpose_b=True), B * 6272 * 1024),
        "dense 6272->1024 wgrad": (lambda: tf.linalg.matmul(x1, dy1, transpose_a=True), B * 6272 * 1024),
        "dense 1024->1024 fwd": (lambda: tf.linalg.matmul(x2, w2), B * 1024 * 1024),
        "dense 1024->1024 dgrad": (lambda: tf.linalg.matmul(dy2, w2, transpose_b=True), B * 1024 * 1024),
        "dense 1024->1024 wgrad": (lambda: tf.linalg.matmul(x2, dy2, transpose_a=True), B * 1024 * 1024),
        "conv 14x14x64->7x7x128 fwd": (lambda: tf.nn.conv2d(xc, kc, 2, "SAME"), B * 49 * 128 * 64 * 16),
        "conv 14x14x64->7x7x128 dgrad": (
            lambda: tf.compat.v1.nn.conv2d_backprop_input((B, 14, 14, 64), kc, dyc, (1, 2, 2, 1), "SAME"), B * 49 * 128 * 64 * 16),
        "conv 14x14x64->7x7x128 wgrad": (
            lambda: tf.compat.v1.nn.conv2d_backprop_filter(xc, (4, 4, 64, 128), dyc, (1, 2, 2, 1), "SAME"),
            B * 49 * 128 * 64 * 16),
        "conv_t 7x7x128->14x14x64 fwd": (
            lambda: tf.nn.conv2d_transpose(xt, kt, (B, 14, 14, 64), 2, "SAME"), B * 49 * 128 * 64 * 16),
    }


def kernels_torch():
    import torch
    import torch.nn.functional as F

    r = torch.randn
    x1, w1, dy1 = r(B, 6272), r(6272, 1024), r(B, 1024)
    x2, w2, dy2 = r(B, 1024), r(1024, 1024), r(B, 1024)
    xc, kc, dyc = r(B, 64, 14, 14), r(128, 64, 4, 4), r(B, 128, 7, 7)
    xt, kt = r(B, 128, 7, 7), r(128, 64, 4, 4)  # conv_transpose weight: (in, out, h, w)
    conv_bw = lambda mask: torch.ops.aten.convolution_backward(dyc, xc, kc, [128], [2, 2], [1, 1], [1, 1], False,
                                                               [0, 0], 1, mask)
    return {
        "dense 6272->1024 fwd": (lambda: torch.mm(x1, w1), B * 6272 * 1024),
        "dense 6272->1024 dgrad": (lambda: torch.mm(dy1, w1.t()), B * 6272 * 1024),
        "dense 6272->1024 wgrad": (lambda: torch.mm(x1.t(), dy1), B * 6272 * 1024),
        "dense 1024->1024 fwd": (lambda: torch.mm(x2, w2), B * 1024 * 1024),
        "dense 1024->1024 dgrad": (lambda: torch.mm(dy2, w2.t()), B * 1024 * 1024),
        "dense 1024->1024 wgrad": (lambda: torch.mm(x2.t(), dy2), B * 1024 * 1024),
        "conv 14x14x64->7x7x128 fwd": (lambda: F.conv2d(xc, kc, stride=2, padding=1), B * 49 * 128 * 64 * 16),
        "conv 14x14x64->7x7x128 dgrad": (lambda: conv_bw([True, False, False]), B * 49 * 128 * 64 * 16),
        "conv 14x14x64->7x7x128 wgrad": (lambda: conv_bw([False, True, False]), B * 49 * 128 * 64 * 16),
        "conv_t 7x7x128->14x14x64 fwd": (lambda: F.conv_transpose2d(xt, kt, stride=2, padding=1),
                                         B * 49 * 128 * 64 * 16),
    }


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--framework", required=True, choices=("tf", "torch"))
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--reps", type=int, default=15)
    args = p.parse_args()
    if args.framework == "tf":
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        import tensorflow as tf
        from tensorflow.python.util import _pywrap_util_port

        tf.config.threading.set_intra_op_parallelism_threads(args.threads)
        tf.config.threading.set_inter_op_parallelism_threads(1)
        head = f"TensorFlow {tf.__version__}, oneDNN enabled {_pywrap_util_port.IsMklEnabled()}"
        kernels = kernels_tf()  # eager ops on the CPU return when their kernel has finished
    else:
        import torch

        torch.set_num_threads(args.threads)
        head = f"PyTorch {torch.__version__}"
        kernels = kernels_torch()
    print(f"{head}, {args.threads} threads, load average {os.getloadavg()}")
    print(f"  {'kernel':32s} {'ms':>8s} {'GFLOP/s':>8s}")
    for name, (fn, macs) in kernels.items():
        for _ in range(2):
            fn()
        ts = []
        for _ in range(args.reps):
            t0 = time.perf_counter()
            fn()
            ts.append(time.perf_counter() - t0)
        t = statistics.median(ts)
        print(f"  {name:32s} {1e3 * t:8.2f} {2 * macs / t / 1e9:8.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
