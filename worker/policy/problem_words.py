"""A validation error in the admin's words: what was found, what was expected, and the
closest valid name for a typo (``did you mean 'assignee_in'?``).

pydantic words its errors for programmers (``Input should be ...``, ``Value error, ...``);
these helpers rewrite them, and find the keys a model accepts at an error's location so
that an unknown key lists or suggests the valid ones.
"""

from __future__ import annotations

import difflib
import types
import typing
from collections.abc import Mapping
from typing import Any, Union

from pydantic import BaseModel


def show(value: object) -> str:
    """A value as a problem names it: text quoted, a mapping or list by its kind."""
    if isinstance(value, str):
        return repr(value)
    if value is None:
        return "nothing"
    return repr(value) if isinstance(value, int | float | bool) else type(value).__name__


def suggest(name: str, valid: typing.Iterable[str]) -> str:
    """``; did you mean 'x'?`` for the closest valid name, or nothing when none is close."""
    close = difflib.get_close_matches(name, list(valid), n=1, cutoff=0.6)
    return f"; did you mean '{close[0]}'?" if close else ""


def unknown(what: str, name: str, valid: typing.Iterable[str]) -> str:
    """An unknown name, with the closest valid one or else the list of them."""
    valid = tuple(valid)
    hint = suggest(name, valid)
    return f"unknown {what} '{name}'" + (hint or f"; expected one of: {', '.join(valid)}")


def message(msg: str) -> str:
    """pydantic's message for an error, worded for the admin."""
    for prefix in ("Value error, ", "Assertion failed, "):
        if msg.startswith(prefix):
            return msg[len(prefix) :]
    if msg.startswith("Input should be "):
        return "expected " + msg[len("Input should be ") :]
    if msg.startswith("String should match pattern "):
        return "expected text matching " + msg[len("String should match pattern ") :]
    return msg[:1].lower() + msg[1:]


def keys_at(model: type[BaseModel], loc: tuple[Any, ...]) -> tuple[str, ...]:
    """The keys the model accepts at ``loc`` (none when the location leaves the models)."""
    tp: Any = model
    for el in loc:
        tp = _unwrap(tp, el)
        if tp is None:
            return ()
    inner = _unwrap(tp, None)
    if isinstance(inner, type) and issubclass(inner, BaseModel):
        return tuple(f.alias or n for n, f in inner.model_fields.items())
    return ()


def _unwrap(tp: Any, el: Any) -> Any:
    """One step down a type along a validation location (None when lost)."""
    while True:
        origin = typing.get_origin(tp)
        if origin is typing.Annotated:
            tp = typing.get_args(tp)[0]
        elif origin in (Union, types.UnionType):
            members = [a for a in typing.get_args(tp) if a is not type(None)]
            models = [m for m in members if isinstance(m, type) and issubclass(m, BaseModel)]
            tp = models[0] if models else members[0]
        else:
            break
    if el is None:
        return tp
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        for name, info in tp.model_fields.items():
            if el in (name, info.alias):
                return info.annotation
        return None
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (list, tuple) and isinstance(el, int):
        return args[0] if args else None
    if origin in (dict, Mapping) and isinstance(el, str):
        return args[1] if len(args) > 1 else None
    return None
