"""Pins: the current code against the behaviour recorded in ``tests/pins/pins.json`` (``tests/make_pins.py``, at the
commit named under ``environment.commit``), so that a refactor that must not change results is shown not to.

Per preset of ``models.preset_names()``: the parameter count, every term of the first ``loss_terms`` call on a
fixed batch (seeded), a few deterministic eval-mode summaries, and that the legacy ``get_config`` (what
``.keras`` files written by that commit hold) still loads through ``type(model).from_config``. And three short
``python train.py`` runs on the bundled ``digits`` data: the printed losses (parsed, within their printed
rounding) and the TensorBoard scalars of iteration 1.

Counts and names are compared exactly; numbers within float32 rounding, never as strings. The pins were recorded
on one CPU (2-core AMD EPYC, oneDNN on), where they repeat bit for bit; another CPU runs other kernels and moves
the last digits. Each number's tolerance is measured, not guessed: ``tests/make_tolerances.py`` repeats the
protocol under five kernel variants (oneDNN on / off / limited to AVX2, one or two threads) and records how far
each number moved (``tests/pins/tolerances.json``); a number may move :data:`make_pins.SAFETY` (10) times that, at
least :data:`make_pins.FLOOR_RTOL` (1e-5) of itself (:func:`make_pins.allowed`). A sum over thousands of pixels,
or a small KL that is the difference of large log-densities, so gets more room than a lone logit, and
:func:`test_tolerances_still_catch_a_change` holds every tolerance under half of a 1e-3 change.

Models are built only through ``models.from_preset(name)`` and used only through ``loss_terms``,
``count_parameters`` and ``from_config`` (plus Keras' ``build_from_config``, which ``keras.models.load_model``
calls); the batch is rebuilt from the pinned recipe with numpy alone, so the tests read no model attribute that a
redesign may drop. ``reconstruct`` / ``posterior_means`` are used where they exist (skipped otherwise).

The presets whose build and forward pass are slow on a 2-core CPU (``slow`` in the pins: vladder_lsun and the
LVAE presets LVAE_mnist_12, LVAE_cifar10_6, LVAE_cifar10_15, LVAE_svhn_15, LVAE_celeba_20) run only with
``HVAE_PINS_SLOW=1`` (pytest.ini's ``-n 2`` needs ``-o addopts=`` beside ``-p no:xdist``):

    python -m pytest -q -p no:xdist -o addopts= tests/test_pins.py                    # about 2-4 minutes on 2 cores
    HVAE_PINS_SLOW=1 python -m pytest -q -p no:xdist -o addopts= tests/test_pins.py   # every preset, 2 minutes more

Re-record (only when a change of behaviour is intended): ``python tests/make_pins.py --out tests/pins/pins.json``,
then ``python tests/make_tolerances.py`` (about 40 minutes on 2 cores).
"""

from __future__ import annotations

import copy
import importlib.util
import json
import os
from pathlib import Path

import numpy as np
import pytest

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
PINS = json.loads((HERE / "pins" / "pins.json").read_text())
# the largest distance of each pinned number from its pin across kernel variants (tests/make_tolerances.py)
TOLERANCES = json.loads((HERE / "pins" / "tolerances.json").read_text())
SLOW = os.environ.get("HVAE_PINS_SLOW", "") not in ("", "0")


