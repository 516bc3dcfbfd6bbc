"""PyTorch side of the benchmark: one training step of a model of ``torch_models.py``, served to ``bench.py``.

Started by ``bench.py`` with the PyTorch venv's Python. A step is: zero the gradients, the model's loss on
a fixed batch of images (NCHW; uniform in [0, 1), binary with 20% ones for the binarized-MNIST cases),
``backward()``, the optimizer's step (``Adam``, ``Adamax`` for the Ladder VAE; hyper-parameters as the
project's, ``torch_models.make_optimizer``), then ``loss.item()``. The KL warm-up weight
beta_t = 1 - exp(-t/2000) is passed as a 0-d tensor so that a compiled step is not re-specialised at every t.

Cases (``--case``): ``vladder_mnist`` (batch 100), ``vae_mlp`` and ``infovae`` (batch 64), ``lvae_mnist_3``
(batch 64), ``vlae`` (batch 128), and ``matmul`` (``torch.mm`` of two fixed 2048x2048 float32 matrices).

Variants (``--variant``):
* ``eager``: plain PyTorch; ``torch.optim.Adam`` with its default implementation on CPU.
* ``compile``: ``torch.compile`` (Inductor, default mode) of the loss function (forward + the
  AOTAutograd backward) and a separately compiled ``opt.step``, as PyTorch's "compiling the optimizer"
  recipe.
* ``eager_fused``: eager with ``torch.optim.Adam(fused=True)`` (one fused CPU kernel for the update); not for
  ``lvae_mnist_3`` (Adamax, which has no fused kernel).

``--vlae-formulation original`` (case ``vlae``) computes the VLAE's posterior as yookoon/VLAE does
(``torch.inverse`` of the precision for each Newton step and for the covariance's Cholesky factor) instead of
as our model does (Cholesky factor and solves): ``torch_models.VLAE``.

``--threads`` calls ``torch.set_num_threads`` (intra-op); the inter-op pool keeps its default.

Manual use (prints the protocol's ready line, then waits for commands on stdin):

    $TORCH_PYTHON benchmarks/pytorch/torch_worker.py --case vladder_mnist --variant eager
"""

from __future__ import annotations

import argparse
import sys

from worker_common import BATCH, protocol_channel, serve, warm_up


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--case", required=True, choices=sorted(BATCH))
    p.add_argument("--variant", default="eager", choices=("eager", "compile", "eager_fused"))
    p.add_argument("--batch", type=int, default=None)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--vlae-formulation", default="project", choices=("project", "original"),
                   help="case vlae: the posterior computed as our model does (Cholesky solves) or as the original "
                        "(torch.inverse)")
    args = p.parse_args()
    if args.variant == "eager_fused" and args.case == "lvae_mnist_3":
        p.error("case lvae_mnist_3 trains with Adamax, which has no fused kernel in PyTorch: use eager or compile")
    out = protocol_channel()

    import torch

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    batch = args.batch or BATCH[args.case]
    info = {"framework": "pytorch", "version": torch.__version__, "case": args.case, "variant": args.variant,
            "batch": batch, "intra_op_threads": torch.get_num_threads(),
            "inter_op_threads": torch.get_num_interop_threads(),
            "mkldnn": bool(torch.backends.mkldnn.is_available()),
            "cpu_capability": torch.backends.cpu.get_cpu_capability()}

    if args.case == "matmul":
        a, b = torch.randn(batch, batch), torch.randn(batch, batch)
        c = torch.empty(batch, batch)

        def step():
            torch.mm(a, b, out=c)
            return float(c[0, 0])

        info["flops_per_step"] = 2.0 * batch ** 3
    else:
        from torch_models import CASES, example_images, kl_warmup, make_optimizer, trainable_parameters

        cls = CASES[args.case][0]
        model = (cls(formulation=args.vlae_formulation) if args.case == "vlae" else cls()).train()
        params = [q for q in model.parameters() if q.requires_grad]
        info["trainable_parameters"] = trainable_parameters(model)
        opt = make_optimizer(args.case, params, fused=args.variant == "eager_fused")
        info["optimizer"] = f"{type(opt).__module__}.{type(opt).__name__}"
        if args.case == "vlae":
            info["vlae_formulation"] = args.vlae_formulation
        x = example_images(args.case, batch)
        loss_fn, opt_step = model.loss, opt.step
        if args.variant == "compile":
            loss_fn = torch.compile(model.loss)
            opt_step = torch.compile(opt.step)
        t = [0]

        def step():
            t[0] += 1
            beta = torch.tensor(kl_warmup(t[0]))
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(x, beta)
            loss.backward()
            opt_step()
            return loss.item()

    info["warmup_steps"] = args.warmup
    info["warmup_seconds"] = warm_up(step, args.warmup)
    serve(out, step, info)
    return 0


if __name__ == "__main__":
    sys.exit(main())
