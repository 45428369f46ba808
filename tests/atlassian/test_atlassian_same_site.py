"""Links from a response are followed only on the configured site (issue 15 item 6)."""

from __future__ import annotations

import pytest

from worker.atlassian.transport import OffSiteURLError, same_site

SITE = "https://acme.atlassian.net/wiki"


@pytest.mark.parametrize(
    ("url", "ok"),
    [
        ("https://acme.atlassian.net/wiki/rest/api/content/search?cursor=x", True),
        ("https://ACME.atlassian.net:443/wiki/rest/api/x", True),
        ("http://acme.atlassian.net/wiki/rest/api/x", False),  # scheme downgrade
        ("https://acme.atlassian.net:8443/wiki/rest/api/x", False),  # another port
        ("https://evil.example/wiki/rest/api/x", False),
        ("https://acme.atlassian.net@evil.example/wiki", False),  # userinfo trick
        ("https://acme.atlassian.net.evil.example/wiki", False),
    ],
)
def test_same_site_compares_scheme_host_and_port(url: str, ok: bool) -> None:
    """Same scheme, host (any case) and port (default ports filled in), nothing else."""
    assert same_site(url, SITE) is ok


def test_the_transport_never_sends_an_absolute_url_off_the_site(kit, flavor) -> None:
    """Any absolute URL handed to the transport is checked before a request is made."""
    site = kit.sitegen.example_site()
    site["site"]["flavor"] = flavor
    with kit.open_site(site) as (sb, atl):
        sb.clear_requests()
        with pytest.raises(OffSiteURLError, match=r"off the configured site \(http://127\.0\.0\.1:1\)"):
            atl.confluence.transport.call("GET", "http://127.0.0.1:1/wiki/rest/api/x",
                                          absolute=True)
        with pytest.raises(OffSiteURLError):
            atl.jira.transport.call("GET", "http://localhost:1/rest/api/2/myself", absolute=True)
        assert sb.requests() == []
