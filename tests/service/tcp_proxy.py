"""A TCP proxy on loopback that a test controls: it passes bytes through, refuses
connections, or black-holes them, to cut one process off from its database while another
keeps its own link.

- ``passing``: every byte goes through, both ways.
- ``refusing``: the listening socket is closed (a new connection is refused, as by a host
  that is down) and every open connection is reset.
- ``black-holed``: nothing goes through either way, on open connections and new ones alike
  (they are accepted and then hear nothing), as on a link that drops every packet. The
  proxy's kernel still acknowledges what a client sends, so only timeouts measured by the
  client itself notice; a database statement timeout does not (the server never sees it).

:meth:`TcpProxy.heal` passes again; connections that were black-holed are reset, as a real
partition's connections end once TCP gives up on them.
"""

from __future__ import annotations

import select
import socket
import struct
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import Literal

Mode = Literal["passing", "refusing", "black-holed"]

#: how often a pump looks at the mode (seconds)
_TICK_S = 0.05


def _reset(sock: socket.socket) -> None:
    """Close with an RST (SO_LINGER 0), as a dead peer's host answers."""
    with suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


class _Link:
    """One client connection and its upstream connection."""

    def __init__(self, client: socket.socket, upstream: socket.socket | None) -> None:
        self.client = client
        self.upstream = upstream
        self.closed = threading.Event()
        #: black-holed at some point: reset on heal
        self.holed = False

    def close(self) -> None:
        if self.closed.is_set():
            return
        self.closed.set()
        _reset(self.client)
        if self.upstream is not None:
            _reset(self.upstream)


class TcpProxy:
    """Listens on ``127.0.0.1:port`` (a free port unless given) and forwards to ``upstream``."""

    def __init__(self, upstream_host: str, upstream_port: int, *, port: int = 0) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.mode: Mode = "passing"
        self._lock = threading.Lock()
        self._links: list[_Link] = []
        self._stopped = threading.Event()
        self._listener: socket.socket | None = None
        self.port = self._listen(port)
        self._acceptor = threading.Thread(target=self._accept, name="proxy-accept", daemon=True)
        self._acceptor.start()

    # ------------------------------------------------------------------ control

    def refuse(self) -> None:
        """Refuse new connections and reset the open ones."""
        with self._lock:
            self.mode = "refusing"
            listener, self._listener = self._listener, None
            links, self._links = self._links, []
        if listener is not None:
            listener.close()
        for link in links:
            link.close()

    def black_hole(self) -> None:
        """Let nothing through, on open and new connections."""
        with self._lock:
            self.mode = "black-holed"
            for link in self._links:
                link.holed = True

    def heal(self) -> None:
        """Pass again (listening again after :meth:`refuse`); black-holed connections are
        reset."""
        with self._lock:
            previous, self.mode = self.mode, "passing"
            holed = [link for link in self._links if link.holed]
            self._links = [link for link in self._links if not link.holed]
        for link in holed:
            link.close()
        if previous == "refusing":
            self._listen(self.port)

    @contextmanager
    def cut(self, how: Literal["refuse", "black-hole"]) -> Iterator[None]:
        """Refused or black-holed inside the block; healed after."""
        if how == "refuse":
            self.refuse()
        else:
            self.black_hole()
        try:
            yield
        finally:
            self.heal()

    def close(self) -> None:
        """Stop listening and reset every connection."""
        self._stopped.set()
        self.refuse()

    # ------------------------------------------------------------------ plumbing

    def _listen(self, port: int) -> int:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", port))
        listener.listen(64)
        listener.settimeout(_TICK_S)
        with self._lock:
            self._listener = listener
        return int(listener.getsockname()[1])

    def _accept(self) -> None:
        while not self._stopped.is_set():
            with self._lock:
                listener = self._listener
            if listener is None:
                self._stopped.wait(_TICK_S)
                continue
            try:
                client, _ = listener.accept()
            except (TimeoutError, OSError):
                continue
            client.setblocking(True)
            upstream: socket.socket | None = None
            if self.mode == "passing":
                try:
                    upstream = socket.create_connection(self.upstream, timeout=5)
                except OSError:
                    _reset(client)
                    continue
            link = _Link(client, upstream)
            with self._lock:
                link.holed = self.mode == "black-holed"
                self._links.append(link)
            threading.Thread(target=self._pump, args=(link,), name="proxy-pump",
                             daemon=True).start()

    def _pump(self, link: _Link) -> None:
        while not link.closed.is_set():
            if link.holed or link.upstream is None:
                # Nothing moves; the kernel buffers what the client sends until heal resets.
                link.closed.wait(_TICK_S)
                continue
            try:
                ready, _, _ = select.select([link.client, link.upstream], [], [], _TICK_S)
            except (OSError, ValueError):
                break
            if link.holed:
                continue
            for sock in ready:
                other = link.upstream if sock is link.client else link.client
                try:
                    data = sock.recv(65536)
                except OSError:
                    data = b""
                if not data:
                    link.close()
                    break
                try:
                    other.sendall(data)
                except OSError:
                    link.close()
                    break
        with self._lock:
            if link in self._links:
                self._links.remove(link)
