"""The deep Ladder VAE of addtt/ladder-vae-pytorch (models/lvae.py, hvae/lvae_task.py): parameter counts of every
preset against the original's, shapes through every path and likelihood, the discretized logistic mixture
against a hand computation, free bits, importance weights vs the ELBO, data-dependent initialisation, the loss
falling on real binarized MNIST, the typed config (presets, overrides, old get_config dicts, the command line's
flag spelling), the shared model interface, the command line (train -> resume -> evaluate -> generate) and bad
inputs.

Tiny configurations (a few filters, one block per layer) keep each test to seconds; presets are only
constructed (weights declared without being created, ``keras.StatelessScope``), never run.
"""

import contextlib
import dataclasses
import inspect
import json
import math

import keras
import numpy as np
import pytest
import tensorflow as tf
from conftest import one_line_error, run_cli, shared_subdir

from hvae.figures import read_png
from hvae.lvae_task import PRESET_NAMES, PRESET_TEST_BATCH_SIZES
from hvae.models import lvae_blocks
from hvae.models.discretized_logistic import (
    DiscretizedLogistic,
    DiscretizedLogisticMixture,
    discretized_logistic_log_prob_per_subpixel,
    mixture_log_prob_per_pixel,
    sample_mixture,
)
from hvae.models.lvae import LVAE, PRESETS, LVAEConfig
from hvae.runs import load_config_json

TINY = dict(z_dims=(3, 4), downsample=(1, 1), blocks_per_layer=1, n_filters=8, skip=True, gated=True,
            learn_top_prior=True)

# Trainable parameters of the ORIGINAL models. Computed by instantiating addtt/ladder-vae-pytorch at a27d45c
# (models/lvae.py: LadderVAE) with boilr at 91ddb91 in a separate PyTorch 2.13 venv, outside this repository,
# and summing p.numel() over the parameters with requires_grad (the learned top prior counts, BN running
# statistics do not), with each preset's flags (README: --blocks-per-layer 4 --nfilters 64 --skip --gated
# --learn-top-prior --dropout 0.2 --residual-type bacdbacd --merge-layers residual --nonlin elu; MNIST 1x28x28
# Bernoulli, CIFAR/SVHN 3x32x32 and CelebA 3x64x64 with the 10-component logistic mixture).
ORIGINAL_PARAMETERS = {
    "mnist_3": 3_209_153,
    "mnist_6": 6_008_705,
    "mnist_12": 11_607_809,
    "cifar10_3": 3_269_476,
    "cifar10_6": 6_069_028,
    "cifar10_15": 14_467_684,
    "svhn_15": 14_467_684,
    "celeba_20": 19_207_460,
    "original_defaults": 1_756_993,   # argparse defaults: 2 blocks, no skip/gate, top prior fixed
}
PRESET_SHAPES = {"mnist": (28, 28, 1), "cifar10": (32, 32, 3), "svhn": (32, 32, 3), "celeba": (64, 64, 3),
                 "original": (28, 28, 1)}
# Other options, same source: (overrides of the mnist_3 model on 28x28x1, original count).
ORIGINAL_VARIANTS = [
    (dict(merge_layers="linear", batch_norm=False, skip=False), 2_855_489),
    (dict(likelihood="gaussian"), 3_209_730),
    (dict(initial_downscaling=False, downsample=(1, 1, 2)), 3_283_009),
    (dict(z_dims=(8, 16, 4), n_filters=32), 785_353),
]


def tiny(**overrides) -> LVAE:
    return LVAE(LVAEConfig(**{"image_shape": (28, 28, 1), **TINY, **overrides})).build_all()


def binary_images(n=4, shape=(28, 28, 1), seed=0):
    return tf.constant((np.random.RandomState(seed).uniform(size=(n,) + shape) < 0.3).astype(np.float32))


# --------------------------------------------------------------------------------------------------
# Parameter counts
# --------------------------------------------------------------------------------------------------
@contextlib.contextmanager
def weights_declared_only():
    """Build models whose weights are declared with their shapes but never created or initialised
    (``keras.StatelessScope(initialize_variables=False)``); the deferred variables are dropped afterwards so that
    no later scope initialises them."""
    from keras.src.backend.common import global_state

    before = list(global_state.get_global_attribute("uninitialized_variables", []) or [])
    try:
        with keras.StatelessScope(initialize_variables=False):
            yield
    finally:
        global_state.set_global_attribute("uninitialized_variables", before)


def test_every_preset_has_the_original_parameter_count():
    assert {f"LVAE_{name}" for name in ORIGINAL_PARAMETERS} == set(PRESETS)
    # the same recipe on the same image size
    assert PRESETS["LVAE_svhn_15"] == PRESETS["LVAE_cifar10_15"]
    counted = {}
    # no forward pass and no weight created; channel dropout (no parameters) left out to build faster
    with weights_declared_only():
        for name in ORIGINAL_PARAMETERS:
            if name == "svhn_15":
                continue
            config = PRESETS[f"LVAE_{name}"].replace(dropout=None)
            counted[name] = LVAE(config).build_all().count_parameters()
        base = PRESETS["LVAE_mnist_3"].replace(dropout=None)
        variants = [LVAE(base.replace(**o)).build_all().count_parameters() for o, _ in ORIGINAL_VARIANTS]
    counted["svhn_15"] = counted["cifar10_15"]
    assert counted == ORIGINAL_PARAMETERS
    assert variants == [n for _, n in ORIGINAL_VARIANTS]


def test_presets_match_the_readme_recipe():
    assert PRESET_NAMES == tuple(name[len("LVAE_"):] for name in PRESETS)   # --preset's TF-free copy
    for full, p in PRESETS.items():
        name = full[len("LVAE_"):]
        assert len(p.z_dims) == len(p.downsample)
        assert p.image_shape == PRESET_SHAPES[name.split("_")[0]]
        assert p.likelihood == ("bernoulli" if p.image_shape[-1] == 1 else "discr_log_mix")
        assert p.value_range == ((-1.0, 1.0) if name.startswith("celeba") else (0.0, 1.0))
        assert (p.dropout, p.residual_type, p.merge_layers, p.nonlin, p.batch_norm) == (
            0.2, "bacdbacd", "residual", "elu", True)
        if name == "original_defaults":
            assert p == LVAEConfig() and not (p.skip or p.gated or p.learn_top_prior or p.data_dep_init)
            continue
        assert len(p.z_dims) == int(name.split("_")[-1])
        size = p.image_shape[0]
        padded = 32 if size == 28 else size
        assert padded // (2 * 2 ** sum(p.downsample)) == 2, name      # top feature map 2x2
        assert p.free_bits == (1.0 if len(p.z_dims) > 6 else 0.5), name
        assert p.blocks_per_layer == 4 and p.skip and p.gated and p.learn_top_prior and p.data_dep_init
    assert PRESETS["LVAE_mnist_12"].downsample == (0, 0, 1, 0, 0, 1, 0, 0, 0, 1, 0, 0)
    assert PRESETS["LVAE_mnist_3"].downsample == (1, 1, 1)
    assert PRESET_TEST_BATCH_SIZES == {"mnist_12": 2000}
    from hvae import models

    assert "LVAE_celeba_20" in models.preset_names()                        # registered for models.from_preset


