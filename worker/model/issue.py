"""What the worker reads of a ticket: the search that finds them, a ticket as a frozen
snapshot (fields, comments, labels added, the bot's state), or a malformed one with why."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from worker.model.deals import DealSource
from worker.model.people import Person
from worker.model.state import DEFAULT_PROPERTY_KEY, BotState


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
