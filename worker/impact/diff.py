"""The impact of a policy edit: two plans on the same read, compared ticket by ticket (pure).

``plan --against NEW.yaml`` and the hot reload use it. A ticket differs when it is acted on by
one file and not the other (``newly-acted``, ``no-longer-acted``), by other policies with
none in common (``moved``), by the same ones with other actions or mode, or one policy more or
fewer (``different-action``), by the same ones with another date for the next step or another
date announced in a comment planned now (``different-date``), or with a comment planned now
that reads differently (``different-text``): everything a person would see differ. "Acted on"
means a policy works on it, in any mode: a step planned now (``act``), one due later
(``waiting``), every step done (``handled``), or a due step the budget pushed to the next cycle
(``deferred``).

Promises are listed apart: a date a comment announced binds the bot whatever the new file
says (the bot keeps its word), so an edit that would move it changes nothing on that ticket,
and the admin should know.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from worker.model.deals import Deal, DealRead
from worker.model.issue import IssueSnapshot, MalformedIssue, SearchSpec
from worker.model.people import Directory
from worker.model.plan import Action, CommentAction, Decision, Plan, ReassignAction
from worker.model.vocabulary import Mode, Verdict
from worker.policy.config import Policies, Policy
from worker.policy.context import PlanContext, TicketContext
from worker.policy.ladder import file_due, next_step_words, step_due
from worker.policy.matches import issue_sort_key
from worker.policy.plan import plan
from worker.policy.scope import parse_scope, scope_context, scope_matches

Change = Literal["newly-acted", "no-longer-acted", "moved", "different-action", "different-date",
                 "different-text"]
#: the verdicts of a ticket a policy works on: a step now, one waiting, every step done, or a
#: due step the budget pushed to the next cycle (a breaker or a blocked step acts on nothing)
ACTED: frozenset[str] = frozenset({"act", "waiting", "handled", "deferred"})
CHANGES: tuple[Change, ...] = (
    "newly-acted", "no-longer-acted", "moved", "different-action", "different-date",
    "different-text",
)
#: how much of a differing comment line the difference quotes
_QUOTE_CHARS = 160


class ImpactError(ValueError):
    """Two policy files that cannot be compared on one read (the message says why)."""


# --------------------------------------------------------------------------- one read for both


def combined_spec(current: SearchSpec, new: SearchSpec) -> SearchSpec:
    """One read that serves both files: either JQL, every field, group and expansion either
    needs. Deal pages of both are read (the caller reads ``new.deals`` too when they differ).
    """
    if current.property_key != new.property_key:
        raise ImpactError(
            f"state.property_key changes from {current.property_key!r} to "
            f"{new.property_key!r}: the new file would not see anything the bot did so far "
            "(every ticket would start over); compare files with the same property key"
        )
    jql = current.jql if current.jql == new.jql else f"({current.jql}) OR ({new.jql})"
    return SearchSpec(
        jql=jql,
        field_names=tuple(dict.fromkeys(current.field_names + new.field_names)),
        comments=current.comments or new.comments,
        changelog=current.changelog or new.changelog,
        groups=tuple(sorted(set(current.groups) | set(new.groups))),
        deals=current.deals or new.deals,
        property_key=current.property_key,
    )


def in_read(
    spec: SearchSpec, snapshots: Iterable[IssueSnapshot], *, directory: Directory,
    now: datetime, policies: Policies,
) -> list[IssueSnapshot]:
    """The snapshots ``spec``'s own search would have returned (its JQL checked locally), so
    each file is planned on what its own cycle reads, not on the wider combined read."""
    try:
        query, _groups = parse_scope(spec.jql)
    except ValueError:
        return list(snapshots)  # cannot tell locally: let the policies' own checks decide
    ctx = scope_context(now=now, tz=PlanContext(policies, directory, (), now).tz,
                        groups=directory.groups)
    out = []
    for snap in snapshots:
        try:
            if scope_matches(query, snap, ctx):
                out.append(snap)
        except ValueError:
            out.append(snap)  # cannot tell locally: let the policies' own checks decide
    return out


# --------------------------------------------------------------------------- what differs


@dataclass(frozen=True, slots=True)
class Acting:
    """What one policy does to one ticket under one file."""

    policy: str
    mode: Mode
    verdict: Verdict
    #: the ladder step planned now (None: nothing due now)
    step: int | None
    #: the planned actions in words ("comment (sales-deliverable)", "reassign -> Sam Ortiz")
    actions: tuple[str, ...]
    #: when the next step is due, when one waits
    due: datetime | None = None
    #: the next step in words, when one waits
    next_step: str | None = None
    #: the text of each comment planned now (what people would read)
    texts: tuple[str, ...] = ()
    #: the step a comment planned now announces, and the date it announces (a promise)
    announced_step: int | None = None
    announced_at: datetime | None = None

    def words(self) -> str:
        """One line: ``policy [mode] actions`` or ``policy [mode] next step due ...``."""
        head = f"{self.policy} [{self.mode}]"
        if self.verdict == "deferred":
            return f"{head} step due, deferred by the budget"
        if self.step is not None:
            line = f"{head} step {self.step + 1} now: {', '.join(self.actions) or '-'}"
            if self.announced_step is not None and self.announced_at is not None:
                line += (f", announcing step {self.announced_step + 1} for "
                         f"{self.announced_at:%a %Y-%m-%d %H:%M}")
            return line
        if self.due is not None:
            return f"{head} step due {self.due:%Y-%m-%d %H:%M}: {self.next_step or '-'}"
        return f"{head} nothing more to do"

    def to_json(self) -> dict[str, Any]:
        """The JSON form (``plan --against --format json``)."""
        return {
            "policy": self.policy, "mode": self.mode, "verdict": self.verdict,
            "step": None if self.step is None else self.step + 1,
            "actions": list(self.actions),
            "due": self.due.isoformat() if self.due is not None else None,
            "next_step": self.next_step,
            "texts": list(self.texts),
            "announces": None if self.announced_step is None or self.announced_at is None
            else {"step": self.announced_step + 1, "at": self.announced_at.isoformat()},
        }


@dataclass(frozen=True, slots=True)
class TicketChange:
    """How one ticket's treatment differs between the two files."""

    issue: str
    change: Change
    before: tuple[Acting, ...]
    after: tuple[Acting, ...]
    #: why, in words (the verdict and reason under the other file)
    details: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        """The JSON form (``plan --against --format json``)."""
        return {
            "issue": self.issue, "change": self.change,
            "before": [a.to_json() for a in self.before],
            "after": [a.to_json() for a in self.after],
            "details": list(self.details),
        }


