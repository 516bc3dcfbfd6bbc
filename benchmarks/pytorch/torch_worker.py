"""PyTorch side of the benchmark: one training step of a model of ``torch_models.py``, served to ``bench.py``.

Started by ``bench.py`` with the PyTorch venv's Python. A step is: zero the gradients, the model's loss on
a fixed batch of uniform [0, 1) images (NCHW), ``backward()``, ``Adam.step()`` (hyper-parameters as the
project's), then ``loss.item()``. The KL warm-up weight beta_t = 1 - exp(-t/2000) is passed as a 0-d
tensor so that a compiled step is not re-specialised at every t.

Cases (``--case``): ``vladder_mnist`` (batch 100), ``vae_mlp`` and ``infovae`` (batch 64), and ``matmul``
(``torch.mm`` of two fixed 2048x2048 float32 matrices).

Variants (``--variant``):
* ``eager``: plain PyTorch; ``torch.optim.Adam`` with its default implementation on CPU.
* ``compile``: ``torch.compile`` (Inductor, default mode) of the loss function (forward + the
  AOTAutograd backward) and a separately compiled ``opt.step``, as PyTorch's "compiling the optimizer"
  recipe.
* ``eager_fused``: eager with ``torch.optim.Adam(fused=True)`` (one fused CPU kernel for the update).

``--threads`` calls ``torch.set_num_threads`` (intra-op); the inter-op pool keeps its default.

Manual use (prints the protocol's ready line, then waits for commands on stdin):

    $TORCH_PYTHON benchmarks/pytorch/torch_worker.py --case vladder_mnist --variant eager
"""

from __future__ import annotations

import argparse
import sys

from worker_common import protocol_channel, serve, warm_up

BATCH = {"vladder_mnist": 100, "vae_mlp": 64, "infovae": 64, "matmul": 2048}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--case", required=True, choices=sorted(BATCH))
    p.add_argument("--variant", default="eager", choices=("eager", "compile", "eager_fused"))
    p.add_argument("--batch", type=int, default=None)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--warmup", type=int, default=5)
    args = p.parse_args()
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
        from torch_models import CASES, kl_warmup, trainable_parameters

        cls, shape, adam = CASES[args.case]
        model = cls().train()
        params = [q for q in model.parameters() if q.requires_grad]
        info["trainable_parameters"] = trainable_parameters(model)
        opt = torch.optim.Adam(params, fused=(args.variant == "eager_fused") or None, **adam)
        x = torch.rand((batch,) + tuple(shape))
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
