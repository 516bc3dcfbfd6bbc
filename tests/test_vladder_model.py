"""VLadder model: parameter counts, shapes through every path, the objective against hand computations,
figures' pixel sizes, and the loss falling on real data."""

import numpy as np
import pytest
import tensorflow as tf

from models import objectives
from models.vladder import CONFIGS, VLadder, builtin_config, config_for_shape

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
def models():
    return {name: VLadder(cfg, value_range=(-1, 1) if cfg.shape[0] == 64 else (0, 1)).build_all()
            for name, cfg in CONFIGS.items()}


@pytest.mark.parametrize("name", list(CONFIGS))
def test_parameter_counts(models, name):
    model = models[name]
    trainable, encoder, bn_stats = EXPECTED[name]
    assert count(model.trainable_variables) == trainable
    assert count(v for part in list(model.ladders) + list(model.inferences) for v in part.trainable_variables) == encoder
    assert count(model.non_trainable_variables) == bn_stats


@pytest.mark.parametrize("name", list(CONFIGS))
def test_shapes_through_every_path(models, name):
    model = models[name]
    cfg = CONFIGS[name]
    x = tf.random.uniform((3,) + cfg.shape, *model.value_range)
    posteriors = model.encode(x, training=False)
    assert [tuple(q.event_shape) for q in posteriors] == [(d,) for d in cfg.latent_dims]
    assert all(tuple(q.batch_shape) == (3,) for q in posteriors)
    # sigma = head + 0.001 > 0 everywhere
    assert all(float(tf.reduce_min(q.stddev())) >= 0.001 - 1e-7 for q in posteriors)
    for training in (True, False):
        out = model(x, training=training)
        assert out.shape == (3,) + cfg.shape
        lo, hi = model.value_range
        assert float(tf.reduce_min(out)) >= lo and float(tf.reduce_max(out)) <= hi
    assert model.decode_mean(model.prior_codes(5), training=False).shape == (5,) + cfg.shape
    terms = model.loss_terms(x, None, iteration=1)
    assert {"loss", "reconstruction", "regularization", "beta"} <= set(terms)
    assert [k for k in terms if k.startswith("kl/")] == [f"kl/layer{k}" for k in range(len(cfg.latent_dims))]


def test_original_top_heads_are_relu_and_fixed_are_not(models):
    cfg = CONFIGS["vladder_celebA"]
    original = models["vladder_celebA"]  # built with the default, top_heads="original"
    fixed = VLadder(cfg, value_range=(-1, 1), top_heads="fixed").build_all()
    assert original.ladders[3].mean.activation.__name__ == "relu"
    assert fixed.ladders[3].mean.activation.__name__ == "linear"
    assert fixed.ladders[3].scale.activation.__name__ == "sigmoid"
    assert count(original.trainable_variables) == count(fixed.trainable_variables)
    # the original's top mean can never be negative
    q = original.encode(tf.random.uniform((8, 64, 64, 3), -1, 1))[3]
    assert float(tf.reduce_min(q.mean())) >= 0.0


def test_configuration_choice():
    assert builtin_config("VLADDER_CELEBA").netname == "vladder_celebA"
    assert builtin_config("my_run") is None
    assert config_for_shape((28, 28, 1)).netname == "vladder_mnist"
    assert config_for_shape((32, 32, 3)).netname == "vladder_svhn"
    assert config_for_shape((64, 64, 3)).netname == "vladder_celebA"
    assert config_for_shape((64, 64, 3), "lsun").netname == "vladder_lsun"
    assert config_for_shape((48, 48, 3)) is None


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


def test_loss_terms_compose_as_the_original(models):
    model = models["vladder_mnist"]
    x = tf.random.uniform((4, 28, 28, 1))
    tf.random.set_seed(3)
    terms = model.loss_terms(x, None, iteration=500)
    kl = sum(float(terms[f"kl/layer{k}"]) for k in range(3))
    beta = 1 - np.exp(-500 / 2000)
    assert float(terms["beta"]) == pytest.approx(beta, rel=1e-5)
    assert float(terms["regularization"]) == pytest.approx(kl, rel=1e-5)
    assert float(terms["loss"]) == pytest.approx(beta * kl + float(terms["reconstruction"]), rel=1e-5)


