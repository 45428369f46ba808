"""Frozen value types shared by every layer: what we read, what we decide, what we write.

These types are the contract between the packages:

* ``worker.atlassian`` turns Jira/Confluence responses into :class:`IssueSnapshot`,
  :class:`Directory` and :class:`Deal` values, and applies :class:`IssueWrite` values.
* ``worker.policy`` turns snapshots into a :class:`Plan` (pure: no I/O, no clock).
* ``worker.write.execute`` is the one writer; it returns :class:`Outcome` values.

Identities: a :class:`Person` ``id`` is the Cloud ``accountId`` on Jira Cloud and the
``name`` (username) on Data Center. Nothing else in the code base needs to know which.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Literal, Protocol, get_args

Flavor = Literal["cloud", "datacenter"]
Mode = Literal["enforce", "dry-run", "off"]
#: ``act``: a ladder step is planned now; ``waiting``: matched, the next step is due later;
#: ``handled``: matched, every step is done; ``deferred``: a step was due but the per-cycle
#: budget pushed it to the next cycle; ``breaker``: the policy's breaker tripped.
Verdict = Literal[
    "act", "waiting", "handled", "deferred", "exempt", "no-match", "skip", "breaker"
]
#: every verdict, in the order the CLI lists them
VERDICTS: tuple[str, ...] = get_args(Verdict)
#: the verdicts of a ticket the policy's conditions matched (flagged, whatever happened next)
MATCHED_VERDICTS: frozenset[str] = frozenset({"act", "waiting", "handled", "deferred", "breaker"})
#: ``unreadable``/``conflicting``: deal pages name the customer but cannot be trusted
ContractState = Literal["signed", "unsigned", "unknown", "unreadable", "conflicting"]

def step_number(index: int | None) -> int | None:
    """A ladder step as people count it (from 1), for everything shown or exported; the state
    and the store keep the index (from 0)."""
    return None if index is None else index + 1


#: The issue property our state lives in (overridable in settings).
DEFAULT_PROPERTY_KEY = "handoff-guard"


# --------------------------------------------------------------------------- people


@dataclass(frozen=True, slots=True)
class Person:
    """A Jira user. ``id`` is the accountId (Cloud) or the username (Data Center)."""

    id: str
    display_name: str
    active: bool = True
    email: str | None = None


@dataclass(frozen=True, slots=True)
class Directory:
    """Group memberships read once per cycle. Inactive users are never members."""

    #: group name -> ids of its *active* members
    groups: Mapping[str, frozenset[str]] = field(default_factory=dict)
    #: every person seen while reading the groups, by id
    people: Mapping[str, Person] = field(default_factory=dict)


# --------------------------------------------------------------------------- deals


@dataclass(frozen=True, slots=True)
class DealSource:
    """Where deals come from: Confluence deal pages found by CQL and the names of
    the Page Properties rows that hold each part of the deal."""

    cql: str = 'space = "SALES" and label = "deal"'
    account_property: str = "Account"
    project_property: str = "Jira project"
    status_property: str = "Contract status"
    signed_on_property: str = "Signed on"
    executive_property: str = "Account executive"
    #: the ``id`` parameter of the details macro to read when a page has several
    details_id: str | None = None
    #: a read finding fewer than this share of the last successful read's pages failed
    min_pages_share: float = 0.5
    #: how ``10/11/2026`` reads: day first, month first, or not at all (None)
    date_order: Literal["dmy", "mdy"] | None = None
    #: True when an admin says that finding no deal page at all is right (a new site with no
    #: deals yet); otherwise a read finding none, with no earlier good read to compare with,
    #: is a failed read (the bot may lack permission on the space, or the CQL may be wrong)
    zero_pages_ok: bool = False


@dataclass(frozen=True, slots=True)
class Deal:
    """One customer's commercial record, read from a Confluence deal page."""

    account: str
    jira_project: str | None
    contract_status: str | None
    signed_on: date | None
    account_executive: Person | None
    #: where it came from, in words a PM understands ("the page Deal: Acme Corp")
    source: str
    page_id: str | None = None
    page_title: str | None = None
    page_url: str | None = None
    #: why the contract status cannot be read (the customer is then *unreadable*)
    unreadable: str | None = None
    #: values that could not be read, in words ("the Signed on date could not be read: …")
    notes: tuple[str, ...] = ()
    #: what the status cell holds besides its leading value (``contract_status``): later
    #: lines, text beside a lozenge; read for a contradiction, kept as evidence
    status_rest: tuple[str, ...] = ()
    #: why the page's Jira project cell gave no key (a link to another site, text that is not
    #: a key), in words; the page can then still be matched by its account
    project_problem: str | None = None


