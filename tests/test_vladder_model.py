"""VLadder model: its typed config (presets, overrides, validation, the earlier get_config's migration), the
interface every family shares, parameter counts, shapes through every path, the objective against hand
computations, figures' pixel sizes, and the loss falling on real data."""

import inspect
import json
import zipfile

import numpy as np
import pytest
import tensorflow as tf

from hvae import models
from hvae.errors import ConfigError
from hvae.models import objectives
from hvae.models.base import HVAEModel
from hvae.models.vladder import PRESETS, VLadder, VLadderConfig, builtin_config, config_for_run, config_for_shape

# Counts derived by hand from the original layer lists (spec §3.4.4): trainable (BN beta only, every
# conv/dense with a bias, MNIST gates 2x1024), encoder part, and BN moving statistics.
EXPECTED = {
    "vladder_mnist": (25_907_853, 14_075_148, 38_016),
    "vladder_svhn": (18_499_381, 9_627_186, 72_448),
    "vladder_celebA": (51_586_387, 27_924_048, 215_296),
    "vladder_lsun": (54_382_027, 29_787_848, 215_296),
}


def count(variables):
    return sum(int(np.prod(v.shape)) for v in variables)


@pytest.fixture(scope="module")
def built():
    """Every preset's model, built once for the module."""
    return {name: VLadder(cfg).build_all() for name, cfg in PRESETS.items()}


@pytest.mark.parametrize("name", list(PRESETS))
def test_parameter_counts(built, name):
    model = built[name]
    trainable, encoder, bn_stats = EXPECTED[name]
    assert count(model.trainable_variables) == trainable
    assert count(v for part in list(model.ladders) + list(model.inferences) for v in part.trainable_variables) == encoder
    assert count(model.non_trainable_variables) == bn_stats


@pytest.mark.parametrize("name", list(PRESETS))
def test_shapes_through_every_path(built, name):
    model = built[name]
    cfg = PRESETS[name]
    assert model.config is cfg and model.name == name
    x = tf.random.uniform((3,) + cfg.image_shape, *model.value_range)
    posteriors = model.encode(x, training=False)
    assert [tuple(q.event_shape) for q in posteriors] == [(d,) for d in cfg.latent_dims]
    assert all(tuple(q.batch_shape) == (3,) for q in posteriors)
    # sigma = head + 0.001 > 0 everywhere
    assert all(float(tf.reduce_min(q.stddev())) >= 0.001 - 1e-7 for q in posteriors)
    for training in (True, False):
        out = model(x, training=training)
        assert out.shape == (3,) + cfg.image_shape
        lo, hi = model.value_range
        assert float(tf.reduce_min(out)) >= lo and float(tf.reduce_max(out)) <= hi
    assert model.decode_mean(model.prior_codes(5), training=False).shape == (5,) + cfg.image_shape
    terms = model.loss_terms(x, None, iteration=1)
    assert {"loss", "reconstruction", "regularization", "beta"} <= set(terms)
    assert [k for k in terms if k.startswith("kl/")] == [f"kl/layer{k}" for k in range(len(cfg.latent_dims))]


def test_original_top_heads_are_relu_and_fixed_are_not(built):
    original = built["vladder_celebA"]  # built with the default, top_heads="original"
    fixed = VLadder(PRESETS["vladder_celebA"].replace(top_heads="fixed")).build_all()
    assert original.ladders[3].mean.activation.__name__ == "relu"
    assert fixed.ladders[3].mean.activation.__name__ == "linear"
    assert fixed.ladders[3].scale.activation.__name__ == "sigmoid"
    assert count(original.trainable_variables) == count(fixed.trainable_variables)
    # the original's top mean can never be negative
    q = original.encode(tf.random.uniform((8, 64, 64, 3), -1, 1))[3]
    assert float(tf.reduce_min(q.mean())) >= 0.0


