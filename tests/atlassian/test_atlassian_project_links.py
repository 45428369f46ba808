"""A deal page's Jira project cell: a typed key, or a link to the configured Jira site; a link
to another host is evidence, never a key (pure, table-driven)."""

from __future__ import annotations

import pytest

from worker.atlassian.pageprops import CellValue, page_properties
from worker.atlassian.project_links import project_from_cell

SITE = "https://acme.atlassian.net"
DC = "https://jira.example.com/jira"


@pytest.mark.parametrize(
    ("cell", "site", "key", "problem"),
    [
        (CellValue("ACME"), SITE, "ACME", None),
        (CellValue("acme"), SITE, "ACME", None),
        (CellValue("ACME-12"), SITE, "ACME", None),
        (CellValue(f"{SITE}/browse/ACME-1", links=(f"{SITE}/browse/ACME-1",)), SITE, "ACME",
         None),
        (CellValue("ACME board", links=(f"{SITE}/jira/software/projects/ACME/boards/3",)),
         SITE, "ACME", None),
        (CellValue("the project", links=(f"{SITE}/projects/ACME",)), SITE, "ACME", None),
        (CellValue("x", links=(f"{SITE}/jira/software/c/projects/ACME/issues/ACME-4",)), SITE,
         "ACME", None),
        (CellValue("", links=("jira-key:ACME-1",)), SITE, "ACME", None),
        (CellValue("board", links=(f"{DC}/secure/RapidBoard.jspa?rapidView=3&projectKey=ACME",)),
         DC, "ACME", None),
        (CellValue("ACME-1", links=(f"{DC}/browse/ACME-1",)), DC, "ACME", None),
        (CellValue("ACME-1", links=("https://jira.example.com/browse/ACME-1",)), DC, None,
         "which is not a project on this Jira site"),
        (CellValue("ACME-1", links=("https://other.atlassian.net/browse/ACME-1",)), SITE, None,
         "links to https://other.atlassian.net/browse/ACME-1"),
        (CellValue("two", links=(f"{SITE}/browse/ACME-1", f"{SITE}/browse/HOOLI-2")), SITE,
         None, "several projects (ACME, HOOLI)"),
        (CellValue("Acme implementation"), SITE, None, "which is not a project key"),
        (CellValue(""), SITE, None, None),
        (None, SITE, None, None),
    ],
)
def test_project_cell(cell: CellValue | None, site: str, key: str | None,
                      problem: str | None) -> None:
    """Typed keys, links to the site (issue, project, board, macro), links elsewhere."""
    read = project_from_cell(cell, jira_url=site)
    assert read.key == key
    if problem is None:
        assert read.problem is None
    else:
        assert problem in (read.problem or "")


def test_cells_keep_lines_and_links() -> None:
    """A cell's lines (paragraphs, line breaks) and link targets are read from storage."""
    storage = (
        '<ac:structured-macro ac:name="details"><ac:rich-text-body><table><tbody>'
        "<tr><th>Contract status</th><td><p>Signed</p><p>countersigned copy<br/>in DocuSign</p>"
        "</td></tr>"
        f'<tr><th>Jira project</th><td><p><a href="{SITE}/browse/ACME-1" '
        f'data-card-appearance="inline">{SITE}/browse/ACME-1</a></p>'
        f'<p><ac:link><ri:url ri:value="{SITE}/projects/ACME" /></ac:link></p></td></tr>'
        "</tbody></table></ac:rich-text-body></ac:structured-macro>"
    )
    props = page_properties(storage)
    assert props["Contract status"].lines == ("Signed", "countersigned copy", "in DocuSign")
    assert props["Jira project"].links == (f"{SITE}/browse/ACME-1", f"{SITE}/projects/ACME")