@dataclass(frozen=True, slots=True)
class DealSkip:
    """A deal page that could not be used, with the reason (never an exception)."""

    page_id: str
    title: str
    reason: str
    url: str | None = None


@dataclass(frozen=True, slots=True)
class DealRead:
    """One cycle's read of the deal pages."""

    deals: tuple[Deal, ...] = ()
    skips: tuple[DealSkip, ...] = ()
    #: why this read cannot be trusted as a whole (a 2xx that is not a CQL answer, far
    #: fewer pages than last time, a ``next`` link off the site); None when it can
    failed: str | None = None
    #: deal pages the CQL returned
    pages: int = 0


def status_key(value: str) -> str:
    """A contract status as compared: case and every space ignored ("SIGNED", "Signed ")."""
    return "".join(value.split()).casefold()  # str.split() also splits on NBSP


@dataclass(frozen=True, slots=True)
class SearchSpec:
    """What one cycle reads, derived from the loaded policies (``worker.policy.scope``).

    The Atlassian layer needs nothing else from the policy file.
    """

    #: bounded JQL: policy scopes OR-ed, the PM restriction, ``statusCategory != Done``
    jql: str
    #: display names of the extra fields the policies read ("Account", "Contract status")
    field_names: tuple[str, ...] = ()
    #: fetch comments inline (only when a policy reads them)
    comments: bool = False
    #: fetch the description (only when a condition or a scope reads it: it can be long)
    description: bool = True
    #: fetch the changelog inline (only when a policy needs last human activity)
    changelog: bool = False
    #: Jira groups to read into the :class:`Directory`
    groups: tuple[str, ...] = ()
    #: where deals come from; None when no policy needs deal pages
    deals: DealSource | None = None
    property_key: str = DEFAULT_PROPERTY_KEY


# --------------------------------------------------------------------------- bot state


@dataclass(frozen=True, slots=True)
class StepRecord:
    """One ladder step the bot applied to an issue for a policy, and what it changed there
    (what ``revert`` needs to put the ticket back)."""

    step: int
    at: datetime
    actions: tuple[str, ...]  # action kinds applied, e.g. ("comment",) or ("reassign", "label")
    #: who had the ticket before this step reassigned it (an id; None: no reassignment)
    previous_assignee: str | None = None
    #: labels this step added (labels already present are not listed)
    labels_added: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class PolicyState:
    """What the bot did on one issue for one policy (kept in our issue property)."""

    first_flagged_at: datetime | None = None
    steps: tuple[StepRecord, ...] = ()
    reassigned_to: str | None = None
    overridden_at: datetime | None = None
    overridden_by: str | None = None
    #: the ladder step a comment announced, and the date it announced (a promise: the step
    #: never runs earlier, whatever the policy file says later)
    promised_step: int | None = None
    promised_at: datetime | None = None
    #: when ``revert`` undid the bot's changes, and at whose request (the bot stays out)
    reverted_at: datetime | None = None
    reverted_by: str | None = None
    #: the ladder step Jira refused (its reassignment), when, and Jira's reason: nothing of
    #: that step went out, and it is tried again at most once per business day
    refused_step: int | None = None
    refused_at: datetime | None = None
    refused_reason: str | None = None

    @property
    def last_step(self) -> int:
        """The highest ladder step applied, or -1 when none."""
        return max((s.step for s in self.steps), default=-1)


