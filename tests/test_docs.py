"""The documentation holds together: every relative link in README.md and docs/*.md resolves (the file,
and the heading when the link names one), and the README stays short enough for a user to read."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = sorted((ROOT / "docs").glob("*.md"))
PAGES = [ROOT / "README.md", *DOCS]
README_MAX_LINES = 250

#: [text](target) and ![alt](target); the target ends at the first space or closing parenthesis
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
FENCE = re.compile(r"^(```|~~~).*?^\1", re.S | re.M)


def prose(text: str) -> str:
    """The text without fenced code blocks and inline code, where brackets are not links."""
    text = FENCE.sub("", text)
    return re.sub(r"`[^`\n]*`", "", text)


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"`", "", heading.strip().lower())
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    """The anchors of a Markdown file's headings."""
    heads = re.findall(r"^#{1,6}\s+(.+?)\s*#*\s*$", FENCE.sub("", path.read_text(encoding="utf-8")), re.M)
    return {slug(h) for h in heads}


def relative_links(page: Path) -> list[str]:
    """The links of a page that point into the repository (not URLs, not mail)."""
    links = LINK.findall(prose(page.read_text(encoding="utf-8")))
    return [t for t in links if not re.match(r"^[a-z][a-z0-9+.-]*:", t, re.I)]


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_resolve(page):
    """Each relative link names an existing file, and an existing heading when it has a #fragment."""
    broken = []
    for target in relative_links(page):
        path_part, _, fragment = target.partition("#")
        dest = (page.parent / path_part).resolve() if path_part else page
        if not dest.exists():
            broken.append(f"{target}: no such file")
        elif fragment and dest.suffix == ".md" and fragment not in anchors(dest):
            broken.append(f"{target}: no heading #{fragment} in {dest.name}")
    assert not broken, f"{page.name}: " + "; ".join(broken)


def test_pages_have_links():
    """The link pattern finds the README's links to docs/ (so the check above checks something)."""
    links = relative_links(ROOT / "README.md")
    assert "docs/features.md" in links and "docs/images/live-panel.png" in links
    assert {p.name for p in DOCS} <= {Path(t.partition("#")[0]).name for t in links}, "a docs page the README omits"


def test_readme_is_short():
    """The README is for a user: at most 250 lines, the rest in docs/."""
    n = len((ROOT / "README.md").read_text(encoding="utf-8").splitlines())
    assert n <= README_MAX_LINES, f"README.md has {n} lines (at most {README_MAX_LINES}); move detail to docs/"


def test_slug_follows_github():
    """Anchors as GitHub makes them: the checks above rely on it."""
    assert slug("Batch, images larger than memory, clusters") == "batch-images-larger-than-memory-clusters"
    assert slug('What "behaves like ilastik" means here') == "what-behaves-like-ilastik-means-here"
    assert slug("The classifier file (`.pfc`)") == "the-classifier-file-pfc"