def test_mmd_objective_weights():
    model = VLadder(CONFIGS["vladder_mnist"], reg="mmd").build_all()
    x = tf.random.uniform((6, 28, 28, 1))
    terms = model.loss_terms(x, None, iteration=1)
    mmds = [float(terms[f"mmd/layer{k}"]) for k in range(3)]
    assert "beta" not in terms and all(m >= -1e-6 for m in mmds)
    assert float(terms["regularization"]) == pytest.approx(100 * sum(mmds), rel=1e-5)
    assert float(terms["loss"]) == pytest.approx(float(terms["regularization"]) + float(terms["reconstruction"]),
                                                 rel=1e-5)
    with pytest.raises(ValueError):
        VLadder(CONFIGS["vladder_mnist"], reg="l2")


def test_denoising_corruption_statistics():
    model = VLadder(CONFIGS["vladder_mnist"], denoise=True)
    x = tf.fill((20, 28, 28, 1), 0.5)
    noisy = model.corrupt(x).numpy()
    assert noisy.min() >= 0.0 and noisy.max() <= 1.0
    # ~10% pepper (0.5 -> ~0) and ~10% salt (+1 -> clipped at 1)
    assert 0.06 < np.mean(noisy < 0.2) < 0.14
    assert 0.06 < np.mean(noisy > 0.95) < 0.16
    assert np.array_equal(VLadder(CONFIGS["vladder_mnist"]).corrupt(x).numpy(), x.numpy())


# --------------------------------------------------------------------------------------------------
# Figures
# --------------------------------------------------------------------------------------------------
def test_manifold_grid_layout(models):
    model = models["vladder_mnist"]
    images = model.manifold_samples(1, num_rows=30, seed=4)
    assert images.shape == (900, 28, 28, 1)
    with pytest.raises(ValueError):
        models["vladder_svhn"].manifold_samples(0)


def test_conditional_samples_keep_other_layers_fixed(models):
    model = models["vladder_svhn"]
    fixed = [c[0] for c in model.prior_codes(1)]
    a = model.conditional_samples(3, fixed, n=10, seed=5)
    assert a.shape == (10, 32, 32, 3)
    # varying only the top layer changes the images, and the samples differ from one another
    assert np.std(a, axis=0).mean() > 0


def test_figure_canvases_have_the_original_pixel_sizes(models, tmp_path):
    from hvae.vladder_task import VLadderTask

    sizes = {}
    for name, kinds in (("vladder_mnist", {"manifold_samples": (840, 2560, 1)}),
                        ("vladder_svhn", {"conditional_samples": (320, 1340, 3)}),
                        ("vladder_celebA", {"conditional_samples": (640, 2620, 3), "samples": (640, 640, 3)})):
        task = VLadderTask({"run_dir": str(tmp_path / name), "batch_size": 100, "vis_frequency": 1000,
                            "netname": name}, None)
        task.model, task.arch, task.display_range = models[name], CONFIGS[name], models[name].value_range
        clean = np.zeros((3,) + CONFIGS[name].shape, np.float32)
        canvases = task.figures((clean, clean, clean))
        for folder, shape in kinds.items():
            assert canvases[folder].shape == shape
        h, w, c = CONFIGS[name].shape
        assert canvases["reconstruction"].shape == (3 * h, 3 * w + 20, c)
        written = task.write_figures(task.figure_panels((clean, clean, clean)), ["current.png", "epoch2.png"], 1)
        assert len(written) == 3 * len(canvases)  # current, epoch2 and the labelled version of each
        for folder in canvases:
            from hvae.figures import read_png

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
    import datasets

    tf.random.set_seed(0)
    data = datasets.load("digits")
    model = VLadder(CONFIGS["vladder_mnist"]).build_all()
    batches = data.batches("train", 50, shuffle=True, seed=0, drop_remainder=True, with_labels=False).repeat()
    losses = _train_steps(model, iter(batches), 40)
    assert _mean(losses[-8:]) < 0.6 * _mean(losses[:4])


def test_reconstruction_falls_on_binarized_mnist(shared_data):
    from conftest import shared_subdir

    import datasets

    data = datasets.load("binarized_mnist", str(shared_subdir(shared_data, "binarized_mnist")))
    tf.random.set_seed(0)
    model = VLadder(CONFIGS["vladder_mnist"]).build_all()
    batches = data.batches("train", 50, shuffle=True, seed=0, drop_remainder=True, with_labels=False)
    losses = _train_steps(model, iter(batches), 40)
    # measured: 3311 -> 2327 (x0.70) over 40 steps; binary targets fall more slowly under L1 than digits do
    assert _mean(losses[-8:]) < 0.8 * _mean(losses[:4])
