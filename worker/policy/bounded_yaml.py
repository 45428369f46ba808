"""YAML read under limits: file size, nesting depth, and how far aliases may expand.

YAML aliases share one node many times, so ~600 bytes of nested aliases (the "billion laughs")
stand for 10^9 values: anything that walks the document (our validation, pydantic, the
sandbox's site reader) then runs out of memory. Limits are checked while the document is
composed, before anything walks it, and a refusal names the line where it happened.

The policy file refuses anchors and aliases outright (an admin can write the value out; a
reader then sees what applies where). The sandbox's site file may use them, but what they
expand to is bounded.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml


@dataclass(frozen=True, slots=True)
class YamlLimits:
    """What a document may cost. ``max_alias_nodes`` None: anchors and aliases are refused."""

    max_bytes: int
    max_depth: int
    max_alias_nodes: int | None
    #: what the document is, for messages ("a policy file")
    document: str = "this file"


class YamlLimitError(ValueError):
    """A document over a limit; ``line`` and ``column`` are 1-based."""

    def __init__(self, message: str, *, line: int, column: int) -> None:
        super().__init__(message)
        self.message = message
        self.line = line
        self.column = column


class BoundedComposer(yaml.SafeLoader):
    """``yaml.SafeLoader`` that enforces :class:`YamlLimits` while composing.

    Subclass it (as the sandbox does) to add constructors; set ``limits`` per instance.
    """

    limits: YamlLimits = YamlLimits(max_bytes=1 << 20, max_depth=64, max_alias_nodes=None)

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0
        self._alias_nodes = 0
        #: id(node) -> (nodes, depth) it stands for once expanded; absent while composing
        self._cost: dict[int, tuple[int, int]] = {}
        #: per open node: [nodes below it, deepest level below it], expanded
        self._open: list[list[int]] = []

    def _refuse(self, message: str, mark: Any) -> YamlLimitError:
        return YamlLimitError(message, line=mark.line + 1, column=mark.column + 1)

    def _add(self, nodes: int, depth: int) -> None:
        if self._open:
            frame = self._open[-1]
            frame[0] += nodes
            frame[1] = max(frame[1], depth)

    def compose_node(self, parent: Any, index: Any) -> Any:
        """Compose one node, refusing anchors/aliases or bounding what they expand to."""
        limits = self.limits
        event = self.peek_event()  # type: ignore[no-untyped-call]  # PyYAML's stubs
        if isinstance(event, yaml.AliasEvent):
            if limits.max_alias_nodes is None:
                raise self._refuse(
                    f"YAML aliases (*{event.anchor}) are not allowed in {limits.document}; "
                    "write the value out where it applies",
                    event.start_mark,
                )
            target = self.anchors.get(event.anchor) if event.anchor is not None else None
            if target is not None:
                cost = self._cost.get(id(target))
                if cost is None:
                    raise self._refuse(
                        f"YAML alias *{event.anchor} refers to a node that contains it",
                        event.start_mark,
                    )
                nodes, depth = cost
                self._alias_nodes += nodes
                if self._alias_nodes > limits.max_alias_nodes:
                    raise self._refuse(
                        f"YAML aliases expand to more than {limits.max_alias_nodes} values "
                        f"(an alias bomb?); write the values out instead",
                        event.start_mark,
                    )
                if self._depth + depth > limits.max_depth:
                    raise self._refuse(
                        f"YAML nesting deeper than {limits.max_depth} levels (through "
                        f"alias *{event.anchor})",
                        event.start_mark,
                    )
                self._add(nodes, depth)
            return super().compose_node(parent, index)
        if getattr(event, "anchor", None) is not None and limits.max_alias_nodes is None:
            raise self._refuse(
                f"YAML anchors (&{event.anchor}) are not allowed in {limits.document}; "
                "write the value out where it applies",
                event.start_mark,
            )
        if self._depth >= limits.max_depth:
            raise self._refuse(f"YAML nesting deeper than {limits.max_depth} levels",
                               event.start_mark)
        self._depth += 1
        self._open.append([0, 0])
        try:
            node = super().compose_node(parent, index)
        finally:
            self._depth -= 1
            below, deepest = self._open.pop()
        cost = (below + 1, deepest + 1)
        self._cost[id(node)] = cost
        self._add(*cost)
        return node


def check_size(data: str | bytes, limits: YamlLimits) -> None:
    """Refuse a document larger than ``limits.max_bytes`` before parsing it."""
    size = len(data.encode("utf-8")) if isinstance(data, str) else len(data)
    if size > limits.max_bytes:
        raise YamlLimitError(
            f"file is {size} bytes; {limits.document} is at most {limits.max_bytes} bytes",
            line=1, column=1,
        )


def compose(text: str, limits: YamlLimits) -> tuple[yaml.Node | None, Any]:
    """The document's node tree (for line marks) and its plain value, composed once.

    Raises :class:`YamlLimitError` over a limit and ``yaml.YAMLError`` on a syntax error.
    """
    check_size(text, limits)
    loader = BoundedComposer(text)
    loader.limits = limits
    try:
        node = loader.get_single_node()
        value = loader.construct_document(node) if node is not None else None
    finally:
        loader.dispose()
    return node, value
