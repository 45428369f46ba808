"""The anonymizer on its own: pure, table-driven."""

from __future__ import annotations

import pytest

from worker.snapshot.anonymize import Anonymizer, Identity, policy_words

PEOPLE = [
    Identity("712020:priya", "712020:priya", "Priya Raman", "priya@example.com"),
    Identity("sam", "sam", "Sam Ortiz", "sam@corp.example"),
]
ANON = Anonymizer.build(
    PEOPLE, ["Acme Corp", "Initech"], protected={"status", "update", "sow", "will"},
    project_keys={"ACME"},
    bot=Identity("712020:bot", "712020:bot", "Handoff Guard", "bot@example.com"),
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Priya Raman owns it", "Person 1 owns it"),
        ("Priya, can you get this over the line?", "Person 1, can you get this over the line?"),
        ("ask priya or SAM", "ask Person 1 or Person 2"),
        ("mail priya@example.com or SAM@corp.example", "mail person1@example.invalid or "
         "person2@example.invalid"),
        ("cc jane.doe@acme.com", "cc contact1@example.invalid"),
        ("[~accountid:712020:priya] and [~sam]", "[~accountid:anon-0001] and [~anon-0002]"),
        ("Finalize SOW for Acme phase 2", "Finalize SOW for Customer 1 phase 2"),
        ("Acme Corp legal and the Corp office", "Customer 1 legal and the Corp office"),
        ("see ACME-12 in project ACME", "see ACME-12 in project ACME"),
        ("Initech status update", "Customer 2 status update"),
        ("Handoff Guard says hello", "Handoff Guard says hello"),
        ("", ""),
    ],
)
def test_text(text: str, expected: str) -> None:
    """Free text: full names, name parts, emails, mentions and customers go; keys stay."""
    assert ANON.text(text) == expected


def test_protected_words_are_never_taken_for_names() -> None:
    """A person called Will does not take "will" out of a sentence the policies read."""
    anon = Anonymizer.build([Identity("w", "w", "Will Smith")], [], protected={"will"})
    assert anon.text("I will ask Will Smith") == "I will ask Person 1"


def test_storage_keeps_the_markup_and_maps_user_links() -> None:
    """A storage body keeps every tag; user links change by identity, text by words."""
    body = ('<ac:link><ri:user ri:account-id="712020:priya" /></ac:link>'
            '<p>Acme Corp&nbsp;deal</p><ri:page ri:content-title="Deal: Acme Corp" />'
            '<ac:plain-text-body><![CDATA[Sam Ortiz]]></ac:plain-text-body>')
    assert ANON.storage(body) == (
        '<ac:link><ri:user ri:account-id="anon-0001" /></ac:link>'
        '<p>Customer 1&nbsp;deal</p><ri:page ri:content-title="Deal: Customer 1" />'
        '<ac:plain-text-body><![CDATA[Person 2]]></ac:plain-text-body>')


def test_adf_mentions_and_text() -> None:
    """ADF: mention ids by identity, mention and text nodes by words, node types kept."""
    doc = {"type": "doc", "version": 1, "content": [{"type": "paragraph", "content": [
        {"type": "mention", "attrs": {"id": "712020:priya", "text": "@Priya Raman"}},
        {"type": "text", "text": " please ask Sam"}]}]}
    assert ANON.adf(doc)["content"][0]["content"] == [
        {"type": "mention", "attrs": {"id": "anon-0001", "text": "@Person 1"}},
        {"type": "text", "text": " please ask Person 2"}]


def test_policy_words_ignore_comments() -> None:
    """Words in the policy file's comments do not shield names; keys and values do."""
    words = policy_words("# fallback example: Dana Kim\nkeywords: [by EOD, status]\n")
    assert {"keywords", "by", "eod", "status"} <= words
    assert "dana" not in words