def _protocol():
    """``tests/make_pins.py`` as a module: the batch recipe, the first-loss protocol and the CLI helpers the pins
    were recorded with (one definition for both)."""
    spec = importlib.util.spec_from_file_location("hvae_make_pins", HERE / "make_pins.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


protocol = _protocol()


def _params(names, slow_of):
    out = []
    for name in names:
        marks = []
        if slow_of(name) and not SLOW:
            marks.append(pytest.mark.skip(reason="slow on a 2-core CPU: run with HVAE_PINS_SLOW=1"))
        out.append(pytest.param(name, marks=marks, id=name))
    return out


PRESETS = _params(list(PINS["presets"]), lambda n: PINS["presets"][n]["slow"])
DETERMINISTIC = _params([n for n, p in PINS["presets"].items() if p["deterministic"]],
                        lambda n: PINS["presets"][n]["slow"])
CLI_RUNS = _params(list(PINS["cli"]), lambda n: False)

# preset -> what one seeded build and first loss_terms call gave (the model itself is not kept: 50M parameters)
_MEASURED: dict = {}


def measured(name: str) -> dict:
    """Build ``name`` by the pinned protocol (seed 0, ``models.from_preset``, seed 0, one ``loss_terms`` call in
    training mode at iteration 1 on the pinned batch), then, on the same model, the deterministic outputs that
    were pinned. Cached per process: each preset is built once for its parameter, loss and output tests."""
    if name not in _MEASURED:
        pin = PINS["presets"][name]
        images, labels = protocol.fixed_batch(pin["input"])
        model, terms = protocol.first_loss_terms(name, (images, labels))
        entry = {"class": type(model), "parameters": model.count_parameters(), "terms": terms,
                 "input_sum": float(np.sum(images, dtype=np.float64)), "outputs": None, "outputs_error": None}
        if pin["deterministic"]:
            try:
                entry["outputs"] = protocol.deterministic_outputs(model, images, labels, protocol.CHECK_SEEDS[0])
            except (AttributeError, TypeError) as err:  # the interface changed: the output test says so
                entry["outputs_error"] = f"{type(err).__name__}: {err}"
        del model
        _MEASURED[name] = entry
    return _MEASURED[name]


# --------------------------------------------------------------------------------------------------
# the set of presets and the checkout
# --------------------------------------------------------------------------------------------------
def test_pins_are_of_this_checkout_and_every_preset_still_exists():
    """Pins the preset names: every preset recorded still exists under the same name (new ones may be added), and
    the code under test is this checkout's (``models`` imported from the repository this file is in), so the
    comparisons below are of the code being changed, not of another install."""
    from hvae import models

    assert Path(models.__file__).resolve().is_relative_to(ROOT), (
        f"models is imported from {models.__file__}, not from {ROOT} (install the checkout: pip install -e .)")
    missing = [n for n in PINS["preset_names"] if n not in models.preset_names()]
    assert not missing, f"presets that existed at {PINS['environment']['commit'][:7]} are gone: {missing}"


# --------------------------------------------------------------------------------------------------
# per preset
# --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", PRESETS)
def test_parameter_count(name):
    """Pins ``models.from_preset(name).count_parameters()`` exactly: the architecture (every layer's size) of each
    preset must not change in a refactor; a single missing bias or resized layer shows here."""
    pin = PINS["presets"][name]
    assert measured(name)["parameters"] == pin["parameters"], (
        f"{name}: {measured(name)['parameters']:,} trainable parameters, pinned {pin['parameters']:,}")


@pytest.mark.parametrize("name", PRESETS)
def test_first_loss(name):
    """Pins every term of the first ``loss_terms`` call (same term names, each within its tolerance): seed 0,
    build, seed 0, one training-mode call at iteration 1 on the fixed batch of the pins (4 images in the preset's
    shape and range, binary for the Bernoulli models, 8-bit levels otherwise; labels for CVAE). This checks the
    initialisation (weights drawn in the same order from the same seeds), the forward pass, the random draws
    inside the objective and the objective's formula and schedules at once.

    The tolerance of each term is ``make_pins.allowed``: ten times the largest distance that term moved across the
    kernel variants of ``tests/make_tolerances.py`` (oneDNN on / off / AVX2-only, 1 or 2 threads: the rounding
    another CPU brings), at least 1e-5 of the term. On the recording CPU the terms repeat bit for bit."""
    pin = PINS["presets"][name]
    got = measured(name)
    assert got["input_sum"] == pin["input_sum"], "the fixed batch is not the one the pins were recorded on"
    expected = pin["first_loss"]
    spreads = TOLERANCES["presets"][name]["first_loss"]
    assert sorted(got["terms"]) == sorted(expected), (
        f"{name}: loss terms {sorted(got['terms'])}, pinned {sorted(expected)}")
    bad = {k: (got["terms"][k], v, protocol.allowed(v, spreads[k])) for k, v in expected.items()
           if not abs(got["terms"][k] - v) <= protocol.allowed(v, spreads[k])}
    assert not bad, f"{name}: terms off by more than their tolerance (got, pinned, allowed): {bad}"


@pytest.mark.parametrize("name", DETERMINISTIC)
def test_deterministic_outputs(name):
    """Pins the mean and standard deviation of the eval-mode outputs that are deterministic today
    (``reconstruct(images)`` and each layer of ``posterior_means(images)``, where two seeds gave the same bits),
    computed on the model of :func:`test_first_loss` right after its ``loss_terms`` call: the eval-mode paths
    (batch-norm moving statistics, posterior means, decoder means) that the loss does not exercise. Skipped where
    the method is gone from the interface."""
    pin = PINS["presets"][name]
    got = measured(name)
    spreads = TOLERANCES["presets"][name]["deterministic"]
    if got["outputs_error"]:
        pytest.skip(f"{name}: the pinned output methods cannot be called as before ({got['outputs_error']})")
    for method, summaries in pin["deterministic"].items():
        if method not in got["outputs"]:
            pytest.skip(f"{name}: no {method} any more")
        actual = protocol.summarise(got["outputs"][method])
        assert [a["shape"] for a in actual] == [s["shape"] for s in summaries], f"{name}.{method}: shapes"
        for i, (a, s) in enumerate(zip(actual, summaries)):
            for key in ("mean", "std"):
                limit = max(protocol.allowed(s[key], spreads[method][i][key]), 1e-7)
                assert abs(a[key] - s[key]) <= limit, (
                    f"{name}.{method}[{i}] {key}: {a[key]!r}, pinned {s[key]!r} (allowed {limit:.3g})")


@pytest.mark.parametrize("name", PRESETS)
def test_legacy_config_loads(name):
    """Pins loading of old files: ``type(model).from_config(get_config)`` with the ``get_config`` recorded at the
    pinned commit (what that commit's ``.keras`` files hold), then ``build_from_config`` with its build config as
    ``keras.models.load_model`` does, gives a model of the same parameter count; and the Keras name those files
    refer to (``registered_name``, e.g. ``hvae>VLadder``) still resolves to a class. A redesign may change
    ``get_config``'s form, but must keep reading the legacy form."""
    import keras

    pin = PINS["presets"][name]
    cls = measured(name)["class"]
    assert keras.saving.get_registered_object(pin["registered_name"]) is not None, (
        f"{pin['registered_name']} (the class name in old .keras files) is no longer registered with Keras")
    model = cls.from_config(copy.deepcopy(pin["get_config"]))
    if pin["build_config"] and not model.built:
        model.build_from_config(copy.deepcopy(pin["build_config"]))
    assert model.count_parameters() == pin["parameters"], (
        f"{name}: the legacy config builds {model.count_parameters():,} parameters, pinned {pin['parameters']:,}")


# --------------------------------------------------------------------------------------------------
# the command line
# --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("run", CLI_RUNS)
def test_cli_first_losses(run, tmp_path):
    """Pins short real runs of ``python train.py`` (``digits``, seed 1, 3 iterations; VLadder, VAE, LVAE2): the
    printed lines that carry losses, parsed and compared number by number within the printed rounding plus their
    measured tolerance (the VLadder line of iteration 1, 2 and 3 term by term without the speed; the VAE and LVAE2
    validation and test lines; each header's parameter count, exact), and the TensorBoard scalars of iteration 1
    (the first logged step) within their tolerance (:func:`make_pins.allowed`). This covers what
    the per-model pins do not: the data pipeline, the seeding of a run, the optimiser's first steps and the
    evaluation of the validation and test splits."""
    pin = PINS["cli"][run]
    spreads = TOLERANCES["cli"][run]
    proc = protocol.run_cli(ROOT, pin["argv"], tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    for line_pin, line_spreads in zip(pin["lines"], spreads["lines"]):
        line = protocol.find_line(proc.stdout, line_pin["pattern"])
        assert line is not None, f"no line matching {line_pin['pattern']!r} (pinned: {line_pin['text']!r}) in:\n" \
                                 f"{proc.stdout}"
        bad = protocol.compare_line(protocol.parse_line(line), line_pin["numbers"], line_spreads)
        assert not bad, f"printed {line!r}, pinned {line_pin['text']!r}: (number, printed, pinned, allowed) {bad}"
    netname = next(a.split("=", 1)[1] for a in pin["argv"] if a.startswith("--netname="))
    scalars = protocol.first_step_scalars(tmp_path / "model" / netname)
    missing = sorted(set(pin["first_step_scalars"]) - set(scalars))
    assert not missing, f"TensorBoard scalars of iteration 1 missing: {missing}"
    bad = {k: (scalars[k], v, protocol.allowed(v, spreads["first_step_scalars"][k]))
           for k, v in pin["first_step_scalars"].items()
           if not abs(scalars[k] - v) <= protocol.allowed(v, spreads["first_step_scalars"][k])}
    assert not bad, f"TensorBoard scalars of iteration 1 off (got, pinned, allowed): {bad}"


# --------------------------------------------------------------------------------------------------
# the tolerances themselves
# --------------------------------------------------------------------------------------------------
def test_every_pinned_number_has_a_measured_tolerance():
    """Every number the tests above compare has a spread in ``tests/pins/tolerances.json``, measured for the pins
    of this file (same commit): a pin added or re-recorded without ``tests/make_tolerances.py`` fails here, not
    on another CPU."""
    assert TOLERANCES["pins_commit"] == PINS["environment"]["commit"], "re-run tests/make_tolerances.py"
    for name, pin in PINS["presets"].items():
        entry = TOLERANCES["presets"].get(name)
        assert entry is not None, f"{name}: no measured tolerance"
        assert sorted(entry["first_loss"]) == sorted(pin["first_loss"]), name
        for method, summaries in pin["deterministic"].items():
            assert len(entry["deterministic"][method]) == len(summaries), f"{name}.{method}"
    for run, pin in PINS["cli"].items():
        entry = TOLERANCES["cli"][run]
        assert len(entry["lines"]) == len(pin["lines"]), run
        for line_pin, spreads in zip(pin["lines"], entry["lines"]):
            numeric = {k for k, v in protocol.flat_numbers(line_pin["numbers"]).items() if _is_number(v)}
            assert numeric == set(spreads), f"{run}: {line_pin['text']!r}"
        assert sorted(entry["first_step_scalars"]) == sorted(pin["first_step_scalars"]), run


def _is_number(text: str) -> bool:
    try:
        protocol.printed_value(text)
        return True
    except ValueError:
        return False


def test_tolerances_still_catch_a_change():
    """No tolerance is so wide that a real change hides in it: for every number compared at full precision (each
    first-loss term, each first-step TensorBoard scalar but the gradient norm), the allowed distance is under half
    of a 1e-3 relative change of that number, so scaling one term's weight by 1.001 fails its pin. (A console number is
    limited by its printed digits instead: the full-precision scalars of the same run cover it.) Checked by
    hand as well: ``docs/running.md``, "What repeats, and where", lists the deliberate changes that failed."""
    wide = []
    for name, pin in PINS["presets"].items():
        for term, value in pin["first_loss"].items():
            limit = protocol.allowed(value, TOLERANCES["presets"][name]["first_loss"][term])
            if value != 0 and limit >= 0.5e-3 * abs(value):
                wide.append((name, term, value, limit))
    for run, pin in PINS["cli"].items():
        for tag, value in pin["first_step_scalars"].items():
            if tag == "gradient_norm":
                # a norm over every gradient of the first step (26 M for VLadder) moves 2e-4 across kernels; the
                # step's loss terms beside it are held to the bound
                continue
            limit = protocol.allowed(value, TOLERANCES["cli"][run]["first_step_scalars"][tag])
            if value != 0 and limit >= 0.5e-3 * abs(value):
                wide.append((run, tag, value, limit))
    assert not wide, f"tolerances too wide to catch a 1e-3 change (where, number, value, allowed): {wide}"
