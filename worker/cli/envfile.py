"""Environment files (``--env-file``): the ``KEY=VALUE`` lines systemd's ``EnvironmentFile=``
and ``docker run --env-file`` read, so one file serves the unit, the container and the CLI.

The format is the part those readers agree on, read strictly:

* blank lines and lines starting with ``#`` or ``;`` are comments;
* ``KEY=VALUE`` (an optional ``export`` before the name, spaces around ``=`` ignored);
  ``KEY`` is a shell-style name;
* a value in double quotes takes the escapes ``\\"``, ``\\\\``, ``\\n``, ``\\t`` and ``\\$``; in
  single quotes it is taken as it is; unquoted, it is the rest of the line without the spaces
  around it (a ``#`` inside it is part of the value, as for systemd: no trailing comments);
* nothing is expanded (``$HOME`` stays ``$HOME``), as systemd does not expand either.

A line that is none of these is an error naming the file and the line number, never the line:
it may hold a token.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, MutableMapping
from pathlib import Path

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_ESCAPES = {'"': '"', "\\": "\\", "n": "\n", "t": "\t", "$": "$", "`": "`"}


class EnvFileError(ValueError):
    """An unreadable or malformed environment file; ``str()`` names the file and line."""


def parse_env(text: str, *, source: str = "<env>") -> dict[str, str]:
    """The variables ``text`` sets, in file order (a later line for a name wins)."""
    found: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("export ") or line.startswith("export\t"):
            line = line[len("export"):].lstrip()
        name, equals, value = line.partition("=")
        name = name.strip()
        if not equals or not _NAME.fullmatch(name):
            raise EnvFileError(
                f"{source}:{number}: expected NAME=VALUE (a shell-style name, then '=') "
                "(the line is not shown: it may hold a secret)"
            )
        found[name] = _value(value.strip(), where=f"{source}:{number}")
    return found


def _value(text: str, *, where: str) -> str:
    if len(text) >= 1 and text[0] == "'":
        if len(text) < 2 or text[-1] != "'" or "'" in text[1:-1]:
            raise EnvFileError(f"{where}: a single-quoted value must end with its quote "
                               "(the value is not shown)")
        return text[1:-1]
    if len(text) >= 1 and text[0] == '"':
        return _double_quoted(text, where=where)
    return text


def _double_quoted(text: str, *, where: str) -> str:
    out: list[str] = []
    i = 1
    while i < len(text):
        char = text[i]
        if char == "\\" and i + 1 < len(text):
            following = text[i + 1]
            out.append(_ESCAPES.get(following, "\\" + following))
            i += 2
            continue
        if char == '"':
            if i != len(text) - 1:
                break  # text after the closing quote
            return "".join(out)
        out.append(char)
        i += 1
    raise EnvFileError(f"{where}: a double-quoted value must end with its quote and nothing "
                       "after it (the value is not shown)")


def read_env_files(paths: list[Path]) -> dict[str, str]:
    """The variables the files set, later files overriding earlier ones."""
    merged: dict[str, str] = {}
    for path in paths:
        try:
            text = path.read_text("utf-8")
        except OSError as exc:
            raise EnvFileError(f"--env-file {path}: {exc.strerror or exc}") from None
        except UnicodeDecodeError:
            raise EnvFileError(f"--env-file {path}: not UTF-8 text") from None
        merged.update(parse_env(text, source=str(path)))
    return merged


def apply_env(files: Mapping[str, str], environ: MutableMapping[str, str]) -> list[str]:
    """Set the files' variables in ``environ`` where it does not already hold them (as
    ``docker run -e`` overrides ``--env-file``, and ``VAR=x handoff-guard ...`` overrides a
    file it was given); returns the names set. The whole process sees them, so the settings
    and what the HTTP client reads (``HTTPS_PROXY``, ``REQUESTS_CA_BUNDLE``) agree."""
    applied = [name for name in files if name not in environ]
    for name in applied:
        environ[name] = files[name]
    return applied