# --------------------------------------------------------------------------------------------------
# Shapes through every path and likelihood
# --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("likelihood,shape,extra", [
    ("bernoulli", (28, 28, 1), {}),
    ("gaussian", (28, 28, 1), dict(merge_layers="linear", residual_type="cabdcabd", nonlin="relu")),
    ("discr_log", (28, 28, 1), dict(initial_downscaling=False, downsample=(1, 2), blocks_per_layer=2,
                                    residual_type="bacdbac", skip=False, analytical_kl=True)),
    ("discr_log_mix", (32, 32, 3), dict(value_range=(-1.0, 1.0), batch_norm=False, gated=False, nonlin="selu")),
])
def test_shapes_of_every_path(likelihood, shape, extra):
    model = tiny(image_shape=shape, likelihood=likelihood, **extra)
    lo, hi = model.value_range
    rng = np.random.RandomState(1)
    x = tf.constant(lo + (hi - lo) * rng.randint(0, 256, size=(3,) + shape).astype(np.float32) / 255.0)
    if likelihood == "bernoulli":
        x = binary_images(3, shape)
    h0 = shape[0] // (1 if extra.get("initial_downscaling") is False else 2)
    layer_shapes = []
    h = h0 if shape[0] != 28 else (32 if extra.get("initial_downscaling") is False else 16)
    for z, d in zip(model.z_dims, model.downsample):
        h //= 2 ** d
        layer_shapes.append((h, h, z))

    terms = model.loss_terms(x, iteration=1)
    assert {"loss", "elbo", "reconstruction", "kl", "kl_free_bits", "beta", "kl/layer0", "kl/layer1"} <= set(terms)
    assert all(np.isfinite(float(v)) for v in terms.values())
    posteriors = model.encode(x)
    assert [tuple(q.event_shape) for q in posteriors] == layer_shapes
    iw = model.importance_terms(x, 5)
    assert iw["log_weights"].shape == (3, 5) and iw["log_likelihood"].shape == (3, 5)
    assert iw["layer_kl"].shape == (3, 5, 2)
    means = model.posterior_means(x)
    assert [tuple(m.shape) for m in means] == [(3, int(np.prod(s))) for s in layer_shapes]
    samples = model.sample(4).numpy()
    assert samples.shape == (4,) + shape and samples.min() >= lo and samples.max() <= hi
    assert model.reconstruct(x).shape == (3,) + shape
    assert model.layer_samples(1, rows=2, cols=3).shape == (6,) + shape
    dist = model.decode([q.sample() for q in posteriors])
    assert tuple(dist.event_shape) == shape and dist.log_prob(model.to_unit(x)).shape == (3,)
    # codes as posterior_means gives them (flattened channels-first) = the same codes in their own shape
    x01 = model.to_unit(x)
    at_means = model.decode(means).log_prob(x01).numpy()
    np.testing.assert_allclose(at_means, model.decode([q.mean() for q in posteriors]).log_prob(x01).numpy(), rtol=1e-5)
    np.testing.assert_array_equal(model.reconstruct(x).numpy(), model.reconstruct(x).numpy())   # deterministic


def test_per_layer_figure_shares_the_layers_above_and_takes_means_below():
    model = tiny(z_dims=(2, 3, 2), downsample=(1, 0, 1))
    _, infos = model.generate_features(12, mean_layers=(0,), constant_layers=(2,), constant_group=4)
    top = infos[2]["z"].numpy().reshape(3, 4, -1)
    assert np.all(top == top[:, :1])                      # shared within each row of 4
    assert not np.allclose(top[0, 0], top[1, 0])          # independent across rows
    middle = infos[1]["z"].numpy().reshape(3, 4, -1)
    assert not np.allclose(middle[:, 0], middle[:, 1])    # the layer shown is drawn per image
    np.testing.assert_allclose(infos[0]["z"].numpy(), infos[0]["p"].mean().numpy())  # below: prior mean


# --------------------------------------------------------------------------------------------------
# Likelihoods against hand computations
# --------------------------------------------------------------------------------------------------
def _sigmoid(v):
    return 1.0 / (1.0 + np.exp(-v))


def _log_sigmoid(v):
    return -np.logaddexp(0.0, -v)


def hand_mixture_log_prob(pixel, params, k):
    """PixelCNN++ (Salimans et al. 2017, eq. 2 and the colour model of section 2.2), one pixel, numpy float64."""
    logits = params[:k]
    colours = params[k:].reshape(3, 3 * k)
    x = 2.0 * np.asarray(pixel, np.float64) - 1.0
    total = []
    for j in range(k):
        lp = math.log(np.exp(logits[j] - logits.max()) / np.exp(logits - logits.max()).sum())
        for c in range(3):
            mean = colours[c, j]
            if c == 1:
                mean += np.tanh(colours[0, 2 * k + j]) * x[0]
            if c == 2:
                mean += np.tanh(colours[1, 2 * k + j]) * x[0] + np.tanh(colours[2, 2 * k + j]) * x[1]
            log_s = max(colours[c, k + j], -7.0)
            up, down = (x[c] + 1 / 255 - mean) / np.exp(log_s), (x[c] - 1 / 255 - mean) / np.exp(log_s)
            if x[c] < -0.999:                               # first bin: CDF of its upper edge
                lp += _log_sigmoid(up)
            elif x[c] > 0.999:                              # last bin: 1 - CDF of its lower edge
                lp += _log_sigmoid(-down)
            elif _sigmoid(up) - _sigmoid(down) > 1e-5:
                lp += math.log(_sigmoid(up) - _sigmoid(down))
            else:                                           # mass too small: density at the centre x bin width
                mid = (x[c] - mean) / np.exp(log_s)
                lp += mid - log_s - 2 * np.logaddexp(0.0, mid) - math.log(127.5)
        total.append(lp)
    return float(np.logaddexp.reduce(total))


