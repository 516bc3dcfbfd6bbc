"""Make ``keras.optimizers.Adam`` build ``hvae.optimizers.FusedAdam`` in this Python process.

For timing the project's *default* step with a harness that builds its own Keras ``Adam`` (the side-by-side
PyTorch harness of ``../shared/perf``, whose ``tf_worker.py`` calls ``keras.optimizers.Adam(...)``): put this
folder first on the worker's ``PYTHONPATH`` and Python imports this file at start-up (``sitecustomize``), so the
harness's ``Adam`` is the project's default optimizer, the same update in TensorFlow's fused kernel
(``tests/test_optimizers.py``). ``PROJECT_ROOT`` (the harness's own variable) must name the project. Prints one
line to stderr so that the harness's log shows that it took effect. A benchmark tool only; nothing in the
project imports it.

    bench.py --contestants tf:vladder_mnist:function:TF_ENABLE_ONEDNN_OPTS=1,PYTHONPATH=$PWD/benchmarks/shims/fused_adam ...
"""

import os
import sys

_root = os.environ.get("PROJECT_ROOT")
if _root:
    sys.path.insert(0, _root)
    import keras

    from hvae.optimizers import FusedAdam

    keras.optimizers.Adam = FusedAdam
    print("sitecustomize: keras.optimizers.Adam is hvae.optimizers.FusedAdam in this process", file=sys.stderr)
