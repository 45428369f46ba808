"""Comment documents -> ADF and wiki markup; inserted text never becomes markup."""

from __future__ import annotations

import json
import re

import pytest

from worker.atlassian.markup import adf_to_text, escape_wiki, to_adf, to_wiki
from worker.model.document import BulletList, Document, Link, Mention, Paragraph, Text
from worker.model.people import Person

SAM = Person(id="712020:sam", display_name="Sam Ortiz")
SAM_DC = Person(id="sam", display_name="Sam Ortiz")

HOSTILE = [
    "[~accountid:712020:evil] please approve",
    "[~admin]",
    "{color:red}urgent{color}",
    "*bold* and _em_ and -strike- and +under+ and ^sup^ and ~sub~ and ??cite??",
    "[click me|http://evil.example]",
    "{noformat}raw{noformat} {code}x{code} {html}<b>x</b>{html}",
    "!http://evil.example/pixel.png!",
    "||head||head|| |cell|cell|",
    "h1. Heading",
    "bq. quoted",
    "# numbered",
    "- bullet",
    "line one\nh2. injected heading\n* injected bullet",
    "<script>alert(1)</script> &lt;b&gt;",
    "ends with a backslash \\",
    "two backslashes \\\\ make a line break",
    json.dumps(
        {"type": "doc", "version": 1, "content": [{"type": "mention", "attrs": {"id": "x"}}]}
    ),
    "(y) (!) :) ;) ---- --",
]

#: Wiki constructs that must never appear unescaped in rendered hostile text.
_WIKI_SYNTAX = re.compile(
    r"(?<!\\)\[~|(?<!\\)\{(color|noformat|code|html)|(?<!\\)!\S+(?<!\\)!|(?<!\\)\|\||"
    r"(?<!\\)\[[^\]]*(?<!\\)\|"
)


@pytest.mark.parametrize("hostile", HOSTILE)
def test_wiki_escapes_hostile_text(hostile: str) -> None:
    """Hostile summaries render as literal text: no mention, macro, link, image or table."""
    rendered = to_wiki(Document((Paragraph((Text(hostile),)),)), mentions="accountid")
    assert _WIKI_SYNTAX.search(rendered) is None
    assert "\n" not in rendered
    assert not re.match(r"(h[1-6]|bq)\.|[#*-] ", rendered)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("plain words", "plain words"),
        ("a*b", "a\\*b"),
        ("[x|y]", "\\[x\\|y\\]"),
        ("{color}", "\\{color\\}"),
        ("back\\slash", "back&#92;slash"),
        ("two\nlines", "two lines"),
        ("Acme Corp: phase 2.", "Acme Corp: phase 2."),
        ("ACME-1, MY_PROJ-12 and mary_ann", "ACME-1, MY_PROJ-12 and mary_ann"),
        ("-strike- _em_ a--b -x", "\\-strike\\- \\_em\\_ a\\-\\-b \\-x"),
        ("see https://evil.example/x", "see https&#58;//evil.example/x"),
        ("write to mailto:a@b.example", "write to mailto&#58;a@b.example"),
        ("a\u2028h1. b\u2029c\u0085d\x0be\x0cf", "a h1. b c d e f"),
        ("in\u202evisible\u200b\u200d\u2066\ufeff", "invisible"),
    ],
)
def test_escape_wiki_table(text: str, expected: str) -> None:
    """Each special character gets a backslash, but not ``-``/``_`` inside a word (issue
    keys, usernames); line separators become spaces; invisible characters go; bare URLs are
    not linked; ordinary punctuation stays readable."""
    assert escape_wiki(text) == expected


@pytest.mark.parametrize("hostile", HOSTILE)
def test_adf_keeps_hostile_text_as_one_text_node(hostile: str) -> None:
    """In ADF inserted text is a text node verbatim, never parsed into other nodes."""
    doc = to_adf(Document((Paragraph((Text(hostile),)),)))
    assert doc["content"] == [{"type": "paragraph", "content": [{"type": "text", "text": hostile}]}]


def test_adf_document_shape() -> None:
    """Paragraphs, bullet lists, marks, links and mention nodes render as ADF."""
    document = Document(
        (
            Paragraph((Mention(SAM), Text(" this ticket is "), Text("pre-sales", strong=True))),
            BulletList(((Text("why", em=True),), (Link("policy", "https://wiki.example/p"),))),
        )
    )
    assert to_adf(document) == {
        "type": "doc",
        "version": 1,
        "content": [
            {
                "type": "paragraph",
                "content": [
                    {"type": "mention", "attrs": {"id": "712020:sam", "text": "@Sam Ortiz"}},
                    {"type": "text", "text": " this ticket is "},
                    {"type": "text", "text": "pre-sales", "marks": [{"type": "strong"}]},
                ],
            },
            {
                "type": "bulletList",
                "content": [
                    {
                        "type": "listItem",
                        "content": [
                            {
                                "type": "paragraph",
                                "content": [
                                    {"type": "text", "text": "why", "marks": [{"type": "em"}]}
                                ],
                            }
                        ],
                    },
                    {
                        "type": "listItem",
                        "content": [
                            {
                                "type": "paragraph",
                                "content": [
                                    {
                                        "type": "text",
                                        "text": "policy",
                                        "marks": [
                                            {
                                                "type": "link",
                                                "attrs": {"href": "https://wiki.example/p"},
                                            }
                                        ],
                                    }
                                ],
                            }
                        ],
                    },
                ],
            },
        ],
    }


@pytest.mark.parametrize(
    ("person", "style", "expected"),
    [
        (SAM, "accountid", "[~accountid:712020:sam] hi"),
        (SAM_DC, "username", "[~sam] hi"),
        (Person(id="evil]x", display_name="Ev|l"), "username", "@Ev\\|l hi"),
    ],
)
def test_wiki_mentions(person: Person, style: str, expected: str) -> None:
    """Mentions render per dialect; an id that could break out of the mention is text."""
    document = Document((Paragraph((Mention(person), Text(" hi"))),))
    assert to_wiki(document, mentions=style) == expected  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://wiki.example/p", "[policy|https://wiki.example/p]"),
        ("javascript:alert(1)", "policy"),
        ("https://x.example/a|b", "policy"),
    ],
)
def test_wiki_links_only_safe_urls(url: str, expected: str) -> None:
    """Only http(s)/mailto URLs without markup characters become links."""
    document = Document((Paragraph((Link("policy", url),)),))
    assert to_wiki(document, mentions="username") == expected


def test_wiki_marks_and_lists() -> None:
    """Strong and em use the brace form; bullet items start with '* '."""
    document = Document(
        (
            Paragraph((Text("Stop", strong=True), Text(" please", em=True))),
            BulletList(((Text("one"),), (Text("two"),))),
        )
    )
    assert to_wiki(document, mentions="username") == "{*}Stop{*}{_} please{_}\n\n* one\n* two"


@pytest.mark.parametrize(
    ("adf", "expected"),
    [
        ({"type": "doc", "version": 1, "content": []}, ""),
        (
            {
                "type": "doc",
                "content": [
                    {
                        "type": "paragraph",
                        "content": [
                            {"type": "mention", "attrs": {"id": "a", "text": "@Sam"}},
                            {"type": "text", "text": " hi"},
                        ],
                    },
                    {"type": "paragraph", "content": [{"type": "text", "text": "bye"}]},
                ],
            },
            "@Sam hi\nbye",
        ),
    ],
)
def test_adf_to_text(adf: dict[str, object], expected: str) -> None:
    """ADF bodies reduce to plain text with one line per block."""
    assert adf_to_text(adf) == expected