def test_mixture_of_logistics_against_a_hand_computation():
    k = 3
    rng = np.random.RandomState(0)
    params = rng.normal(0.0, 0.7, size=(5, 10 * k))
    params[:, k + k:k + 2 * k] = -2.0                      # colour 0 log-scales: wide enough mass
    params[4, k:k + k] = 0.9                                # pixel 4: red means far from its red value ...
    params[4, k + k:k + 2 * k] = -6.5                       # ... with tiny scales: the mid-bin branch
    pixels = np.array([[0, 128, 255], [255, 0, 7], [31, 255, 0], [100, 101, 102], [0, 50, 200]]) / 255.0
    ours = mixture_log_prob_per_pixel(tf.constant(pixels[:, None, None], tf.float32),
                                      tf.constant(params[:, None, None], tf.float32), k).numpy()[:, 0, 0]
    hand = [hand_mixture_log_prob(p, q, k) for p, q in zip(pixels, params)]
    np.testing.assert_allclose(ours, hand, rtol=2e-5, atol=2e-4)
    dist = DiscretizedLogisticMixture(tf.constant(params[None, :, None], tf.float32), k)  # one 5x1 image
    assert dist.event_shape == (5, 1, 3) and dist.batch_shape == (1,)
    np.testing.assert_allclose(dist.log_prob(tf.constant(pixels[None, :, None], tf.float32)).numpy(),
                               [sum(hand)], rtol=1e-5)


def test_mixture_sampler_follows_the_colour_model():
    # a single component with tiny scales: G = mean_G + c_RG * R (colour conditioning of the sampler)
    p = np.zeros(10, np.float32)
    p[1], p[4], p[7] = 0.2, -0.3, 0.1              # means R, G, B in [-1, 1] units
    p[2], p[5], p[8] = -7.0, -7.0, -7.0            # log-scales
    p[3], p[6], p[9] = 0.5, -0.4, 0.3              # raw coefficients: slot 0 c_RG, slot 1 c_RB, slot 2 c_GB
    s = 2.0 * sample_mixture(tf.constant(np.broadcast_to(p, (200, 1, 1, 10))), 1, seed=(1, 2)).numpy()[:, 0, 0] - 1.0
    r = 0.2
    g = -0.3 + np.tanh(0.5) * r
    b = 0.1 + np.tanh(-0.4) * r + np.tanh(0.3) * g
    np.testing.assert_allclose(s.mean(axis=0), [r, g, b], atol=0.01)


def test_blue_given_red_and_green_is_normalised():
    k = 2
    params = np.random.RandomState(5).normal(0.0, 0.5, size=(10 * k,)).astype(np.float32)
    for logits in ([30.0, -30.0], [-30.0, 30.0]):   # (almost) one component at a time
        params[:k] = logits
        for r, g in ((0.0, 1.0), (0.4, 0.6)):
            px = np.stack([np.full(256, r), np.full(256, g), np.arange(256) / 255.0], -1)[:, None, None]
            joint = mixture_log_prob_per_pixel(tf.constant(px, tf.float32), np.broadcast_to(params, (256, 1, 1, 10 * k)),
                                               k).numpy()[:, 0, 0]
            # p(r, g) from the red and green factors alone = the sum of the joint over the 256 blues
            comp = int(np.argmax(logits))
            colours = params[k:].reshape(3, 3 * k)
            rg = 0.0
            for c, v in ((0, r), (1, g)):
                mean = colours[c, comp] + (np.tanh(colours[0, 2 * k + comp]) * (2 * r - 1) if c == 1 else 0.0)
                ls = max(colours[c, k + comp], -7.0)
                x = 2 * v - 1
                up, down = (x + 1 / 255 - mean) / np.exp(ls), (x - 1 / 255 - mean) / np.exp(ls)
                rg += _log_sigmoid(up) if x < -0.999 else _log_sigmoid(-down) if x > 0.999 else math.log(
                    _sigmoid(up) - _sigmoid(down))
            np.testing.assert_allclose(np.logaddexp.reduce(joint.astype(np.float64)), rg, atol=1e-3)


def test_single_discretized_logistic_edges_and_normalisation():
    values = np.arange(256, dtype=np.float32) / 255.0
    loc, log_scale = 0.3, -2.5
    lp = discretized_logistic_log_prob_per_subpixel(values, loc, log_scale).numpy()
    s = math.exp(log_scale)
    edges = np.arange(257) / 256.0
    cdf = _sigmoid((edges - loc) / s)
    cdf[0], cdf[-1] = 0.0, 1.0                                  # open-ended first and last bins
    # float32 differences of sigmoids near 1 (as the original computes them): compare the masses
    np.testing.assert_allclose(np.exp(lp), np.diff(cdf) + 1e-7, rtol=1e-4, atol=2e-7)
    assert lp[0] == pytest.approx(math.log(_sigmoid((1 / 256 - loc) / s) + 1e-7), rel=1e-5)      # first bin
    assert abs(np.exp(lp).sum() - 1.0) < 256 * 1e-7 + 1e-5
    dist = DiscretizedLogistic(tf.fill((2, 4, 4, 1), 0.5), tf.fill((2, 4, 4, 1), -3.0))
    assert dist.log_prob(tf.fill((2, 4, 4, 1), 0.5)).shape == (2,) and dist.sample().shape == (2, 4, 4, 1)