@dataclass(frozen=True, slots=True)
class Promise:
    """A date a comment announced that the new file would bring forward; the bot keeps it
    (the announced step never runs earlier than announced)."""

    issue: str
    policy: str
    step: int
    promised_at: datetime
    #: the earlier date the new file would give
    new_file_at: datetime

    def to_json(self) -> dict[str, Any]:
        """The JSON form (``plan --against --format json``)."""
        return {
            "issue": self.issue, "policy": self.policy, "step": self.step + 1,
            "promised_at": self.promised_at.isoformat(),
            "new_file_at": self.new_file_at.isoformat(),
            "kept": True,
        }


@dataclass(frozen=True, slots=True)
class Impact:
    """Everything that differs between two files on one read."""

    now: datetime
    tickets: int
    changes: tuple[TicketChange, ...] = ()
    promises: tuple[Promise, ...] = ()
    #: the two plans (for callers that want more than the difference)
    before: Plan | None = field(default=None, repr=False, compare=False)
    after: Plan | None = field(default=None, repr=False, compare=False)

    @property
    def differs(self) -> bool:
        """True when any ticket or promise differs."""
        return bool(self.changes or self.promises)

    def counts(self) -> dict[str, int]:
        """Tickets per kind of change, and the promises."""
        out: dict[str, int] = dict.fromkeys(CHANGES, 0)
        for change in self.changes:
            out[change.change] += 1
        out["promises"] = len(self.promises)
        return out

    def to_json(self) -> dict[str, Any]:
        """The documented ``plan --against --format json`` object."""
        return {
            "now": self.now.isoformat(),
            "tickets_read": self.tickets,
            "differs": self.differs,
            "summary": self.counts(),
            "changes": [c.to_json() for c in self.changes],
            "promises": [p.to_json() for p in self.promises],
        }

    def lines(self) -> list[str]:
        """The difference as text, one line per ticket (the CLI and the reload log)."""
        out: list[str] = []
        for change in self.changes:
            before = "; ".join(a.words() for a in change.before) or "nothing"
            after = "; ".join(a.words() for a in change.after) or "nothing"
            why = f" ({'; '.join(change.details)})" if change.details else ""
            out.append(f"{change.issue}  {change.change}: {before}  =>  {after}{why}")
        for p in self.promises:
            out.append(
                f"{p.issue}  promise kept: {p.policy} step {p.step + 1} was announced for "
                f"{p.promised_at:%Y-%m-%d %H:%M}; the new file would say "
                f"{p.new_file_at:%Y-%m-%d %H:%M}, the bot waits for the announced date"
            )
        return out


