"""Every relative link in the documentation and every document a docstring points to exists.

Markdown files (README.md, docs/, images/README.md, benchmarks/): each ``[text](target)`` and
``![alt](target)`` whose target is not a URL must name an existing file, and a ``#anchor`` (alone or after
a file) must be one of that file's headings (GitHub's anchor rule). Python files: each document under ``docs/``
they mention must exist.
"""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SKIP = {".venv", ".git", "model", "__pycache__", ".pytest_cache"}
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
DOC_REF = re.compile(r"docs/[\w./-]+\.md")


def _files(pattern):
    return [p for p in ROOT.rglob(pattern) if not SKIP & set(p.relative_to(ROOT).parts)]


def _anchors(markdown: str) -> set:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens."""
    out = set()
    for line in markdown.splitlines():
        m = re.match(r"#+\s+(.*)", line)
        if m:
            text = re.sub(r"[^\w\- ]", "", m.group(1).strip().lower())
            out.add(text.replace(" ", "-"))
    return out


def test_markdown_links_resolve():
    broken = []
    for md in _files("*.md"):
        text = md.read_text()
        for target in LINK.findall(text):
            if re.match(r"[a-z]+://", target) or target.startswith("mailto:"):
                continue
            path, _, anchor = target.partition("#")
            dest = (md.parent / path).resolve() if path else md
            if not dest.exists():
                broken.append(f"{md.relative_to(ROOT)}: {target} (no such file)")
            elif anchor and dest.suffix == ".md" and anchor not in _anchors(dest.read_text()):
                broken.append(f"{md.relative_to(ROOT)}: {target} (no such heading)")
    assert not broken, "\n".join(broken)


def test_documents_named_in_code_exist():
    broken = []
    for py in _files("*.py"):
        for ref in DOC_REF.findall(py.read_text()):
            if not (ROOT / ref).exists():
                broken.append(f"{py.relative_to(ROOT)}: {ref}")
    assert not broken, "\n".join(broken)


def test_the_checker_catches_a_broken_link(tmp_path):
    text = "see [x](missing.md) and [y](#no-heading)\n# A heading\n"
    assert LINK.findall(text) == ["missing.md", "#no-heading"]
    assert "a-heading" in _anchors(text) and "no-heading" not in _anchors(text)
