"""What the planner decides: evidence, the actions (comment, reassign, label, flag), one
decision per ticket and policy, one write per ticket, and the plan that holds them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from worker.model.document import Document
from worker.model.people import Person
from worker.model.state import BotState
from worker.model.vocabulary import Mode, Verdict


@dataclass(frozen=True, slots=True)
class Evidence:
    """One condition's verdict and the value that decided it, in plain words."""

    condition: str
    result: bool
    detail: str
    #: a person's comment the condition quotes (``comments_by``): who wrote it, its id, when,
    #: and an excerpt around what matched (kept in the store for the report's second sign)
    quote: CommentQuote | None = None



@dataclass(frozen=True, slots=True)
class CommentQuote:
    """A comment a condition matched: the words that matched and an excerpt around them."""

    comment_id: str
    author: str
    created: datetime
    matched: str
    excerpt: str

    def to_json(self) -> dict[str, str]:
        """The JSON kept with the decision's evidence."""
        return {"comment_id": self.comment_id, "author": self.author,
                "created": self.created.isoformat(), "matched": self.matched,
                "excerpt": self.excerpt}



@dataclass(frozen=True, slots=True)
class Visibility:
    """Comment restriction: ``type`` is "group" or "role"."""

    type: Literal["group", "role"]
    value: str



@dataclass(frozen=True, slots=True)
class CommentAction:
    document: Document
    template: str
    visibility: Visibility | None = None
    kind: Literal["comment"] = "comment"



@dataclass(frozen=True, slots=True)
class ReassignAction:
    """Assign to ``to``; when Jira refuses, fall back to ``fallback`` (None: leave as is).

    ``note`` is the comment addressed to ``to`` that travels in the same edit (and
    ``fallback_note`` the one for ``fallback``): whoever really gets the ticket is told why.
    """

    to: Person
    target: str  # what was asked for: "sales_owner", "reporter", "user"
    fallback: Person | None = None
    note: Document | None = None
    fallback_note: Document | None = None
    #: who had the ticket when the reassignment was planned (recorded for ``revert``)
    previous: Person | None = None
    kind: Literal["reassign"] = "reassign"



@dataclass(frozen=True, slots=True)
class LabelAction:
    add: tuple[str, ...] = ()
    remove: tuple[str, ...] = ()
    kind: Literal["label"] = "label"



@dataclass(frozen=True, slots=True)
class FlagAction:
    """Set (or clear) Jira's Flagged field ("Impediment")."""

    on: bool = True
    kind: Literal["flag"] = "flag"



Action = CommentAction | ReassignAction | LabelAction | FlagAction



@dataclass(frozen=True, slots=True)
class Subject:
    """Who and what a decision was about, kept for ``history`` and the report: the PM it was
    assigned to, the customer, the deal's account executive and the deal page."""

    assignee: Person | None = None
    customer: str | None = None
    account_executive: Person | None = None
    deal_page_id: str | None = None
    deal_page_url: str | None = None
    #: the ticket's summary as read (hostile text: escape it wherever it is shown)
    summary: str | None = None



@dataclass(frozen=True, slots=True)
class Decision:
    """The outcome of one policy on one ticket, with its evidence."""

    issue: str
    policy: str
    mode: Mode
    verdict: Verdict
    actions: tuple[Action, ...] = ()
    evidence: tuple[Evidence, ...] = ()
    reason: str | None = None
    #: the ladder step these actions belong to (None when nothing is planned)
    step: int | None = None
    #: who and what it was about (None for tickets no policy matched)
    subject: Subject | None = None
    #: a ``waiting`` ticket's next ladder step (index from 0) and when it falls due (site
    #: clock): what the reason says in words, as data (None for other verdicts)
    due_step: int | None = None
    due_at: datetime | None = None



@dataclass(frozen=True, slots=True)
class IssueWrite:
    """Everything one cycle writes to one issue, applied as one edit request.

    ``actions`` are only those of policies in ``enforce`` mode; ``state`` is the full new
    value of our issue property (it already records the steps in ``actions``).
    ``seen_updated`` is the issue's ``updated`` in the snapshot the plan was made from.
    """

    issue: str
    issue_id: str
    actions: tuple[Action, ...]
    state: BotState
    policies: tuple[str, ...]
    seen_updated: datetime



@dataclass(frozen=True, slots=True)
class Plan:
    """All a cycle would do, as data, before anything is written."""

    now: datetime
    decisions: tuple[Decision, ...]
    writes: tuple[IssueWrite, ...]
    #: policy id -> human-readable reason ("breaker tripped: 40 matches > max 25")
    breakers: Mapping[str, str] = field(default_factory=dict)
    #: policy id -> number of actions dropped by the per-cycle budget
    deferred: Mapping[str, int] = field(default_factory=dict)
    #: tickets whose due step was promised a date that differs from the file's:
    #: "kept" (the promise is later than the file: the step waits for it) and "later"
    #: (the file is later than the promise: the file's date applies, no new comment)
    promises: Mapping[str, int] = field(default_factory=dict)
    #: issue key -> the earliest moment its writes can change with time alone (a ladder step
    #: coming due, a time window closing; now for a step held back by the breaker or the
    #: budget). Keys without an entry keep their verdict until the ticket, the people sets or
    #: the deals change.
    rechecks: Mapping[str, datetime] = field(default_factory=dict)
    #: policy id -> tickets in its scope among those planned (the breaker's denominator)
    scope_sizes: Mapping[str, int] = field(default_factory=dict)