def action_words(action: Action) -> str:
    """One planned action in words."""
    if action.kind == "comment":
        return f"comment ({action.template})"
    if action.kind == "reassign":
        return f"reassign -> {action.to.display_name}"
    if action.kind == "label":
        return "label " + " ".join([f"+{x}" for x in action.add] + [f"-{x}" for x in action.remove])
    return "flag" if action.on else "unflag"


def comment_texts(actions: Iterable[Action]) -> tuple[str, ...]:
    """The plain text of every comment among ``actions`` (a note to a new owner included)."""
    out: list[str] = []
    for action in actions:
        if isinstance(action, CommentAction):
            out.append(action.document.plain_text())
        elif isinstance(action, ReassignAction) and action.note is not None:
            out.append(action.note.plain_text())
    return tuple(out)


def _announced(the_plan: Plan) -> dict[tuple[str, str], tuple[int, datetime]]:
    """(issue, policy) -> the step and date a write of ``the_plan`` announces (a promise set
    by this very write: the state differs from none)."""
    out: dict[tuple[str, str], tuple[int, datetime]] = {}
    for write in the_plan.writes:
        for pid in write.policies:
            ps = write.state.policies.get(pid)
            if ps is not None and ps.promised_step is not None and ps.promised_at is not None:
                out[(write.issue, pid)] = (ps.promised_step, ps.promised_at)
    return out


def _acting(decision: Decision, policy: Policy, snap: IssueSnapshot,
            pctx: PlanContext, announced: tuple[int, datetime] | None = None) -> Acting:
    verdict = decision.verdict
    if decision.step is not None:
        promised = announced is not None and announced != (
            snap.state.for_policy(policy.id).promised_step,
            snap.state.for_policy(policy.id).promised_at)
        return Acting(policy.id, policy.mode, verdict, decision.step,
                      tuple(action_words(a) for a in decision.actions),
                      texts=comment_texts(decision.actions),
                      announced_step=announced[0] if announced and promised else None,
                      announced_at=announced[1].astimezone(pctx.tz)
                      if announced and promised else None)
    state = snap.state.for_policy(policy.id)
    index = state.last_step + 1
    if index >= len(policy.steps):
        return Acting(policy.id, policy.mode, verdict, None, ())
    tctx = TicketContext(snap, pctx)
    due = step_due(policy, index, state, tctx)  # never earlier than a date a comment announced
    return Acting(policy.id, policy.mode, verdict, None, (), due=due.astimezone(pctx.tz),
                  next_step=next_step_words(policy, index, tctx))


def _acted(the_plan: Plan, policies: Policies, snaps: Mapping[str, IssueSnapshot],
           pctx: PlanContext) -> dict[str, dict[str, Acting]]:
    by_id = {p.id: p for p in policies.policies}
    announced = _announced(the_plan)
    out: dict[str, dict[str, Acting]] = {}
    for d in the_plan.decisions:
        if d.verdict in ACTED and d.issue in snaps:
            out.setdefault(d.issue, {})[d.policy] = _acting(
                d, by_id[d.policy], snaps[d.issue], pctx, announced.get((d.issue, d.policy)))
    return out


def _verdicts(the_plan: Plan) -> dict[tuple[str, str], tuple[Verdict, str | None]]:
    return {(d.issue, d.policy): (d.verdict, d.reason) for d in the_plan.decisions}


def _why(issue: str, policy_ids: Iterable[str], verdicts: Mapping[tuple[str, str],
         tuple[Verdict, str | None]], present: set[str], side: str) -> tuple[str, ...]:
    out = []
    for pid in policy_ids:
        if pid not in present:
            out.append(f"{pid}: not in the {side} file (or off)")
            continue
        verdict, reason = verdicts.get((issue, pid), ("no-match", None))
        out.append(f"{pid} under the {side} file: {verdict}" + (f", {reason}" if reason else ""))
    return tuple(out)