# --------------------------------------------------------------------------------------------------
# Objective, importance weights, initialisation
# --------------------------------------------------------------------------------------------------
def test_free_bits_and_warm_up_follow_the_formulas():
    kl = np.array([[0.1, 2.0, -0.3], [1.5, 0.2, 0.7], [0.0, 3.0, 0.4], [2.2, 0.1, 0.6]], np.float32)
    model = tiny(free_bits=0.5, beta_anneal=10)
    expected = np.maximum(kl, 0.5).mean(axis=0).sum()   # per layer and per image, then batch mean, summed over layers
    np.testing.assert_allclose(float(model.free_bits_kl(tf.constant(kl))), expected, rtol=1e-6)
    assert float(model.free_bits_kl(tf.constant(kl))) != pytest.approx(max(kl.mean(axis=0).sum(), 0.5 * 3))
    no_fb = tiny(free_bits=0.0)
    np.testing.assert_allclose(float(no_fb.free_bits_kl(tf.constant(kl))), kl.mean(axis=0).sum(), rtol=1e-6)
    assert [float(model.beta(t)) for t in (1, 6, 11, 50)] == pytest.approx([0.0, 0.5, 1.0, 1.0])
    terms = model.loss_terms(binary_images(4), iteration=6)
    assert float(terms["loss"]) == pytest.approx(float(terms["reconstruction"]) + 0.5 * float(terms["kl_free_bits"]),
                                                 rel=1e-5)
    assert float(terms["elbo"]) == pytest.approx(-float(terms["reconstruction"]) - float(terms["kl"]), rel=1e-5)
    assert float(terms["kl"]) == pytest.approx(sum(float(terms[f"kl/layer{i}"]) for i in range(2)), rel=1e-5, abs=1e-4)
    decayed = tiny(weight_decay=1e-3).loss_terms(binary_images(4))
    assert float(decayed["weight_decay"]) > 0


def test_importance_weights_with_one_sample_are_the_elbo():
    model = tiny(free_bits=0.0)
    x = binary_images(6)
    tf.random.set_seed(7)
    iw = model.importance_terms(x, 1)
    tf.random.set_seed(7)
    terms = model.loss_terms(x, training=False)            # the same draws, inference mode, Monte-Carlo KL
    np.testing.assert_allclose(iw["log_weights"].numpy(),
                               (iw["log_likelihood"] - tf.reduce_sum(iw["layer_kl"], -1)).numpy(), rtol=1e-6)
    assert float(tf.reduce_mean(iw["log_weights"])) == pytest.approx(float(terms["elbo"]), rel=1e-5)
    assert float(tf.reduce_mean(iw["layer_kl"][:, 0, 1])) == pytest.approx(float(terms["kl/layer1"]), rel=1e-4, abs=1e-4)
    many = model.importance_terms(x, 64)["log_weights"].numpy().astype(np.float64)
    iw_bound = np.logaddexp.reduce(many, axis=1) - math.log(64)
    assert np.all(iw_bound >= many.mean(axis=1) - 1e-3)   # log-mean-exp >= mean (Jensen)


def test_data_dependent_init_normalises_every_conv_output():
    model = tiny(dropout=0.0)
    x = binary_images(16, seed=2)
    moving = model.stem_block.res.ops[0].moving_mean.numpy().copy()
    model.data_dependent_init(x)
    stem = model.stem_conv(model._pad(model.to_unit(x))).numpy()
    np.testing.assert_allclose(stem.mean(axis=(0, 1, 2)), 0.0, atol=1e-5)
    np.testing.assert_allclose(stem.reshape(-1, stem.shape[-1]).std(axis=0, ddof=1), 0.1, rtol=1e-3)
    bu = model.bottom_up(model.to_unit(x), training=True)     # deterministic without dropout
    q = model.top_down_layers[-1].conv_in_q(bu[-1]).numpy()
    np.testing.assert_allclose(q.mean(axis=(0, 1, 2)), 0.0, atol=1e-5)
    np.testing.assert_allclose(q.reshape(-1, q.shape[-1]).std(axis=0, ddof=1), 0.1, rtol=1e-3)
    assert not np.allclose(model.stem_block.res.ops[0].moving_mean.numpy(), moving)  # one moving-average update
    assert np.all(model.top_down_layers[-1].top_prior.numpy() == 0)


def test_loss_falls_on_binarized_mnist(shared_data):
    from hvae import datasets

    data = datasets.load("binarized_mnist", str(shared_subdir(shared_data, "binarized_mnist")))
    model = tiny(n_filters=16, z_dims=(4, 4), free_bits=0.0)
    optimizer = keras.optimizers.Adamax(2e-3, epsilon=1e-8)
    optimizer.build(model.trainable_variables)
    batches = iter(data.batches("train", 32, shuffle=True, seed=0, drop_remainder=True, with_labels=False))
    model.data_dependent_init(next(batches))

    @tf.function(autograph=False)
    def step(x, t):
        with tf.GradientTape() as tape:
            terms = model.loss_terms(x, iteration=t)
        grads = tape.gradient(terms["loss"], model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        return terms["loss"]

    losses = [float(step(next(batches), tf.constant(t))) for t in range(1, 21)]
    assert losses[0] > 450                                  # ~543 nats: every pixel at p = 0.5 after the init
    assert np.mean(losses[-5:]) < 0.65 * np.mean(losses[:5]), losses   # ~440 -> ~230 nats on this CPU


def test_keras_fit_serialisation_round_trip(tmp_path):
    model = tiny(likelihood="gaussian")
    model.compile(optimizer=keras.optimizers.Adamax(3e-4), run_eagerly=True)  # a tiny model: no tracing
    history = model.fit(tf.data.Dataset.from_tensor_slices(binary_images(8)).batch(4), epochs=1, verbose=0,
                        shuffle=False)
    assert {"loss", "elbo", "kl/layer1", "kl_free_bits"} <= set(history.history)
    clone = LVAE.from_config(model.get_config()).build_all()
    assert clone.count_parameters() == model.count_parameters() and clone.config == model.config
    assert json.loads(json.dumps(model.get_config()))["z_dims"] == [3, 4]
    path = str(tmp_path / "lvae.keras")
    model.save(path)
    loaded = keras.models.load_model(path)
    assert type(loaded) is LVAE and loaded.config == model.config
    x = binary_images(2)
    np.testing.assert_array_equal(loaded.reconstruct(x).numpy(), model.reconstruct(x).numpy())
    for a, b in zip(model.posterior_means(x), loaded.posterior_means(x)):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-6, atol=1e-6)


def test_bad_architectures_raise_one_line():
    with pytest.raises(ValueError, match="--zdims has 2 entries but --downsample has 3"):
        LVAEConfig(z_dims=(4, 4), downsample=(1, 1, 1))
    with pytest.raises(ValueError, match="smaller than one pixel"):
        LVAEConfig(z_dims=(4, 4), downsample=(2, 2), blocks_per_layer=2)
    with pytest.raises(ValueError, match="RGB images"):
        LVAEConfig(likelihood="discr_log_mix")
    with pytest.raises(ValueError, match="exceeds --blocks_per_layer"):
        LVAEConfig(downsample=(2, 0, 0), blocks_per_layer=1)
    with pytest.raises(ValueError, match="--freebits must be 0 or more"):
        PRESETS["LVAE_mnist_3"].replace(free_bits=-0.5)
    with pytest.raises(ValueError, match="LVAEConfig.nonlin must be one of"):
        LVAEConfig(nonlin="tanh")
    with pytest.raises(ValueError, match="LVAEConfig has no setting 'zdims'"):
        LVAEConfig().replace(zdims=(4,))
    with pytest.raises(TypeError, match="LVAE takes a LVAEConfig"):
        LVAE({"z_dims": (4,)})


