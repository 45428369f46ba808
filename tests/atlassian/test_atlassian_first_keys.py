"""Each id's first key for one read: exact answers whatever the ids, in a third of the memory."""

from __future__ import annotations

import tracemalloc

import pytest

from worker.atlassian.first_keys import FirstKeys


@pytest.mark.parametrize(
    "ids",
    [
        range(10_000, 13_000),  # Jira's usual: sequential
        range(0, 3_000 << 20, 1 << 20),  # sharing their low bits: one slot without mixing
        range(2**32 - 3_001, 2**32 - 1),  # the largest an id slot holds
        range(2**32 - 1_500, 2**32 + 1_500),  # across it: the rest kept in the dict
        range(2**63 - 3_000, 2**63),  # far past it
    ],
)
def test_every_id_answers_its_own_first_key(ids: range) -> None:
    """The first listing of an id is new; every later one gets back the key it came with,
    through the table's growth; an id never listed is still new."""
    keys = FirstKeys()
    assert [keys.first(str(i), f"P{i % 5}-{n + 1}") for n, i in enumerate(ids)] == [None] * len(ids)
    assert [keys.first(str(i), "OTHER-1") for i in ids] == [
        f"P{i % 5}-{n + 1}" for n, i in enumerate(ids)
    ]
    assert len(keys) == len(ids)
    assert keys.first("1" + "0" * 30, "Z-1") is None


@pytest.mark.parametrize(
    ("ident", "key"),
    [
        ("10040", "FINBEL-022"),  # a number that would not read back as it was
        ("10040", "NODASH"),
        ("10040", "X-Y-7"),
        ("10040", "B-99999999999"),  # past the 32 bits a key's number is packed in
        ("10040", ""),
        ("010040", "FINBEL-22"),
        ("FINBEL-22", "FINBEL-22"),  # no id: the key stands for it
        (str(2**63), "FINBEL-22"),  # past what a slot holds
    ],
)
def test_what_is_not_a_number_is_kept_as_it_is(ident: str, key: str) -> None:
    """Ids and keys that do not read as numbers exactly come back exactly as listed, and are
    never confused with the numbers they resemble."""
    keys = FirstKeys()
    assert keys.first(ident, key) is None
    assert keys.first("10040" if ident != "10040" else "10041", "A-1") is None
    assert keys.first(ident, "OTHER-1") == key


def test_a_read_of_100000_tickets_keeps_them_in_under_3_5_mb() -> None:
    """100,000 ids and keys take under 3.5 MB (a dict of ints took 11.2), and under 5 MB while
    the table doubles (its old arrays are still there while they are copied)."""
    tracemalloc.start()
    try:
        keys = FirstKeys()
        for n in range(100_000):
            keys.first(str(10_000 + 3 * n), f"PRJ{n % 7}-{n + 1}")
        kept, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(keys) == 100_000
    assert (kept < 3_500_000, peak < 5_000_000) == (True, True)