def compare(
    snapshots: Sequence[IssueSnapshot | MalformedIssue],
    directory: Directory,
    policies: tuple[Policies, Policies],
    deals: tuple[DealRead | Sequence[Deal], DealRead | Sequence[Deal]],
    now: datetime,
    *,
    reads: tuple[Sequence[IssueSnapshot | MalformedIssue],
                 Sequence[IssueSnapshot | MalformedIssue]] | None = None,
) -> Impact:
    """Plan ``policies[0]`` (current) and ``policies[1]`` (new) on one read; what differs.

    ``reads`` gives each file the part of the read its own search returns (see
    :func:`in_read`); by default both plan on all of ``snapshots``.
    """
    current, new = policies
    read_a, read_b = reads if reads is not None else (snapshots, snapshots)
    plan_a = plan(read_a, directory, deals[0], current, now, keep_no_match=True)
    plan_b = plan(read_b, directory, deals[1], new, now, keep_no_match=True)
    snaps = {s.key: s for s in snapshots if isinstance(s, IssueSnapshot)}
    pctx_a = PlanContext(current, directory, deals[0], now)
    pctx_b = PlanContext(new, directory, deals[1], now)
    acted_a, acted_b = _acted(plan_a, current, snaps, pctx_a), _acted(plan_b, new, snaps, pctx_b)
    verdicts_a, verdicts_b = _verdicts(plan_a), _verdicts(plan_b)
    ids_a = {p.id for p in current.policies if p.mode != "off"}
    ids_b = {p.id for p in new.policies if p.mode != "off"}
    changes: list[TicketChange] = []
    for issue in sorted(set(acted_a) | set(acted_b), key=issue_sort_key):
        a, b = acted_a.get(issue, {}), acted_b.get(issue, {})
        before, after = tuple(a.values()), tuple(b.values())
        if not a:
            changes.append(TicketChange(issue, "newly-acted", before, after,
                                        _why(issue, b, verdicts_a, ids_a, "current")))
        elif not b:
            changes.append(TicketChange(issue, "no-longer-acted", before, after,
                                        _why(issue, a, verdicts_b, ids_b, "new")))
        elif set(a) != set(b):
            # no policy in common: the ticket moved; some in common: it is acted on
            # differently (one policy more or fewer)
            details = _why(issue, sorted(set(a) - set(b)), verdicts_b, ids_b, "new") + _why(
                issue, sorted(set(b) - set(a)), verdicts_a, ids_a, "current")
            kind: Change = "moved" if not set(a) & set(b) else "different-action"
            changes.append(TicketChange(issue, kind, before, after, details))
        else:
            same = _same_policies(a, b)
            if same is not None:
                changes.append(TicketChange(issue, same, before, after,
                                            _text_details(a, b) if same == "different-text"
                                            else ()))
    promises = _promises(snaps, new, pctx_b)
    return Impact(now=now, tickets=len(snaps), changes=tuple(changes),
                  promises=tuple(promises), before=plan_a, after=plan_b)


def _same_policies(a: Mapping[str, Acting], b: Mapping[str, Acting]) -> Change | None:
    """For a ticket both files act on by the same policies: what differs, if anything."""
    if any((x.mode, x.verdict, x.step, x.actions, x.next_step)
           != (b[pid].mode, b[pid].verdict, b[pid].step, b[pid].actions, b[pid].next_step)
           for pid, x in a.items()):
        return "different-action"
    if any((x.due, x.announced_step, x.announced_at)
           != (b[pid].due, b[pid].announced_step, b[pid].announced_at)
           for pid, x in a.items()):
        return "different-date"
    if any(x.texts != b[pid].texts for pid, x in a.items()):
        return "different-text"
    return None


def _text_details(a: Mapping[str, Acting], b: Mapping[str, Acting]) -> tuple[str, ...]:
    """The first line that reads differently in each policy's comment (before -> after)."""
    out: list[str] = []
    for pid, x in a.items():
        old_lines = "\n".join(x.texts).splitlines()
        new_lines = "\n".join(b[pid].texts).splitlines()
        for n in range(max(len(old_lines), len(new_lines))):
            was = old_lines[n] if n < len(old_lines) else ""
            now = new_lines[n] if n < len(new_lines) else ""
            if was != now:
                out.append(f"{pid} comment line {n + 1}: {_clip(was)!r} -> {_clip(now)!r}")
                break
    return tuple(out)


def _clip(text: str) -> str:
    return text if len(text) <= _QUOTE_CHARS else text[:_QUOTE_CHARS - 1] + "…"


def _promises(snaps: Mapping[str, IssueSnapshot], new: Policies,
              pctx_b: PlanContext) -> list[Promise]:
    new_by_id = {p.id: p for p in new.policies if p.mode != "off"}
    out: list[Promise] = []
    for key in sorted(snaps, key=issue_sort_key):
        snap = snaps[key]
        for pid, state in sorted(snap.state.policies.items()):
            step, at = state.promised_step, state.promised_at
            if step is None or at is None or state.last_step >= step:
                continue  # nothing announced, or the announced step already ran
            policy = new_by_id.get(pid)
            if policy is None or step >= len(policy.steps):
                continue  # the step is gone: the ticket's own change shows it
            would = file_due(policy, step, state, TicketContext(snap, pctx_b))
            # Earlier than announced: the bot waits for the announced date anyway. Later:
            # the step moves, which the ticket's own change (different-date) shows.
            if would < at:
                out.append(Promise(key, pid, step, at.astimezone(pctx_b.tz),
                                   would.astimezone(pctx_b.tz)))
    return out