# --------------------------------------------------------------------------------------------------
# The typed config: presets with overrides, old get_config dicts, round trips, the command line's spelling
# --------------------------------------------------------------------------------------------------
# LVAE(...).get_config() exactly as the code before LVAEConfig wrote it (into .keras files), for
# LVAE((28, 28, 1), z_dims=(3, 4), downsample=(1, 1), blocks_per_layer=1, n_filters=8, skip=True, gated=True,
# learn_top_prior=True, dropout=0.0, likelihood="gaussian", value_range=(-1.0, 1.0), free_bits=0.25):
# no data_dep_init, and a dropout below 1e-5 written as None.
OLD_GET_CONFIG = {
    "name": "LVAE", "image_shape": [28, 28, 1], "z_dims": [3, 4], "downsample": [1, 1], "blocks_per_layer": 1,
    "n_filters": 8, "batch_norm": True, "skip": True, "gated": True, "learn_top_prior": True,
    "residual_type": "bacdbacd", "merge_layers": "residual", "nonlin": "elu", "dropout": None, "free_bits": 0.25,
    "analytical_kl": False, "initial_downscaling": True, "likelihood": "gaussian", "value_range": [-1.0, 1.0],
    "beta_anneal": 0, "weight_decay": 0.0}


def test_from_preset_with_overrides():
    from hvae import models

    with weights_declared_only():
        model = LVAE.from_preset("LVAE_mnist_3", free_bits=1.0, z_dims=(8, 16, 4), n_filters=32)
        assert model.built and model.name == "LVAE"
        assert model.config == PRESETS["LVAE_mnist_3"].replace(free_bits=1.0, z_dims=(8, 16, 4), n_filters=32)
        assert (model.free_bits, model.z_dims, model.skip) == (1.0, (8, 16, 4), True)
        assert model.count_parameters() == 785_353                   # ORIGINAL_VARIANTS' last line, with dropout
        other = models.from_preset("LVAE_original_defaults", learn_top_prior=True)
        assert isinstance(other, LVAE) and other.learn_top_prior and other.blocks_per_layer == 2
    with pytest.raises(ValueError, match="LVAEConfig has no setting 'freebits'"):
        LVAE.from_preset("LVAE_mnist_3", freebits=1.0)
    with pytest.raises(ValueError, match="builds a VAE, not a LVAE"):
        LVAE.from_preset("VAE_mnist")
    with pytest.raises(ValueError, match="unknown preset 'mnist_3'"):
        LVAE.from_preset("mnist_3")


def test_old_get_config_dicts_still_load():
    assert LVAE.migrate_config(dict(OLD_GET_CONFIG)) == OLD_GET_CONFIG     # the same keys: nothing to migrate
    model = LVAE.from_config(dict(OLD_GET_CONFIG))
    assert model.name == "LVAE"
    assert model.config == LVAEConfig(image_shape=(28, 28, 1), z_dims=(3, 4), downsample=(1, 1), blocks_per_layer=1,
                                      n_filters=8, skip=True, gated=True, learn_top_prior=True, dropout=None,
                                      likelihood="gaussian", value_range=(-1.0, 1.0), free_bits=0.25)
    assert model.dropout is None and not model.data_dep_init
    # the same architecture as the new config with dropout 0 (also no dropout layer)
    assert model.build_all().count_parameters() == tiny(likelihood="gaussian", dropout=0.0).count_parameters()
    new = model.get_config()
    assert {k: v for k, v in new.items() if k != "data_dep_init"} == OLD_GET_CONFIG and new["data_dep_init"] is False


def test_config_round_trips():
    for name, config in PRESETS.items():
        d = json.loads(json.dumps(config.to_dict()))
        assert LVAEConfig.from_dict(d) == config, name
        assert hash(config) == hash(LVAEConfig.from_dict(d))
    config = LVAEConfig(z_dims=[4, 4], downsample=[1, 1], free_bits=1, value_range=[-1, 1], dropout=0)
    assert config.z_dims == (4, 4) and isinstance(config.free_bits, float) and config.value_range == (-1.0, 1.0)
    assert config.to_dict()["z_dims"] == [4, 4] and isinstance(config.dropout, float)
    with pytest.raises(ValueError, match="LVAEConfig has no setting 'name'"):
        LVAEConfig.from_dict({"name": "LVAE"})
    # every field documented for the generated command line; flags that are spelled differently
    fields = {f.name: f for f in dataclasses.fields(LVAEConfig)}
    assert all(f.metadata["help"] for f in fields.values())
    assert {n: f.metadata["flag"] for n, f in fields.items() if f.metadata["flag"]} == {
        "z_dims": "--zdims", "n_filters": "--nfilters", "batch_norm": "--no_bn", "free_bits": "--freebits",
        "initial_downscaling": "--no_initial_downscaling"}


