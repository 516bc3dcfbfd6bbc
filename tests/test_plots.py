"""The plotting scripts of the README and docs/ on small real inputs: TensorBoard event files written the way the trainer writes
them, and the evaluation JSON files of the Laplace family's stages."""

import json
import os
import subprocess
import sys

import numpy as np
import tensorflow as tf

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _script_module(name: str):
    """A script of ``plots/`` imported as a module (the scripts are not a package)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(name, os.path.join(ROOT, "plots", f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


training_curves = _script_module("training_curves")


def _write_events(run_dir, start, values, tag="elbo"):
    writer = tf.summary.create_file_writer(run_dir, filename_suffix=f".start{start}")
    with writer.as_default():
        for step, value in values:
            tf.summary.scalar(tag, value, step=step)
        tf.summary.scalar("validation/elbo", -100.0 - start, step=values[-1][0])
    writer.flush()
    writer.close()


def test_training_curves_reads_every_start_and_later_values_win(tmp_path):
    run = str(tmp_path / "run")
    _write_events(run, 0, [(20, -300.0), (40, -250.0), (60, -240.0)])
    # A resumed run: a second event file starting again at 60 (killed after 60, resumed from the checkpoint at 40).
    import time
    time.sleep(1.1)  # event file names carry the start time in seconds: the resumed run's file sorts after
    _write_events(run, 1, [(60, -230.0), (80, -220.0)])
    scalars = training_curves.read_scalars(run)
    steps, values = scalars["elbo"]
    assert steps.tolist() == [20, 40, 60, 80]
    assert values.tolist() == [-300.0, -250.0, -230.0, -220.0]
    assert scalars["validation/elbo"][0].tolist() == [60, 80]

    out = str(tmp_path / "curves.png")
    assert training_curves.main(["--run", run, "--panel", "elbo,validation/elbo", "--smooth", "2", "--out", out]) == 0
    image = __import__("matplotlib.image", fromlist=["imread"]).imread(out)
    assert image.shape[0] > 100 and image.shape[1] > 100


def test_running_mean_is_the_mean_of_the_last_points():
    v = np.array([1.0, 3.0, 5.0, 7.0])
    assert training_curves.running_mean(v, 2).tolist() == [1.0, 2.0, 4.0, 6.0]
    assert training_curves.running_mean(v, 1).tolist() == v.tolist()


def test_training_curves_bad_input_is_one_line(tmp_path):
    run = str(tmp_path / "run")
    _write_events(run, 0, [(20, -300.0)])
    script = os.path.join(ROOT, "plots", "training_curves.py")
    for args, fragment in ((["--run", str(tmp_path / "empty"), "--panel", "elbo"], "no TensorBoard event file"),
                           (["--run", run, "--panel", "elbo,kl/layer7"], "has no scalar kl/layer7")):
        r = subprocess.run([sys.executable, script, *args, "--out", str(tmp_path / "x.png")],
                           capture_output=True, text=True, timeout=120)
        assert r.returncode == 2
        lines = [line for line in r.stderr.splitlines() if line.startswith("error:")]
        assert len(lines) == 1 and fragment in lines[0], r.stderr
        assert "Traceback" not in r.stderr


def test_laplace_curves_plots_each_stage(tmp_path):
    for model, bounds in (("VLAE", {1: -126.0, 2: -110.0}), ("IAF", {5: -107.0})):
        folder = tmp_path / f"{model}_binarized_mnist" / "evaluation"
        folder.mkdir(parents=True)
        for epoch, bound in bounds.items():
            (folder / f"epoch{epoch}_test_k1000_n1000.json").write_text(json.dumps(
                {"iw_samples": 1000, "num_images": 1000, "iw_bound": {"mean": bound, "sem": 1.0}}))
    out = tmp_path / "curves.png"
    r = subprocess.run([sys.executable, os.path.join(ROOT, "plots", "laplace_curves.py"), "--runs", str(tmp_path),
                        "--out", str(out)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert out.stat().st_size > 10_000
