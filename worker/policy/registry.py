"""A tiny plugin registry: one class and one decorator per condition or action kind."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

T = TypeVar("T")


class Registry(Generic[T]):
    """Named plugin classes, in registration order."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._items: dict[str, type[T]] = {}

    def register(self, name: str) -> Callable[[type[T]], type[T]]:
        """Class decorator: make ``cls`` available under ``name`` in policy files."""

        def decorate(cls: type[T]) -> type[T]:
            if name in self._items:
                raise ValueError(f"{self.kind} {name!r} is registered twice")
            self._items[name] = cls
            cls.name = name  # type: ignore[attr-defined]  # the registry owns the name
            return cls

        return decorate

    def get(self, name: str) -> type[T] | None:
        """The class registered under ``name``, or None."""
        return self._items.get(name)

    def names(self) -> tuple[str, ...]:
        """Every registered name, in registration order."""
        return tuple(self._items)

    def __iter__(self) -> Iterator[tuple[str, type[T]]]:
        return iter(self._items.items())