def test_config_from_the_command_lines_flags():
    from hvae.lvae_task import FAMILY

    defaults = {**FAMILY.defaults, "dataset": "binarized_mnist"}
    assert LVAEConfig.from_flags(defaults, (28, 28, 1), (0.0, 1.0)) == PRESETS["LVAE_mnist_3"]
    cifar = LVAEConfig.from_flags({**defaults, "dataset": "cifar10"}, (32, 32, 3), (0.0, 1.0))
    assert cifar == PRESETS["LVAE_cifar10_15"]
    celeba = LVAEConfig.from_flags({**defaults, "dataset": "celebA"}, (64, 64, 3), (-1.0, 1.0))
    assert celeba == PRESETS["LVAE_celeba_20"]
    # an unnamed dataset: the preset by image shape; the likelihood by channels
    assert LVAEConfig.from_flags({**defaults, "dataset": "x"}, (32, 32, 3), (0.0, 1.0)) == PRESETS["LVAE_cifar10_15"]
    flags = {**defaults, "preset": "mnist_12", "zdims": [4] * 12, "nfilters": 16, "no_bn": True, "freebits": 0.25,
             "no_initial_downscaling": True, "skip": False, "likelihood": "discr_log", "dropout": 0.1}
    config = LVAEConfig.from_flags(flags, (28, 28, 1), (0.0, 1.0))
    assert config == PRESETS["LVAE_mnist_12"].replace(z_dims=(4,) * 12, n_filters=16, batch_norm=False, free_bits=0.25,
                                                       initial_downscaling=False, skip=False, likelihood="discr_log",
                                                       dropout=0.1)
    back = config.flag_values()
    assert (back["zdims"], back["nfilters"], back["no_bn"], back["freebits"], back["no_initial_downscaling"]) == (
        [4] * 12, 16, True, 0.25, True)
    assert LVAEConfig.given_flags(back) == {k: v for k, v in config.to_dict().items()
                                            if k not in ("image_shape", "value_range")}
    # flags not given (None) keep the preset's; the data fields never come from the flags (a resumed config.json)
    assert LVAEConfig.given_flags({"zdims": None, "image_shape": [64, 64, 3], "skip": None}) == {}
    with pytest.raises(ValueError, match="RGB images"):
        LVAEConfig.from_flags({**defaults, "likelihood": "discr_log_mix"}, (28, 28, 1), (0.0, 1.0))


def test_the_shared_interface():
    from hvae.models.base import HVAEModel

    for method in ("encode", "decode", "sample", "reconstruct"):
        ours = list(inspect.signature(getattr(LVAE, method)).parameters.values())
        shared = list(inspect.signature(getattr(HVAEModel, method)).parameters.values())
        assert [(p.name, p.default) for p in ours[:len(shared)]] == [(p.name, p.default) for p in shared], method
        assert all(p.kind is p.KEYWORD_ONLY for p in ours[len(shared):]), method   # extras keyword-only
    model = tiny(z_dims=(3, 2, 2), downsample=(1, 0, 1))
    x = binary_images(3)
    posteriors = model.encode(x, None, training=False)
    assert len(posteriors) == 3 and [tuple(q.event_shape) for q in posteriors] == model.latent_shapes()
    # each layer's posterior given the layers above at their posterior means: the same as posterior_means
    for q, m in zip(posteriors, model.posterior_means(x)):
        np.testing.assert_allclose(tf.reshape(tf.transpose(q.mean(), (0, 3, 1, 2)), (3, -1)).numpy(), m.numpy(),
                                   rtol=1e-5, atol=1e-6)
    assert tuple(model.decode([q.mean() for q in posteriors], None).event_shape) == (28, 28, 1)
    a, b = model.sample(4, None, seed=3).numpy(), model.sample(4, seed=3).numpy()
    np.testing.assert_array_equal(a, b)                                   # seeded: every draw
    assert not np.array_equal(a, model.sample(4, seed=4).numpy()) and set(np.unique(a)) <= {0.0, 1.0}
    r = model.reconstruct(x, None).numpy()
    np.testing.assert_array_equal(r, model.reconstruct(x).numpy())        # deterministic
    assert r.shape == (3, 28, 28, 1) and 0.0 <= r.min() and r.max() <= 1.0
    assert model.reconstruct(x, sample_latents=True).shape == (3, 28, 28, 1)   # the original's figures
    with pytest.raises(ValueError, match="one code per latent layer"):
        model.decode([posteriors[0].mean()])


def test_mixture_reconstruction_is_the_mixtures_mean():
    keras.utils.set_random_seed(0)   # the Monte-Carlo check's margin depends on the initial weights: fix them
    model = tiny(image_shape=(8, 8, 3), likelihood="discr_log_mix", z_dims=(2,), downsample=(1,),
                 value_range=(-1.0, 1.0))
    x = tf.random.stateless_uniform((2, 8, 8, 3), (0, 1), -1.0, 1.0)
    r = model.reconstruct(x).numpy()
    np.testing.assert_array_equal(r, model.reconstruct(x).numpy())
    # against a Monte-Carlo mean of the likelihood at the posterior means (edge clipping aside)
    _, dist, _ = model._inference(x, mean_layers=(0,))
    mc = tf.reduce_mean(dist.sample(4000, seed=(2, 3)), axis=0).numpy() * 2.0 - 1.0
    assert np.abs(r - mc).mean() < 0.02, np.abs(r - mc).mean()


def test_importance_terms_share_the_bottom_up_pass():
    """The evaluator's importance sampling runs the deterministic bottom-up pass once per batch
    (importance_proposal) and tiles its features for the K samples: the same terms, with the same stateless draws,
    as the whole inference pass on the K-times tiled batch (the computation before), within float32 tolerance."""
    from hvae.models.latent import per_sample, tile_batch

    keras.utils.set_random_seed(0)
    model = tiny()
    x, k = binary_images(3), 5
    seeds = [tf.constant([i, 7], tf.int32) for i in range(model.num_layers)]
    shared = model.importance_terms(x, k, seeds=seeds)
    x01 = model.to_unit(tile_batch(x, k))
    features, infos = model.top_down(model.bottom_up(x01, training=False), training=False, seeds=seeds)
    log_likelihood = per_sample(model.likelihood_distribution(features).log_prob(x01), k)
    layer_kl = per_sample(tf.stack([info["kl_mc"] for info in infos], axis=1), k)
    np.testing.assert_allclose(shared["log_likelihood"], log_likelihood, rtol=1e-5, atol=1e-3)
    np.testing.assert_allclose(shared["layer_kl"], layer_kl, rtol=1e-5, atol=1e-4)
    again = model.importance_terms(x, k, proposal=model.importance_proposal(x), seeds=seeds)
    np.testing.assert_allclose(again["log_weights"], shared["log_weights"], rtol=1e-6)
    assert shared["log_weights"].shape == (3, k) and shared["layer_kl"].shape == (3, k, model.num_layers)


def _randomise_batch_norms(model, seed=3):
    """Moving statistics, scales and offsets away from their initial 0 / 1, so that a formula that drops one of
    them changes the output."""
    rng = np.random.RandomState(seed)
    for layer in model._flatten_layers():
        if isinstance(layer, keras.layers.BatchNormalization):
            c = layer.gamma.shape[0]
            layer.moving_mean.assign(rng.normal(0, 0.5, c))
            layer.moving_variance.assign(rng.uniform(0.3, 3.0, c))
            layer.gamma.assign(rng.uniform(0.5, 1.5, c))
            layer.beta.assign(rng.normal(0, 0.3, c))


