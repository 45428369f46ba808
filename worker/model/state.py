"""The bot's own state on a ticket, kept in an issue property: the steps each policy took,
promises, overrides, refusals, and who wrote it (``by``), with its JSON form."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

#: The issue property our state lives in (overridable in settings).
DEFAULT_PROPERTY_KEY = "handoff-guard"



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
                        "first_flagged_at": iso_time(ps.first_flagged_at),
                        "steps": [_step_json(s) for s in ps.steps],
                        "reassigned_to": ps.reassigned_to,
                        "overridden_at": iso_time(ps.overridden_at),
                        "overridden_by": ps.overridden_by,
                        "promised": None
                        if ps.promised_step is None or ps.promised_at is None
                        else {"step": ps.promised_step, "at": iso_time(ps.promised_at)},
                        "reverted_at": iso_time(ps.reverted_at),
                        "reverted_by": ps.reverted_by,
                        "refused": None
                        if ps.refused_step is None or ps.refused_at is None
                        else {"step": ps.refused_step, "at": iso_time(ps.refused_at),
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
    out: dict[str, Any] = {"installation": by.installation, "at": iso_time(by.at)}
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
    out: dict[str, Any] = {"step": step.step, "at": iso_time(step.at),
                           "actions": list(step.actions)}
    if step.previous_assignee is not None:
        out["previous_assignee"] = step.previous_assignee
    if step.labels_added:
        out["labels_added"] = list(step.labels_added)
    return out



def iso_time(value: datetime | None) -> str | None:
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
