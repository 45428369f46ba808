"""Regenerate ``tests/specs/``: the parts of Atlassian's OpenAPI documents the sandbox is checked
against, trimmed from the full documents in ``../shared/reference/specs``.

The full documents are 3.5 MB and live outside the repository; the trimmed copies keep, for each
endpoint the tests call (``tests/sandbox/test_sandbox_openapi.py``), its whole path item and
every component it reaches through ``$ref``, unchanged. So a response that the full document
refuses is refused by the trimmed one too, and a fresh clone needs nothing next to it.

    python -m scripts.trim_specs                 # rewrite tests/specs/ from ../shared
    python -m scripts.trim_specs --check         # exit 1 if tests/specs/ is not what it would write
    python -m scripts.trim_specs --source DIR    # the full documents are elsewhere

A new endpoint in the tests needs its path template in ``KEPT`` below (the test fails with
"path not found" until it is there), then a rerun.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import re
import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SOURCE = ROOT / ".." / "shared" / "reference" / "specs"
DEFAULT_TARGET = ROOT / "tests" / "specs"

#: The field under ``info`` that records where a trimmed document comes from.
PROVENANCE = "x-trimmed-from"


@dataclass(frozen=True, slots=True)
class Document:
    """One full document and the path templates of the endpoints the tests call in it."""

    name: str
    templates: tuple[str, ...]


KEPT: tuple[Document, ...] = (
    Document("jira-cloud-platform.swagger-v3.v3.json", (
        "/rest/api/3/search/jql",
        "/rest/api/3/search/approximate-count",
        "/rest/api/3/issue",
        "/rest/api/3/issue/bulkfetch",
        "/rest/api/3/issue/{issueIdOrKey}",
        "/rest/api/3/issue/{issueIdOrKey}/changelog",
        "/rest/api/3/issue/{issueIdOrKey}/comment",
        "/rest/api/3/issue/{issueIdOrKey}/assignee",
        "/rest/api/3/issue/{issueIdOrKey}/properties",
        "/rest/api/3/issue/{issueIdOrKey}/properties/{propertyKey}",
        "/rest/api/3/issue/{issueIdOrKey}/transitions",
        "/rest/api/3/myself",
        "/rest/api/3/serverInfo",
        "/rest/api/3/field",
        "/rest/api/3/user",
        "/rest/api/3/user/search",
        "/rest/api/3/group/member",
    )),
    Document("confluence-cloud-v1.swagger.v3.json", (
        "/wiki/rest/api/content",
        "/wiki/rest/api/content/search",
        "/wiki/rest/api/content/{id}",
        "/wiki/rest/api/content/{id}/label",
        "/wiki/rest/api/content/{id}/child/attachment",
        "/wiki/rest/api/search",
        "/wiki/rest/api/user",
    )),
)

_PARAM = re.compile(r"^\{[^}]+\}$")
_REF = "#/components/"


def _segments(template: str) -> list[str]:
    return template.strip("/").split("/")


def covers(general: str, specific: str) -> bool:
    """Whether every path ``specific`` matches is matched by ``general`` too
    (``/content/{id}`` covers ``/content/search``).

    The trimmed document keeps such templates as well: a request is then routed among the same
    candidates as in the full document, so it meets the same operation.
    """
    a, b = _segments(general), _segments(specific)
    if len(a) != len(b):
        return False
    return all(x == y or _PARAM.match(x) is not None for x, y in zip(a, b, strict=True))


def _refs(node: Any) -> Iterator[str]:
    """Every local ``$ref`` under ``node``, in document order."""
    if isinstance(node, Mapping):
        ref = node.get("$ref")
        if isinstance(ref, str):
            yield ref
        for value in node.values():
            yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


def _resolve(spec: Mapping[str, Any], ref: str) -> tuple[str, str, Any]:
    if not ref.startswith(_REF):
        raise ValueError(f"not a local component reference: {ref}")
    section, _, name = ref.removeprefix(_REF).partition("/")
    name = name.replace("~1", "/").replace("~0", "~")
    try:
        return section, name, spec["components"][section][name]
    except KeyError:
        raise ValueError(f"dangling reference: {ref}") from None


def trim(spec: Mapping[str, Any], templates: Sequence[str], provenance: Mapping[str, str]
         ) -> dict[str, Any]:
    """The document reduced to the path items of ``templates`` (plus every template that covers
    one of them), the components they reach, and the security schemes; all else unchanged,
    in the document's own order. ``provenance`` is recorded under ``info``."""
    paths: Mapping[str, Any] = spec["paths"]
    missing = [t for t in templates if t not in paths]
    if missing:
        raise ValueError(f"not in the document: {', '.join(missing)}")
    kept_paths = {t: item for t, item in paths.items()
                  if any(covers(t, wanted) for wanted in templates)}

    reached: dict[str, set[str]] = {}
    pending = list(_refs(kept_paths))
    while pending:
        section, name, node = _resolve(spec, pending.pop())
        if name in reached.setdefault(section, set()):
            continue
        reached[section].add(name)
        pending.extend(_refs(node))

    components: dict[str, Any] = {}
    for section, entries in spec.get("components", {}).items():
        if section == "securitySchemes":
            components[section] = entries
        elif section in reached:
            components[section] = {k: v for k, v in entries.items() if k in reached[section]}

    info = dict(spec["info"])
    info[PROVENANCE] = dict(provenance)
    out: dict[str, Any] = {"openapi": spec["openapi"], "info": info}
    for key in ("servers", "security"):
        if key in spec:
            out[key] = spec[key]
    out["paths"] = kept_paths
    out["components"] = components
    return out