#: the state of a policy the bot never acted for (immutable: one instance serves every ticket)
_NO_POLICY_STATE = PolicyState()


@dataclass(frozen=True, slots=True)
class WrittenBy:
    """Which installation of the bot wrote the issue property last, and when (the site's
    clock): see :mod:`worker.state.installation`.

    ``installation`` is the name an operator gives it (or the default derived from the site
    and the bot account); ``store`` the id of the store that journaled the write, and
    ``holder``/``fencing`` the leader lease that granted it (a copy of a store shares its
    id, never its later grants). Properties written before stores and grants were recorded
    carry the installation only (the store's id then)."""

    installation: str
    at: datetime
    store: str | None = None
    holder: str | None = None
    fencing: int | None = None


@dataclass(frozen=True, slots=True)
class BotState:
    """The value of our issue property: per policy id, what was done and when."""

    policies: Mapping[str, PolicyState] = field(default_factory=dict)
    #: the installation that wrote it (None: written before installations were recorded)
    by: WrittenBy | None = None
    #: the writer's signature over the rest of the value (``v1:`` + HMAC-SHA256 hex), made
    #: with a key only the installation holds (None: unsigned)
    sig: str | None = None
    #: SHA-256 of the value as read, without ``sig`` (canonical JSON): what the signature
    #: signs; None for a state built in memory (see :func:`property_digest`)
    digest: bytes | None = field(default=None, compare=False)

    def for_policy(self, policy_id: str) -> PolicyState:
        """The state for one policy (empty when the bot never acted for it)."""
        return self.policies.get(policy_id, _NO_POLICY_STATE)

    def to_json(self) -> dict[str, Any]:
        """The JSON object stored in the issue property (compact, versioned)."""
        by = {} if self.by is None else {"by": _by_json(self.by)}
        sig = {} if self.sig is None else {"sig": self.sig}
        return {
            "v": 1,
            **by,
            **sig,
            "policies": {
                pid: {
                    k: v
                    for k, v in {
                        "first_flagged_at": _iso(ps.first_flagged_at),
                        "steps": [_step_json(s) for s in ps.steps],
                        "reassigned_to": ps.reassigned_to,
                        "overridden_at": _iso(ps.overridden_at),
                        "overridden_by": ps.overridden_by,
                        "promised": None
                        if ps.promised_step is None or ps.promised_at is None
                        else {"step": ps.promised_step, "at": _iso(ps.promised_at)},
                        "reverted_at": _iso(ps.reverted_at),
                        "reverted_by": ps.reverted_by,
                        "refused": None
                        if ps.refused_step is None or ps.refused_at is None
                        else {"step": ps.refused_step, "at": _iso(ps.refused_at),
                              "reason": ps.refused_reason or ""},
                    }.items()
                    if v not in (None, [])
                }
                for pid, ps in sorted(self.policies.items())
            },
        }

    @classmethod
    def from_json(cls, value: object) -> BotState:
        """Parse the stored property. Raises ``ValueError`` with a reason when malformed."""
        if value is None:
            return cls()
        if not isinstance(value, dict) or not isinstance(value.get("policies", {}), dict):
            raise ValueError("issue property is not an object with a 'policies' object")
        out: dict[str, PolicyState] = {}
        for pid, raw in value.get("policies", {}).items():
            if not isinstance(raw, dict):
                raise ValueError(f"state for policy {pid!r} is not an object")
            try:
                steps = tuple(
                    StepRecord(
                        step=int(s["step"]),
                        at=_parse_dt(s["at"]),
                        actions=tuple(str(a) for a in s.get("actions", ())),
                        previous_assignee=_opt_str(s.get("previous_assignee")),
                        labels_added=tuple(str(a) for a in s.get("labels_added", ())),
                    )
                    for s in raw.get("steps", ())
                )
                promised = raw.get("promised")
                if promised is not None and not isinstance(promised, dict):
                    raise ValueError("'promised' is not an object")
                refused = raw.get("refused")
                if refused is not None and not isinstance(refused, dict):
                    raise ValueError("'refused' is not an object")
                out[str(pid)] = PolicyState(
                    first_flagged_at=_opt_dt(raw.get("first_flagged_at")),
                    steps=steps,
                    reassigned_to=_opt_str(raw.get("reassigned_to")),
                    overridden_at=_opt_dt(raw.get("overridden_at")),
                    overridden_by=_opt_str(raw.get("overridden_by")),
                    promised_step=None if promised is None else int(promised["step"]),
                    promised_at=None if promised is None else _parse_dt(promised["at"]),
                    reverted_at=_opt_dt(raw.get("reverted_at")),
                    reverted_by=_opt_str(raw.get("reverted_by")),
                    refused_step=None if refused is None else int(refused["step"]),
                    refused_at=None if refused is None else _parse_dt(refused["at"]),
                    refused_reason=None if refused is None else _opt_str(refused.get("reason")),
                )
            except (KeyError, TypeError, ValueError) as exc:
                raise ValueError(f"state for policy {pid!r} is malformed: {exc}") from exc
        sig = value.get("sig")
        if sig is not None and not isinstance(sig, str):
            raise ValueError("'sig' is not a string")
        return cls(policies=out, by=_written_by(value.get("by")), sig=sig,
                   digest=property_digest(value))


