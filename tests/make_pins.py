#!/usr/bin/env python
"""Record today's behaviour of every model preset and of three short command-line runs in ``tests/pins/pins.json``,
which ``tests/test_pins.py`` compares the current code against (behaviour must not change across refactors).

    python tests/make_pins.py --out tests/pins/pins.json            # every preset and the three CLI runs
    python tests/make_pins.py --root /path/to/checkout --out x.json  # pin another checkout's code
    python tests/make_pins.py --presets VAE LVAE2_mnist --no-cli --out /tmp/some.json   # a few, for a look

What is recorded, for every name of ``models.preset_names()``:

- ``class``, ``parameters`` (``model.count_parameters()``);
- ``get_config``: ``model.get_config()`` exactly as the code returns it (checked to survive a JSON round trip
  unchanged: no tuples, nothing JSON cannot hold), with ``registered_name``, ``module`` and ``build_config`` of
  ``keras.saving.serialize_keras_object(model)``: together what a ``.keras`` file written today holds besides
  the weights (the legacy config that a redesigned ``from_config`` must still load);
- ``input``: the recipe of the fixed batch (:func:`fixed_batch`: shape, value range, binary or 8-bit levels,
  labels) and its sum, so the test rebuilds the same batch with numpy alone;
- ``first_loss``: every term of ``model.loss_terms(images, labels, iteration=tf.constant(1, tf.int64),
  training=True)`` by the protocol of :func:`first_loss_terms` (seed 0, ``models.from_preset``, seed 0 again,
  one call). The protocol is run twice, on two freshly built models; ``first_loss_repeatable`` says whether
  both gave the same numbers bit for bit (if not, ``first_loss_rtol`` is set from the observed spread);
- ``deterministic``: mean and standard deviation of ``reconstruct(images)`` and of each layer of
  ``posterior_means(images)`` (with the labels for a conditional model) in eval mode, on the model of the first
  run right after its ``loss_terms`` call (whose training-mode pass moved the batch-norm statistics once),
  kept only where two calls under different random seeds agree bit for bit (LVAE's ``reconstruct`` draws the
  latents and SA-VAE's refines the posterior with random noise: those are left out);
- ``slow``: whether ``tests/test_pins.py`` runs this preset only with ``HVAE_PINS_SLOW=1`` (its build and
  forward pass take long on a 2-core CPU); ``seconds``: what recording it took here.

And for each of :data:`CLI_RUNS` (``python train.py ...`` in a temporary folder; ``--cli-twice`` runs each twice
and records whether the printed numbers and scalars repeat): the printed lines that carry losses
(:func:`parse_line`), and the TensorBoard scalars of the first logged step (iteration 1) at full float32 precision.

About 6 minutes on 2 cores (7 with ``--cli-twice``); the pins in the repository were written with ``--cli-twice``.

TensorFlow's environment defaults (:mod:`hvae.environment`: oneDNN kernels on) apply, as in the tests; the
versions and the variables are recorded under ``environment``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEFAULT_ROOT = HERE.parent
BATCH_SIZE = 4
BATCH_SEED = 0          # np.random.default_rng(BATCH_SEED) draws the fixed batch
MODEL_SEED = 0          # keras.utils.set_random_seed before the build and again before loss_terms
CHECK_SEEDS = (1, 2)    # two different seeds under which a deterministic output must agree
# vladder_celebA (the Large layers) stays in the default run; vladder_lsun has the same layers, wider
SLOW_PRESETS = ("vladder_lsun", "LVAE_mnist_12", "LVAE_cifar10_6", "LVAE_cifar10_15", "LVAE_svhn_15", "LVAE_celeba_20")
FIRST_LOSS_RTOL = 1e-5

# name -> the command line after ``python train.py``, and the stdout lines that carry losses (regexes; the first
# line matching each is pinned). Every run: the bundled offline ``digits`` data, seed 1, three iterations, a
# console line / TensorBoard scalars at every iteration, the run folder model/<netname>/ in a temporary folder.
CLI_RUNS = {
    "vladder_digits": {
        "argv": ["--dataset=digits", "--max_iterations=3", "--seed=1", "--log_frequency=1", "--batch_size=16",
                 "--netname=pin_vladder"],
        "lines": [r"^iteration 1/3 \|", r"^Reconstruction error @1 per pixel \(validation\)", r"^iteration 2/3 \|",
                  r"^iteration 3/3 \|", r"^Reconstruction error @3 per pixel \(validation\)",
                  r"^Reconstruction error @3 per pixel \(test\)", r"^pin_vladder: "],
    },
    "VAE_digits": {
        "argv": ["VAE", "train", "--dataset=digits", "--epochs=1", "--max_iterations=3", "--seed=1",
                 "--log_frequency=1", "--netname=pin_VAE"],
        "lines": [r"^epoch 1 \(iteration 3\): validation loss", r"^end of training \(iteration 3\): test loss",
                  r"^pin_VAE: "],
    },
    "LVAE2_digits": {
        "argv": ["LVAE2", "train", "--dataset=digits", "--epochs=1", "--max_iterations=3", "--seed=1",
                 "--log_frequency=1", "--netname=pin_LVAE2"],
        "lines": [r"^Epoch: 001/001 \|\| Loss:", r"^ +validation: loss", r"^end of training \(iteration 3\): test:",
                  r"^pin_LVAE2: "],
    },
}
TIMING_FIELD = re.compile(r"images/s$|^ETA ")
NUMBER = re.compile(r"(?<![\w.])[-+]?(?:\d(?:[\d,]*\d)?(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?")


# --------------------------------------------------------------------------------------------------
# the protocol (shared with tests/test_pins.py)
# --------------------------------------------------------------------------------------------------
def fixed_batch(spec: dict):
    """The fixed batch of an ``input`` spec: ``(images float32 (shape), labels int64 (n,) or None)``.

    ``kind='binary'``: pixels 0 or 1 with probability 1/2 (the Bernoulli models' data); ``'levels'``: uniform
    8-bit levels k/255. Both mapped affinely to ``value_range``, drawn by ``np.random.default_rng(seed)``.
    """
    import numpy as np

    rng = np.random.default_rng(spec["seed"])
    shape = tuple(spec["shape"])
    if spec["kind"] == "binary":
        u = (rng.random(shape) < 0.5).astype(np.float64)
    elif spec["kind"] == "levels":
        u = rng.integers(0, 256, size=shape) / 255.0
    else:
        raise ValueError(f"unknown input kind {spec['kind']!r}")
    lo, hi = spec["value_range"]
    images = (lo + (hi - lo) * u).astype(np.float32)
    labels = None if spec["labels"] is None else np.asarray(spec["labels"], np.int64)
    return images, labels


def first_loss_terms(name: str, batch):
    """Seed, ``models.from_preset(name)``, seed again, one ``loss_terms`` call in training mode at iteration 1 on
    ``batch`` = ``(images, labels or None)``, or a function of the built model giving it (it must not draw random
    numbers or change the model).
    Returns ``(model, {term: float})``."""
    import keras
    import tensorflow as tf

    from hvae import models

    keras.utils.set_random_seed(MODEL_SEED)
    model = models.from_preset(name)
    images, labels = batch(model) if callable(batch) else batch
    keras.utils.set_random_seed(MODEL_SEED)
    terms = model.loss_terms(tf.constant(images), None if labels is None else tf.constant(labels),
                             iteration=tf.constant(1, tf.int64), training=True)
    return model, {key: float(value) for key, value in terms.items()}


def deterministic_outputs(model, images, labels, seed: int) -> dict:
    """``{"reconstruct": [array], "posterior_means": [array per layer]}`` in eval mode under ``seed``; a method
    the model lacks or refuses (MMD-VAE has no posterior) is left out."""
    import keras
    import numpy as np
    import tensorflow as tf

    x = tf.constant(images)
    args = (x,) if labels is None else (x, tf.constant(labels))
    out = {}
    for method in ("reconstruct", "posterior_means"):
        fn = getattr(model, method, None)
        if fn is None:
            continue
        keras.utils.set_random_seed(seed)
        try:
            value = fn(*args)
        except NotImplementedError:
            continue
        values = value if isinstance(value, (list, tuple)) else [value]
        out[method] = [np.asarray(v, np.float32) for v in values]
    return out


def summarise(arrays) -> list:
    """``[{"shape", "mean", "std"}]`` of each array (float64 statistics)."""
    import numpy as np

    return [{"shape": list(a.shape), "mean": float(np.mean(a, dtype=np.float64)),
             "std": float(np.std(a, dtype=np.float64))} for a in arrays]


def parse_line(line: str):
    """A console line's numbers, as printed: a ``name value | name value`` line (the progress line) ->
    ``{name: value}`` without the speed and ETA fields; any other line -> the list of its number tokens."""
    if " | " in line:
        fields = {}
        for part in line.split(" | ")[1:]:
            part = part.strip()
            if TIMING_FIELD.search(part):
                continue
            key, _, value = part.rpartition(" ")
            fields[key] = value
        head = NUMBER.findall(line.split(" | ")[0])
        return {"head": head, **fields}
    return NUMBER.findall(line)


# --------------------------------------------------------------------------------------------------
# tolerances: how far a number may move on another CPU (shared with tests/test_pins.py, tests/make_tolerances.py)
# --------------------------------------------------------------------------------------------------
# A number's allowed distance from its pin is SAFETY times the largest distance measured across the kernel
# variants of tests/make_tolerances.py (oneDNN on / off, oneDNN limited to AVX2, 1 / 2 threads: the same changes of
# kernels, vector widths and summation orders that another x86 CPU makes), never less than FLOOR_RTOL of the number,
# plus half a unit in the last printed digit for a number read off the console. So a term that sums many values
# (a reconstruction over thousands of pixels, a KL that is a small difference of large log-densities) gets the
# room its own rounding needs, and a number every variant gives bit for bit keeps the floor.
SAFETY = 10.0
FLOOR_RTOL = 1e-5


def printed_value(text: str) -> tuple:
    """A number as printed -> ``(value, half a unit in its last printed digit)``: ``'0.195844'`` ->
    ``(0.195844, 5e-07)``, ``'2537'`` -> ``(2537.0, 0.5)``, ``'25,907,853'`` -> ``(25907853.0, 0.5)``,
    ``'1.5e-05'`` -> ``(1.5e-05, 5e-07)``."""
    text = text.replace(",", "")
    mantissa, _, exponent = text.lower().partition("e")
    decimals = len(mantissa.split(".", 1)[1]) if "." in mantissa else 0
    return float(text), 0.5 * 10.0 ** (int(exponent or 0) - decimals)


def allowed(pinned: float, spread: float = 0.0, unit: float = 0.0) -> float:
    """How far a value may be from ``pinned`` and still be the same behaviour: ``unit`` (the rounding of printed
    numbers: half the last printed digit of the pin plus that of the value; 0 at full precision) plus the larger of :data:`SAFETY` x ``spread`` (the largest distance
    measured across the kernel variants) and :data:`FLOOR_RTOL` x ``|pinned|``."""
    return unit + max(SAFETY * spread, FLOOR_RTOL * abs(pinned), 1e-12)


def flat_numbers(numbers) -> dict:
    """The numbers of a parsed console line (:func:`parse_line`: a dict of fields with a ``head`` list, or a list)
    as ``{key: printed text}``, keys ``'head.0'``, ``'kl/layer0'``, ``'0'``, ... (one spelling for pins, spreads
    and tests)."""
    if isinstance(numbers, dict):
        out = {}
        for key, value in numbers.items():
            if isinstance(value, list):
                out.update({f"{key}.{i}": v for i, v in enumerate(value)})
            else:
                out[key] = value
        return out
    return {str(i): v for i, v in enumerate(numbers)}


def compare_line(got_numbers, pinned_numbers, spreads: dict | None = None) -> list:
    """Differences beyond :func:`allowed` between a console line's numbers and its pin (both parsed by
    :func:`parse_line`); ``spreads`` maps :func:`flat_numbers` keys to measured spreads. Non-numeric fields
    (``epoch 1/1``) must be equal. Returns a list of ``(key, got, pinned, allowed)``, empty when they agree."""
    got, pinned = flat_numbers(got_numbers), flat_numbers(pinned_numbers)
    if sorted(got) != sorted(pinned):
        return [("fields", sorted(got), sorted(pinned), None)]
    bad = []
    for key, text in pinned.items():
        try:
            p_value, p_unit = printed_value(text)
            g_value, g_unit = printed_value(got[key])
        except ValueError:
            if got[key] != text:
                bad.append((key, got[key], text, None))
            continue
        limit = allowed(p_value, (spreads or {}).get(key, 0.0), p_unit + g_unit)
        if not abs(g_value - p_value) <= limit:
            bad.append((key, got[key], text, limit))
    return bad


def find_line(stdout: str, pattern: str):
    for line in stdout.splitlines():
        if re.search(pattern, line):
            return line
    return None


def run_cli(root: Path, argv, workdir: Path, timeout: float = 600) -> subprocess.CompletedProcess:
    """``python <root>/train.py argv`` in ``workdir`` (its model/ and images/ land there)."""
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    env.pop("HVAE_TF_VERBOSE", None)
    return subprocess.run([sys.executable, str(root / "train.py"), *argv], cwd=workdir, env=env,
                          capture_output=True, text=True, timeout=timeout)


def first_step_scalars(run_dir: Path) -> dict:
    """``{tag: value}`` of the scalar TensorBoard summaries written at step 1 (the first logged iteration)."""
    import numpy as np
    import tensorflow as tf

    out = {}
    for path in sorted(run_dir.glob("events.out.tfevents.*")):
        for event in tf.compat.v1.train.summary_iterator(str(path)):
            if event.step != 1:
                continue
            for value in event.summary.value:
                if value.HasField("tensor"):
                    array = tf.make_ndarray(value.tensor)
                    if array.dtype.kind != "f" or array.size != 1:
                        continue
                    out[value.tag] = float(np.asarray(array).reshape(()))
                elif value.HasField("simple_value"):
                    out[value.tag] = float(value.simple_value)
    return out


def cli_record(root: Path, spec: dict) -> dict:
    """One run of a :data:`CLI_RUNS` entry in a fresh temporary folder: its pinned lines and first-step scalars."""
    with tempfile.TemporaryDirectory(prefix="hvae_pin_") as tmp:
        tmp = Path(tmp)
        start = time.time()
        proc = run_cli(root, spec["argv"], tmp)
        seconds = time.time() - start
        if proc.returncode != 0:
            raise RuntimeError(f"train.py {' '.join(spec['argv'])} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
        lines = []
        for pattern in spec["lines"]:
            line = find_line(proc.stdout, pattern)
            if line is None:
                raise RuntimeError(f"no line matching {pattern!r} in:\n{proc.stdout}")
            lines.append({"pattern": pattern, "text": line, "numbers": parse_line(line)})
        netname = next(a.split("=", 1)[1] for a in spec["argv"] if a.startswith("--netname="))
        scalars = first_step_scalars(tmp / "model" / netname)
    return {"argv": spec["argv"], "lines": lines, "first_step_scalars": scalars, "seconds": round(seconds, 1)}


# --------------------------------------------------------------------------------------------------
# recording
# --------------------------------------------------------------------------------------------------
def input_spec(model) -> dict:
    """The fixed batch for ``model`` (today's attributes): its input shape (``example_inputs``), value range,
    binary pixels for a Bernoulli likelihood (``data_density``) else 8-bit levels, labels ``arange(4) %
    num_classes`` for a conditional model."""
    images, labels = model.example_inputs(BATCH_SIZE)
    conditional = labels is not None
    return {"shape": [int(s) for s in images.shape], "value_range": [float(v) for v in model.value_range],
            "kind": "binary" if model.data_density == "bernoulli" else "levels", "seed": BATCH_SEED,
            "labels": [int(i) % int(model.num_classes) for i in range(BATCH_SIZE)] if conditional else None}


def record_preset(name: str) -> dict:
    import keras
    import numpy as np

    start = time.time()
    found = {}

    def batch_and_metadata(model):
        # today's attributes, read off the fresh model (nothing here draws random numbers or changes the model)
        found["spec"] = input_spec(model)
        found["config"] = model.get_config()
        found["serialised"] = keras.saving.serialize_keras_object(model)
        found["batch"] = fixed_batch(found["spec"])
        return found["batch"]

    model_a, terms_a = first_loss_terms(name, batch_and_metadata)
    spec, config, serialised = found["spec"], found["config"], found["serialised"]
    images, labels = found["batch"]
    if json.loads(json.dumps(config)) != config:
        raise RuntimeError(f"{name}: get_config() does not survive a JSON round trip: {config!r}")
    entry = {"class": type(model_a).__name__, "parameters": model_a.count_parameters(), "get_config": config,
             "registered_name": serialised.get("registered_name"), "module": serialised.get("module"),
             "build_config": serialised.get("build_config"), "input": spec,
             "input_sum": float(np.sum(images, dtype=np.float64))}
    # the deterministic outputs: on the same model right after its first loss_terms call (whose training-mode pass
    # moved the batch-norm statistics once), eval mode, kept where two seeds give the same bits
    checks = {}
    outs = [deterministic_outputs(model_a, images, labels, seed) for seed in CHECK_SEEDS]
    for method in outs[0]:
        same = method in outs[1] and len(outs[0][method]) == len(outs[1][method]) and all(
            np.array_equal(a, b) for a, b in zip(outs[0][method], outs[1][method]))
        checks[method] = summarise(outs[0][method]) if same else None
    del model_a, outs

    _, terms_b = first_loss_terms(name, (images, labels))
    entry["first_loss"] = terms_a
    entry["first_loss_repeatable"] = terms_a == terms_b
    if terms_a != terms_b:
        spread = max(abs(terms_a[k] - terms_b[k]) / max(abs(terms_a[k]), 1e-12) for k in terms_a)
        entry["first_loss_rtol"] = max(FIRST_LOSS_RTOL, 10 * spread)
        entry["first_loss_second_run"] = terms_b
    entry["deterministic"] = {k: v for k, v in checks.items() if v is not None}
    entry["not_deterministic"] = sorted(k for k, v in checks.items() if v is None)
    entry["slow"] = name in SLOW_PRESETS
    entry["seconds"] = round(time.time() - start, 1)
    return entry


def environment(root: Path) -> dict:
    import keras
    import numpy as np
    import tensorflow as tf
    import tensorflow_probability as tfp

    from hvae import environment as env

    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True).stdout.strip()
    except OSError:
        commit = None
    return {"commit": commit, "python": sys.version.split()[0], "tensorflow": tf.__version__,
            "keras": keras.__version__, "tensorflow_probability": tfp.__version__, "numpy": np.__version__,
            "variables": {k: os.environ.get(k) for k in env.DEFAULTS}, "onednn": env.onednn_enabled()}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="make_pins.py", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=HERE / "pins" / "pins.json", help="where to write (default: tests/pins/pins.json beside this script)")
    parser.add_argument("--root", type=Path, default=DEFAULT_ROOT,
                        help="the checkout whose code is pinned (its models/, hvae/, train.py; default: the one holding "
                             "this script)")
    parser.add_argument("--presets", nargs="+", metavar="NAME", help="only these presets (default: every one)")
    parser.add_argument("--no-cli", action="store_true", help="skip the command-line runs")
    parser.add_argument("--cli-twice", action="store_true", help="run each command line twice and record whether "
                                                                 "the numbers repeat (about 1.5 minutes more)")
    args = parser.parse_args(argv)
    root = args.root.resolve()
    sys.path.insert(0, str(root))
    import hvae  # noqa: F401  (TensorFlow's environment defaults before TensorFlow is imported)
    from hvae import models

    if not Path(models.__file__).resolve().is_relative_to(root):
        raise SystemExit(f"models imported from {models.__file__}, not from {root}")
    start = time.time()
    names = models.preset_names()
    unknown = sorted(set(args.presets or ()) - set(names))
    if unknown:
        raise SystemExit(f"unknown presets: {', '.join(unknown)}")
    pins = {"about": "today's behaviour, recorded by tests/make_pins.py, compared by tests/test_pins.py",
            "environment": environment(root), "protocol": {
                "batch_size": BATCH_SIZE, "batch_seed": BATCH_SEED, "model_seed": MODEL_SEED,
                "check_seeds": list(CHECK_SEEDS), "first_loss_rtol": FIRST_LOSS_RTOL},
            "preset_names": names, "presets": {}, "cli": {}}
    for name in names:
        if args.presets and name not in args.presets:
            continue
        entry = record_preset(name)
        pins["presets"][name] = entry
        flag = "" if entry["first_loss_repeatable"] else "  NOT REPEATABLE"
        print(f"{name:26s} {entry['class']:12s} {entry['parameters']:>11,d}  loss {entry['first_loss']['loss']:.6g}  "
              f"deterministic: {', '.join(entry['deterministic']) or '-'}  {entry['seconds']:.1f}s{flag}", flush=True)
    if not args.no_cli:
        for key, spec in CLI_RUNS.items():
            first = cli_record(root, spec)
            if args.cli_twice:
                second = cli_record(root, spec)
                # the numbers only: a line's text also holds the speed (images/s)
                first["repeatable"] = ([line["numbers"] for line in first["lines"]]
                                       == [line["numbers"] for line in second["lines"]]
                                       and first["first_step_scalars"] == second["first_step_scalars"])
                first["seconds_second_run"] = second["seconds"]
            pins["cli"][key] = first
            print(f"cli {key}: {first['lines'][0]['text']}  ({first['seconds']:.1f}s, repeatable "
                  f"{first.get('repeatable')})", flush=True)
    pins["seconds"] = round(time.time() - start, 1)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(pins, indent=1) + "\n")
    print(f"wrote {args.out} in {pins['seconds']:.0f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
