"""VLadder from the command line, as a user runs it: outputs, resume, generate, signals, two devices,
and every bad input ending in one line and a non-zero exit.

Runs use the real vladder_mnist architecture on the bundled ``digits`` data with small batches. Most
runs call ``hvae.cli.main`` in-process (TensorFlow is imported once); the ones that need a fresh
process (signals, logical devices) use ``subprocess``.
"""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import one_line_error, run_cli

from hvae.figures import read_png
from hvae.runs import load_config_json

ROOT = Path(__file__).resolve().parents[1]
FAST = ["--dataset=digits", "--batch_size=16", "--log_frequency=5", "--seed=0"]


def _steps(event_file, tag):
    """The TensorBoard steps at which ``tag`` was written."""
    import tensorflow as tf

    return sorted(e.step for e in tf.compat.v1.train.summary_iterator(str(event_file))
                  for v in e.summary.value if v.tag == tag)


def test_train_writes_outputs_resumes_and_generates(in_tmp, capsys):
    argv = FAST + ["--max_iterations=12", "--vis_frequency=10", "--checkpoint_frequency=5", "--plot_reconstruction"]
    code, out, err = run_cli(argv, capsys)
    assert code == 0, err
    run = in_tmp / "model" / "vladder_digits"
    config = load_config_json(str(run))  # the settings and what config.json records, flat
    assert config["architecture"] == "vladder_mnist" and config["dataset"] == "digits"
    assert config["batch_size"] == 16 and config["model_config"]["reg"] == "kl" and config["latent_dims"] == [2, 2, 2]
    # One numbering everywhere: iteration = training steps completed (console, figures, TensorBoard, checkpoints)
    for line in ("iteration 1/12 |", "iteration 5/12 |", "iteration 10/12 |",
                 "Reconstruction error @1 per pixel (validation)", "Reconstruction error @10 per pixel (validation)"):
        assert line in out
    assert "iteration 0/" not in out
    assert "images/s" in out and "kl/layer2" in out and "beta" in out
    ckpts = sorted(p.name for p in run.glob("ckpt-*.index"))
    assert ckpts == ["ckpt-10.index", "ckpt-12.index"]  # every 5 iterations, keeping the newest two, + the end
    assert "Reconstruction error @12 per pixel (validation)" in out  # the run ends between visualisation points
    assert "Reconstruction error @12 per pixel (test)" in out  # the test split, once, at the end
    # epoch<k>.png with k = iteration // vis_frequency; the end between points: iteration<N>.png
    for folder in ("manifold_samples", "reconstruction"):
        names = sorted(p.name for p in (run / folder).glob("*.png"))
        assert names == ["current.png", "current_labelled.png", "epoch0.png", "epoch1.png", "iteration12.png"], names
    assert "figures in model/vladder_digits/: manifold_samples/current.png, manifold_samples/epoch1.png" in out
    assert read_png(str(run / "manifold_samples" / "current.png")).shape == (840, 2560, 1)
    assert read_png(str(run / "reconstruction" / "current.png")).shape == (84, 104, 1)
    labelled = read_png(str(run / "manifold_samples" / "current_labelled.png"))
    assert labelled.shape[2] == 3 and labelled.shape[1] > 3 * labelled.shape[0] // 2  # three titled panels
    events = list(run.glob("events.out.tfevents.*"))
    assert len(events) == 1
    assert _steps(events[0], "validation/reconstruction_error") == [1, 10, 12]
    assert _steps(events[0], "test/reconstruction_error") == [12]
    assert _steps(events[0], "loss") == [1, 5, 10]

    # Resume: the iteration count and the warm-up continue; TensorBoard history is kept.
    code, out, err = run_cli(FAST + ["--max_iterations=16"], capsys)
    assert code == 0, err
    assert "resumed from model/vladder_digits/ckpt-12 at iteration 12" in out
    beta = 1 - np.exp(-15 / 2000)  # the warm-up's t is the iteration shown
    assert "iteration 13/16 |" in out and "iteration 15/16 |" in out and f"beta {beta:.4g}" in out
    assert len(list(run.glob("events.out.tfevents.*"))) == 2
    code, out, err = run_cli(FAST + ["--max_iterations=16"], capsys)
    assert code == 0 and "nothing to do" in out

    # Generate from the newest checkpoint: generate.py, train.py vladder generate and --no_train agree.
    # It writes generated.png and leaves the training's current.png and epoch<k>.png figures alone.
    trained = {p.name: p.read_bytes() for p in (run / "manifold_samples").glob("*.png")}
    code, out, err = run_cli(["--netname=vladder_digits"], capsys, script_mode="generate")
    assert code == 0, err
    assert "vladder_digits (vladder) at iteration 16" in out
    assert out.index("vladder_digits (vladder) at iteration 16") < out.index("wrote ")  # the run's line first
    assert "wrote model/vladder_digits/manifold_samples/generated_labelled.png" in out
    assert read_png(str(run / "manifold_samples" / "generated.png")).shape == (840, 2560, 1)
    assert {p.name: p.read_bytes() for p in (run / "manifold_samples").glob("*.png")
            if not p.name.startswith("generated")} == trained
    for argv in (["vladder", "generate", "--netname=vladder_digits"], ["--dataset=digits", "--no_train"]):
        code, out, err = run_cli(argv, capsys)
        assert code == 0 and "at iteration 16" in out, err

    # VLadder keeps no best checkpoint (as the original): --best says so, not that a validation pass is missing
    code, out, err = run_cli(["vladder", "generate", "--netname=vladder_digits", "--best"], capsys)
    one_line_error(code, err, "vladder keeps no best checkpoint", "leave out --best", exit_code=None)
    # generate takes no image for VLadder, and --restart or a training flag make no sense outside training
    code, out, err = run_cli(["vladder", "no/such.png", "--netname=vladder_digits"], capsys, script_mode="generate")
    one_line_error(code, err, "vladder's generate takes no image")
    code, out, err = run_cli(["vladder", "generate", "--netname=vladder_digits", "--restart"], capsys)
    one_line_error(code, err, "--restart starts training from scratch; it does not apply to generate")
    code, out, err = run_cli(["--netname=vladder_digits", "--reg=kl"], capsys, script_mode="generate")
    one_line_error(code, err, "--reg applies to 'train', not to 'generate'")

    # A config.json that disagrees with the flags, and a netname whose layers do not fit the data.
    code, out, err = run_cli(FAST + ["--reg=mmd"], capsys)
    one_line_error(code, err, "config.json has --reg=kl", "--reg=mmd", "--restart")
    code, out, err = run_cli(FAST + ["--netname=vladder_svhn"], capsys)
    one_line_error(code, err, "vladder_svhn takes 32x32x3 images", "digits gives 28x28x1")

    # --restart starts from scratch.
    code, out, err = run_cli(FAST + ["--max_iterations=2", "--restart", "--reg=mmd"], capsys)
    assert code == 0, err
    assert "resumed" not in out and "mmd/layer0" in out
    assert load_config_json(str(run))["model_config"]["reg"] == "mmd"


