"""Every relative link in the documentation and every document a docstring points to exists; the README stays
a front door.

Markdown files (README.md, docs/, images/README.md, benchmarks/): each ``[text](target)`` and
``![alt](target)`` whose target is not a URL must name an existing file (an image included), and a ``#anchor``
(alone or after a file) must be one of that file's headings (GitHub's anchor rule). Python files: each document
under ``docs/`` they mention must exist. The README links every page of ``docs/``, is at most 250 lines, types no
count of tests (a count goes stale; the measured run time may stay), and its results tables name the test images
and K of every row. README.md and docs/ (but docs/fidelity.md, a record kept apart) name the hardware instead of
a lab notebook's "this machine".
"""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SKIP = {".venv", ".git", "model", "__pycache__", ".pytest_cache"}
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
DOC_REF = re.compile(r"docs/[\w./-]+\.md")
FENCE = re.compile(r"^```.*?^```[^\n]*$", re.S | re.M)
README = ROOT / "README.md"
DOCS = sorted((ROOT / "docs").glob("*.md"))


def _files(pattern):
    return [p for p in ROOT.rglob(pattern) if not SKIP & set(p.relative_to(ROOT).parts)]


def _prose(markdown: str) -> str:
    """The text outside fenced code blocks (a ``# comment`` in a bash block is no heading, a link there no link)."""
    return FENCE.sub("", markdown)


def _anchors(markdown: str) -> set:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens; a repeated heading gets -1, -2."""
    out, seen = set(), {}
    for line in _prose(markdown).splitlines():
        m = re.match(r"#+\s+(.*)", line)
        if m:
            slug = re.sub(r"[^\w\- ]", "", m.group(1).strip().lower()).replace(" ", "-")
            n = seen.get(slug, 0)
            seen[slug] = n + 1
            out.add(slug if n == 0 else f"{slug}-{n}")
    return out


def _links(markdown: str) -> list:
    return LINK.findall(_prose(markdown))


def test_markdown_files_checked_include_the_readme_and_every_doc():
    checked = set(_files("*.md"))
    assert README in checked and DOCS and set(DOCS) <= checked


def test_markdown_links_resolve():
    broken = []
    for md in _files("*.md"):
        text = md.read_text()
        for target in _links(text):
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
    text = "see [x](missing.md) and [y](#no-heading)\n# A heading\n## A heading\n```bash\n# not a heading\n[z](w)\n```\n"
    assert _links(text) == ["missing.md", "#no-heading"]
    anchors = _anchors(text)
    assert {"a-heading", "a-heading-1"} <= anchors and "no-heading" not in anchors and "not-a-heading" not in anchors


def test_the_readme_links_every_page_of_docs():
    linked = {(ROOT / t.partition("#")[0]).resolve() for t in _links(README.read_text()) if t.startswith("docs/")}
    assert not [d.name for d in DOCS if d.resolve() not in linked]


def test_the_readme_is_a_front_door():
    assert len(README.read_text().splitlines()) <= 250


def test_the_readme_types_no_count_of_tests():
    """A typed count ("668 passed", "700 tests") goes stale with the next test; the README states none."""
    counts = re.findall(r"\b\d[\d,]*\s+(?:tests|passed|skipped|failed|xfailed|deselected)\b", README.read_text())
    assert not counts, counts


def test_every_results_row_names_its_test_images_and_k():
    section = README.read_text().split("\n## Results", 1)[1].split("\n## ", 1)[0]
    tables = 0
    for block in re.findall(r"(?:^\|.*\|\n)+", section, re.M):
        rows = [[c.strip() for c in line.strip("|").split("|")] for line in block.splitlines()]
        header, body = rows[0], rows[2:]
        assert "test images" in header and "K" in header, header
        tables += 1
        for row in body:
            assert row[header.index("test images")] and row[header.index("K")], row
    assert tables >= 2


def test_no_lab_notebook_wording():
    """The hardware is named (2 AMD EPYC cores, docs/performance.md#hardware), not "this machine"."""
    phrase = re.compile(r"this (machine|vm|session|cpu|computer)|across two sessions", re.I)
    found = [f"{md.relative_to(ROOT)}:{i}: {line.strip()}"
             for md in [README, *DOCS] if md.name != "fidelity.md"
             for i, line in enumerate(md.read_text().splitlines(), 1) if phrase.search(line)]
    assert not found, "\n".join(found)
    hardware = (ROOT / "docs" / "performance.md").read_text().split("\n## Hardware", 1)[1].split("\n## ", 1)[0]
    assert "AMD EPYC" in hardware and "2 CPUs" in hardware
