"""The page prefetcher: same items in the same order, errors where they occur, early stops."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from worker.atlassian.clients import http_session
from worker.atlassian.prefetch import prefetched


def test_yields_every_page_in_order() -> None:
    """What goes in comes out, in order, whatever the depth."""
    for depth in (1, 2, 5):
        assert list(prefetched(iter(range(20)), depth=depth)) == list(range(20))


def test_an_error_reaches_the_consumer_after_the_pages_before_it() -> None:
    """A page that fails raises in the consumer, after the pages fetched before it."""

    def pages() -> Iterator[int]:
        yield 1
        yield 2
        raise ConnectionError("page 3 failed")

    stream = prefetched(pages())
    assert [next(stream), next(stream)] == [1, 2]
    with pytest.raises(ConnectionError, match="page 3 failed"):
        next(stream)


def test_stopping_early_stops_the_fetching_thread() -> None:
    """A consumer that leaves after one page closes the source: no more pages are fetched."""
    fetched: list[int] = []
    closed = threading.Event()

    def pages() -> Iterator[int]:
        try:
            for i in range(1000):
                fetched.append(i)
                yield i
        finally:
            closed.set()

    stream = prefetched(pages(), depth=1)
    assert next(stream) == 0
    stream.close()
    assert closed.wait(timeout=5)
    assert len(fetched) <= 2  # the page handed over, and the one fetched ahead of it


def test_fetching_runs_ahead_of_the_consumer() -> None:
    """While the consumer holds page 1, page 2 is already being fetched."""
    second_started = threading.Event()

    def pages() -> Iterator[int]:
        yield 1
        second_started.set()
        yield 2

    stream = prefetched(pages())
    assert next(stream) == 1
    assert second_started.wait(timeout=5)
    assert list(stream) == [2]


@pytest.mark.parametrize("depth", [1, 2])
def test_fetching_runs_no_further_ahead_than_the_depth(depth: int) -> None:
    """While the consumer holds page 0, ``depth`` pages are fetched and no more (each page
    held ahead is a decoded search page in memory)."""
    asked: list[int] = []
    ahead = threading.Event()

    def pages() -> Iterator[int]:
        for i in range(10):
            asked.append(i)
            if i == depth:
                ahead.set()
            yield i

    stream = prefetched(pages(), depth=depth)
    assert next(stream) == 0
    assert ahead.wait(timeout=5)
    time.sleep(0.3)  # ample time for the fetcher to ask for one more, were it allowed to
    assert asked == list(range(depth + 1))
    assert list(stream) == list(range(1, 10))


@pytest.mark.parametrize(
    ("env", "url", "proxies"),
    [
        ({}, "https://acme.atlassian.net", {}),
        ({"HTTPS_PROXY": "http://proxy:3128"}, "https://acme.atlassian.net",
         {"https": "http://proxy:3128"}),
        ({"HTTPS_PROXY": "http://proxy:3128", "NO_PROXY": "acme.atlassian.net"},
         "https://acme.atlassian.net", {}),
    ],
)
def test_session_reads_proxies_from_the_environment_once(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], url: str, proxies: dict[str, str]
) -> None:
    """Proxy variables are honoured, resolved once for the site; per request nothing is read."""
    for name in ("HTTPS_PROXY", "HTTP_PROXY", "NO_PROXY", "https_proxy", "http_proxy",
                 "no_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    session = http_session(url)
    assert session.trust_env is False
    assert {k: v for k, v in session.proxies.items() if k in ("http", "https")} == proxies


def test_session_keeps_the_ca_bundle_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    """``REQUESTS_CA_BUNDLE`` still applies with trust_env off."""
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/corp.pem")
    assert http_session("https://acme.atlassian.net").verify == "/etc/ssl/corp.pem"
