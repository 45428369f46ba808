"""The policy file as a cycle sees it: re-read when its content changes, the last good one kept.

An invalid file is reported (``config.invalid``) and the last good policies keep running.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import structlog

from worker.cycle.errors import ConfigUnavailableError, one_line
from worker.policy import PolicyError, load_policies
from worker.policy.load import POLICY_YAML_LIMITS, templates_folder

if TYPE_CHECKING:
    from worker.policy import Policies
    from worker.telemetry.health import Health

log = structlog.get_logger(__name__)


class PolicySource:
    """The policy file, re-read when its content changes; the last good value survives."""

    def __init__(
        self,
        path: Path,
        *,
        health: Health | None = None,
        loader: Callable[[Path], Policies] = load_policies,
    ) -> None:
        self.path = path
        self._loader = loader
        self._health = health
        # current() runs in the cycle's thread and in the reload thread (file watch, SIGHUP)
        self._lock = threading.RLock()
        #: the templates folder the file on disk names, and the file digest it was read from
        self._templates: tuple[str, Path] | None = None
        self._loaded_sha: str | None = None
        self._bad_sha: str | None = None
        self.policies: Policies | None = None
        self.sha256: str | None = None
        #: problems of the file on disk when it is invalid, else ()
        self.problems: tuple[str, ...] = ()
        self.reloads = 0
        #: the policies a reload replaced, until the cycle logs the impact of the change
        self.replaced: Policies | None = None
        #: asks the site about a newly loaded file (the users it names); problems refuse the
        #: file like a syntax error does. None: no site check (set by the cycle's resources)
        self.site_check: Callable[[Policies], tuple[str, ...]] | None = None

    def current(self) -> Policies:
        """The policies to use now; raises :class:`PolicyError` only when none ever loaded.

        The file and its templates are hashed on every call (they are small): an edit that
        keeps the size and lands within the filesystem's timestamp resolution is still seen.
        Thread-safe: the cycle and the reload thread both call it.
        """
        with self._lock:
            return self._current()

    def _current(self) -> Policies:
        try:
            digest = self._digest()
        except OSError as exc:
            problem = f"{self.path}: cannot read the policy file: {exc.strerror or exc}"
            return self._invalid(None, (problem,), exc)
        if digest == self._loaded_sha and self.policies is not None:
            self._mark_valid()
            return self.policies
        if digest == self._bad_sha and self.policies is not None:
            return self.policies  # still the invalid file we reported; keep the last good
        try:
            loaded = self._loader(self.path)
        except PolicyError as exc:
            return self._invalid(digest, tuple(str(p) for p in exc.problems), exc)
        except Exception as exc:  # a loader bug must not stop enforcement: keep the last good
            problem = f"{self.path}: cannot load: {one_line(exc)}"
            return self._invalid(digest, (problem,), exc)
        refused = self._site_refuses(loaded)
        if refused:
            return self._invalid(digest, refused, ConfigUnavailableError(refused[0]))
        first = self.policies is None
        if not first and self.replaced is None:
            # several reloads before a cycle reports one: the impact since what last ran
            self.replaced = self.policies
        self.policies, self.sha256, self._loaded_sha = loaded, digest, digest
        self._mark_valid()
        if first:
            log.info("config.loaded", path=str(self.path), sha256=digest[:12],
                     policies=[p.id for p in loaded.policies])
        else:
            self.reloads += 1
            log.info("config.reloaded", path=str(self.path), sha256=digest[:12],
                     policies=[p.id for p in loaded.policies])
        return loaded

    def _site_refuses(self, loaded: Policies) -> tuple[str, ...]:
        """What the site says is wrong with a newly loaded file (a target user who does not
        exist, is inactive or cannot be assigned); () when nothing, or when the site cannot
        be asked now (the cycle's own read then fails and says why)."""
        if self.site_check is None:
            return ()
        try:
            return self.site_check(loaded)
        except Exception as exc:  # unreachable site: the file is not refused for it
            log.warning("config.site_check_failed", error=one_line(exc))
            return ()

    def loaded(self) -> tuple[Policies, str | None]:
        """:meth:`current` and the digest of the file it came from, read together."""
        with self._lock:
            return self._current(), self.sha256

    def take_replaced(self, *, by: Policies | None = None) -> Policies | None:
        """The policies the last reload replaced (once; None when nothing was replaced).

        With ``by``: only when ``by`` is what replaced them. A reload on another thread after
        a cycle took ``by`` leaves its change for the next cycle to report.
        """
        with self._lock:
            if by is not None and by is not self.policies:
                return None
            replaced, self.replaced = self.replaced, None
            return replaced

    def templates_dir(self) -> Path:
        """The comment templates' folder the policy file names (``templates:``, relative to
        the file; ``templates`` when it names none)."""
        with self._lock:
            return self._templates[1] if self._templates else self.path.parent / "templates"

    def watched(self) -> tuple[Path, ...]:
        """The folders whose changes can change the config, each to watch on its own (not
        recursively: the policy file's folder may hold anything): the policy file's folder
        (editors and Kubernetes replace a file by renaming into it) and the templates folder
        with its subfolders."""
        templates = self.templates_dir()
        found = {self.path.parent}
        if templates.is_dir():
            found.add(templates)
            found.update(p for p in templates.rglob("*") if p.is_dir())
        return tuple(sorted(found))

    def _digest(self) -> str:
        """SHA-256 over the policy file and the comment templates folder it names, so an
        edit to either is picked up."""
        sha = hashlib.sha256()
        if self.path.stat().st_size <= POLICY_YAML_LIMITS.max_bytes:
            data = self.path.read_bytes()
            sha.update(data)
            templates = self._templates_folder(data)
        else:  # streamed: the loader refuses it unread, and so does the folder lookup
            _hash_file(sha, self.path)
            templates = self.templates_dir()
        if templates.is_dir():
            # recursive: a template may include one from a subfolder
            for item in sorted(templates.rglob("*")):
                if item.is_file():
                    sha.update(item.relative_to(templates).as_posix().encode() + b"\0")
                    _hash_file(sha, item)
        return sha.hexdigest()

    def _templates_folder(self, data: bytes) -> Path:
        """The folder the policy file's text names (parsed once per content; a file that
        does not parse keeps the folder known before)."""
        key = hashlib.sha256(data).hexdigest()
        if self._templates is not None and self._templates[0] == key:
            return self._templates[1]
        folder = templates_folder(data.decode("utf-8", errors="replace"), self.path.parent)
        self._templates = (key, folder or self.templates_dir())
        return self._templates[1]

    def _mark_valid(self) -> None:
        self.problems = ()
        self._bad_sha = None
        if self._health is not None:
            self._health.config_valid(self.sha256)

    def _invalid(self, digest: str | None, problems: tuple[str, ...], exc: Exception) -> Policies:
        if digest is None or digest != self._bad_sha:
            log.error(
                "config.invalid",
                path=str(self.path),
                problems=list(problems),
                keeping="last good config" if self.policies is not None else None,
            )
        self._bad_sha = digest
        self.problems = problems
        if self._health is not None:
            self._health.config_invalid(problems)
        if self.policies is None:
            if isinstance(exc, PolicyError):
                raise exc
            raise ConfigUnavailableError(problems[0]) from exc
        return self.policies


def _hash_file(sha: hashlib._Hash, path: Path) -> None:
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 16), b""):
            sha.update(block)