def test_configuration_choice():
    assert builtin_config("VLADDER_CELEBA").architecture == "vladder_celebA"
    assert builtin_config("my_run") is None
    assert config_for_shape((28, 28, 1)).architecture == "vladder_mnist"
    assert config_for_shape((32, 32, 3)).architecture == "vladder_svhn"
    assert config_for_shape((64, 64, 3)).architecture == "vladder_celebA"
    assert config_for_shape((64, 64, 3), "lsun").architecture == "vladder_lsun"
    assert config_for_shape((48, 48, 3)) is None


def test_run_configuration_from_the_netname_or_the_data():
    # any netname takes the layers of the data's shape; the value range is the data's; the flags override
    cfg = config_for_run("my_run", "cifar10", (32, 32, 3), (0, 1), reg="mmd", denoise=True, top_heads="fixed")
    assert cfg == PRESETS["vladder_svhn"].replace(reg="mmd", denoise=True, top_heads="fixed")
    assert config_for_run("vladder_digits", "digits", [28, 28, 1], [0.0, 1.0]) == PRESETS["vladder_mnist"]
    assert config_for_run("x", "lsun", (64, 64, 3), (-1, 1)) == PRESETS["vladder_lsun"]
    assert config_for_run("VLADDER_celeba", "folder", (64, 64, 3), (0, 1)) == PRESETS["vladder_celebA"].replace(
        value_range=(0.0, 1.0))
    with pytest.raises(ConfigError, match="vladder_svhn takes 32x32x3 images but dataset digits gives 28x28x1"):
        config_for_run("vladder_svhn", "digits", (28, 28, 1), (0, 1))
    with pytest.raises(ConfigError, match="VLadder has layers for 28x28x1, 32x32x3, 64x64x3 images; dataset "
                                          "folder gives 48x48x3"):
        config_for_run("run", "folder", (48, 48, 3), (0, 1))
    with pytest.raises(ValueError, match="no setting 'bogus'"):
        config_for_run("run", "digits", (28, 28, 1), (0, 1), bogus=1)


# --------------------------------------------------------------------------------------------------
# The typed config: presets, overrides, validation, serialisation and the earlier get_config
# --------------------------------------------------------------------------------------------------
# The presets as the earlier version's get_config wrote them (printed by the pinned copy of that code).
OLD_GET_CONFIG = {
    "vladder_mnist": {"config": {"netname": "vladder_mnist", "layers": "small", "latent_dims": [2, 2, 2],
                                 "loss_ratio": 8.0, "shape": [28, 28, 1], "figures": ["manifold"]},
                      "value_range": [0.0, 1.0], "reg": "kl", "denoise": False, "top_heads": "original",
                      "warmup_steps": 2000.0, "name": "vladder_mnist"},
    "vladder_svhn": {"config": {"netname": "vladder_svhn", "layers": "medium", "latent_dims": [5, 5, 5, 10],
                                "loss_ratio": 8.0, "shape": [32, 32, 3], "figures": ["conditional"]},
                     "value_range": [0.0, 1.0], "reg": "kl", "denoise": False, "top_heads": "original",
                     "warmup_steps": 2000.0, "name": "vladder_svhn"},
    "vladder_celebA": {"config": {"netname": "vladder_celebA", "layers": "large", "latent_dims": [10, 10, 10, 10],
                                  "loss_ratio": 0.5, "shape": [64, 64, 3], "figures": ["conditional", "samples"]},
                       "value_range": [-1.0, 1.0], "reg": "kl", "denoise": False, "top_heads": "original",
                       "warmup_steps": 2000.0, "name": "vladder_celebA"},
    "vladder_lsun": {"config": {"netname": "vladder_lsun", "layers": "large", "latent_dims": [20, 20, 20, 40],
                                "loss_ratio": 0.5, "shape": [64, 64, 3], "figures": ["conditional"]},
                     "value_range": [-1.0, 1.0], "reg": "kl", "denoise": False, "top_heads": "original",
                     "warmup_steps": 2000.0, "name": "vladder_lsun"},
}
# the earlier VLadder(CONFIGS["vladder_mnist"], reg="mmd", denoise=True, top_heads="fixed", warmup_steps=500,
# name="run").get_config()
OLD_CUSTOM = {"config": {"netname": "vladder_mnist", "layers": "small", "latent_dims": [2, 2, 2], "loss_ratio": 8.0,
                         "shape": [28, 28, 1], "figures": ["manifold"]},
              "value_range": [0.0, 1.0], "reg": "mmd", "denoise": True, "top_heads": "fixed", "warmup_steps": 500.0,
              "name": "run"}


