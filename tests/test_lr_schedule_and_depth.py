"""The Laplace family's ``hidden_layers`` (Rezende & Mohamed's one-hidden-layer VAE as pythae reproduces it) and the
common learning-rate schedule ``--lr_milestones`` / ``--lr_decay`` (torch's MultiStepLR, stepped once per epoch,
as ``keras.optimizers.schedules.PiecewiseConstantDecay`` of the optimizer's step).

Real shapes where they are cheap (the 784-400-40 network is built, not trained); the command line in this process
on scikit-learn's digits (real data, no download).
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import tensorflow as tf
from conftest import one_line_error, run_cli

from hvae.models import laplace_vae as lv

# pythae's examples/scripts/reproducibility/vae.py: nn.Linear(784, 400), nn.Linear(400, 40) twice (embedding and
# log_var), nn.Linear(40, 400), nn.Linear(400, 784)
PYTHAE_VAE_PARAMETERS = (784 * 400 + 400) + (400 * 40 * 2 + 80) + (40 * 400 + 400) + (400 * 784 + 784)
PYTHAE_GAMMA = 10 ** (-1 / 5)


def _pythae_vae():
    from hvae import models

    return models.from_preset("VLAE_VAE_binarized_mnist", hidden_dim=400, z_dim=40, hidden_layers=1)


# --------------------------------------------------------------------------------------------------
# hidden_layers
# --------------------------------------------------------------------------------------------------
def test_one_hidden_layer_is_pythaes_vae():
    model = _pythae_vae()
    assert model.count_parameters() == PYTHAE_VAE_PARAMETERS == 676_864
    shapes = {v.path: tuple(v.shape) for v in model.trainable_variables}
    assert shapes == {
        "encoder/hidden0/kernel": (784, 400), "encoder/hidden0/bias": (400,),
        "encoder/mean/kernel": (400, 40), "encoder/mean/bias": (40,),
        "encoder/log_var/kernel": (400, 40), "encoder/log_var/bias": (40,),
        "decoder/hidden0/kernel": (40, 400), "decoder/hidden0/bias": (400,),
        "decoder/out/kernel": (400, 784), "decoder/out/bias": (784,)}
    assert "hidden 400 x 1 layer;" in model.describe()
    x = (np.random.RandomState(0).rand(3, 28, 28, 1) < 0.3).astype(np.float32)
    terms = model.loss_terms(x)
    assert np.isfinite(float(terms["loss"])) and float(terms["loss"]) > 0


def test_the_default_depth_keeps_the_originals_network_and_variable_paths():
    from hvae import models

    model = models.from_preset("VLAE_VAE_binarized_mnist")
    assert model.config.hidden_layers == 2 and model.count_parameters() == 1_361_884   # docs/laplace.md
    assert [v.path for v in model.trainable_variables][:4] == [
        "encoder/hidden0/kernel", "encoder/hidden0/bias", "encoder/hidden1/kernel", "encoder/hidden1/bias"]
    assert "hidden 500;" in model.describe()
    # a config dict written before the field existed loads with the original's two layers
    old = {k: v for k, v in model.config.to_dict().items() if k != "hidden_layers"}
    assert lv.LaplaceConfig(**old).hidden_layers == 2


@pytest.mark.parametrize("depth", [1, 3])
def test_vlae_jacobian_by_relu_masks_at_other_depths(depth):
    import keras

    keras.utils.set_random_seed(3)
    model = lv.VLAE(lv.VLAEConfig(image_shape=(4, 4, 1), z_dim=3, hidden_dim=8, hidden_layers=depth,
                                  output_dist="bernoulli", binarize=False)).build_all()
    z = tf.constant(np.random.RandomState(1).randn(5, 3).astype(np.float32))
    a, jt = model.decoder.call_with_jacobian(z)
    with tf.GradientTape() as tape:
        tape.watch(z)
        out = model.decoder(z)
    expected = tf.transpose(tape.batch_jacobian(out, z), [0, 2, 1])            # (B, Z, D)
    np.testing.assert_allclose(a.numpy(), out.numpy(), rtol=1e-6)
    np.testing.assert_allclose(jt.numpy(), expected.numpy(), rtol=1e-5, atol=1e-6)


def test_torch_default_initialisation_is_nn_linears():
    """``init='torch_default'``: every kernel U(+-1/sqrt(fan_in)) (PyTorch's ``nn.Linear`` default, pythae's); the
    default keeps the original's Kaiming-uniform fan-out bound sqrt(6 / ((1 + 2^(2/3)) fan_out))."""
    import keras

    keras.utils.set_random_seed(0)
    torch_like = _pythae_vae().__class__(_pythae_vae().config.replace(init="torch_default")).build_all()
    original = _pythae_vae()
    assert "torch_default init" in torch_like.describe() and "init" not in original.describe()
    for layer in ("hidden0", "mean", "log_var"):
        for model, bound in ((torch_like, lambda i, o: 1 / np.sqrt(i)),
                             (original, lambda i, o: np.sqrt(6 / ((1 + 2 ** (2 / 3)) * o)))):
            kernel = getattr(model.encoder, layer).kernel.numpy()
            b = bound(*kernel.shape)
            assert np.abs(kernel).max() <= b and np.abs(kernel).max() > 0.99 * b, (layer, model.config.init)
            assert abs(kernel.std() - b / np.sqrt(3)) < 0.05 * b, (layer, model.config.init)
    for layer in (torch_like.decoder.hidden0, torch_like.decoder.out):
        assert np.abs(layer.kernel.numpy()).max() == pytest.approx(1 / np.sqrt(layer.kernel.shape[0]), rel=1e-3)
    with pytest.raises(ValueError, match="init"):
        lv.LaplaceConfig(init="xavier")


