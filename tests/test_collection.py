"""The VAE collection (models/vae_collection.py, hvae/collection_task.py): the typed configs and presets
(overrides, validation, round trips, today's get_config dicts), the one model interface, layers and parameter
counts, each objective against a hand computation, training on real data, and the command line end to end.

Subprocesses are few (each starts TensorFlow): one training run, then the generate modes and one bad
input run concurrently. The other bad inputs go through ``hvae.cli.main`` in this process.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from conftest import run_cli

from hvae import models
from hvae.models import objectives
from hvae.models import vae_collection as vc
from hvae.runs import load_config_json

ROOT = Path(__file__).resolve().parents[1]


# --------------------------------------------------------------------------------------------------
# numpy references
# --------------------------------------------------------------------------------------------------
def np_kl(mean, std):
    """KL(N(mean, std^2) || N(0, 1)) summed over the last axis."""
    return np.sum(-np.log(std) + (std ** 2 + mean ** 2) / 2.0 - 0.5, axis=-1)


def np_legacy_kl(mean, log_var):
    """The original VAE/CVAE term -1/2 sum(1 + l - m^2 - exp(l/2))."""
    return -0.5 * np.sum(1.0 + log_var - mean ** 2 - np.exp(log_var / 2.0), axis=-1)


def np_mmd(x, y, bandwidth):
    def k(a, b):
        return np.exp(-np.sum((a[:, None, :] - b[None, :, :]) ** 2, axis=-1) / bandwidth)

    return k(x, x).mean() + k(y, y).mean() - 2.0 * k(x, y).mean()


def np_sigmoid(v):
    return 1.0 / (1.0 + np.exp(-v))


def np_bce(logits, x):
    """Summed binary cross-entropy per example, float64."""
    p = np_sigmoid(logits.astype(np.float64))
    ce = -(x * np.log(p) + (1.0 - x) * np.log(1.0 - p))
    return ce.reshape(len(x), -1).sum(axis=1)


def n(t):
    return np.asarray(t, np.float64)


def make(name, shape, latent_dim, **settings):
    """Model ``name`` of :data:`vc.MODELS` for ``shape`` images and latent size ``latent_dim``, built."""
    cls = vc.MODELS[name]
    return cls(cls.config_class(image_shape=shape, latent_dim=latent_dim, **settings)).build_all()


# --------------------------------------------------------------------------------------------------
# architecture
# --------------------------------------------------------------------------------------------------
# Trainable parameters at the original preset, 32x32x3 (3,072 values), latent D = 200, 10 classes.
#   VAE encoder: Dense 3072->392 (1,204,224 + 392 = 1,204,616), Dense 392->196 (76,832 + 196 = 77,028),
#     mean and log-variance heads 196->200 (2 x 39,400 = 78,800): 1,360,444.
#   VAE decoder: Dense 200->196 (39,396) + Dense 196->3072 (602,112 + 3,072 = 605,184): 644,580
#     -> 2,005,024. Legacy decoder: Dense 200->3072 (614,400 + 3,072 = 617,472) -> 1,977,916.
#   CVAE: input 32x32x(3+10) = 13,312 -> Dense 392 (5,218,304 + 392 = 5,218,696), then as VAE
#     (77,028 + 78,800): 5,374,524; decoder Dense 210->196 (41,160 + 196 = 41,356) + 605,184
#     -> 6,021,064. Legacy: Dense 210->3072 (645,120 + 3,072 = 648,192) -> 6,022,716.
#   InfoVAE encoder: conv 4x4x3x64 (3,072 + 64 = 3,136), conv 4x4x64x128 (131,072 + 128 = 131,200),
#     Dense 8192->512 (4,194,304 + 512 = 4,194,816): 4,329,152; mean and std heads 512->200
#     (2 x 102,600 = 205,200). Decoder: Dense 200->1024 (205,824), Dense 1024->8192 (8,388,608 + 8,192
#     = 8,396,800), deconv 4x4x128->64 (131,072 + 64 = 131,136), deconv 4x4x64->3 (3,072 + 3 = 3,075):
#     8,736,835 -> 13,271,187.
#   MMDVAE: InfoVAE without the std head (-102,600) -> 13,168,587.
PRESET_COUNTS = [
    ("VAE", False, 2_005_024),
    ("VAE", True, 1_977_916),
    ("CVAE", False, 6_021_064),
    ("CVAE", True, 6_022_716),
    ("InfoVAE", False, 13_271_187),
    ("MMDVAE", False, 13_168_587),
]


@pytest.mark.parametrize("name,legacy,expected", PRESET_COUNTS)
def test_preset_shapes_and_parameter_counts(name, legacy, expected):
    model = vc.MODELS[name](vc.PRESETS[name].replace(legacy=legacy)).build_all()
    assert model.image_shape == (32, 32, 3) and model.latent_dim == 200
    assert model.count_parameters() == expected
    labels = tf.constant([0, 3, 9]) if name == "CVAE" else None
    x = tf.random.uniform((3, 32, 32, 3))
    y = model.condition(labels)
    latent = model.infer(x, y)
    assert latent.z.shape == (3, 200)
    assert model.decode_logits(latent.z, y).shape == (3, 32, 32, 3)
    out = model(x, labels).numpy()
    assert out.shape == (3, 32, 32, 3) and out.min() >= 0.0 and out.max() <= 1.0
    assert model.sample(3, labels).shape == (3, 32, 32, 3)
    # every bias starts at 0.05 (the original's get_biases)
    biases = [v for v in model.trainable_variables if "bias" in v.path]
    assert biases and all(np.allclose(v.numpy(), 0.05) for v in biases)
    if name in ("VAE", "CVAE"):
        assert (model.decoder_hidden is None) == legacy


def test_other_shapes_and_layer_details():
    info = make("InfoVAE", (28, 28, 1), 16)
    assert info(tf.zeros((2, 28, 28, 1))).shape == (2, 28, 28, 1)
    assert info.lrelu.negative_slope == pytest.approx(0.2)
    v = tf.constant([-3.0, -0.5, 0.0, 0.7, 2.0])
    np.testing.assert_allclose(info.lrelu(v).numpy(), tf.nn.leaky_relu(v, alpha=0.2).numpy())
    assert info.decoder_dense2.units == 7 * 7 * 128
    # the std head is a true std bounded below by 0.001
    latent = info.infer(tf.random.uniform((4, 28, 28, 1)))
    assert float(tf.reduce_min(latent.spread)) >= 0.001 and float(tf.reduce_max(latent.spread)) < 1.0
    cvae = make("CVAE", (64, 64, 3), 8, num_classes=3)
    assert cvae(tf.zeros((2, 64, 64, 3)), tf.constant([0, 2])).shape == (2, 64, 64, 3)
    assert cvae.encoder_hidden1.kernel.shape == (64 * 64 * (3 + 3), 392)
    mmd = make("MMDVAE", (64, 64, 3), 8)
    assert mmd.infer(tf.zeros((2, 64, 64, 3))).posterior is None
    with pytest.raises(ValueError, match="InfoVAE needs image sides divisible by 4"):
        vc.InfoVAEConfig(image_shape=(30, 30, 1), latent_dim=4)
    with pytest.raises(ValueError, match="no setting 'alpha'"):
        vc.MMDVAEConfig().replace(alpha=0.5)
    with pytest.raises(ValueError, match="lambda does not apply with legacy=True"):
        vc.InfoVAEConfig(legacy=True, lambda_=2.0)


# --------------------------------------------------------------------------------------------------
# configs, presets and the one interface
# --------------------------------------------------------------------------------------------------
# get_config() of the models before the typed configs, exactly as that code wrote them (into .keras files):
# num_classes only for CVAE, the InfoVAE / MMD-VAE weights resolved, and left out with legacy=True.
OLD_CONFIGS = [
    ("VAE", {"image_shape": [28, 28, 1], "latent_dim": 200, "value_range": [0.0, 1.0], "likelihood": "bernoulli",
             "legacy": False, "name": "VAE"}),
    ("VAE", {"image_shape": [28, 28, 1], "latent_dim": 16, "value_range": [0.0, 1.0], "likelihood": "bernoulli",
             "legacy": True, "name": "my_vae"}),
    ("CVAE", {"image_shape": [28, 28, 1], "latent_dim": 8, "value_range": [-1.0, 1.0], "likelihood": "gaussian",
              "legacy": False, "name": "CVAE", "num_classes": 4}),
    ("InfoVAE", {"image_shape": [28, 28, 1], "latent_dim": 200, "value_range": [0.0, 1.0], "likelihood": "bernoulli",
                 "legacy": False, "name": "InfoVAE", "alpha": 0.0, "lambda_": 1000.0, "mmd_bandwidth": 200.0}),
    ("InfoVAE", {"image_shape": [28, 28, 1], "latent_dim": 8, "value_range": [0.0, 1.0], "likelihood": "bernoulli",
                 "legacy": True, "name": "InfoVAE"}),
    ("MMDVAE", {"image_shape": [28, 28, 1], "latent_dim": 8, "value_range": [0.0, 1.0], "likelihood": "bernoulli",
                "legacy": False, "name": "MMDVAE", "lambda_": 3.0, "mmd_bandwidth": 8.0}),
]


@pytest.mark.parametrize("name,old", OLD_CONFIGS, ids=[f"{n}-{i}" for i, (n, _) in enumerate(OLD_CONFIGS)])
def test_old_get_config_dicts_still_load(name, old):
    """``from_config`` (what load_model calls) of a dict exactly as the models wrote it before the typed configs:
    the same model, the same behaviour (resolved weights equal the defaults they replaced)."""
    cls = vc.MODELS[name]
    assert cls.migrate_config({k: v for k, v in old.items() if k != "name"}) == \
        {k: v for k, v in old.items() if k != "name"}  # today's keys are the fields: nothing to rename
    loaded = cls.from_config(dict(old))
    assert type(loaded) is cls and loaded.name == old["name"]
    assert loaded.image_shape == tuple(old["image_shape"]) and loaded.latent_dim == old["latent_dim"]
    assert loaded.value_range == tuple(old["value_range"]) and loaded.legacy == old["legacy"]
    assert loaded.num_classes == old.get("num_classes")
    for key in vc.OBJECTIVE_SETTINGS:
        if key in old:
            assert getattr(loaded, key) == old[key]
    # the weights the old dict resolved are the ones its preset's defaults (None) resolve to
    preset = cls(vc.PRESETS[f"{name}_mnist"].replace(latent_dim=old["latent_dim"]))
    if all(old.get(k) == getattr(preset, k) for k in vc.OBJECTIVE_SETTINGS if k in old):
        assert (preset.alpha, preset.lambda_, preset.mmd_bandwidth) == \
            (loaded.alpha, loaded.lambda_, loaded.mmd_bandwidth)
    # the new get_config holds the same settings, and round-trips
    again = cls.from_config(loaded.get_config())
    assert again.config == loaded.config and again.get_config() == loaded.get_config()


def test_config_round_trips_and_types():
    import json

    for name, config in vc.PRESETS.items():
        assert models.preset(name) is config
        d = config.to_dict()
        assert type(config).from_dict(json.loads(json.dumps(d))) == config  # lists back to tuples
        assert d["image_shape"] in ([32, 32, 3], [28, 28, 1]) and d["latent_dim"] == 200
    assert vc.PRESETS["CVAE"].to_dict() == {"image_shape": [32, 32, 3], "latent_dim": 200, "value_range": [0.0, 1.0],
                                            "likelihood": "bernoulli", "legacy": False, "num_classes": 10}
    assert set(vc.InfoVAEConfig.field_names()) - set(vc.VAEConfig.field_names()) == {"alpha", "lambda_",
                                                                                         "mmd_bandwidth"}
    assert set(vc.MMDVAEConfig.field_names()) - set(vc.VAEConfig.field_names()) == {"lambda_", "mmd_bandwidth"}
    assert issubclass(vc.CVAEConfig, vc.VAEConfig) and vc.CVAE.config_class is vc.CVAEConfig
    # the data pipeline's numpy numbers and JSON's lists get today's types (a JSON-able get_config)
    config = vc.CVAEConfig(image_shape=np.array([28, 28, 1]), latent_dim=np.int64(8), value_range=[0, 1],
                           num_classes=np.int32(3))
    assert config.image_shape == (28, 28, 1) and type(config.image_shape[0]) is int
    assert config.value_range == (0.0, 1.0) and type(config.value_range[0]) is float
    assert type(config.latent_dim) is int and type(config.num_classes) is int
    json.dumps(vc.CVAE(config).get_config())
    assert type(vc.MMDVAEConfig(lambda_=3).lambda_) is float
    # every field has a one-line help; lambda_ keeps today's flag spelling
    for cls in (vc.VAEConfig, vc.CVAEConfig, vc.InfoVAEConfig, vc.MMDVAEConfig):
        import dataclasses

        for f in dataclasses.fields(cls):
            assert f.metadata["help"] and "\n" not in f.metadata["help"], (cls, f.name)
    assert {f.name: f.metadata["flag"] for f in dataclasses.fields(vc.InfoVAEConfig)}["lambda_"] == "--lambda"


def test_config_validation():
    bad = [
        (lambda: vc.VAEConfig(likelihood="laplace"), "likelihood must be one of"),
        (lambda: vc.VAEConfig(legacy=True, likelihood="gaussian"), "takes no likelihood option"),
        (lambda: vc.CVAEConfig(num_classes=0), "CVAE needs num_classes >= 1"),
        (lambda: vc.CVAEConfig(num_classes=None), "CVAE needs num_classes >= 1"),
        (lambda: vc.MMDVAEConfig(mmd_bandwidth=0.0), "mmd_bandwidth must be positive"),
        (lambda: vc.InfoVAEConfig(legacy=True, alpha=0.0), "alpha does not apply with legacy=True"),
        (lambda: vc.MMDVAEConfig(legacy=True, mmd_bandwidth=4.0), "mmd_bandwidth does not apply with legacy"),
        (lambda: vc.MMDVAEConfig(image_shape=(28, 30, 1)), "MMDVAE needs image sides divisible by 4"),
        (lambda: vc.VAEConfig(image_shape=(28, 28)), "three positive sizes"),
        (lambda: vc.VAEConfig(latent_dim=0), "latent_dim must be at least 1"),
        (lambda: vc.VAEConfig(value_range=(1.0, 0.0)), "lo < hi"),
        (lambda: vc.VAEConfig(image_shape="big"), "not a valid value"),
        (lambda: vc.VAEConfig().replace(num_classes=10), "VAEConfig has no setting 'num_classes'"),
        (lambda: vc.InfoVAEConfig.from_dict({"lambda": 3.0}), "its settings: image_shape"),
    ]
    for build, message in bad:
        with pytest.raises(ValueError, match=message):
            build()
    vc.VAEConfig(image_shape=(30, 30, 1))  # the MLP pair takes any side
    # a config of another model is refused, even a subclass's
    with pytest.raises(TypeError, match="VAE takes a VAEConfig, not CVAEConfig"):
        vc.VAE(vc.CVAEConfig())
    with pytest.raises(TypeError, match="takes a InfoVAEConfig"):
        vc.InfoVAE(vc.MMDVAEConfig())


def test_from_preset_with_overrides():
    vae = models.from_preset("VAE_mnist", latent_dim=10)
    assert type(vae) is vc.VAE and vae.name == "VAE" and vae.latent_dim == 10 and vae.image_shape == (28, 28, 1)
    # 784->392->196, heads 196->10 x 2, decoder 10->196->784
    assert vae.count_parameters() == (784 * 392 + 392) + (392 * 196 + 196) + 2 * (196 * 10 + 10) + \
        (10 * 196 + 196) + (196 * 784 + 784)
    info = vc.InfoVAE.from_preset("InfoVAE_mnist", latent_dim=10, alpha=0.5)
    assert info.mmd_bandwidth == 10.0 and info.alpha == 0.5 and info.lambda_ == 1000.0  # bandwidth follows D
    cvae = vc.CVAE.from_preset("CVAE", num_classes=3, legacy=True)
    assert cvae.num_classes == 3 and cvae.decoder_hidden is None and cvae.config == vc.PRESETS["CVAE"].replace(
        num_classes=3, legacy=True)
    with pytest.raises(ValueError, match="builds a InfoVAE, not a VAE"):
        vc.VAE.from_preset("InfoVAE_mnist")
    with pytest.raises(ValueError, match="no setting 'alpha'"):
        models.from_preset("VAE_mnist", alpha=0.5)
    with pytest.raises(ValueError, match="unknown preset"):
        vc.VAE.from_preset("VAE_cifar")
    assert [n for n in models.preset_names() if n in vc.PRESETS] == \
        ["VAE", "VAE_mnist", "CVAE", "CVAE_mnist", "InfoVAE", "InfoVAE_mnist", "MMDVAE", "MMDVAE_mnist"]


def test_with_flags_is_the_command_lines_config():
    """The one path from a command line to a model config: the base config, the flags given (None: not given;
    keys of other models and of the run are not read), then the data."""
    settings = {"latent_dim": 8, "likelihood": "bernoulli", "legacy": False, "alpha": None, "lambda_": 2.0,
                "mmd_bandwidth": None, "epochs": 3}
    config = vc.InfoVAEConfig().with_flags(settings, image_shape=(28, 28, 1), value_range=(0, 1))
    assert config == vc.PRESETS["InfoVAE_mnist"].replace(latent_dim=8, lambda_=2.0)
    assert vc.VAEConfig().with_flags(settings, image_shape=[28, 28, 1], value_range=[-1, 1]) == vc.VAEConfig(
        image_shape=(28, 28, 1), latent_dim=8, value_range=(-1.0, 1.0))  # InfoVAE's weights are not the VAE's
    assert vc.CVAEConfig().with_flags({}, image_shape=(28, 28, 1), num_classes=7).num_classes == 7
    with pytest.raises(ValueError, match="num_classes"):
        vc.CVAEConfig().with_flags({}, image_shape=(28, 28, 1), num_classes=None)
    # a base that is not the default (a saved run's config, a preset) keeps what the flags do not set
    base = vc.PRESETS["InfoVAE_mnist"].replace(latent_dim=16, alpha=0.5)
    assert base.with_flags({"lambda_": 3.0, "latent_dim": None}) == base.replace(lambda_=3.0)


INTERFACE = {  # HVAEModel's signatures: (name, default) of the common parameters, in order
    "encode": [("images", None), ("labels", None), ("training", False)],
    "decode": [("codes", None), ("labels", None)],
    "sample": [("n", None), ("labels", None), ("seed", None)],
    "reconstruct": [("images", None), ("labels", None)],
}


@pytest.mark.parametrize("name", list(vc.MODELS))
def test_the_one_interface(name):
    import inspect

    cls = vc.MODELS[name]
    for method, common in INTERFACE.items():
        params = list(inspect.signature(getattr(cls, method)).parameters.values())[1:]
        got = [(p.name, None if p.default is inspect.Parameter.empty else p.default) for p in params[:len(common)]]
        assert got == common, (method, got)
        assert all(p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD for p in params[:len(common)])
        assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in params[len(common):]), method
    model = models.from_preset(f"{name}_mnist", latent_dim=4)
    labels = tf.constant([1, 2, 3]) if model.conditional else None
    x = tf.random.stateless_uniform((3, 28, 28, 1), seed=(0, 1))
    q = model.encode(x, labels, training=False)
    assert len(q) == 1 and q[0].event_shape == (4,) and q[0].batch_shape == (3,)
    p = model.decode(q[0].mean(), labels)
    assert p.event_shape == (28, 28, 1) and p.log_prob(x).shape == (3,)
    assert model.decode([q[0].mean()], labels).mean().shape == (3, 28, 28, 1)
    images = model.sample(3, labels, seed=1)
    assert images.shape == (3, 28, 28, 1) and float(tf.reduce_min(images)) >= 0.0
    # reconstruct: deterministic, the likelihood's mean at the posterior mean; sample=True: one posterior draw
    r = model.reconstruct(x, labels).numpy()
    np.testing.assert_array_equal(r, model.reconstruct(x, labels).numpy())
    np.testing.assert_allclose(r, p.mean().numpy(), rtol=1e-6, atol=1e-6)
    drawn = model.reconstruct(x, labels, sample=True).numpy()
    assert drawn.shape == r.shape and (name == "MMDVAE") == bool(np.array_equal(drawn, r))
    with pytest.raises(TypeError):
        model.reconstruct(x, labels, True)  # the extra is keyword-only
    if model.conditional:
        with pytest.raises(ValueError, match="needs labels"):
            model.encode(x)


# --------------------------------------------------------------------------------------------------
# objectives against hand computations
# --------------------------------------------------------------------------------------------------
def test_kl_and_legacy_kl_formulas():
    mean = np.array([[0.0, 1.0, -2.0], [0.5, 0.0, 0.3]], np.float32)
    std = np.array([[1.0, 0.5, 2.0], [0.1, 1.5, 1.0]], np.float32)
    got = objectives.kl_to_standard_normal(objectives.diagonal_normal(mean, std)).numpy()
    np.testing.assert_allclose(got, np_kl(n(mean), n(std)), rtol=1e-5)
    assert got[0] == pytest.approx(0.5 * (0.25 - 1 - 2 * np.log(0.5)) + 0.5 + 0.5 * (4 + 4 - 1 - 2 * np.log(2.0)), rel=1e-5)
    log_var = np.log(std ** 2)
    legacy = objectives.legacy_vae_kl(mean, log_var).numpy()
    np.testing.assert_allclose(legacy, np_legacy_kl(n(mean), n(log_var)), rtol=1e-5)
    # the bug: minimised at l = 2 ln 2 (variance 4), where it is negative for mean 0
    l_star = np.full((1, 1), 2 * np.log(2.0), np.float32)
    for delta in (-0.1, 0.1):
        assert objectives.legacy_vae_kl(np.zeros((1, 1), np.float32), l_star + delta).numpy()[0] > \
            objectives.legacy_vae_kl(np.zeros((1, 1), np.float32), l_star).numpy()[0]
    assert objectives.legacy_vae_kl(np.zeros((1, 1), np.float32), l_star).numpy()[0] < 0


def test_mmd_and_likelihoods_against_numpy():
    rng = np.random.RandomState(0)
    x = rng.randn(5, 3).astype(np.float32)
    y = (rng.randn(7, 3) + 1.0).astype(np.float32)
    for bw in (3.0, 9.0):
        assert float(objectives.mmd(x, y, bw)) == pytest.approx(np_mmd(n(x), n(y), bw), rel=1e-5, abs=1e-6)
    assert float(objectives.mmd(x, x, 3.0)) == pytest.approx(0.0, abs=1e-6)
    logits = rng.randn(2, 3, 3, 1).astype(np.float32) * 3
    target = rng.uniform(size=(2, 3, 3, 1)).astype(np.float32)  # continuous targets: cross-entropy
    got = -objectives.bernoulli_likelihood(logits=logits).log_prob(target).numpy()
    np.testing.assert_allclose(got, np_bce(logits, n(target)), rtol=1e-5)
    # probs form unchanged, and logits stay finite where probabilities saturate
    got_p = -objectives.bernoulli_likelihood(np_sigmoid(logits).astype(np.float32)).log_prob(target).numpy()
    np.testing.assert_allclose(got_p, got, rtol=1e-4)
    extreme = np.full((1, 2, 2, 1), 200.0, np.float32)
    assert np.isfinite(objectives.bernoulli_likelihood(logits=extreme).log_prob(np.zeros_like(extreme)).numpy()).all()
    mean = np_sigmoid(logits).astype(np.float32)
    got_g = -objectives.gaussian_likelihood(mean, 0.1).log_prob(target).numpy()
    ref = (((n(target) - n(mean)) ** 2) / (2 * 0.01)).reshape(2, -1).sum(1) + 9 * np.log(0.1 * np.sqrt(2 * np.pi))
    np.testing.assert_allclose(got_g, ref, rtol=1e-5)


def _batch(shape, b=3, seed=1):
    return np.random.RandomState(seed).uniform(size=(b,) + shape).astype(np.float32)


def _terms(model, x, labels=None):
    y = model.condition(labels)
    latent = model.infer(model.to_unit(x), y)
    logits = model.decode_logits(latent.z, y)
    return latent, logits.numpy(), {k: float(v) for k, v in model.objective(model.to_unit(x), latent, logits).items()}


@pytest.mark.parametrize("name", ["VAE", "CVAE"])
def test_vae_and_cvae_objectives(name):
    kw = {"num_classes": 4} if name == "CVAE" else {}
    labels = tf.constant([0, 3, 1]) if name == "CVAE" else None
    x = _batch((4, 4, 1))
    model = make(name, (4, 4, 1), 3, **kw)
    latent, logits, t = _terms(model, x, labels)
    m, lv = n(latent.mean), n(latent.spread)
    kl = np_kl(m, np.exp(lv / 2)).mean()
    rec = np_bce(logits, n(x)).mean()
    assert t["kl"] == pytest.approx(kl, rel=1e-4)
    assert t["reconstruction"] == pytest.approx(rec, rel=1e-4)
    assert t["loss"] == pytest.approx(rec + kl, rel=1e-4)
    assert t["elbo"] == pytest.approx(-(rec + kl), rel=1e-4)
    # legacy: summed cross-entropy with +1e-10 inside the logs on the sigmoid output + the exp(l/2) term
    legacy = make(name, (4, 4, 1), 3, legacy=True, **kw)
    latent, logits, t = _terms(legacy, x, labels)
    p = np_sigmoid(n(logits))
    rec = (-(n(x) * np.log(p + 1e-10) + (1 - n(x)) * np.log(1 - p + 1e-10))).reshape(3, -1).sum(1).mean()
    lkl = np_legacy_kl(n(latent.mean), n(latent.spread)).mean()
    assert t["reconstruction"] == pytest.approx(rec, rel=1e-4)
    assert t["legacy_kl"] == pytest.approx(lkl, rel=1e-4, abs=1e-4)
    assert t["loss"] == pytest.approx(rec + lkl, rel=1e-4)
    # gaussian likelihood: Normal(sigmoid(logits), 0.1)
    gauss = make(name, (4, 4, 1), 3, likelihood="gaussian", **kw)
    latent, logits, t = _terms(gauss, x, labels)
    ref = ((n(x) - np_sigmoid(n(logits))) ** 2 / 0.02).reshape(3, -1).sum(1) + 16 * np.log(0.1 * np.sqrt(2 * np.pi))
    assert t["reconstruction"] == pytest.approx(ref.mean(), rel=1e-4)


def test_infovae_and_mmdvae_objectives(monkeypatch):
    seen = []
    real_mmd = objectives.mmd

    def spy(x, y, bandwidth):
        seen.append((n(x), n(y), float(bandwidth)))
        return real_mmd(x, y, bandwidth)

    monkeypatch.setattr(objectives, "mmd", spy)
    x = _batch((8, 8, 1), b=4)
    # InfoVAE: R + (1 - alpha) KL + (alpha + lambda - 1) MMD
    model = make("InfoVAE", (8, 8, 1), 2, alpha=0.3, lambda_=5.0)
    latent, logits, t = _terms(model, x)
    zx, zy, bw = seen[-1]
    assert bw == 2.0 and zy.shape == zx.shape
    np.testing.assert_allclose(zx, n(latent.z), rtol=1e-6)
    mmd = np_mmd(zx, zy, bw)
    kl = np_kl(n(latent.mean), n(latent.spread)).mean()
    rec = np_bce(logits, n(x)).mean()
    assert t["mmd"] == pytest.approx(mmd, rel=1e-4, abs=1e-6)
    assert t["kl"] == pytest.approx(kl, rel=1e-4)
    assert t["loss"] == pytest.approx(rec + 0.7 * kl + 4.3 * mmd, rel=1e-4)
    assert t["elbo"] == pytest.approx(-(rec + kl), rel=1e-4)
    # defaults alpha 0, lambda 1000, bandwidth = latent size
    model = make("InfoVAE", (8, 8, 1), 2)
    latent, logits, t = _terms(model, x)
    assert seen[-1][2] == 2.0
    assert t["loss"] == pytest.approx(t["reconstruction"] + t["kl"] + 999.0 * t["mmd"], rel=1e-5)
    # legacy InfoVAE: mean squared error + 0.001 * mean over (B, D) of the per-dim KL; no MMD
    calls = len(seen)
    legacy = make("InfoVAE", (8, 8, 1), 2, legacy=True)
    latent, logits, t = _terms(legacy, x)
    assert len(seen) == calls and "mmd" not in t
    m, s = n(latent.mean), n(latent.spread)
    mse = np.mean((np_sigmoid(n(logits)) - n(x)) ** 2)
    per_dim = np.mean(-0.5 * (1 + 2 * np.log(s) - m ** 2 - s ** 2))
    assert t["loss"] == pytest.approx(mse + 0.001 * per_dim, rel=1e-4)
    # MMD-VAE: R + lambda MMD (bandwidth --mmd_bandwidth); legacy: mean squared error + MMD with D^2
    model = make("MMDVAE", (8, 8, 1), 3, lambda_=10.0, mmd_bandwidth=7.0)
    latent, logits, t = _terms(model, x)
    zx, zy, bw = seen[-1]
    assert bw == 7.0 and latent.posterior is None and "elbo" not in t
    assert t["loss"] == pytest.approx(np_bce(logits, n(x)).mean() + 10.0 * np_mmd(zx, zy, 7.0), rel=1e-4)
    legacy = make("MMDVAE", (8, 8, 1), 3, legacy=True)
    latent, logits, t = _terms(legacy, x)
    zx, zy, bw = seen[-1]
    assert bw == 9.0
    mse = np.mean((np_sigmoid(n(logits)) - n(x)) ** 2)
    assert t["loss"] == pytest.approx(mse + np_mmd(zx, zy, 9.0), rel=1e-4, abs=1e-6)


# --------------------------------------------------------------------------------------------------
# the loss falls on real data
# --------------------------------------------------------------------------------------------------
def _train(model, dataset, steps, lr, batch_size=64):
    import keras

    opt = keras.optimizers.Adam(lr, beta_1=0.5, beta_2=0.999, epsilon=1e-8)
    test_x, test_y = dataset.take("test", 128, seed=0, with_labels=True)

    def held_out():
        terms = model.loss_terms(test_x, test_y if model.conditional else None, training=False)
        return {k: float(v) for k, v in terms.items()}

    @tf.function
    def step(x, y):
        with tf.GradientTape() as tape:
            loss = model.loss_terms(x, y if model.conditional else None)["loss"]
        grads = tape.gradient(loss, model.trainable_variables)
        opt.apply_gradients(zip(grads, model.trainable_variables))
        return loss

    before = held_out()
    batches = dataset.batches("train", batch_size, shuffle=True, seed=0, drop_remainder=True).repeat()
    for i, (x, y) in enumerate(batches.take(steps)):
        assert np.isfinite(float(step(x, y)))
    return before, held_out()


@pytest.fixture(scope="module")
def digits():
    from hvae import datasets

    return datasets.load("digits")


@pytest.mark.parametrize("name", ["VAE", "CVAE", "InfoVAE", "MMDVAE"])
def test_loss_falls_on_digits(digits, name):
    tf.random.set_seed(0)
    model = models.from_preset(f"{name}_mnist", latent_dim=32)
    conv = name in ("InfoVAE", "MMDVAE")
    before, after = _train(model, digits, 15 if conv else 30, model.learning_rate * (1 if conv else 10),
                           batch_size=32 if conv else 64)
    assert after["loss"] < 0.8 * before["loss"], (before, after)
    assert after["reconstruction"] < before["reconstruction"]


def test_elbo_rises_on_binarized_mnist(shared_data):
    from hvae import datasets
    from tests.conftest import shared_subdir

    data = datasets.load("binarized_mnist", str(shared_subdir(shared_data, "binarized_mnist")))
    tf.random.set_seed(0)
    model = vc.VAE.from_preset("VAE_mnist")
    before, after = _train(model, data, 40, 1e-3)
    assert before["elbo"] < -500 and after["elbo"] > before["elbo"] + 200, (before, after)
    assert after["loss"] == pytest.approx(-after["elbo"], rel=1e-6)


# --------------------------------------------------------------------------------------------------
# the command line
# --------------------------------------------------------------------------------------------------
def _env():
    env = dict(os.environ, PYTHONPATH=str(ROOT), TF_CPP_MIN_LOG_LEVEL="2")
    env.pop("HVAE_TF_VERBOSE", None)
    return env


def _run(args, cwd):
    return subprocess.run([sys.executable] + args, cwd=cwd, env=_env(), capture_output=True, text=True, timeout=600)


def _one_error_line(status, err):
    lines = [line for line in err.splitlines() if line.strip()]
    assert status != 0
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


def _write_images(folder: Path):
    import cv2

    rng = np.random.RandomState(0)
    cv2.imwrite(str(folder / "colour.jpg"), (rng.rand(50, 40, 3) * 255).astype(np.uint8))
    cv2.imwrite(str(folder / "grey.png"), (rng.rand(33, 61) * 255).astype(np.uint8))
    (folder / "text.png").write_text("not an image")
    (folder / "a_folder").mkdir()


def red_mask(img):
    img = img.astype(int)
    return (img[..., 0] > 150) & (img[..., 1] < 90) & (img[..., 2] < 90)


def check_grid(path: Path):
    """480x240 RGB; red frame pixels in the bands of rows 1 and 3, none in rows 2 and 4."""
    from hvae.figures import read_png

    img = read_png(str(path))
    assert img.shape == (240, 480, 3)
    red = red_mask(img)
    bands = [red[60 * k + 3:60 * k + 57] for k in range(4)]
    assert bands[0].sum() > 1000 and bands[2].sum() > 1000
    assert bands[1].sum() == 0 and bands[3].sum() == 0
    assert red[0].mean() > 0.9 and red[120].mean() > 0.9  # top edges of the row-1 and row-3 frames


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    """``python train.py VAE train --dataset=digits --epochs=1`` in a fresh folder."""
    cwd = tmp_path_factory.mktemp("cli")
    _write_images(cwd)
    proc = _run([str(ROOT / "train.py"), "VAE", "train", "--dataset=digits", "--epochs=1", "--seed=1"], cwd)
    assert proc.returncode == 0, proc.stderr
    return cwd, proc


def test_cli_end_to_end(trained_run):
    from hvae.figures import read_png

    cwd, proc = trained_run
    assert "validation ELBO" in proc.stdout and "test ELBO" in proc.stdout and "epoch 1/1" in proc.stdout
    # 1,438 digits training images: a fixed 144 are held out for validation, 1,294 train (20 steps of 64)
    assert "validation 144" in proc.stdout and "train 1,294" in proc.stdout
    config = load_config_json(str(cwd / "model/VAE_digits"))   # config.json flattened (hvae.runs.structure_config)
    assert config["image_shape"] == [28, 28, 1] and config["num_classes"] == 10 and config["value_range"] == [0.0, 1.0]
    assert config["learning_rate"] == 1e-4
    assert list((cwd / "model/VAE_digits").glob("ckpt-20.index")) and list((cwd / "model/VAE_digits/best").glob("*.index"))
    check_grid(cwd / "images/VAE_digits/grid_1.png")

    # the generate modes (and one bad input) at once: each process is mostly TensorFlow's start-up
    jobs = {
        "grid": [str(ROOT / "generate.py"), "VAE"],
        "colour": [str(ROOT / "train.py"), "vae", "generate", "colour.jpg"],
        "missing": [str(ROOT / "train.py"), "VAE", "generate", "missing.png"],
        "evaluate": [str(ROOT / "train.py"), "VAE", "evaluate", "--iw_samples=20", "--num_images=50", "--best"],
    }
    procs = {k: subprocess.Popen([sys.executable] + a, cwd=cwd, env=_env(), stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True) for k, a in jobs.items()}
    out = {k: (p.communicate(timeout=600), p.returncode) for k, p in procs.items()}
    for k in ("grid", "colour", "evaluate"):
        assert out[k][1] == 0, out[k][0][1]
    evaluation = json.loads((cwd / "model/VAE_digits/evaluation/test_k20_n50.json").read_text())
    assert evaluation["num_images"] == 50 and evaluation["iw_samples"] == 20 and evaluation["iteration"] == 20
    assert evaluation["density"]["kind"] == "cross-entropy"  # Bernoulli on grey digits: not a likelihood
    assert evaluation["elbo"]["mean"] <= evaluation["iw_bound"]["mean"] < 0 and evaluation["bits_per_dim"] is None
    assert "cross-entropy" in out["evaluate"][0][0] and "importance samples/s" in out["evaluate"][0][0]
    # a colour image given to a grey model: said in one line, before the file is written
    assert "colour.jpg: 50x40 colour image -> 28x28 grey (the model's input)" in out["colour"][0][0]
    # the run's line comes first, then the files
    grid_out = out["grid"][0][0]
    assert grid_out.index("VAE_digits (VAE) at iteration") < grid_out.index("wrote images/VAE_digits/grid.png")
    line = _one_error_line(out["missing"][1], out["missing"][0][1])
    assert "missing.png" in line and "does not exist" in line

    check_grid(cwd / "images/VAE_digits/grid.png")
    assert read_png(str(cwd / "images/VAE_digits/samples.png")).shape[:2] == (280, 280)
    check_pair(cwd / "images/VAE_digits/colour_reconstruction.png")
    # the colour input was converted to the model's grey 28x28: the framed tile's inside is grey too
    inner = read_png(str(cwd / "images/VAE_digits/colour_reconstruction.png"))[1:-1, 1:27]
    assert (inner[..., 0] == inner[..., 2]).all()


def check_pair(path: Path):
    """A 28x56 image: the red-framed input on the left, its grey reconstruction on the right."""
    from hvae.figures import read_png

    img = read_png(str(path))
    assert img.shape == (28, 56, 3)
    left, right = img[:, :28], img[:, 28:]
    assert red_mask(left)[0].all() and red_mask(left)[:, 0].all() and not red_mask(left)[5:-5, 5:-5].any()
    assert not red_mask(right).any()
    assert (right[..., 0] == right[..., 1]).all()  # a one-channel model's reconstruction is grey


def test_cli_cvae_and_bad_inputs_in_process(trained_run, tmp_path, monkeypatch, capsys):
    cwd, _ = trained_run
    monkeypatch.chdir(cwd)
    bad = [
        (["VAE", "generate", "text.png"], "not an image"),
        (["VAE", "generate", "a_folder"], "folder"),
        (["VAE", "generate", "colour.jpg", "--label=3"], "--label does not apply to VAE"),
        (["CVAE", "train", "--dataset=binarized_mnist"], "labelled dataset"),
        (["CVAE", "train", "--dataset=celebA"], "celebA has none"),
        (["InfoVAE", "train", "--dataset=digits", "--legacy", "--alpha=0.5"], "--legacy"),
        (["VAE", "train", "--dataset=digits", "--alpha=0.5", "--netname=VAE_alpha"], "--alpha does not apply to VAE"),
        (["MMDVAE", "train", "--dataset=digits", "--legacy", "--likelihood=gaussian"], "--likelihood"),
        (["InfoVAE", "generate"], "no trained model"),
        (["VAE", "train", "--dataset=digits", "--best"], "--best chooses the checkpoint that 'generate' and 'evaluate' restore"),
    ]
    for argv, expected in bad:
        status, _, err = run_cli(argv, capsys)
        assert expected in _one_error_line(status, err), (argv, err)

    # a run folder with config.json but no checkpoint
    run = cwd / "model" / "VAE_empty"
    run.mkdir(parents=True)
    saved = json.loads((cwd / "model/VAE_digits/config.json").read_text())
    (run / "config.json").write_text(json.dumps({**saved, "netname": "VAE_empty"}))
    status, _, err = run_cli(["VAE", "generate", "--netname=VAE_empty"], capsys)
    assert "no checkpoint" in _one_error_line(status, err)
    status, _, err = run_cli(["VAE", "generate", "--netname=VAE_empty", "--best"], capsys)
    assert "no best checkpoint" in _one_error_line(status, err)
    # --best restores model/<netname>/best/ (epoch 1 of the trained run)
    status, out, err = run_cli(["VAE", "generate", "--best", "--netname=VAE_digits"], capsys)
    assert status == 0, err
    assert "VAE_digits (VAE) at iteration 20 (best checkpoint) (model/VAE_digits/best/ckpt-20)" in out, out

    # another --netname of the same model keeps its figures in images/<netname>/, not the first run's
    before = {p.name: p.stat().st_mtime for p in (cwd / "images/VAE_digits").glob("*.png")}
    status, out, err = run_cli(["VAE", "train", "--dataset=digits", "--epochs=1", "--max_iterations=2",
                              "--netname=VAE_other"], capsys)
    assert status == 0 and (cwd / "images/VAE_other/grid_1.png").is_file(), err
    assert {p.name: p.stat().st_mtime for p in (cwd / "images/VAE_digits").glob("*.png")} == before

    # CVAE: a short run stopped mid-epoch still gets its grid; generate with and without a label
    status, out, err = run_cli(["CVAE", "train", "--dataset=digits", "--epochs=1", "--max_iterations=3"], capsys)
    assert status == 0, err
    assert "test ELBO" in out
    check_grid(cwd / "images/CVAE_digits/grid_1.png")
    status, out, err = run_cli(["CVAE", "generate", "grey.png", "--label=10"], capsys)
    assert "out of range" in _one_error_line(status, err)
    status, out, err = run_cli(["CVAE", "generate", "grey.png", "--label=7"], capsys)
    assert status == 0 and "class 7" in out, err
    status, out, err = run_cli(["CVAE", "generate"], capsys)
    assert status == 0, err
    from hvae.figures import read_png

    assert read_png(str(cwd / "images/CVAE_digits/samples.png")).shape[:2] == (280, 280)
    check_pair(cwd / "images/CVAE_digits/grey_reconstruction.png")
    status, _, err = run_cli(["CVAE", "generate", "--label=2"], capsys)
    assert "--label" in _one_error_line(status, err)