def test_presets_are_registered_data():
    assert list(PRESETS) == ["vladder_mnist", "vladder_svhn", "vladder_celebA", "vladder_lsun"]
    assert [n for n in models.preset_names() if n.startswith("vladder")] == list(PRESETS)
    for name, cfg in PRESETS.items():
        assert isinstance(cfg, VLadderConfig) and models.preset(name) is cfg and cfg.architecture == name
        assert models.model_class(cfg) is VLadder
        assert cfg.value_range == ((-1.0, 1.0) if cfg.image_shape[0] == 64 else (0.0, 1.0))
    assert VLadderConfig() == PRESETS["vladder_mnist"]
    assert PRESETS["vladder_lsun"] == PRESETS["vladder_celebA"].replace(
        architecture="vladder_lsun", latent_dims=(20, 20, 20, 40), figures=("conditional",))


def test_from_preset_with_overrides():
    model = models.from_preset("vladder_mnist", reg="mmd", warmup_steps=100)
    assert type(model) is VLadder and model.built and model.name == "vladder_mnist"
    assert model.config == PRESETS["vladder_mnist"].replace(reg="mmd", warmup_steps=100.0)
    assert "mmd/layer0" in model.loss_terms(tf.zeros((2, 28, 28, 1)))
    same = VLadder.from_preset("vladder_mnist", denoise=True)
    assert same.config.denoise and same.count_parameters() == EXPECTED["vladder_mnist"][0]
    with pytest.raises(ValueError, match="VLadderConfig has no setting 'latent_dim'; its settings: architecture"):
        VLadder.from_preset("vladder_mnist", latent_dim=10)
    other = next((n for n in models.preset_names() if n not in PRESETS), None)  # another family's preset
    if other is not None:
        with pytest.raises(ValueError, match=f"preset '{other}' builds a .*, not a VLadder"):
            VLadder.from_preset(other)
    with pytest.raises(TypeError, match="VLadder takes a VLadderConfig"):
        VLadder({"layers": "small"})


@pytest.mark.parametrize("overrides, message", [
    ({"reg": "l2"}, "VLadderConfig.reg must be one of 'kl', 'mmd', not 'l2'"),
    ({"top_heads": "relu"}, "VLadderConfig.top_heads must be one of 'original', 'fixed'"),
    ({"layers": "huge"}, "VLadderConfig.layers must be one of 'small', 'medium', 'large'"),
    ({"latent_dims": (2, 2)}, "latent_dims must be 3 positive sizes for the small layers, not (2, 2)"),
    ({"latent_dims": (2, 0, 2)}, "latent_dims must be 3 positive sizes"),
    ({"layers": "medium"}, "latent_dims must be 4 positive sizes for the medium layers"),
    ({"image_shape": (32, 32, 3)}, "image_shape must be 28x28x1 for the small layers, not 32x32x3"),
    ({"value_range": (1, 0)}, "value_range must be (lo, hi) with lo < hi, not (1.0, 0.0)"),
    ({"value_range": (0, 1, 2)}, "value_range must be (lo, hi)"),
    ({"loss_ratio": 0}, "loss_ratio must be positive"),
    ({"warmup_steps": -1}, "warmup_steps must be positive"),
    ({"figures": ("movie",)}, "figures must be among manifold, conditional, samples, not 'movie'"),
    ({"latent_dims": "abc"}, "VLadderConfig.latent_dims cannot be 'abc'"),
])
def test_config_validation_is_one_line(overrides, message):
    with pytest.raises(ValueError) as info:
        PRESETS["vladder_mnist"].replace(**overrides)
    assert message in str(info.value) and "\n" not in str(info.value)


