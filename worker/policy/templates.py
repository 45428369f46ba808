"""Comment templates: Jinja2 (sandboxed, strict) rendered into a neutral ``Document``.

Every value a template inserts becomes text, never markup. ``finalize`` swaps each inserted
value for a private-use placeholder and keeps the value aside; the structure (paragraphs,
"- " bullets, ``**strong**``, ``_em_``, ``[text](url)``) is parsed from what remains, which is
only the template's literal text; then placeholders become ``Text`` nodes (or a ``Mention``
for a Person). A summary holding wiki markup, HTML or ADF-looking JSON stays one Text node.

Templates meet ticket text anyone can write, so rendering is bounded: ``include``/``import``
read only inside the templates folder; repetition (``*``, ``center``, ``replace``...) and the
whole comment stay under :data:`MAX_COMMENT_CHARS`; and any failure is one
:class:`TemplateRenderError` naming the template and line, which the planner turns into a skip
for that ticket alone.
"""

from __future__ import annotations

import difflib
import os
import re
import secrets
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from jinja2 import (
    BaseLoader,
    Environment,
    FileSystemLoader,
    StrictUndefined,
    TemplateError,
    TemplateNotFound,
    TemplateSyntaxError,
    meta,
)
from jinja2.exceptions import SecurityError
from jinja2.filters import FILTERS
from jinja2.sandbox import SandboxedEnvironment

from worker.model import BulletList, Document, Inline, Link, Mention, Paragraph, Person, Text
from worker.policy.template_samples import labelled_samples

if TYPE_CHECKING:
    from jinja2 import Template


SUFFIX = ".j2"
_OPEN, _CLOSE = "\ue000", "\ue001"
_PRIVATE = re.compile(f"[{_OPEN}{_CLOSE}]")
#: a placeholder of any render: its nonce (16 hex digits) and the inserted value's index
_PLACEHOLDER = re.compile(f"{_OPEN}([0-9a-f]{{16}}):(\\d+){_CLOSE}")
_INLINE = re.compile(
    r"\*\*(?P<strong>.+?)\*\*"
    r"|(?<![\w])_(?P<em>[^_]+?)_(?![\w])"
    r"|\[(?P<ltext>[^\]\n]+)\]\((?P<url>[^)\s]+)\)"
)
_values: ContextVar[_Inserted] = ContextVar("template_values")

#: Jira's limit on a comment's body; a template rendering more is a mistake, never a comment
MAX_COMMENT_CHARS = 32_767
#: a template file is a page of text, not a data dump
MAX_TEMPLATE_BYTES = 64 * 1024
#: loops in a template: enough for any list a comment shows, too few to spin for minutes
MAX_RANGE = 10_000


class TemplateRenderError(Exception):
    """A template failed for one ticket (or sample); ``str()`` is one line: which template,
    which line, what went wrong. ``line`` and ``filename`` say where, when known."""

    def __init__(self, message: str, *, line: int | None, filename: str | None) -> None:
        super().__init__(message)
        self.line = line
        self.filename = filename


class OutputTooLargeError(SecurityError):
    """The comment would exceed :data:`MAX_COMMENT_CHARS` (refused before it is built)."""


class _Inserted(list[object]):
    """The values one render inserted, with that render's placeholder nonce and the room
    left in the comment.

    The placeholder carries a random nonce: text a macro or ``include`` produced (already
    holding placeholders) passes through ``finalize`` again and must stay as it is, while
    ticket text that imitates a placeholder cannot guess the nonce and stays plain text.
    """

    def __init__(self) -> None:
        super().__init__()
        self.nonce = secrets.token_hex(8)
        self.room = MAX_COMMENT_CHARS

    def placeholders(self, text: str) -> Iterator[re.Match[str]]:
        """This render's placeholders in ``text`` (one with another nonce is plain text).

        One pattern for every render, the nonce compared per match: compiling a pattern per
        render (each with its own nonce) cost a third of rendering a comment.
        """
        for m in _PLACEHOLDER.finditer(text):
            if m.group(1) == self.nonce:
                yield m

    def holds_placeholder(self, text: str) -> bool:
        """Whether ``text`` holds one of this render's placeholders."""
        return next(self.placeholders(text), None) is not None


def _spend(chars: int) -> None:
    inserted = _values.get(None)
    if inserted is None:
        return
    inserted.room -= chars
    if inserted.room < 0:
        raise OutputTooLargeError(f"the comment would exceed {MAX_COMMENT_CHARS} characters")