def test_fused_elementwise_chains_are_the_same_arithmetic(monkeypatch):
    """In inference mode the residual blocks' element-wise chains run as XLA kernels (batch norm + nonlinearity, and
    the gate with the residual sum): the importance terms (fixed stateless draws), the inference loss and every
    gradient through it equal the unfused Keras ops' within float32 rounding, for both nonlinearities the presets
    use, with batch-norm statistics away from their initial values."""
    from hvae.models import lvae as lvae

    for nonlin in ("elu", "leakyrelu"):
        keras.utils.set_random_seed(0)
        model = tiny(n_filters=16, nonlin=nonlin)
        _randomise_batch_norms(model)
        x, k = binary_images(4), 3
        seeds = [tf.constant([i, 11], tf.int32) for i in range(model.num_layers)]
        results = {}
        for fused in (False, True):
            monkeypatch.setattr(lvae_blocks, "FUSED_ELEMENTWISE", fused)
            terms = model.importance_terms(x, k, seeds=seeds)
            tf.random.set_seed(5)
            with tf.GradientTape() as tape:
                loss = model.loss_terms(x, training=False)["loss"]
            results[fused] = (terms, loss, tape.gradient(loss, model.trainable_variables))
        (t0, l0, g0), (t1, l1, g1) = results[False], results[True]
        np.testing.assert_allclose(t1["log_weights"], t0["log_weights"], rtol=1e-5, atol=1e-3)
        np.testing.assert_allclose(t1["layer_kl"], t0["layer_kl"], rtol=1e-5, atol=1e-3)
        assert float(l1) == pytest.approx(float(l0), rel=1e-5)
        for a, b in zip(g1, g0):
            np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-4)


def test_bfloat16_residual_convolutions_stay_close_to_float32():
    """reduced_precision('bfloat16') (evaluate --eval_precision=bfloat16) runs the residual blocks' convolutions in
    bfloat16: the log-weights move (the path is taken) by at most a few hundredths of a nat per image on these
    random weights, the distributions' parameters stay float32, training passes are unaffected, and the evaluator
    refuses bfloat16 for a model that has no such path."""
    from hvae.errors import ConfigError
    from hvae.evaluation import Evaluator
    from hvae.models.vae_collection import VAE

    keras.utils.set_random_seed(0)
    model = tiny(n_filters=32, dropout=None)   # no dropout draws to differ in training mode
    _randomise_batch_norms(model)
    x, k = binary_images(4), 3
    seeds = [tf.constant([i, 13], tf.int32) for i in range(model.num_layers)]
    full = model.importance_terms(x, k, seeds=seeds)
    with model.reduced_precision("bfloat16"):
        low = model.importance_terms(x, k, seeds=seeds)
        tf.random.set_seed(2)
        train_low = model.loss_terms(x, training=True)["loss"]
    tf.random.set_seed(2)
    train_full = model.loss_terms(x, training=True)["loss"]
    assert low["log_weights"].dtype == tf.float32
    difference = np.abs(low["log_weights"].numpy() - full["log_weights"].numpy())
    assert 0 < difference.max() < 0.2, difference
    assert float(train_low) == float(train_full)
    with pytest.raises(ValueError, match="bfloat16"):
        with model.reduced_precision("float16"):
            pass
    evaluator = Evaluator(model, 4, precision="bfloat16")
    result = evaluator.evaluate([(x, None)], 4, levels=2, image_shape=(28, 28, 1), progress=False)
    assert result["precision"] == "bfloat16" and np.isfinite(result["iw_bound"]["mean"])
    with pytest.raises(ConfigError, match="--eval_precision bfloat16 is implemented for the LVAE"):
        Evaluator(VAE(), 4, precision="bfloat16")
    with pytest.raises(ConfigError, match="need batch norm .* this model has no batch norm"):
        Evaluator(tiny(batch_norm=False), 4, precision="bfloat16")
    with pytest.raises(ConfigError, match="this model has cabdcabd"):
        Evaluator(tiny(residual_type="cabdcabd"), 4, precision="bfloat16")


def test_likelihood_warnings_name_the_mismatch():
    bernoulli, logistic = tiny(), tiny(likelihood="discr_log")
    assert bernoulli.likelihood_warnings(2, "x") == [] and logistic.likelihood_warnings(256, "x") == []
    assert "--likelihood bernoulli on the continuous values of x" in bernoulli.likelihood_warnings(None, "x")[0]
    assert "assumes 8-bit pixels but x has binary pixels" in logistic.likelihood_warnings(2, "x")[0]
    assert bernoulli.describe().startswith("2 stochastic layers (8x8x3, 4x4x4, bottom to top), 1 blocks/layer")


# --------------------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------------------
CLI_TINY = ["--dataset=digits", "--zdims", "3", "4", "--downsample", "1", "1", "--blocks_per_layer=1",
            "--nfilters=8", "--batch_size=16", "--test_batch_size=200", "--log_frequency=2", "--seed=0",
            "--compile=eager"]  # a tiny model: tracing would cost more than these few steps (evaluate traces)