def test_config_normalises_json_values():
    cfg = VLadderConfig(latent_dims=[3, 3, 3], value_range=[0, 1], loss_ratio=4, warmup_steps=10)
    assert cfg.latent_dims == (3, 3, 3) and cfg.value_range == (0.0, 1.0) and cfg.loss_ratio == 4.0
    assert isinstance(cfg.value_range[0], float) and isinstance(cfg.warmup_steps, float)
    assert cfg.to_dict()["value_range"] == [0.0, 1.0]


@pytest.mark.parametrize("name", list(PRESETS))
def test_config_round_trips_through_json(name):
    cfg = PRESETS[name].replace(reg="mmd", denoise=True)
    d = json.loads(json.dumps(cfg.to_dict()))
    assert list(d) == list(VLadderConfig.field_names())
    assert VLadderConfig.from_dict(d) == cfg
    assert VLadder.migrate_config(d) == d  # a dict of today's fields is left alone


@pytest.mark.parametrize("name", list(PRESETS))
def test_migrate_config_of_the_earlier_get_config(name):
    old = dict(OLD_GET_CONFIG[name])
    old.pop("name")
    assert VLadderConfig.from_dict(VLadder.migrate_config(old)) == PRESETS[name]


def test_from_config_of_the_earlier_get_config():
    model = VLadder.from_config(OLD_CUSTOM)
    assert model.name == "run"
    assert model.config == PRESETS["vladder_mnist"].replace(reg="mmd", denoise=True, top_heads="fixed",
                                                            warmup_steps=500.0)
    assert model.get_config() == {**model.config.to_dict(), "name": "run"}
    again = VLadder.from_config(model.get_config())
    assert again.config == model.config and again.name == "run"


def test_a_keras_file_of_the_earlier_version_loads(built, tmp_path):
    """A ``.keras`` file whose config.json holds the earlier nested get_config loads, every weight with it."""
    model = built["vladder_mnist"]
    path = tmp_path / "new.keras"
    model.save(str(path))
    old = tmp_path / "old.keras"
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(old, "w") as dst:
        for item in src.infolist():
            data = src.read(item.filename)
            if item.filename == "config.json":
                saved = json.loads(data)
                assert saved["config"] == {**PRESETS["vladder_mnist"].to_dict(), "name": "vladder_mnist"}
                saved["config"] = OLD_GET_CONFIG["vladder_mnist"]
                data = json.dumps(saved).encode()
            dst.writestr(item, data)
    loaded = models.load_model(str(old))
    assert type(loaded) is VLadder and loaded.config == model.config and loaded.name == "vladder_mnist"
    x = tf.random.stateless_uniform((3, 28, 28, 1), seed=(3, 4))
    np.testing.assert_array_equal(loaded.reconstruct(x).numpy(), model.reconstruct(x).numpy())


def test_metric_names_and_summary_leave_every_weight_alone():
    """The base class's eager loss_terms calls (metric names, also during load_model of a compiled model; summary's
    shapes) do not move the Small z_0 embedding's moving averages, which it otherwise updates in every mode."""
    model = VLadder(PRESETS["vladder_mnist"]).build_all()
    before = [v.numpy().copy() for v in model.variables]
    assert {"loss", "kl/layer0", "beta"} <= {m.name for m in model.metrics}
    model.summary(print_fn=lambda *args, **kwargs: None)
    for value, v in zip(before, model.variables, strict=True):
        np.testing.assert_array_equal(value, v.numpy(), err_msg=v.path)


