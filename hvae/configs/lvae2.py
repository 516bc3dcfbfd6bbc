"""LVAE2's typed configuration, KL-weight schedule and presets (TensorFlow-free; the model is
:mod:`hvae.models.lvae2`): the small two-level Ladder VAE of ahmeterdem1/lvae (README / first commit 033d8e7 and
HEAD 653f8cf), with Sønderby et al.'s objective as an option.
"""

from __future__ import annotations

import dataclasses

from .base import ModelConfig, register_presets, setting

IMAGE_SHAPE = (28, 28, 1)
SAMPLINGS = ("repo", "paper")
MERGES = ("precision", "legacy")
RECONS = ("l2norm", "mse", "nll")
LIKELIHOODS = ("bernoulli", "gaussian")
BETA_START = 1e-4             # README / first commit 033d8e7
BETA_GROWTH = 1.001
BETA_MAX = 0.5
HEAD_BETA = 1e-3              # HEAD 653f8cf: constant


# --------------------------------------------------------------------------------------------------
# The KL weight
# --------------------------------------------------------------------------------------------------
class BetaSchedule:
    """The weight beta of the KL terms at training iteration t (1-based).

    Warm-up (default; README and first commit 033d8e7): beta_1 = ``start``; after every iteration,
    ``if beta < cap: beta *= growth`` (checked before multiplying, so the last step may pass the cap). Hence
    beta_t = start growth^min(t - 1, n*) with n* the number of multiplications that reach the cap. With
    the defaults (1e-4, 1.001, 0.5) n* = 8,522: 3 epochs of full MNIST (2,814 iterations) end at
    beta = 1.66e-3 (the last iteration uses 1e-4 x 1.001^2813). ``constant`` (HEAD 653f8cf: 1e-3) gives
    that value at every iteration.

    Raises:
        ValueError: start <= 0, growth < 1, cap <= 0, or constant <= 0.
    """

    def __init__(self, start: float = BETA_START, growth: float = BETA_GROWTH, cap: float = BETA_MAX,
                 constant: float | None = None):
        if constant is not None and not constant > 0:
            raise ValueError(f"beta_constant must be positive, got {constant}")
        if not start > 0:
            raise ValueError(f"beta_start must be positive, got {start}")
        if not growth >= 1.0:
            raise ValueError(f"beta_growth must be at least 1 (a warm-up), got {growth}")
        if not cap > 0:
            raise ValueError(f"beta_max must be positive, got {cap}")
        self.start, self.growth, self.cap = float(start), float(growth), float(cap)
        self.constant = None if constant is None else float(constant)
        steps, beta = 0, self.start
        if self.growth > 1.0:
            while beta < self.cap:
                beta *= self.growth
                steps += 1
        self.steps_to_cap = steps   # n*: iterations after which beta stops growing

    def value(self, iteration) -> float:
        """beta at 1-based ``iteration`` (a Python number)."""
        if self.constant is not None:
            return self.constant
        return self.start * self.growth ** min(max(int(iteration) - 1, 0), self.steps_to_cap)

    def __call__(self, iteration):
        """beta at ``iteration`` (int or int tensor), as a float32 scalar tensor."""
        import tensorflow as tf  # here, so that the configs import no TensorFlow

        if self.constant is not None:
            return tf.constant(self.constant, tf.float32)
        t = tf.cast(iteration, tf.float64)
        n = tf.clip_by_value(t - 1.0, 0.0, float(self.steps_to_cap))
        return tf.cast(self.start * tf.pow(tf.constant(self.growth, tf.float64), n), tf.float32)

    def describe(self) -> str:
        if self.constant is not None:
            return f"beta {self.constant:g} constant"
        return (f"beta warm-up {self.start:g} x {self.growth:g} per iteration while below {self.cap:g} "
                f"(reached after {self.steps_to_cap:,} iterations)")