def test_hidden_layers_is_checked():
    with pytest.raises(ValueError, match="hidden_layers must be an integer >= 1, got 0"):
        lv.LaplaceConfig(hidden_layers=0)
    with pytest.raises(ValueError, match="hidden_layers must be an integer >= 1"):
        lv.LaplaceConfig(hidden_layers=1.5)


# --------------------------------------------------------------------------------------------------
# the learning-rate schedule
# --------------------------------------------------------------------------------------------------
def test_schedule_steps_are_multisteplr_stepped_per_epoch():
    import keras

    from hvae.runs import learning_rate_steps

    boundaries, values = learning_rate_steps(1e-4, [200, 350, 500, 750, 1000], PYTHAE_GAMMA, 500)
    assert boundaries == [99_999, 174_999, 249_999, 374_999, 499_999]
    np.testing.assert_allclose(values, [1e-4 * PYTHAE_GAMMA ** i for i in range(6)], rtol=1e-12)
    schedule = keras.optimizers.schedules.PiecewiseConstantDecay(boundaries, values)
    # step t (0-based) is the (t+1)-th step: epoch 200 is steps 99,500 .. 99,999, epoch 201 starts at 100,000
    for step, rate in [(0, 1e-4), (99_999, 1e-4), (100_000, 1e-4 * PYTHAE_GAMMA), (174_999, 1e-4 * PYTHAE_GAMMA),
                       (175_000, 1e-4 * PYTHAE_GAMMA ** 2), (249_999, 1e-4 * PYTHAE_GAMMA ** 2)]:
        assert float(schedule(step)) == pytest.approx(rate, rel=1e-6), step
    assert learning_rate_steps(0.5, [2], None, 10) == ([19], [0.5, 0.05])     # default decay: MultiStepLR's 0.1


def test_the_optimizer_step_uses_the_rate_of_its_own_iteration():
    """An Adam step at optimizer step t moves a weight by the schedule's rate at t (fresh moments make the move
    proportional to the rate; the bias corrections at t ~ 1e5 are equal to float precision)."""
    import keras

    from hvae.optimizers import FusedAdam

    schedule = keras.optimizers.schedules.PiecewiseConstantDecay([99_999], [1e-4, 1e-4 * PYTHAE_GAMMA])
    moves = {}
    for start in (99_998, 99_999, 100_000):
        w = tf.Variable([0.0, 0.0])   # from 0 the float32 move keeps its precision
        opt = FusedAdam(schedule, beta_1=0.9, beta_2=0.999, epsilon=1e-8)
        opt.build([w])
        opt.iterations.assign(start)
        assert float(opt.learning_rate) == pytest.approx(1e-4 if start < 100_000 else 1e-4 * PYTHAE_GAMMA)
        opt.apply_gradients([(tf.constant([0.5, -0.25]), w)])
        assert int(opt.iterations.numpy()) == start + 1
        moves[start] = np.abs(w.numpy())
    np.testing.assert_allclose(moves[99_999], moves[99_998], rtol=1e-4)
    np.testing.assert_allclose(moves[100_000] / moves[99_999], PYTHAE_GAMMA, rtol=1e-4)


