"""Every command line an error message suggests is one the parser accepts: each ``--flag`` named in a message
of ``hvae/``, ``models/`` or ``datasets/`` is a real flag, and each suggestion written out with a literal value
(``--dataset_option=train_split=test``) parses. Read from the source, so a new message is checked too."""

import ast
import re
from pathlib import Path

import pytest

from hvae import cli, registry

ROOT = Path(__file__).resolve().parents[1]
FLAG = re.compile(r"--[a-z][a-z0-9_]*(?:[= ][^\s)\"',;:`]+)?")
# words of a message that look like flags but name another program's options
NOT_OURS = {"--logdir", "--help", "--xla_gpu", "--tf_xla_auto_jit"}


def _messages():
    """The string constants (and f-string parts) of every ``raise`` in the project's source, with their place."""
    for pkg in ("hvae", "models", "datasets"):
        for path in sorted((ROOT / pkg).rglob("*.py")):
            tree = ast.parse(path.read_text())
            for statement in ast.walk(tree):
                if not isinstance(statement, ast.Raise):
                    continue
                for node in ast.walk(statement):
                    if isinstance(node, ast.Constant) and isinstance(node.value, str) and "--" in node.value:
                        yield f"{path.relative_to(ROOT)}:{node.lineno}", node.value


def _all_flags() -> set:
    options = {f.option for f in cli.COMMON_FLAGS}
    for fam in registry.families():
        options |= {f.option for f in fam.flags}
    return options


def _parses(tokens: list) -> bool:
    for fam in registry.families():
        try:
            cli.build_parser("train.py", fam).parse_args(tokens)
            return True
        except Exception:
            continue
    return False


SUGGESTIONS = sorted({(where, m.group(0)) for where, text in _messages() for m in FLAG.finditer(text)
                      if m.group(0).split("=")[0].split()[0] not in NOT_OURS})


def test_messages_were_found():
    assert len(SUGGESTIONS) > 30 and any("dataset_option" in s for _, s in SUGGESTIONS)


@pytest.mark.parametrize("where, suggestion", SUGGESTIONS)
def test_every_suggested_flag_exists_and_parses(where, suggestion):
    option = re.split(r"[= ]", suggestion)[0]
    assert option in _all_flags(), f"{where}: {option} is not a flag of train.py"
    if re.search(r"[= ]", suggestion) and "{" not in suggestion:
        value = re.split(r"[= ]", suggestion, maxsplit=1)[1]
        flag = next(f for f in list(cli.COMMON_FLAGS) + [x for fam in registry.families() for x in fam.flags]
                    if f.option == option)
        if flag.kwargs.get("action") in ("store_true", "store_false"):
            return  # "--legacy does not apply": the word after a switch is prose
        if flag.kwargs.get("choices") and value not in flag.kwargs["choices"] and not value.isidentifier():
            return
        if suggestion[len(option)] == " " and not (flag.kwargs.get("choices") and value in flag.kwargs["choices"]) \
                and not re.fullmatch(r"[0-9.e+-]+|[a-z0-9_]+=[^=]+", value):
            return  # "--zdims has 3 entries": prose after the flag, not a value
        assert _parses([f"{option}={value}"]), f"{where}: {suggestion!r} does not parse"


def test_the_mnist_hint_parses():
    """The hint that once said ``--train_split test`` (no such flag)."""
    from hvae.datasets.mnist import _from_idx

    with pytest.raises(Exception) as err:
        _from_idx(str(ROOT / "no_such_folder"), "train")
    hint = re.search(r"\((--[^)]*)\)", str(err.value)).group(1)
    assert _parses([hint]), hint
