"""The model families (one module each) and the pieces they share (layers, objectives, the likelihood
interface). Importing it gives TensorFlow's start-up settings their defaults (:mod:`hvae.environment`)."""

import hvae  # noqa: F401  (sets TensorFlow's environment defaults before TensorFlow is imported)
