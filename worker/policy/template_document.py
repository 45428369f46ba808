"""A rendered comment's text -> a neutral :class:`Document`: paragraphs, "- " bullets,
``**strong**``, ``_em_`` and ``[text](url)`` read from the template's literal text, then each
placeholder back as the value it stands for (a ``Text`` node, or a ``Mention`` for a Person).
A summary holding wiki markup, HTML or ADF-looking JSON stays one Text node.
"""

from __future__ import annotations

import re
from functools import lru_cache

from worker.model.document import BulletList, Document, Inline, Link, Mention, Paragraph, Text
from worker.model.people import Person
from worker.policy.template_inserts import PLACEHOLDER, Inserted, value_text

_INLINE = re.compile(
    r"\*\*(?P<strong>.+?)\*\*"
    r"|(?<![\w])_(?P<em>[^_]+?)_(?![\w])"
    r"|\[(?P<ltext>[^\]\n]+)\]\((?P<url>[^)\s]+)\)"
)


def to_document(text: str, values: Inserted) -> Document:
    """The comment a render's text and inserted values make."""
    blocks: list[Paragraph | BulletList] = []
    for chunk in re.split(r"\n[ \t]*\n", text.strip()):
        lines = [ln.strip() for ln in chunk.splitlines() if ln.strip()]
        if not lines:
            continue
        if lines[0].startswith("- "):
            items: list[str] = []
            for ln in lines:
                if ln.startswith("- ") or not items:
                    items.append(ln[2:] if ln.startswith("- ") else ln)
                else:
                    items[-1] += " " + ln
            bullets = tuple(_inlines(item, values) for item in items)
            blocks.append(BulletList(items=tuple(b for b in bullets if b)))
        else:
            inlines = _inlines(" ".join(lines), values)
            if inlines:
                blocks.append(Paragraph(inlines=inlines))
    return Document(blocks=tuple(blocks))


def _inlines(text: str, values: Inserted) -> tuple[Inline, ...]:
    out: list[Inline] = []
    pos = 0
    for m in _INLINE.finditer(text):
        out.extend(_expand(text[pos : m.start()], values))
        if m.group("strong") is not None:
            out.extend(_expand(m.group("strong"), values, strong=True))
        elif m.group("em") is not None:
            out.extend(_expand(m.group("em"), values, em=True))
        else:
            label = _flat(m.group("ltext"), values)
            url = _flat(m.group("url"), values)
            # Only web links: a value that is not http(s) stays visible as text.
            if url.startswith(("https://", "http://")):
                out.append(Link(text=label, url=url))
            else:
                out.append(Text(text=label))
        pos = m.end()
    out.extend(_expand(text[pos:], values))
    return _merge(out)


def _flat(text: str, values: Inserted) -> str:
    return PLACEHOLDER.sub(
        lambda m: value_text(values[int(m.group(2))]) if m.group(1) == values.nonce
        else m.group(0),
        text,
    )


#: distinct literal runs shared at once (a policy file's templates have a few hundred)
LITERALS_SHARED = 4096


@lru_cache(maxsize=LITERALS_SHARED)
def _literal(text: str, strong: bool, em: bool) -> Text:
    """A template's literal run, one node for every comment that repeats it. A first cycle at
    100,000 tickets renders 5,000 comments from a few templates and holds them until written:
    the same runs as separate nodes and strings took 2.5 MB. ``Text`` is frozen: sharing it is
    invisible."""
    return Text(text=text, strong=strong, em=em)


def _expand(
    text: str, values: Inserted, *, strong: bool = False, em: bool = False
) -> list[Inline]:
    out: list[Inline] = []
    pos = 0
    for m in values.placeholders(text):
        if m.start() > pos:
            out.append(_literal(text[pos : m.start()], strong, em))
        value = values[int(m.group(2))]
        if isinstance(value, Person):
            out.append(Mention(person=value))
        else:
            out.append(Text(text=value_text(value), strong=strong, em=em))
        pos = m.end()
    if pos < len(text):
        out.append(_literal(text[pos:], strong, em))
    return out


def _merge(nodes: list[Inline]) -> tuple[Inline, ...]:
    # Adjacent literal runs with the same style are one node; inserted values stay whole
    # because they are merged only with neighbours of identical style, which keeps their
    # characters intact (the text is the same either way).
    out: list[Inline] = []
    for node in nodes:
        if isinstance(node, Text) and not node.text:
            continue
        prev = out[-1] if out else None
        if (
            isinstance(node, Text)
            and isinstance(prev, Text)
            and (prev.strong, prev.em) == (node.strong, node.em)
        ):
            out[-1] = Text(text=prev.text + node.text, strong=node.strong, em=node.em)
        else:
            out.append(node)
    return tuple(out)
