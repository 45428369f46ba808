"""A comment's body as a small document tree (paragraphs, bullet lists, text, links,
mentions), rendered to ADF on Cloud and wiki markup on Data Center."""

from __future__ import annotations

from dataclasses import dataclass

from worker.model.people import Person


@dataclass(frozen=True, slots=True)
class Text:
    """Plain inserted text; never interpreted as markup."""

    text: str
    strong: bool = False
    em: bool = False



@dataclass(frozen=True, slots=True)
class Link:
    text: str
    url: str



@dataclass(frozen=True, slots=True)
class Mention:
    person: Person



Inline = Text | Link | Mention



@dataclass(frozen=True, slots=True)
class Paragraph:
    inlines: tuple[Inline, ...]



@dataclass(frozen=True, slots=True)
class BulletList:
    items: tuple[tuple[Inline, ...], ...]



Block = Paragraph | BulletList



@dataclass(frozen=True, slots=True)
class Document:
    """A small neutral comment document; ``worker.atlassian.markup`` renders it to
    ADF (Jira Cloud v3) or wiki markup (v2 and Data Center)."""

    blocks: tuple[Block, ...]

    def plain_text(self) -> str:
        """The document as plain text (for logs, the store and the CLI)."""
        lines: list[str] = []
        for block in self.blocks:
            if isinstance(block, Paragraph):
                lines.append(_inline_text(block.inlines))
            else:
                lines.extend(f"- {_inline_text(item)}" for item in block.items)
        return "\n".join(lines)



def _inline_text(inlines: tuple[Inline, ...]) -> str:
    parts: list[str] = []
    for node in inlines:
        if isinstance(node, Text):
            parts.append(node.text)
        elif isinstance(node, Link):
            parts.append(f"{node.text} ({node.url})")
        else:
            parts.append(f"@{node.person.display_name}")
    return "".join(parts)
