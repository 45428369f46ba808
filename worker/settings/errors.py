"""A setting that is missing or malformed: one line naming the variable, never its value
(a token pasted into the wrong variable must not reach a terminal or a log)."""

from __future__ import annotations


class SettingsError(ValueError):
    """A missing or malformed setting; ``str()`` is one line that names the variable."""


#: every settings error ends so: it names the variable, never what it holds
HIDDEN = "(its value is not shown: it may be a secret set in the wrong variable)"
