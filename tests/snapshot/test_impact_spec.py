"""One read for two files: the combined search spec (pure)."""

from __future__ import annotations

import pytest

from worker.impact import ImpactError, combined_spec
from worker.model.deals import DealSource
from worker.model.issue import SearchSpec

A = SearchSpec(jql='assignee in membersOf("pm") AND statusCategory != Done',
               field_names=("Account",), comments=True, groups=("pm", "sales"),
               deals=DealSource())
B = SearchSpec(jql='assignee in membersOf("pm2") AND statusCategory != Done',
               field_names=("Account", "Contract status"), changelog=True, groups=("pm2",))


def test_the_combined_read_serves_both_files() -> None:
    """Either JQL, every field, group and expansion either file needs."""
    both = combined_spec(A, B)
    assert both.jql == f"({A.jql}) OR ({B.jql})"
    assert both.field_names == ("Account", "Contract status")
    assert both.comments
    assert both.changelog
    assert both.groups == ("pm", "pm2", "sales")
    assert both.deals == DealSource()


def test_the_same_jql_is_not_doubled() -> None:
    """Two files with the same search read it once, as it is."""
    assert combined_spec(A, A).jql == A.jql


def test_another_property_key_cannot_be_compared() -> None:
    """A new state.property_key forgets the bot's state: refused with the reason."""
    other = SearchSpec(jql=A.jql, property_key="other-key")
    with pytest.raises(ImpactError, match="property_key"):
        combined_spec(A, other)
