"""Comment templates: Jinja2 (sandboxed, strict) rendered into a neutral ``Document``.

Every value a template inserts becomes text, never markup. ``finalize`` swaps each inserted
value for a private-use placeholder and keeps the value aside; the structure (paragraphs,
"- " bullets, ``**strong**``, ``_em_``, ``[text](url)``) is parsed from what remains, which is
only the template's literal text; then placeholders become ``Text`` nodes (or a ``Mention``
for a Person). A summary holding wiki markup, HTML or ADF-looking JSON stays one Text node.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jinja2 import StrictUndefined, TemplateError, meta
from jinja2.sandbox import SandboxedEnvironment

from worker.model import BulletList, Document, Inline, Link, Mention, Paragraph, Person, Text

if TYPE_CHECKING:
    from jinja2 import Template

    from worker.policy.actions import StepContext
    from worker.policy.context import TicketContext

SUFFIX = ".j2"
_OPEN, _CLOSE = "\ue000", "\ue001"
_PLACEHOLDER = re.compile(f"{_OPEN}(\\d+){_CLOSE}")
_PRIVATE = re.compile(f"[{_OPEN}{_CLOSE}]")
_INLINE = re.compile(
    r"\*\*(?P<strong>.+?)\*\*"
    r"|(?<![\w])_(?P<em>[^_]+?)_(?![\w])"
    r"|\[(?P<ltext>[^\]\n]+)\]\((?P<url>[^)\s]+)\)"
)
_values: ContextVar[list[object]] = ContextVar("template_values")


def _finalize(value: object) -> str:
    store = _values.get()
    store.append(value)
    return f"{_OPEN}{len(store) - 1}{_CLOSE}"


def _day(value: object) -> str:
    """Format a datetime as "Wednesday 4 November" (templates: ``{{ at | day }}``)."""
    if isinstance(value, datetime):
        return f"{value:%A} {value.day} {value:%B}"
    return str(value)


def environment() -> SandboxedEnvironment:
    """The one template environment: sandboxed, strict about undefined names."""
    env = SandboxedEnvironment(
        undefined=StrictUndefined,
        finalize=_finalize,
        autoescape=False,
        keep_trailing_newline=False,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["day"] = _day
    return env


_ENV = environment()


@dataclass(frozen=True, slots=True)
class CommentTemplate:
    """A compiled template and the variables it uses."""

    name: str
    source: str
    template: Template
    variables: frozenset[str]

    def render(self, variables: Mapping[str, Any]) -> Document:
        """Render to a Document; inserted values are always plain text or mentions."""
        token = _values.set([])
        try:
            text = self.template.render(**variables)
            values = _values.get()
        finally:
            _values.reset(token)
        return _to_document(text, values)


def compile_template(name: str, source: str) -> CommentTemplate:
    """Compile a template; raises ``jinja2.TemplateError`` on a syntax error."""
    ast = _ENV.parse(source)
    return CommentTemplate(
        name=name,
        source=source,
        template=_ENV.from_string(source),
        variables=frozenset(meta.find_undeclared_variables(ast)),
    )


def load_template(directory: Path, name: str) -> CommentTemplate:
    """Read and compile ``<directory>/<name>.j2`` and render it once with sample values.

    Raises ``ValueError`` with a one-line reason (file missing, syntax error, unknown variable).
    """
    path = directory / f"{name}{SUFFIX}"
    try:
        source = path.read_text(encoding="utf-8")
    except OSError as exc:
        known = sorted(p.name[: -len(SUFFIX)] for p in directory.glob(f"*{SUFFIX}"))
        close = difflib.get_close_matches(name, known, n=1)
        hint = f"; did you mean '{close[0]}'?" if close else f" (templates: {', '.join(known)})"
        raise ValueError(f"template {name!r} not found ({path}: {exc.strerror}){hint}") from None
    try:
        compiled = compile_template(name, source)
        for sample in sample_variables():
            compiled.render(sample)
    except TemplateError as exc:
        line = getattr(exc, "lineno", None)
        where = f"{path}:{line}" if line else str(path)
        raise ValueError(f"template {name!r} does not render ({where}): {exc}") from None
    return compiled


#: conditions whose evidence is not worth telling the PM (they know who and where they are)
_QUIET = frozenset({"assignee_in", "reporter_in", "status_category_in", "not"})

VARIABLES = (
    "issue",
    "policy",
    "deal",
    "deal_page",
    "deal_pages",
    "contract_state",
    "sales_owner",
    "evidence",
    "next_step",
    "next_step_at",
    "opt_out_label",
    "new_owner",
    "new_owner_why",
    "previous_assignee",
)

_SPACE = re.compile(r"\bspace\s*(?:=|in\s*\()\s*\"?([^\"\s,()]+)", re.IGNORECASE)
_LABEL = re.compile(r"\blabel\s*(?:=|in\s*\()\s*\"?([^\"\s,()]+)", re.IGNORECASE)


def deal_pages_where(cql: str | None) -> dict[str, str | None] | None:
    """Where deal pages live, read from the deal CQL: ``{"space", "label"}``, or None when
    the CQL names no single space (then a comment cannot say where to create one)."""
    if not cql:
        return None
    space = _SPACE.search(cql)
    if space is None:
        return None
    label = _LABEL.search(cql)
    return {"space": space.group(1), "label": label.group(1) if label else None}


def sample_variables() -> list[dict[str, Any]]:
    """Contexts every template must render with: a full one, one with no deal/owner, one
    with a later date, and one for a reassignment note whose deal page has no link."""
    at = datetime(2026, 11, 4, 9, 0)
    owner = Person(id="sam", display_name="Sam Ortiz")
    base: dict[str, Any] = {
        "issue": {
            "key": "ACME-1",
            "summary": "Finalize SOW",
            "type": "Statement of Work",
            "project": "ACME",
        },
        "policy": {"id": "sample", "description": "A sample policy"},
        "contract_state": "unsigned",
        "evidence": ["type is Statement of Work", "deal Acme Corp is In negotiation"],
        "next_step": "reassign it to Sam Ortiz",
        "next_step_at": at,
        "opt_out_label": "handoff-exception",
        "deal_pages": {"space": "SALES", "label": "deal"},
        "new_owner": owner,
        "new_owner_why": "the account executive on the page Deal: Acme Corp",
        "previous_assignee": Person(id="priya", display_name="Priya Raman"),
    }
    full = {
        **base,
        "deal": {
            "account": "Acme Corp",
            "contract_status": "In negotiation",
            "source": "the page Deal: Acme Corp",
            "url": "https://example.com/x",
        },
        "deal_page": {"title": "Deal: Acme Corp", "url": "https://example.com/x"},
        "sales_owner": owner,
    }
    bare = {
        **base,
        "deal": None,
        "deal_page": None,
        "deal_pages": None,
        "sales_owner": None,
        "contract_state": "unknown",
        "next_step": None,
        "next_step_at": None,
        "previous_assignee": None,
    }
    late = {**full, "next_step_at": at + timedelta(days=1)}
    unlinked = {**full, "deal_page": {"title": "Deal: Acme Corp", "url": None}}
    return [full, bare, late, unlinked]


def template_vars(
    ctx: TicketContext,
    step: StepContext,
    *,
    new_owner: Person | None = None,
    new_owner_why: str | None = None,
) -> dict[str, Any]:
    """The variables a comment template sees for one ticket and step (``new_owner`` and
    ``new_owner_why`` only in the note to the person a reassignment gives the ticket to)."""
    snap = ctx.snapshot
    finding = ctx.deal()
    deal = finding.deal
    deal_vars = None
    if deal is not None or finding.status:
        deal_vars = {
            "account": deal.account if deal else None,
            "contract_status": finding.status,
            "source": finding.evidence,
            "url": deal.page_url if deal else None,
        }
    page = None
    if deal is not None and deal.page_id is not None:
        page = {"title": deal.page_title or deal.source, "url": deal.page_url}
    pages = ctx.plan.policies.deals.pages
    at = step.next_step_at.astimezone(ctx.plan.tz) if step.next_step_at else None
    return {
        "issue": {
            "key": snap.key,
            "summary": snap.summary,
            "type": snap.issue_type,
            "project": snap.project,
        },
        "policy": {"id": step.policy_id, "description": step.policy_description},
        "deal": deal_vars,
        "deal_page": page,
        "deal_pages": deal_pages_where(pages.cql if pages else None),
        "contract_state": finding.state,
        "sales_owner": ctx.sales_owner().person,
        "evidence": [e.detail for e in step.evidence if e.result and e.condition not in _QUIET],
        "next_step": step.next_step,
        "next_step_at": at,
        "opt_out_label": ctx.plan.policies.opt_out_label,
        "new_owner": new_owner,
        "new_owner_why": new_owner_why,
        "previous_assignee": snap.assignee,
    }


# --------------------------------------------------------------------------- text -> Document


def _to_document(text: str, values: list[object]) -> Document:
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


def _inlines(text: str, values: list[object]) -> tuple[Inline, ...]:
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


def _value_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, Person):
        return value.display_name
    if isinstance(value, datetime):
        return f"{value:%A} {value.day} {value:%B} {value:%H:%M}"
    if isinstance(value, list | tuple):
        return ", ".join(_value_text(v) for v in value)
    return _PRIVATE.sub("", str(value))


def _flat(text: str, values: list[object]) -> str:
    return _PLACEHOLDER.sub(lambda m: _value_text(values[int(m.group(1))]), text)


def _expand(
    text: str, values: list[object], *, strong: bool = False, em: bool = False
) -> list[Inline]:
    out: list[Inline] = []
    pos = 0
    for m in _PLACEHOLDER.finditer(text):
        if m.start() > pos:
            out.append(Text(text=text[pos : m.start()], strong=strong, em=em))
        value = values[int(m.group(1))]
        if isinstance(value, Person):
            out.append(Mention(person=value))
        else:
            out.append(Text(text=_value_text(value), strong=strong, em=em))
        pos = m.end()
    if pos < len(text):
        out.append(Text(text=text[pos:], strong=strong, em=em))
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
