"""``scripts/trim_specs.py``: which path items and components a trimmed document keeps, and the
trimmed copies in ``tests/specs/`` are whole (every reference resolves, the source recorded)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from scripts.trim_specs import KEPT, PROVENANCE, covers, trim
from tests.conftest import SPECS


@pytest.mark.parametrize(("general", "specific", "expected"), [
    ("/content/{id}", "/content/search", True),
    ("/content/search", "/content/{id}", False),
    ("/content/{id}", "/content/{id}", True),
    ("/content/{id}/child/{type}", "/content/{id}/child/attachment", True),
    ("/content/{id}", "/content/{id}/label", False),
    ("/issue/bulkfetch", "/issue/archive", False),
    ("/issue/{a}", "/issue/{b}", True),
])
def test_covers(general: str, specific: str, expected: bool) -> None:
    """A template covers another when it matches every path the other matches."""
    assert covers(general, specific) is expected


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


DOC: dict[str, Any] = {
    "openapi": "3.0.1",
    "info": {"title": "t", "version": "1"},
    "servers": [{"url": "https://x"}],
    "tags": [{"name": "dropped"}],
    "paths": {
        "/a/{id}": {"get": {"responses": {"200": {"content": {"application/json": {
            "schema": _ref("A")}}}}}},
        "/a/search": {"get": {"responses": {"200": {"content": {"application/json": {
            "schema": _ref("B")}}}}}},
        "/a/{id}/x": {"get": {"responses": {"200": {"content": {"application/json": {
            "schema": _ref("Unused")}}}}}},
    },
    "components": {
        "schemas": {
            "A": {"type": "object", "properties": {"c": _ref("C")}},
            "B": {"type": "array", "items": _ref("A")},
            "C": {"type": "object", "properties": {"self": _ref("C")}},
            "Unused": {"type": "string"},
        },
        "securitySchemes": {"basic": {"type": "http", "scheme": "basic"}},
    },
}


@pytest.mark.parametrize(("templates", "paths", "schemas"), [
    (["/a/{id}"], ["/a/{id}"], ["A", "C"]),
    # the covering template comes along, so a request routes as in the full document
    (["/a/search"], ["/a/{id}", "/a/search"], ["A", "B", "C"]),
    (["/a/{id}/x"], ["/a/{id}/x"], ["Unused"]),
])
def test_trim_keeps_the_paths_and_what_they_reach(templates: list[str], paths: list[str],
                                                  schemas: list[str]) -> None:
    """Kept: the named path items, those covering them, the components they reach (through
    other components too, cycles included) and every security scheme; the rest goes."""
    out = trim(DOC, templates, {"file": "doc.json"})
    assert list(out["paths"]) == paths
    assert sorted(out["components"]["schemas"]) == schemas
    assert out["components"]["securitySchemes"] == DOC["components"]["securitySchemes"]
    assert out["info"][PROVENANCE] == {"file": "doc.json"}
    assert "tags" not in out
    assert out["paths"]["/a/{id}" if "/a/{id}" in paths else paths[0]] == \
        DOC["paths"]["/a/{id}" if "/a/{id}" in paths else paths[0]]


@pytest.mark.parametrize(("templates", "message"), [
    (["/nope"], "not in the document: /nope"),
])
def test_trim_refuses_an_unknown_template(templates: list[str], message: str) -> None:
    """A template the full document does not have is an error, not an empty document."""
    with pytest.raises(ValueError, match=message):
        trim(DOC, templates, {})


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        own = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return own + [r for v in node.values() for r in _refs(v)]
    if isinstance(node, list):
        return [r for v in node for r in _refs(v)]
    return []


@pytest.mark.parametrize("document", KEPT, ids=lambda d: d.name)
def test_trimmed_copies_are_whole(document: Any) -> None:
    """Each copy in tests/specs/ holds every endpoint the script names, every reference in it
    resolves inside it, and it records the full document it was cut from."""
    spec = json.loads((SPECS / document.name).read_text("utf-8"))
    assert set(document.templates) <= set(spec["paths"])
    for ref in _refs(spec):
        section, _, name = ref.removeprefix("#/components/").partition("/")
        assert name in spec["components"][section], ref
    provenance = spec["info"][PROVENANCE]
    assert provenance["file"] == f"../shared/reference/specs/{document.name}"
    assert len(provenance["sha256"]) == 64