def test_help_fits_each_script(capsys):
    code, out, _ = run_cli(["--help"], capsys, script_mode="generate")
    assert code == 0 and "usage: generate.py" in out and "MODEL IMAGE" in out
    assert "examples:" in out and out.count("python generate.py") >= 3
    for training_only in ("--restart", "--epochs", "--max_iterations", "--learning_rate", "--reg"):
        assert training_only not in out, training_only
    code, out, _ = run_cli(["--help"], capsys)
    assert code == 0 and "MODEL MODE IMAGE" in out and out.count("python train.py") >= 3
    assert "--lambda LAMBDA " in out and "LAMBDA_" not in out
    for family in ("VLadder", "VAE collection", "Ladder VAE", "Laplace"):
        assert family in out, family
    code, out, _ = run_cli(["LVAE", "--help"], capsys)  # one family: its own flags only
    assert code == 0 and "--zdims" in out and "--reg" not in out


@pytest.mark.parametrize("argv, fragments", [
    (["--dataset=imagenet"], ["unknown dataset 'imagenet'", "valid names: mnist, binarized_mnist"]),
    (["--dataset=svhn"], ["svhn needs --db_path"]),
    (["--dataset=celebA", "--db_path=/nonexistent/celeba"], ["/nonexistent/celeba does not exist"]),
    (["fancyvae"], ["unknown model 'fancyvae'", "vladder, VAE, CVAE, InfoVAE, MMDVAE"]),
    (["vladder", "fly"], ["unknown mode 'fly'"]),
    (["--reg=l2"], ["invalid choice: 'l2'"]),
    (["--batch_size=0"], ["--batch_size must be at least 1"]),
    (["--dataset=digits", "--zdims", "4", "2"], ["--zdims does not apply to vladder", "a flag of"]),
    (["--gpus=zero"], ["--gpus must be a comma-separated list"]),
    (["--bogus_flag"], ["unrecognized arguments: --bogus_flag"]),
])
def test_bad_input_gives_one_line(in_tmp, capsys, argv, fragments):
    code, out, err = run_cli(argv, capsys)
    one_line_error(code, err, *fragments)


def test_generate_without_a_trained_model(in_tmp, capsys):
    code, out, err = run_cli(["--netname=never_trained"], capsys, script_mode="generate")
    one_line_error(code, err, "no trained model in model/never_trained")


