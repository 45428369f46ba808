"""The words every layer shares: the Atlassian flavor, a policy's mode, the verdicts a
decision can carry, a contract's state, and how steps are numbered for people."""

from __future__ import annotations

from typing import Literal, get_args

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
