#!/usr/bin/env python
"""Restore a trained model and write its figures.

    python generate.py --netname=vladder_mnist     # VLadder: manifold / conditional / sample figures
    python generate.py VAE                         # VAE collection: reconstruction grid and prior samples
    python generate.py CVAE path/to/image.png --label=3

Same flags as train.py; the run's settings come from model/<netname>/config.json.
"""

import sys

from hvae.cli import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:], script_mode="generate", prog="generate.py"))