def test_checkpoint_of_another_architecture(in_tmp, capsys):
    import cv2

    # a custom netname is the run's folder and takes the layers of the data
    code, out, err = run_cli(FAST + ["--max_iterations=1", "--netname=mixed", "--vis_frequency=100"], capsys)
    assert code == 0, err
    assert (in_tmp / "model" / "mixed" / "ckpt-1.index").is_file() and not (in_tmp / "model" / "vladder_digits").exists()
    assert "mixed: vladder_mnist layers" in out
    os.remove(in_tmp / "model" / "mixed" / "config.json")
    rng = np.random.RandomState(0)
    for i in range(30):  # a tiny 32x32 colour folder dataset: takes the SVHN layers
        path = in_tmp / "imgs" / "train_data" / "a" / f"{i}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(path), rng.randint(0, 255, (32, 32, 3), np.uint8))
    code, out, err = run_cli(["--dataset=folder", "--db_path=imgs", "--netname=mixed", "--batch_size=8"], capsys)
    one_line_error(code, err, "checkpoint model/mixed/ckpt-1 does not match model mixed", "--restart")


def test_nan_stops_and_keeps_the_last_good_checkpoint(in_tmp, capsys, monkeypatch):
    import tensorflow as tf

    from hvae.models.vladder import VLadder

    original = VLadder.loss_terms

    def poisoned(self, images, labels=None, iteration=1, training=True):
        terms = original(self, images, labels, iteration, training)
        bad = tf.cast(iteration, tf.float32) > 7.0
        terms["kl/layer1"] = tf.where(bad, tf.constant(np.nan, tf.float32), terms["kl/layer1"])
        terms["loss"] = terms["loss"] + 0.0 * terms["kl/layer1"]
        return terms

    monkeypatch.setattr(VLadder, "loss_terms", poisoned)
    code, out, err = run_cli(FAST + ["--max_iterations=20", "--checkpoint_frequency=5", "--vis_frequency=100"], capsys)
    one_line_error(code, err, "loss term 'kl/layer1' became NaN at iteration 8",
                          "last good checkpoint model/vladder_digits/ckpt-5 is kept", exit_code=3)
    run = in_tmp / "model" / "vladder_digits"
    assert tf.train.latest_checkpoint(str(run)).endswith("ckpt-5")


# --------------------------------------------------------------------------------------------------
# Fresh processes: SIGKILL / SIGTERM, two logical devices
# --------------------------------------------------------------------------------------------------
def _spawn(args, cwd):
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    return subprocess.Popen([sys.executable, str(ROOT / "train.py")] + args, cwd=cwd, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _latest(run_dir: Path) -> int:
    state = run_dir / "checkpoint"
    if not state.exists():
        return 0
    line = state.read_text().splitlines()[0]
    return int(line.split("ckpt-")[1].strip().strip('"'))


def test_killed_run_resumes_and_sigterm_saves(tmp_path):
    args = FAST + ["--checkpoint_frequency=10", "--vis_frequency=1000", "--max_iterations=100000"]
    run_dir = tmp_path / "model" / "vladder_digits"
    proc = _spawn(args, tmp_path)
    deadline = time.time() + 240
    while _latest(run_dir) < 20 and time.time() < deadline and proc.poll() is None:
        time.sleep(0.5)
    proc.kill()  # SIGKILL: no chance to save
    proc.communicate()
    saved = _latest(run_dir)
    assert saved >= 20, "no checkpoint at iteration 20 within the time limit"

    proc = _spawn(args, tmp_path)
    lines = []
    for line in proc.stdout:
        lines.append(line)
        if line.startswith("iteration") and int(line.split()[1].split("/")[0].replace(",", "")) >= saved + 5:
            break
    proc.send_signal(signal.SIGTERM)
    rest, _ = proc.communicate(timeout=120)
    out = "".join(lines) + rest
    assert proc.returncode == 0, out
    assert f"resumed from model/vladder_digits/ckpt-{saved} at iteration {saved}" in out
    assert f"iteration {saved + 1:,}/100,000 |" in out  # the first step after the resume is iteration saved + 1
    assert "stopped by SIGTERM at iteration" in out
    stopped_at = int(out.split("stopped by SIGTERM at iteration ")[1].split(";")[0])
    assert stopped_at >= saved + 5 and _latest(run_dir) == stopped_at


def test_mirrored_training_on_two_logical_devices(tmp_path):
    proc = subprocess.run([sys.executable, str(ROOT / "train.py")] + FAST +
                          ["--cpu_devices=2", "--max_iterations=6", "--vis_frequency=5"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "mirrored over 2 logical CPU devices" in proc.stdout
    assert "iteration 5/6 |" in proc.stdout and "Reconstruction error @5" in proc.stdout
    assert (tmp_path / "model" / "vladder_digits" / "ckpt-6.index").is_file()
    assert "Traceback" not in proc.stderr
