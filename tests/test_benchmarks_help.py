"""Every script under ``benchmarks/`` answers ``--help``: it prints its usage and a description and exits 0 at once,
without importing a framework, measuring anything or writing a file.

The scripts are found by glob (``benchmarks/**/*.py``), so a new one is covered without touching this file; the
few ``.py`` files there that are not run by hand are listed in :data:`NOT_SCRIPTS`, and a test checks that the
list holds exactly the files without a ``__main__`` block. Each script runs from a copy of ``benchmarks/`` in a
temporary folder, so that one that ran its benchmark despite ``--help`` would write its results there (and fail
here), not over ``benchmarks/results/``.
"""

import ast
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BENCHMARKS = ROOT / "benchmarks"

# .py files under benchmarks/ that are not scripts, and what they are
NOT_SCRIPTS = {
    "shims/fused_adam/sitecustomize.py": "imported by Python at start-up in a harness's worker (PYTHONPATH)",
    "pytorch/worker_common.py": "the PyTorch harness's line protocol, imported by its scripts",
    "cases.py": "the speed benchmarks' cases built from the presets, imported by train_speed.py and vlae_cost.py",
}
HEAVY = ("tensorflow", "keras", "torch", "jax", "tensorflow_probability", "tensorflow_datasets")
TIME_LIMIT_S = 60  # a --help of these scripts takes well under 2 s; importing TensorFlow alone takes longer


def _python_files():
    return sorted(p.relative_to(BENCHMARKS).as_posix() for p in BENCHMARKS.rglob("*.py")
                  if "__pycache__" not in p.parts)


SCRIPTS = [p for p in _python_files() if p not in NOT_SCRIPTS]


def _has_main_block(path: Path) -> bool:
    for node in ast.parse(path.read_text(), filename=str(path)).body:
        if isinstance(node, ast.If) and "__main__" in ast.unparse(node.test) and "__name__" in ast.unparse(node.test):
            return True
    return False


def _copy_tree(src: Path, dst: Path) -> None:
    """The .py files of ``src`` (not results/ and its figures) at the same relative paths under ``dst``."""
    for path in src.rglob("*.py"):
        if "__pycache__" in path.parts:
            continue
        target = dst / path.relative_to(src)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, target)


def _heavy_imports(importtime_stderr: str) -> set:
    """Top-level names of the HEAVY packages that ``python -X importtime`` reports as imported."""
    found = set()
    for line in importtime_stderr.splitlines():
        if line.startswith("import time:") and line.count("|") == 2:
            top = line.rsplit("|", 1)[1].strip().split(".")[0]
            if top in HEAVY:
                found.add(top)
    return found


def _run_help(script: Path, root: Path, cwd: Path) -> list:
    """Run ``python script --help``; return what is wrong with it (empty: a well-behaved --help)."""
    before = {p for p in root.rglob("*") if "__pycache__" not in p.parts} | {root}
    start = time.monotonic()
    try:
        out = subprocess.run([sys.executable, "-X", "importtime", str(script), "--help"], cwd=str(cwd),
                             capture_output=True, text=True, timeout=TIME_LIMIT_S, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        return [f"still running after {TIME_LIMIT_S} s"]
    seconds = time.monotonic() - start
    problems = []
    errors = "\n".join(line for line in out.stderr.splitlines() if not line.startswith("import time:"))
    if out.returncode != 0:
        problems.append(f"exit code {out.returncode}: {errors[-2000:]}")
    if not out.stdout.lstrip().startswith("usage:"):
        problems.append(f"no 'usage:' at the start of its output: {out.stdout[:300]!r}")
    paragraphs = [p.strip() for p in out.stdout.split("\n\n") if p.strip()]
    sections = ("usage:", "options:", "optional arguments:", "positional arguments:")
    # argparse prints the description as one paragraph after the usage; argument groups' titles end with ':'
    if not any(not p.startswith(sections) and not p.splitlines()[0].endswith(":") for p in paragraphs[1:]):
        problems.append("no description between the usage and the options")
    heavy = _heavy_imports(out.stderr)
    if heavy:
        problems.append(f"imported {sorted(heavy)} for --help")
    written = sorted(str(p.relative_to(root)) for p in root.rglob("*")
                     if p not in before and "__pycache__" not in p.parts)
    if written:
        problems.append(f"wrote {written}")
    if seconds > TIME_LIMIT_S / 2:
        problems.append(f"took {seconds:.1f} s")
    return problems


def test_scripts_are_found():
    # the glob sees the scripts of benchmarks/ and of the PyTorch harness in benchmarks/pytorch/
    assert {"train_speed.py", "mmd_bandwidth.py", "pytorch/bench.py", "pytorch/tf_worker.py",
            "pytorch/torch_worker.py"} <= set(SCRIPTS)


def test_every_python_file_is_a_script_or_listed_as_a_helper():
    for name in NOT_SCRIPTS:
        assert (BENCHMARKS / name).is_file(), f"{name} is listed in NOT_SCRIPTS but does not exist"
        assert not _has_main_block(BENCHMARKS / name), f"{name} has a __main__ block: it is a script, test its --help"
    for name in SCRIPTS:
        assert _has_main_block(BENCHMARKS / name), (
            f"benchmarks/{name} has no `if __name__ == '__main__':` block: a script parses its arguments there "
            f"(argparse, so that --help works); a helper module goes into NOT_SCRIPTS with what it is")


@pytest.mark.parametrize("name", SCRIPTS)
def test_help_answers_at_once_and_runs_nothing(name, tmp_path):
    root = tmp_path / "repo"
    _copy_tree(BENCHMARKS, root / "benchmarks")
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    problems = _run_help(root / "benchmarks" / name, tmp_path, cwd)
    assert not problems, f"benchmarks/{name} --help: " + "; ".join(problems)


def test_the_check_catches_a_script_that_runs_on_help(tmp_path):
    # a "benchmark" without argparse that imports a framework (a stub named tensorflow, so that this stays fast)
    # and writes its result: each of the three is reported
    (tmp_path / "tensorflow").mkdir()
    (tmp_path / "tensorflow" / "__init__.py").write_text("")
    script = tmp_path / "bench.py"
    script.write_text("import tensorflow\nopen('result.json', 'w').write('{}')\nprint('measured')\n")
    problems = "; ".join(_run_help(script, tmp_path, tmp_path))
    assert "no 'usage:'" in problems and "imported ['tensorflow']" in problems and "result.json" in problems
