"""Comment templates: Jinja2 (sandboxed, strict) rendered into a neutral ``Document``.

A template is compiled in the bounded sandbox (:mod:`worker.policy.template_sandbox`);
rendering inserts every value as text, never markup (:mod:`worker.policy.template_inserts`)
and parses the comment's structure from the template's literal text alone
(:mod:`worker.policy.template_document`). Any failure is one :class:`TemplateRenderError`
naming the template and line, which the planner turns into a skip for that ticket alone.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from jinja2 import TemplateError, TemplateNotFound, TemplateSyntaxError, meta

from worker.model.document import Document
from worker.policy.template_document import to_document
from worker.policy.template_inserts import Inserted, spend, values
from worker.policy.template_samples import labelled_samples
from worker.policy.template_sandbox import environment

if TYPE_CHECKING:
    from jinja2 import Template


SUFFIX = ".j2"


class TemplateRenderError(Exception):
    """A template failed for one ticket (or sample); ``str()`` is one line: which template,
    which line, what went wrong. ``line`` and ``filename`` say where, when known."""

    def __init__(self, message: str, *, line: int | None, filename: str | None) -> None:
        super().__init__(message)
        self.line = line
        self.filename = filename


_ENV = environment()


def _template_line(
    tb: TracebackType | None, filename: str | None
) -> tuple[str | None, int | None]:
    """The template file and line a runtime error happened on (Jinja maps its frames to
    template lines when it rewrites the traceback); the innermost template frame wins, so an
    error inside an included template or a macro names that file."""
    where: tuple[str | None, int | None] = (filename, None)
    while tb is not None:
        name = tb.tb_frame.f_code.co_filename
        if name == filename or name.endswith(SUFFIX) or name == "<template>":
            where = (None if name == "<template>" else name, tb.tb_lineno)
        tb = tb.tb_next
    return where


def _failure(name: str, exc: Exception, filename: str | None) -> TemplateRenderError:
    where, line = _template_line(exc.__traceback__, filename)
    if getattr(exc, "lineno", None):  # a syntax error in an included file knows its place
        where, line = getattr(exc, "filename", None) or where, exc.lineno  # type: ignore[attr-defined]
    text = str(exc).strip()
    detail = text.splitlines()[0] if text else ""
    if len(detail) > 200:  # a message may quote ticket text
        detail = detail[:200] + "…"
    kind = type(exc).__name__
    at = f" line {line}" if line else ""
    message = f"template {name!r}{at}: {kind}" + (f": {detail}" if detail else "")
    return TemplateRenderError(message, line=line, filename=where)


@dataclass(frozen=True, slots=True)
class CommentTemplate:
    """A compiled template and the variables it uses."""

    name: str
    source: str
    template: Template
    variables: frozenset[str]

    def render(self, variables: Mapping[str, Any]) -> Document:
        """Render to a Document; inserted values are always plain text or mentions.

        Raises :class:`TemplateRenderError` (one line: template, line, reason) on any failure,
        including a comment longer than :data:`MAX_COMMENT_CHARS`.
        """
        values_token = values.set(Inserted())
        try:
            parts: list[str] = []
            for chunk in self.template.generate(**variables):
                spend(len(chunk))
                parts.append(chunk)
            return to_document("".join(parts), values.get())
        except Exception as exc:  # whatever one ticket's data does, it stays that ticket's
            raise _failure(self.name, exc, self.template.filename) from exc
        finally:
            values.reset(values_token)


def compile_template(name: str, source: str) -> CommentTemplate:
    """Compile a template from text (no includes); raises ``jinja2.TemplateError`` on a
    syntax error."""
    ast = _ENV.parse(source)
    return CommentTemplate(
        name=name,
        source=source,
        template=_ENV.from_string(source),
        variables=frozenset(meta.find_undeclared_variables(ast)),
    )


def load_template(directory: Path, name: str) -> CommentTemplate:
    """Read and compile ``<directory>/<name>.j2`` (and what it includes from that folder),
    then render it with every sample context.

    Raises ``ValueError`` with a one-line reason and file:line: file missing, syntax error,
    unknown variable, an include outside the folder, a sample it cannot render.
    """
    path = directory / f"{name}{SUFFIX}"
    env = environment(directory)
    try:
        template = env.get_template(f"{name}{SUFFIX}")
        source = path.read_text(encoding="utf-8")
    except TemplateNotFound as exc:
        known = sorted(p.name[: -len(SUFFIX)] for p in directory.glob(f"*{SUFFIX}"))
        close = difflib.get_close_matches(name, known, n=1)
        hint = f"; did you mean '{close[0]}'?" if close else f" (templates: {', '.join(known)})"
        why = "no such file" if exc.name == f"{name}{SUFFIX}" else str(exc)
        raise ValueError(f"template {name!r} not found ({path}: {why}){hint}") from None
    except TemplateSyntaxError as exc:
        where = f"{exc.filename or path}:{exc.lineno}"
        raise ValueError(f"template {name!r} does not compile ({where}): {exc.message}") from None
    except (TemplateError, OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"template {name!r} does not load ({path}): {exc}") from None
    compiled = CommentTemplate(
        name=name,
        source=source,
        template=template,
        variables=frozenset(meta.find_undeclared_variables(env.parse(source))),
    )
    for label, sample in labelled_samples().items():
        try:
            compiled.render(sample)
        except TemplateRenderError as exc:
            where = f"{exc.filename or path}:{exc.line}" if exc.line else str(exc.filename or path)
            reason = str(exc).split(": ", 1)[1]
            raise ValueError(
                f"template {name!r} does not render ({where}) with sample data ({label}): {reason}"
            ) from None
    return compiled
