"""Make ``keras.optimizers.Adam`` build ``hvae.optimizers.FusedAdam`` in this Python process.

For timing the project's *default* step with a harness that builds its own Keras ``Adam`` (the side-by-side
PyTorch harness ``benchmarks/pytorch/``, whose ``tf_worker.py`` calls ``keras.optimizers.Adam(...)``): put this
folder first on the worker's ``PYTHONPATH`` and Python imports this file at start-up (``sitecustomize``), so the
harness's ``Adam`` is the project's default optimizer, the same update in TensorFlow's fused kernel
(``tests/test_optimizers.py``). The project is the one installed in that Python (``pip install -e .``, the
README's set-up); where it is not installed the process stops here, rather than time Keras's ``Adam`` under the
wrong name. Prints one line to stderr so that the harness's log shows that it took effect. A benchmark tool
only; nothing in the project imports it.

    python3 benchmarks/pytorch/bench.py --suites vladder --contestants \\
        tf:vladder_mnist:function:TF_ENABLE_ONEDNN_OPTS=1,PYTHONPATH=benchmarks/shims/fused_adam ...
"""

import os
import sys

import keras  # first, as the harness does: TensorFlow reads its environment before hvae gives it defaults

try:
    from hvae.optimizers import FusedAdam
except ImportError as e:
    sys.stderr.write(f"sitecustomize (benchmarks/shims/fused_adam): cannot import hvae.optimizers.FusedAdam ({e}); "
                     f"install the project in this Python ({sys.executable}): pip install -e .\n")
    sys.stderr.flush()
    os._exit(1)

keras.optimizers.Adam = FusedAdam
print("sitecustomize: keras.optimizers.Adam is hvae.optimizers.FusedAdam in this process", file=sys.stderr)