# --------------------------------------------------------------------------------------------------
# The interface every family shares
# --------------------------------------------------------------------------------------------------
def test_interface_signatures_are_the_families():
    for method in ("encode", "decode", "sample", "reconstruct", "loss_terms"):
        ours = inspect.signature(getattr(VLadder, method)).parameters
        base = inspect.signature(getattr(HVAEModel, method)).parameters
        assert list(ours)[:len(base)] == list(base), method
        for key in base:
            assert ours[key].default == base[key].default and ours[key].kind == base[key].kind, (method, key)
        extras = list(ours)[len(base):]
        assert all(ours[k].kind is inspect.Parameter.KEYWORD_ONLY for k in extras), (method, extras)
    assert inspect.signature(VLadder.__init__).parameters["config"].default is None


def test_interface_on_a_model(built):
    model = built["vladder_svhn"]
    x = tf.random.stateless_uniform((3, 32, 32, 3), seed=(5, 6))
    labels = tf.constant([1, 2, 3])  # ignored: VLadder is unsupervised
    posteriors = model.encode(x, labels, False)
    assert [tuple(q.event_shape) for q in posteriors] == [(5,), (5,), (5,), (10,)]
    p = model.decode([q.mean() for q in posteriors], labels)
    assert tuple(p.event_shape) == (32, 32, 3) and tuple(p.batch_shape) == (3,) and p.log_prob(x).shape == (3,)
    np.testing.assert_allclose(model.reconstruct(x, labels).numpy(), p.mean().numpy(), atol=1e-6)
    np.testing.assert_array_equal(model.reconstruct(x).numpy(), model.reconstruct(x).numpy())  # deterministic
    assert model.reconstruct(x, sample=True).shape == (3, 32, 32, 3)
    images = model.sample(4, None, seed=7)
    assert images.shape == (4, 32, 32, 3)
    assert float(tf.reduce_min(images)) >= 0.0 and float(tf.reduce_max(images)) <= 1.0
    examples, example_labels = model.example_inputs(2)
    assert examples.shape == (2, 32, 32, 3) and example_labels is None


# --------------------------------------------------------------------------------------------------
# The objective against hand computations
# --------------------------------------------------------------------------------------------------
def test_kl_matches_closed_form():
    rng = np.random.RandomState(0)
    mu = rng.randn(4, 3).astype("float32")
    sigma = rng.uniform(0.1, 2.0, (4, 3)).astype("float32")
    got = objectives.kl_to_standard_normal(objectives.diagonal_normal(mu, sigma)).numpy()
    # the original's regulariser: sum_d [-log s + s^2/2 + m^2/2 - 1/2]
    want = np.sum(-np.log(sigma) + 0.5 * sigma ** 2 + 0.5 * mu ** 2 - 0.5, axis=1)
    np.testing.assert_allclose(got, want, rtol=1e-5)


def test_scaled_l1_equals_original_reconstruction_loss():
    rng = np.random.RandomState(1)
    x = rng.uniform(size=(5, 28, 28, 1)).astype("float32")
    x_hat = rng.uniform(size=(5, 28, 28, 1)).astype("float32")
    loss_ratio = 8.0
    lik = objectives.laplace_likelihood(tf.constant(x_hat), 1.0 / loss_ratio)
    got = objectives.scaled_l1_from_laplace(lik, tf.constant(x)).numpy()
    # original: mean(|x_hat - x|) * loss_ratio * H*W*C, i.e. loss_ratio * per-example sum, batch mean
    np.testing.assert_allclose(got.mean(), np.mean(np.abs(x_hat - x)) * loss_ratio * 784, rtol=1e-5)
    np.testing.assert_allclose(got, loss_ratio * np.abs(x_hat - x).reshape(5, -1).sum(1), rtol=1e-5)


