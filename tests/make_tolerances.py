#!/usr/bin/env python
"""Measure how far each pinned number moves when only the kernels change, and write the spreads that
``tests/test_pins.py`` turns into tolerances (``tests/pins/tolerances.json``).

    python tests/make_tolerances.py                                   # every variant, every preset, the CLI runs
    python tests/make_tolerances.py --presets VAE LVAE_mnist_6 --no-cli --out /tmp/t.json   # a few, for a look

The pins (``tests/pins/pins.json``, :mod:`make_pins`) were recorded on one CPU with oneDNN's kernels. Another
x86 CPU runs other kernels (AVX-512 or AVX2 or AMX code paths, other blockings), so float32 sums are added in
another order and a number moves in its last digits. This script repeats the pins' protocol under
:data:`VARIANTS`, each in a fresh process (TensorFlow reads these variables once, when it starts):

- ``onednn``: the pins' own setting (oneDNN on, every core): on the recording CPU it gives the pins bit for bit;
- ``onednn_1thread``: one intra-op and one inter-op thread (other work splits and reduction orders);
- ``onednn_avx2``: oneDNN limited to AVX2 code (``ONEDNN_MAX_CPU_ISA``), the kernels of a CPU without AVX-512;
- ``eigen``: oneDNN off, TensorFlow's Eigen kernels (what a CPU where TensorFlow's oneDNN default is off and the
  user did not turn it on runs);
- ``eigen_1thread``: Eigen on one thread.

For every number the pins compare (each term of the first loss, each deterministic output summary, each number
of the pinned console lines, each first-step TensorBoard scalar), the spread is the largest ``|variant - pin|``
over the variants. ``tests/test_pins.py`` allows ``make_pins.allowed(pin, spread)``: :data:`make_pins.SAFETY`
times that spread, never less than :data:`make_pins.FLOOR_RTOL` of the number (plus the printed rounding for a
console number). The file also records the largest relative spread per preset, which is what the variants changed.

Takes about 40 minutes on 2 cores (each variant about 8; ``HVAE_PINS_SLOW``'s presets included). Re-run after
re-recording the pins.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
ONE_THREAD = {"TF_NUM_INTRAOP_THREADS": "1", "TF_NUM_INTEROP_THREADS": "1", "OMP_NUM_THREADS": "1"}
VARIANTS = {
    "onednn": {"TF_ENABLE_ONEDNN_OPTS": "1"},
    "onednn_1thread": {"TF_ENABLE_ONEDNN_OPTS": "1", **ONE_THREAD},
    "onednn_avx2": {"TF_ENABLE_ONEDNN_OPTS": "1", "ONEDNN_MAX_CPU_ISA": "AVX2"},
    "eigen": {"TF_ENABLE_ONEDNN_OPTS": "0"},
    "eigen_1thread": {"TF_ENABLE_ONEDNN_OPTS": "0", **ONE_THREAD},
}
# every variable a variant may set: cleared from the inherited environment so each variant is only itself
VARIABLES = sorted({k for env in VARIANTS.values() for k in env})


def _protocol():
    spec = importlib.util.spec_from_file_location("hvae_make_pins", HERE / "make_pins.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def measure(pins: dict, names, cli: bool) -> dict:
    """This process's numbers by the pins' protocol: ``{"presets": {name: {"first_loss": {term: value},
    "deterministic": {method: [summary]}}}, "cli": {run: {"lines": [parsed numbers], "first_step_scalars": {}}}}``."""
    protocol = _protocol()
    import hvae  # noqa: F401  (TensorFlow's environment defaults; the variant's variables are already set)

    out = {"presets": {}, "cli": {}}
    for name in names:
        pin = pins["presets"][name]
        images, labels = protocol.fixed_batch(pin["input"])
        model, terms = protocol.first_loss_terms(name, (images, labels))
        entry = {"first_loss": terms, "deterministic": {}}
        if pin.get("deterministic"):
            outputs = protocol.deterministic_outputs(model, images, labels, protocol.CHECK_SEEDS[0])
            entry["deterministic"] = {m: protocol.summarise(outputs[m]) for m in pin["deterministic"] if m in outputs}
        del model
        out["presets"][name] = entry
        print(f"  {name}: loss {terms.get('loss')!r}", flush=True)
    if cli:
        for run, pin in pins["cli"].items():
            with tempfile.TemporaryDirectory(prefix="hvae_tol_") as tmp:
                proc = protocol.run_cli(ROOT, pin["argv"], Path(tmp))
                if proc.returncode != 0:
                    raise RuntimeError(f"{run} failed:\n{proc.stderr[-3000:]}")
                lines = []
                for line_pin in pin["lines"]:
                    line = protocol.find_line(proc.stdout, line_pin["pattern"])
                    lines.append(None if line is None else protocol.parse_line(line))
                netname = next(a.split("=", 1)[1] for a in pin["argv"] if a.startswith("--netname="))
                scalars = protocol.first_step_scalars(Path(tmp) / "model" / netname)
            out["cli"][run] = {"lines": lines, "first_step_scalars": scalars}
            print(f"  cli {run}: done", flush=True)
    return out


def _distance(a: float, b: float) -> float:
    return abs(float(a) - float(b))


def spreads(pins: dict, measured: dict) -> dict:
    """``measured`` = ``{variant: measure(...)}`` -> the largest distance of each pinned number from its pin, in
    the shape ``tests/test_pins.py`` reads (and, per preset, the largest relative one, for a reader)."""
    protocol = _protocol()
    out = {"presets": {}, "cli": {}}
    for name, pin in pins["presets"].items():
        runs = [m["presets"][name] for m in measured.values() if name in m["presets"]]
        if not runs:
            continue
        loss = {term: max(_distance(r["first_loss"][term], value) for r in runs)
                for term, value in pin["first_loss"].items()}
        determ = {}
        for method, summaries in (pin.get("deterministic") or {}).items():
            determ[method] = [{key: max(_distance(r["deterministic"][method][i][key], s[key]) for r in runs)
                               for key in ("mean", "std")} for i, s in enumerate(summaries)]
        relative = max(loss[t] / max(abs(v), 1e-12) for t, v in pin["first_loss"].items())
        out["presets"][name] = {"first_loss": loss, "deterministic": determ, "largest_relative": relative}
    for run, pin in pins["cli"].items():
        runs = [m["cli"][run] for m in measured.values() if run in m["cli"]]
        if not runs:
            continue
        lines = []
        for i, line_pin in enumerate(pin["lines"]):
            pinned = protocol.flat_numbers(line_pin["numbers"])
            spread = {}
            for key, text in pinned.items():
                try:
                    value, _ = protocol.printed_value(text)
                except ValueError:
                    continue
                spread[key] = max(_distance(protocol.printed_value(protocol.flat_numbers(r["lines"][i])[key])[0],
                                            value) for r in runs)
            lines.append(spread)
        scalars = {tag: max(_distance(r["first_step_scalars"][tag], value) for r in runs)
                   for tag, value in pin["first_step_scalars"].items()}
        out["cli"][run] = {"lines": lines, "first_step_scalars": scalars}
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="make_tolerances.py", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=HERE / "pins" / "tolerances.json",
                        help="where to write (default: tests/pins/tolerances.json)")
    parser.add_argument("--presets", nargs="+", metavar="NAME", help="only these presets (default: every pinned one)")
    parser.add_argument("--no-cli", action="store_true", help="skip the command-line runs")
    parser.add_argument("--variants", nargs="+", choices=list(VARIANTS), default=list(VARIANTS),
                        help="the kernel variants to run (default: all)")
    parser.add_argument("--measure", type=Path, metavar="JSON", help=argparse.SUPPRESS)  # one variant's worker
    args = parser.parse_args(argv)
    pins = json.loads((HERE / "pins" / "pins.json").read_text())
    names = [n for n in pins["presets"] if not args.presets or n in args.presets]
    if args.measure:
        args.measure.write_text(json.dumps(measure(pins, names, not args.no_cli)))
        return 0
    start = time.time()
    measured = {}
    with tempfile.TemporaryDirectory(prefix="hvae_tolerances_") as tmp:
        for variant in args.variants:
            env = {k: v for k, v in os.environ.items() if k not in VARIABLES}
            env.update(VARIANTS[variant])
            path = Path(tmp) / f"{variant}.json"
            command = [sys.executable, str(Path(__file__).resolve()), "--measure", str(path), "--presets", *names]
            if args.no_cli:
                command.append("--no-cli")
            print(f"variant {variant}: {VARIANTS[variant]}", flush=True)
            t0 = time.time()
            subprocess.run(command, env=env, check=True)
            measured[variant] = json.loads(path.read_text())
            print(f"variant {variant}: {time.time() - t0:.0f}s", flush=True)
    protocol = _protocol()
    result = {"about": "the largest distance of each pinned number from its pin across kernel variants; "
                       "tests/test_pins.py allows SAFETY x this, at least FLOOR_RTOL of the number",
              "variants": {v: VARIANTS[v] for v in args.variants}, "safety": protocol.SAFETY,
              "floor_rtol": protocol.FLOOR_RTOL, "pins_commit": pins["environment"]["commit"],
              "cpu": _cpu(), **spreads(pins, measured), "seconds": round(time.time() - start)}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    worst = sorted(result["presets"].items(), key=lambda kv: -kv[1]["largest_relative"])[:5]
    print("largest relative spreads: " + ", ".join(f"{n} {e['largest_relative']:.1e}" for n, e in worst))
    print(f"wrote {args.out} in {result['seconds']}s")
    return 0


def _cpu() -> str | None:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


if __name__ == "__main__":
    sys.exit(main())
