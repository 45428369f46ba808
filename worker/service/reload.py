"""Instant reload: re-read the policy file the moment it or its templates change, or on SIGHUP.

Two threads. ``config-watch`` waits on the kernel (inotify, through the ``watchfiles``
library) for any change in the policy file's folder and in the templates folder it names;
each batch of changes becomes one request. ``config-reload`` takes the requests one at a time
and hands them to the service, which re-reads the file through its
:class:`~worker.cycle.source.PolicySource` (digest first: a change elsewhere in the folder costs one
hash and no load). Where inotify cannot be had (``watchfiles`` missing, no inotify instance
left, the folder missing), the reload thread polls every :data:`POLL_S` seconds instead.

:meth:`Reloader.request` only puts a word on a :class:`queue.SimpleQueue`, which is safe to
call from a signal handler: SIGHUP costs the main thread nothing else.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

import structlog

from worker.telemetry.logs import scrub

log = structlog.get_logger(__name__)

#: how often the file is re-read when it cannot be watched
POLL_S = 2.0
#: after a failed watch, how long before trying inotify again (polling meanwhile)
RETRY_WATCH_S = 30.0


class WatchedSource(Protocol):
    """What the reloader needs from the policy source: the folders to watch."""

    def watched(self) -> tuple[Path, ...]:
        """The folders whose changes can change the config."""
        ...


class _Either:
    """``is_set()`` of two events (watchfiles takes one stop event)."""

    def __init__(self, a: threading.Event, b: threading.Event) -> None:
        self._a, self._b = a, b

    def is_set(self) -> bool:
        return self._a.is_set() or self._b.is_set()


class Reloader:
    """Turns file changes, SIGHUP and (without inotify) a 2-second poll into calls of
    ``on_request(trigger)`` on one thread, one at a time."""

    def __init__(
        self,
        source: WatchedSource,
        on_request: Callable[[str], None],
        *,
        watch: bool = True,
        poll_s: float = POLL_S,
    ) -> None:
        self._source = source
        self._on_request = on_request
        self._watch = watch
        self.poll_s = poll_s
        self._requests: queue.SimpleQueue[str] = queue.SimpleQueue()
        self._stop = threading.Event()
        #: set while inotify watches the current folders (the reload thread then never polls)
        self.watching = threading.Event()
        self._restart = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="config-reload", daemon=True)
        self._watcher: threading.Thread | None = None
        self._watched: tuple[tuple[str, str, int], ...] = ()

    # ------------------------------------------------------------------ requests

    def request(self, trigger: str) -> None:
        """Ask for a re-read (thread-safe and signal-safe)."""
        self._requests.put(trigger)

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                trigger = self._requests.get(
                    timeout=None if self.watching.is_set() else self.poll_s
                )
            except queue.Empty:
                trigger = "poll"
            if self._stop.is_set():
                return
            triggers = {trigger}
            while True:  # a burst of changes is one re-read
                try:
                    triggers.add(self._requests.get_nowait())
                except queue.Empty:
                    break
            # SIGHUP wins the name: the operator asked, the log says so
            first = "SIGHUP" if "SIGHUP" in triggers else sorted(triggers)[0]
            try:
                self._on_request(first)
            except Exception as exc:  # the reload thread must outlive any one bad re-read
                log.exception("config.reload_failed", trigger=first, error=scrub(str(exc)))
            if self._watcher is not None and self.watching.is_set():
                self._restart_if_moved()

    # ------------------------------------------------------------------ watching

    def _where(self) -> tuple[tuple[str, str, int], ...]:
        """The watched folders as the kernel knows them: name, real path and inode."""
        found = []
        for folder in self._source.watched():
            try:
                found.append((str(folder), str(folder.resolve()), folder.stat().st_ino))
            except OSError:  # gone: watched again once it is back
                found.append((str(folder), "", 0))
        return tuple(found)

    def _restart_if_moved(self) -> None:
        """Watch again when the folders changed: the file names another templates folder, or
        one was replaced under its name (``rm -r`` and copy, a ConfigMap's ``..data`` swap
        behind a symlink): inotify watches an inode, not a name."""
        if self._watched != self._where():
            self._restart.set()

    def _watch_loop(self) -> None:
        try:
            import watchfiles
        except ImportError:
            log.info("config.watching", mode="poll", every_s=self.poll_s,
                     why="watchfiles is not installed")
            return
        while not self._stop.is_set():
            self._watched = self._where()
            folders = tuple(p for p in self._source.watched() if p.is_dir())
            if not folders:
                self._wait_then_retry("the policy file's folder does not exist")
                continue
            self._restart.clear()
            try:
                changes = watchfiles.watch(
                    *folders,
                    watch_filter=None,  # an editor's rename or a ConfigMap's ..data swap counts
                    recursive=False,
                    stop_event=_Either(self._stop, self._restart),
                    raise_interrupt=False,
                    rust_timeout=500,
                    yield_on_timeout=True,
                )
                for batch in changes:
                    if not self.watching.is_set():
                        # the first yield (a change or a timeout) means the watch is in place
                        self.watching.set()
                        log.info("config.watching", mode="inotify",
                                 folders=[str(f) for f in folders])
                        self.request("start")  # a change between the last read and the watch
                    if batch:
                        self.request("watch")
            except Exception as exc:  # no inotify instance, a folder removed under us...
                self.watching.clear()
                self._wait_then_retry(scrub(str(exc)) or type(exc).__name__)
                continue
            self.watching.clear()

    def _wait_then_retry(self, why: str) -> None:
        self.watching.clear()
        self.request("poll")  # wake the reload thread so it starts polling now
        log.warning("config.watching", mode="poll", every_s=self.poll_s, why=why,
                    retry_watch_s=RETRY_WATCH_S)
        self._stop.wait(RETRY_WATCH_S)

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> Reloader:
        """Start the reload thread (and the watch thread unless told not to); returns self."""
        self._thread.start()
        if self._watch:
            self._watcher = threading.Thread(target=self._watch_loop, name="config-watch",
                                             daemon=True)
            self._watcher.start()
        else:
            log.info("config.watching", mode="poll", every_s=self.poll_s, why="asked to poll")
        return self

    def alive(self) -> bool:
        """Whether the reload thread runs (the watch thread may stop: polling replaces it)."""
        return self._thread.is_alive()

    def stop(self) -> None:
        """Stop both threads and wait for them briefly."""
        self._stop.set()
        self._requests.put("stop")
        for thread in (self._thread, self._watcher):
            if thread is not None and thread.is_alive():
                thread.join(timeout=3)
