"""A run folder that cannot be written (an immutable or read-only folder; a full disk or a missing permission
raise the same OSError): train, resume, evaluate and generate end with one line naming the path and what to do,
exit status 5, and nothing already computed is lost (``evaluate`` prints its result before it writes it)."""

import json
import os
import shutil
import subprocess

import pytest

from hvae import cli

VAE = ["VAE", "--dataset=digits", "--netname=v"]


def _lock(paths) -> list:
    """Make ``paths`` unwritable as a user finds them: ``chattr +i`` as root (root ignores permission bits),
    else read-only permission bits. Returns what to undo; skips where neither works here."""
    locked = []
    for path in paths:
        if os.geteuid() == 0 and shutil.which("chattr"):
            r = subprocess.run(["chattr", "-R", "+i", str(path)], capture_output=True, text=True)
            if r.returncode != 0:
                _unlock(locked)
                pytest.skip(f"chattr +i is not supported here: {r.stderr.strip()}")
        else:
            for root, dirs, files in os.walk(path):
                for name in dirs + files + [""]:
                    p = os.path.join(root, name)
                    os.chmod(p, os.stat(p).st_mode & ~0o222)
        locked.append(path)
        try:
            open(os.path.join(path, "probe"), "w").close()
        except OSError:
            continue
        _unlock(locked)
        pytest.skip(f"{path} stays writable here")
    return locked


def _unlock(paths) -> None:
    for path in paths:
        if os.geteuid() == 0 and shutil.which("chattr"):
            subprocess.run(["chattr", "-R", "-i", str(path)], capture_output=True)
        for root, dirs, files in os.walk(path):
            for name in dirs + files + [""]:
                p = os.path.join(root, name)
                os.chmod(p, os.stat(p).st_mode | 0o200)


@pytest.fixture
def locked_run(tmp_path, monkeypatch):
    """A trained VAE run in ``model/v`` (and its ``images/v``), then locked together with ``model/``."""
    monkeypatch.chdir(tmp_path)
    assert cli.main(VAE[:1] + ["train"] + VAE[1:] + ["--epochs=1"]) == 0
    assert cli.main(VAE[:1] + ["generate"] + VAE[1:]) == 0
    locked = _lock([tmp_path / "model", tmp_path / "images"])
    yield tmp_path
    _unlock(locked)


def _one_line(capsys, status, *needles):
    out = capsys.readouterr()
    lines = out.err.strip().splitlines()
    assert status == 5, out.err
    assert len(lines) == 1 and lines[0].startswith("train.py: error: cannot "), out.err
    assert "another --netname" in lines[0]
    for needle in needles:
        assert needle in lines[0], lines[0]
    return out


def test_resume_in_a_locked_run_folder(locked_run, capsys):
    capsys.readouterr()
    status = cli.main(VAE[:1] + ["train"] + VAE[1:] + ["--epochs=2"])
    _one_line(capsys, status, os.path.join("model", "v"))


def test_train_a_new_run_under_a_locked_model_folder(locked_run, capsys):
    capsys.readouterr()
    status = cli.main(["VAE", "train", "--dataset=digits", "--netname=w", "--epochs=1"])
    _one_line(capsys, status, os.path.join("model", "w"))


def test_evaluate_prints_its_result_before_the_write_fails(locked_run, capsys):
    capsys.readouterr()
    status = cli.main(VAE[:1] + ["evaluate"] + VAE[1:] + ["--iw_samples=4", "--num_images=100000"])
    out = _one_line(capsys, status, os.path.join("model", "v", "evaluation"), "printed above")
    assert "importance-weighted bound, K = 4" in out.out
    # more images asked for than the split holds: said in one line, not cut silently
    assert "--num_images 100,000 is more than the test split's 359 images: evaluating all 359" in out.out
    start = out.out.index("\n{") + 1
    result = json.loads(out.out[start:out.out.rindex("}") + 1])
    assert result["iw_samples"] == 4 and result["num_images"] == 359 and result["iw_bound"]["mean"] < 0


def test_a_closed_stdout_is_not_a_run_folder_error(tmp_path):
    """``hvae-train --help | head -1``: the pipe closes early; that ends quietly, it is no unwritable folder."""
    import sys

    script = "import sys; from hvae.cli import train_script; sys.exit(train_script())"
    p = subprocess.Popen([sys.executable, "-c", script, "--help"], cwd=tmp_path, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    p.stdout.close()  # the reader is gone before the help is written: every write gets EPIPE
    err = p.stderr.read()
    assert p.wait(timeout=300) == 1 and "error" not in err and "Traceback" not in err, err


def test_generate_into_a_locked_figure_folder(locked_run, capsys):
    capsys.readouterr()
    status = cli.main(VAE[:1] + ["generate"] + VAE[1:])
    _one_line(capsys, status, os.path.join("images", "v"))
