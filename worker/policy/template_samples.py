"""What a comment template may use, and sample values of it: ``validate`` renders every template
against each sample (the longest values included) before a file loads, so a template that
fails on some ticket fails at load, not in front of a PM.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

from worker.model.people import Person

VARIABLES = (
    "issue",
    "policy",
    "deal",
    "deal_page",
    "deal_pages",
    "contract_state",
    "sales_owner",
    "evidence",
    "next_step",
    "next_step_at",
    "opt_out_label",
    "new_owner",
    "new_owner_why",
    "previous_assignee",
    "customer",
    "fields",
)

_SPACE = re.compile(r"\bspace\s*(?:=|in\s*\()\s*\"?([^\"\s,()]+)", re.IGNORECASE)
_LABEL = re.compile(r"\blabel\s*(?:=|in\s*\()\s*\"?([^\"\s,()]+)", re.IGNORECASE)


def deal_pages_where(cql: str | None) -> dict[str, str | None] | None:
    """Where deal pages live, read from the deal CQL: ``{"space", "label"}``, or None when
    the CQL names no single space (then a comment cannot say where to create one)."""
    if not cql:
        return None
    space = _SPACE.search(cql)
    if space is None:
        return None
    label = _LABEL.search(cql)
    return {"space": space.group(1), "label": label.group(1) if label else None}


#: the longest summary Jira accepts: a template that repeats it must still fit in a comment
_LONGEST_SUMMARY = ("Finalize the statement of work for phase two " * 6)[:255]


def labelled_samples() -> dict[str, dict[str, Any]]:
    """Contexts every template must render with, by what they stand for: a full one, one with
    no deal or owner, a later next step, a reassignment note whose deal page has no link,
    short and empty evidence lists, the longest summary."""
    at = datetime(2026, 11, 4, 9, 0)
    owner = Person(id="sam", display_name="Sam Ortiz")
    base: dict[str, Any] = {
        "issue": {
            "key": "ACME-1",
            "summary": "Finalize SOW",
            "type": "Statement of Work",
            "project": "ACME",
        },
        "policy": {"id": "sample", "description": "A sample policy"},
        "contract_state": "unsigned",
        "evidence": ["type is Statement of Work", "deal Acme Corp is In negotiation"],
        "next_step": "reassign it to Sam Ortiz",
        "next_step_at": at,
        "opt_out_label": "handoff-exception",
        "deal_pages": {"space": "SALES", "label": "deal"},
        "new_owner": owner,
        "new_owner_why": "the account executive on the page Deal: Acme Corp",
        "previous_assignee": Person(id="priya", display_name="Priya Raman"),
        "customer": "Acme Corp",
        "fields": {"account": "Account", "status": "Contract status"},
    }
    full = {
        **base,
        "deal": {
            "account": "Acme Corp",
            "contract_status": "In negotiation",
            "source": "the page Deal: Acme Corp",
            "url": "https://example.com/x",
        },
        "deal_page": {"title": "Deal: Acme Corp", "url": "https://example.com/x"},
        "sales_owner": owner,
    }
    bare = {
        **base,
        "deal": None,
        "deal_page": None,
        "deal_pages": None,
        "sales_owner": None,
        "contract_state": "unknown",
        "next_step": None,
        "next_step_at": None,
        "previous_assignee": None,
        "customer": None,
        "fields": {"account": None, "status": None},
    }
    return {
        "a deal and a sales owner": full,
        "no deal, no sales owner, no next step": bare,
        "next step a day later": {**full, "next_step_at": at + timedelta(days=1)},
        "a deal page without a link": {
            **full, "deal_page": {"title": "Deal: Acme Corp", "url": None}
        },
        "one evidence item": {**full, "evidence": ["type is Statement of Work"]},
        "no evidence": {**bare, "evidence": []},
        "a 255-character summary": {**full, "issue": {**base["issue"],
                                                      "summary": _LONGEST_SUMMARY}},
    }


def sample_variables() -> list[dict[str, Any]]:
    """The sample contexts of :func:`labelled_samples`, in order."""
    return list(labelled_samples().values())
