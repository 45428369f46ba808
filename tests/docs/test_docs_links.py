"""The README is the front door and docs/ the manual: every relative link in them reaches a
file of the repository, and every ``#anchor`` a heading of the page it names (as mkdocs makes
heading ids). ``make docs`` (``mkdocs build --strict``) checks the manual's own links too; this
also covers the README, which mkdocs does not build."""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PAGES = sorted([ROOT / "README.md", *(ROOT / "docs").glob("*.md")])
#: The front door stays a front door; the rest belongs in docs/.
README_MAX_LINES = 300

_FENCE = re.compile(r"^```.*?^```", re.M | re.S)
_CODE = re.compile(r"`[^`\n]*`")
_LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
_HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*$", re.M)


def slug(heading: str) -> str:
    """The id Python-Markdown's toc extension gives a heading (its default ``slugify``)."""
    text = re.sub(r"[`*_]", "", heading)
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    text = re.sub(r"[^\w\s-]", "", text).strip().lower()
    return re.sub(r"[-\s]+", "-", text)


def links(text: str) -> list[str]:
    """Relative link targets in Markdown text, outside code."""
    prose = _CODE.sub("", _FENCE.sub("", text))
    return [t for t in _LINK.findall(prose) if not re.match(r"^[a-z][a-z0-9+.-]*:", t)]


def anchors(path: Path) -> set[str]:
    """The heading ids of a Markdown page."""
    return {slug(h) for h in _HEADING.findall(_FENCE.sub("", path.read_text("utf-8")))}


@pytest.mark.parametrize(("heading", "expected"), [
    ("Incremental cycles", "incremental-cycles"),
    ("A copy of your site: `snapshot`", "a-copy-of-your-site-snapshot"),
    ("The impact of an edit: `plan --against`", "the-impact-of-an-edit-plan-against"),
    ("Writes at Jira's pace", "writes-at-jiras-pace"),
])
def test_slug(heading: str, expected: str) -> None:
    """Heading ids as mkdocs writes them."""
    assert slug(heading) == expected


@pytest.mark.parametrize(("text", "expected"), [
    ("see [a](docs/a.md#x) and ![c](c.png)", ["docs/a.md#x", "c.png"]),
    ("[web](https://example.com) [mail](mailto:a@b)", []),
    ("`[not](a link)` and\n```\n[nor](this.md)\n```\n", []),
])
def test_links(text: str, expected: list[str]) -> None:
    """Relative targets only, never from code."""
    assert links(text) == expected


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_resolves(page: Path) -> None:
    """Each link names a file that exists, and its anchor a heading of that page."""
    broken = []
    for target in links(page.read_text("utf-8")):
        path_part, _, anchor = target.partition("#")
        dest = (page.parent / path_part).resolve() if path_part else page
        if not dest.exists():
            broken.append(f"{target}: no such file")
        elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
            broken.append(f"{target}: no heading #{anchor}")
    assert broken == [], f"{page.relative_to(ROOT)}: {broken}"


def test_readme_is_a_front_door() -> None:
    """At most ~300 lines, and it points at every page of the manual."""
    readme = (ROOT / "README.md").read_text("utf-8")
    assert len(readme.splitlines()) <= README_MAX_LINES
    linked = {t.partition("#")[0] for t in links(readme)}
    pages = {f"docs/{p.name}" for p in (ROOT / "docs").glob("*.md")}
    assert pages <= linked, f"pages the README does not point to: {sorted(pages - linked)}"