def property_digest(value: Mapping[str, Any]) -> bytes:
    """SHA-256 of a property value without its ``sig``, as canonical JSON (sorted keys, no
    spaces): the bytes a signature covers, the same however Jira orders the keys."""
    unsigned = {k: v for k, v in value.items() if k != "sig"}
    text = json.dumps(unsigned, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).digest()


def _by_json(by: WrittenBy) -> dict[str, Any]:
    out: dict[str, Any] = {"installation": by.installation, "at": _iso(by.at)}
    if by.store is not None:
        out["store"] = by.store
    if by.holder is not None:
        out["holder"] = by.holder
    if by.fencing is not None:
        out["fencing"] = by.fencing
    return out


def _written_by(value: object) -> WrittenBy | None:
    if value is None:
        return None
    if not isinstance(value, dict) or not isinstance(value.get("installation"), str):
        raise ValueError("'by' is not an object naming an installation")
    store, holder, fencing = value.get("store"), value.get("holder"), value.get("fencing")
    if store is not None and not isinstance(store, str):
        raise ValueError("'by.store' is not a string")
    if holder is not None and not isinstance(holder, str):
        raise ValueError("'by.holder' is not a string")
    if fencing is not None and (isinstance(fencing, bool) or not isinstance(fencing, int)):
        raise ValueError("'by.fencing' is not a whole number")
    return WrittenBy(installation=value["installation"], at=_parse_dt(value.get("at")),
                     store=store, holder=holder, fencing=fencing)


def _step_json(step: StepRecord) -> dict[str, Any]:
    out: dict[str, Any] = {"step": step.step, "at": _iso(step.at), "actions": list(step.actions)}
    if step.previous_assignee is not None:
        out["previous_assignee"] = step.previous_assignee
    if step.labels_added:
        out["labels_added"] = list(step.labels_added)
    return out


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _parse_dt(value: object) -> datetime:
    if not isinstance(value, str):
        raise ValueError(f"expected an ISO timestamp, got {value!r}")
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        raise ValueError(f"timestamp without a timezone: {value!r}")
    return parsed


def _opt_dt(value: object) -> datetime | None:
    return None if value is None else _parse_dt(value)


def _opt_str(value: object) -> str | None:
    return None if value is None else str(value)


# --------------------------------------------------------------------------- issues


@dataclass(frozen=True, slots=True)
class Comment:
    """A Jira comment, its body reduced to plain text (from ADF or wiki markup)."""

    id: str
    author: Person | None
    created: datetime
    text: str