def test_cli_train_resume_evaluate_generate(in_tmp, capsys):
    code, out, err = run_cli(["LVAE", "train"] + CLI_TINY + ["--max_iterations=3", "--vis_frequency=2",
                                                              "--ll_every=3", "--ll_samples=2"], capsys)
    assert code == 0, err
    assert "warning: --likelihood bernoulli on the grey levels of digits" in err
    run = in_tmp / "model" / "LVAE_digits"
    config = load_config_json(str(run))            # config.json's sections, flat
    model = config["model_config"]                 # each model setting once, under its field name
    assert model["z_dims"] == [3, 4] and config["preset"] == "mnist_3" and model["free_bits"] == 0.5
    assert model["likelihood"] == "bernoulli" and config["latent_shapes"] == [[8, 8, 3], [4, 4, 4]]
    assert "zdims" not in config and "freebits" not in config
    assert "data-dependent initialisation on the first 16 training images" in out
    assert ("LVAE_digits: LVAE (preset mnist_3): 2 stochastic layers (8x8x3, 4x4x4, bottom to top), 1 blocks/layer, "
            "8 filters, skip, gated, learned top prior, data-dependent init, bacdbacd, elu, dropout 0.2, free bits "
            "0.5 nats, bernoulli likelihood; 15,605 parameters; Adamax lr 0.0003; batch 16") in out
    assert "iteration 2: validation ELBO" in out and "iteration 3: validation ELBO" in out and "(K = 2)" in out
    for it in (2, 3):
        for name in ("samples", "reconstruction", "sample_mode_layer0", "sample_mode_layer1"):
            assert (run / "images" / f"iteration{it}" / f"{name}.png").is_file()
    assert read_png(str(run / "images" / "iteration2" / "sample_mode_layer1.png")).shape == (12 * 30 + 2, 12 * 30 + 2, 1)
    assert read_png(str(run / "images" / "iteration2" / "samples.png")).shape == (8 * 30 + 2, 8 * 30 + 2, 1)
    assert (run / "best" / "checkpoint").is_file() and "end of training (iteration 3): test ELBO" in out

    code, out, err = run_cli(["LVAE", "train"] + CLI_TINY + ["--max_iterations=4", "--vis_frequency=100"], capsys)
    assert code == 0, err
    assert "resumed from model/LVAE_digits/ckpt-3 at iteration 3" in out
    assert "data-dependent initialisation" not in out and "iteration 4: validation ELBO" in out

    code, out, err = run_cli(["LVAE", "train", "--dataset=digits", "--zdims", "8", "8", "--max_iterations=7"], capsys)
    one_line_error(code, err, "config.json has --zdims=3,4 but this run asks for --zdims=8,8")

    code, out, err = run_cli(["LVAE", "evaluate", "--vis_frequency=5"], capsys)
    one_line_error(code, err, "--vis_frequency applies to 'train', not to 'evaluate'")

    code, out, err = run_cli(["LVAE", "evaluate", "--iw_samples=3", "--num_images=20"], capsys)
    assert code == 0, err
    result = json.loads((run / "evaluation" / "test_k3_n20.json").read_text())
    assert result["iteration"] == 4 and len(result["kl_per_layer"]) == 2
    assert result["active_units"]["units"] == [8 * 8 * 3, 4 * 4 * 4]
    assert result["iw_bound"]["mean"] >= result["elbo"]["mean"] - 1.0

    code, out, err = run_cli(["LVAE", "evaluate", "--iw_samples=3", "--num_images=20", "--eval_precision=bfloat16"],
                             capsys)
    assert code == 0, err
    assert "(importance-weighted bound, K = 3, bfloat16 convolutions)" in out
    low = json.loads((run / "evaluation" / "test_k3_n20_bfloat16.json").read_text())
    assert low["precision"] == "bfloat16" and result["precision"] == "float32"
    assert abs(low["iw_bound"]["mean"] - result["iw_bound"]["mean"]) < 2.0   # other draws, same images

    code, out, err = run_cli(["LVAE", "generate"], capsys)
    assert code == 0, err
    for name in ("samples", "reconstructions", "sample_mode_layer0", "sample_mode_layer1"):
        assert (run / "generate" / f"{name}.png").is_file(), out
    assert read_png(str(run / "generate" / "samples.png")).shape == (12 * 30 + 2, 12 * 30 + 2, 1)     # 12x12
    assert read_png(str(run / "generate" / "reconstructions.png")).shape == (12 * 30 + 2, 12 * 30 + 2, 1)  # 72 pairs


@pytest.mark.parametrize("flags,fragments", [
    (["--zdims", "4", "4", "--downsample", "1"], ["--zdims has 2 entries but --downsample has 1"]),
    (["--zdims", "4", "4"], ["--zdims has 2 entries but preset mnist_3's downsample list has 3"]),
    (["--downsample", "2", "0", "0", "--blocks_per_layer=1"], ["--downsample 2 for layer 0 exceeds --blocks_per_layer 1"]),
    (["--freebits=-1"], ["--freebits must be 0 or more"]),
    (["--dropout=1.5"], ["--dropout must be in [0, 1)"]),
    (["--downsample", "2", "2", "1", "--blocks_per_layer=2"], ["smaller than one pixel of the 28x28 image"]),
    (["--likelihood=discr_log_mix"], ["discr_log_mix", "RGB images", "1 channel"]),
    (["--preset=nope"], ["invalid choice: 'nope'"]),
])
def test_bad_input_is_one_line(in_tmp, capsys, flags, fragments):
    code, out, err = run_cli(["LVAE", "train", "--dataset=digits", "--max_iterations=1"] + flags, capsys)
    one_line_error(code, err, *fragments)



# --------------------------------------------------------------------------------------------------
# CelebA with the Ladder VAE original's crop
# --------------------------------------------------------------------------------------------------
def test_celeba_centre_crop_148(shared_data):
    from PIL import Image

    from hvae import datasets
    from hvae.cli import resolve
    from hvae.errors import DatasetError
    from hvae.lvae_task import LVAETask

    folder = shared_subdir(shared_data, "celeba") / "img_align_celeba_89x109"
    if not folder.is_dir():
        pytest.skip(f"{folder} is absent")
    data = datasets.load("celebA", str(folder), crop=148)
    first = data.take("train", 1, seed=None)[0]                          # 000001.jpg
    img = Image.open(sorted(folder.iterdir())[0]).convert("RGB")         # 89 x 109
    assert img.size == (89, 109)
    # torchvision CenterCrop(148) on the 178x218 originals = 74 px here: left round(7.5) = 8, top round(17.5) = 18
    expected = np.asarray(img.crop((8, 18, 82, 92)).resize((64, 64), Image.BILINEAR), np.float32)
    ours = (first + 1.0) * 127.5
    assert np.abs(ours - expected).mean() < 2.0 and np.abs(ours - expected).max() < 40
    vladder = datasets.load("celebA", str(folder)).take("train", 1, seed=None)[0]
    assert np.abs(vladder - first).mean() > 0.05                        # the default (108) crop is unchanged
    with pytest.raises(DatasetError, match="crop must be an integer from 1 to 178"):
        datasets.load("celebA", str(folder), crop=300)
    config = resolve(["LVAE", "train", "--dataset=celebA", f"--db_path={folder}", "--netname=t"])
    task = LVAETask(config, None)
    assert any("centre crop of side round(148/178" in n for n in task.data().notes)
    assert task.dataset_defaults == {"crop": 148}
    config = resolve(["LVAE", "train", "--dataset=celebA", f"--db_path={folder}", "--netname=t",
                      "--dataset_option", "crop=108"])
    task = LVAETask(config, None)
    assert any("round(108/178" in n for n in task.data().notes) and task.dataset_defaults == {}
