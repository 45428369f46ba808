"""Issue 9 item 5: the bot's state is known before any write (missing ``properties`` in a
search answer; a store that is new or lost while Cloud search lags)."""

from __future__ import annotations

from typing import Any

from tests.exactly_once.conftest import ACTED, example_site


def _property_reads(b: Any) -> list[str]:
    return [r["path"].split("/issue/")[1].split("/")[0] for r in b.sandbox.requests()
            if r["method"] == "GET" and "/properties/" in r["path"]]


def test_a_lost_store_under_search_lag_posts_no_duplicates(bench: Any, flavor: str) -> None:
    """Comment on three tickets, delete the store, run again while search still shows the
    old state: the new store has no history, so each acted ticket's property is read; it
    names this installation's earlier store, before this store began: history, not another
    actor (issue 23). The three reads (one reconciled search on Cloud, a GET each on Data
    Center), nothing else, nothing posted twice, and the cycle goes on without an operator."""
    site = example_site(flavor)
    site["site"]["search_lag_s"] = 600
    b = bench(site)
    first = b.runner(state=str(b.tmp / "first.db"))
    b.cycle(first)
    assert b.comment_counts() == dict.fromkeys(ACTED, 1)

    b.sandbox.clear_requests()
    lost = b.runner(state=str(b.tmp / "replacement.db"))
    report = b.cycle(lost)
    assert report.another_actor is None
    assert b.comment_counts() == dict.fromkeys(ACTED, 1)
    assert b.puts() == []
    if flavor == "cloud":
        # Searches that name them in reconcileIssues (their latest state, like a GET each;
        # the first write goes alone, the rest in one): the read's page and two, no GET.
        assert _property_reads(b) == []
        assert sum(1 for r in b.sandbox.requests() if r["path"].endswith("/search/jql")) == 3
    else:
        assert sorted(_property_reads(b)) == sorted(ACTED)
    assert report.outcomes == {"skipped": 3}

    # The next cycle knows from its journal: no reads, no writes.
    b.sandbox.clear_requests()
    b.cycle(lost)
    assert (b.puts(), _property_reads(b)) == ([], [])


def test_no_properties_in_search_reads_the_property_before_writing(bench: Any,
                                                                   flavor: str) -> None:
    """A search answer without the ``properties`` object (some Data Center versions): the
    property is read before each write; a step already there is not written again, and the
    ladder still moves on."""
    b = bench(example_site(flavor))
    # Every read that carries issues (Cloud reads tickets due a recheck with bulkfetch).
    b.sandbox.add_faults([{"path": "/search|/bulkfetch", "omit": ["properties"]}])
    runner = b.runner()
    b.cycle(runner)
    assert b.comment_counts() == dict.fromkeys(ACTED, 1)

    b.sandbox.advance("2d")  # the next ladder step (reassign to the sales owner) is due
    b.sandbox.clear_requests()
    # The journal's 24 hours have passed: the state read shows step 0 done, nothing is
    # written, and the state read is journaled, so the next cycle plans the next step.
    held = b.cycle(runner)
    assert (b.puts(), held.outcomes) == ([], {"skipped": 3})
    b.sandbox.clear_requests()
    b.cycle(runner)
    assert sorted(b.puts()) == sorted(ACTED)
    assert sorted(_property_reads(b)) == sorted(ACTED)
    issues = {i["key"]: i for i in b.sandbox.site()["issues"]}
    assert issues["ACME-1"]["assignee"] == "sam"
    # the step 0 comment, and the reassignment's note to the new owner: nothing twice
    assert b.comment_counts() == dict.fromkeys(ACTED, 2)


def test_a_state_that_cannot_be_read_is_never_guessed(bench: Any, flavor: str) -> None:
    """When the property read fails, nothing is written: a skip with the reason."""
    b = bench(example_site(flavor))
    b.sandbox.add_faults([{"path": "/search", "omit": ["properties"]},
                          {"method": "GET", "path": "/properties/", "status": 500}])
    report = b.cycle(b.runner())
    assert b.puts() == []
    assert b.comment_counts() == dict.fromkeys(ACTED, 0)
    assert report.outcomes == {"skipped": 3}
    details = {o.detail for o in report.results}
    assert all("could not be read" in d for d in details)