@dataclass(frozen=True, slots=True)
class LabelAdded:
    """Who last added a label to an issue, and when (from the changelog, when it was read)."""

    label: str
    by: Person | None
    at: datetime


@dataclass(frozen=True, slots=True)
class IssueSnapshot:
    """One issue as returned by one search page (fields and our property inline)."""

    key: str
    id: str
    project: str
    issue_type: str
    summary: str
    description: str
    status: str
    status_category: str  # "new" | "indeterminate" | "done"
    assignee: Person | None
    reporter: Person | None
    labels: tuple[str, ...]
    created: datetime
    updated: datetime
    #: custom and extra fields by their *display name* ("Account", "Contract status"),
    #: normalized to a string, a tuple of strings, or None
    fields: Mapping[str, str | tuple[str, ...] | None] = field(default_factory=dict)
    comments: tuple[Comment, ...] = ()
    state: BotState = field(default_factory=BotState)
    #: the latest change by someone other than the bot (created, comments, changelog)
    last_human_activity: datetime | None = None
    flagged: bool = False
    #: the latest addition of each current label found in the changelog (empty when the
    #: changelog was not read, or the label was set at creation)
    labels_added: tuple[LabelAdded, ...] = ()
    #: False when the search answer carried no ``properties`` object for this issue (some
    #: Data Center versions): ``state`` is then a guess and must be read before any write
    state_known: bool = True
    #: False when the search answer held fewer comments than the issue has (Cloud lists at
    #: most 100, the oldest): comment conditions and human activity may miss the newest
    comments_complete: bool = True
    #: False when the changelog in the answer was capped so that the latest human change
    #: may be missing (Cloud lists the newest entries only)
    changelog_complete: bool = True
    #: why the bot's state on the ticket cannot be trusted (None: it can): a property in a
    #: shape the bot never writes, or one no installation of the bot can be shown to have
    #: written (see :mod:`worker.state.installation`). The planner skips the ticket with it.
    state_doubt: str | None = None

    def label_added(self, label: str) -> LabelAdded | None:
        """Who added ``label`` (case-insensitive) and when, if the changelog says."""
        folded = label.casefold()
        return next((a for a in self.labels_added if a.label.casefold() == folded), None)


@dataclass(frozen=True, slots=True)
class MalformedIssue:
    """An issue the reader could not turn into a snapshot: skipped with a reason."""

    key: str
    reason: str


# --------------------------------------------------------------------------- comment documents


@dataclass(frozen=True, slots=True)
class Text:
    """Plain inserted text; never interpreted as markup."""

    text: str
    strong: bool = False
    em: bool = False


@dataclass(frozen=True, slots=True)
class Link:
    text: str
    url: str


@dataclass(frozen=True, slots=True)
class Mention:
    person: Person


Inline = Text | Link | Mention


@dataclass(frozen=True, slots=True)
class Paragraph:
    inlines: tuple[Inline, ...]


@dataclass(frozen=True, slots=True)
class BulletList:
    items: tuple[tuple[Inline, ...], ...]


Block = Paragraph | BulletList


@dataclass(frozen=True, slots=True)
class Document:
    """A small neutral comment document; ``worker.atlassian.markup`` renders it to
    ADF (Jira Cloud v3) or wiki markup (v2 and Data Center)."""

    blocks: tuple[Block, ...]

    def plain_text(self) -> str:
        """The document as plain text (for logs, the store and the CLI)."""
        lines: list[str] = []
        for block in self.blocks:
            if isinstance(block, Paragraph):
                lines.append(_inline_text(block.inlines))
            else:
                lines.extend(f"- {_inline_text(item)}" for item in block.items)
        return "\n".join(lines)


def _inline_text(inlines: tuple[Inline, ...]) -> str:
    parts: list[str] = []
    for node in inlines:
        if isinstance(node, Text):
            parts.append(node.text)
        elif isinstance(node, Link):
            parts.append(f"{node.text} ({node.url})")
        else:
            parts.append(f"@{node.person.display_name}")
    return "".join(parts)