def render(document: Mapping[str, Any]) -> str:
    """The trimmed document as the file holds it (stable, diff-friendly)."""
    return json.dumps(document, indent=1, ensure_ascii=False) + "\n"


def _without_date(text: str) -> Any:
    data = json.loads(text)
    data["info"][PROVENANCE].pop("trimmed_on", None)
    return data


def build(source: Path, today: dt.date) -> dict[str, str]:
    """File name → trimmed text, for every document in ``KEPT``."""
    out: dict[str, str] = {}
    for doc in KEPT:
        raw = (source / doc.name).read_bytes()
        spec = json.loads(raw)
        provenance = {
            "file": f"../shared/reference/specs/{doc.name}",
            "sha256": hashlib.sha256(raw).hexdigest(),
            "paths": f"{len(spec['paths'])} in the full document",
            "trimmed_on": today.isoformat(),
            "by": "scripts/trim_specs.py",
        }
        out[doc.name] = render(trim(spec, doc.templates, provenance))
    return out


def main(argv: Sequence[str] | None = None) -> int:
    """Write (or with ``--check`` compare) the trimmed documents; exit status 1 on a difference."""
    parser = argparse.ArgumentParser(prog="python -m scripts.trim_specs",
                                     description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--source", type=Path, default=DEFAULT_SOURCE,
                        help="the full OpenAPI documents (default ../shared/reference/specs)")
    parser.add_argument("--target", type=Path, default=DEFAULT_TARGET,
                        help="folder of the trimmed copies (default tests/specs)")
    parser.add_argument("--check", action="store_true",
                        help="write nothing; exit 1 if the target differs (the date aside)")
    args = parser.parse_args(argv)

    built = build(args.source, dt.datetime.now(dt.UTC).date())
    differ = []
    for name, text in built.items():
        target: Path = args.target / name
        if args.check:
            current = target.read_text("utf-8") if target.is_file() else None
            if current is None or _without_date(current) != _without_date(text):
                differ.append(name)
            continue
        args.target.mkdir(parents=True, exist_ok=True)
        target.write_text(text, "utf-8")
        print(f"{target}: {len(text) // 1024} KiB, "
              f"{len(json.loads(text)['paths'])} paths", file=sys.stderr)
    if differ:
        print(f"out of date (rerun python -m scripts.trim_specs): {', '.join(differ)}",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