def _check_size(chars: int) -> None:
    if chars > MAX_COMMENT_CHARS:
        raise OutputTooLargeError(
            f"an expression would build {chars} characters (a comment is at most "
            f"{MAX_COMMENT_CHARS})"
        )


def _finalize(value: object) -> str:
    store = _values.get()
    if isinstance(value, str) and store.holds_placeholder(value):
        return value  # a macro's or include's output: already placeholders and literal text
    store.append(value)
    placeholder = f"{_OPEN}{store.nonce}:{len(store) - 1}{_CLOSE}"
    # the render loop counts the placeholder; the value's own length replaces it
    _spend(len(_value_text(value)) - len(placeholder))
    return placeholder


def _day(value: object) -> str:
    """Format a datetime as "Wednesday 4 November" (templates: ``{{ at | day }}``)."""
    if isinstance(value, datetime):
        return f"{value:%A} {value.day} {value:%B}"
    return str(value)


# --------------------------------------------------------------------------- bounds


def _sized(value: object) -> int:
    return len(value) if isinstance(value, str | list | tuple) else len(str(value))


def _joined_size(items: Iterable[object], sep: object) -> int:
    listed = list(items)
    return sum(_sized(v) for v in listed) + _sized(sep) * max(len(listed) - 1, 0)


def _replace_size(text: str, old: object, new: object, count: int | None = None) -> int:
    hits = text.count(str(old)) if str(old) else len(text) + 1
    if count is not None and count >= 0:
        hits = min(hits, count)
    return len(text) + hits * (len(str(new)) - len(str(old)))


#: a width or precision in a format spec (``%999999s``, ``{:999999}``)
_FORMAT_WIDTH = re.compile(r"(\d{6,})")


def _format_size(fmt: str, args: Iterable[object]) -> int:
    m = _FORMAT_WIDTH.search(fmt)
    width = int(m.group(1)) if m else 0
    return len(fmt) + width + sum(_sized(a) for a in args)


def _width(args: tuple[Any, ...], kwargs: Mapping[str, Any], key: str, default: int) -> int:
    value = kwargs.get(key, args[0] if args else default)
    return value if isinstance(value, int) else len(str(value))


#: filters that can build far more text than they are given -> the size they would build
_WIDENING_FILTERS: dict[str, Callable[..., int]] = {
    "center": lambda value, *a, **k: max(_sized(value), _width(a, k, "width", 80)),
    "indent": lambda value, *a, **k: _sized(value) * (1 + _width(a, k, "width", 4)),
    "replace": lambda _ctx, value, old, new, count=None: _replace_size(
        str(value), old, new, count
    ),
    "join": lambda _ctx, value, d="", attribute=None: _joined_size(value, d),
    "format": lambda value, *a, **k: _format_size(str(value), (*a, *k.values())),
}

#: str methods that widen -> the size they would build from (self, *args)
_WIDENING_METHODS: dict[str, Callable[..., int]] = {
    "center": lambda s, width=0, *_: max(len(s), int(width)),
    "ljust": lambda s, width=0, *_: max(len(s), int(width)),
    "rjust": lambda s, width=0, *_: max(len(s), int(width)),
    "zfill": lambda s, width=0: max(len(s), int(width)),
    "expandtabs": lambda s, tabsize=8: len(s) + s.count("\t") * max(int(tabsize), 0),
    "replace": lambda s, old, new, count=-1: _replace_size(s, old, new, count),
    "join": lambda s, items: _joined_size(items, s),
}


def _bounded_filter(name: str, size: Callable[..., int]) -> Callable[..., Any]:
    original = FILTERS[name]

    def bounded(*args: Any, **kwargs: Any) -> Any:
        _check_size(size(*args, **kwargs))
        return original(*args, **kwargs)

    bounded.__name__ = name
    # Jinja's pass_context/pass_eval_context mark decides what the first argument is.
    if hasattr(original, "jinja_pass_arg"):
        bounded.jinja_pass_arg = original.jinja_pass_arg  # type: ignore[attr-defined]
    return bounded


