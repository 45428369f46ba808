"""The policy engine: the admins' policy language, its validation, and the pure planner."""

from __future__ import annotations

from worker.policy.config import Breaker, Policies, Policy, Safety, Schedule, Step
from worker.policy.errors import PolicyError, Problem
from worker.policy.explain import Explanation, NextStep, explain
from worker.policy.load import load_policies, load_policies_text
from worker.policy.plan import plan
from worker.policy.schema import json_schema
from worker.policy.scope import search_spec
from worker.policy.summary import promise_words, summarize, warnings

__all__ = [
    "Breaker",
    "Explanation",
    "NextStep",
    "Policies",
    "Policy",
    "PolicyError",
    "Problem",
    "Safety",
    "Schedule",
    "Step",
    "explain",
    "json_schema",
    "load_policies",
    "load_policies_text",
    "plan",
    "promise_words",
    "search_spec",
    "summarize",
    "warnings",
]