def test_mmd_matches_numpy_and_original_kernel():
    rng = np.random.RandomState(2)
    a = rng.randn(6, 5).astype("float32")
    b = rng.randn(7, 5).astype("float32") + 1.0
    d = 5

    def k(x, y):  # the original compute_kernel: exp(-mean_d (x - y)^2 / d)
        return np.exp(-np.mean((x[:, None] - y[None]) ** 2, axis=2) / d)

    want = k(a, a).mean() + k(b, b).mean() - 2 * k(a, b).mean()
    np.testing.assert_allclose(objectives.mmd(a, b, bandwidth=d * d).numpy(), want, rtol=1e-5)
    assert objectives.mmd(a, a, bandwidth=d).numpy() == pytest.approx(0.0, abs=1e-6)


def test_warmup_schedule():
    assert objectives.kl_warmup(1) == pytest.approx(1 - np.exp(-1 / 2000))
    assert objectives.kl_warmup(2000) == pytest.approx(0.632, abs=1e-3)
    assert objectives.kl_warmup(10000) == pytest.approx(0.993, abs=1e-3)
    assert float(objectives.kl_warmup(tf.constant(2000, tf.int64))) == pytest.approx(0.632, abs=1e-3)


def test_loss_terms_compose_as_the_original(built):
    model = built["vladder_mnist"]
    x = tf.random.uniform((4, 28, 28, 1))
    tf.random.set_seed(3)
    terms = model.loss_terms(x, None, iteration=500)
    kl = sum(float(terms[f"kl/layer{k}"]) for k in range(3))
    beta = 1 - np.exp(-500 / 2000)
    assert float(terms["beta"]) == pytest.approx(beta, rel=1e-5)
    assert float(terms["regularization"]) == pytest.approx(kl, rel=1e-5)
    assert float(terms["loss"]) == pytest.approx(beta * kl + float(terms["reconstruction"]), rel=1e-5)


def test_mmd_objective_weights():
    model = VLadder(PRESETS["vladder_mnist"].replace(reg="mmd")).build_all()
    x = tf.random.uniform((6, 28, 28, 1))
    terms = model.loss_terms(x, None, iteration=1)
    mmds = [float(terms[f"mmd/layer{k}"]) for k in range(3)]
    assert "beta" not in terms and all(m >= -1e-6 for m in mmds)
    assert float(terms["regularization"]) == pytest.approx(100 * sum(mmds), rel=1e-5)
    assert float(terms["loss"]) == pytest.approx(float(terms["regularization"]) + float(terms["reconstruction"]),
                                                 rel=1e-5)
    with pytest.raises(ValueError):
        PRESETS["vladder_mnist"].replace(reg="l2")


def test_denoising_corruption_statistics():
    model = VLadder(PRESETS["vladder_mnist"].replace(denoise=True))
    x = tf.fill((20, 28, 28, 1), 0.5)
    noisy = model.corrupt(x).numpy()
    assert noisy.min() >= 0.0 and noisy.max() <= 1.0
    # ~10% pepper (0.5 -> ~0) and ~10% salt (+1 -> clipped at 1)
    assert 0.06 < np.mean(noisy < 0.2) < 0.14
    assert 0.06 < np.mean(noisy > 0.95) < 0.16
    assert np.array_equal(VLadder(PRESETS["vladder_mnist"]).corrupt(x).numpy(), x.numpy())


# --------------------------------------------------------------------------------------------------
# Figures
# --------------------------------------------------------------------------------------------------
def test_manifold_grid_layout(built):
    model = built["vladder_mnist"]
    images = model.manifold_samples(1, num_rows=30, seed=4)
    assert images.shape == (900, 28, 28, 1)
    with pytest.raises(ValueError):
        built["vladder_svhn"].manifold_samples(0)


def test_conditional_samples_keep_other_layers_fixed(built):
    model = built["vladder_svhn"]
    fixed = [c[0] for c in model.prior_codes(1)]
    a = model.conditional_samples(3, fixed, n=10, seed=5)
    assert a.shape == (10, 32, 32, 3)
    # varying only the top layer changes the images, and the samples differ from one another
    assert np.std(a, axis=0).mean() > 0


