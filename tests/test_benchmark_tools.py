"""The speed benchmark's reproducibility report (``benchmarks/train_speed.py --compare``): it reads two result
files, reports each figure's change per case and variant, and says whether the largest change is within the
tolerance; the shim that makes a foreign harness build the project's default optimizer; and the cases of the
PyTorch side-by-side harness (``benchmarks/pytorch/``): every case is known to every table of the harness (the
TF side's presets, the twins, the suites, the FLOP counts, its README), and our model of each case has its twin's
parameter count and trains with its twin's optimizer constants (the twins themselves need PyTorch, which is not
in this venv: ``$TORCH_PYTHON benchmarks/pytorch/torch_models.py`` checks their counts)."""

import ast
import contextlib
import importlib
import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(ROOT, "benchmarks", "train_speed.py")
HARNESS = os.path.join(ROOT, "benchmarks", "pytorch")


def _result(path, ips, ratio, norm):
    variants = [{"variant": v, "images_per_second": ips[v], "time_vs_first_variant": ratio[v],
                 "images_per_reference_gflop": norm[v]} for v in ips]
    with open(path, "w") as f:
        json.dump({"results": [{"case": "vladder_mnist", "variants": variants}]}, f)
    return str(path)


def _compare(a, b, tmp_path, *extra):
    out = subprocess.run([sys.executable, SCRIPT, "--compare", a, b, "--out", str(tmp_path), *extra],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_compare_reports_changes_and_verdicts(tmp_path):
    a = _result(tmp_path / "a.json", {"function": 400.0, "xla": 300.0}, {"function": 1.0, "xla": 1.333},
                {"function": 2.0, "xla": 1.5})
    # the machine ran 20% slower in b; relative figures moved less than 10%
    b = _result(tmp_path / "b.json", {"function": 320.0, "xla": 246.0}, {"function": 1.0, "xla": 1.30},
                {"function": 1.96, "xla": 1.53})
    text = _compare(a, b, tmp_path)
    assert "| vladder_mnist | function | 400, 320, -20.0% **beyond** |" in text
    assert "largest change of images/s: 20.0% (beyond 10%)" in text
    assert "largest change of time vs the first variant: 2.5% (within 10%)" in text
    assert "largest change of images per reference-GFLOP: 2.0% (within 10%)" in text
    assert os.path.getsize(tmp_path / "train_speed_repeat.png") > 10_000
    assert "within 25%" in _compare(a, b, tmp_path, "--tolerance", "0.25")


def test_compare_refuses_unrelated_or_missing_files(tmp_path):
    a = _result(tmp_path / "a.json", {"function": 1.0}, {"function": 1.0}, {"function": 1.0})
    with open(tmp_path / "c.json", "w") as f:
        json.dump({"results": [{"case": "VAE_mnist", "variants": [{"variant": "function"}]}]}, f)
    for other, message in ((str(tmp_path / "c.json"), "share no case and variant"),
                           (str(tmp_path / "missing.json"), "cannot read")):
        out = subprocess.run([sys.executable, SCRIPT, "--compare", a, other, "--out", str(tmp_path)],
                             capture_output=True, text=True, timeout=120)
        assert out.returncode != 0 and message in out.stderr
        assert "Traceback" not in out.stderr


def test_fused_adam_shim_replaces_keras_adam(tmp_path):
    pytest.importorskip("keras")
    env = dict(os.environ, PROJECT_ROOT=ROOT, PYTHONPATH=os.path.join(ROOT, "benchmarks", "shims", "fused_adam"))
    code = "import keras; print(keras.optimizers.Adam.__module__, keras.optimizers.Adam.__name__)"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300,
                         cwd=str(tmp_path))
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["hvae.optimizers", "FusedAdam"]


# ---- the PyTorch side-by-side harness -----------------------------------------------------------------------------
@contextlib.contextmanager
def _harness_modules(*names):
    """The harness's standard-library modules (bench, flops, worker_common), imported from benchmarks/pytorch/ and
    removed from sys.modules afterwards."""
    sys.path.insert(0, HARNESS)
    try:
        yield [importlib.import_module(name) for name in names]
    finally:
        sys.path.remove(HARNESS)
        for name in ("bench", "flops", "worker_common"):
            sys.modules.pop(name, None)


def _twin_tables():
    """torch_models.py's CASES (name -> optimizer kwargs), OPTIMIZERS and PARAMETERS, read without PyTorch."""
    tree = ast.parse(open(os.path.join(HARNESS, "torch_models.py")).read())
    found = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            found[node.targets[0].id] = node.value
    cases = {}
    for key, value in zip(found["CASES"].keys, found["CASES"].values):
        kwargs = value.elts[2]  # dict(lr=..., betas=(...), eps=...)
        cases[ast.literal_eval(key)] = {k.arg: ast.literal_eval(k.value) for k in kwargs.keywords}
    return cases, ast.literal_eval(found["OPTIMIZERS"]), ast.literal_eval(found["PARAMETERS"])


def test_pytorch_harness_cases_agree_across_its_tables():
    with _harness_modules("bench", "flops", "worker_common") as (bench, flops, common):
        twins, optimizers, parameters = _twin_tables()
        cases = set(common.PRESETS)
        assert {"vladder_mnist", "vae_mlp", "infovae", "lvae_mnist_3", "vlae"} <= cases
        assert set(twins) == set(parameters) == cases and set(optimizers) <= cases
        assert set(common.BATCH) == cases | {"matmul"} and set(flops.BATCH) == cases
        assert set(common.BINARY_IMAGES) <= cases
        in_suites = {}
        for name, specs in bench.SUITES.items():
            for spec in specs:
                framework, case, _ = spec.split(":")[:3]
                in_suites.setdefault(case, set()).add(framework)
        assert set(in_suites) == cases | {"matmul"}
        assert all(frameworks == {"tf", "torch"} for frameworks in in_suites.values())
        assert {"lvae", "vlae"} <= set(bench.SUITES)
        for case in cases:
            assert flops.train_step_flops(case, common.BATCH[case]) > 0
        readme = open(os.path.join(HARNESS, "README.md")).read()
        for word in sorted(cases) + [f"--suites {s}" for s in ("lvae", "vlae")]:
            assert word in readme, f"benchmarks/pytorch/README.md does not mention {word!r}"


def test_our_models_of_the_pytorch_harness_match_their_twins():
    pytest.importorskip("keras")
    import keras

    with _harness_modules("worker_common") as (common,):
        twins, optimizers, parameters = _twin_tables()
        for case in sorted(common.PRESETS):
            model = common.build_model(case)
            count = sum(int(v.shape.num_elements()) for v in model.trainable_variables)
            assert count == parameters[case], f"{case}: ours {count:,d}, the twin {parameters[case]:,d} parameters"
            optimizer, loss_terms = common.tf_training(case, model)
            expected = keras.optimizers.Adamax if optimizers.get(case) == "Adamax" else keras.optimizers.Adam
            assert isinstance(optimizer, expected), case
            torch_kwargs = twins[case]
            assert float(optimizer.learning_rate) == pytest.approx(torch_kwargs["lr"]), case
            assert (optimizer.beta_1, optimizer.beta_2) == pytest.approx(torch_kwargs["betas"]), case
            assert optimizer.epsilon == pytest.approx(torch_kwargs["eps"]), case
            if case in ("lvae_mnist_3", "vlae"):  # the new cases: the objective runs on the harness's images
                images = common.tf_images(case, 2)
                assert set(images.numpy().ravel().tolist()) <= {0.0, 1.0}
                assert float(loss_terms(images, None, 1)["loss"]) > 0