# --------------------------------------------------------------------------- decisions and plans


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


# --------------------------------------------------------------------------- the write journal


@dataclass(frozen=True, slots=True)
class RecordedWrite:
    """The local record of one edit the executor sent (or tried to send) to an issue.

    Search is eventually consistent, so for a while after a write a search may return the
    issue without our new property value. The journal lets the next cycle overlay what it
    knows it wrote, and name those issues in ``reconcileIssues``.
    """

    issue: str
    issue_id: str
    at: datetime  # site clock
    state: BotState
    #: "applied" (2xx seen) or "unknown" (sent; no answer)
    status: Literal["applied", "unknown"]


# --------------------------------------------------------------------------- outcomes

#: "unknown": sent, and the service stopped before an answer came (it may still land)
OutcomeStatus = Literal[
    "applied", "dry-run", "fallback", "failed", "skipped", "stopped", "unknown"
]
#: what ``history --outcome`` filters on: the executor's statuses, and ``none`` (no write)
OUTCOMES: tuple[str, ...] = (*get_args(OutcomeStatus), "none")


@dataclass(frozen=True, slots=True)
class Outcome:
    """What the executor did with one :class:`IssueWrite`."""

    issue: str
    status: OutcomeStatus
    actions: tuple[str, ...]
    detail: str = ""
    http_status: int | None = None
    #: True when the failure is worth retrying next cycle (409, 5xx after retries)
    retryable: bool = False
    #: what the write changed on the ticket (applied writes only; see ``write_changes``)
    changes: Mapping[str, Any] | None = None


def comment_stamp(write: IssueWrite, now: datetime) -> dict[str, Any]:
    """The comment property each comment of ``write`` carries: the cycle's site time (the
    ``at`` its outcome is recorded under), the policies and the templates. ``revert`` finds a
    run's comments by it (the edit request answers no comment id)."""
    templates = [a.template for a in write.actions if isinstance(a, CommentAction)]
    templates += ["note to the new owner" for a in write.actions
                  if isinstance(a, ReassignAction) and a.note is not None]
    return {"at": now.isoformat(), "policies": list(write.policies), "templates": templates}


def write_changes(write: IssueWrite) -> dict[str, Any]:
    """What one applied :class:`IssueWrite` changed, as JSON for the store's
    ``outcomes.changes``: enough for ``revert`` and the report to say what the bot did."""
    out: dict[str, Any] = {"policies": list(write.policies)}
    for action in write.actions:
        if isinstance(action, ReassignAction):
            out["previous_assignee"] = action.previous.id if action.previous else None
            out["new_assignee"] = action.to.id
            if action.note is not None:
                out.setdefault("comments", []).append("note to the new owner")
        elif isinstance(action, LabelAction):
            if action.add:
                out["labels_added"] = list(action.add)
            if action.remove:
                out["labels_removed"] = list(action.remove)
        elif isinstance(action, CommentAction):
            out.setdefault("comments", []).append(action.template)
        elif isinstance(action, FlagAction):
            out["flag"] = action.on
    promised = {
        pid: {"step": ps.promised_step, "at": _iso(ps.promised_at)}
        for pid, ps in write.state.policies.items()
        if pid in write.policies and ps.promised_step is not None
    }
    if promised:
        out["promised"] = promised
    reverted = {
        pid: ps.reverted_by
        for pid, ps in write.state.policies.items()
        if pid in write.policies and ps.reverted_at is not None
    }
    if reverted:
        out["reverted"] = reverted
    return out


class WriteJournal(Protocol):
    """Where the executor records its writes (``worker.state.store.Store`` implements it)."""

    def record_write(self, write: RecordedWrite) -> None:
        """Remember one write: before sending ("unknown"), and after a 2xx ("applied")."""

    def recent_writes(self, *, since: datetime) -> Mapping[str, RecordedWrite]:
        """The latest write per issue key made at or after ``since`` (site clock)."""
