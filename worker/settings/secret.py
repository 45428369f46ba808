"""A credential wrapped so that no ``repr``, log event or error message shows it by accident."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Secret:
    """A credential that never shows itself: ``repr``/``str`` print a mask; use :meth:`reveal`."""

    _value: str = field(repr=False)

    def reveal(self) -> str:
        """The real value, for the one place that sends it (the HTTP client)."""
        return self._value

    def __repr__(self) -> str:
        return "Secret('********')"

    def __str__(self) -> str:
        return "********"
