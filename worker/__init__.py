"""Handoff Guard: keeps project managers from doing Sales' work before signature."""

__version__ = "0.1.0"
