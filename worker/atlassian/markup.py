"""Comment documents -> ADF (Jira Cloud REST v3) or wiki markup (v2 and Data Center).

Every inserted value is text, never markup: in ADF that holds by construction (text nodes),
in wiki markup by escaping each character the renderer could read as syntax.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from worker.model.document import BulletList, Document, Inline, Link, Paragraph, Text

MentionStyle = Literal["accountid", "username"]

#: Characters Jira's wiki renderer treats as markup somewhere; a backslash makes each literal.
_WIKI_SPECIAL = frozenset("*_?-+^~{}[]|!#()\\")
#: Marks that bind only at a word boundary (``-strike-``, ``_em_``): between two letters or
#: digits they are plain text, and escaping them there breaks issue keys (``ACME\-1`` is no
#: longer linked) and usernames (``mary\_ann``).
_WORD_INNER = frozenset("-_")
#: Line and paragraph separators a renderer may take for a new line (which could start a
#: block: ``h1.``, ``bq.``, ``*``, ``#``): NEL, VT, FF, U+2028, U+2029, and CR/LF.
_LINE_BREAKS = re.compile("\r\n|[\n\r\x0b\x0c\x85\u2028\u2029]")
#: Invisible characters that change how text reads without showing: zero-width spaces and
#: joiners, the word joiner, the BOM, and bidirectional embeddings, overrides and isolates.
_INVISIBLE = re.compile("[\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]")
#: ``scheme://`` (and ``mailto:``) in text: Jira's renderer turns it into a link by itself.
_BARE_URL = re.compile(r"(?i)\b([a-z][a-z0-9+.\-]*):(?=//)|\b(mailto):")
#: Block markers that only bite at the start of a line ("h1. Title", "bq. quote").
_BLOCK_START = re.compile(r"^(h[1-6]|bq)\.", re.IGNORECASE)
_SAFE_URL = re.compile(r"^(https?://|mailto:)[^\s\[\]|{}<>\"'`\\]+$", re.IGNORECASE)
_SAFE_MENTION_ID = re.compile(r"^[A-Za-z0-9:._@+\-]+$")


def to_adf(document: Document) -> dict[str, Any]:
    """Render a document as an Atlassian Document Format ``doc`` node."""
    content: list[dict[str, Any]] = []
    for block in document.blocks:
        if isinstance(block, Paragraph):
            content.append(_adf_paragraph(block.inlines))
        elif isinstance(block, BulletList):
            content.append(
                {
                    "type": "bulletList",
                    "content": [
                        {"type": "listItem", "content": [_adf_paragraph(item)]}
                        for item in block.items
                    ],
                }
            )
    return {"type": "doc", "version": 1, "content": content}


def _adf_paragraph(inlines: tuple[Inline, ...]) -> dict[str, Any]:
    nodes = [node for node in (_adf_inline(i) for i in inlines) if node is not None]
    return {"type": "paragraph", "content": nodes}


def _adf_inline(node: Inline) -> dict[str, Any] | None:
    if isinstance(node, Text):
        text = clean_text(node.text)
        if not text:
            return None  # ADF rejects empty text nodes
        marks = [{"type": name} for name, on in (("strong", node.strong), ("em", node.em)) if on]
        out: dict[str, Any] = {"type": "text", "text": text}
        if marks:
            out["marks"] = marks
        return out
    if isinstance(node, Link):
        label = node.text or node.url
        if not _SAFE_URL.match(node.url):
            return {"type": "text", "text": label}
        return {
            "type": "text",
            "text": label,
            "marks": [{"type": "link", "attrs": {"href": node.url}}],
        }
    return {
        "type": "mention",
        "attrs": {"id": node.person.id, "text": f"@{node.person.display_name}"},
    }


def clean_text(text: str) -> str:
    """Ticket text without invisible characters (zero-width, bidi controls): they can make a
    comment read differently from what it says."""
    return _INVISIBLE.sub("", text)


def escape_wiki(text: str) -> str:
    """Make ``text`` render literally in Jira wiki markup.

    Each special character gets a backslash, except ``-`` and ``_`` between two letters or
    digits (plain text there; an escape would unlink ``ACME-1``). A backslash itself becomes
    an HTML entity, since ``\\\\`` is a forced line break. Every kind of line break becomes
    a space: a new line would let ``h1.``, ``bq.``, ``*`` or ``#`` start a block. Invisible
    characters are dropped, and the colon of a bare URL becomes an entity so the renderer
    does not make a link of it.
    """
    flat = _LINE_BREAKS.sub(" ", clean_text(text))
    out: list[str] = []
    for index, char in enumerate(flat):
        if char == "\\":
            out.append("&#92;")
        elif char in _WORD_INNER and _inside_word(flat, index):
            out.append(char)
        elif char in _WIKI_SPECIAL:
            out.append("\\" + char)
        else:
            out.append(char)
    return _BARE_URL.sub(lambda m: (m.group(1) or m.group(2)) + "&#58;", "".join(out))


def _inside_word(text: str, index: int) -> bool:
    return 0 < index < len(text) - 1 and text[index - 1].isalnum() and text[index + 1].isalnum()


def to_wiki(document: Document, *, mentions: MentionStyle) -> str:
    """Render a document as wiki markup; ``mentions`` picks ``[~accountid:...]`` or ``[~name]``."""
    blocks: list[str] = []
    for block in document.blocks:
        if isinstance(block, Paragraph):
            blocks.append(_wiki_inlines(block.inlines, mentions))
        elif isinstance(block, BulletList):
            blocks.append("\n".join(f"* {_wiki_inlines(item, mentions)}" for item in block.items))
    return "\n\n".join(blocks)


def _wiki_inlines(inlines: tuple[Inline, ...], mentions: MentionStyle) -> str:
    line = "".join(_wiki_inline(node, mentions) for node in inlines)
    return _BLOCK_START.sub(lambda m: m.group(1) + "\\.", line)


def _wiki_inline(node: Inline, mentions: MentionStyle) -> str:
    if isinstance(node, Text):
        if not node.text:
            return ""
        text = escape_wiki(node.text)
        # {*} / {_} marks bind even inside words, unlike bare * and _.
        if node.em:
            text = "{_}" + text + "{_}"
        if node.strong:
            text = "{*}" + text + "{*}"
        return text
    if isinstance(node, Link):
        label = escape_wiki(node.text or node.url)
        if not _SAFE_URL.match(node.url):
            return label
        return f"[{label}|{node.url}]"
    person = node.person
    if not _SAFE_MENTION_ID.match(person.id):
        return escape_wiki(f"@{person.display_name}")
    return f"[~accountid:{person.id}]" if mentions == "accountid" else f"[~{person.id}]"


def adf_to_text(node: object) -> str:
    """Plain text of an ADF node (comment and description bodies): text, mentions, breaks."""
    parts: list[str] = []
    _adf_walk(node, parts)
    return "".join(parts).strip()


_ADF_INLINE_ATTRS = frozenset({"mention", "emoji", "status", "date"})
_ADF_BLOCKS = frozenset(
    {"paragraph", "heading", "listItem", "blockquote", "codeBlock", "rule", "tableRow", "panel"}
)


def _adf_walk(node: object, parts: list[str]) -> None:
    # The hot path of reading comments (thousands of bodies per page of issues): attributes
    # are looked at only for the few node kinds that carry text in them.
    if isinstance(node, list):
        for child in node:
            _adf_walk(child, parts)
        return
    if not isinstance(node, dict):
        return
    kind = node.get("type")
    if kind == "text":
        text = node.get("text")
        if isinstance(text, str):
            parts.append(text)
    elif kind == "hardBreak":
        parts.append("\n")
    elif kind in _ADF_INLINE_ATTRS:
        raw_attrs = node.get("attrs")
        attrs: dict[str, Any] = raw_attrs if isinstance(raw_attrs, dict) else {}
        if kind == "mention":
            parts.append(str(attrs.get("text") or "@" + str(attrs.get("id", ""))))
        else:
            parts.append(
                str(attrs.get("text") or attrs.get("shortName") or attrs.get("timestamp", ""))
            )
    content = node.get("content")
    if content is not None:
        _adf_walk(content, parts)
    if kind in _ADF_BLOCKS and parts and not parts[-1].endswith("\n"):
        parts.append("\n")
