#!/usr/bin/env python
"""Train (or generate from) a hierarchical VAE.

    python train.py --dataset=svhn --db_path=/data/svhn          # VLadder, as the original main.py
    python train.py --dataset=digits --max_iterations=300         # a short VLadder run, no files needed
    python train.py VAE train --dataset=binarized_mnist --db_path=../shared/data/binarized_mnist
    python train.py VAE generate [path/to/image]

Outputs go to model/<netname>/ (tensorboard --logdir=model/<netname>). See README.md and --help.
"""

import sys

from hvae.cli import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:], prog="train.py"))