class _CommentEnvironment(SandboxedEnvironment):
    """The sandbox, with repetition and widening bounded by :data:`MAX_COMMENT_CHARS`."""

    intercepted_binops = frozenset({"*", "**", "%"})

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        """Refuse ``*``/``%`` that would build an oversized string or list, and huge ``**``."""
        if operator == "*":
            for seq, times in ((left, right), (right, left)):
                if isinstance(seq, str | list | tuple) and isinstance(times, int):
                    _check_size(len(seq) * max(times, 0))
        elif (operator == "**" and isinstance(left, int) and isinstance(right, int)
              and max(abs(left), 1).bit_length() * max(right, 0) > 4096):
            raise SecurityError(f"{left} ** {right} is too large a number for a comment")
        elif operator == "%" and isinstance(left, str):
            _check_size(_format_size(left, right if isinstance(right, tuple) else (right,)))
        return super().call_binop(context, operator, left, right)

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: N805
        """Refuse a widening str method (``center``, ``replace``...) over the bound."""
        owner = getattr(__obj, "__self__", None)
        size = _WIDENING_METHODS.get(getattr(__obj, "__name__", ""))
        if isinstance(owner, str) and size is not None:
            try:
                needed = size(owner, *args, **kwargs)
            except (TypeError, ValueError):
                needed = 0  # wrong arguments: the call itself says so below
            _check_size(needed)
        return super().call(__context, __obj, *args, **kwargs)

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        """``"{:999999}".format(x)``: refused by the width it asks for."""
        owner = getattr(value, "__self__", None)
        if isinstance(owner, str) and getattr(value, "__name__", "") in ("format", "format_map"):
            _check_size(_format_size(owner, ()))
        return super().wrap_str_format(value)


class _FolderLoader(FileSystemLoader):
    """Templates from one folder only: no ``..`` (Jinja refuses it), no symlink out of the
    folder, no file over :data:`MAX_TEMPLATE_BYTES`."""

    def __init__(self, directory: Path) -> None:
        super().__init__(str(directory))
        self.root = directory.resolve()

    def get_source(
        self, environment: Environment, template: str
    ) -> tuple[str, str, Callable[[], bool]]:
        """The template's source, when it really lives in the folder and is small."""
        source, filename, uptodate = super().get_source(environment, template)
        real = Path(filename).resolve()
        if not real.is_relative_to(self.root):
            raise TemplateNotFound(f"{template} (it leads outside the templates folder)")
        if os.path.getsize(real) > MAX_TEMPLATE_BYTES:
            raise TemplateSyntaxError(
                f"template file is larger than {MAX_TEMPLATE_BYTES} bytes", 1, template, filename
            )
        return source, filename, uptodate


def environment(directory: Path | None = None) -> SandboxedEnvironment:
    """The template environment: sandboxed, strict about undefined names, bounded, and (with
    ``directory``) able to ``include``/``import`` templates from that folder only."""
    loader: BaseLoader | None = _FolderLoader(directory) if directory is not None else None
    env = _CommentEnvironment(
        undefined=StrictUndefined,
        finalize=_finalize,
        autoescape=False,
        keep_trailing_newline=False,
        trim_blocks=True,
        lstrip_blocks=True,
        loader=loader,
    )
    env.filters["day"] = _day
    for name, size in _WIDENING_FILTERS.items():
        env.filters[name] = _bounded_filter(name, size)

    def bounded_range(*args: int) -> range:
        numbers = range(*args)
        if len(numbers) > MAX_RANGE:
            raise SecurityError(f"range() in a comment template is at most {MAX_RANGE} items")
        return numbers

    env.globals["range"] = bounded_range
    return env


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


# --------------------------------------------------------------------------- templates


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
        values_token = _values.set(_Inserted())
        try:
            parts: list[str] = []
            for chunk in self.template.generate(**variables):
                _spend(len(chunk))
                parts.append(chunk)
            return _to_document("".join(parts), _values.get())
        except Exception as exc:  # whatever one ticket's data does, it stays that ticket's
            raise _failure(self.name, exc, self.template.filename) from exc
        finally:
            _values.reset(values_token)


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


#: conditions whose evidence is not worth telling the PM (they know who and where they are)
# --------------------------------------------------------------------------- text -> Document


def _to_document(text: str, values: _Inserted) -> Document:
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


def _inlines(text: str, values: _Inserted) -> tuple[Inline, ...]:
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


def _flat(text: str, values: _Inserted) -> str:
    return _PLACEHOLDER.sub(
        lambda m: _value_text(values[int(m.group(2))]) if m.group(1) == values.nonce
        else m.group(0),
        text,
    )


def _expand(
    text: str, values: _Inserted, *, strong: bool = False, em: bool = False
) -> list[Inline]:
    out: list[Inline] = []
    pos = 0
    for m in values.placeholders(text):
        if m.start() > pos:
            out.append(Text(text=text[pos : m.start()], strong=strong, em=em))
        value = values[int(m.group(2))]
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