def test_figure_canvases_have_the_original_pixel_sizes(built, tmp_path):
    from hvae.figures import read_png
    from hvae.runs import ResolvedRun
    from hvae.vladder_task import FAMILY, VLadderTask

    sizes = {}
    for name, kinds in (("vladder_mnist", {"manifold_samples": (840, 2560, 1)}),
                        ("vladder_svhn", {"conditional_samples": (320, 1340, 3)}),
                        ("vladder_celebA", {"conditional_samples": (640, 2620, 3), "samples": (640, 640, 3)})):
        task = VLadderTask(ResolvedRun.from_flat({"model": "vladder", "run_dir": str(tmp_path / name),
                                                  "batch_size": 100, "vis_frequency": 1000, "netname": name,
                                                  "plot_reconstruction": True}, FAMILY), None)
        task.model, task.arch, task.display_range = built[name], PRESETS[name], built[name].value_range
        clean = np.zeros((3,) + PRESETS[name].image_shape, np.float32)
        task.reconstruction_batch = (clean, clean, clean)  # the monitoring pass's first batch
        drawn = task.draw_figures(1, "validation")
        canvases = {folder: fig.canvas for folder, fig in drawn.items()}
        for folder, shape in kinds.items():
            assert canvases[folder].shape == shape
        h, w, c = PRESETS[name].image_shape
        assert canvases["reconstruction"].shape == (3 * h, 3 * w + 20, c)
        written = task.write_figures(drawn, 1, 2)  # a monitoring pass numbered 2: current.png and epoch2.png
        assert len(written) == 3 * len(canvases)  # current, epoch2 and the labelled version of each
        for folder in canvases:
            assert str(tmp_path / name / folder / "current_labelled.png") in written
            for png in ("current.png", "epoch2.png"):
                img = read_png(str(tmp_path / name / folder / png))
                sizes[(name, folder)] = img.shape
                assert img.shape[:2] == canvases[folder].shape[:2]
    assert sizes[("vladder_mnist", "manifold_samples")] == (840, 2560, 1)


# --------------------------------------------------------------------------------------------------
# Learning on real data
# --------------------------------------------------------------------------------------------------
def _train_steps(model, batches, steps):
    import keras

    opt = keras.optimizers.Adam(2e-4, epsilon=1e-8)

    @tf.function
    def step(x, t):
        with tf.GradientTape() as tape:
            terms = model.loss_terms(x, None, t)
        grads = tape.gradient(terms["loss"], model.trainable_variables)
        opt.apply_gradients(zip(grads, model.trainable_variables))
        return terms["reconstruction"]

    return [float(step(x, tf.constant(i + 1, tf.int64))) for i, x in zip(range(steps), batches)]


def _mean(values):
    return float(np.mean(values))


def test_reconstruction_falls_on_digits():
    import keras

    from hvae import datasets

    keras.utils.set_random_seed(0)   # the weights too, not only TensorFlow's draws: the same run in any test order
    data = datasets.load("digits")
    model = VLadder(PRESETS["vladder_mnist"]).build_all()
    batches = data.batches("train", 50, shuffle=True, seed=0, drop_remainder=True, with_labels=False).repeat()
    losses = _train_steps(model, iter(batches), 40)
    assert _mean(losses[-8:]) < 0.6 * _mean(losses[:4])


def test_reconstruction_falls_on_binarized_mnist(shared_data):
    from conftest import shared_subdir

    from hvae import datasets

    data = datasets.load("binarized_mnist", str(shared_subdir(shared_data, "binarized_mnist")))
    tf.random.set_seed(0)
    model = VLadder(PRESETS["vladder_mnist"]).build_all()
    batches = data.batches("train", 50, shuffle=True, seed=0, drop_remainder=True, with_labels=False)
    losses = _train_steps(model, iter(batches), 40)
    # measured: 3311 -> 2327 (x0.70) over 40 steps; binary targets fall more slowly under L1 than digits do
    assert _mean(losses[-8:]) < 0.8 * _mean(losses[:4])
