"""Issue 9 item 6 and issue 15 finding 9 over HTTP: Data Center comments keep issue keys and
usernames linkable, and text from tickets and deal pages cannot smuggle line breaks, links or
invisible characters into the comment."""

from __future__ import annotations

from typing import Any

from tests.exactly_once.conftest import example_site

SMUGGLED = ("Acme Corp\u2028h1. Pay now https://evil.example/pay \u202egnp.exe\u200b"
            "\u0085* list\u000bx\u000cy")


def test_dc_comment_keeps_keys_linkable_and_strips_smuggled_characters(bench: Any) -> None:
    """The comment names ``ACME-1`` as Jira links it (no ``ACME\\-1``); the deal's account
    text brings no line break, no bare link, no bidi override or zero-width space."""
    site = example_site("datacenter")
    deal = next(p for p in site["confluence"]["pages"] if p["id"] == "100001")
    deal["properties"]["Account"] = SMUGGLED
    b = bench(site)
    b.cycle(b.runner())
    [comment] = b.bot_comments("ACME-1")
    body = comment["body"]
    assert "ACME-1 looks like Sales work" in body
    assert "ACME\\-1" not in body
    assert "handoff-exception" in body
    for char in "\u2028\u2029\u0085\u000b\u000c\u202e\u200b":
        assert char not in body, repr(char)
    assert "https://evil" not in body
    assert "https&#58;//evil.example/pay" in body
    paragraphs = body.split("\n")
    assert not any(line.startswith(("h1.", "* list")) for line in paragraphs)