def test_cli_schedule_is_recorded_resumed_and_checked(tmp_path, capsys, monkeypatch):
    """digits (batch 64: 20 steps an epoch), milestones after epochs 1 and 2 with decay 0.5:
    config.json records the schedule; a resumed run restores the optimizer's step and continues at the rate of that
    step; evaluate builds the same optimizer; bad values are one line each."""
    monkeypatch.chdir(tmp_path)
    base = ["VLAE_VAE", "train", "--dataset=digits", "--output_dist=bernoulli", "--z_dim=4", "--hidden_dim=16",
            "--hidden_layers=1", "--init=torch_default", "--batch_size=64", "--learning_rate=1e-3", "--seed=1"]
    common = base + ["--lr_milestones=1,2", "--lr_decay=0.5", "--netname=sched"]
    status, out, err = run_cli(common + ["--max_iterations=15"], capsys)
    assert status == 0, err
    assert "hidden 16 x 1 layer" in out
    assert "learning rate 0.001 at optimizer step 0; x 0.5 after epochs 1, 2 (steps 20, 40)" in out
    config = json.loads((tmp_path / "model" / "sched" / "config.json").read_text())
    assert config["run"]["lr_milestones"] == [1, 2] and config["run"]["lr_decay"] == 0.5
    assert config["derived"]["lr_boundaries"] == [19, 39]
    assert config["derived"]["lr_values"] == pytest.approx([1e-3, 5e-4, 2.5e-4])
    assert config["model"]["hidden_layers"] == 1 and config["model"]["init"] == "torch_default"

    status, out, err = run_cli(common + ["--max_iterations=30"], capsys)          # resume inside epoch 1
    assert status == 0, err
    assert "resumed from" in out and "learning rate 0.001 at optimizer step 15;" in out
    status, out, err = run_cli(common + ["--max_iterations=50"], capsys)          # resume inside epoch 2
    assert status == 0, err
    assert "learning rate 0.0005 at optimizer step 30;" in out and "done at iteration 50" in out
    status, out, err = run_cli(common + ["--max_iterations=60"], capsys)          # resume inside epoch 3
    assert status == 0, err
    assert "learning rate 0.00025 at optimizer step 50;" in out

    from hvae import load_run

    run = load_run("model/sched")
    assert run.iteration == 60
    status, out, err = run_cli(["VLAE_VAE", "evaluate", "--netname=sched", "--iw_samples=5", "--num_images=20"],
                             capsys)
    assert status == 0, err

    bad = [
        (base + ["--lr_milestones=2,1", "--netname=x"], "--lr_milestones must be increasing positive epochs"),
        (base + ["--lr_milestones=0", "--netname=x"], "--lr_milestones must be increasing positive epochs"),
        (base + ["--lr_milestones=a,b", "--netname=x"], "expected epochs separated by commas"),
        (base + ["--lr_decay=0.5", "--netname=x"], "--lr_decay 0.5 needs --lr_milestones"),
        (base + ["--lr_milestones=1", "--lr_decay=0", "--netname=x"], "--lr_decay must be positive"),
        (base + ["--lr_milestones=1,3", "--lr_decay=0.5", "--netname=sched"],
         "--lr_milestones=1,2 but this run asks for --lr_milestones=1,3"),
        (common + ["--hidden_layers=2"], "--hidden_layers=1 but this run asks for --hidden_layers=2"),
        (["VLAE_VAE", "train", "--dataset=digits", "--hidden_layers=0", "--netname=x"],
         "argument --hidden_layers: must be at least 1, got 0"),
        (common + ["--init=original"], "--init=torch_default but this run asks for --init=original"),
        (["VLAE_VAE", "train", "--dataset=digits", "--init=xavier", "--netname=x"], "invalid choice: 'xavier'"),
    ]
    for argv, expected in bad:
        status, _, err = run_cli(argv, capsys)
        assert expected in one_line_error(status, err, exit_code=None), (argv, err)
