"""Evaluations that can be compared: ``evaluate`` writes every image's bound and ELBO beside its JSON (``.npz``) and
records which images it used; :func:`hvae.evaluation.compare` / ``python -m hvae.compare`` pair two evaluations on
their shared images, and refuse in one line what cannot be compared. A tiny VAE on scikit-learn's digits, evaluated
with K = 2 on subsets of the test split (``--num_images``: nested subsets, so two of them share images)."""

import hashlib
import json
import shutil
import subprocess
import sys

import numpy as np
import pytest

from hvae import compare as compare_cli
from hvae.errors import ConfigError
from hvae.evaluation import Comparison, compare

TRAIN = ["VAE", "train", "--dataset=digits", "--seed=1", "--batch_size=16", "--epochs=1"]
EVALUATE = ["VAE", "evaluate", "--iw_samples=2"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """``model/VAE_digits`` trained 2 iterations and evaluated on 30 test images (kept in ``a/``), then trained to 4
    and evaluated on 50 (``test_k2_n50``) and, with K = 3, on 30 (``test_k3_n30``)."""
    from hvae.cli import main

    root = tmp_path_factory.mktemp("compare")
    mp = pytest.MonkeyPatch()
    mp.chdir(root)
    try:
        assert main(TRAIN + ["--max_iterations=2"]) == 0
        assert main(EVALUATE + ["--num_images=30"]) == 0
        shutil.copytree(root / "model/VAE_digits/evaluation", root / "a")
        assert main(TRAIN + ["--max_iterations=4"]) == 0
        assert main(EVALUATE + ["--num_images=50"]) == 0
        assert main(["VAE", "evaluate", "--iw_samples=3", "--num_images=30"]) == 0
        yield root
    finally:
        mp.undo()


def test_per_image_values_beside_the_json(runs):
    for path, n in ((runs / "a/test_k2_n30.json", 30), (runs / "model/VAE_digits/evaluation/test_k2_n50.json", 50)):
        result = json.loads(path.read_text())
        images = result["images"]
        assert images["split"] == "test" and images["count"] == n and images["split_size"] == 359
        assert images["subset"] == {"seed": 0} and images["dataset"] == "digits"
        assert images["per_image_file"] == path.with_suffix(".npz").name
        with np.load(path.with_suffix(".npz")) as z:
            assert z["bound"].dtype == np.float64 and z["elbo"].dtype == np.float64
            assert z["bound"].shape == z["elbo"].shape == z["image_index"].shape == (n,)
            index = z["image_index"]
            assert (np.diff(index) > 0).all() and 0 <= index[0] and index[-1] < 359
            assert hashlib.sha256(index.astype("<i8").tobytes()).hexdigest() == images["index_sha256"]
            assert str(z["split"]) == "test" and int(z["iw_samples"]) == 2 and str(z["dataset"]) == "digits"
            # the JSON's means are the means of these values, to float rounding
            assert z["bound"].mean() == pytest.approx(result["iw_bound"]["mean"], rel=0, abs=1e-9)
            assert z["elbo"].mean() == pytest.approx(result["elbo"]["mean"], rel=0, abs=1e-9)
            assert z["bound"].std(ddof=1) / np.sqrt(n) == pytest.approx(result["iw_bound"]["sem"], abs=1e-9)
    # the subsets are nested: the 30 images are among the 50
    with np.load(runs / "a/test_k2_n30.npz") as small, \
            np.load(runs / "model/VAE_digits/evaluation/test_k2_n50.npz") as large:
        assert set(small["image_index"]) <= set(large["image_index"])


def test_identical_evaluations_differ_by_zero(runs, capsys):
    path = str(runs / "a/test_k2_n30.json")
    c = compare(path, path)
    assert isinstance(c, Comparison) and c.shared == 30 and c.iw_samples == 2 and c.split == "test"
    assert (c.bound_difference, c.bound_sem, c.elbo_difference, c.elbo_sem) == (0.0, 0.0, 0.0, 0.0)
    assert compare_cli.main([path, path]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[3].startswith("IW bound (K = 2): A - B = +0.000 ± 0.000 nats/image") and out[4].startswith("ELBO: ")


def test_two_checkpoints_paired_on_their_shared_images(runs, capsys, monkeypatch):
    a, b = runs / "a/test_k2_n30.json", runs / "model/VAE_digits/evaluation/test_k2_n50.json"
    c = compare(str(a), str(b))
    with np.load(a.with_suffix(".npz")) as za, np.load(b.with_suffix(".npz")) as zb:
        keep = np.isin(zb["image_index"], za["image_index"])
        bound_b, elbo_b = zb["bound"][keep], zb["elbo"][keep]
        np.testing.assert_array_equal(zb["image_index"][keep], za["image_index"])
        expected = za["bound"].mean() - bound_b.mean()
        assert c.bound_difference == pytest.approx(expected, abs=1e-9)
        assert c.elbo_difference == pytest.approx(za["elbo"].mean() - elbo_b.mean(), abs=1e-9)
        d = za["bound"] - bound_b
        assert c.bound_sem == pytest.approx(d.std(ddof=1) / np.sqrt(30), abs=1e-12)
    assert (c.shared, c.count_a, c.count_b) == (30, 30, 50)
    assert c.bound_difference != 0.0 and "iteration 2" in c.run_a and "iteration 4" in c.run_b
    # the command: a JSON against a run folder (its K = 2, 50-image evaluation)
    monkeypatch.chdir(runs)
    assert compare_cli.main(["a/test_k2_n30.json", "VAE_digits", "--iw_samples=2", "--num_images=50"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[2] == "digits test split, K = 2, cross-entropy: 30 shared images (A 30, B 50)"
    assert lines[3].startswith(f"IW bound (K = 2): A - B = {c.bound_difference:+.3f} ± {c.bound_sem:.3f} nats/image")


def _refused(argv, capsys):
    status = compare_cli.main(argv)
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert status == 2 and len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def test_what_cannot_be_compared_is_refused_in_one_line(runs, capsys, monkeypatch, tmp_path):
    monkeypatch.chdir(runs)
    folder = "model/VAE_digits/evaluation"
    assert "their K differ (A: K = 2, B: K = 3)" in _refused(["a/test_k2_n30.json", f"{folder}/test_k3_n30.json"],
                                                             capsys)
    # a real process: exit status and one line on stderr
    proc = subprocess.run([sys.executable, "-m", "hvae.compare", "a/test_k2_n30.json", f"{folder}/test_k3_n30.json"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and proc.stdout == "" and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert "K differ" in proc.stderr
    assert "several evaluations of the test split" in _refused(["a", "VAE_digits"], capsys)
    assert "no evaluation of the validation split" in _refused(["a", "VAE_digits", "--split=validation"], capsys)

    def variant(name, arrays=(), fields=()):
        """A copy of A's files with some per-image arrays and JSON fields changed."""
        out = tmp_path / name
        shutil.copytree(runs / "a", out)
        z = dict(np.load(out / "test_k2_n30.npz"))
        np.savez(out / "test_k2_n30.npz", **{**z, **dict(arrays)})
        doc = json.loads((out / "test_k2_n30.json").read_text())
        (out / "test_k2_n30.json").write_text(json.dumps({**doc, **dict(fields)}))
        return str(out / "test_k2_n30.json")

    a = str(runs / "a/test_k2_n30.json")
    with np.load(a[:-5] + ".npz") as z:
        index, digest = z["image_index"], z["image_digest"]
    assert "share no images" in _refused([a, variant("disjoint", {"image_index": index + 1000})], capsys)
    assert "different pixels" in _refused([a, variant("pixels", {"image_digest": digest + np.uint64(1)})], capsys)
    assert "datasets differ (A: digits, B: mnist)" in _refused([a, variant("mnist", fields={"dataset": "mnist"})],
                                                               capsys)
    assert "splits differ" in _refused([a, variant("split", fields={"split": "validation"})], capsys)
    assert "test splits differ (359 and 300 images" in _refused(
        [a, variant("size", fields={"images": {"split_size": 300}})], capsys)
    assert "A's bound is a cross-entropy, B's a density" in _refused(
        [a, variant("kind", fields={"density": {"kind": "density"}})], capsys)
    old = tmp_path / "old"
    old.mkdir()
    shutil.copy(a, old / "test_k2_n30.json")
    assert "no per-image values" in _refused([a, str(old / "test_k2_n30.json")], capsys)
    with pytest.raises(ConfigError, match="K differ"):
        compare(a, f"{folder}/test_k3_n30.json")


def test_an_evaluation_is_in_tensorboard_at_its_checkpoints_iteration(runs):
    """``evaluate`` writes its bound, ELBO, per-layer KL and active units as TensorBoard scalars
    (``evaluation/<split>/...``, :func:`hvae.evaluation.evaluation_scalars`) at the restored checkpoint's iteration."""
    import tensorflow as tf

    found = {}
    for path in sorted((runs / "model/VAE_digits").glob("events.out.tfevents.*")):
        for event in tf.compat.v1.train.summary_iterator(str(path)):
            for v in event.summary.value:
                if v.tag.startswith("evaluation/"):
                    found[(v.tag, event.step)] = float(tf.make_ndarray(v.tensor))
    result = json.loads((runs / "model/VAE_digits/evaluation/test_k3_n30.json").read_text())
    assert found[("evaluation/test/iw_bound_k3", 4)] == pytest.approx(result["iw_bound"]["mean"], rel=1e-6)
    assert found[("evaluation/test/elbo", 4)] == pytest.approx(result["elbo"]["mean"], rel=1e-6)
    assert ("evaluation/test/iw_bound_k2", 2) in found and ("evaluation/test/kl/layer0", 4) in found
    assert ("evaluation/test/active_units/layer0", 4) in found