# --------------------------------------------------------------------------------------------------
# The settings
# --------------------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class LVAE2Config(ModelConfig):
    """Everything that defines an :class:`LVAE2` and its objective (the field names are today's
    ``get_config`` keys, so ``.keras`` files written before the typed configs load unchanged).

    The defaults are the original's (ahmeterdem1/lvae, README / first commit 033d8e7): repo sampling,
    precision-weighted merge, the whole-batch L2 norm, Bernoulli likelihood, the beta warm-up
    1e-4 x 1.001 per iteration while below 0.5. ``beta_constant`` (not None) replaces the warm-up.

    Raises:
        ValueError (one line): an image shape other than 28x28x1, a value range with lo >= hi, an option outside
            its choices, beta_start / beta_max / beta_constant <= 0 or beta_growth < 1 (:class:`BetaSchedule`).
    """

    image_shape: tuple = setting(IMAGE_SHAPE, help="image shape (H, W, C): the original's layers need 28x28x1",
                                 data=True)
    value_range: tuple = setting((0.0, 1.0), help="(lo, hi) of the images given to the model (mapped to [0, 1])",
                                 data=True)
    sampling: str = setting("repo", choices=SAMPLINGS,
                            help="repo: the decoder samples its own ladder Gaussian, ladder KL(common||encoder), "
                                 "as the original; paper: it samples the merged posterior, KL(posterior||prior)")
    merge: str = setting("precision", choices=MERGES,
                         help="precision-weighted merge of the ladder Gaussians or the original's (legacy) formula")
    recon: str = setting("l2norm", choices=RECONS,
                         help="reconstruction term: l2norm (the original's L2 norm of the whole batch), mse "
                              "(summed squared error per image) or nll (-log p(x|z) of likelihood)")
    likelihood: str = setting("bernoulli", choices=LIKELIHOODS,
                              help="p(x|z): bernoulli or gaussian N(mean, 0.1^2); evaluation uses it, recon nll "
                                   "trains it")
    beta_start: float = setting(BETA_START, help="KL warm-up: the first beta")
    beta_growth: float = setting(BETA_GROWTH, help="KL warm-up: the factor beta is multiplied by every iteration")
    beta_max: float = setting(BETA_MAX, help="KL warm-up: no growth once beta reaches this")
    beta_constant: float | None = setting(None, help="a constant beta instead of the warm-up (None: the warm-up; "
                                                     "1e-3 reproduces the original's HEAD)")

    def __post_init__(self):
        # the types today's constructor gave them (JSON gives lists, the data pipeline numpy numbers)
        try:
            object.__setattr__(self, "image_shape", tuple(int(s) for s in self.image_shape))
            object.__setattr__(self, "value_range", tuple(float(v) for v in self.value_range))
            for key in ("beta_start", "beta_growth", "beta_max"):
                object.__setattr__(self, key, float(getattr(self, key)))
            if self.beta_constant is not None:
                object.__setattr__(self, "beta_constant", float(self.beta_constant))
        except (TypeError, ValueError) as err:
            raise ValueError(f"LVAE2Config: a setting of the wrong type ({err})") from None
        super().__post_init__()

    def validate(self) -> None:
        if self.image_shape != IMAGE_SHAPE:
            raise ValueError(f"LVAE2 has the original's layers for 28x28x1 images (MNIST); got "
                             f"{'x'.join(map(str, self.image_shape))}")
        if len(self.value_range) != 2 or not self.value_range[0] < self.value_range[1]:
            raise ValueError(f"LVAE2 value_range must be (lo, hi) with lo < hi, not {self.value_range}")
        self.beta_schedule()   # its ValueErrors

    def beta_schedule(self) -> "BetaSchedule":
        """The KL weight of these settings."""
        return BetaSchedule(self.beta_start, self.beta_growth, self.beta_max, self.beta_constant)


# ``LVAE2.from_preset(name, **overrides)`` / ``hvae.models.from_preset(name, **overrides)`` build them.
ORIGINAL = LVAE2Config()                                                 # the original (first commit's warm-up)
PRESETS: dict[str, LVAE2Config] = register_presets({
    "LVAE2_mnist": ORIGINAL,
    "LVAE2_head_mnist": ORIGINAL.replace(beta_constant=HEAD_BETA),      # the original at HEAD (beta 1e-3)
    "LVAE2_paper_mnist": ORIGINAL.replace(sampling="paper", recon="nll", beta_constant=1.0),  # Sonderby's ELBO
})

# The command line's model name -> its config (the family's one model).
CONFIGS = {"LVAE2": LVAE2Config}
