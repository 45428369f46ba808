"""The Jinja2 environment comment templates render in: sandboxed, strict about undefined
names, and bounded, because templates meet ticket text anyone can write.

``include``/``import`` read only inside the templates folder (no symlink out, no file over
:data:`MAX_TEMPLATE_BYTES`); repetition and widening (``*``, ``center``, ``replace``,
``format``...) are refused before they build more than a whole comment; ``range()`` is at
most :data:`MAX_RANGE` items.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from jinja2 import (
    BaseLoader,
    Environment,
    FileSystemLoader,
    StrictUndefined,
    TemplateNotFound,
    TemplateSyntaxError,
)
from jinja2.exceptions import SecurityError
from jinja2.filters import FILTERS
from jinja2.sandbox import SandboxedEnvironment

from worker.policy.template_inserts import check_size, finalize

#: a template file is a page of text, not a data dump
MAX_TEMPLATE_BYTES = 64 * 1024
#: loops in a template: enough for any list a comment shows, too few to spin for minutes
MAX_RANGE = 10_000


def _day(value: object) -> str:
    """Format a datetime as "Wednesday 4 November" (templates: ``{{ at | day }}``)."""
    if isinstance(value, datetime):
        return f"{value:%A} {value.day} {value:%B}"
    return str(value)


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
        check_size(size(*args, **kwargs))
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
                    check_size(len(seq) * max(times, 0))
        elif (operator == "**" and isinstance(left, int) and isinstance(right, int)
              and max(abs(left), 1).bit_length() * max(right, 0) > 4096):
            raise SecurityError(f"{left} ** {right} is too large a number for a comment")
        elif operator == "%" and isinstance(left, str):
            check_size(_format_size(left, right if isinstance(right, tuple) else (right,)))
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
            check_size(needed)
        return super().call(__context, __obj, *args, **kwargs)

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        """``"{:999999}".format(x)``: refused by the width it asks for."""
        owner = getattr(value, "__self__", None)
        if isinstance(owner, str) and getattr(value, "__name__", "") in ("format", "format_map"):
            check_size(_format_size(owner, ()))
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
        finalize=finalize,
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
